// Faults: what a user sees when a piece of the chain dies or misbehaves while commands run.
//   - the supervisor (`nono run` itself) is SIGKILLed under running commands;
//   - nono-shell is SIGKILLed (an agent's timeout) under a deep command tree;
//   - the agent writes stdin nobody reads, or stops reading stdout; a command ignores SIGTERM.
// Processes are counted from /proc before and after, so "the tree is gone" is a number, not a hope.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandTree, readStat } from '../../src/supervisor/process-tree.js';
import { cli, proxyBash } from '../helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from '../helpers/sandbox-home.js';
import { PY, isAlive, setupRig, sleep, waitFor } from './harness.js';

const aliveAmong = (pids: Iterable<number>) => [...pids].filter(isAlive);

/** Every live process whose session is one of `sids` (what a tree kill must also reach). */
function inSessions(sids: Set<number>): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st && sids.has(st.sid) && isAlive(st.pid)) out.push(st.pid);
  }
  return out;
}

function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    if (!(pid > 1)) continue; // 0 would be our own process group
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** `ROLE PID` lines a command appended to a file, by role (a role may repeat). */
function readRoles(file: string): Map<string, number[]> {
  const roles = new Map<string, number[]>();
  if (!fs.existsSync(file)) return roles;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\S+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    roles.set(m[1]!, [...(roles.get(m[1]!) ?? []), Number(m[2])]);
  }
  return roles;
}

const rolesCount = (file: string) => [...readRoles(file).values()].reduce((n, l) => n + l.length, 0);

