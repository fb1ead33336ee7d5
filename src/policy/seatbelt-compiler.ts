// Compiles a ResolvedPolicy into a Seatbelt (SBPL) profile for `sandbox-exec -p`.
//
// Seatbelt lets the last matching rule win, so the order of the emitted rules IS the policy. The
// bug this layout exists to make impossible: allow rules written before the deny rules they were
// meant to punch holes in, so that "deny ~/.ssh, but read ~/.ssh/config" silently denied the file.
// Rules are therefore emitted in fixed sections, broadest first:
//   1. (deny default)
//   2. what any shell needs (fork, signals within the sandbox, stat, ttys, devices...)
//   3. the network (before the filesystem denies, which also shut Unix sockets inside denied paths)
//   4. grants that no deny touches
//   5. denies, each followed by the protection of its ancestors
//   6. exceptions: explicit grants inside a deny (and any deny nested inside such an exception)
//   7. Unix sockets the caller must reach (nono's own supervisor socket), whatever else says
// Nothing here touches the filesystem, so the same policy gives the same bytes on any machine.
import { PolicyError, partFor, type Access, type Deny, type Grant, type ResolvedPolicy } from './resolved-policy.js';
import { isUnder, type SeatbeltFilter, type SeatbeltRule } from './sbpl-eval.js';

export type { SeatbeltFilter, SeatbeltRule } from './sbpl-eval.js';

export interface SeatbeltOptions {
  /** Every deny says `(with message "<tag>:<rule id>")`; the denial log is filtered on the tag. */
  tag: string;
  /** 'agent' adds policy.agent's grants, denies and devices, and takes its network instead. */
  target: 'command' | 'agent';
  /** The spellings of a path to emit (e.g. the given one and its realpath). Default: defaultSpellings. */
  resolve?: (p: string) => string[];
  /** Unix sockets always reachable, even with the network blocked or inside a denied path. */
  allowUnixSockets?: string[];
  /** The command's own terminals. Without it every /dev/ttys* is usable (see basics below). */
  ttys?: string[];
}

export interface CompiledSeatbelt {
  sbpl: string;
  /** In emitted order: what sbpl-eval's decide() and `explain` work on. */
  rules: SeatbeltRule[];
  /** Grants dropped or narrowed by a deny, settings that are not enforced. */
  warnings: string[];
}

export const SANDBOX_EXEC = '/usr/bin/sandbox-exec';

/** Always the absolute path: a sandbox-exec earlier on PATH must not get to write the rules. */
export function sandboxExecArgv(sbpl: string, argv: string[]): string[] {
  return [SANDBOX_EXEC, '-p', sbpl, '--', ...argv];
}

const PRIVATE_ROOTS = ['/tmp', '/var', '/etc'];

/**
 * /tmp, /var and /etc are symlinks into /private on macOS, and Seatbelt matches the path the
 * kernel resolved, so a rule written only as /tmp/x would never match. Both spellings are emitted.
 * Pure on purpose (no realpath): golden files must not depend on the machine that writes them.
 */
