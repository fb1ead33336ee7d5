// Reading Seatbelt denials out of the macOS unified log.
//
// VERIFIED ONLY ON RECORDED/CONSTRUCTED LINES, NOT ON macOS. This machine is Linux; every test
// of this file runs on lines written by hand in the form that Apple's kernel is documented (and
// widely quoted) to print. What is taken as given and still has to be checked on a Mac:
//   - the kernel message `Sandbox: <proc>(<pid>) deny(<n>) <operation> <target>`;
//   - repeats folded into `<N> duplicate report(s) for Sandbox: ...`;
//   - `(with message "X")` on the deny rule appending "\nX" to eventMessage (a same-line variant
//     is also accepted, but only for tags the caller names, see parseSandboxLine);
//   - the ndjson fields (eventMessage, processID 0 and a Sandbox.kext senderImagePath for kernel
//     messages, processImagePath, subsystem, timestamp);
//   - network targets spelled `*:443`, `1.2.3.4:443`, `remote:*:443` or a Unix socket path.
//
// Everything in a violation line except the operation is chosen by the sandboxed program: the
// process name is its executable's name and the target is a path it made up. The parser takes
// the FIRST `(<pid>) deny(` so a crafted path cannot rewrite the pid or the operation, and it
// only trusts ndjson records whose sender a sandboxed program cannot impersonate.
import type { Denial, DenialOp } from './types.js';

export interface SandboxViolation {
  /** The process that was refused (as the kernel names it: /bin/sh shows up as bash). */
  pid: number;
  process: string;
  /** The SBPL operation, e.g. file-read-data, network-outbound. */
  operation: string;
  /** A path, a network address, a mach service name... empty for operations without one. */
  target: string;
  /** How many refusals this line stands for: n from deny(n), or N from "N duplicate reports". */
  count: number;
  /** From the rule's `(with message "<tag>:<rule-id>")`; the part before the last colon. */
  tag?: string;
  ruleId?: string;
  /** The message as logged (first line), so a Denial can show what it came from. */
  evidence: string;
}

export interface ParseOptions {
  /**
   * Tags whose `<tag>:<rule-id>` may also appear at the end of the message's own line. Without
   * them a trailing word is kept as part of the target: a path may well end in " a:b".
   */
  tags?: readonly string[];
}

/**
 * Where the kernel puts the pieces. The name is lazy so that the FIRST "(digits) deny(" wins:
 * a file named "x(1) deny(1) file-read-data /etc/passwd" cannot move the split. Process names
 * may themselves contain spaces and parentheses ("Gradle Worker", "foo (helper)").
 */
const VIOLATION = /^([^\n]*?)\((\d+)\) deny\((\d+)\) ([a-z][a-z0-9*-]*)(?: (.*))?$/s;
/** What the kernel puts in front when it folds repeats: "1 duplicate report for ", "3 duplicate reports for ". */
const DUPLICATE = /(\d+) duplicate reports? for $/;
const MARKER = 'Sandbox: ';

/**
 * One log line (an ndjson record from `log stream|show --style ndjson`, or a plain text line
 * that contains the kernel message) -> the violation it reports, or undefined for anything else:
 * banners, trailers, allow reports, "System Policy:" refusals (not ours to grant), malformed
 * text. Never throws. A plain line says nothing about who logged it, so the monitor reads only
 * ndjson records (see trustedSender); plain lines are for fixtures and explain.
 */
export function parseSandboxLine(line: string, opts: ParseOptions = {}): SandboxViolation | undefined {
  const text = line.trim();
  if (text.startsWith('{')) {
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      return undefined;
    }
    return parseRecord(record, opts);
  }
  return parseMessage(text, opts);
}

/** The fields of an ndjson record this module reads; all others are ignored. */
export interface LogRecord {
  eventMessage?: unknown;
  processID?: unknown;
  processImagePath?: unknown;
  senderImagePath?: unknown;
  subsystem?: unknown;
  timestamp?: unknown;
}

export function parseRecord(record: unknown, opts: ParseOptions = {}): SandboxViolation | undefined {
  if (!record || typeof record !== 'object' || Array.isArray(record)) return undefined;
  const r = record as LogRecord;
  if (typeof r.eventMessage !== 'string' || !trustedSender(r)) return undefined;
  return parseMessage(r.eventMessage, opts);
}

/**
 * The predicate also selects sandboxd and the sandbox.reporting subsystem, and a sandboxed
 * command may log (logd is reachable) under a process name of its choosing: a record it wrote
 * saying "Sandbox: ... deny(1) file-read-data /secret" would become a prompt to grant /secret.
 * So only the kernel (pid 0) and executables in SIP-protected system locations are believed.
 */
