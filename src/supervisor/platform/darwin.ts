// The macOS backend: every command runs under nono-seatbelt-exec (shim/seatbelt_exec.c), started
// by the addon's posix_spawn (POSIX_SPAWN_CLOEXEC_DEFAULT, SETSID, dup2 of 0-2) and watched with
// kqueue; the helper applies the SBPL compiled for the session (or for one re-run after a grant)
// with sandbox_init_with_parameters, then execs the shell. The supervisor stays outside every
// sandbox. Denials come from the unified log (SeatbeltDenialMonitor: one `log stream` started
// before the first command, attributed by the session tag and the command's pids, `log show` as
// the late-delivery fallback). Process trees come from the system process table (sysctl).
//
// NEVER RUN ON A MAC. On Linux the tests select this backend explicitly and run it end to end with
// stand-ins for what only a Mac has: the helper (a double that records the SBPL, decides with
// sbpl-eval and runs the command) and /usr/bin/log (a double replaying unified-log lines).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { NativeAddon } from '../../native/addon.js';
import { compileSeatbelt, type CompiledSeatbelt } from '../../policy/seatbelt-compiler.js';
import { decide, type SeatbeltRule } from '../../policy/sbpl-eval.js';
import { detectStderrDenials, type DenialOracle } from '../denials/stderr-denials.js';
import type { ResolvedPolicy } from '../../policy/resolved-policy.js';
import { applyGrants } from '../command-policy.js';
import type { SeatbeltDenialMonitor } from '../denials/seatbelt-monitor.js';
import type { Denial, DenialOp, Grant } from '../denials/types.js';
import { insideCommandWith, killTreeWith, treeOf, type ProcessTable } from './process-table.js';
import type { Watchdog } from '../watchdog.js';
import type { HeldOperation } from '../live-questions.js';
import type { CommandPlatform, FinishedCommand, PlatformPolicy, PlatformSandbox, SpawnRequest } from './types.js';

export interface SeatbeltSandbox extends PlatformSandbox {
  compiled: CompiledSeatbelt;
  /** The SBPL file the helper reads (0600, in the session directory, out of every command's reach). */
  profileFile: string;
}

/** The concrete Seatbelt operation each denial kind stands for (what sbpl-eval decides). */
export const SEATBELT_OP: Record<DenialOp, string> = {
  read: 'file-read-data',
  list: 'file-read-data',
  write: 'file-write-data',
  create: 'file-write-create',
  delete: 'file-write-unlink',
  rename: 'file-write-create',
  execute: 'process-exec',
  connect: 'network-outbound',
  bind: 'network-bind',
};

/** "Is this really denied?" for stderr detection, answered by the SBPL evaluator. Seatbelt refuses
 * file operations (and outbound connections) with EPERM. */
export function seatbeltOracle(rules: readonly SeatbeltRule[]): DenialOracle {
  return {
    fsErrnos: ['EPERM'],
    fsDenied: (p, op) => !decide(rules, SEATBELT_OP[op], p).allowed,
    netDenied(op, port) {
      // The host is unknown from the message: a non-loopback one (commands reach only the proxy there).
      const address = { proto: 'tcp' as const, host: op === 'connect' ? '192.0.2.1' : 'localhost', port: port ?? 443 };
      return !decide(rules, op === 'connect' ? 'network-outbound' : 'network-bind', op === 'connect' ? { remote: address } : { local: address }).allowed;
    },
  };
}

export interface DarwinOptions {
  addon: Pick<NativeAddon, 'spawnHelper'>;
  policy: ResolvedPolicy;
  /** Where compiled profiles are written (the session directory). */
  profileDir: string;
  /** Every deny carries it; the log is filtered on it. */
  tag: string;
  /** nono-seatbelt-exec (tests: the double). */
  helper: string;
  /** The supervisor socket: always reachable from commands (nested nono-shells). */
  socketPath: string;
  monitor: SeatbeltDenialMonitor;
  processTable: ProcessTable;
  /** Kills the commands' trees if the supervisor dies: macOS has no parent-death signal, so
   * nothing else would. Owned (closed) by the platform. */
  watchdog?: Watchdog;
  log: (line: string) => void;
}

class SeatbeltPolicy implements PlatformPolicy<SeatbeltSandbox> {
  private sandbox: SeatbeltSandbox;
  private resolved: ResolvedPolicy;

  constructor(private readonly o: DarwinOptions) {
    this.resolved = o.policy;
    this.sandbox = this.build(o.policy);
  }

