// `nono doctor` as data: run the checks, read the agent if one was named, decide its routes, and
// reduce it all to one exit status. The CLI only prints this; the JSON form is this object.
import {
  checkAddon,
  checkBackend,
  checkLiveApproval,
  checkExecHelper,
  checkInterposer,
  checkLiveSession,
  checkPlatform,
  checkProfile,
  checkProxyEntries,
  type Check,
} from './checks.js';
import { analyzeExecutable, type ExecutableFormat, type SignatureReport } from './executable.js';
import type { KnownAgentId } from './known-agents.js';
import type { PreloadOutcome } from './preload-verdict.js';
import { resolveAgent } from './resolve-agent.js';
import { planRoutes, type Protection, type RouteEnvironment, type RouteReport } from './routes.js';
import type { SingleFileKind } from './single-file.js';

export interface AgentReport {
  input: string;
  resolved: string | null;
  format: ExecutableFormat | 'missing';
  chain: string[];
  executable: string | null;
  description: string;
  known: KnownAgentId | null;
  singleFile: SingleFileKind | null;
  linkage: 'dynamic' | 'static' | 'static-pie' | null;
  arch: string[];
  /** false: built for another OS or CPU; the verdicts are for the machine it was built for. */
  runsHere: boolean | null;
  signature: SignatureReport[];
  preload: PreloadOutcome;
  reason: string;
  routes: RouteReport[];
  protection: Protection | 'unknown';
  summary: string;
  command: string;
}

export interface DoctorReport {
  ok: boolean;
  exitCode: 0 | 1 | 2;
  checks: Check[];
  agent?: AgentReport;
}

export interface DoctorOptions {
  agent?: string;
  profile?: string;
  /** The user plans `nono run --shell-prefix`. */
  shellPrefix?: boolean;
  /** PATH used to find the agent (default: this process's). */
  pathVar?: string;
}

/** 2: nono cannot run; 1: it runs with less protection than it could give; 0: every needed route works. */
export function exitCodeFor(checks: Check[], agent?: AgentReport): 0 | 1 | 2 {
  if (checks.some((c) => c.status === 'fail')) return 2;
  if (checks.some((c) => c.status === 'warn')) return 1;
  if (agent && (agent.protection !== 'per-command' || agent.runsHere === false)) return 1;
  return 0;
}

const shellQuote = (s: string) => (/^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export function commandLine(input: string, profile: string | undefined, shellPrefix: boolean): string {
  const parts = ['nono', 'run'];
  if (profile && profile !== 'default') parts.push('--profile', shellQuote(profile));
  if (shellPrefix) parts.push('--shell-prefix');
  parts.push('--', shellQuote(input));
  return parts.join(' ');
}

export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const pathVar = opts.pathVar ?? process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  const resolution = opts.agent !== undefined ? resolveAgent(opts.agent, pathVar) : undefined;
  const profile = opts.profile ?? resolution?.known?.profile ?? 'default';

  const checks: Check[] = [checkPlatform()];
  const addon = checkAddon();
  const backend = checkBackend(addon.addon, addon.error);
  checks.push(backend.check, addon.check, checkLiveApproval(addon.addon));
  const interposer = await checkInterposer();
  checks.push(interposer, await checkExecHelper(backend.abi));
  const proxies = checkProxyEntries();
  checks.push(proxies.check);
  const fatal = checks.filter((c) => c.status === 'fail').map((c) => c.name);
  const live = await checkLiveSession(fatal.length === 0, `failed: ${fatal.join(', ')}`);
  checks.push(live.roundTrip, live.handshake, checkProfile(profile, backend.abi));

  let agent: AgentReport | undefined;
  if (resolution) {
    const routeEnv: RouteEnvironment = {
      platform: process.platform,
      interposer:
        interposer.status === 'ok' && live.handshake.status === 'ok'
          ? { ok: true }
          : { ok: false, why: interposer.status !== 'ok' ? interposer.detail : live.handshake.detail },
      proxyBash: proxies.bash,
      prefixEntry: proxies.prefixEntry,
    };
    const explicitProfile = opts.profile ?? resolution.known?.profile;
    if (!resolution.executable) {
      agent = {
        input: resolution.input,
        resolved: resolution.resolved ?? null,
        format: resolution.format,
        chain: resolution.chain,
        executable: null,
        description: resolution.description,
        known: resolution.known?.id ?? null,
        singleFile: null,
        linkage: null,
        arch: [],
        runsHere: null,
        signature: [],
        preload: 'unknown',
        reason: resolution.description,
        routes: [],
        protection: 'unknown',
        summary: `${resolution.description}: nothing to check`,
        command: commandLine(resolution.input, explicitProfile, false),
      };
    } else {
      const exe = analyzeExecutable(resolution.executable, { pathVar, detectSingleFile: true });
      const plan = planRoutes({
        known: resolution.known,
        exe,
        env: routeEnv,
        shellPrefixRequested: opts.shellPrefix,
        exeIsInterpreter: resolution.executableRole === 'interpreter',
      });
      const description = exe.singleFile
        ? `${resolution.description} (${exe.singleFile === 'bun' ? 'a Bun' : 'a Node'} single-file executable)`
        : resolution.description;
      agent = {
        input: resolution.input,
        resolved: resolution.resolved ?? null,
        format: resolution.format,
        chain: resolution.chain,
        executable: exe.path,
        description: resolution.known ? `${resolution.known.name}: ${description}` : description,
        known: resolution.known?.id ?? null,
        singleFile: exe.singleFile ?? null,
        linkage: exe.linkage ?? null,
        arch: exe.arch,
        runsHere: exe.runsHere ?? null,
        signature: exe.signature,
        preload: exe.preload,
        reason: exe.reason,
        routes: plan.routes,
        protection: plan.protection,
        summary:
          exe.runsHere === false
            ? `${exe.path} (${exe.format}, ${exe.arch.join(' + ')}) cannot run on this ${process.platform} ${process.arch} machine; on one it runs on: ${plan.summary}`
            : plan.summary,
        command: commandLine(resolution.input, explicitProfile, plan.shellPrefix),
      };
    }
  }
  const exitCode = exitCodeFor(checks, agent);
  return { ok: exitCode === 0, exitCode, checks, ...(agent ? { agent } : {}) };
}
