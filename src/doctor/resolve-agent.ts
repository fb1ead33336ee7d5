// From the agent as the user types it (`claude`, `./bin/agent`, `gemini`) to the executable that
// will start its shell commands: PATH lookup, symlinks, the npm package it belongs to, #! lines
// (and `/usr/bin/env NAME`), and, for an npm bin that is a Node launcher, the native binary it
// starts (Codex's launcher starts a vendored static binary: that binary, not node, decides).
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readElf } from './elf.js';
import { sniffFormat, type ExecutableFormat } from './executable.js';
import { identifyAgent, type KnownAgent } from './known-agents.js';
import { isMachoMagic } from './macho.js';
import { findOnPath, followShebangs, readHead } from './preload-verdict.js';

export interface NpmPackage {
  name: string;
  version?: string;
  dir: string;
}

export interface AgentResolution {
  input: string;
  /** The file the command names, after PATH lookup and symlinks. Unset: not found. */
  resolved?: string;
  /** Format of `resolved`; 'missing' when it was not found. */
  format: ExecutableFormat | 'missing';
  /** Each hop from `input` to `executable`, in words. */
  chain: string[];
  /** The program whose process starts the agent's shells (what the preload verdict is about). */
  executable?: string;
  /** How `executable` was found: the file itself, a script's interpreter, or a launcher's native binary. */
  executableRole?: 'self' | 'interpreter' | 'native-from-launcher';
  package?: NpmPackage;
  /**
   * Every file started or read to start the agent, resolved, in order: the program itself, each
   * #! interpreter (and what `env` finds), the native binary a launcher starts. What the agent's
   * own sandbox must let it read and run (src/policy/agent-program.ts).
   */
  files: AgentFile[];
  known?: KnownAgent;
  /** One line: what this agent is. */
  description: string;
}

export interface AgentFile {
  path: string;
  role: 'program' | 'interpreter' | 'native-from-launcher';
}

const packageJsonSchema = z.object({
  name: z.string().min(1),
  version: z.string().optional(),
  bin: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
});

const NODE_LIKE = new Set(['node', 'nodejs', 'bun', 'deno']);

/** How far up from an executable to look for its package.json. */
const MAX_PACKAGE_DEPTH = 8;
/** Bounds on the search for a launcher's native binary: packages are big, doctor must stay quick. */
const MAX_SCAN_DEPTH = 6;
const MAX_SCAN_ENTRIES = 20000;

const HOST_ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, riscv64: 243, loong64: 258, ppc64: 21, s390x: 22 };

/** The resolved path, or the path as given when it cannot be resolved (missing, dangling). */
export function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

function readHeadOrNothing(file: string, bytes: number): Buffer | undefined {
  try {
    return readHead(file, bytes);
  } catch {
    return undefined;
  }
}

/** The npm package a file belongs to: the nearest package.json above it with a name. */
export function findPackage(file: string): (NpmPackage & { bin?: string | Record<string, string> }) | undefined {
  let dir = path.dirname(file);
  for (let i = 0; i < MAX_PACKAGE_DEPTH; i++) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        const parsed = packageJsonSchema.safeParse(JSON.parse(fs.readFileSync(pj, 'utf8')));
        if (parsed.success) return { name: parsed.data.name, version: parsed.data.version, dir, bin: parsed.data.bin };
      } catch {
        /* not JSON: keep climbing */
      }
    }
    // A package never spans node_modules, and the filesystem root ends the walk.
    if (path.basename(dir) === 'node_modules') return undefined;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  return undefined;
}

/** Is this a native executable for this machine (ELF of our machine, or Mach-O on a Mac)? */
function isHostNative(file: string): boolean {
  const head = readHeadOrNothing(file, 4096);
  if (!head) return false;
  if (process.platform === 'darwin') return isMachoMagic(head);
  const elf = readElf(head);
  return elf.kind === 'elf' && elf.machine === HOST_ELF_MACHINE[process.arch];
}

const stem = (name: string) => name.replace(/\.(exe|js|cjs|mjs)$/, '');

/**
 * Native binaries shipped with a package (or its platform packages beside it) whose name matches
 * one of `names`: what a Node launcher such as Codex's `bin/codex.js` starts. Only name matches
 * count, so helper tools a package ships (ripgrep, ...) are not mistaken for the agent.
 */
export function findLaunchedNative(pkg: NpmPackage, names: Set<string>): string[] {
  const roots = [pkg.dir];
  // Platform packages: `<pkg>-linux-x64` nested under the package or hoisted beside it.
  const base = path.basename(pkg.dir);
  for (const parent of [path.dirname(pkg.dir), path.join(pkg.dir, 'node_modules', path.dirname(pkg.name))]) {
    try {
      for (const e of fs.readdirSync(parent)) if (e.startsWith(`${base}-`)) roots.push(path.join(parent, e));
    } catch {
      /* no such directory */
    }
  }
  const found: string[] = [];
  let seen = 0;
  const walk = (dir: string, depth: number) => {
    if (depth > MAX_SCAN_DEPTH || seen > MAX_SCAN_ENTRIES) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (++seen > MAX_SCAN_ENTRIES) return;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p, depth + 1);
      } else if (e.isFile() && names.has(stem(e.name)) && !/\.(node|so|dylib|js|cjs|mjs)$/.test(e.name)) {
        try {
          fs.accessSync(p, fs.constants.X_OK);
        } catch {
          continue;
        }
        if (isHostNative(p)) found.push(p);
      }
    }
  };
  for (const r of roots) walk(r, 0);
  return [...new Set(found.map(realOrSelf))].sort();
}

