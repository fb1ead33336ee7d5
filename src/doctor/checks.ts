// The checks of `nono doctor`, each a real attempt rather than a guess from files: the addon is
// loaded, the interposer is preloaded into a real child, the exec helper really enters a Landlock
// domain, and a real session runs a real command through proxy-bin/bash. Each check returns a
// status and, when not ok, one line saying what to do. None of them throws.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { loadAddon, type NativeAddon } from '../native/addon.js';
import { nativePaths, packageRoot, proxyBinDir } from '../native/paths.js';
import { AGENT_SCOPES, COMMAND_SCOPES, compileLandlock } from '../policy/landlock-compiler.js';
import { resolveProfile } from '../policy/resolve-profile.js';
import { preloadablePath } from '../supervisor/preload-path.js';
import { startSession } from '../supervisor/start-session.js';
import type { RouteEnvironment } from './routes.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** One line: what to do. null when the check is ok. */
  fix: string | null;
}

const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail, fix: null });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'fail', detail, fix });

const REBUILD = `run \`npm install\` in ${packageRoot} (it builds the native parts with cmake-js)`;
/** No single probe may hang doctor. */
const PROBE_TIMEOUT_MS = 15_000;

const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';
const msg = (e: unknown) => (e as Error).message.replace(/^nono: /, '');

const LANDLOCK_FEATURES: Array<[number, string]> = [
  [1, 'filesystem rules'],
  [2, 'cross-directory rename and link (2+)'],
  [3, 'truncate (3+)'],
  [4, 'TCP bind/connect rules (4+)'],
  [5, 'device ioctl (5+)'],
  [6, 'signal and abstract Unix socket scoping (6+)'],
  [7, 'audit logging of denials (7+)'],
];

export function landlockFeatures(abi: number): string[] {
  return LANDLOCK_FEATURES.filter(([n]) => abi >= n).map(([, f]) => f);
}

export function checkPlatform(): Check {
  const where = `${process.platform} ${process.arch}, kernel ${os.release()}, Node.js ${process.versions.node}`;
  if (process.platform === 'linux' || process.platform === 'darwin') return ok('platform', where);
  return fail('platform', `${where}: nono sandboxes with Landlock (Linux) or Seatbelt (macOS) only`, 'run nono on Linux or macOS');
}

export function checkBackend(addon: NativeAddon | undefined, addonError: string | undefined): { check: Check; abi: number } {
  const name = 'sandbox-backend';
  if (process.platform === 'darwin') {
    const missing = ['/usr/bin/sandbox-exec', '/usr/bin/log'].filter((p) => !fs.existsSync(p));
    if (missing.length) return { check: fail(name, `Seatbelt tools missing: ${missing.join(', ')}`, 'these ship with macOS; check the system installation'), abi: 0 };
    return { check: ok(name, 'Seatbelt: /usr/bin/sandbox-exec and /usr/bin/log are present'), abi: 0 };
  }
  if (process.platform !== 'linux') return { check: fail(name, 'no supported sandbox on this platform', 'run nono on Linux or macOS'), abi: 0 };
  if (!addon) return { check: fail(name, `cannot ask the kernel for its Landlock ABI: ${addonError}`, REBUILD), abi: 0 };
  let abi: number;
  try {
    abi = addon.landlockAbi();
  } catch (e) {
    return { check: fail(name, `cannot ask the kernel for its Landlock ABI: ${msg(e)}`, REBUILD), abi: 0 };
  }
  const detail = `Landlock ABI ${abi}: ${landlockFeatures(abi).join(', ')}`;
  if (abi < 1) {
    return {
      check: fail(name, 'this kernel does not offer Landlock (or it is disabled): nono cannot sandbox anything',
        'use Linux 5.13+ with CONFIG_SECURITY_LANDLOCK=y and "landlock" in the lsm= boot parameter'),
      abi,
    };
  }
  if (abi < 4) {
    return { check: warn(name, `${detail}; no TCP rules: commands can open TCP connections whatever the profile says`, 'use Linux 6.7+ (Landlock ABI 4) for TCP blocking'), abi };
  }
  if (abi < 6) {
    return {
      check: warn(name, `${detail}; no scoping: commands can signal processes outside their sandbox and reach abstract Unix sockets`, 'use Linux 6.12+ (Landlock ABI 6) for scoping'),
      abi,
    };
  }
  return { check: ok(name, detail), abi };
}

