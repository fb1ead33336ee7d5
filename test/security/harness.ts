// Shared rig for the escape battery (test/security/escapes-*.test.ts).
//
// Every case runs its attempt the way an agent would run a command: a real nono-shell client
// (proxy-bin/bash) talks to a real supervisor in this test process, and the command runs in a real
// Landlock domain. A case passes only if the attempt failed AND the thing it aimed at (a file, a
// socket, a process) is observably untouched. Attempts print `RC <name> <status>` lines so a test
// can tell which step failed and how, instead of guessing from the overall exit status; `0` means
// the step succeeded (an escape), anything else is the exit status (bash) or errno name (python).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type Options } from 'execa';
import { afterAll, beforeAll, expect, it, type TestContext } from 'vitest';
import { proxyBash } from '../helpers/paths.js';
import { PLANTED_KEY, makeSandboxHome, type SandboxHome } from '../helpers/sandbox-home.js';
import { startTestSession, type TestSession } from '../helpers/session.js';

/** The system python: the `python3` first on PATH here is a pyenv shim (a bash script). */
export const PY = '/usr/bin/python3';
/** A substring of the planted key that must never show up in a command's output. */
export const KEY_MARK = 'planted-by-nono-tests';

export interface Rig {
  home: SandboxHome;
  s: TestSession;
}

/**
 * One temp HOME and one in-process session for a test file. `prepare` runs before the session
 * starts (the policy is compiled from what exists at that moment).
 */
export function setupRig(prepare?: (home: SandboxHome) => void): Rig {
  const rig = {} as Rig;
  beforeAll(() => {
    rig.home = makeSandboxHome();
    fs.mkdirSync(path.join(rig.home.project, '.attempts'));
    prepare?.(rig.home);
    rig.s = startTestSession({ workdir: rig.home.project, home: rig.home.home });
  });
  afterAll(() => {
    rig.s?.close();
    rig.home?.cleanup();
  });
  return rig;
}

/**
 * `attempt(name, fn)` declares one escape case. Each case counts as tried; one whose assertions
 * fail counts as escaped. The file prints `N tried, M escaped` when it is done. Every case still
 * asserts on its own: the count is a summary, not the check.
 */
export function escapeTally(label: string) {
  const tried: string[] = [];
  const escaped: string[] = [];
  const gaps: string[] = [];
  afterAll(() => {
    const detail = escaped.length ? ` — failed: ${escaped.join(' | ')}` : '';
    const known = gaps.length ? `, ${gaps.length} known gap(s) not counted: ${gaps.join(' | ')}` : '';
    console.log(`[nono security: ${label}] ${tried.length} tried, ${escaped.length} escaped${known}${detail}`);
    printTotal(label, tried.length, escaped.length);
  });
  /**
   * A documented gap (README "Known gaps"): the kernel offers nothing nono can use to stop it yet.
   * The case still runs the real attempt and asserts the protected state; vitest's `fails` makes it
   * pass while the attempt works, and turn red the day it stops working, so the gap gets noticed
   * and the case becomes an ordinary `attempt`.
   */
  attempt.knownGap = function knownGap(name: string, fn: (ctx: TestContext) => Promise<void> | void, timeout?: number) {
    gaps.push(name);
    it.fails(`known gap: ${name}`, fn, timeout);
  };
  return attempt;
  function attempt(name: string, fn: (ctx: TestContext) => Promise<void> | void, timeout?: number) {
    it(
      name,
      async (ctx) => {
        try {
          await fn(ctx);
          tried.push(name);
        } catch (e) {
          // ctx.skip() throws vitest's pending error: a case that cannot run here is not counted.
          if ((e as { code?: string }).code === 'VITEST_PENDING') throw e;
          tried.push(name);
          escaped.push(name);
          throw e;
        }
      },
      timeout,
    );
  }
}

