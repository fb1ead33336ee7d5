// Commands run the way the supervisor runs them (the addon's sandboxed spawn, a ruleset built by
// buildCommandSandbox from the default profile), with the connect guard of proxy mode. Listeners
// here are real loopback sockets in the test process, which count what they really accepted.
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadAddon, type ConnectGuardOptions } from '../../src/native/addon.js';
import { COMMAND_SCOPES, compileLandlock } from '../../src/policy/landlock-compiler.js';
import { RESTRICT_SELF_LOG_NEW_EXEC_ON } from '../../src/policy/landlock-rights.js';
import { resolveProfile } from '../../src/policy/resolve-profile.js';
import { buildCommandSandbox, type CommandSandbox } from '../../src/supervisor/landlock-sandbox.js';
import { makeSandboxHome, type SandboxHome } from './sandbox-home.js';

export const addon = loadAddon();
/** The system python: the `python3` first on PATH here is a pyenv shim (a bash script). */
export const PY = '/usr/bin/python3';

export interface Listener {
  host: string;
  port: number;
  /** Connections accepted. */
  connections: number;
  data: string;
  close(): Promise<void>;
}

/** A TCP server on host:port (0: any free port) that answers "hi\n" and counts what it gets. */
export function tcpListener(host: string, port = 0): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const l = { host, port: 0, connections: 0, data: '' } as Listener;
    const server = net.createServer((c) => {
      l.connections++;
      c.on('data', (d) => (l.data += d.toString('latin1')));
      c.on('error', () => {});
      c.end('hi\n');
    });
    server.on('error', reject);
    server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
      l.port = (server.address() as net.AddressInfo).port;
      l.close = () => new Promise((r) => server.close(() => r()));
      resolve(l);
    });
  });
}

/** Listeners on the same port at several addresses (retrying until one port is free on all). */
export async function samePort(hosts: string[]): Promise<Listener[]> {
  for (let tries = 0; tries < 20; tries++) {
    const first = await tcpListener(hosts[0]!);
    const rest: Listener[] = [];
    try {
      for (const h of hosts.slice(1)) rest.push(await tcpListener(h, first.port));
      return [first, ...rest];
    } catch {
      await Promise.all([first, ...rest].map((l) => l.close()));
    }
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

export interface UdpListener {
  port: number;
  datagrams: number;
  close(): Promise<void>;
}

export function udpListener(host = '127.0.0.1'): Promise<UdpListener> {
  return new Promise((resolve) => {
    const l = { port: 0, datagrams: 0 } as UdpListener;
    const s = dgram.createSocket('udp4');
    s.on('message', () => l.datagrams++);
    s.bind(0, host, () => {
      l.port = s.address().port;
      l.close = () => new Promise((r) => s.close(() => r()));
      resolve(l);
    });
  });
}

export interface GuardRig {
  home: SandboxHome;
  /**
   * A command sandbox as proxy mode builds it: Landlock allows TCP connect to `landlockPorts`
   * (what the proxy helper grants), and the guard narrows that to `guard`.
   */
  sandbox(landlockPorts: number[], guard: ConnectGuardOptions | undefined): CommandSandbox;
  /** Runs file argv in the sandbox; stdout and stderr together. */
  run(sb: CommandSandbox, file: string, argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts one without waiting (pid, and a promise of its end). */
  start(sb: CommandSandbox, file: string, argv: string[], opts?: RunOptions): { pid: number; done: Promise<RunResult> };
  cleanup(): void;
}

export interface RunOptions {
  env?: string[];
}

export interface RunResult {
  code: number | null;
  signal: number | null;
  out: string;
  /** `RC <name> <result>` lines, by name. */
  rc: Record<string, string>;
}

export function makeGuardRig(): GuardRig {
  const home = makeSandboxHome();
  const tmpdir = path.join(home.base, 'tmp');
  fs.mkdirSync(tmpdir);
  const abi = addon.landlockAbi();
  let seq = 0;
  const policy = resolveProfile('default', {
    home: home.home,
    workdir: home.project,
    tmpdir,
    userProfileDir: path.join(home.base, 'no-user-profiles'),
  });
  const sandboxes: CommandSandbox[] = [];
  const rig: GuardRig = {
    home,
    sandbox(landlockPorts, guard) {
      const p = { ...policy, network: { ...policy.network, blockTcp: true, tcpConnect: landlockPorts, tcpBind: [] } };
      const sb = buildCommandSandbox(addon, compileLandlock(p, { abi, scoped: COMMAND_SCOPES }), { connectGuard: guard });
      sandboxes.push(sb);
      return sb;
    },
    start(sb, file, argv, opts = {}) {
      const outFile = path.join(home.base, `out-${seq++}`);
      const out = fs.openSync(outFile, 'w');
      const nul = fs.openSync('/dev/null', 'r');
      let pid: number;
      const done = new Promise<RunResult>((resolve, reject) => {
        try {
          pid = addon.spawn(
            {
              file,
              argv,
              env: opts.env ?? ['PATH=/usr/bin:/bin', `HOME=${home.home}`, 'LANG=C.UTF-8'],
              cwd: home.project,
              stdio: [nul, out, out],
              rulesetFd: sb.rulesetFd,
              netFilter: sb.compiled.netFilter,
              restrictFlags: RESTRICT_SELF_LOG_NEW_EXEC_ON,
              ...(sb.connectGuard ? { connectGuard: sb.connectGuard } : {}),
            },
            (code, signal) => {
              const text = fs.readFileSync(outFile, 'utf8');
              fs.rmSync(outFile, { force: true });
              resolve({ code, signal, out: text, rc: parseRc(text) });
            },
          );
        } catch (e) {
          reject(e);
        } finally {
          fs.closeSync(out);
          fs.closeSync(nul);
        }
      });
      return { pid: pid!, done };
    },
    run(sb, file, argv, opts) {
      return rig.start(sb, file, argv, opts).done;
    },
    cleanup() {
      for (const sb of sandboxes) sb.close();
      home.cleanup();
    },
  };
  return rig;
}

export function parseRc(text: string): Record<string, string> {
  const rc: Record<string, string> = {};
  for (const m of text.matchAll(/^RC (\S+) (\S+)$/gm)) rc[m[1]!] = m[2]!;
  return rc;
}

/** A python prelude: attempt(name, fn) prints `RC name 0` or `RC name <errno name>`. */
export const PY_PRELUDE = `
import errno, os, socket, sys
def attempt(name, fn):
    try:
        fn()
        print("RC", name, 0, flush=True)
    except OSError as e:
        print("RC", name, errno.errorcode.get(e.errno, e.errno) if e.errno else type(e).__name__, flush=True)
`;

export function writeScript(rig: GuardRig, name: string, body: string): string {
  const file = path.join(rig.home.project, name);
  fs.writeFileSync(file, PY_PRELUDE + body);
  return file;
}

export async function waitFor(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}