/** Live approval (on by default in `nono run`): whether this kernel can hold a denied file
 * operation while the person is asked. Never a warning: without it, denied commands are re-run. */
export function checkLiveApproval(addon: NativeAddon | undefined): Check {
  const name = 'live-approval';
  if (process.platform !== 'linux') return ok(name, 'not on this platform (Linux only): denied commands are asked about after they exit and re-run with the grant');
  const missing = addon ? addon.liveApprovalSupported() : 'the native addon';
  if (missing !== null) return ok(name, `not available (this kernel lacks ${missing}): denied commands are asked about after they exit and re-run with the grant`);
  return ok(
    name,
    'active: in `nono run`, a command the sandbox denies a file operation (open, create, delete, rename, link, truncate) waits while you are asked, and goes on without a re-run (`--no-live-approval` turns it off)',
  );
}

export function checkAddon(): { check: Check; addon?: NativeAddon; error?: string } {
  try {
    const addon = loadAddon();
    return { check: ok('native-addon', `loaded ${nativePaths.addon}`), addon };
  } catch (e) {
    return { check: fail('native-addon', `cannot load the native addon: ${msg(e)}`, REBUILD), error: msg(e) };
  }
}

/** Environment for probes: the user's, without anything of a nono session it may run inside. */
function probeEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('NONO_') && k !== 'LD_PRELOAD' && k !== 'LD_AUDIT') env[k] = v;
  }
  return { ...env, ...extra };
}

export async function checkInterposer(): Promise<Check> {
  const name = 'interposer';
  const lib = nativePaths.interposer;
  if (!fs.existsSync(lib)) return fail(name, `${lib} is missing (nono run refuses to start without it)`, REBUILD);
  if (process.platform !== 'linux') return warn(name, `${lib} present; loading it is only checked on Linux so far`, 'none yet on this platform');
  // NONO_HANDSHAKE and NONO_SHELL_CLIENT unset: the library loads in pass-through mode, so this
  // only proves the loader accepts it.
  const r = await execa('/bin/true', [], { env: probeEnv({ LD_PRELOAD: lib }), extendEnv: false, reject: false, timeout: PROBE_TIMEOUT_MS });
  const loaderError = /cannot be preloaded|ld\.so|error while loading/i.test(r.stderr);
  if (r.exitCode !== 0 || loaderError) {
    return warn(name, `the loader refused ${lib}: ${firstLine(r.stderr) || r.shortMessage}`, `${REBUILD}; until then only the SHELL and PATH proxies route commands`);
  }
  return ok(name, `${lib} loads (LD_PRELOAD into /bin/true)`);
}

export async function checkExecHelper(abi: number): Promise<Check> {
  const name = 'exec-helper';
  const helper = nativePaths.execHelper;
  if (!fs.existsSync(helper)) return fail(name, `${helper} is missing: the agent itself cannot be sandboxed`, REBUILD);
  if (process.platform !== 'linux') return warn(name, `${helper} present; only run on Linux`, 'none yet on this platform');
  if (abi < 1) return fail(name, 'not run: no Landlock on this kernel', 'see sandbox-backend');
  // A real domain that handles EXECUTE and grants it on /: proves the helper builds a ruleset,
  // restricts itself and still execs (handling EXECUTE with no rule would refuse the exec).
  const r = await execa(helper, ['--handled-fs', '1', '--path', '1:/', '--', '/bin/true'], {
    env: probeEnv({}),
    extendEnv: false,
    reject: false,
    timeout: PROBE_TIMEOUT_MS,
  });
  if (r.exitCode !== 0) {
    return fail(name, `${path.basename(helper)} failed (exit ${r.exitCode ?? r.signal}): ${firstLine(r.stderr) || r.shortMessage}`, REBUILD);
  }
  return ok(name, `${helper} entered a Landlock domain and ran /bin/true`);
}

