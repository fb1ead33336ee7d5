// Compiles a ResolvedPolicy into Landlock rules. Landlock only allows (a rule grants a whole
// hierarchy), so "read HOME except ~/.ssh" is expressed by granting each sibling along the way
// instead of the directory itself. Every expansion is recorded so that `explain` can show it;
// nothing is widened silently: a grant that would cover a denied path is expanded, narrowed or
// refused, never kept whole.
import fs from 'node:fs';
import path from 'node:path';
import { DEVICE_RIGHTS, FS, NET, READ_RIGHTS, READ_WRITE_RIGHTS, SCOPE, handledFsForAbi } from './landlock-rights.js';
import { PolicyError, partFor, type Access, type Deny, type Grant, type ResolvedPolicy } from './resolved-policy.js';

export interface LandlockRule {
  path: string;
  rights: number;
  source: string;
}

export interface Expansion {
  /** The granted directory that holds a denied path: granted entry by entry instead. */
  dir: string;
  /** Denied paths below it, and how many sibling entries were granted instead. */
  denied: string[];
  granted: number;
  source: string;
}

export interface CompiledLandlock {
  abi: number;
  handledFs: number;
  handledNet: number;
  scoped: number;
  rules: LandlockRule[];
  tcpPorts: Array<{ port: number; rights: number }>;
  /** shim/seccomp_filter.h: 0 none, 1 no TCP at all, 2 only what bypasses Landlock's port rules. */
  netFilter: 0 | 1 | 2;
  /** Proxy mode: the native connect check's input (connect only to loopback, on these ports).
   * Landlock's port rules cannot tell addresses apart; this closes "proxy port on another host". */
  connectGuard?: ConnectGuard;
  expansions: Expansion[];
  /** Denied paths (resolved) with the rights they take away, for explain. */
  denies: Array<{ path: string; rights: number; source: string }>;
  warnings: string[];
}

export interface ConnectGuard {
  proxyPort: number;
  loopbackPorts: number[];
}

export interface CompileOptions {
  abi: number;
  /** Scopes (ABI 6) for this domain: commands scope signals and abstract sockets. */
  scoped: number;
  /** 'agent' adds policy.agent and takes its network. */
  target?: 'command' | 'agent';
}

export const COMMAND_SCOPES = SCOPE.SIGNAL | SCOPE.ABSTRACT_UNIX_SOCKET;
export const AGENT_SCOPES = SCOPE.SIGNAL;

/** Everything that changes the filesystem: what a write-only deny takes away. */
export const WRITE_RIGHTS = READ_WRITE_RIGHTS & ~READ_RIGHTS;
const FILE_RIGHTS = FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV;

export function isInside(child: string, parent: string): boolean {
  if (parent === '/') return child.startsWith('/');
  return child === parent || child.startsWith(parent + '/');
}

/** A path as given and as it resolves: a deny must catch a symlinked ~/.ssh under either name. */
export function bothSpellings(p: string): string[] {
  return [...new Set([path.resolve(p), realOrSelf(p)])];
}

export function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function rightsFor(access: Access): number {
  if (access === 'read') return READ_RIGHTS;
  if (access === 'write') return WRITE_RIGHTS;
  return READ_WRITE_RIGHTS;
}

