// What the supervisor needs from a platform, and nothing about Landlock or Seatbelt: a sandbox
// policy that can be compiled and widened by a grant, a way to spawn a command into it, where the
// denials of a failed command come from, and facts about process trees. One file per platform:
// linux.ts (Landlock, today's code) and darwin.ts (Seatbelt).
import type { Denial, Grant } from '../denials/types.js';

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
  readonly policy: PlatformPolicy<S>;
  /** Starts the command in its own new sandbox made from `sandbox`; returns its pid. */
  spawn(sandbox: S, req: SpawnRequest, onExit: (code: number | null, signal: number | null) => void): number;
  /** The denials a failed command met, from the platform's best source. */
  denials(cmd: FinishedCommand, sandbox: S): Promise<Denial[]>;
  killTree(rootPid: number, signal?: NodeJS.Signals): number;
  isInsideCommand(pid: number, commandPids: ReadonlySet<number>, stopAt: number): boolean;
  close(): void;
}
