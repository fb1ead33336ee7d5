// The agent's own sandbox must let the agent read and run its own program, wherever it was
// installed: Homebrew on Linux (/home/linuxbrew/.linuxbrew), a custom npm prefix, a directory
// under /tmp. Otherwise its exec fails inside its sandbox before it prints anything. From the
// agent as `nono doctor --agent` resolves it (PATH, symlinks, #!, npm launchers), this adds
// read+execute grants, for the agent only, for exactly what is not readable yet: the file, or the
// unit it was installed as (the npm package root, the Nix store entry, the Homebrew keg). A unit
// that holds a protected path is refused, never opened.
import fs from 'node:fs';
import path from 'node:path';
import { readElf } from '../doctor/elf.js';
import { readHead } from '../doctor/preload-verdict.js';
import { findPackage, realOrSelf, type AgentResolution } from '../doctor/resolve-agent.js';
import { explainLandlock } from './explain-landlock.js';
import { isInside, type CompiledLandlock } from './landlock-compiler.js';
import { READ_RIGHTS } from './landlock-rights.js';
import { PolicyError, type ResolvedPolicy } from './resolved-policy.js';

export interface ProgramFile {
  path: string;
  /** In words, for messages: "the program", "its interpreter"... */
  role: string;
}

export interface ProgramGrant {
  path: string;
  kind: 'file' | 'dir';
  /** Why it is granted: which file needed it and what the directory is. */
  why: string;
}

const ROLE_WORDS: Record<AgentResolution['files'][number]['role'], string> = {
  program: 'the program',
  interpreter: 'its interpreter',
  'native-from-launcher': 'the native binary its launcher starts',
};

/** Every file the agent's start opens or runs, with the dynamic loader of each ELF among them. */
export function programFiles(r: AgentResolution): ProgramFile[] {
  const out: ProgramFile[] = [];
  const add = (p: string, role: string) => {
    if (!out.some((f) => f.path === p)) out.push({ path: p, role });
  };
  for (const f of r.files) {
    add(f.path, ROLE_WORDS[f.role]);
    let head: Buffer;
    try {
      head = readHead(f.path, 64 * 1024);
    } catch {
      continue;
    }
    const elf = readElf(head);
    if (elf.kind === 'elf' && elf.interpreter) add(realOrSelf(elf.interpreter), `the dynamic loader of ${path.basename(f.path)}`);
  }
  return out;
}

/**
 * The unit a file was installed as, when there is one narrower than its prefix: a Nix store entry,
 * a Homebrew keg (Cellar/FORMULA/VERSION), or the npm package that installed it (under
 * node_modules, or whose package.json names it as a bin). Never `/` or a top-level directory.
 */
export function installUnit(file: string): { dir: string; what: string } | undefined {
  const parts = file.split('/');
  let unit: { dir: string; what: string } | undefined;
  if (parts[1] === 'nix' && parts[2] === 'store' && parts.length > 4) {
    unit = { dir: parts.slice(0, 4).join('/'), what: 'Nix store entry' };
  } else {
    const cellar = parts.lastIndexOf('Cellar');
    if (cellar > 0 && parts.length > cellar + 3) {
      unit = { dir: parts.slice(0, cellar + 3).join('/'), what: `Homebrew keg ${parts[cellar + 1]} ${parts[cellar + 2]}` };
    } else {
      const pkg = findPackage(file);
      const bins = pkg?.bin === undefined ? [] : typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin);
      const named = pkg ? bins.some((b) => realOrSelf(path.resolve(pkg.dir, b)) === file) : false;
      if (pkg && (named || pkg.dir.split('/').includes('node_modules'))) unit = { dir: pkg.dir, what: `npm package ${pkg.name}` };
    }
  }
  // A directory at depth < 2 (/, /tmp, /opt) is a prefix, not a unit.
  return unit && unit.dir.split('/').filter(Boolean).length >= 2 ? unit : undefined;
}

