// Assembles a session on macOS: the same profile, prompts, audit log, proxy and supervisor as on
// Linux, with the Seatbelt backend (platform/darwin.ts) in place of Landlock: commands run under
// nono-seatbelt-exec with the command SBPL, the agent gets an SBPL of its own (target 'agent'),
// denials come from the unified log (SeatbeltDenialMonitor, started before the first command)
// and from the commands' stderr, and the interposer reports itself on the stream handshake.
// NEVER RUN ON A MAC: on Linux the tests run this with the doubles for the helper and the log.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAddon } from '../native/addon.js';
import { nativePaths, packageRoot, proxyBinDir } from '../native/paths.js';
import { findRealShells } from '../nono-shell/real-shells.js';
import { grantAgentProgram } from '../policy/agent-program.js';
import { seatbeltJudge } from '../policy/agent-program-seatbelt.js';
import { approvalsFile } from '../policy/approvals.js';
import { resolveProfile } from '../policy/resolve-profile.js';
import { compileSeatbelt, type CompiledSeatbelt } from '../policy/seatbelt-compiler.js';
import { AuditLog, auditFile } from './audit-log.js';
import { DenialHandler } from './denial-handler.js';
import { SeatbeltDenialMonitor } from './denials/seatbelt-monitor.js';
import { chooseNetworkMode } from './network/network-mode.js';
import { SessionNetwork } from './network/session-network.js';
import { DarwinPlatform } from './platform/darwin.js';
import { logDeps } from './platform/darwin-log.js';
import { ancestorsWith } from './platform/process-table.js';
import type { DarwinBackend } from './platform/select.js';
import { PreloadWatch } from './preload-watch.js';
import { createSession } from './session.js';
import { createProfileDirs, userShell, type RunningSession, type SessionOptions } from './start-session.js';
import { Supervisor } from './supervisor.js';
import { Watchdog } from './watchdog.js';

export interface DarwinRunningSession extends Omit<RunningSession, 'platform' | 'commandPolicy' | 'agentPolicy'> {
  platform: 'darwin';
  backend: DarwinBackend;
  /** The session tag every deny carries (the log is filtered on it). */
  tag: string;
  /** The command SBPL at the start (grants at prompts compile new ones). */
  commandSeatbelt: CompiledSeatbelt;
  /** The agent's own SBPL, and the file nono-seatbelt-exec reads it from. */
  agentSeatbelt: CompiledSeatbelt;
  agentProfileFile: string;
  platformBackend: DarwinPlatform;
}