export function defaultSpellings(p: string): string[] {
  for (const root of PRIVATE_ROOTS) {
    if (isUnder(p, root)) return [p, '/private' + p];
    if (isUnder(p, '/private' + root)) return [p, p.slice('/private'.length)];
  }
  return [p];
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** An SBPL string literal. A control character could end a comment or confuse the reader of a
 * denial log, and no real path needs one, so it is refused rather than escaped. */
export function sbplString(value: string, what = 'the path'): string {
  if (CONTROL.test(value)) {
    throw new PolicyError(`${what} ${JSON.stringify(value)} contains a control character, which cannot go into a Seatbelt profile`);
  }
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function renderFilter(f: SeatbeltFilter): string {
  switch (f.kind) {
    case 'literal':
    case 'subpath':
      return `(${f.kind} ${sbplString(f.path)})`;
    case 'regex':
      // Only constant patterns are emitted; #"..." keeps their backslashes for the regex engine.
      if (CONTROL.test(f.path) || f.path.includes('"')) throw new PolicyError(`regex ${JSON.stringify(f.path)} cannot go into a Seatbelt profile`);
      return `(regex #"${f.path}")`;
    case 'global-name':
    case 'ipc-posix-name':
      return `(${f.kind} ${sbplString(f.name, 'the name')})`;
    case 'remote-tcp':
    case 'local-tcp':
      return `(${f.kind === 'remote-tcp' ? 'remote' : 'local'} tcp "${f.host}:${f.port}")`;
    case 'remote-unix-socket':
      return `(remote unix-socket (path-literal ${sbplString(f.path, 'the socket')}))`;
    case 'target':
      return `(target ${f.target})`;
  }
}

/** Comments carry the rule's id and source; a control character there could start a new line of rules. */
const commentText = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, '?');

function renderRule(r: SeatbeltRule, tag: string): string {
  const args = r.filters.map(renderFilter);
  if (r.action === 'deny') args.push(`(with message ${sbplString(`${tag}:${r.id}`, 'the tag')})`);
  const meta = `;; @${r.id} ${commentText(r.source)}`.trimEnd();
  const one = `(${r.action} ${[...r.operations, ...args].join(' ')})`;
  if (one.length <= 110) return `${meta}\n${one}`;
  return `${meta}\n(${r.action} ${r.operations.join(' ')}\n${args.map((a) => `  ${a}`).join('\n')})`;
}

function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) out.push(p.slice(0, i));
  return out;
}

const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];

// Services a shell, libc and dyld look up by name. Kept short: each one is a door out of the
// sandbox into a daemon that acts with the user's full rights.
const BASE_MACH_SERVICES = [
  'com.apple.system.opendirectoryd.libinfo', // getpwuid/getpwnam: ~ expansion, id, whoami, prompts
  'com.apple.system.opendirectoryd.membership', // group membership checks (id -G, access checks)
  'com.apple.system.notification_center', // notify(3): libc watches time zone and locale changes through it
  'com.apple.logd', // os_log from system libraries; without it they stall or spam stderr
  'com.apple.system.logger', // syslog(3)/asl, still used by older tools
  'com.apple.bsd.dirhelper', // confstr(_CS_DARWIN_USER_TEMP_DIR), i.e. where TMPDIR points
];

// Only with a network: TLS clients (curl, git over https) have trustd validate certificates, and
// the resolver reads its configuration from configd. com.apple.SecurityServer is deliberately not
// here: it is the keychain daemon and would read the denied keychains on the command's behalf.
const NETWORK_MACH_SERVICES = ['com.apple.trustd.agent', 'com.apple.SystemConfiguration.DNSConfiguration'];

const READ_OPS = ['file-read*', 'process-exec'];
const WRITE_OPS = ['file-write*'];

interface PathItem {
  spellings: string[];
}
interface GrantItem extends PathItem {
  index: number;
  grant: Grant;
  read: boolean;
  write: boolean;
}
interface DenyItem extends PathItem {
  index: number;
  deny: Deny;
  read: boolean;
}

const readsOf = (a: Access) => a !== 'write';
const writesOf = (a: Access) => a !== 'read';
/** Some spelling of `a` is at or below some spelling of `b`. */
const within = (a: PathItem, b: PathItem) => a.spellings.some((x) => b.spellings.some((y) => isUnder(x, y)));
const samePath = (a: PathItem, b: PathItem) => a.spellings.some((x) => b.spellings.includes(x));
/** The deny takes away something the grant gives. */
const overlaps = (g: GrantItem, d: DenyItem) => (d.read && g.read) || g.write;

