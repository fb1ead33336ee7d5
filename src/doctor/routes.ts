// Which of nono's routes will carry an agent's shell commands: a route works when the agent uses
// that way to start its shells (known agents: measured; others: the preload is the only route we
// can vouch for) AND nono's side of it works here (interposer loads, proxy entries in place) AND,
// for the preload, the agent's own executable lets the loader honour it.
import os from 'node:os';
import type { ExecutableReport } from './executable.js';
import type { CommandSource, KnownAgent, RouteName } from './known-agents.js';

export interface RouteEnvironment {
  platform: NodeJS.Platform;
  /** The interposer loaded and handshook in a test child; otherwise why not. */
  interposer: { ok: true } | { ok: false; why: string };
  /** proxy-bin/bash exists and leads to nono-shell; otherwise why not. */
  proxyBash: { ok: true; path: string } | { ok: false; why: string };
  /** proxy-bin/nono-prefix (the CLAUDE_CODE_SHELL_PREFIX entry) is in place. */
  prefixEntry: boolean;
}

export interface RouteReport {
  route: RouteName;
  /** true: carries commands; false: does not; null: depends on how an unknown agent picks its shell. */
  works: boolean | null;
  why: string;
}

export type Protection = 'per-command' | 'partial' | 'agent-sandbox-only';

export interface RoutePlan {
  routes: RouteReport[];
  protection: Protection;
  summary: string;
  /** Recommend `--shell-prefix` (Claude Code where the preload cannot reach it, off macOS). */
  shellPrefix: boolean;
}

const ROUTE_ORDER: RouteName[] = ['preload', 'shell-proxy', 'path-proxy', 'shell-prefix'];

/** What we assume of an agent we have no measurements for. */
const UNKNOWN_SOURCES: CommandSource[] = [
  {
    what: 'shell commands',
    routes: {
      preload: { catches: true, why: 'the interposer rewrites execve/execvp/posix_spawn/system/popen of bash, sh, dash and zsh' },
    },
  },
];

/** nono's side of a route, whatever the agent does: null when it is ready, else why not. */
function nonoSide(route: RouteName, env: RouteEnvironment, exe: ExecutableReport, agentName: string): string | null {
  if (route === 'preload') {
    if (!env.interposer.ok) return `nono's interposer does not work here: ${env.interposer.why}`;
    if (exe.preload !== 'loads') return `${agentName}'s executable ${exe.path}: ${exe.reason}`;
    return null;
  }
  if (route === 'shell-prefix') return env.prefixEntry ? null : 'proxy-bin/nono-prefix is missing';
  if (!env.proxyBash.ok) return env.proxyBash.why;
  return null;
}

