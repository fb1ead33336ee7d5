// Linux: after a sandboxed command failed, which of its failures were the sandbox's doing, read
// from what it printed on stderr. Words are not evidence: "Permission denied" also comes from file
// modes, from read-only mounts, from refused connections and from programs that merely quote it.
// So the text only proposes candidates (an operation on a path, or a TCP connect/bind), and a
// candidate is kept only when
//   - the message says EACCES (or, for some network tools, says nothing that rules it out):
//     Landlock refuses filesystem operations with EACCES and our seccomp filter refuses TCP
//     sockets with EACCES, never with EPERM or EROFS;
//   - the compiled session policy denies that operation on that path (explainLandlock) or that
//     port (handledNet / tcpPorts);
//   - the file modes would have let the command do it: otherwise the kernel refused first (or
//     would refuse after a grant), and a prompt would offer a grant that cannot help.
// What remains is exact for what the kernel enforces here; the one thing stderr cannot prove is
// that the command did not print a fabricated message, which is why the prompt shows the path and
// the operation and lets a person decide (Landlock audit records, where readable, are the exact
// source).
import fs from 'node:fs';
import path from 'node:path';
import { explainLandlock, type Operation } from '../../policy/explain-landlock.js';
import type { CompiledLandlock } from '../../policy/landlock-compiler.js';
import { NET } from '../../policy/landlock-rights.js';
import type { Denial, DenialOp } from './types.js';
import { nearestExistingDir } from './least-grant.js';

/**
 * "Is this really denied?", asked of the platform's policy: Landlock's compiled rules on Linux,
 * the SBPL evaluator on macOS (platform/darwin.ts). Candidates the policy allows are dropped.
 */
export interface DenialOracle {
  /** The errnos this sandbox refuses file operations with (Landlock: EACCES; Seatbelt: EPERM). */
  fsErrnos: ReadonlyArray<'EACCES' | 'EPERM'>;
  /** Throws when the path cannot be judged (the candidate is skipped). */
  fsDenied(path: string, op: Operation): boolean;
  netDenied(op: 'connect' | 'bind', port: number | undefined): boolean;
}

/** Linux: Landlock refuses with EACCES; the compiled ruleset and its TCP rights decide. */
export function landlockOracle(compiled: CompiledLandlock): DenialOracle {
  return {
    fsErrnos: ['EACCES'],
    fsDenied: (p, op) => !explainLandlock(compiled, p, op).allowed,
    netDenied(op, port) {
      const right = op === 'connect' ? NET.CONNECT_TCP : NET.BIND_TCP;
      if (!(compiled.handledNet & right)) return false;
      return !(port !== undefined && compiled.tcpPorts.some((t) => t.port === port && (t.rights & right) !== 0));
    },
  };
}

export interface StderrContext {
  /** Where the command started: relative paths in messages are relative to it. */
  cwd: string;
  exitCode: number | null;
  signal?: number | null;
  /** Linux's compiled policy (turned into landlockOracle); or, on any platform, `oracle`. */
  compiled?: CompiledLandlock;
  oracle?: DenialOracle;
  /** Whose file permissions the command had; default this process's (the supervisor runs
   * commands as itself). Only used to tell file-mode refusals from the sandbox's. */
  uid?: number;
  gids?: number[];
}

/** What the message says the errno was. 'unstated': the tool hides it (curl's "Couldn't connect"). */
type Errno = 'EACCES' | 'EPERM' | 'EROFS' | 'other' | 'unstated';

/** What the message says was attempted; resolved against what is at the path now. */
type Hint =
  | 'read' // a file read, or the listing when the path is a directory
  | 'list' // only a directory listing
  | 'write' // an existing file written, or a new one created
  | 'execute'
  | 'create'
  | 'delete'
  | 'rename' // path -> dest
  | 'copy' // read path, write or create dest
  | 'touch' // only a missing file can fail under Landlock (touch falls back to utimensat)
  | 'guess' // the message does not say: list a directory, read then write a file, create a new path
  | 'exec-or-guess'; // a shell's "X: Permission denied": exit 126 means it tried to run X

interface FsCandidate {
  kind: 'fs';
  hint: Hint;
  path: string;
  dest?: string;
  errno: Errno;
  evidence: string;
}

interface NetCandidate {
  kind: 'net';
  op: 'connect' | 'bind';
  host?: string;
  port?: number;
  errno: Errno;
  evidence: string;
}

type Candidate = FsCandidate | NetCandidate;

// The relay keeps a bounded tail anyway; these bounds keep a pathological line from making the
// regular expressions below slow.
const MAX_LINES = 4000;
const MAX_LINE = 8192;

