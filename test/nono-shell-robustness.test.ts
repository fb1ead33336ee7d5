// nono-shell never hangs and never loses a command's result:
//   - a caller with stdin, stdout or stderr closed gets bash's behaviour (the command sees the
//     descriptor closed), never nono-shell's own socket as stdio;
//   - a shell nono-shell runs directly (inside a command) starts with the caller's signal
//     dispositions, mask and environment, not nono-shell's;
//   - a supervisor that stalls (at connect, while the request is sent, or after it) cannot keep
//     nono-shell waiting against repeated signals; a signal pending when the supervisor has already
//     answered does not turn the command's status into 126;
//   - reply strings and numbers that do not fit are an error, never truncated or wrapped.
// Real client processes throughout: against a real session (supervisor in this process, commands
// in real Landlock domains), or against a fake supervisor on a real Unix socket that stalls or
// answers at the edges of the protocol on purpose (test/helpers/fake-supervisor.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, proxyBash } from './helpers/paths.js';
import { frame, startFakeSupervisor, type FakeSupervisor } from './helpers/fake-supervisor.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';
import type { Choice, Prompter } from '../src/supervisor/prompt/types.js';

let home: SandboxHome;
let s: TestSession;
/** Set by the prompter when nono asks about a denial; the question stays open until it is called. */
let answer: ((c: Choice) => void) | undefined;

beforeAll(() => {
  home = makeSandboxHome();
  const prompter: Prompter = { ask: () => new Promise<Choice>((resolve) => (answer = resolve)) };
  // The re-run path: the question comes after the command ended (live approval would hold it).
  s = startTestSession({ workdir: home.project, home: home.home, onDenial: 'prompt', prompter, liveApproval: false });
});
afterAll(() => {
  s?.close();
  home?.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

type End = { code: number | null; signal: NodeJS.Signals | null } | 'still running';

/** How the process ended, or 'still running' after `ms` (then it is SIGKILLed). */
async function endOf(p: ChildProcess, ms: number): Promise<End> {
  const exited =
    p.exitCode !== null || p.signalCode !== null
      ? Promise.resolve({ code: p.exitCode, signal: p.signalCode })
      : new Promise<End>((res) => p.once('exit', (code, signal) => res({ code, signal })));
  const end = await Promise.race([exited, sleep(ms).then(() => 'still running' as const)]);
  if (end === 'still running') p.kill('SIGKILL');
  return end;
}

function collect(p: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  p.stdout?.on('data', (d) => (out += d));
  p.stderr?.on('data', (d) => (err += d));
  return { out: () => out, err: () => err };
}

// ---------------------------------------------------------------------------------------------
// Item 5: closed descriptors 0, 1, 2.
// ---------------------------------------------------------------------------------------------
describe('a caller with stdin, stdout or stderr closed', () => {
  // Reports which descriptors the command sees open, then does what an agent's command does: read
  // stdin, write stdout and stderr, exit with its own status.
  const script = [
    'for fd in 0 1 2; do if [ -e /proc/$$/fd/$fd ]; then s=open; else s=closed; fi; printf "%s " "$fd=$s" >> "$1"; done',
    'cat; echo "cat=$?" >> "$1"',
    'echo out; echo err >&2; exit 3',
  ].join('\n');
  const combos = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]].map((c) => [c.join(','), c] as const);
  let n = 0;

  /** Runs `script` under `bin` with `closed` closed, started by `outer` (bash, or a command). */
  async function run(outer: string, bin: string, closed: readonly number[], env: Record<string, string>) {
    const report = path.join(home.project, `closed-report-${++n}`);
    const redirs = closed.map((fd) => `${fd}<&-`).join(' ');
    const wrap = `exec -a bash "$1" -c "$2" bash "$3" ${redirs}`;
    const r = await execa(outer, ['-c', wrap, 'wrap', bin, script, report], {
      cwd: home.project,
      env,
      extendEnv: false,
      reject: false,
      input: 'in\n',
      timeout: 15_000,
    });
    return {
      timedOut: r.timedOut,
      exitCode: r.exitCode,
      stdout: r.stdout,
      stderr: r.stderr,
      report: fs.existsSync(report) ? fs.readFileSync(report, 'utf8') : '(no report)',
    };
  }

  it.each(combos)('closed %s: the command sees exactly what it sees under bash (through the supervisor)', async (_name, closed) => {
    const control = await run('/bin/bash', '/bin/bash', closed, { PATH: '/usr/bin:/bin', HOME: home.home });
    expect(control.timedOut).toBe(false);
    for (const fd of closed) expect(control.report).toContain(`${fd}=closed`);
    const t0 = Date.now();
    const r = await run('/bin/bash', proxyBash, closed, s.env);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r).toEqual(control);
  });

  it.each(combos)('closed %s: the same for a shell nono-shell runs directly inside a command', async (_name, closed) => {
    const control = await run('/bin/bash', '/bin/bash', closed, { PATH: '/usr/bin:/bin', HOME: home.home });
    const r = await run(proxyBash, client, closed, s.env);
    expect(r).toEqual(control);
  });
});