/**
 * Files run in separate worker processes (pool: forks), so the battery-wide total is gathered in
 * a file named after the vitest process (every worker's parent). The file that finishes last
 * prints it; a run of only some files prints the per-file lines alone.
 */
function printTotal(label: string, tried: number, escaped: number): void {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const files = fs.readdirSync(dir).filter((f) => /^escapes-.*\.test\.ts$/.test(f)).length;
  const tally = path.join(os.tmpdir(), `nono-security-tally-${process.ppid}.jsonl`);
  fs.appendFileSync(tally, JSON.stringify({ label, tried, escaped }) + '\n');
  const rows = fs.readFileSync(tally, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tried: number; escaped: number });
  if (rows.length < files) return;
  fs.rmSync(tally, { force: true });
  const sum = rows.reduce((a, r) => ({ tried: a.tried + r.tried, escaped: a.escaped + r.escaped }), { tried: 0, escaped: 0 });
  console.log(`[nono security: all ${rows.length} files] ${sum.tried} tried, ${sum.escaped} escaped`);
}

export interface Outcome {
  exitCode?: number;
  signal?: string;
  stdout: string;
  stderr: string;
  /** `RC <name> <status>` lines, by name. */
  rc: Record<string, string>;
  /** stdout + stderr, for leak checks. */
  all: string;
}

// `t NAME cmd...` runs cmd and reports its status. Redirections that must be attempted by the
// command itself go through eval (`t NAME eval ': > file'`), or bash would apply them to `t`.
// The leading newline keeps the RC line apart from output that did not end in one.
const BASH_PRELUDE = 't() { local n="$1"; shift; "$@"; printf \'\\nRC %s %s\\n\' "$n" "$?"; }\n';

export function parseOutcome(r: { exitCode?: number; signal?: string; stdout: unknown; stderr: unknown }): Outcome {
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  const rc: Record<string, string> = {};
  for (const m of stdout.matchAll(/^RC (\S+) (\S+)$/gm)) rc[m[1]!] = m[2]!;
  return report({ exitCode: r.exitCode, signal: r.signal, stdout, stderr, rc, all: stdout + stderr });
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Extra descriptors for the nono-shell client, after stdin/stdout/stderr. */
  extraFds?: number[];
  timeout?: number;
}

/** Starts `script` as a sandboxed command (bash -c through nono-shell), cwd = the project. */
export function startSandboxed(rig: Rig, script: string, opts: RunOptions = {}) {
  const execOpts: Options = {
    cwd: rig.home.project,
    env: { ...rig.s.env, ...opts.env },
    extendEnv: false,
    reject: false,
    timeout: opts.timeout ?? 30_000,
    // execa passes a bare descriptor number through for fd 3+ (the fd test's control checks it),
    // but its types only list numbers for 0..2.
    stdio: ['pipe', 'pipe', 'pipe', ...(opts.extraFds ?? [])] as unknown as Options['stdio'],
  };
  return execa(proxyBash, ['-c', BASH_PRELUDE + script + '\necho ATTEMPT-END'], execOpts);
}

export async function sandboxed(rig: Rig, script: string, opts: RunOptions = {}): Promise<Outcome> {
  return parseOutcome(await startSandboxed(rig, script, opts));
}

/** NONO_SECURITY_VERBOSE=1 prints every outcome: what each attempt really did, to audit a pass. */
function report(o: Outcome): Outcome {
  if (process.env.NONO_SECURITY_VERBOSE) {
    console.log(`exit=${o.exitCode ?? o.signal} rc=${JSON.stringify(o.rc)}\n--- stdout\n${o.stdout}\n--- stderr\n${o.stderr}`);
  }
  return o;
}

