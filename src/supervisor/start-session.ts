// Assembles a session on Linux: detect Landlock, compile the policy for commands (the Landlock
// backend, platform/linux.ts) and for the agent, find the real shells, and start the supervisor on
// a private socket.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAddon } from '../native/addon.js';
import { nativePaths, packageRoot, proxyBinDir } from '../native/paths.js';
import { findRealShells } from '../nono-shell/real-shells.js';
import { AGENT_SCOPES, compileLandlock, type CompiledLandlock } from '../policy/landlock-compiler.js';
import { PolicyError, type ResolvedPolicy } from '../policy/resolved-policy.js';
import { resolveProfile, type CommandLineAdditions } from '../policy/resolve-profile.js';
import { approvalsFile } from '../policy/approvals.js';
import { grantAgentProgram, landlockJudge, type ProgramGrant, type ProgramJudge } from '../policy/agent-program.js';
import type { AgentResolution } from '../doctor/resolve-agent.js';
import { AuditLog, auditFile } from './audit-log.js';
import { DenialHandler } from './denial-handler.js';
import { landlockUnavailableMessage } from './landlock-sandbox.js';
import type { Prompter } from './prompt/types.js';
import { PreloadWatch } from './preload-watch.js';
import { Watchdog } from './watchdog.js';
import { AuditDenialSource } from './denials/audit-denials.js';
import { LinuxPlatform } from './platform/linux.js';
import { createSession, type Session } from './session.js';
import { chooseNetworkMode, type NetworkMode } from './network/network-mode.js';
import type { ProxyClient } from './network/proxy-clients.js';
import type { SessionProxy } from './network/proxy-server.js';
import { SessionNetwork } from './network/session-network.js';
import { Supervisor, type CommandRecord } from './supervisor.js';

export interface SessionOptions {
  workdir: string;
  /** Whose credentials to protect; defaults to the current HOME. */
  home?: string;
  /** Profile name or file; default "default". */
  profile?: string;
  /** --allow, --read, --allow-net... on top of the profile. */
  cli?: CommandLineAdditions;
  /** Where user profiles live (tests point it elsewhere). */
  userProfileDir?: string;
  /** What to do when the sandbox denies a command: ask (needs a prompter) or report. */
  onDenial?: 'prompt' | 'deny';
  prompter?: Prompter;
  /** The audit log file; default $XDG_STATE_HOME/nono/audit.jsonl; '' for none. */
  auditFile?: string;
  /** Where "always" answers go; default ~/.config/nono/approvals.json. */
  approvalsFile?: string;
  /** The agent's command line, for the audit log. */
  argv?: string[];
  /** The agent as `nono doctor --agent` resolves it: its sandbox may read and run its program. */
  agentProgram?: AgentResolution;
  /** Where denials come from: Landlock's audit records when readable ('auto'), or stderr only. */
  denialSource?: 'auto' | 'stderr';
  /** A proxy listener opened for this session (SessionProxy.open): used when the network mode is
   * "proxy" (see network/network-mode.ts), closed otherwise. Without one, TCP stays blocked. */
  proxy?: SessionProxy<ProxyClient>;
  /** How long a proxy connection waits for the answer to a host question. */
  hostQuestionTimeoutMs?: number;
  /** Live approval (shim/addon/live_approval.h): a denied file operation waits for the answer
   * instead of failing and being re-run. Unset or true: on where the kernel has it (else re-runs);
   * false: off. */
  liveApproval?: boolean;
  /** How long a held open waits for the person (default 120 s). */
  liveQuestionTimeoutMs?: number;
  verbose: boolean;
  log?: (line: string) => void;
  onCommandEnd?: (record: CommandRecord) => void;
}

export interface RunningSession {
  platform: 'linux';
  session: Session;
  supervisor: Supervisor;
  preloadWatch: PreloadWatch;
  policy: ResolvedPolicy;
  audit: AuditLog;
  commandPolicy: CompiledLandlock;
  agentPolicy: CompiledLandlock;
  /** What the agent's sandbox got so the agent can read and run its own program (agent only). */
  agentProgramGrants: ProgramGrant[];
  /** What the agent's own sandbox lets it read and run (the one-line cause of a failed start). */
  agentJudge: ProgramJudge;
  /** Environment additions for the agent: how its shells reach nono-shell and the supervisor. */
  agentEnv: Record<string, string>;
  /** How commands reach the network; `notices` are for the person at every start. */
  network: { mode: NetworkMode; notices: string[]; proxyPort?: number };
  warnings: string[];
  /** Live approval: active here, or why not (unset when not asked for). */
  live: { active: true } | { active: false; why: string };
  close(): void;
}

