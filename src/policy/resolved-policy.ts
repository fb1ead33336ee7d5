// The resolved policy: what a profile (with its `extends` chain, groups and command-line additions)
// means once path variables are expanded. Platform-neutral; the compilers turn it into kernel rules
// (landlock-compiler.ts) or an SBPL profile (seatbelt-compiler.ts).
//
// Precedence, the same on every platform: a deny carves its path out of any grant that contains
// it; an *explicit* grant (a profile entry or a command-line flag, never a group) that lies inside
// a denied path re-allows exactly that path (e.g. read_file ~/.ssh/config inside deny ~/.ssh).
// A group grant inside a denied path is dropped.

import type { DomainRule } from './host-pattern.js';

export type Access = 'read' | 'write' | 'readwrite';

export interface Grant {
  /** Absolute, variables expanded, not symlink-resolved. */
  path: string;
  /** A directory grant covers the whole subtree; a file grant exactly that file. */
  kind: 'dir' | 'file';
  access: Access;
  /** Where it came from, for explain output: "group system_read", "profile default: filesystem.allow", "--read". */
  source: string;
  /** May re-allow a path inside a deny (profile entries and flags are explicit; groups are not). */
  explicit: boolean;
  /** nono refuses to start when this grant lies inside a denied path (the working directory). */
  refuseIfDenied?: boolean;
}

export interface Deny {
  path: string;
  /** 'all': no read, no write; 'write': readable, but no write, create, rename or delete. */
  access: 'all' | 'write';
  source: string;
}

export interface NetworkPolicy {
  /** Block TCP connect and bind except the listed ports. */
  blockTcp: boolean;
  tcpConnect: number[];
  tcpBind: number[];
  /** Hosts reachable through the session's proxy (allow_domains, groups, --allow-domain). */
  domains: DomainRule[];
  /** Hosts never reached through the proxy (deny_domains): deny wins. */
  denyDomains: DomainRule[];
  /** Set by the session when commands go through its proxy: the only TCP port (with tcpConnect,
   * loopback only) a command may connect to. Absent: no proxy (TCP blocked, or open). */
  proxyPort?: number;
}

export interface PolicyPart {
  grants: Grant[];
  denies: Deny[];
  /** Character devices opened read-write (ttys, /dev/null...). */
  devices: string[];
  network: NetworkPolicy;
}

export interface ResolvedPolicy extends PolicyPart {
  /** The profile name (or file) and the chain it extends, most basic first. */
  name: string;
  chain: string[];
  /** Environment variables (names or NAME* prefixes) removed from every command. */
  scrubEnv: string[];
  /** The agent process itself: its grants, denies and devices are added to the command policy's;
   * its network replaces the commands' network. */
  agent: PolicyPart;
}

/** What one sandbox gets: the command policy, or for the agent the command policy plus its own
 * grants, denies and devices, with the agent's network instead of the commands'. */
export function partFor(policy: ResolvedPolicy, target: 'command' | 'agent'): PolicyPart {
  if (target === 'command') return policy;
  return {
    grants: [...policy.grants, ...policy.agent.grants],
    denies: [...policy.denies, ...policy.agent.denies],
    devices: [...new Set([...policy.devices, ...policy.agent.devices])],
    network: policy.agent.network,
  };
}

export class PolicyError extends Error {}