  private compile(policy: ResolvedPolicy): CompiledSeatbelt {
    return compileSeatbelt(policy, { tag: this.o.tag, target: 'command', allowUnixSockets: [this.o.socketPath] });
  }

  private build(policy: ResolvedPolicy): SeatbeltSandbox {
    const compiled = this.compile(policy);
    const digest = crypto.createHash('sha256').update(compiled.sbpl).digest('hex').slice(0, 12);
    const profileFile = path.join(this.o.profileDir, `command-${digest}.sb`);
    fs.mkdirSync(this.o.profileDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(profileFile, compiled.sbpl, { mode: 0o600 });
    return { compiled, digest, profileFile, close: () => {} };
  }

  get current(): SeatbeltSandbox {
    return this.sandbox;
  }

  grantsThatWork(denials: readonly Denial[], grants: readonly Grant[]): boolean[] {
    const trial = this.compile(applyGrants(this.resolved, grants, 'trial'));
    return denials.map((d) => d.path === undefined || decide(trial.rules, SEATBELT_OP[d.op], d.path).allowed);
  }

  /** Seatbelt cannot hold an operation (no live approval on macOS); answered for the interface. */
  allows(d: HeldOperation): boolean {
    if (d.path === undefined) return false;
    const rules = this.sandbox.compiled.rules;
    return decide(rules, SEATBELT_OP[d.op], d.path).allowed && (d.path2 === undefined || decide(rules, 'file-write-create', d.path2).allowed);
  }

  /** None: commands on macOS get no NO_PROXY ports (as before the platform interface). */
  directPorts(): readonly number[] {
    return [];
  }

  oneOff(grants: readonly Grant[]): SeatbeltSandbox {
    return this.build(applyGrants(this.resolved, grants, 'granted at a prompt (once)'));
  }

  addSessionGrants(grants: readonly Grant[]): void {
    this.resolved = applyGrants(this.resolved, grants, 'granted at a prompt (session)');
    this.sandbox = this.build(this.resolved);
  }

  close(): void {}
}

export class DarwinPlatform implements CommandPlatform<SeatbeltSandbox> {
  readonly name = 'darwin';
  readonly sandboxName = 'Seatbelt';
  readonly policy: SeatbeltPolicy;

  constructor(private readonly o: DarwinOptions) {
    this.policy = new SeatbeltPolicy(o);
  }

  /** The helper's command line: the profile, then the shell as the caller named it. */
  helperArgv(sandbox: SeatbeltSandbox, req: SpawnRequest): Array<string | Buffer> {
    const ignore = (req.ignoreSignals ?? []).flatMap((s) => ['--ignore-signal', String(s)]);
    return [this.o.helper, '--profile', sandbox.profileFile, ...ignore, '--', req.file, ...req.argv.slice(1)];
  }

  spawn(sandbox: SeatbeltSandbox, req: SpawnRequest, onExit: (code: number | null, signal: number | null) => void): number {
    const watchdog = this.o.watchdog;
    const pid = this.o.addon.spawnHelper(
      { file: this.o.helper, argv: this.helperArgv(sandbox, req), env: req.env, cwd: req.cwd, stdio: req.stdio },
      (code, signal) => {
        watchdog?.untrack(pid);
        onExit(code, signal);
      },
    );
    this.o.monitor.track(pid, { tag: this.o.tag });
    watchdog?.track(pid);
    return pid;
  }

  /** The unified log first (exact); the command's own messages when the log has nothing. */
  async denials(cmd: FinishedCommand, sandbox: SeatbeltSandbox): Promise<Denial[]> {
    let logged: Denial[];
    try {
      logged = await this.o.monitor.collect(cmd.pid);
    } finally {
      this.o.monitor.untrack(cmd.pid);
    }
    if (logged.length) return logged;
    return detectStderrDenials(cmd.stderr, { cwd: cmd.cwd, exitCode: cmd.code, signal: cmd.signal, oracle: seatbeltOracle(sandbox.compiled.rules) });
  }

  killTree(rootPid: number, signal: NodeJS.Signals = 'SIGKILL'): number {
    return killTreeWith(this.o.processTable, rootPid, signal);
  }

  isInsideCommand(pid: number, commandPids: ReadonlySet<number>, stopAt: number): boolean {
    return insideCommandWith(this.o.processTable, pid, commandPids, stopAt);
  }

  /** For the monitor: the pids of a command's tree now. */
  pidsOf(rootPid: number): number[] {
    return treeOf(this.o.processTable(), rootPid);
  }

  close(): void {
    this.o.monitor.stop();
    this.o.watchdog?.close();
  }
}