/** The command names package.json gives to `file` (a string `bin` is named after the package). */
function binNamesFor(pkg: NpmPackage & { bin?: string | Record<string, string> }, file: string): string[] {
  if (!pkg.bin) return [];
  if (typeof pkg.bin === 'string') return [path.basename(pkg.name)];
  return Object.entries(pkg.bin)
    .filter(([, rel]) => realOrSelf(path.resolve(pkg.dir, rel)) === file)
    .map(([name]) => name);
}

export function resolveAgent(input: string, pathVar: string): AgentResolution {
  const chain: string[] = [];
  const files: AgentFile[] = [];
  const found = findOnPath(input, pathVar);
  if (!found || !fs.existsSync(found)) {
    return {
      input,
      format: 'missing',
      chain,
      files,
      description: input.includes('/') ? `${input}: no such file` : `${input}: not found on PATH`,
      known: identifyAgent({ names: [path.basename(input)] }),
    };
  }
  if (!input.includes('/')) chain.push(`${input}: found on PATH at ${found}`);
  const resolved = realOrSelf(found);
  files.push({ path: resolved, role: 'program' });
  if (resolved !== path.resolve(found)) chain.push(`${found} -> ${resolved} (symlink)`);
  const head = readHeadOrNothing(resolved, 256) ?? Buffer.alloc(0);
  const format = sniffFormat(head);
  const rawPkg = findPackage(resolved);
  const pkg: NpmPackage | undefined = rawPkg ? { name: rawPkg.name, version: rawPkg.version, dir: rawPkg.dir } : undefined;
  if (pkg) chain.push(`${resolved} belongs to the npm package ${pkg.name}${pkg.version ? `@${pkg.version}` : ''} (${pkg.dir})`);
  const names = [path.basename(input), path.basename(found), path.basename(resolved)].map(stem);
  const known = identifyAgent({ packageName: pkg?.name, names });
  const base: Omit<AgentResolution, 'executable' | 'description'> = { input, resolved, format, chain, files, package: pkg, known };

  if (format !== 'script') {
    const what = format === 'elf' ? 'ELF executable' : format === 'macho' ? 'Mach-O executable' : 'file of unknown format';
    return { ...base, executable: resolved, executableRole: 'self', description: `${what} ${resolved}` };
  }

  let interpreter: string;
  try {
    const { executable, steps } = followShebangs(resolved, pathVar);
    for (const s of steps) {
      // `#!/usr/bin/env node` starts env, then node: both are run.
      const named = s.line.split(/\s+/)[0]!;
      for (const f of new Set([named, s.next])) files.push({ path: realOrSelf(f), role: 'interpreter' });
      chain.push(`${s.script} starts with #!${s.line}: ${s.viaEnv ? `env finds ${s.viaEnv} on PATH at ${s.next}` : `run by ${s.next}`}`);
    }
    interpreter = realOrSelf(executable);
    if (interpreter !== executable) chain.push(`${executable} -> ${interpreter} (symlink)`);
  } catch (e) {
    return { ...base, description: `a #! script whose interpreter cannot be read (${(e as Error).message})` };
  }
  const interpName = path.basename(interpreter);
  const isNode = NODE_LIKE.has(interpName) || /^node\d*$/.test(interpName);
  if (isNode && rawPkg) {
    const wanted = new Set([...names, ...binNamesFor(rawPkg, resolved).map(stem), stem(path.basename(rawPkg.name))]);
    const natives = findLaunchedNative(pkg!, wanted);
    if (natives.length > 0) {
      const native = natives[0]!;
      files.push({ path: native, role: 'native-from-launcher' });
      chain.push(
        `${pkg!.name}'s launcher ${path.relative(pkg!.dir, resolved)} starts the native binary ${native}` +
          (natives.length > 1 ? ` (also found: ${natives.slice(1).join(', ')})` : ''),
      );
      return {
        ...base,
        executable: native,
        executableRole: 'native-from-launcher',
        description: `npm package ${pkg!.name}: a Node launcher run by ${interpreter} that starts the native binary ${native}`,
      };
    }
  }
  if (isNode) {
    const runtime = interpName.startsWith('node') ? 'Node' : interpName === 'bun' ? 'Bun' : 'Deno';
    return { ...base, executable: interpreter, executableRole: 'interpreter', description: `${runtime} script run by ${interpreter}` };
  }
  return {
    ...base,
    executable: interpreter,
    executableRole: 'interpreter',
    description: `#! script run by ${interpreter} (doctor reports on the interpreter; a program the script execs is not followed)`,
  };
}
