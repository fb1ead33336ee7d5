// The supervisor talks to its sandbox only through the platform interface (platform/types.ts):
// here it serves the real nono-shell client over its real socket with a platform that has no
// sandbox at all. The fake spawns plainly (the addon's posix_spawn path), decides "denied" by which
// sandbox a run was given, and records every call; whatever the supervisor does about the
// sandbox (the first run, the re-run in a one-off sandbox, session grants, a held operation,
// killing a tree, the audit digest) must show up as a call here, or it did not go through the
// interface.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { nativePaths, proxyBinDir } from '../src/native/paths.js';
import { findRealShells } from '../src/nono-shell/real-shells.js';
import { AuditLog } from '../src/supervisor/audit-log.js';
import { DenialHandler } from '../src/supervisor/denial-handler.js';
import type { Denial, Grant } from '../src/supervisor/denials/types.js';
import type { CommandPlatform, FinishedCommand, HeldHooks, PlatformPolicy, PlatformSandbox, SpawnRequest } from '../src/supervisor/platform/types.js';
import { isInsideCommand, killCommandTree, readStat } from '../src/supervisor/process-tree.js';
import type { Choice, PromptRequest } from '../src/supervisor/prompt/types.js';
import { createSession, type Session } from '../src/supervisor/session.js';
import { Supervisor } from '../src/supervisor/supervisor.js';

const addon = loadAddon();

/** A "sandbox" is its name: the command sees it as $FAKE_SANDBOX and fails on its own when the
 * name is not one it accepts. */
interface FakeSandbox extends PlatformSandbox {
  name: string;
}

class FakePolicy implements PlatformPolicy<FakeSandbox> {
  current: FakeSandbox = { name: 'session-0', digest: 'digest-session-0', close: () => {} };
  readonly sessionGrants: Grant[] = [];
  readonly oneOffs: Grant[][] = [];
  readonly closed: string[] = [];

  grantsThatWork(denials: readonly Denial[]): boolean[] {
    return denials.map(() => true);
  }
  allows(d: Denial): boolean {
    return this.sessionGrants.some((g) => g.path === d.path);
  }
  directPorts(): readonly number[] {
    return [];
  }
  oneOff(grants: readonly Grant[]): FakeSandbox {
    this.oneOffs.push([...grants]);
    return { name: 'once', digest: 'digest-once', close: () => this.closed.push('once') };
  }
  addSessionGrants(grants: readonly Grant[]): void {
    this.sessionGrants.push(...grants);
    const n = this.sessionGrants.length;
    this.current = { name: `session-${n}`, digest: `digest-session-${n}`, close: () => {} };
  }
  close(): void {}
}

class FakePlatform implements CommandPlatform<FakeSandbox> {
  readonly name = 'linux';
  readonly sandboxName = 'FakeBox';
  readonly policy = new FakePolicy();
  readonly spawned: Array<{ sandbox: string; file: string; argv: string[]; pid: number }> = [];
  readonly denialCalls: Array<{ pid: number; sandbox: string; stderr: string }> = [];
  readonly killed: number[] = [];
  readonly answers: boolean[] = [];
  /** Set by a test: the operation the next spawn reports as held. */
  hold?: { op: 'write'; path: string };

  spawn(sandbox: FakeSandbox, req: SpawnRequest, onExit: (code: number | null, signal: number | null) => void, held?: HeldHooks): number {
    const pid = addon.spawnHelper({ file: String(req.file), argv: req.argv, env: [...req.env, `FAKE_SANDBOX=${sandbox.name}`], cwd: req.cwd, stdio: req.stdio }, onExit);
    this.spawned.push({ sandbox: sandbox.name, file: String(req.file), argv: req.argv.map(String), pid });
    const hold = this.hold;
    this.hold = undefined;
    if (hold && held) held.onHeld({ token: 7, op: hold.op, path: hold.path, isDir: false }, (allow) => (this.answers.push(allow), true));
    return pid;
  }

  async denials(cmd: FinishedCommand, sandbox: FakeSandbox): Promise<Denial[]> {
    this.denialCalls.push({ pid: cmd.pid, sandbox: sandbox.name, stderr: cmd.stderr });
    const m = /fakebox: denied read of (\S+)/.exec(cmd.stderr);
    return m ? [{ op: 'read', path: m[1]!, evidence: m[0], source: 'stderr' }] : [];
  }

  killTree(rootPid: number, signal?: NodeJS.Signals): number {
    this.killed.push(rootPid);
    return killCommandTree(rootPid, signal);
  }

  isInsideCommand(pid: number, commandPids: ReadonlySet<number>, stopAt: number): boolean {
    return isInsideCommand(pid, commandPids, stopAt);
  }

  close(): void {}
}

interface Rig {
  dir: string;
  session: Session;
  platform: FakePlatform;
  supervisor: Supervisor;
  asked: PromptRequest[];
  auditFile: string;
  env: Record<string, string>;
  cleanup(): void;
}