export async function startDarwinSession(opts: SessionOptions, backend: DarwinBackend): Promise<DarwinRunningSession> {
  const addon = loadAddon();
  for (const [what, p] of Object.entries({ addon: nativePaths.addon, client: nativePaths.client, 'Seatbelt exec helper': backend.helper })) {
    if (!fs.existsSync(p)) throw new Error(`nono's ${what} is missing (${p}); run \`npm install\` in ${packageRoot}`);
  }
  const session = createSession();
  let platform: DarwinPlatform | undefined;
  try {
    const home = opts.home ?? os.homedir();
    const approvals = opts.approvalsFile ?? approvalsFile(home);
    const workdir = path.resolve(opts.workdir);
    const policy = resolveProfile(opts.profile ?? 'default', {
      home,
      approvalsFile: approvals,
      workdir,
      tmpdir: session.privateTmp,
      cli: opts.cli,
      userProfileDir: opts.userProfileDir,
      runtimeDirs: [packageRoot],
    });
    createProfileDirs(policy, home);
    // Seatbelt restricts outbound TCP by host and port, so the proxy's port can be limited to
    // loopback without a native connect check: the same choice as a Linux kernel with the guard.
    const { mode, notices } = chooseNetworkMode(policy.network, { abi: Number.MAX_SAFE_INTEGER, guard: true, proxy: opts.proxy !== undefined });
    const commandNetwork = mode.kind === 'proxy' ? { ...policy.network, proxyPort: opts.proxy!.port } : policy.network;
    const log = opts.verbose ? (opts.log ?? ((l: string) => process.stderr.write(`nono: ${l}\n`))) : () => {};
    const tag = `nono-${session.id}`;
    const profileDir = path.join(session.dir, 'profiles');
    const monitor = new SeatbeltDenialMonitor({ ...logDeps(backend.logBinary), pidsOf: (pid) => platform!.pidsOf(pid), tag });
    platform = new DarwinPlatform({
      addon,
      policy: { ...policy, network: commandNetwork },
      profileDir,
      tag,
      helper: backend.helper,
      socketPath: session.socketPath,
      monitor,
      processTable: backend.processTable,
      // macOS has no parent-death signal: without the watchdog a crashed supervisor's commands run on.
      watchdog: new Watchdog(log),
      log,
    });
    const started = await monitor.start();
    const warnings: string[] = [];
    if (!started.ready) warnings.push(`the unified log may miss denials (${started.reason}); nono reads the commands' stderr and \`log show\` instead`);
    log(`denials are read from the unified log (${started.ready ? 'streaming' : started.reason}) and the commands' stderr`);

    const handshake = path.join(session.dir, 'handshake');
    const compileAgent = () => compileSeatbelt(policy, { tag, target: 'agent', allowUnixSockets: [session.socketPath, handshake] });
    let agentSeatbelt = compileAgent();
    // Wherever the agent is installed (an npm prefix, a Homebrew keg...), its SBPL lets it read
    // and run exactly its own program, as on Linux (src/policy/agent-program.ts).
    const agentProgramGrants = opts.agentProgram ? grantAgentProgram(policy, seatbeltJudge(agentSeatbelt, policy), opts.agentProgram) : [];
    if (agentProgramGrants.length) agentSeatbelt = compileAgent();
    for (const g of agentProgramGrants) log(`agent sandbox: read and run ${g.path} (${g.why})`);
    const agentProfileFile = path.join(profileDir, 'agent.sb');
    fs.writeFileSync(agentProfileFile, agentSeatbelt.sbpl, { mode: 0o600 });

    const audit = new AuditLog(opts.auditFile === undefined ? auditFile(home) : opts.auditFile || undefined, session.id);
    audit.write({
      type: 'session',
      cwd: workdir,
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
    const network = mode.kind === 'proxy' ? new SessionNetwork(opts.proxy!, commandNetwork, { denials, audit, questionTimeoutMs: opts.hostQuestionTimeoutMs, log }) : undefined;
    if (!network) void opts.proxy?.close();
    const supervisor = new Supervisor({
      addon,
      session,
      platform,
      denials,
      audit,
      shells: findRealShells(process.env.PATH ?? '/usr/bin:/bin', nativePaths.client),
      realShell: userShell(),
      clientPath: nativePaths.client,
      proxyBinDir,
      scrubEnv: policy.scrubEnv,
      network,
      log,
      onCommandEnd: opts.onCommandEnd,
    });
    supervisor.start();
    const preloadWatch = new PreloadWatch(addon, handshake, log, 'stream', (pid) => ancestorsWith(backend.processTable, pid));
    preloadWatch.start();
    const commandSeatbelt = platform.policy.current.compiled;
    log(`session ${session.id}: Seatbelt, ${commandSeatbelt.rules.length} command rules, agent profile ${agentProfileFile}, network ${mode.kind}, socket ${session.socketPath}`);
    const agentEnv: Record<string, string> = {
      NONO_SOCKET: session.socketPath,
      NONO_SESSION_SECRET: session.secret,
      NONO_SESSION_ID: session.id,
      NONO_SHELL_CLIENT: nativePaths.client,
      NONO_HANDSHAKE: handshake,
      SHELL: path.join(proxyBinDir, 'bash'),
      TMPDIR: session.privateTmp,
    };
    const live = platform;
    return {
      platform: 'darwin',
      backend,
      tag,
      session,
      supervisor,
      preloadWatch,
      policy,
      commandSeatbelt,
      agentSeatbelt,
      agentProfileFile,
      agentProgramGrants,
      live: { active: false, why: 'it is built on Linux seccomp user notifications, which macOS does not have' },
      agentJudge: seatbeltJudge(agentSeatbelt, policy),
      agentEnv,
      network: { mode, notices, proxyPort: network?.port },
      warnings: [...new Set([...warnings, ...commandSeatbelt.warnings, ...agentSeatbelt.warnings])],
      audit,
      platformBackend: live,
      close() {
        preloadWatch.stop();
        supervisor.stop();
        void network?.close();
        live.close();
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
