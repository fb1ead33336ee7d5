// What needs the native connect check (seccomp user notification on connect(), from the guard
// work): Landlock's TCP rules know ports, not addresses, so only that check keeps a command from
// reaching the proxy's port number on another host. These cases run for real wherever the addon
// exports connectGuardSupported() and it says yes; elsewhere they are skipped, and the session
// falls back to blocked TCP when no host is listed (network-mode.ts).
// The "other host" is a network namespace this test creates (veth pair, 10.213.x.0/30): no
// traffic leaves the machine.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import type { ProxyClient } from '../src/supervisor/network/proxy-clients.js';
import { SessionProxy } from '../src/supervisor/network/proxy-server.js';
import { proxyBash } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';

const addon = loadAddon();
const addonHasConnectGuard = addon.connectGuardSupported();
const isRoot = process.getuid?.() === 0;

let home: SandboxHome;
let s: TestSession;
beforeAll(async () => {
  home = makeSandboxHome();
  // No host listed: with the guard, the proxy runs anyway and every host is a question.
  const proxy = await SessionProxy.open<ProxyClient>();
  s = startTestSession({ workdir: home.project, home: home.home, proxy });
});
afterAll(() => {
  s?.close();
  home?.cleanup();
});

const command = (script: string) => execa(proxyBash, ['-c', script], { cwd: home.project, env: s.env, extendEnv: false, reject: false });

/** A namespace reachable at `peer` through a veth pair, with a TCP listener on `port` that prints "HIT" per connection. */
function otherHost(port: number) {
  const id = (process.pid % 250) + 1;
  const ns = `nono-guard-${process.pid}`;
  const [host, peer] = [`10.213.${id}.1`, `10.213.${id}.2`];
  const sh = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  sh('netns', 'add', ns);
  sh('link', 'add', `ng${process.pid}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  sh('addr', 'add', `${host}/30`, 'dev', `ng${process.pid}`);
  sh('link', 'set', `ng${process.pid}`, 'up');
  sh('-n', ns, 'addr', 'add', `${peer}/30`, 'dev', 'eth0');
  sh('-n', ns, 'link', 'set', 'eth0', 'up');
  let hits = 0;
  const listener: ChildProcess = spawn('ip', ['netns', 'exec', ns, 'python3', '-c',
    `import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("${peer}", ${port})); s.listen()\nprint("READY", flush=True)\nwhile True:\n  c,_=s.accept(); print("HIT", flush=True); c.close()`]);
  listener.stdout!.on('data', (d: Buffer) => (hits += d.toString().split('HIT').length - 1));
  const ready = new Promise((r) => listener.stdout!.once('data', r));
  return {
    peer,
    ready,
    hits: () => hits,
    close() {
      listener.kill();
      try { sh('link', 'del', `ng${process.pid}`); } catch { /* gone with the namespace */ }
      sh('netns', 'del', ns);
    },
  };
}

describe('with the native connect check', () => {
  it.skipIf(!addonHasConnectGuard)('no host listed: the proxy runs, and every host is a question (refused here: no terminal)', async () => {
    expect(s.network.mode).toEqual({ kind: 'proxy', guarded: true });
    const r = await command('curl -sS http://unlisted.localhost:9/ ; echo "rc=$?"');
    expect(r.stderr).toContain('nono: the sandbox denied a connection to unlisted.localhost:9');
  });

  it.skipIf(!addonHasConnectGuard || !isRoot)("the proxy's port on a non-loopback address is refused", async () => {
    const port = s.network.proxyPort!;
    const other = otherHost(port);
    try {
      await other.ready;
      const r = await command(`python3 -c 'import socket; socket.create_connection(("${other.peer}", ${port}), timeout=3)'; echo "rc=$?"`);
      expect(r.stdout).toContain('rc=1');
      await new Promise((res) => setTimeout(res, 200));
      expect(other.hits()).toBe(0);
      // Control: unsandboxed, the same connect reaches the listener.
      await execa('python3', ['-c', `import socket; socket.create_connection(("${other.peer}", ${port}), timeout=3)`]);
      await new Promise((res) => setTimeout(res, 200));
      expect(other.hits()).toBe(1);
    } finally {
      other.close();
    }
  });

  it.skipIf(!addonHasConnectGuard)('a raw connect that ignores the proxy, to loopback on a port not listed, is refused', async () => {
    const r = await command(`python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9), timeout=3)' 2>&1; echo "rc=$?"`);
    expect(r.stdout).toMatch(/Permission denied|Operation not permitted/);
  });
});
