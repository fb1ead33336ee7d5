// Commands of a real session in proxy mode: nono-shell -> supervisor -> a command in its own
// Landlock domain whose only TCP port is the session proxy's. curl and friends find the proxy in
// their environment (with that command's own credentials); names resolve in the supervisor; a
// raw connect that ignores the proxy is refused by the kernel. No terminal: an unlisted host is
// refused with the agent-readable line on the command's stderr.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NET } from '../src/policy/landlock-rights.js';
import type { ProxyClient } from '../src/supervisor/network/proxy-clients.js';
import { SessionProxy } from '../src/supervisor/network/proxy-server.js';
import { proxyBash } from './helpers/paths.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';

let home: SandboxHome;
let s: TestSession;
let origin: Origin;
let auditFile: string;

beforeAll(async () => {
  home = makeSandboxHome();
  origin = await startOrigin();
  auditFile = path.join(home.base, 'audit.jsonl');
  const proxy = await SessionProxy.open<ProxyClient>({ hosts: { 'api.nono.test': ['127.0.0.1'], 'other.nono.test': ['127.0.0.1'] } });
  s = startTestSession({ workdir: home.project, home: home.home, proxy, auditFile, cli: { allowDomains: ['api.nono.test'] } });
});

afterAll(async () => {
  s?.close();
  await origin?.close();
  home?.cleanup();
});

/** A command as the agent starts it, with proxy settings of the agent's own that must not leak in. */
function command(script: string) {
  return execa(proxyBash, ['-c', script], {
    cwd: home.project,
    env: { ...s.env, HTTP_PROXY: 'http://corp-proxy.invalid:3128', https_proxy: 'http://corp-proxy.invalid:3128', npm_config_proxy: 'http://corp-proxy.invalid:3128' },
    extendEnv: false,
    reject: false,
    stripFinalNewline: false,
  });
}

const audit = () => fs.readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('proxy mode', () => {
  it('is chosen when hosts are listed, and the ruleset opens exactly the proxy port for connect', () => {
    expect(s.network.mode.kind).toBe('proxy');
    const port = s.network.proxyPort!;
    expect(port).toBeGreaterThan(0);
    expect(s.commandPolicy.handledNet & NET.CONNECT_TCP).toBeTruthy();
    expect(s.commandPolicy.tcpPorts).toEqual([{ port, rights: NET.CONNECT_TCP }]);
    expect(s.commandPolicy.connectGuard).toEqual({ proxyPort: port, loopbackPorts: [] });
    expect(s.commandPolicy.netFilter).toBe(2);
  });

  it("gives each command the proxy variables with its own credentials, and drops the agent's proxy settings", async () => {
    const [a, b] = await Promise.all([command('env | sort | grep -i -E "proxy"'), command('env | grep -i "^http_proxy="')]);
    const port = s.network.proxyPort!;
    const lines = a.stdout.split('\n');
    const url = new RegExp(`^http://nono:[0-9a-f]{32}@127\\.0\\.0\\.1:${port}$`);
    for (const k of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) {
      expect(lines.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1), k).toMatch(url);
    }
    expect(lines.find((l) => l.startsWith('ALL_PROXY='))).toMatch(new RegExp(`^ALL_PROXY=socks5h://nono:[0-9a-f]{32}@127\\.0\\.0\\.1:${port}$`));
    expect(a.stdout).not.toContain('corp-proxy');
    expect(lines.some((l) => l.startsWith('npm_config_proxy='))).toBe(false);
    // Two commands, two tokens.
    expect(b.stdout.trim()).not.toBe(lines.find((l) => l.startsWith('http_proxy=')));
  });

  it('curl to an allowed name succeeds through the proxy (HTTP, CONNECT and SOCKS), resolved by the supervisor', async () => {
    const u = `http://api.nono.test:${origin.port}`;
    const r = await command(
      `getent hosts api.nono.test || echo "no local resolution"; curl -sS ${u}/env; curl -sS -p ${u}/tunnel; ` +
        `env -u http_proxy -u HTTP_PROXY curl -sS ${u}/socks`,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      `no local resolution\nhello from origin GET /env\nhello from origin GET /tunnel\nhello from origin GET /socks\n`,
    );
    expect(r.exitCode).toBe(0);
    const seq = s.records.at(-1)!.seq;
    const hostRecords = audit().filter((a) => a.type === 'host' && a.seq === seq);
    // Once per command, host and port, however many connections.
    expect(hostRecords).toEqual([expect.objectContaining({ host: 'api.nono.test', port: origin.port, verdict: 'allowed', by: 'allow_domains api.nono.test [--allow-domain]' })]);
  });

  it('curl to an unlisted name is refused, with the line once on the command stderr', async () => {
    const r = await command(`curl -sS -f http://other.nono.test:${origin.port}/no; curl -sS -p http://other.nono.test:${origin.port}/no; echo done`);
    const line =
      `nono: the sandbox denied a connection to other.nono.test:${origin.port} (not on the session's host list); ` +
      'to allow it, the user can run `nono run --allow-domain other.nono.test` or "allow_domains": ["other.nono.test"] in a profile (see `nono profile show`).';
    expect(r.stdout).toBe('done\n');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('nono:'))).toEqual([line]);
    expect(r.stderr).toContain('403');
    expect(origin.requests.some((q) => q.url === '/no')).toBe(false);
    const seq = s.records.at(-1)!.seq;
    expect(audit()).toContainEqual(expect.objectContaining({ type: 'host', seq, host: 'other.nono.test', verdict: 'refused' }));
  });

  it('a connect that ignores the proxy is refused by the kernel (curl --noproxy, python, bash /dev/tcp)', async () => {
    const before = origin.requests.length;
    let raw = 0;
    const listener = net.createServer((c) => {
      raw++;
      c.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const rawPort = (listener.address() as net.AddressInfo).port;
    try {
      const r = await command(
        `curl -sS --noproxy '*' http://127.0.0.1:${origin.port}/direct; echo "curl=$?"; ` +
          `python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", ${rawPort}), timeout=3)' 2>/dev/null; echo "py=$?"; ` +
          `(echo x > /dev/tcp/127.0.0.1/${rawPort}) 2>/dev/null; echo "tcp=$?"`,
      );
      expect(r.stdout).toMatch(/curl=7\npy=1\ntcp=1\n/);
      expect(origin.requests.length).toBe(before);
      expect(raw).toBe(0);
    } finally {
      listener.close();
    }
  });
});