export function compileSeatbelt(policy: ResolvedPolicy, opts: SeatbeltOptions): CompiledSeatbelt {
  sbplString(opts.tag, 'the tag');
  const part = partFor(policy, opts.target);
  const resolve = opts.resolve ?? defaultSpellings;
  const warnings: string[] = [];
  const rules: SeatbeltRule[] = [];
  const sections: Array<{ title: string[]; from: number }> = [];

  const checkPath = (p: string, where: string) => {
    sbplString(p, `${where}: the path`);
    if (!p.startsWith('/')) throw new PolicyError(`${where}: ${JSON.stringify(p)} is not an absolute path`);
  };
  const spell = (p: string, where: string): string[] => {
    checkPath(p, where);
    const list = uniq(resolve(p));
    if (!list.length) throw new PolicyError(`${where}: no spelling of ${p} to emit`);
    for (const s of list) checkPath(s, where);
    return list;
  };
  const section = (...title: string[]) => sections.push({ title, from: rules.length });
  const add = (r: SeatbeltRule) => rules.push(r);
  const pathFilters = (spellings: string[], kind: 'subpath' | 'literal'): SeatbeltFilter[] =>
    spellings.map((path) => ({ kind, path }));

  const grants: GrantItem[] = part.grants.map((grant, index) => ({
    index,
    grant,
    spellings: spell(grant.path, grant.source),
    read: readsOf(grant.access),
    write: writesOf(grant.access),
  }));
  const denies: DenyItem[] = part.denies.map((deny, index) => ({
    index,
    deny,
    spellings: spell(deny.path, deny.source),
    read: deny.access === 'all',
  }));

  // ---- sort grants: untouched, narrowed (groups), exceptions (explicit) ----
  const plain: GrantItem[] = [];
  const exceptions: GrantItem[] = [];
  for (const g of grants) {
    const covering = denies.filter((d) => within(g, d) && overlaps(g, d));
    if (!covering.length) {
      plain.push(g);
      continue;
    }
    const first = covering[0]!;
    if (g.grant.refuseIfDenied) {
      // The same rule as on Linux: nono will not start in a protected directory unless the user
      // granted it explicitly, in which case that explicit grant (an exception) covers it.
      const explicitlyAllowed = grants.some(
        (e) => e !== g && e.grant.explicit && !e.grant.refuseIfDenied && e.grant.access === 'readwrite' && within(g, e),
      );
      if (explicitlyAllowed) continue;
      throw new PolicyError(
        `the working directory ${g.grant.path} is inside the protected path ${first.deny.path} (${first.deny.source}); ` +
          'start nono somewhere else, or grant it explicitly with --allow',
      );
    }
    if (g.grant.explicit) {
      exceptions.push(g);
      continue;
    }
    // A broad (group) grant never re-allows what a deny took away: keep what is left of it.
    const read = g.read && !covering.some((d) => d.read);
    if (!read) {
      warnings.push(`${g.grant.source}: ${g.grant.path} is inside the protected path ${first.deny.path}; not granted`);
      continue;
    }
    warnings.push(`${g.grant.source}: ${g.grant.path} is inside the write-protected path ${first.deny.path}; granted read-only`);
    plain.push({ ...g, write: false, grant: { ...g.grant, access: 'read', source: `${g.grant.source} (read-only: inside ${first.deny.path})` } });
  }
  // A deny inside an exception must come after it, or the exception would re-open it.
  const nested = denies.filter((d) => exceptions.some((e) => within(d, e)));
  const topLevel = denies.filter((d) => !nested.includes(d));

  // ---- 1. default ----
  section('Everything not allowed below is denied; later rules override earlier ones.');
  add({ id: 'default', action: 'deny', operations: ['default'], filters: [], source: 'nono-shell: deny by default' });

  // ---- 2. what a shell needs ----
  section(
    'What any shell needs. process-exec is not here: it goes with file-read* in every read grant,',
    'so a command runs only what it could read (as on Linux, where execute is part of read).',
  );
  const base = 'nono-shell base';
  add({ id: 'base-fork', action: 'allow', operations: ['process-fork'], filters: [], source: `${base}: pipelines and subshells` });
  // Signals and process info only towards processes of this same sandbox: a command can kill its
  // own children, not the agent or the user's other programs.
  add({ id: 'base-signal', action: 'allow', operations: ['signal'], filters: [{ kind: 'target', target: 'same-sandbox' }], source: `${base}: job control` });
  add({ id: 'base-process-info', action: 'allow', operations: ['process-info*'], filters: [{ kind: 'target', target: 'same-sandbox' }], source: `${base}: ps, jobs and runtimes inspecting their own children` });
  add({ id: 'base-sysctl', action: 'allow', operations: ['sysctl-read'], filters: [], source: `${base}: libc and runtimes read hw.ncpu, kern.osversion...` });
  // stat() everywhere: shells, realpath() and every path walk lstat each component, and a
  // failing stat of /Users or of the working directory's parents breaks them. It reveals that a
  // path exists, not its content; a denied path takes metadata away again (file-read* below).
  add({ id: 'base-metadata', action: 'allow', operations: ['file-read-metadata'], filters: [], source: `${base}: path walking (stat)` });
  // Mapping a file executable needs a descriptor already opened for reading, so the read rules
  // below still decide which libraries can be loaded.
  add({ id: 'base-map-exec', action: 'allow', operations: ['file-map-executable'], filters: [], source: `${base}: dyld loading libraries` });
  add({
    id: 'base-mach',
    action: 'allow',
    operations: ['mach-lookup'],
    filters: BASE_MACH_SERVICES.map((name) => ({ kind: 'global-name', name })),
    source: `${base}: user lookup, notifications, logging, temp dir`,
  });
  add({
    id: 'base-shm',
    action: 'allow',
    operations: ['ipc-posix-shm-read-data'],
    filters: [{ kind: 'ipc-posix-name', name: 'apple.shm.notification_center' }],
    source: `${base}: notify(3) reads its state from this shared page`,
  });
  add({ id: 'base-pty', action: 'allow', operations: ['pseudo-tty'], filters: [], source: `${base}: terminals for interactive commands` });
  // Without the command's own terminals every /dev/ttys* is allowed, which includes the user's
  // other terminal windows; callers that know the command's tty should pass opts.ttys.
  const ttyFilters: SeatbeltFilter[] = opts.ttys
    ? uniq(opts.ttys.flatMap((t) => spell(t, 'ttys'))).map((path) => ({ kind: 'literal', path }))
    : [{ kind: 'regex', path: '^/dev/ttys[0-9]+$' }];
  add({
    id: 'base-tty',
    action: 'allow',
    operations: ['file-read*', 'file-write*', 'file-ioctl'],
    filters: [{ kind: 'literal', path: '/dev/ptmx' }, ...ttyFilters],
    source: `${base}: the pty master and ${opts.ttys ? "the command's terminals" : 'terminals'}`,
  });
  const devices = uniq(part.devices.flatMap((d) => spell(d, 'devices')));
  if (devices.length) {
    add({
      id: 'devices',
      action: 'allow',
      operations: ['file-read*', 'file-write*', 'file-ioctl'],
      filters: devices.map((path) => ({ kind: 'literal', path })),
      source: 'devices a shell needs (/dev/null, /dev/tty...)',
    });
  }

  // ---- 3. network ----
  const net = part.network;
  section(
    'The network, before the filesystem denies: a denied path also refuses connections to the',
    'Unix sockets inside it (gpg-agent lives in ~/.gnupg), which a later (allow network*) would undo.',
  );
  const networkUsed = !net.blockTcp || net.tcpConnect.length > 0 || net.proxyPort !== undefined;
  if (!net.blockTcp) {
    add({ id: 'net-open', action: 'allow', operations: ['network*'], filters: [], source: 'network: not blocked' });
  } else {
    add({ id: 'net-block', action: 'deny', operations: ['network*'], filters: [], source: 'network: blocked' });
    const ports = (list: number[], what: string) =>
      uniq(list).map((port) => {
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new PolicyError(`network: ${what}: ${port} is not a TCP port`);
        return port;
      });
    const connect = ports(net.tcpConnect, 'allow_tcp_connect');
    const bind = ports(net.tcpBind, 'allow_tcp_bind');
    // Proxy mode: the session proxy on loopback is the way out (it forwards to the hosts of
    // allow_domains and asks about others); allow_tcp_connect ports are loopback-only, as the
    // native connect check makes them on Linux. Seatbelt can say "localhost:PORT" itself.
    const proxied = net.proxyPort !== undefined;
    if (proxied) {
      const [proxyPort] = ports([net.proxyPort!], 'the proxy port');
      add({
        id: 'net-proxy',
        action: 'allow',
        operations: ['network-outbound'],
        filters: [{ kind: 'remote-tcp', host: 'localhost', port: proxyPort! }],
        source: "network: nono's session proxy (allow_domains; other hosts are questions)",
      });
    }
    // Otherwise "*:PORT": any host on that port, as Landlock's port rules on Linux. Seatbelt
    // accepts only * or localhost as the host part, never a name or an address.
    if (connect.length) {
      add({
        id: 'net-connect',
        action: 'allow',
        operations: ['network-outbound'],
        filters: connect.map((port) => ({ kind: 'remote-tcp', host: proxied ? 'localhost' : '*', port })),
        source: proxied ? 'network: allow_tcp_connect (loopback only: hosts go through the proxy)' : 'network: allow_tcp_connect',
      });
    }
    // Listening needs the bind and then accepting (network-inbound) on the same local port.
    if (bind.length) {
      add({
        id: 'net-bind',
        action: 'allow',
        operations: ['network-bind', 'network-inbound'],
        filters: bind.map((port) => ({ kind: 'local-tcp', host: '*', port })),
        source: 'network: allow_tcp_bind',
      });
    }
  }
  if (networkUsed) {
    add({
      id: 'net-services',
      action: 'allow',
      operations: ['mach-lookup'],
      filters: NETWORK_MACH_SERVICES.map((name) => ({ kind: 'global-name', name })),
      source: 'network: certificate validation and resolver configuration',
    });
  }
  const hosts = net.domains.map((d) => d.pattern);
  if (hosts.length && !net.blockTcp) {
    warnings.push(`allow_domains (${hosts.join(', ')}) has no effect: TCP is open (--allow-net or "block": false), so commands are not proxied`);
  }

  // ---- 4. grants ----
  section('Grants that no deny touches.');
  const grantRule = (g: GrantItem, id: string, ops: string[]): SeatbeltRule => ({
    id,
    action: 'allow',
    operations: ops,
    filters: pathFilters(g.spellings, g.grant.kind === 'dir' ? 'subpath' : 'literal'),
    source: `${g.grant.source}: ${g.grant.path}`,
  });
  for (const g of plain) add(grantRule(g, `grant-${g.index}`, [...(g.read ? READ_OPS : []), ...(g.write ? WRITE_OPS : [])]));

  // ---- 5. denies ----
  // Denies use subpath even for files: a file has nothing below it, and a directory that does not
  // exist yet is covered whole once it is created.
  // Ancestors already protected by an earlier top-level deny: nothing between two denies of
  // section 5 re-allows unlink, so each ancestor is listed once there. Inside an exception the
  // list is repeated in full, because the exception itself may have re-allowed it.
  const protectedAncestors = new Set<string>();
  const denyRules = (d: DenyItem, nestedInException: boolean) => {
    add({
      id: `deny-${d.index}`,
      action: 'deny',
      // 'all' also takes exec and connecting to Unix sockets inside the path.
      operations: d.read ? ['file-read*', 'file-write*', 'process-exec', 'network-outbound'] : ['file-write*'],
      filters: pathFilters(d.spellings, 'subpath'),
      source: `${d.deny.source}: ${d.deny.path}`,
    });
    if (d.read) {
      // stat() of the denied entry itself comes back: `ls -l ~` stats every entry of HOME and would
      // fail on ~/.ssh otherwise (Landlock never restricts stat, so this is also what Linux does).
      // What is inside stays invisible.
      add({
        id: `deny-${d.index}-stat`,
        action: 'allow',
        operations: ['file-read-metadata'],
        filters: pathFilters(d.spellings, 'literal'),
        source: `stat of ${d.deny.path} itself, so that listing its parent works`,
      });
    }
    // Rules match paths, not files: renaming ~ (or ~/.config) away would take ~/.ssh out from under
    // its rule. Each ancestor is protected as a literal, i.e. only the directory entry itself:
    // `mv ~ ~/x` fails, while creating, deleting and renaming everything else inside the ancestor
    // (say, a working directory that holds a denied .env) still works. The alternative,
    // (require-all (subpath W) (require-not (subpath D))) on the grants, does not help here: the
    // ancestor is outside D, so the grant would still let it be renamed.
    const anc = uniq(d.spellings.flatMap(ancestors)).filter((a) => nestedInException || !protectedAncestors.has(a));
    if (!nestedInException) for (const a of anc) protectedAncestors.add(a);
    if (anc.length) {
      add({
        id: `deny-${d.index}-ancestors`,
        action: 'deny',
        operations: ['file-write-unlink'],
        filters: pathFilters(anc, 'literal'),
        source: `rename/delete of the directories above ${d.deny.path}`,
      });
    }
  };
  section(
    'Denies, after every grant so that they win over them. Each gives back stat() of the denied',
    'entry itself, and keeps the directories above it from being renamed or deleted.',
  );
  for (const d of topLevel) denyRules(d, false);

  // ---- 6. exceptions ----
  section(
    'Exceptions: explicit grants inside a denied path, after the denies so that they win.',
    'A deny inside an exception follows it, outermost first.',
  );
  // Order: a path before anything below it; at the same path the deny first, so an explicit grant
  // of exactly a denied path wins, as it does on Linux.
  type Item = { deny: DenyItem } | { exc: GrantItem };
  const itemPath = (it: Item): PathItem => ('deny' in it ? it.deny : it.exc);
  const mustPrecede = (a: Item, b: Item) => {
    const pa = itemPath(a);
    const pb = itemPath(b);
    if (samePath(pa, pb)) return 'deny' in a && 'exc' in b;
    return within(pb, pa);
  };
  const pending: Item[] = [...nested.map((deny) => ({ deny })), ...exceptions.map((exc) => ({ exc }))];
  while (pending.length) {
    const k = pending.findIndex((it) => !pending.some((o) => o !== it && mustPrecede(o, it)));
    // Precedence is a strict order on paths, so there is always a first item.
    const [it] = pending.splice(k, 1) as [Item];
    if ('deny' in it) {
      denyRules(it.deny, true);
      continue;
    }
    const e = it.exc;
    const ops = [...(e.read ? READ_OPS : []), ...(e.write ? [...WRITE_OPS, 'network-outbound'] : [])];
    add(grantRule(e, `exception-${e.index}`, ops));
    // The directories between the denied path and the exception lost their stat() to the deny;
    // realpath() and friends need it to reach the exception. Only their metadata comes back (the
    // denied path itself already has it, see deny-N-stat).
    const readDenies = denies.filter((d) => d.read && within(e, d));
    const parents = uniq(e.spellings.flatMap(ancestors)).filter((a) =>
      readDenies.some((d) => d.spellings.some((s) => a !== s && isUnder(a, s))),
    );
    if (parents.length) {
      add({
        id: `exception-${e.index}-parents`,
        action: 'allow',
        operations: ['file-read-metadata'],
        filters: pathFilters(parents, 'literal'),
        source: `stat of the directories above ${e.grant.path}`,
      });
    }
  }

  // ---- 7. Unix sockets ----
  section("Unix sockets nono-shell itself needs (the supervisor's), reachable whatever the rules above say.");
  const sockets = uniq((opts.allowUnixSockets ?? []).flatMap((s) => spell(s, 'allowUnixSockets')));
  if (sockets.length) {
    add({
      id: 'unix-sockets',
      action: 'allow',
      operations: ['network-outbound'],
      filters: sockets.map((path) => ({ kind: 'remote-unix-socket', path })),
      source: 'nono-shell: supervisor socket',
    });
  }

  // ---- render ----
  const lines = [
    '(version 1)',
    `;; nono-shell Seatbelt profile "${commentText(policy.name)}" for ${opts.target === 'agent' ? 'the agent' : 'commands'}.`,
    ';; Generated: edit the profile, not this file.',
  ];
  // A section's title is printed only when the section has rules.
  const starts = new Map(sections.map((s, k) => [s.from, s] as const).filter(([from], k) => from < (sections[k + 1]?.from ?? rules.length)));
  rules.forEach((r, i) => {
    const s = starts.get(i);
    if (s) lines.push('', ...s.title.map((t) => `;;; ${t}`));
    lines.push(renderRule(r, opts.tag));
  });
  return { sbpl: `${lines.join('\n')}\n`, rules, warnings };
}