export function compileLandlock(policy: ResolvedPolicy, opts: CompileOptions): CompiledLandlock {
  if (opts.abi < 1) throw new PolicyError('Landlock is not available on this kernel');
  const part = partFor(policy, opts.target ?? 'command');
  const handledFs = handledFsForAbi(opts.abi);
  const out: CompiledLandlock = {
    abi: opts.abi,
    handledFs,
    handledNet: 0,
    scoped: opts.abi >= 6 ? opts.scoped : 0,
    rules: [],
    tcpPorts: [],
    netFilter: 0,
    expansions: [],
    denies: [],
    warnings: [],
  };
  // Denied paths in both their given and resolved spelling, so a symlinked ~/.ssh is still caught.
  const denies = part.denies.flatMap((d: Deny) => {
    const rights = (d.access === 'all' ? READ_WRITE_RIGHTS : WRITE_RIGHTS) & handledFs;
    return bothSpellings(d.path).map((p) => ({ path: p, rights, source: d.source }));
  });
  out.denies = denies;
  const deniedAt = (p: string) => denies.filter((d) => isInside(p, d.path)).reduce((r, d) => r | d.rights, 0);
  const deniedBelow = (p: string, rights: number) => denies.filter((d) => d.path !== p && isInside(d.path, p) && (d.rights & rights) !== 0);

  const explicitCovers = (p: string) =>
    part.grants.some((g) => g.explicit && !g.refuseIfDenied && g.access === 'readwrite' && fs.existsSync(g.path) && isInside(p, realOrSelf(g.path)));

  const push = (p: string, rights: number, source: string, isDir: boolean) => {
    const r = rights & handledFs & (isDir ? ~0 : FILE_RIGHTS);
    if (r) out.rules.push({ path: p, rights: r, source });
  };

  const expand = (dir: string, rights: number, source: string, seen: Set<string>) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch (e) {
      out.warnings.push(`${source}: cannot list ${dir} (${(e as Error).message}); nothing below it granted`);
      return;
    }
    let granted = 0;
    for (const name of entries) {
      const full = path.join(dir, name);
      // A symlink among the siblings grants nothing itself: following it would grant its target
      // (~/link -> /srv/private, /dev/stdin -> /proc/<nono>/fd/0), which the policy never named.
      // What it points to is decided by the rules for the target's own path.
      if (fs.lstatSync(full, { throwIfNoEntry: false })?.isSymbolicLink() ?? true) continue;
      let real: string;
      try {
        real = fs.realpathSync(full);
      } catch {
        continue;
      }
      const isDir = fs.statSync(real, { throwIfNoEntry: false })?.isDirectory() ?? false;
      const effective = rights & ~deniedAt(real);
      if (!effective) continue;
      if (deniedBelow(real, effective).length) {
        if (isDir) expand(real, effective, source, seen);
        continue;
      }
      push(real, effective, `${source} (expanded around a denied path)`, isDir);
      granted++;
    }
    out.expansions.push({ dir, denied: deniedBelow(dir, rights).map((d) => d.path), granted, source });
  };

  const addGrant = (g: Grant) => {
    if (!fs.existsSync(g.path)) {
      // Groups list paths that exist on some machines only; say so only for what a user asked.
      if (g.explicit) out.warnings.push(`${g.source}: ${g.path} does not exist; nothing granted`);
      return;
    }
    const real = realOrSelf(g.path);
    const isDir = fs.statSync(real).isDirectory();
    let rights = rightsFor(g.access) & handledFs;
    const covering = denies.filter((d) => isInside(real, d.path) && (d.rights & rights) !== 0);
    if (covering.length) {
      if (g.refuseIfDenied) {
        // What the message advises: an explicit --allow covering it grants it on its own.
        if (explicitCovers(real)) return;
        throw new PolicyError(
          `the working directory ${g.path} is inside the protected path ${covering[0]!.path} (${covering[0]!.source}); ` +
            'start nono somewhere else, or grant it explicitly with --allow',
        );
      }
      if (!g.explicit) {
        // A broad grant never re-allows what a deny took away.
        rights &= ~covering.reduce((r, d) => r | d.rights, 0);
        if (!rights) {
          out.warnings.push(`${g.source}: ${g.path} is inside the protected path ${covering[0]!.path}; not granted`);
          return;
        }
      }
      // An explicit grant inside a deny is an exception: granted as asked (e.g. read_file ~/.ssh/config).
    }
    if (isDir && deniedBelow(real, rights).length) expand(real, rights, g.source, new Set());
    else push(real, rights, g.source, isDir);
  };

  for (const g of part.grants) addGrant(g);
  for (const d of part.devices) {
    if (fs.existsSync(d)) push(realOrSelf(d), DEVICE_RIGHTS, 'devices a shell needs', fs.statSync(d).isDirectory());
  }

  if (part.network.blockTcp) {
    if (opts.abi >= 4) {
      out.handledNet = NET.BIND_TCP | NET.CONNECT_TCP;
      const proxyPort = part.network.proxyPort;
      if (proxyPort !== undefined) {
        out.tcpPorts.push({ port: proxyPort, rights: NET.CONNECT_TCP });
        out.connectGuard = { proxyPort, loopbackPorts: [...new Set(part.network.tcpConnect)].filter((p) => p !== proxyPort) };
      }
      for (const port of new Set(part.network.tcpConnect)) if (port !== proxyPort) out.tcpPorts.push({ port, rights: NET.CONNECT_TCP });
      for (const port of new Set(part.network.tcpBind)) out.tcpPorts.push({ port, rights: NET.BIND_TCP });
      // Landlock's TCP rules miss listen() without bind, MPTCP, TCP Fast Open and SCTP: a seccomp
      // filter closes those (all stream sockets when no port is allowed).
      out.netFilter = out.tcpPorts.length ? 2 : 1;
      if (out.tcpPorts.length) {
        out.warnings.push('with TCP ports allowed, listen() on an unbound socket still gets an ephemeral port (Landlock does not see it)');
      }
    } else {
      out.warnings.push(`Landlock ABI ${opts.abi} cannot restrict TCP (needs 4): the network stays open`);
    }
  }
  const hosts = part.network.domains.map((d) => d.pattern);
  if (hosts.length && !part.network.blockTcp) {
    out.warnings.push(`allow_domains (${hosts.join(', ')}) has no effect: TCP is open (--allow-net or "block": false), so commands are not proxied`);
  }
  if (opts.scoped && opts.abi < 6) out.warnings.push(`Landlock ABI ${opts.abi} cannot scope signals and abstract sockets (needs 6)`);
  if (opts.abi < 3) out.warnings.push(`Landlock ABI ${opts.abi} cannot restrict truncation (needs 3)`);
  if (opts.abi < 5) out.warnings.push(`Landlock ABI ${opts.abi} cannot restrict device ioctls (needs 5)`);
  return out;
}

/** Arguments for shim/landlock_exec.c that apply exactly these rules. */
export function execHelperArgs(c: CompiledLandlock): string[] {
  const args = ['--handled-fs', String(c.handledFs)];
  if (c.handledNet) args.push('--handled-net', String(c.handledNet));
  if (c.scoped) args.push('--scoped', String(c.scoped));
  if (c.netFilter) args.push('--net-filter', c.netFilter === 1 ? 'no-tcp' : 'ports');
  for (const r of c.rules) args.push('--path', `${r.rights}:${r.path}`);
  for (const p of c.tcpPorts) args.push('--port', `${p.rights}:${p.port}`);
  return args;
}

export { READ_RIGHTS, READ_WRITE_RIGHTS };
