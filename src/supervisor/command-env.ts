// The environment a sandboxed command gets: the caller's, minus what would let code escape or
// reach nono's secrets, with the real SHELL and a PATH without proxy-bin so that shells nested
// inside the command run directly in its sandbox.
import path from 'node:path';

/** Removed from every command's environment, and why. */
const SCRUBBED: Array<[RegExp, string]> = [
  [/^LD_PRELOAD$/, 'the interposer (commands run directly, never re-routed)'],
  [/^LD_AUDIT$/, 'library injection'],
  [/^DYLD_/, 'library injection (macOS)'],
  [/^BASH_ENV$/, 'code run by every non-interactive bash'],
  [/^ENV$/, 'code run by every interactive sh'],
  [/^NODE_OPTIONS$/, 'code injected into every node process'],
  [/^NONO_SESSION_SECRET$/, "the supervisor's session secret"],
  [/^NONO_SHELL_CLIENT$/, 'interposer configuration'],
  [/^NONO_SHELL_AS$/, 'interposer configuration'],
  [/^NONO_HANDSHAKE$/, 'interposer configuration'],
  [/^CLAUDE_CODE_SHELL_PREFIX$/, "nono's wrapper for Claude Code's commands (commands run directly)"],
  [/^SSH_AUTH_SOCK$/, 'the ssh agent: signing with the keys nono keeps commands away from'],
];

export function isScrubbed(name: string): boolean {
  return SCRUBBED.some(([re]) => re.test(name));
}

export interface CommandEnvOptions {
  realShell: string;
  proxyBinDir: string;
  /** The profile's environment.scrub: names, or prefixes ending in *. */
  scrub?: readonly string[];
}

function matchesProfileScrub(name: string, scrub: readonly string[]): boolean {
  return scrub.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));
}

function withoutProxyBin(pathValue: string, proxyBinDir: string): string {
  const proxy = path.resolve(proxyBinDir);
  return pathValue
    .split(':')
    .filter((dir) => dir === '' || (path.resolve(dir) !== proxy && !path.resolve(dir).startsWith(proxy + path.sep)))
    .join(':');
}

/** Entries are NAME=value wire strings; order is kept, later duplicates win like execve's. */
export function commandEnvironment(entries: readonly string[], opts: CommandEnvOptions): string[] {
  const out: string[] = [];
  let sawShell = false;
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq);
    if (isScrubbed(name) || matchesProfileScrub(name, opts.scrub ?? [])) continue;
    if (name === 'SHELL') {
      sawShell = true;
      out.push(`SHELL=${opts.realShell}`);
    } else if (name === 'PATH') {
      out.push(`PATH=${withoutProxyBin(entry.slice(eq + 1), opts.proxyBinDir)}`);
    } else {
      out.push(entry);
    }
  }
  if (!sawShell) out.push(`SHELL=${opts.realShell}`);
  return out;
}