export function userShell(): string {
  const s = process.env.SHELL;
  if (s && path.isAbsolute(s) && !path.resolve(s).startsWith(proxyBinDir + path.sep) && fs.existsSync(s)) return s;
  return '/bin/bash';
}

/**
 * A first run: directories a profile names for the agent's own state (~/.claude, ~/.gemini...)
 * may not exist yet, and Landlock can only grant what exists; the agent could not create them
 * itself (HOME is read-only to it). nono creates them (0700), only inside HOME, only for
 * read-write directory entries the profile itself lists.
 */
export function createProfileDirs(policy: ResolvedPolicy, home: string): void {
  for (const g of [...policy.agent.grants, ...policy.grants]) {
    if (!g.explicit || g.kind !== 'dir' || g.access !== 'readwrite' || !g.source.includes('filesystem.allow')) continue;
    if (!g.path.startsWith(home + path.sep) || fs.existsSync(g.path)) continue;
    try {
      fs.mkdirSync(g.path, { recursive: true, mode: 0o700 });
    } catch {
      /* left to the compiler's warning */
    }
  }
}

export function startSession(opts: SessionOptions): RunningSession {
  const addon = loadAddon();
  const abi = addon.landlockAbi();
  if (abi < 1) throw new PolicyError(landlockUnavailableMessage());
  for (const [what, p] of Object.entries(nativePaths)) {
    if (!fs.existsSync(p)) throw new Error(`nono's ${what} is missing (${p}); run \`npm install\` in ${path.dirname(path.dirname(p))}`);
  }
  const session = createSession();
  let platform: LinuxPlatform | undefined;
  try {
    const home = opts.home ?? os.homedir();
    const approvals = opts.approvalsFile ?? approvalsFile(home);
    const policy = resolveProfile(opts.profile ?? 'default', {
      home,
      approvalsFile: approvals,
      workdir: path.resolve(opts.workdir),
      tmpdir: session.privateTmp,
      cli: opts.cli,
      userProfileDir: opts.userProfileDir,
      runtimeDirs: [packageRoot],
    });
    createProfileDirs(policy, home);
    const { mode, notices } = chooseNetworkMode(policy.network, { abi, guard: addon.connectGuardSupported(), proxy: opts.proxy !== undefined });
    // Proxy mode: the proxy's port is the one TCP port commands may connect to (besides loopback
    // allow_tcp_connect ports); it goes into the ruleset every command gets.
    const commandNetwork = mode.kind === 'proxy' ? { ...policy.network, proxyPort: opts.proxy!.port } : policy.network;
    // Live approval shares each command's one seccomp listener with the connect guard of proxy
    // mode (shim/addon/command_listener.h), so it works in every network mode the kernel offers.
    // On unless turned off (false); where this kernel cannot, denied commands are re-run instead.
    const kernelMissing = opts.liveApproval === false ? null : addon.liveApprovalSupported();
    const live =
      opts.liveApproval === false
        ? ({ active: false, why: 'turned off (--no-live-approval)' } as const)
        : kernelMissing === null
          ? ({ active: true } as const)
          : ({ active: false, why: `this kernel lacks ${kernelMissing}` } as const);
    const log = opts.verbose ? (opts.log ?? ((l: string) => process.stderr.write(`nono: ${l}\n`))) : () => {};
    // NONO_DENIAL_SOURCE=stderr keeps to the commands' own messages even where records exist.
    const source = opts.denialSource ?? (process.env.NONO_DENIAL_SOURCE === 'stderr' ? 'stderr' : 'auto');
    const auditDenials = source === 'auto' ? AuditDenialSource.open(addon, abi) : undefined;
    platform = new LinuxPlatform({
      addon,
      policy: { ...policy, network: commandNetwork },
      abi,
      live: live.active,
      auditDenials,
      watchdog: new Watchdog(log),
    });
    const commandPolicy = platform.policy.current.compiled;
    const compileAgent = () => compileLandlock(policy, { abi, scoped: AGENT_SCOPES, target: 'agent' });
    let agentPolicy = compileAgent();
    const agentProgramGrants = opts.agentProgram ? grantAgentProgram(policy, landlockJudge(agentPolicy), opts.agentProgram) : [];
    if (agentProgramGrants.length) agentPolicy = compileAgent();
    for (const g of agentProgramGrants) log(`agent sandbox: read and run ${g.path} (${g.why})`);
    const audit = new AuditLog(opts.auditFile === undefined ? auditFile(home) : opts.auditFile || undefined, session.id);
    audit.write({
      type: 'session',
      cwd: path.resolve(opts.workdir),
      profile: policy.chain.join(' <- '),
      policy: platform.policy.current.digest,
      argv: opts.argv ?? [],
      ...(agentProgramGrants.length ? { agentProgram: agentProgramGrants } : {}),
    });
    const denials = new DenialHandler({
      mode: opts.onDenial === 'prompt' && opts.prompter ? 'prompt' : 'deny',
      prompter: opts.prompter,
      audit,
      approvalsFile: approvals,
      log,
    });
    const shells = findRealShells(process.env.PATH ?? '/usr/bin:/bin', nativePaths.client);
    log(
      live.active
        ? 'live approval: on (a denied file operation waits for the answer; denied TCP and what is not trapped are asked about after the exit and re-run)'
        : `live approval: off (${live.why}); denied commands are asked about after they exit and re-run`,
    );
    log(`denials are read from ${auditDenials ? "Landlock's audit records (exact)" : "the commands' stderr"}`);
    const network = mode.kind === 'proxy' ? new SessionNetwork(opts.proxy!, commandNetwork, { denials, audit, questionTimeoutMs: opts.hostQuestionTimeoutMs, log }) : undefined;
    if (!network) void opts.proxy?.close();
    log(`network: ${mode.kind}${mode.kind === 'proxy' ? ` on 127.0.0.1:${opts.proxy!.port}${mode.guarded ? '' : ' (no native connect check)'}` : mode.kind === 'blocked' ? ` (${mode.why})` : ''}`);
    const supervisor = new Supervisor({
      addon,
      session,
      platform,
      denials,
      audit,
      shells,
      realShell: userShell(),
      clientPath: nativePaths.client,
      proxyBinDir,
      scrubEnv: policy.scrubEnv,
      network,
      liveQuestionTimeoutMs: opts.liveQuestionTimeoutMs,
      log,
      onCommandEnd: opts.onCommandEnd,
    });
    supervisor.start();
    const preloadWatch = new PreloadWatch(addon, path.join(session.dir, 'handshake'), log);
    preloadWatch.start();
    log(
      `session ${session.id}: Landlock ABI ${abi}, ${commandPolicy.rules.length} rules, ${mode.kind === 'proxy' ? `network through the proxy${mode.guarded ? ' (connect guard on)' : ' (no connect guard)'}` : `TCP ${mode.kind}`}, socket ${session.socketPath}`,
    );
    const agentEnv: Record<string, string> = {
      NONO_SOCKET: session.socketPath,
      NONO_SESSION_SECRET: session.secret,
      NONO_SESSION_ID: session.id,
      NONO_SHELL_CLIENT: nativePaths.client,
      NONO_HANDSHAKE: preloadWatch.socketPath,
      SHELL: path.join(proxyBinDir, 'bash'),
      TMPDIR: session.privateTmp,
    };
    const linux = platform;
    return {
      platform: 'linux',
      session,
      supervisor,
      preloadWatch,
      policy,
      commandPolicy,
      agentPolicy,
      agentProgramGrants,
      agentJudge: landlockJudge(agentPolicy),
      agentEnv,
      network: { mode, notices, proxyPort: network?.port },
      warnings: [...new Set([...commandPolicy.warnings, ...agentPolicy.warnings])],
      live,
      audit,
      close() {
        preloadWatch.stop();
        supervisor.stop();
        void network?.close();
        linux.close();
        audit.close();
        session.cleanup();
      },
    };
  } catch (e) {
    platform?.close();
    void opts.proxy?.close();
    session.cleanup();
    throw e;
  }
}