function errnoOf(text: string): Errno {
  if (/permission denied|\bEACCES\b|\[Errno 13\]|errno:? -13\b/i.test(text)) return 'EACCES';
  if (/read-only file system|\bEROFS\b|\[Errno 30\]/i.test(text)) return 'EROFS';
  if (/operation not permitted|\bEPERM\b|\[Errno 1\]/i.test(text)) return 'EPERM';
  return 'other';
}

function errnoOfCode(code: string): Errno {
  if (code === 'EACCES') return 'EACCES';
  if (code === 'EPERM') return 'EPERM';
  if (code === 'EROFS') return 'EROFS';
  return 'other';
}

/** coreutils quotes names with shell quoting ('it'\''s'), others with plain quotes or none. */
function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && t.startsWith("'") && t.endsWith("'")) return t.slice(1, -1).replace(/'\\''/g, "'");
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1);
  if (t.length >= 2 && t.startsWith('`') && t.endsWith("'")) return t.slice(1, -1);
  return t;
}

const Q = `('[^']*(?:'\\\\''[^']*)*'|"[^"]*"|[^'"\\s][^]*?)`;

const fsc = (hint: Hint, p: string, errno: Errno, evidence: string, dest?: string): FsCandidate => ({
  kind: 'fs',
  hint,
  path: p,
  dest,
  errno,
  evidence,
});

const net = (op: 'connect' | 'bind', host: string | undefined, port: number | undefined, errno: Errno, evidence: string): NetCandidate => ({
  kind: 'net',
  op,
  host: host?.replace(/^\[|\]$/g, ''),
  port,
  errno,
  evidence,
});

// Programs that only read their file arguments: their "X: Permission denied" is a read (or the
// listing of a directory with -r), never a write. Guessing "write" for them would turn a file-mode
// refusal inside a read-only grant into a false sandbox denial.
const READERS = new Set([
  'cat', 'tac', 'head', 'tail', 'less', 'more', 'grep', 'egrep', 'fgrep', 'rg', 'wc', 'sort', 'uniq', 'cut', 'paste',
  'nl', 'od', 'xxd', 'hexdump', 'strings', 'base64', 'md5sum', 'sha1sum', 'sha224sum', 'sha256sum', 'sha384sum',
  'sha512sum', 'b2sum', 'cksum', 'sum', 'diff', 'cmp', 'file', 'jq', 'awk', 'gawk', 'mawk', 'source', 'find', 'du',
]);
const WRITERS = new Set(['tee']);

/** Phrases of coreutils and friends after "prog: ", with what they mean. */
const PHRASES: Array<[RegExp, (prog: string) => Hint | null]> = [
  [new RegExp(`^cannot (?:open|read) directory ${Q}$`), () => 'list'],
  [new RegExp(`^cannot open ${Q} for reading$`), () => 'read'],
  [new RegExp(`^cannot open ${Q} for writing$`), () => 'write'],
  [new RegExp(`^(?:cannot|failed to) open ${Q}$`), () => 'guess'],
  // ls says "cannot access" when stat() fails, which Landlock never refuses; cp -r says it when
  // the directory it copies cannot be listed.
  [new RegExp(`^cannot access ${Q}$`), (prog) => (prog === 'ls' ? null : 'list')],
  [new RegExp(`^cannot touch ${Q}$`), () => 'touch'],
  [new RegExp(`^(?:cannot|failed to) (?:remove|unlink) ${Q}$`), () => 'delete'],
  [new RegExp(`^cannot create (?:directory|special file|fifo) ${Q}$`), () => 'create'],
  [new RegExp(`^cannot create regular file ${Q}$`), () => 'write'],
  [new RegExp(`^(?:cannot|failed to) create (?:symbolic|hard) link ${Q}(?: -> .*| => .*)?$`), () => 'create'],
  [new RegExp(`^failed to create (?:file|directory) via template ${Q}$`), () => 'create'],
  [new RegExp(`^couldn't open temporary file ${Q}$`), () => 'create'],
  [new RegExp(`^(?:can't|cannot) read ${Q}$`), () => 'read'],
];

/** Not operations Landlock controls (stat, chmod, chown, utimes, chdir): nothing to grant. */
const NOT_LANDLOCK = /^(?:cannot (?:stat|lstat|fstat|change to directory|chdir|overwrite)|failed to (?:get attributes of|preserve|change|access)|changing (?:permissions|ownership|group|owner) of|setting (?:times|permissions) of|failed to set)\b/;