export function trustedSender(r: LogRecord): boolean {
  if (r.processID === 0) return true;
  if (typeof r.processID !== 'number') return false;
  const image = r.processImagePath;
  return typeof image === 'string' && (image.startsWith('/usr/libexec/') || image.startsWith('/System/'));
}

function parseMessage(message: string, opts: ParseOptions): SandboxViolation | undefined {
  // The rule's message is appended after a newline; a path may contain newlines too, so the tag
  // is the LAST line and everything between the first line and it belongs to the target.
  const lines = message.replace(/\r/g, '').split('\n');
  while (lines.length > 1 && lines[lines.length - 1]!.trim() === '') lines.pop();
  const tagLine = lines.length > 1 ? lines.pop()!.trim() : undefined;
  const head = lines.join('\n');

  const at = head.indexOf(MARKER);
  if (at < 0) return undefined;
  // Plain-text styles put a timestamp and "kernel[0:1] (Sandbox)" in front; ndjson does not.
  const dup = DUPLICATE.exec(head.slice(0, at));
  const m = VIOLATION.exec(head.slice(at + MARKER.length));
  if (!m) return undefined;
  const [, proc, pidText, nText, operation, rest] = m;
  const pid = Number(pidText);
  const n = Number(nText);
  const count = dup ? Number(dup[1]) : n;
  if (!proc || !Number.isSafeInteger(pid) || pid <= 0 || !Number.isSafeInteger(count) || count <= 0) return undefined;

  let target = (rest ?? '').replace(/\s+$/, '');
  let tagText = tagLine;
  if (tagText === undefined && opts.tags?.length) {
    for (const tag of opts.tags) {
      const same = new RegExp(` (${escapeRegExp(tag)}:[A-Za-z0-9_.-]+)$`).exec(target);
      if (same) {
        tagText = same[1];
        target = target.slice(0, same.index);
        break;
      }
    }
  }
  const v: SandboxViolation = {
    pid,
    process: proc,
    operation: operation!,
    target,
    count,
    evidence: head.slice(dup ? dup.index : at).trim(),
  };
  if (tagText) {
    const colon = tagText.lastIndexOf(':');
    if (colon > 0 && colon < tagText.length - 1) {
      v.tag = tagText.slice(0, colon);
      v.ruleId = tagText.slice(colon + 1);
    } else {
      v.tag = tagText;
    }
  }
  return v;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// ---- what a violation means for the policy ----

/**
 * SBPL operation -> the DenialOp a grant would answer. Operations with no grant in nono's
 * policy language (mach-lookup, sysctl-read, iokit-open, signal, ipc-*, file-ioctl...) map to
 * undefined: they are kept as violations for explain and the audit log, never asked about.
 *
 * Seatbelt has no separate rename or readdir operation: a rename is refused as file-write-unlink
 * of the source or file-write-create of the destination, and listing a directory is
 * file-read-data on it, so 'rename' and 'list' never come from here.
 */
export function denialOpOf(operation: string): DenialOp | undefined {
  if (operation.startsWith('file-read')) return 'read';
  if (operation === 'file-write-create') return 'create';
  if (operation === 'file-write-unlink') return 'delete';
  if (operation.startsWith('file-write')) return 'write';
  if (operation.startsWith('process-exec')) return 'execute';
  if (operation === 'network-outbound') return 'connect';
  if (operation === 'network-bind') return 'bind';
  return undefined;
}

/**
 * file-read-metadata is a stat(): shells, git, node's module resolution and config lookups stat
 * paths speculatively and carry on when that fails. Such a refusal is only reported when the
 * command has no other denial (then a stat was the likeliest reason it failed: `ls -l`,
 * `test -e`); see denialsFrom.
 */
export const isMetadataOnly = (operation: string) => operation === 'file-read-metadata';

export interface NetTarget {
  host?: string;
  port?: number;
  /** A Unix domain socket. */
  path?: string;
}

/** `*:443`, `1.2.3.4:443`, `[::1]:8080`, `localhost:*`, `remote:*:443`, `/private/var/run/x.sock`. */
export function parseNetTarget(target: string): NetTarget {
  let t = target.trim();
  if (t.startsWith('/')) return { path: t };
  t = t.replace(/^(?:remote|local):(?:(?:tcp|udp)[46]?:)?/, '');
  const m = /^(\[[^\]]*\]|[^\s]*?):(\*|\d{1,5})$/.exec(t);
  if (!m) return {};
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const out: NetTarget = {};
  if (host && host !== '*') out.host = host;
  if (m[2] !== '*') {
    const port = Number(m[2]);
    if (port <= 65535) out.port = port;
  }
  return out;
}

