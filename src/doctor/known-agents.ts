// What is known of how each supported agent starts its shell commands (measured with strace and an
// LD_PRELOAD logger; see the project's reference notes on agents). Doctor turns this into routes:
// which of nono's entry points will see each kind of command the agent starts.

export type KnownAgentId = 'claude-code' | 'gemini-cli' | 'codex';

/** nono's ways to reach nono-shell. */
export type RouteName = 'preload' | 'shell-proxy' | 'path-proxy' | 'shell-prefix';

export interface CommandSource {
  /** What starts these commands, for the report. */
  what: string;
  /** The routes that catch them, and why each one does (or the reason it cannot, as `false`). */
  routes: Partial<Record<RouteName, RouteFact>>;
}

export interface RouteFact {
  catches: boolean;
  why: string;
  /**
   * Only true of the agent's native binary: when doctor could not find it behind an npm launcher
   * (and so read the launcher's interpreter instead), this says why the answer is still no.
   */
  nativeOnly?: string;
}

export interface KnownAgent {
  id: KnownAgentId;
  name: string;
  /** npm package names; platform packages (`<name>-linux-x64`...) count too. */
  packages: string[];
  /** Command names as installed. */
  commands: string[];
  /** The built-in profile made for it. */
  profile: string;
  sources: CommandSource[];
  /** Said when no route reaches its commands. */
  onlyAgentSandbox?: string;
}

export const KNOWN_AGENTS: KnownAgent[] = [
  {
    id: 'claude-code',
    name: 'Claude Code',
    packages: ['@anthropic-ai/claude-code'],
    commands: ['claude', 'claude.exe'],
    profile: 'claude-code',
    sources: [
      {
        what: 'Bash tool and `!` commands',
        routes: {
          'shell-proxy': {
            catches: true,
            why: 'Claude Code runs $SHELL when its path contains "bash" or "zsh"; nono sets SHELL=<nono>/proxy-bin/bash',
          },
          preload: {
            catches: true,
            why: 'it starts the shell with vfork + execve of an absolute path, which the interposer rewrites',
          },
          'path-proxy': {
            catches: true,
            why: 'without a usable SHELL it takes `which bash`, and proxy-bin/path comes first on PATH',
          },
          'shell-prefix': {
            catches: true,
            why: 'with `nono run --shell-prefix` (default on macOS) CLAUDE_CODE_SHELL_PREFIX wraps every command',
          },
        },
      },
      {
        what: 'hooks (run with /bin/sh -c, not $SHELL)',
        routes: {
          preload: { catches: true, why: 'the interposer rewrites the /bin/sh start' },
          'shell-prefix': { catches: true, why: 'CLAUDE_CODE_SHELL_PREFIX also wraps hooks' },
          'shell-proxy': { catches: false, why: 'hooks ignore $SHELL' },
          'path-proxy': { catches: false, why: 'hooks name /bin/sh by absolute path' },
        },
      },
    ],
  },
  {
    id: 'gemini-cli',
    name: 'Gemini CLI',
    packages: ['@google/gemini-cli'],
    commands: ['gemini'],
    profile: 'gemini-cli',
    sources: [
      {
        what: 'shell tool and `!` commands',
        routes: {
          'path-proxy': { catches: true, why: 'Gemini CLI runs `bash` looked up on PATH, and proxy-bin/path comes first' },
          preload: { catches: true, why: 'node (node-pty or libuv) starts it with execvp, which the interposer rewrites' },
          'shell-proxy': { catches: false, why: 'Gemini CLI ignores $SHELL' },
          'shell-prefix': { catches: false, why: 'only Claude Code reads CLAUDE_CODE_SHELL_PREFIX' },
        },
      },
      {
        what: 'start-up probes (sh -c ...)',
        routes: {
          preload: { catches: true, why: 'node runs /bin/sh by absolute path; the interposer rewrites it' },
          'path-proxy': { catches: false, why: '/bin/sh is named by absolute path' },
        },
      },
    ],
  },
  {
    id: 'codex',
    name: 'Codex',
    packages: ['@openai/codex'],
    commands: ['codex'],
    profile: 'codex',
    sources: [
      {
        what: 'shell commands (started by the codex app-server daemon)',
        routes: {
          preload: {
            catches: true,
            why: 'the codex binary starts the shells itself, so the preload would have to load into it',
            nativeOnly: "Codex's launcher starts a vendored native binary (published static, musl): LD_PRELOAD never loads into it",
          },
          'shell-proxy': { catches: false, why: 'Codex ignores $SHELL: it runs the login shell from the passwd entry' },
          'path-proxy': { catches: false, why: 'the login shell from the passwd entry is used by its own path' },
          'shell-prefix': { catches: false, why: 'only Claude Code reads CLAUDE_CODE_SHELL_PREFIX' },
        },
      },
    ],
    onlyAgentSandbox:
      "no per-command sandbox reaches Codex's commands. Only the agent-level sandbox is left: they run inside the agent's own Landlock domain " +
      '(the profile\'s file rules plus what Codex itself needs, and the network). If a `codex app-server` started outside nono is still ' +
      'running, Codex hands commands to it and they are not sandboxed at all: stop it before `nono run`.',
  },
];

export function knownAgentById(id: KnownAgentId): KnownAgent {
  return KNOWN_AGENTS.find((a) => a.id === id)!;
}

/** Identify an agent by its npm package, else by the name it was typed as or installed under. */
export function identifyAgent(facts: { packageName?: string; names: string[] }): KnownAgent | undefined {
  if (facts.packageName) {
    const byPkg = KNOWN_AGENTS.find((a) => a.packages.some((p) => facts.packageName === p || facts.packageName!.startsWith(`${p}-`)));
    if (byPkg) return byPkg;
  }
  for (const n of facts.names) {
    const agent = KNOWN_AGENTS.find((a) => a.commands.includes(n));
    if (agent) return agent;
  }
  return undefined;
}
