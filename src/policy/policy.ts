// The resolved policy one session runs with: what commands may read and write, what is denied
// inside those grants, and the network. Platform compilers (landlock-compiler.ts) turn it into
// kernel rules. The profile format (issue "Policy") will produce this same shape.
export interface PathGrant {
  path: string;
  /** Why it is granted, shown by --verbose and explain output. */
  source: string;
  /** Explicit user grants (--allow/--read) win over group denials; built-in ones do not. */
  explicit: boolean;
  /** A grant that must not overlap a denied path: nono refuses to start instead. */
  refuseIfDenied?: boolean;
}

export interface DeniedPath {
  path: string;
  group: string;
}

export interface Policy {
  name: string;
  read: PathGrant[];
  readWrite: PathGrant[];
  /** Character devices commands may open read-write (ttys, /dev/null...). */
  devices: PathGrant[];
  deny: DeniedPath[];
  network: { blockTcp: boolean };
}

export class PolicyError extends Error {}
