// The session watchdog (shim/session_watchdog.c) as a user meets it: `nono run` is killed with
// SIGKILL (a crash, an OOM kill) while one of the agent's commands runs with a child of its own in
// the background. Nothing of that command may keep running unsupervised: the watchdog kills the
// whole tree. On Linux through the real `nono run`; on the darwin backend through the simulated
// run (test/helpers/darwin-run.mjs), where macOS would have no parent-death signal at all.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/native/paths.js';
import { cli } from './helpers/paths.js';

const agent = path.join(packageRoot, 'test/fixtures/darwin/agent.mjs');
const harness = path.join(packageRoot, 'test/helpers/darwin-run.mjs');

let dir: string | undefined;
let nono: ChildProcess | undefined;
const leftovers: number[] = [];
afterEach(() => {
  nono?.kill('SIGKILL');
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Alive and not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (what()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return what();
}

/** Starts nono with a command that leaves a background child; returns the command's two pids. */
async function startCommand(argv: string[], extraEnv: Record<string, string>): Promise<{ shell: number; child: number }> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-watchdog-'));
  const work = path.join(dir, 'project');
  fs.mkdirSync(work);
  const pids = path.join(work, 'pids');
  // The pids are written last, once both processes run.
  const cmd = `sleep 300 & echo "$$ $!" > ${pids}.tmp && mv ${pids}.tmp ${pids}; wait`;
  nono = spawn(process.execPath, [...argv, '--', process.execPath, agent, cmd], {
    cwd: work,
    env: { PATH: process.env.PATH!, HOME: dir, XDG_STATE_HOME: path.join(dir, 'state'), ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  nono.stderr!.on('data', (d) => (stderr += d));
  if (!(await until(() => fs.existsSync(pids), 20_000))) throw new Error(`the command never started; nono said:\n${stderr}`);
  const [shell, child] = fs.readFileSync(pids, 'utf8').trim().split(' ').map(Number) as [number, number];
  leftovers.push(shell, child);
  expect(running(shell) && running(child)).toBe(true);
  return { shell, child };
}

describe('the supervisor is killed while a command runs', () => {
  it('Linux: nono run SIGKILLed -> the command and its background child are killed too', async () => {
    const { shell, child } = await startCommand([cli, 'run'], {});
    nono!.kill('SIGKILL');
    expect(await until(() => !running(shell) && !running(child), 10_000)).toBe(true);
  });

  it('darwin backend (simulated): the same, through the watchdog macOS needs (no parent-death signal there)', async () => {
    const record = path.join(os.tmpdir(), `nono-watchdog-record-${process.pid}`);
    const spool = `${record}.spool`;
    fs.writeFileSync(spool, '');
    try {
      const { shell, child } = await startCommand([harness], { NONO_SIM_RECORD: record, NONO_SIM_SPOOL: spool });
      nono!.kill('SIGKILL');
      expect(await until(() => !running(shell) && !running(child), 10_000)).toBe(true);
    } finally {
      fs.rmSync(record, { force: true });
      fs.rmSync(spool, { force: true });
    }
  });
});
