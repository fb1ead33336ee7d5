// What an agent asked of "bash": nono-shell forwards its argv untouched, and this module reads it
// the way bash would, to pick the real shell and to describe the command in logs and prompts.
// The real shell always gets the same argv, so its own behaviour (and its own errors for flags we
// do not know) stays exactly bash's.
import path from 'node:path';

export type ShellFlavour = 'bash' | 'sh' | 'dash' | 'zsh';
export const SHELL_FLAVOURS: readonly ShellFlavour[] = ['bash', 'sh', 'dash', 'zsh'];

export type ShellMode = 'command' | 'script' | 'interactive' | 'stdin' | 'version' | 'help';

export interface ShellInvocation {
  flavour: ShellFlavour;
  login: boolean;
  mode: ShellMode;
  /** The -c string, or the script path. */
  command?: string;
  /** Options given (for logs): -e, -x, --norc... */
  options: string[];
}

// Options that take the next argument as their value.
const SHORT_WITH_VALUE = new Set(['o', 'O']);
const LONG_WITH_VALUE = new Set(['--rcfile', '--init-file']);

/** Which shell a name stands for: `bash`, `-bash` (login), `/x/proxy-bin/sh`, `nono-shell`... */
export function flavourOf(name: string): ShellFlavour | undefined {
  const base = path.basename(name).replace(/^-/, '');
  if (base === 'nono-shell') return 'bash';
  return (SHELL_FLAVOURS as readonly string[]).includes(base) ? (base as ShellFlavour) : undefined;
}

export function parseShellArgs(argv: readonly string[], flavourHint?: ShellFlavour): ShellInvocation {
  const argv0 = argv[0] ?? 'bash';
  const inv: ShellInvocation = {
    flavour: flavourHint ?? flavourOf(argv0) ?? 'bash',
    login: argv0.startsWith('-'),
    mode: 'interactive',
    options: [],
  };
  let commandMode = false;
  let stdinMode = false;
  let interactive = false;
  let i = 1;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || a === '-') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      if (a === '--login') inv.login = true;
      else if (a === '--version') return { ...inv, mode: 'version' };
      else if (a === '--help') return { ...inv, mode: 'help' };
      inv.options.push(a);
      if (LONG_WITH_VALUE.has(a)) i++;
      continue;
    }
    if ((a.startsWith('-') || a.startsWith('+')) && a.length > 1) {
      for (const ch of a.slice(1)) {
        if (ch === 'c') commandMode = true;
        else if (ch === 'l') inv.login = true;
        else if (ch === 'i') interactive = true;
        else if (ch === 's') stdinMode = true;
        else if (SHORT_WITH_VALUE.has(ch)) i++;
        else inv.options.push(`${a[0]}${ch}`);
      }
      continue;
    }
    break;
  }
  const rest = argv.slice(i);
  if (commandMode) return { ...inv, mode: 'command', command: rest[0] ?? '' };
  if (stdinMode) return { ...inv, mode: 'stdin' };
  if (rest.length > 0 && !interactive) return { ...inv, mode: 'script', command: rest[0] };
  return { ...inv, mode: interactive || rest.length === 0 ? 'interactive' : 'script' };
}

/** The name of the CLAUDE_CODE_SHELL_PREFIX entry in proxy-bin. */
export const PREFIX_ENTRY = 'nono-prefix';

/**
 * Claude Code's CLAUDE_CODE_SHELL_PREFIX runs `sh -c "'<prefix>' '<command>'"`: the prefix gets the
 * whole command as one argument. Returns the bash argv that runs it (several arguments are run as
 * a command vector), or undefined when argv is not the prefix entry. Mirrored for the in-sandbox
 * case in shim/nono_shell_client.c (exec_direct).
 */
export function unwrapShellPrefix(argv: readonly string[]): string[] | undefined {
  if (path.basename(argv[0] ?? '') !== PREFIX_ENTRY) return undefined;
  const rest = argv.slice(1);
  if (rest.length === 1) return ['bash', '-c', rest[0]!];
  return ['bash', '-c', '"$@"', PREFIX_ENTRY, ...rest];
}
