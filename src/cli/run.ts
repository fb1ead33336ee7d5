// `nono run [options] -- PROGRAM [ARGS...]`: start a session, then run the agent with its shells
// routed to nono-shell (preload + SHELL + PATH), itself inside its own Landlock domain, with the
// terminal passed straight through. Returns PROGRAM's exit status.
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { resolveAgent } from '../doctor/resolve-agent.js';
import { programBlocked, blockedLine } from '../policy/agent-program.js';
import { nativePaths, proxyBinDir, proxyPathDir } from '../native/paths.js';
import { execHelperArgs } from '../policy/landlock-compiler.js';
import type { CommandLineAdditions } from '../policy/resolve-profile.js';
import { preloadablePath } from '../supervisor/preload-path.js';
import { evaluateAgentHandshake, evaluateTreeWith, preloadWarning } from '../supervisor/preload-watch.js';
import { realOrSelf } from '../doctor/resolve-agent.js';
import type { PlatformBackend } from '../supervisor/platform/select.js';
import { startPlatformSession, type AnySession } from '../supervisor/start-platform-session.js';
import { findOnPath } from '../doctor/preload-verdict.js';
import { chooseProfile, dyldCause, dyldStartLine, dyldStripped, execFailureLine, readExecFailure } from './agent-start.js';
import type { ProxyClient } from '../supervisor/network/proxy-clients.js';
import { SessionProxy } from '../supervisor/network/proxy-server.js';
import { EventSink } from './json-events.js';
import { TerminalPrompter } from './terminal-prompter.js';
import * as ptyModule from 'node-pty';

export interface RunOptions {
  /** Unset: the built-in profile of a recognised agent, else default. */
  profile?: string;
  cli: CommandLineAdditions;
  agentSandbox: boolean;
  verbose: boolean;
  oneShot: boolean;
  /** Set CLAUDE_CODE_SHELL_PREFIX to proxy-bin/nono-prefix (default on macOS, see README). */
  shellPrefix: boolean;
  jsonEvents?: string;
  /** Ask the person when the sandbox denies a command (needs a terminal), or only report it. */
  onDenial: 'prompt' | 'deny';
  /** Live approval (Linux): true = required (said when unavailable), false = off, unset = on where the kernel has it. */
  liveApproval?: boolean;
  /** The sandbox backend; unset: the one for process.platform (tests pass the darwin doubles). */
  backend?: PlatformBackend;
}

export interface RunOutcome {
  code: number;
  /** Set when PROGRAM died of a signal; the caller re-raises it. */
  signal?: NodeJS.Signals;
}

/** How long after the start nono decides whether the interposer reached the agent. */
const PRELOAD_CHECK_MS = 1500;

function agentEnvironment(additions: Record<string, string>, shellPrefix: boolean, interposer: string, platform: AnySession['platform']): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, additions);
  env.PATH = [proxyPathDir, env.PATH ?? '/usr/bin:/bin'].join(':');
  // Keep whatever the user preloads, after ours (dyld separates with colons, ld.so with spaces).
  if (platform === 'darwin') env.DYLD_INSERT_LIBRARIES = [interposer, env.DYLD_INSERT_LIBRARIES].filter(Boolean).join(':');
  else env.LD_PRELOAD = [interposer, env.LD_PRELOAD].filter(Boolean).join(' ');
  if (shellPrefix) env.CLAUDE_CODE_SHELL_PREFIX = path.join(proxyBinDir, 'nono-prefix');
  return env;
}

