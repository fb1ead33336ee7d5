// The session proxy on its own, driven by real clients (curl, raw sockets) against real loopback
// servers: HTTP CONNECT, plain HTTP in absolute form, SOCKS5 with names and IP literals, the
// lists (deny wins), credentials, refusals of the proxy itself and of names that resolve to this
// machine, the cap on connections, half-close and streaming. No terminal here: unlisted hosts
// are refused with the agent-readable line (the question is in network-question.test.ts).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DomainRule } from '../src/policy/host-pattern.js';
import { AuditLog } from '../src/supervisor/audit-log.js';
import { HostGate } from '../src/supervisor/network/host-gate.js';
import { ProxyClients, type ProxyClient } from '../src/supervisor/network/proxy-clients.js';
import { SessionProxy } from '../src/supervisor/network/proxy-server.js';
import { systemLookup, type Lookup } from '../src/supervisor/network/upstream.js';
import { startHalfCloseEcho, startOrigin, type Origin } from './helpers/origin.js';

interface Rig {
  proxy: SessionProxy<ProxyClient>;
  port: number;
  user: string;
  token: string;
  said: string[];
  auditFile: string;
  audit(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

const rules = (list: string[], source = 'test profile'): DomainRule[] => list.map((pattern) => ({ pattern, source }));
const HOSTS = { 'api.nono.test': ['127.0.0.1'], 'other.nono.test': ['127.0.0.1'], 'bad.nono.test': ['127.0.0.1'], 'v6.nono.test': ['::1'] };

async function makeRig(o: { allow?: string[]; deny?: string[]; maxConnections?: number; lookup?: Lookup; idleTimeoutMs?: number } = {}): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-proxy-test-'));
  const auditFile = path.join(dir, 'audit.jsonl');
  const audit = new AuditLog(auditFile, 'test');
  const gate = new HostGate({ allow: rules(o.allow ?? []), deny: rules(o.deny ?? []), audit, log: () => {} });
  const clients = new ProxyClients();
  const said: string[] = [];
  const { username, token } = clients.add({ seq: 7, command: 'curl ...', cwd: '/', say: async (l) => void said.push(l), ended: new AbortController().signal });
  const proxy = await SessionProxy.open<ProxyClient>({ hosts: HOSTS, lookup: o.lookup, maxConnections: o.maxConnections, idleTimeoutMs: o.idleTimeoutMs });
  proxy.serve({ authenticate: (u, p) => clients.authenticate(u, p), gate });
  const port = proxy.port;
  return {
    proxy,
    port,
    user: username,
    token,
    said,
    auditFile,
    audit: () => (fs.existsSync(auditFile) ? fs.readFileSync(auditFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []),
    close: async () => {
      await proxy.close();
      audit.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A clean environment: no proxy variables of the machine's own.
    execFile(file, args, { env: { PATH: process.env.PATH, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const httpProxy = (r: Rig) => `http://${r.user}:${r.token}@127.0.0.1:${r.port}`;
const socksProxy = (r: Rig) => `socks5h://${r.user}:${r.token}@127.0.0.1:${r.port}`;
const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '10', ...args]);

let origin: Origin;
let rig: Rig;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});
afterEach(async () => {
  await rig?.close();
});

describe('reaching an allowed host', () => {
  it('HTTP CONNECT (curl --proxytunnel) to an allowed name that only the supervisor can resolve', async () => {
    rig = await makeRig({ allow: ['api.nono.test'] });
    // The name is not in the system's resolver: only the proxy's own map knows it.
    expect((await run('getent', ['hosts', 'api.nono.test'])).code).not.toBe(0);
    const r = await curl('-p', '-x', httpProxy(rig), `http://api.nono.test:${origin.port}/via-connect`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('hello from origin GET /via-connect\n');
    expect(rig.audit()).toContainEqual(expect.objectContaining({ type: 'host', seq: 7, host: 'api.nono.test', port: origin.port, verdict: 'allowed', protocol: 'http-connect' }));
  });

  it('plain HTTP in absolute form, with a streamed request body both ways', async () => {
    rig = await makeRig({ allow: ['api.nono.test'] });
    const r = await curl('-x', httpProxy(rig), `http://api.nono.test:${origin.port}/plain?x=1`);
    expect(r.stdout).toBe('hello from origin GET /plain?x=1\n');
    // The origin saw the Host the client asked for, and no proxy credentials.
    expect(origin.requests.at(-1)!.host).toBe(`api.nono.test:${origin.port}`);
    const body = path.join(os.tmpdir(), `nono-proxy-body-${process.pid}`);
    fs.writeFileSync(body, Buffer.alloc(3 << 20, 'abc'));
    try {
      const echo = await run('curl', ['-sS', '--max-time', '20', '-x', httpProxy(rig), '--data-binary', `@${body}`, '-o', '-', `http://api.nono.test:${origin.port}/echo`]);
      expect(echo.stdout.length).toBe(3 << 20);
    } finally {
      fs.rmSync(body, { force: true });
    }
  });

  it('SOCKS5 with the name resolved by the proxy (socks5h)', async () => {
    rig = await makeRig({ allow: ['api.nono.test'] });
    const r = await curl('-x', socksProxy(rig), `http://api.nono.test:${origin.port}/via-socks`);
    expect(r.stdout).toBe('hello from origin GET /via-socks\n');
    expect(rig.audit()).toContainEqual(expect.objectContaining({ type: 'host', host: 'api.nono.test', verdict: 'allowed', protocol: 'socks5' }));
  });

  it('a wildcard matches names below the domain; host:port only that port', async () => {
    rig = await makeRig({ allow: ['*.nono.test', `localhost:${origin.port}`] });
    expect((await curl('-x', httpProxy(rig), `http://api.nono.test:${origin.port}/w`)).stdout).toContain('hello');
    expect((await curl('-x', httpProxy(rig), `http://localhost:${origin.port}/l`)).stdout).toContain('hello');
    const otherPort = await curl('-x', httpProxy(rig), `http://localhost:${origin.port + 1}/l`);
    expect(otherPort.stdout).toMatch(/^nono: the sandbox denied a connection to localhost:\d+/);
  });

  it('a half-closed tunnel still carries the answer (client FIN, then the reply)', async () => {
    const echo = await startHalfCloseEcho();
    rig = await makeRig({ allow: ['api.nono.test'] });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ port: rig.port, host: '127.0.0.1', allowHalfOpen: true });
        let got = '';
        let open = false;
        s.on('data', (d) => {
          got += d.toString('latin1');
          if (!open && got.includes('\r\n\r\n')) {
            open = true;
            expect(got).toMatch(/^HTTP\/1.1 200/);
            got = '';
            s.end('x'.repeat(100_000)); // send, then half-close
          }
        });
        s.on('end', () => resolve(got));
        s.on('error', reject);
        const auth = Buffer.from(`${rig.user}:${rig.token}`).toString('base64');
        s.write(`CONNECT api.nono.test:${echo.port} HTTP/1.1\r\nHost: api.nono.test:${echo.port}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
      });
      expect(answer).toBe('got 100000 bytes\n');
    } finally {
      await echo.close();
    }
  });
});

describe('refusing', () => {
  it('an unlisted host: 403 with the line, the same line once on the command stderr, and an audit record', async () => {
    rig = await makeRig({ allow: ['api.nono.test'] });
    const plain = await curl('-x', httpProxy(rig), '-w', '%{http_code}', `http://other.nono.test:${origin.port}/x`);
    const line =
      `nono: the sandbox denied a connection to other.nono.test:${origin.port} (not on the session's host list); ` +
      'to allow it, the user can run `nono run --allow-domain other.nono.test` or "allow_domains": ["other.nono.test"] in a profile (see `nono profile show`).';
    expect(plain.stdout).toBe(`${line}\n403`);
    const tunnelled = await curl('-p', '-x', httpProxy(rig), `http://other.nono.test:${origin.port}/x`);
    expect(tunnelled.stderr).toMatch(/CONNECT tunnel failed, response 403/);
    const socks = await curl('-x', socksProxy(rig), `http://other.nono.test:${origin.port}/x`);
    expect(socks.code).not.toBe(0);
    expect(socks.stderr).toMatch(/curl: \(97\) Can.t complete SOCKS5 connection/);
    expect(rig.said).toEqual([line]);
    expect(origin.requests.some((q) => q.url === '/x')).toBe(false);
    expect(rig.audit().filter((a) => a.type === 'host' && a.verdict === 'refused')).toEqual([
      expect.objectContaining({ seq: 7, host: 'other.nono.test', port: origin.port, by: 'not on the list (no way to ask)' }),
    ]);
  });

  it('deny_domains wins over allow_domains', async () => {
    rig = await makeRig({ allow: ['*.nono.test'], deny: ['bad.nono.test'] });
    const r = await curl('-x', httpProxy(rig), `http://bad.nono.test:${origin.port}/x`);
    expect(r.stdout).toBe(`nono: the connection to bad.nono.test:${origin.port} is refused by deny_domains "bad.nono.test" (test profile).\n`);
    expect((await curl('-x', httpProxy(rig), `http://api.nono.test:${origin.port}/y`)).stdout).toContain('hello');
  });

  it('IP literals are hosts: reached only when listed (SOCKS IPv4 and IPv6 address types)', async () => {
    const origin6 = await startOrigin('::1');
    rig = await makeRig({ allow: ['127.0.0.1'] });
    try {
      // curl sends an IP literal as SOCKS address type 1 (IPv4) / 4 (IPv6) with socks5 (not socks5h).
      const v4 = await curl('-x', `socks5://${rig.user}:${rig.token}@127.0.0.1:${rig.port}`, `http://127.0.0.1:${origin.port}/v4`);
      expect(v4.stdout).toBe('hello from origin GET /v4\n');
      const v6 = await curl('-g', '-x', `socks5://${rig.user}:${rig.token}@127.0.0.1:${rig.port}`, `http://[::1]:${origin6.port}/v6`);
      expect(v6.code).not.toBe(0);
      expect(rig.said.at(-1)).toContain(`a connection to [::1]:${origin6.port}`);
      expect(origin6.requests).toHaveLength(0);
      // Another spelling of an unlisted address is the same unlisted host.
      const mapped = await curl('-g', '-x', httpProxy(rig), `http://[::ffff:7f00:1]:${origin.port}/mapped`);
      expect(mapped.stdout).toBe('hello from origin GET /mapped\n');
    } finally {
      await origin6.close();
    }
  });

  it('without the session credentials: HTTP 407, SOCKS refused', async () => {
    rig = await makeRig({ allow: ['api.nono.test'] });
    const none = await curl('-x', `http://127.0.0.1:${rig.port}`, '-w', '%{http_code}', `http://api.nono.test:${origin.port}/x`);
    expect(none.stdout).toMatch(/only with the credentials[\s\S]*407$/);
    const wrong = await curl('-x', `http://nono:${'0'.repeat(32)}@127.0.0.1:${rig.port}`, '-w', '%{http_code}', `http://api.nono.test:${origin.port}/x`);
    expect(wrong.stdout).toMatch(/407$/);
    const socks = await curl('-x', `socks5h://127.0.0.1:${rig.port}`, `http://api.nono.test:${origin.port}/x`);
    expect(socks.code).not.toBe(0);
    const socksWrong = await curl('-x', `socks5h://nono:nope@127.0.0.1:${rig.port}`, `http://api.nono.test:${origin.port}/x`);
    expect(socksWrong.code).not.toBe(0);
    expect(origin.requests.some((q) => q.url === '/x')).toBe(false);
  });

  it("the proxy's own port, under any loopback name, even when that name is allowed", async () => {
    rig = await makeRig({ allow: ['localhost', '127.0.0.1', '*.localhost'] });
    for (const host of ['localhost', '127.0.0.1', 'a.localhost', '127.1']) {
      const r = await curl('-p', '-x', httpProxy(rig), `http://${host}:${rig.port}/`);
      expect(r.stderr, host).toMatch(/CONNECT tunnel failed, response 403/);
    }
    expect(rig.said.join('\n')).toContain(`nono: refused a connection to localhost:${rig.port}: localhost:${rig.port} is nono's own proxy.`);
  });

  it('a name that resolves to this machine (DNS rebinding) unless it is a loopback name', async () => {
    // A resolver whose answer for one public-looking name is this machine; everything else as usual.
    const lookup: Lookup = async (host) => (host === 'rebind.example' ? [{ address: '127.0.0.1', family: 4 }] : systemLookup(host));
    rig = await makeRig({ allow: ['rebind.example', 'localhost'], lookup });
    const r = await curl('-x', httpProxy(rig), `http://rebind.example:${origin.port}/x`);
    expect(r.stdout).toMatch(/^nono: refused rebind\.example:\d+: rebind\.example resolves to 127\.0\.0\.1, this machine/);
    expect((await curl('-x', httpProxy(rig), `http://localhost:${origin.port}/ok`)).stdout).toContain('hello');
  });

  it('caps concurrent connections per session with a clear error', async () => {
    rig = await makeRig({ allow: ['api.nono.test'], maxConnections: 2 });
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const s = net.connect({ port: rig.port, host: '127.0.0.1' });
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      const r = await curl('-x', httpProxy(rig), '-w', '%{http_code}', `http://api.nono.test:${origin.port}/x`);
      expect(r.stdout).toMatch(/already has 2 connections open \(its limit\)[\s\S]*503$/);
    } finally {
      held.forEach((s) => s.destroy());
    }
  });

  it('50 concurrent tunnels through the proxy, none failing', async () => {
    rig = await makeRig({ allow: ['api.nono.test'] });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => curl('-p', '-x', httpProxy(rig), `http://api.nono.test:${origin.port}/c${i}`)),
    );
    expect(results.filter((r) => r.code !== 0)).toEqual([]);
    expect(results.every((r, i) => r.stdout === `hello from origin GET /c${i}\n`)).toBe(true);
  });
});