function startRig(answer: Choice): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-platform-'));
  const session = createSession();
  const platform = new FakePlatform();
  const asked: PromptRequest[] = [];
  const auditFile = path.join(dir, 'audit.jsonl');
  const audit = new AuditLog(auditFile, session.id);
  const denials = new DenialHandler({
    mode: 'prompt',
    prompter: { ask: async (req) => (asked.push(req), answer) },
    audit,
    approvalsFile: path.join(dir, 'approvals.json'),
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
  return {
    dir,
    session,
    platform,
    supervisor,
    asked,
    auditFile,
    env: { PATH: '/usr/bin:/bin', HOME: dir, NONO_SOCKET: session.socketPath, NONO_SESSION_SECRET: session.secret },
    cleanup() {
      supervisor.stop();
      audit.close();
      session.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function run(rig: Rig, command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(nativePaths.client, ['-c', command], { env: rig.env, cwd: rig.dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Succeeds only in a sandbox named `once`; elsewhere it reports a denial of `secret` and fails. */
const needsOnce = (secret: string) => `if [ "$FAKE_SANDBOX" = once ]; then echo got it; else echo "fakebox: denied read of ${secret}" >&2; exit 1; fi`;

describe('the supervisor through the platform interface only', () => {
  let rig: Rig | undefined;
  afterEach(() => rig?.cleanup());

  it('runs the command with the platform spawn in the current sandbox, and reports its output and status', async () => {
    rig = startRig('deny');
    const r = await run(rig, 'echo "in $FAKE_SANDBOX"; exit 5');
    expect(r).toMatchObject({ code: 5, stdout: 'in session-0\n' });
    // The real shell, with the command line as the caller gave it (argv[0] included).
    expect(rig.platform.spawned).toEqual([
      { sandbox: 'session-0', file: expect.stringMatching(/\/bash$/), argv: [nativePaths.client, '-c', 'echo "in $FAKE_SANDBOX"; exit 5'], pid: expect.any(Number) },
    ]);
    // The audit record names the platform sandbox's digest.
    const records = fs.readFileSync(rig.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records.find((x) => x.type === 'command')).toMatchObject({ policy: 'digest-session-0', exit: { code: 5 }, attempts: 1 });
  });

  it("asks about the platform's denials and re-runs in the platform's one-off sandbox, which it then closes", async () => {
    rig = startRig('once');
    const secret = path.join(rig.dir, 'secret');
    fs.writeFileSync(secret, 'x');
    const r = await run(rig, needsOnce(secret));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('got it\n');
    expect(r.stderr).toContain(`fakebox: denied read of ${secret}`);
    expect(r.stderr).toContain('nono: re-running this command with read');
    expect(rig.asked).toHaveLength(1);
    expect(rig.asked[0]!.denials).toMatchObject([{ op: 'read', path: secret }]);
    expect(rig.platform.denialCalls).toEqual([{ pid: rig.platform.spawned[0]!.pid, sandbox: 'session-0', stderr: expect.stringContaining('fakebox: denied') }]);
    expect(rig.platform.spawned.map((s) => s.sandbox)).toEqual(['session-0', 'once']);
    expect(rig.platform.policy.oneOffs).toEqual([[expect.objectContaining({ kind: 'read_file', path: secret })]]);
    expect(rig.platform.policy.closed).toEqual(['once']);
    expect(rig.platform.policy.sessionGrants).toEqual([]);
  });

  it("names the platform's sandbox when a grant it cannot express is not offered", async () => {
    rig = startRig('once');
    rig.platform.policy.grantsThatWork = (denials) => denials.map(() => false);
    const secret = path.join(rig.dir, 'secret');
    const r = await run(rig, needsOnce(secret));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`nono: the sandbox denied read of ${secret}; FakeBox cannot allow that`);
    expect(rig.asked).toEqual([]);
    expect(rig.platform.spawned).toHaveLength(1);
  });

  it('a held operation reaches the question through the hooks; "session" answers it and grants through the policy', async () => {
    rig = startRig('session');
    const target = path.join(rig.dir, 'notes.txt');
    fs.writeFileSync(target, '');
    rig.platform.hold = { op: 'write', path: target };
    const r = await run(rig, 'sleep 0.3; echo done');
    expect(r).toMatchObject({ code: 0, stdout: 'done\n' });
    expect(rig.asked).toHaveLength(1);
    expect(rig.asked[0]!.denials).toMatchObject([{ op: 'write', path: target, source: 'seccomp' }]);
    expect(rig.platform.answers).toEqual([true]);
    expect(rig.platform.policy.sessionGrants).toEqual([expect.objectContaining({ kind: 'write_file', path: target })]);
    // Allowed now by the policy: the same operation held again goes ahead without a question.
    rig.platform.hold = { op: 'write', path: target };
    await run(rig, 'true');
    expect(rig.asked).toHaveLength(1);
    expect(rig.platform.answers).toEqual([true, true]);
  });

  it("kills the command's tree through the platform when its nono-shell goes away", async () => {
    rig = startRig('deny');
    const child = spawn(nativePaths.client, ['-c', 'sleep 30'], { env: rig.env, cwd: rig.dir, stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    while (rig.platform.spawned.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const { pid } = rig.platform.spawned[0]!;
    expect(readStat(pid)).toBeDefined();
    child.kill('SIGKILL');
    while (rig.platform.killed.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(rig.platform.killed).toEqual([pid]);
    while (readStat(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(readStat(pid)).toBeUndefined();
  });
});