export async function run(program: string, args: string[], opts: RunOptions): Promise<RunOutcome> {
  const say = (line: string) => process.stderr.write(`nono: ${line}\n`);
  const events = new EventSink(opts.jsonEvents);
  const haveTerminal = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const prompter = opts.onDenial === 'prompt' && haveTerminal ? new TerminalPrompter() : undefined;
  // The agent gets a pty nono relays only when nono may need the screen for a question.
  const relay = prompter !== undefined && !opts.oneShot;
  const sandboxAgent = opts.agentSandbox && !opts.oneShot;
  // The agent as `nono doctor --agent` sees it: picks the profile, and what its sandbox must let it run.
  const agent = opts.oneShot ? undefined : resolveAgent(program, process.env.PATH ?? '/usr/bin:/bin');
  const chosen = chooseProfile(opts.profile, agent);
  if (chosen.line) say(chosen.line);
  // Bound before the session exists: its port goes into every command's Landlock rules. The
  // session closes it again when commands are not proxied (--allow-net, or blocked TCP).
  const proxy = await SessionProxy.open<ProxyClient>();
  let s: AnySession;
  try {
    s = await startPlatformSession({
      proxy,
      workdir: process.cwd(),
      profile: chosen.profile,
      agentProgram: sandboxAgent ? agent : undefined,
      cli: opts.cli,
      verbose: opts.verbose,
      onDenial: prompter ? 'prompt' : 'deny',
      prompter,
      liveApproval: opts.liveApproval,
      argv: [program, ...args],
      onCommandEnd: (r) =>
        events.emit({ event: 'command', seq: r.seq, pid: r.pid, route: r.route, argv: r.argv, cwd: r.cwd, exit: r.exit, killedBecause: r.killedBecause, durationMs: r.durationMs }),
    }, opts.backend);
  } catch (e) {
    await proxy.close(); // a listener left open would keep nono running
    throw e;
  }
  events.emit({
    event: 'session',
    id: s.session.id,
    socket: s.session.socketPath,
    ...(s.platform === 'linux'
      ? { landlockAbi: s.commandPolicy.abi, rules: s.commandPolicy.rules.length, tcp: s.commandPolicy.handledNet ? 'blocked' : 'open' }
      : { sandbox: 'seatbelt' as const, rules: s.commandSeatbelt.rules.length }),
    ...(s.agentProgramGrants.length ? { agentProgram: s.agentProgramGrants } : {}),
    network: s.network.mode.kind,
    proxyPort: s.network.proxyPort,
  });
  // Said at every start: the person relies on host lists that are weaker than they look.
  for (const n of s.network.notices) say(n);
  // Said when it was asked for (--live-approval); by default, only --verbose and `nono doctor` say it.
  if (!s.live.active && opts.liveApproval === true) say(`--live-approval is not active: ${s.live.why}; denied commands are re-run with the grant instead`);
  if (opts.verbose) {
    say(`profile ${s.policy.name} (${s.policy.chain.join(' <- ')})`);
    for (const w of s.warnings) say(`warning: ${w}`);
  }
  // macOS: an agent whose Mach-O makes dyld drop DYLD_INSERT_LIBRARIES is said at the start, and
  // the routes that still work are turned on (the SHELL proxy always is; the shell prefix here).
  const stripped = s.platform === 'darwin' && !opts.oneShot ? dyldStripped(agent, process.env.PATH ?? '/usr/bin:/bin') : undefined;
  if (stripped) say(dyldStartLine(program, stripped));
  let env: Record<string, string>;
  try {
    env = agentEnvironment(s.agentEnv, opts.shellPrefix || stripped !== undefined, s.platform === 'darwin' ? s.backend.interposer : preloadablePath(s.session.dir), s.platform);
  } catch (e) {
    s.close();
    events.close();
    throw e;
  }
  // Never start blind: an agent its sandbox cannot even run gets one line, not an empty screen.
  // What the agent's own sandbox lets it read and run, under its platform's rules.
  const agentJudge = s.agentJudge;
  const blocked = sandboxAgent && agent && agent.format !== 'missing' ? programBlocked(agentJudge, agent) : undefined;
  if (blocked) {
    say(blockedLine(program, blocked));
    events.emit({ event: 'exit', code: 126 });
    s.audit.write({ type: 'session-end', code: 126 });
    s.close();
    events.close();
    return { code: 126 };
  }

  let file = program;
  let argv = args;
  // Where the exec helper reports a failed exec (empty once the agent really started).
  const execReport = path.join(s.session.dir, 'agent-exec');
  const execFailed = () => (sandboxAgent ? readExecFailure(execReport) : undefined);
  if (sandboxAgent && s.platform === 'darwin') {
    // Seatbelt: the agent's own SBPL, applied by nono-seatbelt-exec before it execs the agent;
    // nono itself (the supervisor) stays outside every sandbox. The helper wants an absolute path.
    const resolved = agent?.resolved ?? (program.includes('/') ? path.resolve(program) : findOnPath(program, process.env.PATH ?? '/usr/bin:/bin'));
    if (!resolved) {
      say(`${program}: command not found`);
      events.emit({ event: 'exit', code: 127 });
      s.audit.write({ type: 'session-end', code: 127 });
      s.close();
      events.close();
      return { code: 127 };
    }
    file = s.backend.helper;
    argv = ['--profile', s.agentProfileFile, '--exec-report', execReport, '--', resolved, ...args];
  } else if (sandboxAgent && s.platform === 'linux') {
    file = nativePaths.execHelper;
    argv = [...execHelperArgs(s.agentPolicy), '--exec-report', execReport, '--', program, ...args];
  } else if (!opts.oneShot) {
    say('warning: --no-agent-sandbox: the agent itself runs unsandboxed; only the shell commands that reach nono-shell are sandboxed');
  }

  // Like a shell waiting for its foreground job: the terminal's Ctrl-C / Ctrl-\\ go to the agent
  // (same process group, or its pty); nono stays up to clean the session. TERM and HUP are passed on.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  const child = relay ? startInPty(file, argv, env, prompter!) : startInherited(file, argv, env, sandboxAgent ? undefined : program);
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onTerm = forward('SIGTERM');
  const onHup = forward('SIGHUP');
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);

  let checked = false;
  const checkPreload = () => {
    if (checked || opts.oneShot || child.pid === undefined) return;
    checked = true;
    // An agent that never started loaded nothing: its exec failure is the news, not the interposer.
    if (execFailed()) return;
    if (s.platform === 'darwin') {
      const exe = agent?.executable ?? agent?.resolved ?? program;
      const f = evaluateAgentHandshake(s.preloadWatch, child.pid, exe, stripped);
      events.emit({ event: 'preload', agent: true, pid: f.pid, exe: f.exe, status: f.status, cause: f.cause, reason: f.reason });
      // Already said at the start: the missing handshake only confirms it.
      if (f.status === 'missing' && !stripped) say(preloadWarning(f, true, sandboxAgent));
      // The rest of its tree, by the executables the process table names (as /proc does on Linux).
      let table: ReturnType<typeof s.backend.processTable> = [];
      try {
        table = s.backend.processTable();
      } catch {
        /* no table here: the agent alone is judged */
      }
      // Not judged again: nono's own programs, and the agent's executable (just judged above).
      const skip = new Set([nativePaths.client, nativePaths.execHelper, f.exe].map(realOrSelf));
      for (const t of evaluateTreeWith(s.preloadWatch, table, child.pid, skip, (e) => dyldCause(e, env.PATH!))) {
        events.emit({ event: 'preload', agent: false, pid: t.pid, exe: t.exe, status: t.status, cause: t.cause, reason: t.reason });
        say(preloadWarning(t, false, sandboxAgent));
      }
      return;
    }
    for (const f of s.preloadWatch.evaluate(child.pid, program, env.PATH!, sandboxAgent)) {
      const agent = f.pid === child.pid;
      events.emit({ event: 'preload', agent, pid: f.pid, exe: f.exe, status: f.status, cause: f.cause, reason: f.reason });
      if (f.status === 'missing') say(preloadWarning(f, agent, sandboxAgent));
    }
  };
  const timer = setTimeout(checkPreload, PRELOAD_CHECK_MS);
  try {
    const result = await child.done;
    clearTimeout(timer);
    // A short-lived agent: decide now, from what it reported while it ran.
    checkPreload();
    const failure = execFailed();
    if (failure) {
      const { code, line } = execFailureLine(program, failure, agent, agentJudge);
      say(line);
      events.emit({ event: 'exit', code });
      s.audit.write({ type: 'session-end', code });
      return { code };
    }
    if (result.notFound) {
      say(`${program}: command not found`);
      events.emit({ event: 'exit', code: 127 });
      return { code: 127 };
    }
    if (result.startError) say(`${program}: ${result.startError}`);
    if (result.signal) {
      const num = os.constants.signals[result.signal] ?? 0;
      events.emit({ event: 'exit', code: 128 + num, signal: result.signal });
      return { code: 128 + num, signal: result.signal };
    }
    events.emit({ event: 'exit', code: result.code });
    s.audit.write({ type: 'session-end', code: result.code });
    return { code: result.code };
  } finally {
    clearTimeout(timer);
    prompter?.detach();
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
    s.close();
    events.close();
  }
}