export function planRoutes(opts: {
  known?: KnownAgent;
  exe: ExecutableReport;
  env: RouteEnvironment;
  /** The user asked for --shell-prefix (or is on macOS, where it is the default). */
  shellPrefixRequested?: boolean;
  /** `exe` is the interpreter of a launcher script, not the agent's own binary. */
  exeIsInterpreter?: boolean;
}): RoutePlan {
  const { known, exe, env } = opts;
  const agentName = known?.name ?? 'the agent';
  const sources = known?.sources ?? UNKNOWN_SOURCES;
  const prefixDefault = env.platform === 'darwin' || Boolean(opts.shellPrefixRequested);

  // Does `route` carry the commands of `source`? true / false, with why; undefined: not used by it.
  const carries = (route: RouteName, source: CommandSource, prefixOn: boolean): { works: boolean; why: string } | undefined => {
    const agentSide = source.routes[route];
    if (!agentSide) return undefined;
    if (!agentSide.catches) return { works: false, why: agentSide.why };
    if (agentSide.nativeOnly && opts.exeIsInterpreter) return { works: false, why: agentSide.nativeOnly };
    const blocked = nonoSide(route, env, exe, agentName);
    if (blocked) return { works: false, why: blocked };
    if (route === 'shell-proxy' && known?.id === 'claude-code' && env.proxyBash.ok && env.proxyBash.path.includes('zsh')) {
      return { works: false, why: `the proxy's path (${env.proxyBash.path}) contains "zsh", so Claude Code would treat it as zsh` };
    }
    if (route === 'shell-prefix' && !prefixOn) return { works: false, why: 'not used: add `--shell-prefix` to `nono run` to use it' };
    return { works: true, why: agentSide.why };
  };
  const covered = (source: CommandSource, prefixOn: boolean) =>
    ROUTE_ORDER.some((r) => carries(r, source, prefixOn)?.works === true);

  let prefixOn = prefixDefault;
  let shellPrefix = false;
  if (!prefixOn && known?.id === 'claude-code' && !sources.every((s) => covered(s, false)) && sources.every((s) => covered(s, true))) {
    prefixOn = true;
    shellPrefix = true;
  }

  const routes: RouteReport[] = ROUTE_ORDER.map((route) => {
    const per = sources.map((s) => carries(route, s, prefixOn)).filter((x): x is { works: boolean; why: string } => x !== undefined);
    if (per.length === 0) {
      if (!known && (route === 'shell-proxy' || route === 'path-proxy')) {
        const blocked = nonoSide(route, env, exe, agentName);
        if (blocked) return { route, works: false, why: blocked };
        return {
          route,
          works: null,
          why:
            route === 'shell-proxy'
              ? 'only if the agent runs $SHELL (nono sets SHELL=<nono>/proxy-bin/bash) and accepts that path'
              : 'only if the agent runs `bash` or `sh` looked up on PATH (proxy-bin/path comes first)',
        };
      }
      return { route, works: false, why: route === 'shell-prefix' ? 'only Claude Code reads CLAUDE_CODE_SHELL_PREFIX' : `${agentName} does not start shells this way` };
    }
    const yes = per.find((p) => p.works);
    return yes ? { route, works: true, why: yes.why } : { route, works: false, why: per[0]!.why };
  });

  if (known?.id === 'codex') {
    const login = passwdShell();
    const pp = routes.find((r) => r.route === 'path-proxy')!;
    if (login && pp.works === false) pp.why += ` (yours: ${login})`;
  }

  const coveredSources = sources.filter((s) => covered(s, prefixOn));
  const unknownMaybe = routes.some((r) => r.works === null);
  let protection: Protection;
  let summary: string;
  if (coveredSources.length === sources.length) {
    protection = 'per-command';
    const how = sources.map((s) => {
      const via = ROUTE_ORDER.filter((r) => carries(r, s, prefixOn)?.works);
      return `${s.what} through ${via.join(', ')}`;
    });
    summary = known
      ? `every command ${agentName} starts reaches nono-shell and runs in its own sandbox: ${how.join('; ')}`
      : `the preload reaches ${exe.path}: every shell it starts through libc (exec*, posix_spawn, system, popen) goes to nono-shell and runs in its own sandbox; a shell started by a raw system call would run only in the agent-level sandbox`;
  } else if (coveredSources.length === 0 && !unknownMaybe) {
    protection = 'agent-sandbox-only';
    summary =
      known?.onlyAgentSandbox ??
      `no route reaches ${agentName}'s commands. Only the agent-level sandbox is left: they run inside the agent's own Landlock domain, not one sandbox per command.`;
  } else {
    protection = 'partial';
    const missing = sources.filter((s) => !covered(s, prefixOn)).map((s) => s.what);
    summary = unknownMaybe
      ? `${agentName} is not one doctor knows: the preload ${routes[0]!.works ? 'reaches it' : 'does not reach it'}; whether SHELL or PATH carry its commands depends on how it picks its shell. Commands no route reaches run only in the agent-level sandbox.`
      : `not every command reaches nono-shell: ${missing.join(', ')} run only in the agent-level sandbox.`;
  }
  return { routes, protection, summary, shellPrefix };
}

/** The login shell from the passwd entry (what Codex runs), for messages. */
export function passwdShell(): string | undefined {
  try {
    return os.userInfo().shell ?? undefined;
  } catch {
    return undefined;
  }
}
