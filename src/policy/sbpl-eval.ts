// A small model of how Seatbelt decides, over the rules seatbelt-compiler.ts emits. It exists so
// that the one property the compiler must get right (a later rule overrides an earlier one for the
// same operation and path) can be tested on Linux, and so that `explain` can say which rule a
// denial came from. It is not Apple's engine: it knows the operations, filters and modifiers the
// compiler uses and nothing else, and parseSbpl rejects anything outside that subset rather than
// guessing what it means.
import path from 'node:path';

/** A filter; a rule with several filters matches when any one of them does (SBPL's implicit or). */
export type SeatbeltFilter =
  | { kind: 'subpath' | 'literal' | 'regex'; path: string }
  /** mach-lookup by service name. */
  | { kind: 'global-name'; name: string }
  /** POSIX shared memory by name. */
  | { kind: 'ipc-posix-name'; name: string }
  /** `(remote tcp "host:port")` / `(local tcp "host:port")`; Seatbelt only accepts * or localhost as host. */
  | { kind: 'remote-tcp' | 'local-tcp'; host: '*' | 'localhost'; port: number | '*' }
  /** `(remote unix-socket (path-literal "..."))`. */
  | { kind: 'remote-unix-socket'; path: string }
  /** `(target same-sandbox)`: signals and process info only towards processes in this sandbox. */
  | { kind: 'target'; target: 'same-sandbox' };

export interface SeatbeltRule {
  /** Stable within one compiled profile; deny rules carry it in `(with message "<tag>:<id>")`. */
  id: string;
  action: 'allow' | 'deny';
  /** SBPL operation names; a trailing * names a family (file-read* covers file-read-data...). */
  operations: string[];
  /** Empty: the rule applies to every instance of its operations. */
  filters: SeatbeltFilter[];
  /** Where the rule came from, for explain: a policy source or "nono-shell base". */
  source: string;
}

/** What an operation acts on. A bare string is a file path. */
export type Subject =
  | string
  | { path: string }
  | { unixSocket: string }
  | { machService: string }
  | { shmName: string }
  | { remote: NetAddress }
  | { local: NetAddress }
  | { target: 'same-sandbox' | 'other' };

export interface NetAddress {
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
}

export interface Decision {
  allowed: boolean;
  /** The last rule that matched, or 'default' when none did. */
  rule: SeatbeltRule | 'default';
}

/** `child` is `parent` or below it, on path-component boundaries: /a/bc is not under /a/b. */
export function isUnder(child: string, parent: string): boolean {
  if (parent === '/') return child.startsWith('/');
  return child === parent || child.startsWith(parent + '/');
}

/** `file-read*` covers `file-read-data`; a name without * covers only itself. */
export function operationMatches(pattern: string, operation: string): boolean {
  if (pattern.endsWith('*')) return operation.startsWith(pattern.slice(0, -1));
  return pattern === operation;
}

const LOCALHOST = new Set(['localhost', '127.0.0.1', '::1']);