interface AgentProcess {
  pid: number | undefined;
  kill(sig: NodeJS.Signals): void;
  done: Promise<{ code: number; signal?: NodeJS.Signals; notFound?: boolean; startError?: string }>;
}

/**
 * The agent with the terminal passed straight through (no prompts possible, or one-shot).
 * node:child_process rather than execa on purpose: this process stays up for the whole session,
 * and execa's module graph alone costs it ~13 MB of RSS (issue 12, item 15: `npm run bench`
 * part 3) for one spawn with inherited stdio whose only result is the exit status.
 */
function startInherited(file: string, argv: string[], env: Record<string, string>, argv0: string | undefined): AgentProcess {
  const child = spawn(file, argv, { stdio: 'inherit', env, argv0: argv0 ?? file });
  const done = new Promise<Awaited<AgentProcess['done']>>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      // It never started: not found is 127, like a shell; anything else (not executable...) 126.
      if (child.pid !== undefined) return;
      const notFound = e.code === 'ENOENT';
      resolve({ code: notFound ? 127 : 126, notFound, startError: notFound ? undefined : `cannot be started (${e.code ?? e.message})` });
    });
    child.once('exit', (code, signal) => resolve({ code: code ?? 0, signal: signal ?? undefined }));
  });
  return { pid: child.pid, kill: (sig) => void child.kill(sig), done };
}

