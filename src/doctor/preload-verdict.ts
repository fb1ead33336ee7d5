// Will LD_PRELOAD reach this program? Read from the executable itself: static binaries ignore it;
// setuid/setgid and file-capability binaries run in the loader's secure mode, which drops it.
// Scripts (#!) inherit their interpreter's answer.
import fs from 'node:fs';
import path from 'node:path';
import { loadAddon } from '../native/addon.js';
import { readElf } from './elf.js';

export type PreloadOutcome = 'loads' | 'stripped' | 'ignored' | 'unknown';

export interface PreloadVerdict {
  /** The file examined, after following #! and `/usr/bin/env NAME`. */
  executable: string;
  preload: PreloadOutcome;
  reason: string;
}

export function findOnPath(name: string, pathVar: string): string | undefined {
  if (name.includes('/')) return fs.existsSync(name) ? path.resolve(name) : undefined;
  for (const dir of pathVar.split(':')) {
    const candidate = path.join(dir || '.', name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** The first `bytes` bytes of a file (fewer if it is shorter); throws when it cannot be read. */
export function readHead(file: string, bytes: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const n = fs.readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

export interface ShebangStep {
  /** The script whose #! line was read. */
  script: string;
  /** The #! line, without "#!". */
  line: string;
  /** What it names: the interpreter, or what `env NAME` finds on PATH. */
  next: string;
  /** Set when the line went through env and NAME was looked up on PATH. */
  viaEnv?: string;
}

/**
 * Follows `#!interpreter` (and `#!/usr/bin/env [-S] NAME`) to the binary the kernel really starts,
 * recording each hop. A missing file throws (callers say "cannot read"); an `env` whose NAME is
 * not on PATH stops at env itself, which is what would run and fail.
 */
export function followShebangs(file: string, pathVar: string): { executable: string; steps: ShebangStep[] } {
  const steps: ShebangStep[] = [];
  let current = file;
  // The kernel allows a handful of nested interpreters; a loop of scripts must end too.
  for (let depth = 0; depth <= 4; depth++) {
    const head = readHead(current, 256).toString('latin1');
    if (!head.startsWith('#!')) break;
    const line = head.slice(2).split('\n')[0]!.trim();
    const words = line.split(/\s+/);
    const interp = words[0];
    if (!interp) break;
    let next = interp;
    let viaEnv: string | undefined;
    if (path.basename(interp) === 'env') {
      // `env -S "node --flag"` splits its argument; any other option is one we do not follow.
      const rest = words.slice(1);
      if (rest[0] === '-S' || rest[0] === '--split-string') rest.shift();
      const name = rest[0]?.replace(/^["']/, '');
      if (name && !name.startsWith('-') && !name.includes('=')) {
        const target = findOnPath(name, pathVar);
        if (target) {
          next = target;
          viaEnv = name;
        }
      }
    }
    steps.push({ script: current, line, next, ...(viaEnv ? { viaEnv } : {}) });
    current = next;
  }
  return { executable: current, steps };
}

/** Follows `#!interpreter` (and `#!/usr/bin/env NAME`) to the binary the kernel really starts. */
export function resolveInterpreter(file: string, pathVar: string): string {
  return followShebangs(file, pathVar).executable;
}

export function preloadVerdict(file: string, pathVar: string, opts: { noNewPrivs?: boolean } = {}): PreloadVerdict {
  let executable: string;
  try {
    executable = fs.realpathSync(resolveInterpreter(file, pathVar));
  } catch (e) {
    return { executable: file, preload: 'unknown', reason: `cannot read ${file} (${(e as Error).message})` };
  }
  let head: Buffer;
  let st: fs.Stats;
  try {
    st = fs.statSync(executable);
    head = readHead(executable, 64 * 1024);
  } catch (e) {
    return { executable, preload: 'unknown', reason: `cannot read ${executable} (${(e as Error).message})` };
  }
  const elf = readElf(head);
  if (elf.kind !== 'elf') return { executable, preload: 'unknown', reason: elf.kind === 'not-elf' ? 'not an ELF executable' : elf.reason };
  if (!elf.interpreter) {
    return {
      executable,
      preload: 'ignored',
      reason: `${elf.staticPie ? 'static-pie' : 'statically linked'} binary: it has no dynamic loader, so LD_PRELOAD never applies`,
    };
  }
  // Secure mode (AT_SECURE) only happens when the exec really changes credentials: a setuid bit
  // naming another user, a setgid bit naming another group, or file capabilities that add to what
  // the caller holds (root already holds them all). Under no_new_privs (the agent sandbox sets it)
  // none of these take effect, so the preload loads.
  if (!opts.noNewPrivs) {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    if (st.mode & 0o4000 && st.uid !== uid) {
      return { executable, preload: 'stripped', reason: 'setuid binary: the loader runs it in secure mode and drops LD_PRELOAD' };
    }
    if (st.mode & 0o2000 && st.gid !== gid) {
      return { executable, preload: 'stripped', reason: 'setgid binary: the loader runs it in secure mode and drops LD_PRELOAD' };
    }
    if (uid !== 0 && loadAddon().hasFileCapabilities(executable)) {
      return { executable, preload: 'stripped', reason: 'binary with file capabilities: the loader runs it in secure mode and drops LD_PRELOAD' };
    }
  }
  return { executable, preload: 'loads', reason: `dynamically linked (${elf.interpreter})` };
}