/** What the agent's own sandbox allows, on whichever platform compiled it. */
export interface ProgramJudge {
  /** Whether the agent may read / run P there, and the rule that decided (for messages). */
  check(p: string, op: 'read' | 'execute'): { allowed: boolean; decidedBy: string };
  /** Paths the profile keeps the agent from reading: a grant never opens them. */
  readDenies: ReadonlyArray<{ path: string; source: string }>;
}

export function landlockJudge(c: CompiledLandlock): ProgramJudge {
  return {
    check: (p, op) => {
      const e = explainLandlock(c, p, op);
      return { allowed: e.allowed, decidedBy: e.decidedBy };
    },
    readDenies: c.denies.filter((d) => (d.rights & READ_RIGHTS) !== 0),
  };
}

const canRun = (j: ProgramJudge, p: string) => j.check(p, 'read').allowed && j.check(p, 'execute').allowed;

/**
 * Adds to `policy.agent.grants` what the agent needs to read and run its program and is not
 * readable under `agentPolicy` yet; returns what was added. Throws a PolicyError when that would
 * open a protected path (a deny of the profile or its groups).
 */
export function grantAgentProgram(policy: ResolvedPolicy, judge: ProgramJudge, r: AgentResolution): ProgramGrant[] {
  const added: ProgramGrant[] = [];
  const readDenies = judge.readDenies;
  for (const f of programFiles(r)) {
    // Only programs are granted: a directory or device named as the agent gets nothing (its exec fails, and says so).
    if (!fs.statSync(f.path, { throwIfNoEntry: false })?.isFile()) continue;
    if (canRun(judge, f.path) || added.some((g) => isInside(f.path, g.path))) continue;
    const unit = installUnit(f.path);
    const target: ProgramGrant = unit
      ? { path: unit.dir, kind: 'dir', why: `${unit.what}, holding ${f.role} ${f.path}` }
      : { path: f.path, kind: 'file', why: `${f.role} of ${r.input}` };
    const around = readDenies.find((d) => isInside(target.path, d.path));
    if (around) {
      throw new PolicyError(
        `${r.input} cannot start inside the agent sandbox: ${f.role} ${f.path} lies inside the protected path ${around.path} (${around.source}); ` +
          `install the agent somewhere else, or re-allow exactly that file with ${howToAllow(f.path)}`,
      );
    }
    const below = target.kind === 'dir' ? readDenies.find((d) => isInside(d.path, target.path)) : undefined;
    if (below) {
      throw new PolicyError(
        `${r.input} cannot start inside the agent sandbox: its ${unit!.what} ${target.path} holds the protected path ${below.path} (${below.source}), ` +
          `so nono will not open that directory to the agent; install the agent somewhere else, or allow what it needs with ${howToAllow(f.path)}`,
      );
    }
    added.push(target);
  }
  for (const g of added) {
    // Not explicit: even if a deny were missed above, the compiler never re-allows a denied path.
    policy.agent.grants.push({ path: g.path, kind: g.kind, access: 'read', source: `the agent's own program (${g.why})`, explicit: false });
  }
  return added;
}

/** The first file of the agent's start that its sandbox still cannot read and run, and why. */
export function programBlocked(judge: ProgramJudge, r: AgentResolution): { file: ProgramFile; decidedBy: string } | undefined {
  for (const f of programFiles(r)) {
    // Not a program at all (a directory...): its exec fails and nono says that instead.
    if (!fs.statSync(f.path, { throwIfNoEntry: false })?.isFile()) continue;
    for (const op of ['execute', 'read'] as const) {
      const e = judge.check(f.path, op);
      if (!e.allowed) return { file: f, decidedBy: e.decidedBy };
    }
  }
  return undefined;
}

/** How a user allows the agent one more file: a profile's agent section. */
export function howToAllow(file: string): string {
  return `"agent": { "filesystem": { "read_file": [${JSON.stringify(file)}] } } in a profile (--profile FILE)`;
}

/** The one line nono prints when the agent cannot be started inside its sandbox. */
export function blockedLine(program: string, b: { file: ProgramFile; decidedBy: string }): string {
  return (
    `${program} cannot start inside the agent sandbox: ${b.file.role} ${b.file.path} may not be read and run there (${b.decidedBy}); ` +
    `to allow it, add ${howToAllow(b.file.path)}`
  );
}