export function checkProxyEntries(): { check: Check; bash: RouteEnvironment['proxyBash']; prefixEntry: boolean } {
  const name = 'proxy-entries';
  const client = nativePaths.client;
  const bash = path.join(proxyBinDir, 'bash');
  let clientReal: string;
  try {
    fs.accessSync(client, fs.constants.X_OK);
    clientReal = fs.realpathSync(client);
  } catch {
    const why = `${client} (nono-shell) is missing or not executable`;
    return { check: fail(name, why, REBUILD), bash: { ok: false, why }, prefixEntry: false };
  }
  const leadsToClient = (p: string) => {
    try {
      return fs.realpathSync(p) === clientReal;
    } catch {
      return false;
    }
  };
  const broken = ['bash', 'sh', 'path/bash', 'path/sh'].map((n) => path.join(proxyBinDir, n)).filter((p) => !leadsToClient(p));
  if (broken.length) {
    const why = `${broken.join(', ')} missing or not leading to ${client}`;
    return {
      check: fail(name, why, `restore them: \`ln -sf ../native/nono-shell ${path.join(proxyBinDir, 'bash')}\` (and sh), or reinstall nono`),
      bash: { ok: false, why },
      prefixEntry: leadsToClient(path.join(proxyBinDir, 'nono-prefix')),
    };
  }
  const prefixEntry = leadsToClient(path.join(proxyBinDir, 'nono-prefix'));
  // Claude Code decides a shell's flavour by substring and tests "zsh" first.
  if (bash.includes('zsh')) {
    return {
      check: warn(name, `${bash} leads to nono-shell, but its path contains "zsh": Claude Code would take it for zsh`, 'install nono in a directory whose path does not contain "zsh"'),
      bash: { ok: true, path: bash },
      prefixEntry,
    };
  }
  return {
    check: ok(name, `${bash} and proxy-bin/sh lead to ${client}; the path contains "bash" and not "zsh"${prefixEntry ? '' : ' (proxy-bin/nono-prefix missing: --shell-prefix unavailable)'}`),
    bash: { ok: true, path: bash },
    prefixEntry,
  };
}