// ---------------------------------------------------------------------------------------------
// Item 6: the caller's process state in a shell nono-shell execs directly.
// ---------------------------------------------------------------------------------------------
describe('a shell nono-shell runs directly (inside a command)', () => {
  it("starts with the caller's ignored and blocked signals: SIGPIPE is not ignored, so `yes | head -1` ends as in bash", async () => {
    const inner = `grep -E "^Sig(Ign|Blk)" /proc/self/status; yes | head -1; echo "status \${PIPESTATUS[*]}"`;
    const r = await execa(proxyBash, ['-c', `trap '' USR1; grep -E '^Sig(Ign|Blk)' /proc/self/status; ${client} -c '${inner}'`], {
      cwd: home.project,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^SigBlk:/);
    expect(lines[1]).toMatch(/^SigIgn:\s+0*200$/); // SIGUSR1 (10) only: bit 9
    expect(lines.slice(2, 4)).toEqual(lines.slice(0, 2));
    expect(lines.slice(4)).toEqual(['y', 'status 141 0']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('a signal that reached nono-shell before the answer "run it directly" ends it as it would have ended the shell', async () => {
    const marker = path.join(home.base, 'direct-marker');
    const fake = await startFakeSupervisor(home.base);
    try {
      const shellScript = path.join(home.base, 'marker-shell');
      fs.writeFileSync(shellScript, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
      const p = spawn(client, ['-c', 'true'], { env: { PATH: '/usr/bin:/bin', NONO_SOCKET: fake.socketPath } });
      expect(await waitFor(() => fake.frames().some((f) => f.type === 'run'))).toBe(true);
      p.kill('SIGINT');
      expect(await waitFor(() => fake.frames().some((f) => f.type === 'signal'))).toBe(true);
      fake.conns[0]!.socket.write(frame({ v: 1, type: 'direct', shell: shellScript }));
      expect(await endOf(p, 5000)).toEqual({ code: null, signal: 'SIGINT' });
      expect(fs.existsSync(marker)).toBe(false);
    } finally {
      await fake.close();
    }
  });

  it('typed outside a session: the one-shot marker (NONO_ONE_SHOT) does not reach the command', async () => {
    const r = await execa(client, ['-c', 'env | grep ^NONO_ || true'], {
      cwd: home.project,
      env: { HOME: home.home, PATH: process.env.PATH! },
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^NONO_SOCKET=/m); // the one-shot session's, so nested shells run directly
    expect(r.stdout).not.toMatch(/^NONO_ONE_SHOT=/m);
  });
});

// ---------------------------------------------------------------------------------------------
// Item 7: a supervisor that stalls, or answered before a signal frame could be sent.
// ---------------------------------------------------------------------------------------------
describe('a supervisor that stalls', () => {
  let fake: FakeSupervisor | undefined;
  const fakeEnv = () => ({ PATH: '/usr/bin:/bin', NONO_SOCKET: fake!.socketPath, NONO_SESSION_SECRET: 'x' });
  afterAll(async () => fake?.close());

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const)(
    'after the request: the first %s is forwarded, a repeated one ends nono-shell with that signal',
    async (sig) => {
      await fake?.close();
      fake = await startFakeSupervisor(home.base); // reads everything, never answers
      const p = spawn(client, ['-c', 'sleep 100'], { env: fakeEnv() });
      const io = collect(p);
      expect(await waitFor(() => fake!.frames().some((f) => f.type === 'run'))).toBe(true);
      p.kill(sig);
      expect(await waitFor(() => fake!.frames().some((f) => f.type === 'signal'))).toBe(true);
      expect(fake.frames().find((f) => f.type === 'signal')).toMatchObject({ signal: { SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGQUIT: 3 }[sig] });
      await sleep(100);
      expect(p.exitCode === null && p.signalCode === null).toBe(true); // one signal: it waits for the supervisor
      await sleep(400);
      p.kill(sig);
      expect(await endOf(p, 5000)).toEqual({ code: null, signal: sig });
      expect(io.err()).toMatch(/^nono-shell: the nono supervisor did not answer/);
      expect(fake.conns[0]!.closed || (await waitFor(() => fake!.conns[0]!.closed, 2000))).toBe(true);
    },
  );

  it('while the request is being sent (it does not fit the socket buffer): a signal ends nono-shell', async () => {
    await fake?.close();
    fake = await startFakeSupervisor(home.base, { readNothing: true });
    // 800 KB of environment: far more than a Unix socket buffers, under the 1 MiB request limit.
    const big = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`NONO_TEST_BIG${i}`, 'x'.repeat(100_000)]));
    const p = spawn(client, ['-c', 'true'], { env: { ...fakeEnv(), ...big } });
    await sleep(300);
    expect(p.exitCode === null && p.signalCode === null).toBe(true);
    p.kill('SIGTERM');
    expect(await endOf(p, 5000)).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('at connect (its backlog is full): a signal ends nono-shell', async () => {
    // A listener that never accepts: python, because Node accepts by itself.
    const sock = path.join(home.base, 'backlog.sock');
    const py = spawn('/usr/bin/python3', ['-c', 'import socket,sys,time\ns=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen(0)\nprint("ok",flush=True)\ntime.sleep(120)', sock]);
    const held: net.Socket[] = [];
    try {
      await new Promise<void>((res) => py.stdout!.once('data', () => res()));
      // Fill the backlog: connects succeed until it is full, then fail with EAGAIN (non-blocking).
      for (let i = 0; i < 16; i++) {
        const c = net.createConnection(sock);
        const ok = await new Promise<boolean>((res) => {
          c.once('connect', () => res(true));
          c.once('error', () => res(false));
        });
        if (!ok) break;
        held.push(c);
      }
      const p = spawn(client, ['-c', 'true'], { env: { PATH: '/usr/bin:/bin', NONO_SOCKET: sock } });
      await sleep(300);
      expect(p.exitCode === null && p.signalCode === null).toBe(true);
      p.kill('SIGINT');
      expect(await endOf(p, 5000)).toEqual({ code: null, signal: 'SIGINT' });
    } finally {
      held.forEach((c) => c.destroy());
      py.kill('SIGKILL');
    }
  });

  it('a reply header announcing more than the protocol allows is refused at once, not waited for', async () => {
    await fake?.close();
    fake = await startFakeSupervisor(home.base, {
      onFrame: (conn, f) => {
        if (f.type === 'run') conn.socket.write(Buffer.from([0xff, 0xff, 0xff, 0x7f])); // ~2 GiB, then nothing
      },
    });
    const p = spawn(client, ['-c', 'true'], { env: fakeEnv() });
    const io = collect(p);
    expect(await endOf(p, 5000)).toEqual({ code: 126, signal: null });
    expect(io.err()).toMatch(/^nono-shell: the supervisor sent an oversized reply/);
  });
});

describe('a healthy supervisor', () => {
  it('acknowledges forwarded signals: repeated SIGINTs reach a command that handles them, and its status comes back', async () => {
    const stop = path.join(home.project, 'healthy-stop');
    const p = spawn(proxyBash, ['-c', `trap "echo got-INT" INT; echo ready; while [ ! -e ${stop} ]; do sleep 0.05; done; exit 4`], {
      cwd: home.project,
      env: s.env,
    });
    const io = collect(p);
    expect(await waitFor(() => io.out().includes('ready'))).toBe(true);
    p.kill('SIGINT');
    p.kill('SIGINT');
    await sleep(600);
    p.kill('SIGINT');
    await sleep(600);
    p.kill('SIGINT');
    await sleep(300);
    expect(p.exitCode === null && p.signalCode === null).toBe(true);
    fs.writeFileSync(stop, '');
    expect(await endOf(p, 10_000)).toEqual({ code: 4, signal: null });
    expect(io.out()).toMatch(/got-INT/);
    expect(io.err()).toBe('');
  });
});

describe('a signal while nono asks about a denial (the command has already ended)', () => {
  it("is acknowledged but not sent to the reaped command's process group (its id may be reused), and the status still comes back", async () => {
    answer = undefined;
    const p = spawn(proxyBash, ['-c', `cat ${home.sshKey}; exit 1`], { cwd: home.project, env: s.env });
    expect(await waitFor(() => answer !== undefined, 10_000)).toBe(true);
    const logBefore = s.logLines.length;
    p.kill('SIGINT');
    await sleep(400);
    p.kill('SIGINT'); // acknowledged: nono-shell keeps waiting for the answer
    await sleep(400);
    expect(p.exitCode === null && p.signalCode === null).toBe(true);
    expect(s.logLines.slice(logBefore).filter((l) => /forwarding signal/.test(l))).toEqual([]);
    answer!('deny');
    expect(await endOf(p, 5000)).toEqual({ code: 1, signal: null });
  });
});

describe('a signal pending when the supervisor has already answered', () => {
  it('fake supervisor: the exit status it sent wins, not 126', async () => {
    const fake = await startFakeSupervisor(home.base);
    try {
      const p = spawn(client, ['-c', 'true'], { env: { PATH: '/usr/bin:/bin', NONO_SOCKET: fake.socketPath } });
      expect(await waitFor(() => fake.frames().some((f) => f.type === 'run'))).toBe(true);
      p.kill('SIGSTOP');
      const conn = fake.conns[0]!;
      conn.socket.write(frame({ v: 1, type: 'exit', code: 7 }), () => conn.socket.destroy());
      expect(await waitFor(() => conn.closed)).toBe(true);
      p.kill('SIGINT'); // pending while stopped: seen together with the reply
      p.kill('SIGCONT');
      expect(await endOf(p, 5000)).toEqual({ code: 7, signal: null });
    } finally {
      await fake.close();
    }
  });

  it('real session: the command exits 7 while nono-shell is stopped; a SIGINT then does not cost the status', async () => {
    const before = s.records.length;
    const p = spawn(proxyBash, ['-c', 'echo ready; read line; exit 7'], { cwd: home.project, env: s.env });
    const io = collect(p);
    expect(await waitFor(() => io.out().includes('ready'))).toBe(true);
    p.kill('SIGSTOP');
    p.stdin!.write('go\n');
    expect(await waitFor(() => s.records.length > before)).toBe(true);
    expect(s.records.at(-1)!.exit).toEqual({ code: 7 });
    p.kill('SIGINT');
    p.kill('SIGCONT');
    expect(await endOf(p, 5000)).toEqual({ code: 7, signal: null });
    expect(io.err()).toBe('');
  });
});

// ---------------------------------------------------------------------------------------------
// Item 9 (wire part): reply strings and numbers that do not fit.
// ---------------------------------------------------------------------------------------------
describe('replies at the edges of the wire', () => {
  async function withReply(reply: unknown, args: string[] = ['-c', 'true']) {
    const fake = await startFakeSupervisor(home.base, {
      onFrame: (conn, f) => {
        if (f.type === 'run') conn.socket.write(frame(reply), () => conn.socket.destroy());
      },
    });
    try {
      const p = spawn(client, args, { env: { PATH: '/usr/bin:/bin', NONO_SOCKET: fake.socketPath } });
      const io = collect(p);
      const end = await endOf(p, 5000);
      return { end, out: io.out(), err: io.err() };
    } finally {
      await fake.close();
    }
  }

  /** A directory with shells named so that a wrong reading of the reply runs the wrong one. */
  function shells(names: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(home.base, 'shells-'));
    for (const [name, says] of Object.entries(names)) fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho ${says}\n`, { mode: 0o755 });
    return dir;
  }

  it('prints an error message of any length whole', async () => {
    const message = `refused: ${'m'.repeat(5000)} end-of-message`;
    const r = await withReply({ v: 1, type: 'error', message });
    expect(r.end).toEqual({ code: 126, signal: null });
    expect(r.err).toBe(`nono-shell: ${message}\n`);
  });

  it('never runs a prefix of a shell path too long to be one (it would name another file)', async () => {
    const dir = shells({ sh: 'WRONG-prefix', shx: 'long-one' });
    // dir/././.../sh is exactly 4095 characters: the old 4096-byte buffer kept that and lost the x.
    const pad = 4095 - (dir.length + 1 + 'sh'.length);
    const long = `${dir}/${'./'.repeat(Math.floor(pad / 2))}${pad % 2 ? '/' : ''}shx`;
    expect(long.length).toBe(4096);
    const r = await withReply({ v: 1, type: 'direct', shell: long });
    expect(r.out).not.toContain('WRONG');
    expect(r.end).toEqual({ code: 126, signal: null });
    expect(r.err).toMatch(/^nono-shell: cannot run .*shx \(File ?name too long\)/); // musl says "Filename", glibc "File name"
  });

  it('runs a shell path with bytes that are not UTF-8 byte for byte (not with "?" in their place)', async () => {
    const dir = shells({ 'sh?': 'WRONG-question-mark' });
    fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/sh`), Buffer.from([0xff])]), '#!/bin/sh\necho raw-byte-shell\n', { mode: 0o755 });
    const r = await withReply({ v: 1, type: 'direct', shell: `${dir}/sh\udcff` });
    expect(r.out).toBe('raw-byte-shell\n');
    expect(r.end).toEqual({ code: 0, signal: null });
  });

  it('refuses a shell path with a NUL in it rather than run the part before it', async () => {
    const dir = shells({ sh: 'WRONG-before-nul' });
    const r = await withReply({ v: 1, type: 'direct', shell: `${dir}/sh\u0000x` });
    expect(r.out).toBe('');
    expect(r.end).toEqual({ code: 126, signal: null });
    expect(r.err).toMatch(/^nono-shell: unreadable reply from the supervisor/);
  });

  it.each([
    ['an exit code above 255', { v: 1, type: 'exit', code: 300 }],
    ['a negative exit code', { v: 1, type: 'exit', code: -1 }],
    ['a signal number that does not exist', { v: 1, type: 'exit', signal: 99 }],
    ['signal 0', { v: 1, type: 'exit', signal: 0 }],
    ['a fractional code', { v: 1, type: 'exit', code: 1.5 }],
  ])('refuses %s (exit 126) instead of wrapping it into another status', async (_what, reply) => {
    const r = await withReply(reply);
    expect(r.end).toEqual({ code: 126, signal: null });
    expect(r.err).toMatch(/^nono-shell: unreadable reply from the supervisor/);
  });

  it.each([19, 20, 21, 22])('refuses an exit by stop signal %i (no process ends that way; raising it would only stop nono-shell)', async (signal) => {
    const r = await withReply({ v: 1, type: 'exit', signal });
    expect(r.end).toEqual({ code: 126, signal: null });
    expect(r.err).toMatch(/^nono-shell: unreadable reply from the supervisor \(a command cannot end by stop signal/);
  });

  it('the supervisor refuses a run whose closed_fds names a descriptor other than 0, 1, 2', async () => {
    const run = { v: 1, type: 'run', secret: s.session.secret, client_pid: 1, cwd: '/', shell_as: null, argv: ['bash', '-c', 'true'], env: [], ignored_signals: [], closed_fds: [3] };
    const reply = await new Promise<Record<string, unknown> | null>((resolve) => {
      const c = net.createConnection(s.session.socketPath);
      let buf = Buffer.alloc(0);
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
          resolve(JSON.parse(buf.subarray(4, 4 + buf.readUInt32LE(0)).toString()));
          c.destroy();
        }
      });
      c.on('close', () => resolve(null));
      c.on('error', () => resolve(null));
      c.write(frame(run));
    });
    expect(reply).toMatchObject({ type: 'error', message: expect.stringMatching(/^invalid request: closed_fds\.0: /) });
  });

  it('ignores an unknown reply type of any length, and a field it does not know, then takes the real reply', async () => {
    const fake = await startFakeSupervisor(home.base, {
      onFrame: (conn, f) => {
        if (f.type !== 'run') return;
        conn.socket.write(frame({ v: 1, type: `exit${'x'.repeat(100)}`, code: 9 }));
        conn.socket.write(frame({ v: 1, type: 'exit', note: 'n'.repeat(10_000), code: 5 }), () => conn.socket.destroy());
      },
    });
    try {
      const p = spawn(client, ['-c', 'true'], { env: { PATH: '/usr/bin:/bin', NONO_SOCKET: fake.socketPath } });
      expect(await endOf(p, 5000)).toEqual({ code: 5, signal: null });
    } finally {
      await fake.close();
    }
  });
});
