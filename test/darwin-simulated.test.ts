// The macOS orchestration end to end, on Linux. The darwin backend is selected explicitly (not by
// process.platform) and runs for real: the real nono-shell client, the real supervisor socket, the
// Seatbelt compiler writing profiles, the addon's posix_spawn path with its exit watch, the
// unified-log monitor reading a live `log stream` process, attribution by tag and pid, the
// denial handler, the re-run with a newly compiled SBPL. Stand-ins only for what a Mac alone has:
// test/helpers/seatbelt-double.mjs for the Seatbelt kernel (it records the SBPL it was given and
// decides with sbpl-eval) and test/helpers/log-double.mjs for /usr/bin/log.
// NOT a test on macOS: nothing here proves the real kernel or log behave like the doubles.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { nativePaths, packageRoot, proxyBinDir } from '../src/native/paths.js';
import { findRealShells } from '../src/nono-shell/real-shells.js';
import { parseSbpl, decide } from '../src/policy/sbpl-eval.js';
import { resolveProfile } from '../src/policy/resolve-profile.js';
import { AuditLog } from '../src/supervisor/audit-log.js';
import { DenialHandler } from '../src/supervisor/denial-handler.js';
import { SeatbeltDenialMonitor } from '../src/supervisor/denials/seatbelt-monitor.js';
import { DarwinPlatform } from '../src/supervisor/platform/darwin.js';
import { logDeps } from '../src/supervisor/platform/darwin-log.js';
import type { ProcStat } from '../src/supervisor/process-tree.js';
import { readStat } from '../src/supervisor/process-tree.js';
import type { PromptRequest } from '../src/supervisor/prompt/types.js';
import { createSession, type Session } from '../src/supervisor/session.js';
import { Supervisor } from '../src/supervisor/supervisor.js';
import { fixtures } from './helpers/paths.js';

const seatbeltDouble = path.join(packageRoot, 'test/helpers/seatbelt-double.mjs');
const logDouble = path.join(packageRoot, 'test/helpers/log-double.mjs');
const TAG = 'nono-sim';

/** The process table a Mac gets from sysctl; here from /proc (same four columns). */
function procTable(): ProcStat[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map((n) => readStat(Number(n))).filter((s): s is ProcStat => s !== undefined);
}

interface Sim {
  home: string;
  session: Session;
  supervisor: Supervisor;
  monitor: SeatbeltDenialMonitor;
  asked: PromptRequest[];
  record: string;
  spool: string;
  env: Record<string, string>;
  cleanup(): void;
}

