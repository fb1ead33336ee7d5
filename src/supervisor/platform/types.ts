// What the supervisor needs from a platform, and nothing about Landlock or Seatbelt: a sandbox
// policy that can be compiled and widened by a grant, a way to spawn a command into it, where the
// denials of a failed command come from, and facts about process trees. One file per platform:
// linux.ts (Landlock) and darwin.ts (Seatbelt). The agent's own sandbox is set up by the session
// starters (start-session.ts, start-darwin-session.ts), not here: the supervisor never starts it.
import type { Denial, Grant } from '../denials/types.js';
import type { HeldOperation } from '../live-questions.js';

/** One compiled policy a command can be started in. */
export interface PlatformSandbox {
  /** Short digest for the audit log. */
  digest: string;
  close(): void;
}

/** The session's command policy as it evolves (grants at prompts). */
export interface PlatformPolicy<S extends PlatformSandbox = PlatformSandbox> {
  readonly current: S;
  /** Whether each grant really allows its denial under this platform's rules. */
  grantsThatWork(denials: readonly Denial[], grants: readonly Grant[]): boolean[];
  /** Whether the current policy allows this held operation now (live approval: a grant made
   * since the command started). False for anything it cannot judge: a true here lets the
   * operation go ahead without asking. */
  allows(h: HeldOperation): boolean;
  /** Proxy mode: loopback ports a command may reach directly (allow_tcp_connect), kept out of
   * the proxy (NO_PROXY). */
  directPorts(): readonly number[];
  /** A sandbox for one run with extra grants; closed by the caller once the command started. */
  oneOff(grants: readonly Grant[]): S;
  addSessionGrants(grants: readonly Grant[]): void;
  close(): void;
}

export interface SpawnRequest {
  file: string | Buffer;
  argv: Array<string | Buffer>;
  env: Array<string | Buffer>;
  cwd: string | Buffer;
  /** The command's 0, 1, 2; -1 leaves that one closed. */
  stdio: [number, number, number];
  ignoreSignals?: number[];
}

/** Live approval, for a platform that can hold an operation its policy denies while the person is
 * asked (Linux with --live-approval); a platform without it never calls them. */
export interface HeldHooks {
  /** An operation is held. `answer` reaches the command once (true: it goes ahead); it returns
   * false when nobody waits any more (the command died meanwhile). */
  onHeld(op: HeldOperation, answer: (allow: boolean) => boolean): void;
  /** The command stopped waiting for the operation `token` (killed, interrupted). */
  onWithdraw(token: number): void;
}

export interface FinishedCommand {
  pid: number;
  cwd: string;
  code: number | null;
  signal: number | null;
  /** What the command wrote on stderr (the relay's tail). */
  stderr: string;
}

export interface CommandPlatform<S extends PlatformSandbox = PlatformSandbox> {
  readonly name: 'linux' | 'darwin';
  /** The sandbox's name in messages to the person ("Landlock cannot allow that..."). */
  readonly sandboxName: string;
  readonly policy: PlatformPolicy<S>;
  /** Starts the command in its own new sandbox made from `sandbox`; returns its pid. */
  spawn(sandbox: S, req: SpawnRequest, onExit: (code: number | null, signal: number | null) => void, held?: HeldHooks): number;
  /** The denials a failed command met, from the platform's best source. */
  denials(cmd: FinishedCommand, sandbox: S): Promise<Denial[]>;
  killTree(rootPid: number, signal?: NodeJS.Signals): number;
  isInsideCommand(pid: number, commandPids: ReadonlySet<number>, stopAt: number): boolean;
  close(): void;
}