function coreutils(line: string): Candidate[] | undefined {
  const m = /^([\w.+[\]-]+): (.+): ([^:]+)$/.exec(line);
  if (!m) return undefined;
  const [, prog, body, err] = m as unknown as [string, string, string, string];
  const errno = errnoOf(err);
  if (NOT_LANDLOCK.test(body)) return [];
  const mv = new RegExp(`^cannot move ${Q} to ${Q}$`).exec(body);
  if (mv) return [fsc('rename', unquote(mv[1]!), errno, line, unquote(mv[2]!))];
  for (const [re, hint] of PHRASES) {
    const p = re.exec(body);
    if (!p) continue;
    const h = hint(prog);
    return h ? [fsc(h, unquote(p[1]!), errno, line)] : [];
  }
  // "prog: X: Permission denied": the message does not say what was tried.
  if (/^(?:cannot|failed|could not|couldn't|can't|unable) /.test(body)) return undefined;
  if (errno === 'other') return undefined;
  const hint: Hint = READERS.has(prog) ? 'read' : WRITERS.has(prog) ? 'write' : 'guess';
  return [fsc(hint, unquote(body), errno, line)];
}

// Builtins whose failures are not Landlock's (chdir, limits, umask...).
const SHELL_BUILTINS = new Set(['cd', 'pushd', 'popd', 'ulimit', 'umask', 'kill', 'trap', 'set', 'shopt', 'read', 'printf', 'echo', 'export', 'hash', 'type', 'command']);

/** bash: "bash: line 1: X: Permission denied" (redirections, sourcing, running X). */
function bash(line: string): Candidate[] | undefined {
  const m = /^\S+: line \d+: (.+): ([^:]+)$/.exec(line);
  if (!m) return undefined;
  const [, body, err] = m as unknown as [string, string, string];
  const errno = errnoOf(err);
  const tcp = devTcp(body, errno, line);
  if (tcp) return tcp;
  const builtin = /^(\w+|\.): (.+)$/.exec(body);
  if (builtin) {
    const [, name, rest] = builtin as unknown as [string, string, string];
    if (name === 'exec') return [fsc('execute', unquote(rest.replace(/: cannot execute$/, '')), errno, line)];
    if (name === 'source' || name === '.') return [fsc('read', unquote(rest), errno, line)];
    if (SHELL_BUILTINS.has(name)) return [];
  }
  return [fsc('exec-or-guess', unquote(body), errno, line)];
}

/** dash (sh): "sh: 1: cannot create X: Permission denied", "sh: 1: X: Permission denied". */
function dash(line: string): Candidate[] | undefined {
  const m = /^\S+: \d+: (.+): ([^:]+)$/.exec(line);
  if (!m) return undefined;
  const [, body, err] = m as unknown as [string, string, string];
  const errno = errnoOf(err);
  const tcp = devTcp(body, errno, line);
  if (tcp) return tcp;
  const create = /^cannot create (.+)$/.exec(body);
  if (create) return [fsc('write', create[1]!, errno, line)];
  const open = /^cannot open (.+)$/.exec(body);
  if (open) return [fsc('read', open[1]!, errno, line)];
  const builtin = /^(\w+|\.): (.+)$/.exec(body);
  if (builtin) {
    if (builtin[1] === 'exec') return [fsc('execute', builtin[2]!, errno, line)];
    if (builtin[1] === '.') return [fsc('read', builtin[2]!, errno, line)];
    if (SHELL_BUILTINS.has(builtin[1]!)) return [];
  }
  return [fsc('exec-or-guess', body, errno, line)];
}

/** bash's /dev/tcp/HOST/PORT is a connect, not a file. */
function devTcp(p: string, errno: Errno, line: string): Candidate[] | undefined {
  const m = /^\/dev\/(tcp|udp)\/([^/\s]+)\/(\d+)$/.exec(p);
  if (!m) return undefined;
  return m[1] === 'tcp' ? [net('connect', m[2], Number(m[3]), errno, line)] : [];
}