async function startSim(answer: 'once' | 'deny'): Promise<Sim> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-darwin-home-'));
  const work = path.join(home, 'project');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
  fs.mkdirSync(work);
  fs.writeFileSync(path.join(home, '.ssh', 'id_rsa'), 'PRIVATE KEY\n');
  fs.writeFileSync(path.join(home, '.ssh', 'other'), 'OTHER\n');
  const session = createSession();
  const record = path.join(home, 'record.jsonl');
  const spool = path.join(home, 'spool.ndjson');
  fs.writeFileSync(spool, '');
  // The log double reads the spool named in its environment (the monitor passes its own env on).
  process.env.NONO_SIM_SPOOL = spool;
  const policy = resolveProfile('default', { home, approvalsFile: path.join(home, 'approvals.json'), workdir: work, tmpdir: session.privateTmp, runtimeDirs: [packageRoot] });
  let platform: DarwinPlatform;
  const monitor = new SeatbeltDenialMonitor({ ...logDeps(logDouble), pidsOf: (pid) => platform.pidsOf(pid), tag: TAG });
  const started = await monitor.start();
  expect(started).toEqual({ ready: true });
  const addon = loadAddon();
  platform = new DarwinPlatform({
    addon,
    policy,
    profileDir: path.join(session.dir, 'profiles'),
    tag: TAG,
    helper: seatbeltDouble,
    socketPath: session.socketPath,
    monitor,
    processTable: procTable,
    log: () => {},
  });
  const asked: PromptRequest[] = [];
  const audit = new AuditLog(path.join(home, 'audit.jsonl'), session.id);
  const denials = new DenialHandler({
    mode: 'prompt',
    prompter: { ask: async (req) => (asked.push(req), answer) },
    audit,
    approvalsFile: path.join(home, 'approvals.json'),
    log: () => {},
  });
  const supervisor = new Supervisor({
    addon,
    session,
    platform,
    denials,
    audit,
    shells: findRealShells('/usr/bin:/bin', nativePaths.client),
    realShell: '/bin/bash',
    clientPath: nativePaths.client,
    proxyBinDir,
    log: () => {},
  });
  supervisor.start();
  const env = {
    PATH: `/usr/local/bin:/usr/bin:/bin`,
    HOME: home,
    NONO_SOCKET: session.socketPath,
    NONO_SESSION_SECRET: session.secret,
    NONO_SIM_RECORD: record,
    NONO_SIM_SPOOL: spool,
    NONO_SIM_TAG: TAG,
  };
  return {
    home, session, supervisor, monitor, asked, record, spool, env,
    cleanup() {
      supervisor.stop();
      platform.close();
      audit.close();
      session.cleanup();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

function run(sim: Sim, command: string, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(nativePaths.client, ['-c', command], { env: { ...sim.env, ...extraEnv }, cwd: path.join(sim.home, 'project') });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const records = (sim: Sim) => fs.readFileSync(sim.record, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('macOS orchestration against a simulated Seatbelt (darwin backend on Linux)', () => {
  let sim: Sim | undefined;
  afterEach(() => sim?.cleanup());
  beforeEach(() => {
    expect(fs.existsSync(path.join(packageRoot, 'dist/policy/sbpl-eval.js'))).toBe(true);
    expect(fixtures).toBeTruthy();
  });

  it('runs a routed command through the helper with the compiled profile; exit codes and signals travel back', async () => {
    sim = await startSim('deny');
    const ok = await run(sim, 'echo hello; exit 7');
    expect(ok).toMatchObject({ code: 7, stdout: 'hello\n' });
    const [rec] = records(sim);
    expect(rec.program).toEqual([expect.stringMatching(/^\/(usr\/)?bin\/bash$/), '-c', 'echo hello; exit 7']);
    expect(rec.profile.startsWith(path.join(sim.session.dir, 'profiles') + '/')).toBe(true);
    expect(rec.sbpl).toContain(`(deny default (with message "${TAG}:default"))`);
    expect(rec.sbpl).toContain(`(with message "${TAG}:`);
    const killed = await run(sim, 'kill -TERM $$');
    expect(killed.signal).toBe('SIGTERM');
  });

  it('attributes a denial from the log to its command, asks, and re-runs with an SBPL that allows exactly the grant', async () => {
    sim = await startSim('once');
    const key = path.join(sim.home, '.ssh', 'id_rsa');
    const r = await run(sim, `cat ${key}`, { NONO_SIM_PROBE: `file-read-data ${key}` });
    expect(r.stderr).toContain(`cat: ${key}: Operation not permitted`);
    expect(r.stderr).toContain('nono: re-running this command with read');
    expect(r).toMatchObject({ code: 0, stdout: 'PRIVATE KEY\n' });
    expect(sim.asked).toHaveLength(1);
    expect(sim.asked[0]!.denials).toMatchObject([{ op: 'read', path: key, source: 'seatbelt-log' }]);
    const [first, second] = records(sim);
    const before = parseSbpl(first.sbpl);
    const after = parseSbpl(second.sbpl);
    expect(decide(before, 'file-read-data', key).allowed).toBe(false);
    expect(decide(after, 'file-read-data', key).allowed).toBe(true);
    // Exactly the grant: the key's neighbour and writing the key stay denied.
    expect(decide(after, 'file-read-data', path.join(sim.home, '.ssh', 'other')).allowed).toBe(false);
    expect(decide(after, 'file-write-data', key).allowed).toBe(false);
    expect(second.profile).not.toBe(first.profile);
  });

  it('a denied question leaves the command failed, with the line that says how to allow it', async () => {
    sim = await startSim('deny');
    const key = path.join(sim.home, '.ssh', 'id_rsa');
    const r = await run(sim, `cat ${key}`, { NONO_SIM_PROBE: `file-read-data ${key}` });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`nono: the sandbox denied read of ${key}`);
    expect(records(sim)).toHaveLength(1);
  });

  it('a denial that only shows on stderr (nothing in the log) is found there, checked with the SBPL evaluator, asked about and re-run', async () => {
    sim = await startSim('once');
    const key = path.join(sim.home, '.ssh', 'id_rsa');
    const r = await run(sim, `cat ${key}`, { NONO_SIM_PROBE: `file-read-data ${key}`, NONO_SIM_LOG: 'off' });
    expect(fs.readFileSync(sim.spool, 'utf8')).toBe('');
    expect(sim.asked).toHaveLength(1);
    expect(sim.asked[0]!.denials).toMatchObject([{ op: 'read', path: key, source: 'stderr' }]);
    expect(r).toMatchObject({ code: 0, stdout: 'PRIVATE KEY\n' });
  });

  it('stderr alone is not evidence: a path the SBPL allows is never asked about', async () => {
    sim = await startSim('once');
    const mine = path.join(sim.home, 'project', 'notes.txt');
    fs.writeFileSync(mine, 'x');
    const r = await run(sim, `echo "cat: ${mine}: Operation not permitted" >&2; exit 1`, { NONO_SIM_LOG: 'off' });
    expect(r.code).toBe(1);
    expect(sim.asked).toHaveLength(0);
  });
});

