// From a profile name or file to a ResolvedPolicy: load (user profiles in the XDG config dir,
// built-ins, or a file), validate, follow `extends`, expand groups and path variables, and add
// the command-line grants. Every error names the file, the field and what to do.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUILTIN_PROFILES } from './builtin-profiles.js';
import { loadApprovals } from './approvals.js';
import { builtinGroups } from './groups.js';
import { parseHostPattern } from './host-pattern.js';
import { profileSchema, type FilesystemSection, type NetworkSection, type Profile } from './profile-schema.js';
import { PolicyError, type Access, type Deny, type Grant, type NetworkPolicy, type PolicyPart, type ResolvedPolicy } from './resolved-policy.js';

export interface PathContext {
  home: string;
  workdir: string;
  tmpdir: string;
}

/** Grants and network settings given on the command line, added on top of the profile. */
export interface CommandLineAdditions {
  allow?: string[];
  read?: string[];
  write?: string[];
  allowFile?: string[];
  readFile?: string[];
  writeFile?: string[];
  /** true: --allow-net, false: --block-net, undefined: the profile decides. */
  allowNet?: boolean;
  /** --allow-domain: hosts reachable through the session proxy (host-pattern.ts grammar). */
  allowDomains?: string[];
}

export interface ResolveOptions extends PathContext {
  cli?: CommandLineAdditions;
  /** Directory of user profiles; default $XDG_CONFIG_HOME/nono/profiles. */
  userProfileDir?: string;
  /** Always readable (nono's own install: nono-shell must be executable inside sandboxes). */
  runtimeDirs?: string[];
  /** Whose group contents to use; default this machine's (compile for macOS anywhere). */
  platform?: 'linux' | 'darwin';
  /** "Always" answers (approvals.ts), applied on top of the profile; default none. */
  approvalsFile?: string;
}

export function userProfileDir(home = os.homedir()): string {
  const base = process.env.XDG_CONFIG_HOME || path.join(home, '.config');
  return path.join(base, 'nono', 'profiles');
}

interface LoadedProfile {
  name: string;
  /** Where it came from, for messages: "built-in default" or a file path. */
  origin: string;
  profile: Profile;
}

function validate(raw: unknown, origin: string): Profile {
  const parsed = profileSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
  throw new PolicyError(`${origin}: invalid profile\n${lines.join('\n')}`);
}

