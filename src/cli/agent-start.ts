// What `nono run` decides about the agent before and after starting it: which profile when none
// was given (the built-in one of an agent `nono doctor` recognises), and, when the agent's exec
// failed inside its sandbox, the one line that says what could not be run and how to allow it.
import fs from 'node:fs';
import { analyzeExecutable, sniffFormat } from '../doctor/executable.js';
import { readHead } from '../doctor/preload-verdict.js';
import type { AgentResolution } from '../doctor/resolve-agent.js';
import { blockedLine, programBlocked, programFiles, type ProgramJudge } from '../policy/agent-program.js';
import { DYLD_NOT_REPORTED } from '../supervisor/preload-watch.js';

/** The profile to use, and the line that says so when nono chose it. */
export function chooseProfile(given: string | undefined, agent: AgentResolution | undefined): { profile: string; line?: string } {
  if (given !== undefined) return { profile: given };
  // Only an agent that is really there: a missing one ends in "command not found" anyway.
  const known = agent && agent.format !== 'missing' ? agent.known : undefined;
  if (!known) return { profile: 'default' };
  return {
    profile: known.profile,
    line: `using profile ${known.profile} for ${agent!.input} (recognised as ${known.name}); --profile default to override`,
  };
}

export interface ExecFailure {
  errno: number;
  message: string;
}

/** What shim/landlock_exec.c wrote to its --exec-report file: set only when the exec failed. */
export function readExecFailure(file: string): ExecFailure | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d+) (.*)\n?$/.exec(text);
  return m ? { errno: Number(m[1]), message: m[2]! } : undefined;
}

const ENOENT = 2;

/** A #! line naming an interpreter that is not there (resolution stops before it, so look). */
function missingInterpreter(agent: AgentResolution): { role: string; path: string } | undefined {
  const last = agent.files.at(-1)?.path;
  if (!last) return undefined;
  let head: string;
  try {
    head = readHead(last, 256).toString('latin1');
  } catch {
    return undefined;
  }
  const interp = head.startsWith('#!') ? head.slice(2).split('\n')[0]!.trim().split(/\s+/)[0] : undefined;
  return interp && !fs.existsSync(interp) ? { role: `the #! interpreter of ${last}`, path: interp } : undefined;
}

/**
 * The exit status and the one line for an agent whose exec failed inside its sandbox: the file
 * its sandbox does not let it read or run, a file that is missing or not executable, or else the
 * kernel's own reason.
 */
export function execFailureLine(program: string, f: ExecFailure, agent: AgentResolution | undefined, judge: ProgramJudge): { code: number; line: string } {
  if (!agent || agent.format === 'missing') return { code: 127, line: `${program}: command not found` };
  const files = programFiles(agent);
  const missing = files.find((x) => !fs.existsSync(x.path)) ?? missingInterpreter(agent);
  if (missing) return { code: 126, line: `${program} cannot start: ${missing.role} ${missing.path} does not exist` };
  const dir = files.find((x) => fs.statSync(x.path).isDirectory());
  if (dir) return { code: 126, line: `${program} cannot start: ${dir.role} ${dir.path} is a directory` };
  const blocked = programBlocked(judge, agent);
  if (blocked) return { code: 126, line: blockedLine(program, blocked) };
  for (const x of files) {
    try {
      fs.accessSync(x.path, fs.constants.X_OK);
    } catch {
      const mode = (fs.statSync(x.path).mode & 0o7777).toString(8).padStart(4, '0');
      return { code: 126, line: `${program} cannot start: ${x.role} ${x.path} is not executable (mode ${mode}); make it executable (chmod +x)` };
    }
  }
  const why = f.errno === ENOENT ? 'a file it needs was not found' : f.message;
  return { code: 126, line: `${program} cannot start inside the agent sandbox: its exec failed (${why}); \`nono doctor --agent ${program}\` shows how it is started` };
}

/** macOS: a file on the way to the agent that makes dyld drop DYLD_INSERT_LIBRARIES. */
export interface DyldStrip {
  file: string;
  role: string;
  reason: string;
}

/**
 * Reads the agent's chain as `nono doctor --agent` does (src/doctor/macho-verdict.ts): the first
 * Mach-O file on it that is hardened without the DYLD entitlement, restricted, setuid or
 * SIP-protected (a `#!/usr/bin/env node` launcher loses the variable at env) decides.
 */
export function dyldStripped(agent: AgentResolution | undefined, pathVar: string): DyldStrip | undefined {
  for (const f of agent?.files ?? []) {
    let head: Buffer;
    try {
      head = readHead(f.path, 64);
    } catch {
      continue;
    }
    if (sniffFormat(head) !== 'macho') continue;
    const c = dyldCause(f.path, pathVar);
    if (c.cause !== 'unknown') return { file: f.path, role: f.role, reason: c.reason };
  }
  return undefined;
}

/** Why a process of the agent's tree (macOS) did not report loading the dylib, read from its file. */
export function dyldCause(exe: string, pathVar: string): { cause: 'stripped' | 'ignored' | 'unknown'; reason: string } {
  const r = analyzeExecutable(exe, { pathVar });
  if (r.preload === 'stripped' || r.preload === 'ignored') return { cause: r.preload, reason: r.reason };
  return { cause: 'unknown', reason: DYLD_NOT_REPORTED };
}

/** The one line at the start, with the cause and the routes that still work. */
export function dyldStartLine(program: string, s: DyldStrip): string {
  const which = s.role === 'program' ? s.file : `${s.file} (its ${s.role === 'interpreter' ? 'interpreter' : 'native binary'})`;
  return (
    `warning: ${program} will not load nono's interposer: ${which}: ${s.reason}. ` +
    `Its shell commands reach nono through $SHELL (proxy-bin/bash) and CLAUDE_CODE_SHELL_PREFIX (turned on); ` +
    `commands it starts any other way run only inside the agent sandbox.`
  );
}