/** Node: "EACCES: permission denied, open 'X'", "... rename 'A' -> 'B'", "spawn X EACCES". */
function nodeFs(line: string, i: number, lines: string[]): Candidate[] | undefined {
  const spawn = /\bspawn(?:Sync)? (\/\S+) (EACCES|EPERM)\b/.exec(line);
  if (spawn) return [fsc('execute', spawn[1]!, errnoOfCode(spawn[2]!), line)];
  const m = /\b(EACCES|EPERM|EROFS): [^,]*, (\w+) '([^']*)'(?: -> '([^']*)')?/.exec(line);
  if (!m) return undefined;
  const [, code, syscall, p, dest] = m as unknown as [string, string, string, string, string | undefined];
  const errno = errnoOfCode(code);
  switch (syscall) {
    case 'open': {
      // The stack says which function opened it: the open flags are not in the message.
      const stack = lines.slice(i + 1, i + 16).filter((l) => /^\s*(?:npm (?:error|ERR!)\s+)?at /.test(l)).join('\n');
      const hint: Hint = /writeFile|appendFile|WriteStream|copyFile|\bwrite\b/.test(stack)
        ? 'write'
        : /readFile|ReadStream|\bread\b/.test(stack)
          ? 'read'
          : 'guess';
      return [fsc(hint, p, errno, line)];
    }
    case 'mkdir':
    case 'mkdtemp':
      return [fsc('create', p, errno, line)];
    case 'scandir':
    case 'opendir':
      return [fsc('list', p, errno, line)];
    case 'rename':
      return [fsc('rename', p, errno, line, dest)];
    case 'unlink':
    case 'rmdir':
    case 'rm':
      return [fsc('delete', p, errno, line)];
    case 'copyfile':
    case 'cp':
      return [fsc('copy', p, errno, line, dest)];
    case 'symlink':
    case 'link':
      return [fsc('create', dest ?? p, errno, line)];
    case 'truncate':
    case 'ftruncate':
      return [fsc('write', p, errno, line)];
    case 'access':
    case 'stat':
    case 'lstat':
    case 'chmod':
    case 'lchmod':
    case 'chown':
    case 'lchown':
    case 'utime':
    case 'lutime':
    case 'readlink':
    case 'realpath':
      return [];
    default:
      return [fsc('guess', p, errno, line)];
  }
}

const NET_CODES = 'EACCES|EPERM|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EADDRINUSE|EADDRNOTAVAIL|ECONNRESET';

/** Node: "connect EACCES 127.0.0.1:8080", "listen EACCES: permission denied 0.0.0.0:80". */
function nodeNet(line: string): Candidate[] | undefined {
  const m = new RegExp(`\\b(connect|bind|listen) (${NET_CODES})(?::[a-z ]+)? (\\S+):(\\d+)\\b`).exec(line);
  if (!m) return undefined;
  return [net(m[1] === 'connect' ? 'connect' : 'bind', m[3], Number(m[4]), errnoOfCode(m[2]!), line)];
}

/** curl (and git over http), ssh, nc, wget, Go's net package. */
function netTools(line: string): Candidate[] | undefined {
  let m = /Failed to connect to (\S+) port (\d+)(?: after \d+ ms)?: (.+)$/.exec(line);
  if (m) {
    // curl 7.88 reports every connect failure as "Couldn't connect to server"; the policy decides.
    const reason = m[3]!;
    const errno: Errno = /couldn't connect to server/i.test(reason) ? 'unstated' : errnoOf(reason);
    return [net('connect', m[1], Number(m[2]), errno, line)];
  }
  m = /connect to host (\S+) port (\d+): (.+)$/.exec(line) ?? /connect to (\S+) port (\d+) \(tcp\) failed: (.+)$/.exec(line);
  if (m) return [net('connect', m[1], Number(m[2]), errnoOf(m[3]!), line)];
  m = /Connecting to .*?\|?([0-9a-fA-F.:]+)\|?:(\d+)\.\.\. failed: (.+)$/.exec(line);
  if (m) return [net('connect', m[1], Number(m[2]), errnoOf(m[3]!), line)];
  m = /\b(dial|listen) tcp[46]? (\S*):(\d+): (connect|bind|socket|listen): (.+)$/.exec(line);
  if (m) return [net(m[1] === 'dial' ? 'connect' : 'bind', m[2] || undefined, Number(m[3]), errnoOf(m[5]!), line)];
  return undefined;
}

/** Go's os package: "open /x: permission denied", "mkdir /x: permission denied". */
function goFs(line: string): Candidate[] | undefined {
  const m = /\b(open|mkdir|remove|unlinkat|rename|readdirent|symlink|link) (\/[^:]*?)(?: (\/[^:]*?))?: (permission denied|read-only file system|operation not permitted)$/.exec(line);
  if (!m) return undefined;
  const [, op, p, dest, err] = m as unknown as [string, string, string, string | undefined, string];
  const errno = errnoOf(err);
  const hint: Hint = op === 'mkdir' ? 'create' : op === 'remove' || op === 'unlinkat' ? 'delete' : op === 'rename' ? 'rename' : op === 'readdirent' ? 'list' : op === 'symlink' || op === 'link' ? 'create' : 'guess';
  if (op === 'symlink' || op === 'link') return [fsc(hint, dest ?? p, errno, line)];
  return [fsc(hint, p, errno, line, dest)];
}

