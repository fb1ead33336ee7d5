// `nono run [options] -- PROGRAM [ARGS...]`: start a session, then run the agent with its shells
// routed to nono-shell (preload + SHELL + PATH), itself inside its own Landlock domain, with the
// terminal passed straight through. Returns PROGRAM's exit status.
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { nativePaths, proxyBinDir } from '../native/paths.js';
import { execHelperArgs } from '../policy/landlock-compiler.js';
import type { CommandLineAdditions } from '../policy/resolve-profile.js';
import { preloadWarning } from '../supervisor/preload-watch.js';
import { startSession } from '../supervisor/start-session.js';
import { EventSink } from './json-events.js';

export interface RunOptions {
  profile?: string;
  cli: CommandLineAdditions;
  agentSandbox: boolean;
  verbose: boolean;
  oneShot: boolean;
  /** Set CLAUDE_CODE_SHELL_PREFIX to proxy-bin/nono-prefix (default on macOS, see README). */
  shellPrefix: boolean;
  jsonEvents?: string;
}

export interface RunOutcome {
  code: number;
  /** Set when PROGRAM died of a signal; the caller re-raises it. */
  signal?: NodeJS.Signals;
}

/** How long after the start nono decides whether the interposer reached the agent. */
const PRELOAD_CHECK_MS = 1500;

function agentEnvironment(additions: Record<string, string>, shellPrefix: boolean): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, additions);
  env.PATH = [proxyBinDir, env.PATH ?? '/usr/bin:/bin'].join(':');
  // Keep whatever the user preloads, after ours.
  env.LD_PRELOAD = [nativePaths.interposer, env.LD_PRELOAD].filter(Boolean).join(' ');
  if (shellPrefix) env.CLAUDE_CODE_SHELL_PREFIX = path.join(proxyBinDir, 'nono-prefix');
  return env;
}

export async function run(program: string, args: string[], opts: RunOptions): Promise<RunOutcome> {
  const say = (line: string) => process.stderr.write(`nono: ${line}\n`);
  const events = new EventSink(opts.jsonEvents);
  const s = startSession({
    workdir: process.cwd(),
    profile: opts.profile,
    cli: opts.cli,
    verbose: opts.verbose,
    onCommandEnd: (r) =>
      events.emit({ event: 'command', seq: r.seq, pid: r.pid, route: r.route, argv: r.argv, cwd: r.cwd, exit: r.exit, killedBecause: r.killedBecause, durationMs: r.durationMs }),
  });
  events.emit({
    event: 'session',
    id: s.session.id,
    socket: s.session.socketPath,
    landlockAbi: s.commandPolicy.abi,
    rules: s.commandPolicy.rules.length,
    tcp: s.commandPolicy.handledNet ? 'blocked' : 'open',
  });
  if (opts.verbose) {
    say(`profile ${s.policy.name} (${s.policy.chain.join(' <- ')})`);
    for (const w of s.warnings) say(`warning: ${w}`);
  }
  const env = agentEnvironment(s.agentEnv, opts.shellPrefix);
  const sandboxAgent = opts.agentSandbox && !opts.oneShot;

  let file = program;
  let argv = args;
  if (sandboxAgent) {
    file = nativePaths.execHelper;
    argv = [...execHelperArgs(s.agentPolicy), '--', program, ...args];
  } else if (!opts.oneShot) {
    say('warning: --no-agent-sandbox: the agent itself runs unsandboxed; only the shell commands that reach nono-shell are sandboxed');
  }

  // Like a shell waiting for its foreground job: the terminal's Ctrl-C / Ctrl-\ go to the agent
  // (same process group); nono stays up to clean the session. TERM and HUP are passed on.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  const child = execa(file, argv, {
    stdio: 'inherit',
    env,
    extendEnv: false,
    reject: false,
    argv0: sandboxAgent ? undefined : program,
  });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onTerm = forward('SIGTERM');
  const onHup = forward('SIGHUP');
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);

  let checked = false;
  const checkPreload = () => {
    if (checked || opts.oneShot || child.pid === undefined) return;
    checked = true;
    for (const f of s.preloadWatch.evaluate(child.pid, program, env.PATH!, sandboxAgent)) {
      const agent = f.pid === child.pid;
      events.emit({ event: 'preload', agent, pid: f.pid, exe: f.exe, status: f.status, cause: f.cause, reason: f.reason });
      if (f.status === 'missing') say(preloadWarning(f, agent, sandboxAgent));
    }
  };
  const timer = setTimeout(checkPreload, PRELOAD_CHECK_MS);
  try {
    const result = await child;
    clearTimeout(timer);
    // A short-lived agent: decide now, from what it reported while it ran.
    checkPreload();
    if (result.failed && result.exitCode === undefined && !result.signal) {
      const code = (result as { code?: string }).code === 'ENOENT' ? 127 : 126;
      say(`${program}: ${code === 127 ? 'command not found' : result.shortMessage}`);
      events.emit({ event: 'exit', code });
      return { code };
    }
    if (result.signal) {
      const num = os.constants.signals[result.signal] ?? 0;
      events.emit({ event: 'exit', code: 128 + num, signal: result.signal });
      return { code: 128 + num, signal: result.signal };
    }
    events.emit({ event: 'exit', code: result.exitCode ?? 0 });
    return { code: result.exitCode ?? 0 };
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    s.close();
    events.close();
  }
}

export const runHelpText = `
How it works:
  Every shell the program starts (bash, sh, dash, zsh) is routed to nono-shell, and nono runs
  that command in a fresh Landlock sandbox. With the default profile:
    - reads: the system and your home directory, except credentials (~/.ssh, ~/.aws, ~/.gnupg,
      ~/.config/gcloud, ~/.kube, ~/.docker, ~/.netrc, ~/.git-credentials, ~/.npmrc, ...),
      shell history and browser data
    - writes: the directory you started nono in ($PWD) and a private temp dir (TMPDIR); shell
      start-up files (~/.bashrc...) stay read-only
    - TCP: blocked (connect and bind), unless --allow-net
  The program itself runs in its own Landlock domain: the same file rules, plus what its profile
  adds for the agent (e.g. ~/.claude for claude-code), plus the network.
  'nono profile list' shows the profiles; 'nono profile explain PATH' says what decides a path.

Routes to nono-shell: LD_PRELOAD (the interposer), SHELL=<nono>/proxy-bin/bash, proxy-bin first
on PATH, and (with --shell-prefix) CLAUDE_CODE_SHELL_PREFIX. About ${PRELOAD_CHECK_MS / 1000} s after the start, nono
warns if the program did not load the interposer (static, setuid or capability binaries), and
says which routes still protect you.

Examples:
  nono run -- claude
  nono run --allow ~/src/shared-lib --allow-net -- gemini
  nono run --verbose --json-events /tmp/nono.jsonl -- node my-agent.js

Exit status: PROGRAM's. 126: nono could not start a sandbox; 127: PROGRAM not found.
`;