export function loadProfile(ref: string, userDir: string): LoadedProfile {
  const isFile = ref.includes('/') || ref.endsWith('.json');
  if (!isFile && !/^[A-Za-z0-9._-]+$/.test(ref)) throw new PolicyError(`${ref}: not a profile name (letters, digits, . _ -) or a file path`);
  const file = isFile ? path.resolve(ref) : path.join(userDir, `${ref}.json`);
  if (isFile || fs.existsSync(file)) {
    if (!isFile && BUILTIN_PROFILES[ref]) {
      throw new PolicyError(`${file}: a user profile cannot take the built-in name "${ref}"; rename it and use "extends": "${ref}"`);
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new PolicyError(`${file}: cannot read the profile (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new PolicyError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    return { name: isFile ? path.basename(file, '.json') : ref, origin: file, profile: validate(raw, file) };
  }
  const builtin = BUILTIN_PROFILES[ref];
  if (!builtin) {
    const known = Object.keys(BUILTIN_PROFILES).join(', ');
    throw new PolicyError(`no profile named "${ref}" (built-in: ${known}; user profiles live in ${userDir})`);
  }
  return { name: ref, origin: `built-in ${ref}`, profile: validate(builtin, `built-in ${ref}`) };
}

/** Loads a profile and its extends chain, most basic first. */
function loadChain(ref: string, userDir: string, stack: string[] = []): LoadedProfile[] {
  const loaded = loadProfile(ref, userDir);
  if (stack.includes(loaded.origin)) {
    throw new PolicyError(`cycle in "extends": ${[...stack, loaded.origin].join(' -> ')}`);
  }
  const parents = loaded.profile.extends === undefined ? [] : [loaded.profile.extends].flat();
  const chain: LoadedProfile[] = [];
  for (const p of parents) {
    let parentChain: LoadedProfile[];
    try {
      parentChain = loadChain(p, userDir, [...stack, loaded.origin]);
    } catch (e) {
      // Name the profile that asked for the missing one, not only the missing name.
      if (e instanceof PolicyError && e.message.startsWith('no profile named')) throw new PolicyError(`${loaded.origin}: "extends": ${e.message}`);
      throw e;
    }
    for (const l of parentChain) {
      if (!chain.some((c) => c.origin === l.origin)) chain.push(l);
    }
  }
  chain.push(loaded);
  return chain;
}

const VARIABLES = ['$HOME', '$WORKDIR', '$TMPDIR', '~'];

export function expandPath(raw: string, ctx: PathContext, where: string): string {
  let p = raw;
  if (p === '~' || p.startsWith('~/')) p = ctx.home + p.slice(1);
  p = p.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (whole, name: string) => {
    if (name === 'HOME') return ctx.home;
    if (name === 'WORKDIR') return ctx.workdir;
    if (name === 'TMPDIR') return ctx.tmpdir;
    throw new PolicyError(`${where}: unknown path variable ${whole} in "${raw}" (known: ${VARIABLES.join(', ')})`);
  });
  if (/[\0\n\r]/.test(p)) throw new PolicyError(`${where}: control characters are not allowed in paths ("${JSON.stringify(raw)}")`);
  if (!path.isAbsolute(p)) throw new PolicyError(`${where}: "${raw}" is not an absolute path (start it with /, ~, $HOME, $WORKDIR or $TMPDIR)`);
  return path.resolve(p);
}

const FS_KEYS: Array<[keyof FilesystemSection, 'dir' | 'file', Access]> = [
  ['allow', 'dir', 'readwrite'],
  ['read', 'dir', 'read'],
  ['write', 'dir', 'write'],
  ['allow_file', 'file', 'readwrite'],
  ['read_file', 'file', 'read'],
  ['write_file', 'file', 'write'],
];

function addFilesystem(part: PolicyPart, fsSec: FilesystemSection | undefined, ctx: PathContext, origin: string, field: string, explicit: boolean) {
  if (!fsSec) return;
  for (const [key, kind, access] of FS_KEYS) {
    (fsSec[key] ?? []).forEach((raw, i) => {
      const where = `${origin}: ${field}.${key}[${i}]`;
      const grant: Grant = { path: expandPath(raw, ctx, where), kind, access, source: `${origin}: ${field}.${key}`, explicit };
      if (/^\$\{?WORKDIR\}?$/.test(raw)) grant.refuseIfDenied = true;
      part.grants.push(grant);
    });
  }
  for (const [key, access] of [['deny', 'all'], ['deny_write', 'write']] as const) {
    (fsSec[key] ?? []).forEach((raw, i) => {
      part.denies.push({ path: expandPath(raw, ctx, `${origin}: ${field}.${key}[${i}]`), access, source: `${origin}: ${field}.${key}` });
    });
  }
}

function applyNetwork(net: NetworkPolicy, sec: NetworkSection | undefined, origin: string, field: string) {
  if (!sec) return;
  if (sec.block !== undefined) net.blockTcp = sec.block;
  net.tcpConnect.push(...(sec.allow_tcp_connect ?? []));
  net.tcpBind.push(...(sec.allow_tcp_bind ?? []));
  net.domains.push(...(sec.allow_domains ?? []).map((pattern) => ({ pattern, source: `${origin}: ${field}.allow_domains` })));
  net.denyDomains.push(...(sec.deny_domains ?? []).map((pattern) => ({ pattern, source: `${origin}: ${field}.deny_domains` })));
}

const emptyPart = (blockTcp: boolean): PolicyPart => ({
  grants: [],
  denies: [],
  devices: [],
  network: { blockTcp, tcpConnect: [], tcpBind: [], domains: [], denyDomains: [] },
});

function kindOf(p: string): 'dir' | 'file' {
  try {
    return fs.statSync(p).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'dir';
  }
}

export function resolveProfile(ref: string, opts: ResolveOptions): ResolvedPolicy {
  const userDir = opts.userProfileDir ?? userProfileDir(opts.home);
  const chain = loadChain(ref, userDir);
  const groups = builtinGroups(opts.platform);
  // Network fails closed: blocked unless a profile says otherwise. The agent keeps its network
  // unless its profile blocks it.
  const commands = emptyPart(true);
  const agent = emptyPart(false);
  const included = new Set<string>();
  const scrub: string[] = [];

  for (const { origin, profile } of chain) {
    for (const g of profile.groups?.include ?? []) {
      if (!groups[g]) throw new PolicyError(`${origin}: groups.include: unknown group "${g}" (known: ${Object.keys(groups).join(', ')})`);
      included.add(g);
    }
    for (const g of profile.groups?.exclude ?? []) {
      if (!groups[g]) throw new PolicyError(`${origin}: groups.exclude: unknown group "${g}" (known: ${Object.keys(groups).join(', ')})`);
      included.delete(g);
    }
    addFilesystem(commands, profile.filesystem, opts, origin, 'filesystem', true);
    addFilesystem(agent, profile.agent?.filesystem, opts, origin, 'agent.filesystem', true);
    const agentNet = profile.agent?.network;
    if (agentNet?.allow_domains?.length || agentNet?.deny_domains?.length) {
      // The proxy serves commands; the agent's own network is all or nothing (agent.network.block).
      throw new PolicyError(
        `${origin}: agent.network.allow_domains/deny_domains: the agent process is not proxied, only its commands are; move the hosts to network.allow_domains`,
      );
    }
    applyNetwork(commands.network, profile.network, origin, 'network');
    applyNetwork(agent.network, agentNet, origin, 'agent.network');
    scrub.push(...(profile.environment?.scrub ?? []));
  }
  // Groups are broad grants: they never re-allow a denied path.
  for (const g of included) {
    addFilesystem(commands, groups[g]!.filesystem, opts, `group ${g}`, 'filesystem', false);
    commands.devices.push(...(groups[g]!.devices ?? []));
    commands.network.domains.push(...(groups[g]!.allowDomains ?? []).map((pattern) => ({ pattern, source: `group ${g}` })));
  }
  for (const dir of opts.runtimeDirs ?? []) {
    commands.grants.push({ path: path.resolve(dir), kind: 'dir', access: 'read', source: 'nono itself (nono-shell must run inside sandboxes)', explicit: false });
  }

  if (opts.approvalsFile) {
    const approved = loadApprovals(opts.approvalsFile);
    if (approved) {
      addFilesystem(commands, approved.filesystem, opts, opts.approvalsFile, 'filesystem', true);
      applyNetwork(commands.network, approved.network, opts.approvalsFile, 'network');
    }
  }

  const cli = opts.cli ?? {};
  const flag = (list: string[] | undefined, name: string, access: Access, kind?: 'file') =>
    (list ?? []).forEach((raw) => {
      const p = expandPath(path.isAbsolute(raw) || raw.startsWith('~') || raw.startsWith('$') ? raw : path.resolve(raw), opts, name);
      commands.grants.push({ path: p, kind: kind ?? kindOf(p), access, source: name, explicit: true });
    });
  flag(cli.allow, '--allow', 'readwrite');
  flag(cli.read, '--read', 'read');
  flag(cli.write, '--write', 'write');
  flag(cli.allowFile, '--allow-file', 'readwrite', 'file');
  flag(cli.readFile, '--read-file', 'read', 'file');
  flag(cli.writeFile, '--write-file', 'write', 'file');
  if (cli.allowNet !== undefined) commands.network.blockTcp = !cli.allowNet;
  for (const pattern of cli.allowDomains ?? []) {
    try {
      parseHostPattern(pattern);
    } catch (e) {
      throw new PolicyError(`--allow-domain ${(e as Error).message}`);
    }
    commands.network.domains.push({ pattern, source: '--allow-domain' });
  }

  return {
    name: chain.at(-1)!.name,
    chain: chain.map((c) => c.origin),
    ...commands,
    devices: [...new Set(commands.devices)],
    scrubEnv: scrub,
    agent,
  };
}

export type { Deny };