/** One violation as a Denial, or undefined when no grant can answer it. */
export function violationToDenial(v: SandboxViolation): Denial | undefined {
  const op = denialOpOf(v.operation);
  if (!op) return undefined;
  const evidence = v.tag ? `${v.evidence} [${v.tag}${v.ruleId ? ':' + v.ruleId : ''}]` : v.evidence;
  if (op === 'connect' || op === 'bind') {
    const net = parseNetTarget(v.target);
    const d: Denial = { op, evidence, source: 'seatbelt-log' };
    if (net.path) d.path = net.path;
    if (net.host) d.host = net.host;
    if (net.port !== undefined) d.port = net.port;
    return d;
  }
  // A filesystem denial without an absolute path cannot become a grant.
  if (!v.target.startsWith('/')) return undefined;
  return { op, path: v.target, evidence, source: 'seatbelt-log' };
}

/**
 * The Denials one command's violations add up to: metadata-only refusals dropped when anything
 * else was refused, and one Denial per (op, path, host, port) however often it was logged.
 */
export function denialsFrom(violations: readonly SandboxViolation[]): Denial[] {
  const strong = violations.filter((v) => !isMetadataOnly(v.operation) && violationToDenial(v));
  const use = strong.length > 0 ? strong : violations;
  const seen = new Map<string, Denial>();
  for (const v of use) {
    const d = violationToDenial(v);
    if (!d) continue;
    const key = JSON.stringify([d.op, d.path ?? null, d.host ?? null, d.port ?? null]);
    if (!seen.has(key)) seen.set(key, d);
  }
  return [...seen.values()];
}

/** Same process, operation and target: one violation whose count is the sum. */
export function mergeViolations(violations: readonly SandboxViolation[]): SandboxViolation[] {
  const out = new Map<string, SandboxViolation>();
  for (const v of violations) {
    const key = JSON.stringify([v.pid, v.operation, v.target, v.tag ?? null, v.ruleId ?? null]);
    const prev = out.get(key);
    if (prev) prev.count += v.count;
    else out.set(key, { ...v });
  }
  return [...out.values()];
}

// ---- noise ----

/**
 * System daemons that run in sandboxes of their own: the log predicate selects every sandbox on
 * the machine, so their refusals arrive alongside ours and are never a command's doing.
 */
export const NOISE_PROCESSES: readonly string[] = ['mDNSResponder', 'diagnosticd', 'analyticsd', 'logd', 'trustd', 'sandboxd'];

/**
 * Mach services that libSystem, the logging and the TLS stack look up on their own in nearly
 * every process: a refusal there is a side effect (the command gets on without them, or the
 * real refusal is a file or network one logged next to it).
 */
export const NOISE_SERVICES: readonly RegExp[] = [
  /^com\.apple\.diagnosticd$/,
  /^com\.apple\.analyticsd(\..*)?$/,
  /^com\.apple\.logd(\..*)?$/,
  /^com\.apple\.trustd(\..*)?$/,
  /^com\.apple\.mDNSResponder$/,
  /^com\.apple\.dnssd\.service$/,
];

/**
 * Why a violation is noise, or undefined when it is not. The list:
 *   - any refusal of the daemons in NOISE_PROCESSES (their own sandboxes);
 *   - mach-lookup of NOISE_SERVICES, from any process;
 *   - mach-lookup of any other com.apple.* service, except from the command's own root pid
 *     (system frameworks loaded into children try them speculatively; the root is what the
 *     person asked for, so what it was refused is kept for explain);
 *   - file-write-data /dev/dtracehelper: dyld registering DTrace probes at every start.
 * Not noise: a connect to /private/var/run/mDNSResponder from the command itself, which is how
 * a blocked network shows up in a DNS lookup.
 */
export function noiseReason(v: SandboxViolation, rootPid?: number): string | undefined {
  if (NOISE_PROCESSES.includes(v.process)) return `system daemon ${v.process}`;
  if (v.operation === 'mach-lookup') {
    if (NOISE_SERVICES.some((re) => re.test(v.target))) return `lookup of ${v.target}`;
    if (v.target.startsWith('com.apple.') && v.pid !== rootPid) return 'system framework lookup';
  }
  if (v.operation.startsWith('file-write') && v.target === '/dev/dtracehelper') return 'dyld dtrace helper';
  return undefined;
}
