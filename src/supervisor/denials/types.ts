// What the supervisor learns when a sandboxed command fails: which operations the session policy
// refused, and the least grant that would let a re-run succeed. Sources differ per platform
// (the command's own stderr on Linux, Landlock audit records where readable, the unified log on
// macOS); the shape does not.

export type DenialOp = 'read' | 'list' | 'write' | 'create' | 'delete' | 'rename' | 'execute' | 'connect' | 'bind';

export interface Denial {
  op: DenialOp;
  /** Absolute path, for filesystem operations. */
  path?: string;
  /** A rename's destination (path is its source). */
  path2?: string;
  /** For network operations: the port when the message names it. */
  port?: number;
  host?: string;
  /** The line that showed it (stderr line, audit record, log line; 'seccomp': the held system call). */
  evidence: string;
  source: 'stderr' | 'audit' | 'seatbelt-log' | 'proxy' | 'seccomp';
}

/** The smallest addition to the policy that allows the denied operation. */
export interface Grant {
  kind: 'read_file' | 'read' | 'write_file' | 'allow' | 'allow_file' | 'tcp_connect' | 'tcp_bind' | 'tcp' | 'domain';
  /** For filesystem grants: the file itself for reads and writes, the nearest existing directory
   * for a create. */
  path?: string;
  port?: number;
  /** For 'domain': the host reached through the session proxy (any port). */
  host?: string;
  /** One line for the prompt: "read /home/u/.ssh/config". */
  describe: string;
}