function normalizePath(p: string): string {
  if (!path.posix.isAbsolute(p)) throw new Error(`not an absolute path: ${JSON.stringify(p)}`);
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function pathFilterMatches(f: { kind: 'subpath' | 'literal' | 'regex'; path: string }, p: string): boolean {
  if (f.kind === 'literal') return p === f.path;
  if (f.kind === 'subpath') return isUnder(p, f.path);
  return new RegExp(f.path).test(p);
}

function addressMatches(f: { host: '*' | 'localhost'; port: number | '*' }, a: NetAddress): boolean {
  if (f.port !== '*' && f.port !== a.port) return false;
  return f.host === '*' || LOCALHOST.has(a.host);
}

function filterMatches(f: SeatbeltFilter, s: Exclude<Subject, string>): boolean {
  switch (f.kind) {
    case 'subpath':
    case 'literal':
    case 'regex':
      // Path filters also apply to connecting a Unix socket: the socket is a file at that path.
      if ('path' in s) return pathFilterMatches(f, normalizePath(s.path));
      if ('unixSocket' in s) return pathFilterMatches(f, normalizePath(s.unixSocket));
      return false;
    case 'remote-unix-socket':
      return 'unixSocket' in s && normalizePath(s.unixSocket) === f.path;
    case 'global-name':
      return 'machService' in s && s.machService === f.name;
    case 'ipc-posix-name':
      return 'shmName' in s && s.shmName === f.name;
    case 'remote-tcp':
      return 'remote' in s && s.remote.proto === 'tcp' && addressMatches(f, s.remote);
    case 'local-tcp':
      return 'local' in s && s.local.proto === 'tcp' && addressMatches(f, s.local);
    case 'target':
      return 'target' in s && s.target === 'same-sandbox';
  }
}

export function ruleMatches(rule: SeatbeltRule, operation: string, subject: Subject): boolean {
  if (rule.operations.includes('default')) return false;
  if (!rule.operations.some((o) => operationMatches(o, operation))) return false;
  if (rule.filters.length === 0) return true;
  const s = typeof subject === 'string' ? { path: subject } : subject;
  return rule.filters.some((f) => filterMatches(f, s));
}

/**
 * What Seatbelt would answer for one concrete operation (file-read-data, not file-read*): the last
 * matching rule wins; with none, the `default` rule decides (deny when there is none).
 */
export function decide(rules: readonly SeatbeltRule[], operation: string, subject: Subject): Decision {
  if (operation.endsWith('*')) throw new Error(`decide() takes a concrete operation, not the family ${operation}`);
  for (let i = rules.length - 1; i >= 0; i--) {
    const rule = rules[i]!;
    if (ruleMatches(rule, operation, subject)) return { allowed: rule.action === 'allow', rule };
  }
  const fallback = rules.find((r) => r.operations.includes('default'));
  return { allowed: fallback?.action === 'allow', rule: 'default' };
}

// ---- parsing the emitted subset back ----

type Token =
  | { t: '(' | ')' }
  | { t: 'str'; v: string }
  | { t: 'regex'; v: string }
  | { t: 'atom'; v: string }
  | { t: 'meta'; id: string; source: string };

type Node = { t: 'str' | 'regex' | 'atom'; v: string } | { t: 'list'; items: Node[] } | { t: 'meta'; id: string; source: string };

/** Comments of the form `;; @<id> <source>` name the rule that follows (allow rules have no message). */
const META = /^;; @(\S+)(?: (.*))?$/;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const readQuoted = (raw: boolean): string => {
    let v = '';
    i++; // opening quote
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error('unterminated string in SBPL');
      if (c === '"') {
        i++;
        return v;
      }
      if (c === '\\') {
        const n = text[i + 1];
        if (n === undefined) throw new Error('unterminated string in SBPL');
        // In a regex the backslash belongs to the pattern; in a string it only escapes.
        v += raw ? c + n : n;
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '(' || c === ')') {
      out.push({ t: c });
      i++;
    } else if (c === ';') {
      const end = text.indexOf('\n', i);
      const line = text.slice(i, end === -1 ? text.length : end);
      const m = META.exec(line);
      if (m) out.push({ t: 'meta', id: m[1]!, source: m[2] ?? '' });
      i = end === -1 ? text.length : end;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      out.push({ t: 'str', v: readQuoted(false) });
    } else if (c === '#' && text[i + 1] === '"') {
      i++;
      out.push({ t: 'regex', v: readQuoted(true) });
    } else {
      const m = /^[^\s()";]+/.exec(text.slice(i))!;
      out.push({ t: 'atom', v: m[0] });
      i += m[0].length;
    }
  }
  return out;
}

function toTree(tokens: Token[]): Node[] {
  const stack: Node[][] = [[]];
  for (const tok of tokens) {
    if (tok.t === '(') stack.push([]);
    else if (tok.t === ')') {
      if (stack.length < 2) throw new Error('unbalanced ) in SBPL');
      const items = stack.pop()!;
      stack.at(-1)!.push({ t: 'list', items });
    } else stack.at(-1)!.push(tok as Node);
  }
  if (stack.length !== 1) throw new Error('unbalanced ( in SBPL');
  return stack[0]!;
}

const show = (n: Node): string =>
  n.t === 'list' ? `(${n.items.map(show).join(' ')})` : n.t === 'meta' ? `;; @${n.id}` : n.t === 'str' ? JSON.stringify(n.v) : n.v;

function stringArg(n: Node | undefined, form: Node): string {
  if (n?.t !== 'str') throw new Error(`expected a string in ${show(form)}`);
  return n.v;
}

function parseAddress(s: string, form: Node): { host: '*' | 'localhost'; port: number | '*' } {
  const m = /^(\*|localhost):(\*|\d+)$/.exec(s);
  if (!m) throw new Error(`address must be "*:PORT" or "localhost:PORT" in ${show(form)}`);
  return { host: m[1] as '*' | 'localhost', port: m[2] === '*' ? '*' : Number(m[2]) };
}

function parseFilter(n: Node): SeatbeltFilter {
  if (n.t !== 'list' || n.items[0]?.t !== 'atom') throw new Error(`not a filter: ${show(n)}`);
  const [head, a, b] = n.items as [Node & { t: 'atom' }, Node | undefined, Node | undefined];
  switch (head.v) {
    case 'literal':
    case 'subpath':
      return { kind: head.v, path: stringArg(a, n) };
    case 'regex':
      if (a?.t !== 'regex' && a?.t !== 'str') throw new Error(`expected a regex in ${show(n)}`);
      return { kind: 'regex', path: a.v };
    case 'global-name':
    case 'ipc-posix-name':
      return { kind: head.v, name: stringArg(a, n) };
    case 'target':
      if (a?.t === 'atom' && a.v === 'same-sandbox') return { kind: 'target', target: 'same-sandbox' };
      break;
    case 'remote':
    case 'local':
      if (a?.t === 'atom' && a.v === 'tcp') return { kind: `${head.v}-tcp`, ...parseAddress(stringArg(b, n), n) };
      if (head.v === 'remote' && a?.t === 'atom' && a.v === 'unix-socket' && b?.t === 'list') {
        const [k, p] = b.items;
        if (k?.t === 'atom' && k.v === 'path-literal') return { kind: 'remote-unix-socket', path: stringArg(p, b) };
      }
      break;
  }
  throw new Error(`filter outside the subset nono-shell emits: ${show(n)}`);
}

/**
 * Reads back the SBPL subset seatbelt-compiler.ts writes (so golden files can be evaluated as
 * text). Rule ids come from the `;; @id source` comment before a rule, else from its message.
 */
export function parseSbpl(text: string): SeatbeltRule[] {
  const rules: SeatbeltRule[] = [];
  let pending: { id: string; source: string } | undefined;
  for (const n of toTree(tokenize(text))) {
    if (n.t === 'meta') {
      pending = { id: n.id, source: n.source };
      continue;
    }
    if (n.t !== 'list' || n.items[0]?.t !== 'atom') throw new Error(`unexpected top-level form: ${show(n)}`);
    const head = n.items[0].v;
    if (head === 'version') {
      const v = n.items[1];
      if (v?.t !== 'atom' || v.v !== '1') throw new Error(`unsupported ${show(n)}`);
      continue;
    }
    if (head !== 'allow' && head !== 'deny') throw new Error(`form outside the subset nono-shell emits: ${show(n)}`);
    const operations: string[] = [];
    const filters: SeatbeltFilter[] = [];
    let message: string | undefined;
    for (const item of n.items.slice(1)) {
      if (item.t === 'atom') {
        if (filters.length) throw new Error(`operation after a filter in ${show(n)}`);
        operations.push(item.v);
      } else if (item.t === 'list' && item.items[0]?.t === 'atom' && item.items[0].v === 'with') {
        const [, kw, msg] = item.items;
        if (kw?.t !== 'atom' || kw.v !== 'message') throw new Error(`unsupported modifier in ${show(n)}`);
        message = stringArg(msg, item);
      } else {
        filters.push(parseFilter(item));
      }
    }
    if (!operations.length) throw new Error(`rule without an operation: ${show(n)}`);
    // The message is "<tag>:<id>"; ids never contain ':', tags may.
    const fromMessage = message === undefined ? undefined : message.slice(message.lastIndexOf(':') + 1);
    if (pending && fromMessage !== undefined && pending.id !== fromMessage) {
      throw new Error(`rule comment says @${pending.id} but its message says ${message}`);
    }
    rules.push({
      id: pending?.id ?? fromMessage ?? `rule-${rules.length}`,
      action: head,
      operations,
      filters,
      source: pending?.source ?? '',
    });
    pending = undefined;
  }
  return rules;
}