/** The agent in a pty that nono relays, so that a question can take the screen and give it back. */
function startInPty(file: string, argv: string[], env: Record<string, string>, prompter: TerminalPrompter): AgentProcess {
  const p = ptyModule.spawn(file, argv, {
    name: env.TERM ?? 'xterm-256color',
    cols: process.stdout.columns || 80,
    rows: process.stdout.rows || 24,
    cwd: process.cwd(),
    env,
  });
  prompter.attach(p);
  const signals = os.constants.signals as Record<string, number>;
  return {
    pid: p.pid,
    kill: (sig) => p.kill(sig),
    done: new Promise((resolve) =>
      p.onExit(({ exitCode, signal }) => {
        const name = signal ? (Object.keys(signals).find((k) => signals[k] === signal) as NodeJS.Signals | undefined) : undefined;
        resolve({ code: exitCode, signal: name });
      }),
    ),
  };
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
    - network: through nono's proxy on 127.0.0.1 (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY are set):
      hosts listed with --allow-domain or allow_domains are reached, a new host is a question
      (refused without a terminal); any other TCP connect or bind is refused. Without the native
      connect check in this build, and with no host listed, TCP is simply blocked.
      --allow-net: all TCP, directly, no proxy
  The program itself runs in its own Landlock domain: the same file rules, plus what its profile
  adds for the agent (e.g. ~/.claude for claude-code), plus the network.
  'nono profile list' shows the profiles; 'nono profile explain PATH' says what decides a path.

Routes to nono-shell: LD_PRELOAD (the interposer), SHELL=<nono>/proxy-bin/bash, proxy-bin first
on PATH, and (with --shell-prefix) CLAUDE_CODE_SHELL_PREFIX. About ${PRELOAD_CHECK_MS / 1000} s after the start, nono
warns if the program did not load the interposer (static, setuid or capability binaries), and
says which routes still protect you.

Examples:
  nono run -- claude                  (recognised: uses the claude-code profile, and says so)
  nono run --allow ~/src/shared-lib --allow-net -- gemini
  nono run --allow-domain registry.npmjs.org --allow-domain '*.github.com' -- claude
  nono run --verbose --json-events /tmp/nono.jsonl -- node my-agent.js

Profile: with no --profile, an agent nono recognises (as \`nono doctor --agent\` does: Claude Code,
Gemini CLI, Codex) gets its built-in profile; any other program gets default.
The agent's own sandbox may also read and run the agent's program wherever it is installed (its
npm package, Nix store entry or Homebrew keg; --verbose lists it), never a protected path.

Exit status: PROGRAM's. 126: nono could not start a sandbox, or PROGRAM could not be started in it
(one line says what); 127: PROGRAM not found.
`;
