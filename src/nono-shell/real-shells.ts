// Finding the real shells behind the proxies: the first `bash`, `sh`, `dash`, `zsh` on the PATH
// nono was started with, skipping proxy-bin and anything that is nono-shell itself.
import fs from 'node:fs';
import path from 'node:path';
import { SHELL_FLAVOURS, flavourOf, type ShellFlavour } from './bash-args.js';

export type RealShells = Partial<Record<ShellFlavour, string>>;

function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

function isExecutableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function findRealShells(pathVar: string, client: string): RealShells {
  const dirs = [...pathVar.split(':').filter(Boolean), '/bin', '/usr/bin'];
  const found: RealShells = {};
  for (const flavour of SHELL_FLAVOURS) {
    for (const dir of dirs) {
      const candidate = path.join(dir, flavour);
      if (isExecutableFile(candidate) && !sameFile(candidate, client)) {
        found[flavour] = candidate;
        break;
      }
    }
  }
  return found;
}

/**
 * The shell to run for one request. `shellAs` (set by the interposer: the path the program asked
 * for) wins when it really is a shell; a path that is not a known shell, or that is nono-shell
 * itself, is refused rather than run.
 */
export function chooseShell(
  flavour: ShellFlavour,
  shellAs: string | null,
  shells: RealShells,
  client: string,
): { path: string } | { error: string } {
  if (shellAs !== null) {
    if (!path.isAbsolute(shellAs)) return { error: `NONO_SHELL_AS is not an absolute path: ${shellAs}` };
    let real: string;
    try {
      real = fs.realpathSync(shellAs);
    } catch {
      return { error: `${shellAs}: No such file or directory` };
    }
    if (sameFile(real, client)) {
      const fallback = shells[flavour];
      return fallback ? { path: fallback } : { error: `no real ${flavour} found on this machine` };
    }
    if (!flavourOf(shellAs) && !flavourOf(real)) return { error: `${shellAs} is not a shell nono knows (bash, sh, dash, zsh)` };
    return { path: shellAs };
  }
  const found = shells[flavour];
  return found ? { path: found } : { error: `${flavour}: not installed on this machine` };
}
