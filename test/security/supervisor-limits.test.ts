// The supervisor's socket when it cannot serve a client: out of file descriptors (EMFILE) it must
// neither spin at 100 % CPU on the level-triggered listener nor leave clients waiting, and a client
// over the per-session connection cap gets a clear refusal. In every case nono-shell prints
// `nono-shell: ...` and exits 126 without running the command, and the session recovers.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CONNECTIONS } from '../../src/supervisor/supervisor.js';
import { cli, proxyBash } from '../helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from '../helpers/sandbox-home.js';
import { startTestSession, type TestSession } from '../helpers/session.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process, in clock ticks (USER_HZ, 100 per second here). */
function cpuTicks(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Raw connections that send nothing, as a stuck or hostile client would hold them. */
class RawClients {
  readonly sockets: net.Socket[] = [];
  refused = 0;
  async open(socketPath: string, n: number, stopWhenRefused = false): Promise<void> {
    for (let i = 0; i < n && !(stopWhenRefused && this.refused); i++) {
      const c = net.createConnection(socketPath);
      c.on('error', () => {});
      c.on('data', () => this.refused++);
      this.sockets.push(c);
      await new Promise<void>((r) => {
        c.once('connect', r);
        c.once('error', r);
      });
      if (stopWhenRefused) await sleep(2); // let the supervisor accept it before the next one
    }
  }
  close(): void {
    for (const c of this.sockets) c.destroy();
  }
}

function client(env: Record<string, string>, cwd: string, script: string) {
  return execa(proxyBash, ['-c', script], { cwd, env, extendEnv: false, reject: false, timeout: 30_000 });
}

describe('out of file descriptors', () => {
  let home: SandboxHome;
  let nono: ChildProcess;
  let log = '';
  let env: Record<string, string>;

  beforeAll(async () => {
    home = makeSandboxHome();
    // A real `nono run` with a low descriptor limit (soft = hard: Node raises soft to hard).
    nono = spawn(
      'prlimit',
      ['--nofile=256:256', process.execPath, cli, 'run', '--verbose', '--', '/bin/sh', '-c', 'echo "READY $NONO_SOCKET $NONO_SESSION_SECRET"; exec sleep 120'],
      { cwd: home.project, env: { HOME: home.home, PATH: process.env.PATH, LANG: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    nono.stderr!.on('data', (d) => (log += d));
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      nono.stdout!.on('data', (d) => {
        out += d;
        const m = /READY (\S+) (\S+)/.exec(out);
        if (m) resolve(out);
      });
      nono.on('exit', () => reject(new Error(`nono run exited early: ${log}`)));
    });
    const [, socket, secret] = /READY (\S+) (\S+)/.exec(ready)!;
    env = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', NONO_SOCKET: socket!, NONO_SESSION_SECRET: secret! };
    await sleep(2000); // past nono's preload check, which reads /proc once (1.5 s after the start)
  }, 30_000);

  afterAll(() => {
    nono?.kill('SIGTERM');
    home?.cleanup();
  });

  it('does not spin, refuses the waiting client with a clear error, and recovers', async () => {
    const raw = new RawClients();
    // Fill the supervisor's descriptor table until it refuses a connection, then leave a few
    // more connections pending in the listen backlog: the state that used to spin.
    await raw.open(env.NONO_SOCKET!, 400, true);
    await raw.open(env.NONO_SOCKET!, 3);
    const before = cpuTicks(nono.pid!);
    await sleep(1000);
    const used = cpuTicks(nono.pid!) - before;
    // A spinning loop uses up to 100 ticks per second (~30 on this shared 2-core machine), answering
    // a few refusals next to none.
    expect(used, `supervisor CPU ticks in 1 s while out of descriptors`).toBeLessThan(10);
    expect(raw.refused, 'no raw connection was refused: did the supervisor run out of descriptors?').toBeGreaterThan(0);

    const refused = await client(env, home.project, 'echo ran > ran-while-exhausted');
    expect(refused.exitCode, refused.stderr).toBe(126);
    expect(refused.stderr).toMatch(/^nono-shell: the nono supervisor has run out of file descriptors .*the command was not run$/);
    expect(fs.existsSync(`${home.project}/ran-while-exhausted`)).toBe(false);
    expect(log).toContain('refused a connection: out of file descriptors');

    raw.close();
    await sleep(500);
    const ok = await client(env, home.project, 'echo ok');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('ok');
  }, 60_000);
});

describe('connection cap', () => {
  let home: SandboxHome;
  let s: TestSession;
  beforeAll(() => {
    home = makeSandboxHome();
    s = startTestSession({ workdir: home.project, home: home.home });
  });
  afterAll(() => {
    s?.close();
    home?.cleanup();
  });

  it(`answers a client beyond ${MAX_CONNECTIONS} connections at once with a clear error, then serves again`, async () => {
    const raw = new RawClients();
    await raw.open(s.session.socketPath, MAX_CONNECTIONS);
    const env = { ...s.env };
    const over = await client(env, home.project, 'echo ran > ran-over-cap');
    expect(over.exitCode, over.stderr).toBe(126);
    expect(over.stderr).toBe(
      `nono-shell: this nono session already serves ${MAX_CONNECTIONS} commands at once (its limit); the command was not run: retry once some have finished`,
    );
    expect(fs.existsSync(`${home.project}/ran-over-cap`)).toBe(false);
    expect(s.logLines).toContain('refused a connection: too many connections');
    raw.close();
    await sleep(300);
    const ok = await client(env, home.project, 'echo ok');
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('ok');
  }, 60_000);
});