// ---------------------------------------------------------------------------------------------
// 1. The supervisor is SIGKILLed. `nono run` IS the supervisor: killing it can run no cleanup, so
//    whatever must happen has to be arranged by the kernel beforehand.
// ---------------------------------------------------------------------------------------------
describe('the supervisor (`nono run`) is SIGKILLed while commands run', () => {
  let home: SandboxHome;
  let nono: ChildProcess;
  let logFile: string;
  let pidFile: string;
  let killedAt = 0;
  let agentPid = 0;
  let agentEnv: Record<string, string> = {};
  const roots: number[] = [];
  const sameSession = new Set<number>(); // descendants still in a command's own session
  const ownSession = new Set<number>(); // descendants that started a session of their own
  let before = 0;

  // Each command records its own pid(s) first, then waits. The route (PATH proxy `bash`, or
  // `/bin/bash` caught by the interposer) alternates so both ways into the supervisor are covered.
  const commands = (p: string): [string, string][] => [
    ['bash', `echo "plain-root $$" >> ${p}; sleep 300`],
    ['/bin/bash', `sleep 301 & echo "bg-child $!" >> ${p}; echo "bg-root $$" >> ${p}; wait`],
    ['bash', `(sleep 302 & echo "sub-child $!" >> ${p}; wait) & echo "sub-root $$" >> ${p}; wait`],
    ['/bin/bash', `( (sleep 304 & echo "double-child $!" >> ${p}) & ); echo "double-root $$" >> ${p}; sleep 305`],
    ['bash', `setsid sleep 303 & echo "setsid-child $!" >> ${p}; echo "setsid-root $$" >> ${p}; wait`],
  ];
  const EXPECTED_LINES = 9;

  // The agent: records its pid and environment, starts the commands, then waits for `go` to try
  // two more commands (both routes) and writes down what it got.
  const agentScript = (cmds: [string, string][], marker: string) => `
const fs = require('fs'), cp = require('child_process');
fs.writeFileSync('agent.json', JSON.stringify({ pid: process.pid, env: process.env }));
for (const [sh, c] of ${JSON.stringify(cmds)}) cp.spawn(sh, ['-c', c], { stdio: 'ignore' });
const timer = setInterval(() => {
  if (!fs.existsSync('go')) return;
  clearInterval(timer);
  const out = ['bash', '/bin/bash'].map((sh, i) => {
    const r = cp.spawnSync(sh, ['-c', 'touch ${marker}-' + i], { encoding: 'utf8' });
    return { sh, status: r.status, signal: r.signal, stderr: r.stderr };
  });
  fs.writeFileSync('after.json', JSON.stringify(out));
}, 50);
setInterval(() => {}, 1 << 30); // an agent does not exit on its own
`;

  beforeAll(async () => {
    home = makeSandboxHome();
    logFile = path.join(home.base, 'nono-run.log');
    pidFile = path.join(home.project, 'pids');
    const log = fs.openSync(logFile, 'w');
    nono = spawn('node', [cli, 'run', '--', 'node', '-e', agentScript(commands(pidFile), path.join(home.project, 'late-marker'))], {
      cwd: home.project,
      env: { HOME: home.home, PATH: process.env.PATH!, LANG: 'C.UTF-8' },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    const agentJson = path.join(home.project, 'agent.json');
    const started = await waitFor(() => fs.existsSync(agentJson) && rolesCount(pidFile) >= EXPECTED_LINES, 20_000);
    if (!started) throw new Error(`the agent's commands did not start; nono run said:\n${fs.readFileSync(logFile, 'utf8')}`);
    ({ pid: agentPid, env: agentEnv } = JSON.parse(fs.readFileSync(agentJson, 'utf8')));

    // Let short-lived helpers (the intermediate shell of the double fork) finish first.
    await sleep(300);
    const r = readRoles(pidFile);
    roots.push(...['plain', 'bg', 'sub', 'double', 'setsid'].map((k) => r.get(`${k}-root`)![0]!));
    // Each really went through the supervisor: a child of `nono run`, leading its own session
    // (a bash the routes missed would be the agent's child instead).
    for (const root of roots) expect(readStat(root)).toMatchObject({ ppid: nono.pid, sid: root });
    // The snapshot: every process in the commands' trees right before the kill.
    for (const root of roots) {
      for (const pid of commandTree(root)) {
        if (roots.includes(pid) || !isAlive(pid)) continue;
        const st = readStat(pid);
        if (st && roots.includes(st.sid)) sameSession.add(pid);
        else ownSession.add(pid);
      }
    }
    before = roots.length + sameSession.size + ownSession.size;
    // The recorded descendants must be in the snapshot, or the assertions below prove nothing.
    for (const k of ['bg-child', 'sub-child', 'double-child']) expect(sameSession.has(r.get(k)![0]!), k).toBe(true);
    expect(ownSession.has(r.get('setsid-child')![0]!)).toBe(true);
    expect(aliveAmong([...roots, ...sameSession, ...ownSession])).toHaveLength(before);

    nono.kill('SIGKILL');
    killedAt = Date.now();
  }, 60_000);

  afterAll(() => {
    if (!killedAt) nono?.kill('SIGKILL');
    killAll([agentPid, ...roots, ...sameSession, ...ownSession].filter((p) => p > 0));
    // A SIGKILLed nono cannot remove its session directory; this test's one only.
    if (agentEnv.NONO_SOCKET) fs.rmSync(path.dirname(agentEnv.NONO_SOCKET), { recursive: true, force: true });
    home?.cleanup();
  });

  /** Waits until `pids` are all gone, but no longer than `ms` after the kill. */
  const goneWithin = (pids: () => number[], ms: number) => waitFor(() => aliveAmong(pids()).length === 0, Math.max(0, killedAt + ms - Date.now()));

  it('takes every command (the process it started) down within 1 s', async () => {
    expect(await goneWithin(() => roots, 1000), `still alive: ${aliveAmong(roots).join(' ')}`).toBe(true);
  });

  it("takes the commands' background jobs, sub-shells and double-forked children down within 1 s", async () => {
    const ok = await goneWithin(() => [...sameSession], 1000);
    const left = aliveAmong(sameSession);
    expect(ok, `${left.length} of ${sameSession.size} still alive (${before} processes in the trees before the kill): ${describeProcs(left)}`).toBe(true);
  });

  it("takes a command's setsid'ed child down within 1 s", async () => {
    const ok = await goneWithin(() => [...ownSession], 1000);
    const left = aliveAmong(ownSession);
    expect(ok, `still alive: ${describeProcs(left)}`).toBe(true);
  });

  it('a nono-shell started later with the dead session\'s environment fails closed: 126, one line, nothing runs', async () => {
    const marker = path.join(home.project, 'after-crash-marker');
    const direct = await execa(proxyBash, ['-c', `touch ${marker}-proxy`], {
      cwd: home.project,
      env: agentEnv,
      extendEnv: false,
      reject: false,
    });
    // The interposer route too: a dynamically linked program (python) starting /bin/bash.
    const viaPreload = await execa(PY, ['-c', `import subprocess, sys; sys.exit(subprocess.run(['/bin/bash', '-c', 'touch ${marker}-preload']).returncode)`], {
      cwd: home.project,
      env: agentEnv,
      extendEnv: false,
      reject: false,
    });
    for (const r of [direct, viaPreload]) {
      expect(r.exitCode, r.stderr).toBe(126);
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^nono-shell: cannot reach the nono supervisor at \S+ \(Connection refused\): .*the command was not run$/);
    }
    expect(fs.existsSync(`${marker}-proxy`)).toBe(false);
    expect(fs.existsSync(`${marker}-preload`)).toBe(false);
  });

  it("the agent's own later commands fail closed (126) if it is still there", async () => {
    fs.writeFileSync(path.join(home.project, 'go'), '');
    const resultFile = path.join(home.project, 'after.json');
    const answered = await waitFor(() => fs.existsSync(resultFile), 5000);
    const marker = path.join(home.project, 'late-marker');
    expect(fs.existsSync(`${marker}-0`) || fs.existsSync(`${marker}-1`)).toBe(false);
    if (!answered) {
      // Only acceptable because nothing of the agent is left to run anything.
      expect(isAlive(agentPid), 'the agent is alive but did not report').toBe(false);
      return;
    }
    const results = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as { sh: string; status: number; stderr: string }[];
    for (const r of results) {
      expect(r.status, `${r.sh}: ${r.stderr}`).toBe(126);
      expect(r.stderr).toMatch(/^nono-shell: cannot reach the nono supervisor .*the command was not run\n$/);
    }
  });

  it('does not leave the agent running unsupervised (it is gone within 2 s)', async () => {
    const gone = await goneWithin(() => [agentPid], 2000);
    expect(gone, `the agent (pid ${agentPid}, ${describeProcs([agentPid])}) is still running after nono run was SIGKILLed`).toBe(true);
  });
});

// The other way round: the agent ends (normally) while one of its commands still runs, e.g. a
// background job it started. nono must end the session cleanly: the agent's exit status, no
// error of its own, and the command killed rather than left behind.
describe('the agent exits while one of its commands still runs', () => {
  it("nono run exits with the agent's status, prints no error, and the command is gone", async () => {
    const home = makeSandboxHome();
    try {
      const pidFile = path.join(home.project, 'cmd.pid');
      const agent = `
const fs = require('fs'), cp = require('child_process');
cp.spawn('bash', ['-c', 'echo $$ > ${pidFile}; exec sleep 300'], { stdio: 'ignore', detached: true }).unref();
const t = setInterval(() => { if (fs.existsSync('${pidFile}') && fs.readFileSync('${pidFile}', 'utf8').trim()) { clearInterval(t); process.exit(3); } }, 20);
`;
      const r = await execa('node', [cli, 'run', '--', 'node', '-e', agent], {
        cwd: home.project,
        env: { HOME: home.home, PATH: process.env.PATH!, LANG: 'C.UTF-8' },
        extendEnv: false,
        reject: false,
        timeout: 60_000,
      });
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      try {
        expect(r.exitCode, r.stderr).toBe(3);
        expect(r.stderr).not.toMatch(/Error|\n\s+at /);
        expect(await waitFor(() => !isAlive(pid), 2000), `the command (pid ${pid}) outlived the session`).toBe(true);
      } finally {
        killAll([pid]);
      }
    } finally {
      home.cleanup();
    }
  });
});

/** `pid(ppid=..., sid=...) cmdline` for a failure message. */
function describeProcs(pids: number[]): string {
  return pids
    .map((pid) => {
      const st = readStat(pid);
      let cmd = '?';
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      } catch {
        /* gone */
      }
      return `${pid}(ppid=${st?.ppid} sid=${st?.sid}) ${cmd}`;
    })
    .join('; ');
}