/** The same script, unsandboxed (plain /bin/bash): positive controls that the attempt is sound. */
export async function unsandboxed(rig: Rig, script: string, env: Record<string, string> = {}): Promise<Outcome> {
  const r = await execa('/bin/bash', ['-c', BASH_PRELUDE + script], {
    cwd: rig.home.project,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: rig.home.home, LANG: 'C.UTF-8', ...env },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
  return parseOutcome(r);
}

const PY_PRELUDE = `
import ctypes, errno, fcntl, json, os, signal, socket, struct, sys, termios, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def attempt(name, fn):
    try:
        fn()
    except OSError as e:
        print(f"RC {name} {errno.errorcode.get(e.errno, e.errno)}", flush=True)
        return False
    print(f"RC {name} 0", flush=True)
    return True

def syscall(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *args)
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r
`;

/**
 * Writes a python attempt into the project (the command can read it: the project is granted) and
 * returns the shell words that run it with the system python.
 */
export function pyAttempt(rig: Rig, name: string, body: string): string {
  const file = path.join(rig.home.project, '.attempts', `${name}.py`);
  fs.writeFileSync(file, PY_PRELUDE + body);
  return `${PY} ${file}`;
}

/** The command ran to its end (so a missing RC line is not a crashed attempt). */
export function expectCompleted(o: Outcome): void {
  expect(o.stdout, `the attempt did not run to its end; stderr: ${o.stderr}`).toContain('ATTEMPT-END');
}

/** The named step was attempted and failed. */
export function expectRefused(o: Outcome, ...names: string[]): void {
  for (const n of names) {
    expect(o.rc[n], `step ${n} was not attempted; stdout: ${o.stdout} stderr: ${o.stderr}`).toBeDefined();
    expect(o.rc[n], `step ${n} SUCCEEDED (an escape); stdout: ${o.stdout} stderr: ${o.stderr}`).not.toBe('0');
  }
}

/** Nothing of the planted key in the output, and the key on disk is as planted. */
export function expectKeySafe(rig: Rig, o?: Outcome): void {
  if (o) expect(o.all).not.toContain(KEY_MARK);
  expect(fs.readFileSync(rig.home.sshKey, 'utf8')).toBe(PLANTED_KEY);
  const st = fs.statSync(rig.home.sshKey);
  expect(st.mode & 0o7777).toBe(0o600);
  expect(st.nlink).toBe(1);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return procState(pid) !== 'Z';
}

/** The state letter from /proc/PID/stat (R, S, T, t, Z...), or undefined if gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

export function tracerPid(pid: number): number {
  const m = /^TracerPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? -1);
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DUMMY_AGENT = `
import os, signal, sys, time
def on_signal(sig, frame):
    print(f"GOT {signal.Signals(sig).name}", flush=True)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT):
    signal.signal(s, on_signal)
print("READY", flush=True)
while True:
    time.sleep(3600)
`;

export interface DummyAgent {
  pid: number;
  proc: ChildProcess;
  /** Lines it printed: READY, then one `GOT SIGxxx` per signal it received. */
  lines: string[];
  stop(): void;
}

/**
 * A stand-in for the agent: an unsandboxed process outside every command's domain, with the
 * given environment, HOME as its cwd, and optionally holding descriptors (fd 3, 4...). It reports
 * every catchable signal it receives.
 */
export async function startDummyAgent(rig: Rig, opts: { env?: Record<string, string>; holdFds?: number[] } = {}): Promise<DummyAgent> {
  const script = path.join(rig.home.base, `dummy-agent-${process.hrtime.bigint()}.py`);
  fs.writeFileSync(script, DUMMY_AGENT);
  const proc = spawn(PY, [script], {
    cwd: rig.home.home,
    env: { PATH: '/usr/bin:/bin', ...opts.env },
    stdio: ['ignore', 'pipe', 'inherit', ...(opts.holdFds ?? [])],
  });
  const lines: string[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  if (!(await waitFor(() => lines.includes('READY'), 10_000))) throw new Error('dummy agent did not start');
  return {
    pid: proc.pid!,
    proc,
    lines,
    stop: () => {
      try {
        proc.kill('SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}
