// The Linux backend: every command enters a fresh Landlock domain made from the session's ruleset
// (command-policy.ts builds it, landlock-sandbox.ts holds it), started by the addon's spawn with,
// per the policy, the network filter, the connect guard (proxy mode) and live approval (a denied
// open waits for the person). The supervisor stays outside every sandbox. Denials come from
// Landlock's audit records where the kernel offers them (exact), else from the command's stderr
// checked against the compiled rules. Process trees come from /proc (process-tree.ts).
import type { LiveEventHandler, NativeAddon } from '../../native/addon.js';
import { FS, RESTRICT_SELF_LOG_NEW_EXEC_ON } from '../../policy/landlock-rights.js';
import type { ResolvedPolicy } from '../../policy/resolved-policy.js';
import { CommandPolicy } from '../command-policy.js';
import type { AuditDenialSource } from '../denials/audit-denials.js';
import { detectStderrDenials } from '../denials/stderr-denials.js';
import type { Denial } from '../denials/types.js';
import type { CommandSandbox } from '../landlock-sandbox.js';
import { isInsideCommand, killCommandTree } from '../process-tree.js';
import type { Watchdog } from '../watchdog.js';
import type { CommandPlatform, FinishedCommand, HeldHooks, SpawnRequest } from './types.js';

export interface LinuxOptions {
  addon: NativeAddon;
  /** The commands' policy (its network already set for proxy mode). */
  policy: ResolvedPolicy;
  /** The Landlock ABI this kernel offers. */
  abi: number;
  /** Live approval: every sandbox carries its rules for the native fast path. */
  live: boolean;
  /** Landlock's own denial records, when the kernel offers them (exact; else stderr is read). */
  auditDenials?: AuditDenialSource;
  /** Kills the commands' trees if this process dies without cleaning up. */
  watchdog?: Watchdog;
}

export class LinuxPlatform implements CommandPlatform<CommandSandbox> {
  readonly name = 'linux';
  readonly sandboxName = 'Landlock';
  readonly policy: CommandPolicy;

  /** Owns the watchdog and the audit source from here: closes them if the ruleset cannot be built. */
  constructor(private readonly o: LinuxOptions) {
    try {
      this.policy = new CommandPolicy(o.addon, o.policy, o.abi, o.live);
    } catch (e) {
      o.watchdog?.close();
      o.auditDenials?.close();
      throw e;
    }
  }

  spawn(sandbox: CommandSandbox, req: SpawnRequest, onExit: (code: number | null, signal: number | null) => void, held?: HeldHooks): number {
    const watchdog = this.o.watchdog;
    const pid = this.o.addon.spawn(
      {
        ...req,
        rulesetFd: sandbox.rulesetFd,
        netFilter: sandbox.compiled.netFilter,
        // Landlock logs denials after the exec only with this flag (ABI 7; ignored before).
        restrictFlags: RESTRICT_SELF_LOG_NEW_EXEC_ON,
        // Proxy mode: connect() only to loopback, on the proxy's port and allow_tcp_connect ports.
        connectGuard: sandbox.compiled.connectGuard,
        ...(sandbox.liveRules && held ? { liveApproval: { rules: sandbox.liveRules, onEvent: this.liveEvents(held) } } : {}),
        // Without a watchdog, the command dies with this process (SIGKILL) instead.
        deathSignal: watchdog?.active ? 0 : 9,
      },
      (code, signal) => {
        watchdog?.untrack(pid);
        onExit(code, signal);
      },
    );
    watchdog?.track(pid);
    return pid;
  }

  /** Live approval: the native side's events (shim/addon/live_approval.h), as held operations.
   * Its paths are the canonical ones it resolved and will act on, in the bytes the kernel gave. */
  private liveEvents(held: HeldHooks): LiveEventHandler {
    const text = (raw: string) => Buffer.from(raw, 'latin1').toString();
    return (cmdId, token, kind, op, rawPath, rawPath2, isDir, need, need2) => {
      if (kind === 'withdraw') return held.onWithdraw(token);
      held.onHeld(
        { token, op, path: text(rawPath), ...(rawPath2 !== undefined ? { path2: text(rawPath2) } : {}), isDir, need, need2, readToo: op === 'write' && (need & FS.READ_FILE) !== 0 },
        (allow) => this.o.addon.liveAnswer(cmdId, token, allow),
      );
    };
  }

  /** Landlock's own records when the kernel offers them, the command's messages otherwise. */
  async denials(cmd: FinishedCommand, sandbox: CommandSandbox): Promise<Denial[]> {
    const recorded = this.o.auditDenials?.takeFor(cmd.pid) ?? [];
    if (recorded.length) return recorded;
    return detectStderrDenials(cmd.stderr, { cwd: cmd.cwd, exitCode: cmd.code, signal: cmd.signal, compiled: sandbox.compiled });
  }

  killTree(rootPid: number, signal?: NodeJS.Signals): number {
    return killCommandTree(rootPid, signal);
  }

  isInsideCommand(pid: number, commandPids: ReadonlySet<number>, stopAt: number): boolean {
    return isInsideCommand(pid, commandPids, stopAt);
  }

  close(): void {
    this.o.watchdog?.close();
    this.o.auditDenials?.close();
    this.policy.close();
  }
}