// ---------------------------------------------------------------------------------------------
// 2 and 4. An in-process supervisor; nono-shell runs as the agent would run it.
// ---------------------------------------------------------------------------------------------
const rig = setupRig();

/**
 * Starts `script` as the agent would (nono-shell via proxy-bin/bash), or with plain /bin/bash as
 * the control. `quiet`: no pipes, for trees that outlive the test's interest in them (a survivor
 * holding the stdout pipe would keep execa waiting for EOF).
 */
function runShell(script: string, opts: { bin?: string; env?: Record<string, string>; quiet?: boolean } = {}) {
  return execa(opts.bin ?? proxyBash, ['-c', script], {
    cwd: rig.home.project,
    stdio: opts.quiet ? 'ignore' : 'pipe',
    env: opts.bin === '/bin/bash' ? { PATH: '/usr/bin:/bin', HOME: rig.home.home, LANG: 'C.UTF-8' } : { ...rig.s.env, ...opts.env },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
}

/** Waits for `n` role lines in `file`, lets short-lived helpers exit, and snapshots the tree. */
async function snapshotTree(file: string, n: number) {
  expect(await waitFor(() => rolesCount(file) >= n, 10_000), fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : 'no pid file').toBe(true);
  await sleep(300);
  const roles = readRoles(file);
  const root = roles.get('root')![0]!;
  const tree = commandTree(root).filter(isAlive);
  const recorded = [...roles.entries()].filter(([k]) => k !== 'ready').flatMap(([, v]) => v);
  return { roles, root, tree, recorded };
}

describe('nono-shell is SIGKILLed (what agents do on a timeout) under a deep command tree', () => {
  it('leaves no process of the tree behind within 1 s', async () => {
    const f = path.join(rig.home.project, 'deep.pids');
    fs.rmSync(f, { force: true });
    const p = runShell(`
echo "root $$" >> ${f}
sleep 300 & echo "bg $!" >> ${f}
( sleep 301 & echo "sub $!" >> ${f}; ( sleep 302 & echo "subsub $!" >> ${f}; wait ); wait ) &
{ sleep 303 | cat; } &
bash -c 'sleep 304 & echo "nested-bash $!" >> ${f}; wait' &
setsid sleep 305 & echo "setsid $!" >> ${f}
setsid bash -c 'sleep 306 & echo "setsid-grandchild $!" >> ${f}; wait' &
( (sleep 307 & echo "double-fork $!" >> ${f}) & )
( trap '' HUP TERM INT; sleep 308 & echo "immune $!" >> ${f}; wait ) &
echo "ready 0" >> ${f}
wait`, { quiet: true });
    try {
      const { root, tree, recorded } = await snapshotTree(f, 10);
      // Everything the script recorded is in the tree nono will kill, and the tree is deep.
      expect(tree).toEqual(expect.arrayContaining(recorded));
      expect(tree.length, describeProcs(tree)).toBeGreaterThanOrEqual(15);
      const sids = new Set(tree.map((pid) => readStat(pid)!.sid));
      p.kill('SIGKILL');
      const r = await p;
      expect(r.signal).toBe('SIGKILL');
      const gone = await waitFor(() => aliveAmong(tree).length === 0 && commandTree(root).filter(isAlive).length === 0 && inSessions(sids).length === 0, 1000);
      const left = [...new Set([...aliveAmong(tree), ...inSessions(sids)])];
      expect(gone, `${left.length} of ${tree.length} processes left: ${describeProcs(left)}`).toBe(true);
    } finally {
      p.kill('SIGKILL');
      killAll([...readRoles(f).values()].flat());
    }
  });

  // README, "Known gaps": with no cgroup per command, a process that started its own session and
  // whose parent already exited is no longer linked to the command. `fails` keeps this case
  // honest: it turns red the day the gap is closed.
  it.fails("known gap (README): a setsid'ed grandchild whose parent already exited escapes", async () => {
    const f = path.join(rig.home.project, 'gap.pids');
    fs.rmSync(f, { force: true });
    const p = runShell(`echo "root $$" >> ${f}; ( setsid sleep 309 & echo "escapee $!" >> ${f} ); echo "ready 0" >> ${f}; sleep 300`, { quiet: true });
    try {
      const { roles } = await snapshotTree(f, 3);
      const escapee = roles.get('escapee')![0]!;
      expect(isAlive(escapee)).toBe(true);
      p.kill('SIGKILL');
      await p;
      expect(await waitFor(() => !isAlive(escapee), 1000), `escaped: ${describeProcs([escapee])}`).toBe(true);
    } finally {
      p.kill('SIGKILL');
      killAll([...readRoles(f).values()].flat());
    }
  });
});

describe('stdin the command never reads', () => {
  // 16 MB: far more than a pipe holds, so the agent's writer blocks until someone closes the pipe.
  const input = Buffer.alloc(16 << 20, 'x');

  it.each([
    ['exits without reading', 'sleep 0.2; echo done; exit 3', 'done', 3],
    ['reads 5 bytes and exits', 'head -c 5; echo; exit 4', 'xxxxx', 4],
  ])('a command that %s: the agent gets its output and status, and does not hang', async (_what, script, out, code) => {
    const run = (bin: string, env: Record<string, string>) =>
      execa(bin, ['-c', script], { cwd: rig.home.project, env, extendEnv: false, reject: false, input, timeout: 30_000 });
    const control = await run('/bin/bash', { PATH: '/usr/bin:/bin' });
    expect([control.stdout, control.exitCode]).toEqual([out, code]);
    const t0 = Date.now();
    const r = await run(proxyBash, rig.s.env);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toBe(out);
    expect(r.exitCode).toBe(code);
  });

  it('an agent that keeps stdin open and never closes it still sees the command end', async () => {
    const p = spawn(proxyBash, ['-c', 'echo hi; exit 7'], { cwd: rig.home.project, env: rig.s.env, stdio: ['pipe', 'pipe', 'pipe'] });
    p.stdin!.write('some input that nobody reads\n'); // and never end()
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    const code = await Promise.race([new Promise<number | null>((res) => p.on('exit', (c) => res(c))), sleep(10_000).then(() => 'hung' as const)]);
    p.kill('SIGKILL');
    expect(code).toBe(7);
    expect(out).toBe('hi\n');
  });
});

describe('stdout whose reader goes away (SIGPIPE)', () => {
  it('`yes | head -c 10` inside a command behaves as in bash: 10 bytes, yes dies of SIGPIPE (141), nothing on stderr', async () => {
    const script = 'yes | head -c 10; echo "pipestatus ${PIPESTATUS[*]}"';
    const control = await runShell(script, { bin: '/bin/bash' });
    expect(control.stdout).toBe('y\ny\ny\ny\ny\npipestatus 141 0');
    const r = await runShell(script);
    expect({ stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode }).toEqual({ stdout: control.stdout, stderr: '', exitCode: 0 });
  });

  it('the command starts with SIGPIPE at its default action, as under bash (not ignored)', async () => {
    const r = await runShell('grep ^SigIgn /proc/self/status');
    const mask = BigInt(`0x${r.stdout.split(/\s+/)[1]}`);
    expect(mask & (1n << 12n), `SigIgn ${r.stdout}`).toBe(0n); // bit 12 = signal 13, SIGPIPE
  });

  let fifos = 0;
  /**
   * Starts `script` with stdout on a pipe, reads its first output, then closes the read end, like
   * `cmd | head -1`. A FIFO, not Node's stdio 'pipe': that one is a socketpair, where closing with
   * unread data makes the writer's next write fail with ECONNRESET (no SIGPIPE) or EPIPE, by race.
   */
  async function readerGoesAway(bin: string, script: string) {
    const fifo = path.join(rig.home.base, `fifo-${++fifos}`);
    execFileSync('mkfifo', [fifo]);
    const readEnd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writeEnd = fs.openSync(fifo, fs.constants.O_WRONLY);
    const env = bin === proxyBash ? rig.s.env : { PATH: '/usr/bin:/bin', HOME: rig.home.home };
    const p = spawn(bin, ['-c', script], { cwd: rig.home.project, env, stdio: ['ignore', writeEnd, 'pipe'] });
    fs.closeSync(writeEnd);
    let stderr = '';
    p.stderr!.on('data', (d) => (stderr = (stderr + d).slice(0, 2000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => p.on('exit', (code, signal) => res({ code, signal })));
    const got = await waitFor(() => {
      try {
        return fs.readSync(readEnd, Buffer.alloc(16)) > 0;
      } catch {
        return false; // EAGAIN: nothing yet
      }
    }, 10_000);
    fs.closeSync(readEnd);
    const end = got ? await Promise.race([exited, sleep(5000).then(() => 'still running after 5 s' as const)]) : 'no output';
    p.kill('SIGKILL'); // a stuck one: the supervisor then kills its tree
    return { end, stderr: stderr.split('\n').slice(0, 3).join('\n') };
  }

  it.each([
    ['yes (the command execs it)', 'yes'],
    ['a shell loop of echo', 'while :; do echo x; done'],
  ])('%s: dies of SIGPIPE when the agent stops reading, and so does nono-shell', async (_what, script) => {
    const control = await readerGoesAway('/bin/bash', script);
    expect(control.end).toEqual({ code: null, signal: 'SIGPIPE' });
    const r = await readerGoesAway(proxyBash, script);
    expect(r.end, `stderr: ${r.stderr}`).toEqual({ code: null, signal: 'SIGPIPE' });
    expect(r.stderr).toBe('');
  });
});

describe('a command that ignores SIGTERM', () => {
  it('gets the forwarded SIGTERM and keeps running; SIGKILL to nono-shell 1.5 s later takes its tree down within 1 s', async () => {
    const f = path.join(rig.home.project, 'term.pids');
    fs.rmSync(f, { force: true });
    const p = runShell(`trap '' TERM; echo "root $$" >> ${f}; sleep 300 & echo "child $!" >> ${f}; (sleep 301 & echo "grandchild $!" >> ${f}; wait) & echo "ready 0" >> ${f}; wait; echo wait-returned`, {
      quiet: true,
    });
    try {
      const { root, tree, recorded } = await snapshotTree(f, 4);
      expect(tree).toEqual(expect.arrayContaining(recorded));
      const logBefore = rig.s.logLines.length;
      p.kill('SIGTERM');
      await sleep(1500);
      // Forwarded (the supervisor logged it), ignored by the command, and nono-shell still waits.
      expect(rig.s.logLines.slice(logBefore).some((l) => /forwarding signal 15\b/.test(l))).toBe(true);
      expect(aliveAmong(tree)).toEqual(tree);
      expect(isAlive(p.pid!)).toBe(true);
      p.kill('SIGKILL');
      const r = await p;
      expect(r.signal).toBe('SIGKILL');
      const gone = await waitFor(() => aliveAmong(tree).length === 0 && commandTree(root).filter(isAlive).length === 0, 1000);
      expect(gone, `left: ${describeProcs(aliveAmong(tree))}`).toBe(true);
    } finally {
      p.kill('SIGKILL');
      killAll([...readRoles(f).values()].flat());
    }
  });
});
