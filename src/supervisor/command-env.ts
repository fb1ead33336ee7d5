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

/** Proxy settings a program might take from its environment: replaced by nono's in proxy mode
 * (any other proxy would be refused by the sandbox anyway, and would hide which host is asked). */
const PROXY_VARS = /^(https?_proxy|all_proxy|no_proxy|ftp_proxy|rsync_proxy|socks_proxy|socks5_server|npm_config_(https?_)?proxy|npm_config_no_?proxy|yarn_https?_proxy|pip_proxy|cargo_http_proxy|git_proxy_command|node_use_env_proxy)$/i;

/** The session proxy, as one command reaches it (its own credentials in the URLs). */
export interface ProxyEnv {
  /** http://nono:TOKEN@127.0.0.1:PORT */
  httpUrl: string;
  /** socks5h://nono:TOKEN@127.0.0.1:PORT (the "h": the proxy resolves names, not the command) */
  socksUrl: string;
  /** Loopback ports the command may reach directly (allow_tcp_connect). */
  directPorts: readonly number[];
}

export interface CommandEnvOptions {
  realShell: string;
  proxyBinDir: string;
  /** The profile's environment.scrub: names, or prefixes ending in *. */
  scrub?: readonly string[];
  /** Proxy mode: the variables that send git, npm, pip, curl... through the session proxy. */
  proxy?: ProxyEnv;
}

/** Upper and lower case: curl reads only http_proxy in lower case, others prefer upper case. */
export function proxyVariables(p: ProxyEnv): string[] {
  const noProxy = p.directPorts.flatMap((port) => [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]).join(',');
  const vars: Array<[string, string]> = [
    ['HTTP_PROXY', p.httpUrl],
    ['HTTPS_PROXY', p.httpUrl],
    ['ALL_PROXY', p.socksUrl],
    ...(noProxy ? ([['NO_PROXY', noProxy]] as Array<[string, string]>) : []),
  ];
  // Node >= 24 sends fetch() and http through these only when asked to.
  return [...vars.flatMap(([k, v]) => [`${k}=${v}`, `${k.toLowerCase()}=${v}`]), 'NODE_USE_ENV_PROXY=1'];
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
    if (opts.proxy && PROXY_VARS.test(name)) continue;
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
  if (opts.proxy) out.push(...proxyVariables(opts.proxy));
  return out;
}