/** A Python string repr starting at s[i] ('...' or "..."): its value and where it ends. */
function pyString(s: string, i: number): { value: string; end: number } | null {
  const q = s[i];
  if (q !== "'" && q !== '"') return null;
  let out = '';
  for (let j = i + 1; j < s.length; j++) {
    const ch = s[j]!;
    if (ch === '\\' && j + 1 < s.length) {
      const n = s[++j]!;
      out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
      continue;
    }
    if (ch === q) return { value: out, end: j + 1 };
    out += ch;
  }
  return null;
}

/** The traceback lines that belong to the exception reported on lines[i]. */
function pyTraceback(lines: string[], i: number): string[] {
  const out: string[] = [];
  for (let j = i - 1; j >= 0 && j >= i - 200; j--) {
    const l = lines[j]!;
    if (l.startsWith('Traceback (most recent call last)')) return out;
    if (!/^\s/.test(l)) return out; // left the traceback
    out.unshift(l);
  }
  return out;
}

// From the innermost frame outwards, the first source line or function that says what was tried.
const PY_HINTS: Array<[RegExp, Hint]> = [
  [/_execute_child|\bos\.exec|\bos\.spawn/, 'execute'],
  [/\bos\.(?:remove|unlink|rmdir)\b|\.unlink\(|\.rmdir\(|\brmtree\b|in (?:remove|unlink|rmdir)$/, 'delete'],
  [/\bos\.(?:rename|replace|renames)\b|shutil\.move|\.rename\(/, 'rename'],
  [/\bmakedirs\b|\bmkdir\b|\bmkdtemp\b|\bcopytree\b/, 'create'],
  [/\blistdir\b|\bscandir\b|\biterdir\b|\bos\.walk\b|\bglob\(/, 'list'],
  [/\bopen\(.*,\s*(?:mode\s*=\s*)?['"][^'"]*[wax+][^'"]*['"]|\bwrite_text\b|\bwrite_bytes\b|\bmkstemp\b|NamedTemporaryFile/, 'write'],
  [/\bopen\(|\bread_text\b|\bread_bytes\b/, 'read'],
];

function pyHint(tb: string[]): Hint {
  for (let j = tb.length - 1; j >= 0; j--) {
    const l = tb[j]!.trim();
    if (/^\^+$|^[~^ ]+$/.test(l)) continue;
    const func = /^File ".*", line \d+, in (\S+)$/.exec(l);
    const text = func ? `in ${func[1]}` : l;
    for (const [re, hint] of PY_HINTS) if (re.test(text)) return hint;
  }
  return 'guess';
}

const PY_SOCKET = /socket\.py|create_connection|\.connect\(|\.bind\(|\.listen\(|socket\.socket\(/;

/** Python: "PermissionError: [Errno 13] Permission denied: 'X'" (or 'A' -> 'B'); without a path
 * inside a socket traceback it is a TCP socket refused (socket() itself under the no-TCP filter). */
function python(line: string, i: number, lines: string[]): Candidate[] | undefined {
  const m = /\[Errno (\d+)\] [^:\]>]*/.exec(line);
  if (!m) return undefined;
  const n = Number(m[1]);
  const errno: Errno = n === 13 ? 'EACCES' : n === 30 ? 'EROFS' : n === 1 ? 'EPERM' : 'other';
  const after = line.slice(m.index + m[0].length);
  const tb = pyTraceback(lines, i);
  if (after.startsWith(': ')) {
    const first = pyString(after, 2);
    if (first) {
      const rest = after.slice(first.end);
      const second = rest.startsWith(' -> ') ? pyString(rest, 4) : null;
      if (second) return [fsc('rename', first.value, errno, line, second.value)];
      return [fsc(pyHint(tb), first.value, errno, line)];
    }
  }
  const context = [...tb, line].join('\n');
  // A Unix socket (a path, not a host and port) is refused by file modes; Landlock does not
  // restrict connecting to one.
  if (/AF_UNIX|\.(?:connect|bind)\(\s*(?:['"]|[A-Za-z_]*path)/.test(context)) return [];
  if (PY_SOCKET.test(context) || /urlopen error/.test(line)) {
    const addr = /(?:\.connect|\.bind|create_connection)\(\(\s*['"]([^'"]*)['"]\s*,\s*(\d+)\s*\)/.exec(context);
    const op = /\.bind\(|\.listen\(/.test(context) ? 'bind' : 'connect';
    return [net(op, addr?.[1], addr ? Number(addr[2]) : undefined, errno, line)];
  }
  return [];
}

/** npm prints the failing call as "npm error code EACCES / syscall mkdir / path X" lines. */
function npm(line: string, i: number, lines: string[]): Candidate[] | undefined {
  const m = /^npm (?:error|ERR!) (code|syscall|path|errno|dest) (.*)$/.exec(line);
  if (!m) return undefined;
  if (m[1] !== 'path') return [];
  const near = lines.slice(Math.max(0, i - 6), i + 6);
  const field = (name: string) => near.map((l) => new RegExp(`^npm (?:error|ERR!) ${name} (\\S+)`).exec(l)?.[1]).find(Boolean);
  const code = field('code');
  const syscall = field('syscall');
  if (!code || !syscall) return [];
  const errno = errnoOfCode(code);
  const p = m[2]!.trim();
  // stat-like calls are not Landlock's to refuse.
  if (['access', 'stat', 'lstat', 'chmod', 'chown'].includes(syscall)) return [];
  const hint: Hint =
    syscall === 'mkdir' ? 'create'
    : syscall === 'scandir' || syscall === 'opendir' ? 'list'
    : syscall === 'rename' ? 'rename'
    : syscall === 'unlink' || syscall === 'rmdir' ? 'delete'
    : 'guess';
  return [fsc(hint, p, errno, line, hint === 'rename' ? field('dest') : undefined)];
}

/** git's own messages (its http transport uses curl's, handled above). */
function git(line: string): Candidate[] | undefined {
  let m = /could not lock config file (.+): ([^:]+)$/.exec(line);
  // git writes X.lock next to the config file and renames it over X.
  if (m) return [fsc('create', `${m[1]!}.lock`, errnoOf(m[2]!), line)];
  m = /(?:Unable|unable) to create (?:temporary file )?'(.+)': ([^:]+)\.?$/.exec(line);
  if (m) return [fsc('create', m[1]!, errnoOf(m[2]!), line)];
  m = /could not open '(.+)' for (reading|writing)(?: \(.*\))?: ([^:]+)$/.exec(line);
  if (m) return [fsc(m[2] === 'reading' ? 'read' : 'write', m[1]!, errnoOf(m[3]!), line)];
  m = /(?:cannot mkdir|could not create (?:work tree dir|directory|leading directories of)) '?(.+?)'?: ([^:]+)$/.exec(line);
  if (m) return [fsc('create', m[1]!, errnoOf(m[2]!), line)];
  m = /^(?:error|fatal): unable to (?:create|write) file (.+): ([^:]+)$/.exec(line);
  if (m) return [fsc('write', m[1]!, errnoOf(m[2]!), line)];
  return undefined;
}

/** GNU tar: "tar: X: Cannot open: Permission denied". */
function tar(line: string): Candidate[] | undefined {
  const m = /^tar: (.+?): (Cannot [^:]+): ([^:]+)$/.exec(line);
  if (!m) return undefined;
  const [, p, what, err] = m as unknown as [string, string, string, string];
  const errno = errnoOf(err);
  if (/^Cannot open$/.test(what)) return [fsc('guess', p, errno, line)];
  if (/^Cannot (?:mkdir|create symlink|hard link)/.test(what)) return [fsc('create', p, errno, line)];
  if (/^Cannot (?:opendir|savedir)/.test(what)) return [fsc('list', p, errno, line)];
  if (/^Cannot unlink|^Cannot rmdir/.test(what)) return [fsc('delete', p, errno, line)];
  if (/^Cannot read/.test(what)) return [fsc('read', p, errno, line)];
  if (/^Cannot write/.test(what)) return [fsc('write', p, errno, line)];
  if (/^Cannot rename to (.+)$/.test(what)) return [fsc('rename', p, errno, line, unquote(what.slice('Cannot rename to '.length)))];
  return []; // utime, chown, chmod, stat: not Landlock's
}

/** gcc (and other programs using libiberty's make_temp_file) name only the directory. */
function tempFile(line: string): Candidate[] | undefined {
  const m = /Cannot create temporary file in (\/.*?)\/?: ([^:]+)$/.exec(line);
  if (!m) return undefined;
  return [fsc('create', path.join(m[1] || '/', '(temporary file)'), errnoOf(m[2]!), line)];
}

const PERMISSION_WORDS = /permission denied|\bEACCES\b/i;

/** Anything else: absolute paths on a line that says "Permission denied". A path followed by
 * ":<digit>" is a position (compiler diagnostics, stack traces), and URLs are not paths. */
function generic(line: string): Candidate[] {
  if (!PERMISSION_WORDS.test(line)) return [];
  const out: Candidate[] = [];
  // Greedy and without a lookahead, so a position suffix cannot make it settle for a shorter path.
  const re = /(?<![\w:/.~-])\/[^\s'"`:,;()[\]<>|]+/g;
  for (const m of line.matchAll(re)) {
    if (/^:\d/.test(line.slice(m.index + m[0].length))) continue;
    const p = m[0].replace(/[.]+$/, '');
    if (p === '/' || /^\/dev\/(tcp|udp)\//.test(p)) continue;
    out.push(fsc('guess', p, 'EACCES', line));
  }
  return out;
}

const PARSERS: Array<(line: string, i: number, lines: string[]) => Candidate[] | undefined> = [
  npm,
  python,
  nodeNet,
  nodeFs,
  netTools,
  git,
  tar,
  tempFile,
  goFs,
  bash,
  dash,
  coreutils,
];

function candidates(stderr: string): Candidate[] {
  const lines = stderr
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') // colours from tools that think stderr is a terminal
    .split(/\r?\n|\r/)
    .slice(-MAX_LINES)
    .map((l) => (l.length > MAX_LINE ? l.slice(0, MAX_LINE) : l));
  const out: Candidate[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!line) return;
    // bash reports a failed /dev/tcp socket() on its own line before the path line.
    if (/^\S+: (socket|connect): /.test(line)) return;
    for (const parse of PARSERS) {
      const found = parse(line, i, lines);
      if (found) {
        out.push(...found);
        return;
      }
    }
    out.push(...generic(line));
  });
  return out;
}

// ---- checking a candidate against the policy and the file modes ----

type Kind = 'file' | 'dir' | 'missing' | 'other';

function kindOf(p: string): Kind {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'missing' : 'other';
  }
}

interface Check {
  op: Operation;
  path: string;
  report: DenialOp;
}

/** The operations the candidate may have been, most likely first. */
function checksFor(c: FsCandidate, exitCode: number | null): Check[] {
  const k = kindOf(c.path);
  const one = (op: Operation, p = c.path, report: DenialOp = op): Check => ({ op, path: p, report });
  // Creating P looks its parent up first: without the parent the kernel says ENOENT, so an
  // EACCES about a new P whose parent is missing is not a create (a line cut short, say).
  const create = (p = c.path, report: DenialOp = 'create'): Check[] => (kindOf(path.dirname(p)) === 'dir' ? [one('create', p, report)] : []);
  const writeOrCreate = (p: string): Check[] => {
    const kk = kindOf(p);
    return kk === 'missing' ? create(p) : kk === 'dir' ? [] : [one('write', p)];
  };
  switch (c.hint) {
    case 'read':
      return k === 'dir' ? [one('list')] : k === 'missing' ? [] : [one('read')];
    case 'list':
      return k === 'dir' ? [one('list')] : [];
    case 'write':
      return writeOrCreate(c.path);
    case 'execute':
      return k === 'file' ? [one('execute')] : [];
    case 'create':
      // Said outright (mkdir, a lock file): a recursive mkdir names the deepest directory it
      // wanted even when a higher one failed, so the parent need not exist.
      return [one('create')];
    case 'delete':
      return [one('delete')];
    case 'touch':
      return k === 'missing' ? create() : [];
    case 'rename': {
      // Landlock needs "remove" where the entry leaves and "make" where it arrives.
      const checks = [one('delete', c.path, 'rename')];
      if (c.dest) checks.push(...create(c.dest, 'rename'));
      return checks;
    }
    case 'copy':
      return [...(k === 'file' ? [one('read')] : []), ...(c.dest ? writeOrCreate(c.dest) : [])];
    case 'exec-or-guess':
      if (k === 'file' && exitCode === 126) return [one('execute')];
      return guess();
    case 'guess':
      return guess();
  }
  function guess(): Check[] {
    if (k === 'dir') return [one('list')];
    if (k === 'missing') return create();
    return [one('read'), one('write')];
  }
}

interface Creds {
  uid: number;
  gids: number[];
}

// Commands run without any capability (sandbox_rules.c drops them all), so file modes bind root
// inside the sandbox too: no CAP_DAC_OVERRIDE shortcut here.
function modeAllows(st: fs.Stats, want: number, who: Creds): boolean {
  const bits = st.uid === who.uid ? (st.mode >> 6) & 7 : who.gids.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & want) === want;
}

/** Would the file modes let this user do it outside the sandbox? If not, the kernel refused on
 * the modes (they are checked before Landlock on open) or would refuse after any grant: either
 * way it is not a failure a grant can fix. Unknown -> yes (the policy has the last word). */
function modesAllow(op: Operation, p: string, who: Creds): boolean {
  const R = 4, W = 2, X = 1;
  const at = op === 'create' ? nearestExistingDir(p) : op === 'delete' ? path.dirname(p) : p;
  const want = op === 'read' ? R : op === 'list' ? R | X : op === 'write' ? W : op === 'execute' ? X : W | X;
  try {
    // Search permission on every directory on the way.
    for (let d = path.dirname(at); ; d = path.dirname(d)) {
      if (!modeAllows(fs.statSync(d), X, who)) return false;
      if (d === '/') break;
    }
    const st = fs.statSync(at);
    if (!modeAllows(st, want, who)) return false;
    if (op === 'delete' && (st.mode & 0o1000) !== 0) {
      const victim = fs.lstatSync(p);
      if (victim.uid !== who.uid && st.uid !== who.uid) return false; // sticky directory
    }
    return true;
  } catch {
    return true;
  }
}

function checkFs(c: FsCandidate, oracle: DenialOracle, ctx: StderrContext, who: Creds): Denial[] {
  // Landlock refuses with EACCES; EPERM and EROFS come from elsewhere (ownership, immutable
  // files, read-only mounts), and a grant would not change them. Seatbelt refuses with EPERM.
  if (!(oracle.fsErrnos as readonly string[]).includes(c.errno)) return [];
  const abs: FsCandidate = { ...c, path: path.resolve(ctx.cwd, c.path), dest: c.dest && path.resolve(ctx.cwd, c.dest) };
  // Alternatives stop at the first one the policy denies; a rename needs both of its sides, so
  // both are reported when both are denied (a re-run with one grant would fail on the other).
  const needsAll = c.hint === 'rename';
  const out: Denial[] = [];
  const dirs = new Set<string>();
  for (const check of checksFor(abs, ctx.exitCode)) {
    // Within one directory both sides are the same grant: report the rename once.
    const dir = check.op === 'create' ? nearestExistingDir(check.path) : path.dirname(check.path);
    if (needsAll && dirs.has(dir)) continue;
    dirs.add(dir);
    let allowed: boolean;
    try {
      allowed = !oracle.fsDenied(check.path, check.op);
    } catch {
      continue;
    }
    if (allowed) continue;
    if (!modesAllow(check.op, check.path, who)) return [];
    out.push({ op: check.report, path: check.path, evidence: c.evidence.trim().slice(0, 400), source: 'stderr' });
    if (!needsAll) break;
  }
  return out;
}

function checkNet(c: NetCandidate, oracle: DenialOracle): Denial | null {
  // A refused, timed-out or unreachable connect reached the network: the sandbox let it through.
  if (!(oracle.fsErrnos as readonly string[]).includes(c.errno) && c.errno !== 'unstated') return null;
  if (!oracle.netDenied(c.op, c.port)) return null;
  const d: Denial = { op: c.op, evidence: c.evidence.trim().slice(0, 400), source: 'stderr' };
  if (c.port !== undefined) d.port = c.port;
  if (c.host) d.host = c.host;
  return d;
}

export function detectStderrDenials(stderr: string, ctx: StderrContext): Denial[] {
  // Exit 0: whatever it printed, the command got what it needed (or handled the refusal itself).
  if (ctx.exitCode === 0 || !stderr) return [];
  const who: Creds = {
    uid: ctx.uid ?? process.getuid?.() ?? 0,
    gids: ctx.gids ?? [...new Set([process.getgid?.() ?? 0, ...(process.getgroups?.() ?? [])])],
  };
  const oracle = ctx.oracle ?? (ctx.compiled ? landlockOracle(ctx.compiled) : undefined);
  if (!oracle) throw new Error('detectStderrDenials needs the policy (compiled or oracle)');
  const out: Denial[] = [];
  const seen = new Set<string>();
  for (const c of candidates(stderr)) {
    const found = c.kind === 'fs' ? checkFs(c, oracle, ctx, who) : [checkNet(c, oracle)];
    for (const d of found) {
      if (!d) continue;
      // Grants are per port, so one port is one denial whatever the host was called.
      const key = d.path !== undefined ? `${d.op}\0${d.path}` : `${d.op}\0${d.port ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(d);
    }
  }
  // "socket refused, port unknown" adds nothing when another line named the port.
  return out.filter((d) => d.path !== undefined || d.port !== undefined || !out.some((o) => o.op === d.op && o.port !== undefined));
}