export function checkProfile(profile: string, abi: number): Check {
  const name = 'profile';
  try {
    const policy = resolveProfile(profile, {
      home: os.homedir(),
      workdir: process.cwd(),
      tmpdir: os.tmpdir(),
      runtimeDirs: [packageRoot],
    });
    let extra = '';
    if (abi >= 1) {
      const commands = compileLandlock(policy, { abi, scoped: COMMAND_SCOPES });
      const agent = compileLandlock(policy, { abi, scoped: AGENT_SCOPES, target: 'agent' });
      const warnings = new Set([...commands.warnings, ...agent.warnings]).size;
      extra = `, ${commands.rules.length} Landlock rules for commands${warnings ? `, ${warnings} warning(s): see \`nono profile show ${profile}\`` : ''}`;
    }
    return ok(name, `profile ${policy.name} (${policy.chain.join(' <- ')}) is valid here: TCP ${policy.network.blockTcp ? 'blocked' : 'open'} for commands${extra}`);
  } catch (e) {
    return fail(name, `profile ${profile}: ${msg(e)}`, '`nono profile list` lists the profiles; `nono profile show NAME` shows what one resolves to');
  }
}

/**
 * A real session (default profile, throw-away working directory): a command through
 * proxy-bin/bash must come back with its output and be refused a write outside its sandbox; a
 * dynamic test child started with the interposer must say hello on the handshake socket.
 */
export async function checkLiveSession(ready: boolean, why: string): Promise<{ roundTrip: Check; handshake: Check }> {
  if (!ready) {
    return {
      roundTrip: fail('round-trip', `not run: ${why}`, 'fix the failed checks above first'),
      handshake: fail('preload-handshake', `not run: ${why}`, 'fix the failed checks above first'),
    };
  }
  const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nono-doctor-')));
  const workdir = path.join(base, 'work');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(workdir);
  fs.mkdirSync(outside);
  let records = 0;
  let session: ReturnType<typeof startSession> | undefined;
  try {
    try {
      session = startSession({ workdir, profile: 'default', verbose: false, onCommandEnd: () => records++ });
    } catch (e) {
      const detail = `cannot start a session: ${msg(e)}`;
      return { roundTrip: fail('round-trip', detail, REBUILD), handshake: fail('preload-handshake', `not run: ${detail}`, REBUILD) };
    }
    const roundTrip = await roundTripCheck(session, workdir, outside, () => records);
    const handshake = await handshakeCheck(session);
    return { roundTrip, handshake };
  } finally {
    session?.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

async function roundTripCheck(s: ReturnType<typeof startSession>, workdir: string, outside: string, records: () => number): Promise<Check> {
  const name = 'round-trip';
  const bash = path.join(proxyBinDir, 'bash');
  const probe = path.join(outside, 'probe');
  const started = Date.now();
  const r = await execa(bash, ['-c', `echo ok; echo x 2>/dev/null > '${probe}'`], {
    cwd: workdir,
    env: { PATH: `${proxyBinDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: os.homedir(), LANG: process.env.LANG ?? 'C.UTF-8', ...s.agentEnv },
    extendEnv: false,
    reject: false,
    timeout: PROBE_TIMEOUT_MS,
  });
  const ms = Date.now() - started;
  if (r.stdout.trim() !== 'ok') {
    return fail(name, `proxy-bin/bash -c 'echo ok' gave ${JSON.stringify(r.stdout.trim())} (exit ${r.exitCode ?? r.signal}): ${firstLine(r.stderr) || r.shortMessage}`, REBUILD);
  }
  if (fs.existsSync(probe)) {
    return fail(name, `the command wrote ${probe}, outside its working directory: it was not sandboxed`, 'report this: nono-shell ran a command without its Landlock domain');
  }
  for (let i = 0; i < 50 && records() === 0; i++) await new Promise((res) => setTimeout(res, 10));
  if (records() === 0) return fail(name, 'the command ran but the supervisor saw no command: it did not go through nono', REBUILD);
  return ok(name, `proxy-bin/bash -c 'echo ok' ran through the supervisor in a Landlock sandbox (a write outside it was refused) in ${ms} ms`);
}

async function handshakeCheck(s: ReturnType<typeof startSession>): Promise<Check> {
  const name = 'preload-handshake';
  if (process.platform !== 'linux') return warn(name, 'only checked on Linux so far', 'none yet on this platform');
  let preload: string;
  try {
    preload = preloadablePath(s.session.dir);
  } catch (e) {
    return warn(name, (e as Error).message, 'move nono to a path without spaces or colons');
  }
  const child = execa('/bin/sleep', ['0.2'], {
    env: probeEnv({
      LD_PRELOAD: preload,
      NONO_HANDSHAKE: s.preloadWatch.socketPath,
      NONO_SHELL_CLIENT: nativePaths.client,
    }),
    extendEnv: false,
    reject: false,
    timeout: PROBE_TIMEOUT_MS,
  });
  const pid = child.pid;
  const r = await child;
  // The datagram is read on this process's event loop: give it a moment after the child exits.
  for (let i = 0; i < 100 && pid !== undefined && !s.preloadWatch.hasLoaded(pid); i++) await new Promise((res) => setTimeout(res, 10));
  if (pid !== undefined && s.preloadWatch.hasLoaded(pid)) {
    return ok(name, `a test child (/bin/sleep, pid ${pid}) loaded the interposer and reported on the handshake socket`);
  }
  return warn(
    name,
    `a test child (/bin/sleep) started with LD_PRELOAD did not report loading the interposer${r.stderr ? ` (${firstLine(r.stderr)})` : ''}`,
    `${REBUILD}; until then nono cannot confirm which processes it reaches`,
  );
}
