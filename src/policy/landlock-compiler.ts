// Compiles a Policy into Landlock rules. Landlock only allows (a rule grants a whole hierarchy),
// so "read HOME except ~/.ssh" is expressed by granting each sibling along the way instead of the
// directory itself. Every expansion is recorded so that it can be explained; nothing is widened
// silently: a built-in grant that would cover a denied path is expanded or refused.
import fs from 'node:fs';
import path from 'node:path';
import {
  DEVICE_RIGHTS,
  NET,
  READ_RIGHTS,
  READ_WRITE_RIGHTS,
  SCOPE,
  handledFsForAbi,
} from './landlock-rights.js';
import { PolicyError, type PathGrant, type Policy } from './policy.js';

export interface LandlockRule {
  path: string;
  rights: number;
  source: string;
}

export interface Expansion {
  /** The granted directory that holds a denied path. */
  dir: string;
  /** Denied paths below it, and how many sibling entries were granted instead. */
  denied: string[];
  granted: number;
}

export interface CompiledLandlock {
  abi: number;
  handledFs: number;
  handledNet: number;
  scoped: number;
  rules: LandlockRule[];
  tcpPorts: Array<{ port: number; rights: number }>;
  expansions: Expansion[];
  warnings: string[];
}

export interface CompileOptions {
  abi: number;
  /** Extra scopes (ABI 6) for this domain: commands scope signals and abstract sockets. */
  scoped: number;
  /** The agent's own domain keeps the network. */
  allowNetwork?: boolean;
}

function isInside(child: string, parent: string): boolean {
  if (parent === '/') return child.startsWith('/');
  return child === parent || child.startsWith(parent + '/');
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export function compileLandlock(policy: Policy, opts: CompileOptions): CompiledLandlock {
  if (opts.abi < 1) throw new PolicyError('Landlock is not available on this kernel');
  const handledFs = handledFsForAbi(opts.abi);
  const out: CompiledLandlock = {
    abi: opts.abi,
    handledFs,
    handledNet: 0,
    scoped: opts.abi >= 6 ? opts.scoped : 0,
    rules: [],
    tcpPorts: [],
    expansions: [],
    warnings: [],
  };
  // Denied paths in both their given and resolved spelling, so a symlinked ~/.ssh is still caught.
  const denied = [...new Set(policy.deny.flatMap((d) => [path.resolve(d.path), realOrSelf(d.path)]))];

  const addGrant = (g: PathGrant, rights: number) => {
    if (!fs.existsSync(g.path)) {
      out.warnings.push(`${g.source}: ${g.path} does not exist; nothing granted`);
      return;
    }
    const real = realOrSelf(g.path);
    if (g.explicit) {
      out.rules.push({ path: real, rights, source: g.source });
      return;
    }
    const covering = denied.find((d) => isInside(real, d));
    if (covering) {
      if (g.refuseIfDenied) {
        // What the message below advises: an explicit --allow covering it is granted on its own.
        const allowed = policy.readWrite.some((e) => e.explicit && fs.existsSync(e.path) && isInside(real, realOrSelf(e.path)));
        if (allowed) return;
        throw new PolicyError(
          `the ${g.source} ${g.path} is inside the protected path ${covering} (deny_credentials); ` +
            'start nono somewhere else, or grant it explicitly with --allow',
        );
      }
      out.warnings.push(`${g.source}: ${g.path} is inside the protected path ${covering}; not granted`);
      return;
    }
    const below = denied.filter((d) => d !== real && isInside(d, real));
    if (below.length === 0) out.rules.push({ path: real, rights, source: g.source });
    else expand(real, rights, g.source, new Set());
  };

  const expand = (dir: string, rights: number, source: string, seen: Set<string>) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const deniedHere = denied.filter((d) => d !== dir && isInside(d, dir));
    let granted = 0;
    let entries: string[];
    try {
      entries = fs.readdirSync(dir);
    } catch (e) {
      out.warnings.push(`${source}: cannot list ${dir} (${(e as Error).message}); nothing below it granted`);
      return;
    }
    for (const name of entries) {
      const full = path.join(dir, name);
      let real: string;
      try {
        real = fs.realpathSync(full);
      } catch {
        continue; // a dangling symlink grants nothing
      }
      if (denied.some((d) => isInside(real, d))) continue;
      if (denied.some((d) => d !== real && isInside(d, real))) {
        if (fs.statSync(real, { throwIfNoEntry: false })?.isDirectory()) expand(real, rights, source, seen);
        continue;
      }
      out.rules.push({ path: real, rights, source: `${source} (expanded around a denied path)` });
      granted++;
    }
    out.expansions.push({ dir, denied: deniedHere, granted });
  };

  for (const g of policy.read) addGrant(g, READ_RIGHTS);
  for (const g of policy.readWrite) addGrant(g, READ_WRITE_RIGHTS & handledFs);
  for (const g of policy.devices) addGrant(g, DEVICE_RIGHTS & handledFs);

  if (policy.network.blockTcp && !opts.allowNetwork) {
    if (opts.abi >= 4) out.handledNet = NET.BIND_TCP | NET.CONNECT_TCP;
    else out.warnings.push(`Landlock ABI ${opts.abi} cannot restrict TCP (needs 4): the network stays open`);
  }
  if (opts.scoped && opts.abi < 6) {
    out.warnings.push(`Landlock ABI ${opts.abi} cannot scope signals and abstract sockets (needs 6)`);
  }
  return out;
}

/** Arguments for shim/landlock_exec.c that apply exactly these rules. */
export function execHelperArgs(c: CompiledLandlock): string[] {
  const args = ['--handled-fs', String(c.handledFs)];
  if (c.handledNet) args.push('--handled-net', String(c.handledNet));
  if (c.scoped) args.push('--scoped', String(c.scoped));
  for (const r of c.rules) args.push('--path', `${r.rights}:${r.path}`);
  for (const p of c.tcpPorts) args.push('--port', `${p.rights}:${p.port}`);
  return args;
}

export const COMMAND_SCOPES = SCOPE.SIGNAL | SCOPE.ABSTRACT_UNIX_SOCKET;
export const AGENT_SCOPES = SCOPE.SIGNAL;
export { READ_RIGHTS, READ_WRITE_RIGHTS };
