// The macOS denial monitor, on Linux: the parser on hand-written lines in the documented kernel
// form, and the monitor with a fake `log` process. Nothing here has seen a real Mac; see
// test/fixtures/seatbelt-log/README.md for what the fixtures are and how to replace them.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  denialOpOf,
  denialsFrom,
  mergeViolations,
  noiseReason,
  parseNetTarget,
  parseSandboxLine,
  violationToDenial,
} from '../src/supervisor/denials/seatbelt-log.js';
import {
  LOG_BINARY,
  logShowArgs,
  logStreamArgs,
  parseShowOutput,
  predicateString,
  sandboxLogPredicate,
  SeatbeltDenialMonitor,
  type LogProcess,
  type SeatbeltMonitorDeps,
} from '../src/supervisor/denials/seatbelt-monitor.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'seatbelt-log');
const fixture = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
const lines = (name: string) => fixture(name).split('\n').filter((l) => l !== '');
const stream = lines('stream.ndjson');
/** The stream's record whose message contains `needle`. */
const rec = (needle: string) => {
  const found = stream.filter((l) => l.startsWith('{') && (JSON.parse(l) as { eventMessage?: string }).eventMessage?.includes(needle));
  if (found.length !== 1) throw new Error(`${found.length} fixture records contain ${needle}`);
  return found[0]!;
};
/** The stream's record whose message is exactly `message`. */
const recExact = (message: string) => {
  const found = stream.find((l) => l.startsWith('{') && (JSON.parse(l) as { eventMessage?: string }).eventMessage === message);
  if (!found) throw new Error(`no fixture record says ${message}`);
  return found;
};
const CAT = 'Sandbox: cat(41523) deny(1) file-read-data /Users/alice/.ssh/id_rsa\nnono:deny-3';
const CURL443 = 'Sandbox: curl(41800) deny(1) network-outbound *:443\nnono:net-block';
const plain = (needle: string) => {
  const found = lines('plain.log').filter((l) => l.includes(needle));
  if (found.length !== 1) throw new Error(`${found.length} plain lines contain ${needle}`);
  return found[0]!;
};
const parse = (line: string, tags?: string[]) => {
  const v = parseSandboxLine(line, tags ? { tags } : {});
  if (!v) throw new Error(`did not parse: ${line}`);
  return v;
};
/** A kernel ndjson record around a message. */
const kernel = (eventMessage: string) =>
  JSON.stringify({ eventMessage, processID: 0, senderImagePath: '/System/Library/Extensions/Sandbox.kext/Contents/MacOS/Sandbox', subsystem: '' });

describe('the log command', () => {
  it('selects kernel Sandbox messages, sandboxd and the reporting subsystem, as one argv element', () => {
    expect(sandboxLogPredicate()).toBe(
      '(((processID == 0) AND (senderImagePath CONTAINS "/Sandbox")) OR (process == "sandboxd") OR (subsystem == "com.apple.sandbox.reporting"))',
    );
    expect(logStreamArgs()).toEqual(['stream', '--style', 'ndjson', '--level', 'debug', '--predicate', sandboxLogPredicate()]);
    expect(logShowArgs()).toEqual(['show', '--style', 'ndjson', '--last', '10s', '--predicate', sandboxLogPredicate()]);
    expect(logShowArgs(4)[4]).toBe('4s');
    expect(LOG_BINARY).toBe('/usr/bin/log');
  });

  it('quotes predicate strings', () => {
    expect(predicateString('a"b\\c')).toBe('"a\\"b\\\\c"');
  });
});

describe('parseSandboxLine on the documented form', () => {
  it('cat reading ~/.ssh/id_rsa, with the rule tag on the next line of eventMessage', () => {
    const v = parse(recExact(CAT));
    expect(v).toEqual({
      pid: 41523,
      process: 'cat',
      operation: 'file-read-data',
      target: '/Users/alice/.ssh/id_rsa',
      count: 1,
      tag: 'nono',
      ruleId: 'deny-3',
      evidence: 'Sandbox: cat(41523) deny(1) file-read-data /Users/alice/.ssh/id_rsa',
    });
    expect(violationToDenial(v)).toEqual({
      op: 'read',
      path: '/Users/alice/.ssh/id_rsa',
      evidence: 'Sandbox: cat(41523) deny(1) file-read-data /Users/alice/.ssh/id_rsa [nono:deny-3]',
      source: 'seatbelt-log',
    });
  });

  it('duplicate reports: the count is the number of repeats, singular and plural', () => {
    const one = parse(rec('1 duplicate report for Sandbox: cat(41523)'));
    expect(one).toMatchObject({ pid: 41523, operation: 'file-read-data', target: '/Users/alice/.ssh/id_rsa', count: 1 });
    expect(one.evidence).toBe('1 duplicate report for Sandbox: cat(41523) deny(1) file-read-data /Users/alice/.ssh/id_rsa');
    expect(parse(rec('3 duplicate reports for Sandbox: curl(41800)'))).toMatchObject({ count: 3, target: '*:443' });
    expect(parse(plain('12 duplicate reports'))).toMatchObject({ count: 12, process: 'git', operation: 'file-read-metadata' });
    expect(parse(plain('1 duplicate report for'))).toMatchObject({ count: 1, pid: 41523 });
  });

  it('touch creating, rm unlinking, a refused exec', () => {
    expect(violationToDenial(parse(rec('touch(41600)')))).toMatchObject({ op: 'create', path: '/Users/alice/Documents/notes.txt' });
    expect(violationToDenial(parse(rec('rm(41650)')))).toMatchObject({ op: 'delete', path: '/Users/alice/.aws/credentials' });
    const exec = parse(rec('process-exec'));
    expect(exec).toMatchObject({ pid: 41701, process: 'bash', ruleId: 'default' });
    expect(violationToDenial(exec)).toMatchObject({ op: 'execute', path: '/Users/alice/bin/deploy' });
  });

  it('network-outbound to *:443, to a Unix socket, to an address; network-bind', () => {
    expect(violationToDenial(parse(recExact(CURL443)))).toEqual({
      op: 'connect',
      port: 443,
      evidence: 'Sandbox: curl(41800) deny(1) network-outbound *:443 [nono:net-block]',
      source: 'seatbelt-log',
    });
    expect(violationToDenial(parse(rec('S.gpg-agent')))).toMatchObject({ op: 'connect', path: '/Users/alice/.gnupg/S.gpg-agent' });
    expect(violationToDenial(parse(rec('network-outbound /private/var/run/mDNSResponder')))).toMatchObject({
      op: 'connect',
      path: '/private/var/run/mDNSResponder',
    });
    const conn = (needle: string) => violationToDenial(parse(plain(needle)));
    expect(conn('remote:*:443')).toMatchObject({ op: 'connect', port: 443 });
    expect(conn('remote:*:443')!.host).toBeUndefined();
    expect(conn('140.82.112.3:443')).toMatchObject({ op: 'connect', host: '140.82.112.3', port: 443 });
    expect(conn('[::1]:8080')).toMatchObject({ op: 'connect', host: '::1', port: 8080 });
    expect(conn('network-bind')).toMatchObject({ op: 'bind', host: 'localhost', port: 3000 });
  });

  it('net targets', () => {
    expect(parseNetTarget('*:443')).toEqual({ port: 443 });
    expect(parseNetTarget('localhost:*')).toEqual({ host: 'localhost' });
    expect(parseNetTarget('remote:tcp4:*:22')).toEqual({ port: 22 });
    expect(parseNetTarget('/tmp/s.sock')).toEqual({ path: '/tmp/s.sock' });
    expect(parseNetTarget('')).toEqual({});
    expect(parseNetTarget('*:99999')).toEqual({});
  });

  it('text styles with timestamps; names with spaces; paths with spaces and parentheses', () => {
    expect(parse(plain('Gradle Worker'))).toMatchObject({ process: 'Gradle Worker', pid: 41900, operation: 'file-write-data' });
    expect(parse(plain('report (final)'))).toMatchObject({
      process: 'cp',
      target: '/Users/alice/My Documents/report (final).txt',
    });
    expect(parse(plain('zsh(41980)'))).toMatchObject({ operation: 'signal', target: '' });
    expect(violationToDenial(parse(plain('zsh(41980)')))).toBeUndefined();
  });

  it('a path that imitates the message cannot move the pid or the operation', () => {
    expect(parse(plain('touch(41960)'))).toMatchObject({
      pid: 41960,
      process: 'touch',
      operation: 'file-write-create',
      target: '/private/tmp/x(1) deny(1) file-read-data /etc/passwd',
    });
  });

  it('a path with a newline: the tag is the last line', () => {
    const v = parse(kernel('Sandbox: touch(7) deny(1) file-write-create /tmp/a\nnono:deny-1\nb\nnono:deny-2'));
    expect(v).toMatchObject({ target: '/tmp/a\nnono:deny-1\nb', tag: 'nono', ruleId: 'deny-2' });
  });

  it('a tag on the same line is split off only for tags the caller names', () => {
    const line = plain('out.txt nono:deny-4');
    expect(parse(line)).toMatchObject({ target: '/Users/alice/out.txt nono:deny-4' });
    expect(parse(line).tag).toBeUndefined();
    expect(parse(line, ['nono'])).toMatchObject({ target: '/Users/alice/out.txt', tag: 'nono', ruleId: 'deny-4' });
    expect(parse(line, ['other'])).toMatchObject({ target: '/Users/alice/out.txt nono:deny-4' });
  });

  it('a tag without a rule id', () => {
    expect(parse(kernel('Sandbox: a(5) deny(1) file-read-data /x\nCMD64_abc_END__k3j_SBX'))).toMatchObject({
      tag: 'CMD64_abc_END__k3j_SBX',
    });
    expect(parse(kernel('Sandbox: a(5) deny(1) file-read-data /x\nnono:deny-1')).ruleId).toBe('deny-1');
  });

  it('ignores the banner, the trailer, System Policy lines and records a sandboxed program forged', () => {
    expect(parseSandboxLine(stream[0]!)).toBeUndefined();
    expect(parseSandboxLine(stream[stream.length - 1]!)).toBeUndefined();
    expect(parseSandboxLine(rec('System Policy'))).toBeUndefined();
    expect(parseSandboxLine(rec('/etc/master.passwd'))).toBeUndefined();
    // The same message from a system daemon's image is believed.
    const fromSystem = JSON.parse(rec('/etc/master.passwd')) as Record<string, unknown>;
    fromSystem.processImagePath = '/usr/libexec/sandboxd';
    expect(parseSandboxLine(JSON.stringify(fromSystem))).toMatchObject({ target: '/etc/master.passwd' });
  });

  it('malformed lines are ignored without throwing', () => {
    const bad = fixture('malformed.txt').split('\n');
    expect(bad.length).toBeGreaterThan(15);
    for (const l of bad) expect(parseSandboxLine(l), l).toBeUndefined();
    // Arbitrary bytes, including partial matches of every piece.
    const pieces = ['Sandbox: ', 'cat', '(12)', ' deny(1) ', 'file-read-data', ' /x', '\n', '{', '"', '1 duplicate report for ', '(', ')', ':'];
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 3000; i++) {
      const s = Array.from({ length: rand(10) }, () => pieces[rand(pieces.length)]).join('');
      expect(() => parseSandboxLine(s)).not.toThrow();
      expect(() => parseSandboxLine(kernel(s))).not.toThrow();
    }
  });
});

describe('operations', () => {
  it('map onto DenialOps', () => {
    const table: Array<[string, string | undefined]> = [
      ['file-read-data', 'read'],
      ['file-read-metadata', 'read'],
      ['file-read-xattr', 'read'],
      ['file-write-create', 'create'],
      ['file-write-unlink', 'delete'],
      ['file-write-data', 'write'],
      ['file-write-mode', 'write'],
      ['file-write-xattr', 'write'],
      ['process-exec', 'execute'],
      ['process-exec-interpreter', 'execute'],
      ['network-outbound', 'connect'],
      ['network-bind', 'bind'],
      ['network-inbound', undefined],
      ['mach-lookup', undefined],
      ['sysctl-read', undefined],
      ['file-ioctl', undefined],
      ['signal', undefined],
    ];
    for (const [op, want] of table) expect(denialOpOf(op), op).toBe(want);
  });

  it('file-read-metadata only counts when nothing else was refused', () => {
    const meta = parse(rec('ls(41950)'));
    const read = parse(recExact(CAT));
    expect(denialsFrom([meta])).toMatchObject([{ op: 'read', path: '/Users/alice/.ssh/config' }]);
    expect(denialsFrom([meta, read])).toMatchObject([{ op: 'read', path: '/Users/alice/.ssh/id_rsa' }]);
    // An unmappable refusal next to a stat does not hide the stat.
    const lookup = parse(kernel('Sandbox: ls(41950) deny(1) mach-lookup com.apple.coreservices.launchservicesd'));
    expect(denialsFrom([meta, lookup])).toHaveLength(1);
  });

  it('de-duplicates: one Denial per operation and target, counts summed per process', () => {
    const a = parse(recExact(CAT));
    const b = parse(rec('1 duplicate report for Sandbox: cat(41523)'));
    expect(mergeViolations([a, b])).toMatchObject([{ pid: 41523, count: 2 }]);
    const other = { ...a, pid: 41524 };
    expect(mergeViolations([a, b, other])).toHaveLength(2);
    expect(denialsFrom([a, b, other])).toHaveLength(1);
  });
});

describe('noise', () => {
  const v = (needle: string) => parse(rec(needle));
  it('drops the system daemons, logging/trust lookups and dtracehelper', () => {
    expect(noiseReason(v('mDNSResponder(312)'))).toMatch(/mDNSResponder/);
    expect(noiseReason(v('diagnosticd(401)'))).toMatch(/diagnosticd/);
    expect(noiseReason(v('analyticsd(398)'))).toMatch(/analyticsd/);
    // from the command's own root, too
    expect(noiseReason(v('zsh(41500) deny(1) mach-lookup com.apple.diagnosticd'), 41500)).toMatch(/diagnosticd/);
    expect(noiseReason(v('com.apple.trustd.agent'), 41800)).toMatch(/trustd/);
    expect(noiseReason(v('/dev/dtracehelper'))).toMatch(/dtrace/);
  });

  it('other com.apple.* lookups are noise except from the root pid', () => {
    const lookup = parse(kernel('Sandbox: zsh(41500) deny(1) mach-lookup com.apple.coreservices.launchservicesd'));
    expect(noiseReason(lookup, 41500)).toBeUndefined();
    expect(noiseReason({ ...lookup, pid: 41501 }, 41500)).toBe('system framework lookup');
    expect(noiseReason({ ...lookup, target: 'org.example.agent' }, 1)).toBeUndefined();
  });

  it('keeps what the command itself was refused, including the DNS socket', () => {
    for (const n of ['touch(41600)', 'S.gpg-agent', 'network-outbound /private/var/run/mDNSResponder']) {
      expect(noiseReason(v(n)), n).toBeUndefined();
    }
    expect(noiseReason(parse(recExact(CAT)))).toBeUndefined();
  });
});

// ---- the monitor with a fake `log` ----

class FakeLog implements LogProcess {
  killed = false;
  private queue: string[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  readonly ready: Promise<void>;
  constructor(
    readonly args: string[],
    ready: Promise<void> = Promise.resolve(),
  ) {
    this.ready = ready;
  }
  push(...ls: string[]): void {
    this.queue.push(...ls);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  kill(): void {
    this.killed = true;
    this.end();
  }
  get lines(): AsyncIterable<string> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (self.queue.length) {
            yield self.queue.shift()!;
            continue;
          }
          if (self.ended) return;
          await new Promise<void>((resolve) => (self.wake = resolve));
          self.wake = undefined;
        }
      },
    };
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Harness {
  monitor: SeatbeltDenialMonitor;
  log: () => FakeLog;
  tree: Map<number, number[]>;
  showCalls: string[][];
  show: { out: string | Error };
}

function harness(extra: Partial<SeatbeltMonitorDeps> = {}, ready?: Promise<void>): Harness {
  let fake: FakeLog | undefined;
  const tree = new Map<number, number[]>();
  const showCalls: string[][] = [];
  const show: { out: string | Error } = { out: '' };
  const monitor = new SeatbeltDenialMonitor({
    spawnLog: (args) => (fake = new FakeLog(args, ready)),
    runLogShow: async (args) => {
      showCalls.push(args);
      if (show.out instanceof Error) throw show.out;
      return show.out;
    },
    pidsOf: async (root) => tree.get(root) ?? [],
    tag: 'nono',
    readyTimeoutMs: 200,
    ...extra,
  });
  return {
    monitor,
    log: () => {
      if (!fake) throw new Error('log stream not spawned');
      return fake;
    },
    tree,
    showCalls,
    show,
  };
}

/** Starts the monitor and lets the banner through. */
async function started(extra: Partial<SeatbeltMonitorDeps> = {}): Promise<Harness> {
  const h = harness(extra);
  const starting = h.monitor.start();
  h.log().push(stream[0]!);
  expect(await starting).toEqual({ ready: true });
  return h;
}

describe('SeatbeltDenialMonitor', () => {
  it('spawns log stream with the predicate and waits for its first line', async () => {
    const h = harness();
    let done = false;
    const starting = h.monitor.start().then((r) => ((done = true), r));
    expect(h.log().args).toEqual(logStreamArgs());
    await delay(40);
    expect(done).toBe(false);
    h.log().push(stream[0]!);
    expect(await starting).toEqual({ ready: true });
    expect(h.monitor.streaming).toBe(true);
    h.monitor.stop();
  });

  it('gives up waiting after the timeout but keeps the stream', async () => {
    const h = harness({ readyTimeoutMs: 50 });
    const t0 = Date.now();
    const r = await h.monitor.start();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(r.ready).toBe(false);
    expect(r.reason).toMatch(/no output from log stream within 50 ms/);
    expect(h.monitor.streaming).toBe(true);
    h.monitor.track(41600);
    h.log().push(rec('touch(41600)'));
    expect(await h.monitor.collect(41600, { flushMs: 20 })).toMatchObject([{ op: 'create' }]);
    expect(h.showCalls).toHaveLength(0);
    h.monitor.stop();
  });

  it('reports a log that could not be started', async () => {
    const h = harness({}, Promise.reject(new Error('spawn /usr/bin/log ENOENT')));
    expect(await h.monitor.start()).toEqual({ ready: false, reason: 'log stream did not start: spawn /usr/bin/log ENOENT' });
    expect(h.log().killed).toBe(true);
    expect(h.monitor.streaming).toBe(false);
    const throwing = new SeatbeltDenialMonitor({
      spawnLog: () => {
        throw new Error('nope');
      },
      runLogShow: async () => '',
      pidsOf: () => [],
    });
    expect(await throwing.start()).toMatchObject({ ready: false, reason: expect.stringMatching(/could not be started: nope/) });
  });

  it('hands each command its own refusals from one session stream, noise and strangers dropped', async () => {
    const h = await started();
    h.tree.set(41500, [41500, 41523]);
    h.tree.set(41700, [41700, 41701]);
    for (const root of [41500, 41600, 41650, 41700, 41800, 41900, 41950, 52011]) h.monitor.track(root);
    h.tree.set(52011, [52011]);
    h.log().push(...stream.slice(1));
    await delay(20);

    const cat = await h.monitor.collectDetailed(41500, { flushMs: 20 });
    expect(cat.from).toBe('stream');
    expect(cat.denials).toEqual([
      {
        op: 'read',
        path: '/Users/alice/.ssh/id_rsa',
        evidence: 'Sandbox: cat(41523) deny(1) file-read-data /Users/alice/.ssh/id_rsa [nono:deny-3]',
        source: 'seatbelt-log',
      },
    ]);
    // The duplicate report folded in; the zsh diagnosticd lookup, the dtracehelper write by pid
    // 41523 and the forged /etc/master.passwd record are gone.
    expect(cat.violations).toMatchObject([{ pid: 41523, count: 2 }]);
    expect(cat.unmapped).toEqual([]);

    expect(await h.monitor.collect(41600, { flushMs: 0 })).toMatchObject([{ op: 'create', path: '/Users/alice/Documents/notes.txt' }]);
    expect(await h.monitor.collect(41650, { flushMs: 0 })).toMatchObject([{ op: 'delete', path: '/Users/alice/.aws/credentials' }]);
    expect(await h.monitor.collect(41700, { flushMs: 0 })).toMatchObject([{ op: 'execute', path: '/Users/alice/bin/deploy' }]);
    const curl = await h.monitor.collectDetailed(41800, { flushMs: 0 });
    expect(curl.denials).toEqual([
      expect.objectContaining({ op: 'connect', path: '/private/var/run/mDNSResponder' }),
      expect.objectContaining({ op: 'connect', port: 443 }),
    ]);
    expect(curl.violations.find((v) => v.target === '*:443')!.count).toBe(4);
    expect(await h.monitor.collect(41900, { flushMs: 0 })).toMatchObject([{ op: 'connect', path: '/Users/alice/.gnupg/S.gpg-agent' }]);
    expect(await h.monitor.collect(41950, { flushMs: 0 })).toMatchObject([{ op: 'read', path: '/Users/alice/.ssh/config' }]);
    // pid 52011 is in its tree, but the refusal carries another session's tag.
    expect(await h.monitor.collect(52011, { flushMs: 0, fallback: 'never' })).toEqual([]);
    // Every command but 52011 had its refusals from the stream, and 52011 asked for no fallback.
    expect(h.showCalls).toHaveLength(0);
    h.monitor.stop();
  });

  it('a refusal of an unrelated pid is given to nobody', async () => {
    const h = await started();
    h.monitor.track(41600);
    h.log().push(rec('Slack Helper(9876)'), rec('cat(52011)'));
    await delay(10);
    expect(await h.monitor.collect(41600, { flushMs: 10, fallback: 'never' })).toEqual([]);
    h.monitor.stop();
  });

  it('remembers descendants seen while they lived', async () => {
    const h = await started();
    h.tree.set(41700, [41700]);
    h.monitor.track(41700);
    await delay(5);
    // The child appears, is refused, and exits; by collect() the tree is empty.
    h.tree.set(41700, [41700, 41701]);
    h.log().push(rec('process-exec'));
    await delay(10);
    h.tree.set(41700, []);
    expect(await h.monitor.collect(41700, { flushMs: 10 })).toMatchObject([{ op: 'execute', path: '/Users/alice/bin/deploy' }]);
    h.monitor.stop();
  });

  it('waits the flush delay for lines that arrive after the command exited', async () => {
    const h = await started();
    h.monitor.track(41600);
    const collecting = h.monitor.collect(41600, { flushMs: 150, fallback: 'never' });
    await delay(40);
    h.log().push(rec('touch(41600)'));
    expect(await collecting).toMatchObject([{ op: 'create', path: '/Users/alice/Documents/notes.txt' }]);

    // A line after the flush window is not this command's any more.
    h.monitor.track(41650);
    const early = h.monitor.collect(41650, { flushMs: 30, fallback: 'never' });
    setTimeout(() => h.log().push(rec('rm(41650)')), 120);
    expect(await early).toEqual([]);
    h.monitor.stop();
  });

  it('falls back to log show for a short command the stream said nothing about', async () => {
    const h = await started();
    h.tree.set(42100, [42100, 42177]);
    h.monitor.track(42100);
    await delay(5);
    h.tree.set(42100, []);
    h.show.out = fixture('show.ndjson');
    const r = await h.monitor.collectDetailed(42100, { flushMs: 20 });
    expect(h.showCalls).toEqual([logShowArgs(10)]);
    expect(r.from).toBe('log-show');
    expect(r.denials).toEqual([
      expect.objectContaining({ op: 'write', path: '/Users/alice/.zshrc', source: 'seatbelt-log' }),
      expect.objectContaining({ op: 'read', path: '/Users/alice/.pypirc' }),
    ]);
    h.monitor.stop();
  });

  it('does not ask log show when the stream delivered, when told not to, or for a long command', async () => {
    let now = 0;
    const h = await started({ now: () => now });
    h.monitor.track(41600);
    h.log().push(rec('touch(41600)'));
    await delay(5);
    expect(await h.monitor.collect(41600, { flushMs: 5 })).toHaveLength(1);
    h.monitor.track(41650);
    expect(await h.monitor.collect(41650, { flushMs: 5, fallback: 'never' })).toEqual([]);
    h.monitor.track(41700);
    now = 30_000; // ran 30 s: longer than the 10 s log show would read back
    expect(await h.monitor.collect(41700, { flushMs: 5 })).toEqual([]);
    expect(h.showCalls).toHaveLength(0);
    h.monitor.stop();
  });

  it('uses log show whatever the duration once the stream has died, and survives its failure', async () => {
    let now = 0;
    const h = await started({ now: () => now });
    h.tree.set(42100, [42100]);
    h.monitor.track(42100);
    h.log().end();
    await h.monitor.closed();
    expect(h.monitor.streaming).toBe(false);
    now = 60_000;
    h.show.out = fixture('show.ndjson');
    expect(await h.monitor.collect(42100, { flushMs: 0 })).toMatchObject([{ op: 'write', path: '/Users/alice/.zshrc' }]);
    h.monitor.track(42100);
    h.show.out = new Error('log: Cannot run while sandboxed');
    const r = await h.monitor.collectDetailed(42100, { flushMs: 0 });
    expect(r.denials).toEqual([]);
    expect(r.notes).toContain('log show failed: log: Cannot run while sandboxed');
  });

  it("'always' adds what the store has and the stream lacked, without double counting", async () => {
    const h = await started();
    h.tree.set(42100, [42100, 42177]);
    h.monitor.track(42100);
    h.log().push(kernel('Sandbox: bash(42100) deny(1) file-write-data /Users/alice/.zshrc\nnono:deny-9'));
    await delay(5);
    h.show.out = fixture('show.ndjson');
    const r = await h.monitor.collectDetailed(42100, { flushMs: 5, fallback: 'always' });
    expect(r.from).toBe('log-show');
    expect(r.violations.map((v) => [v.target, v.count])).toEqual([
      ['/Users/alice/.zshrc', 1],
      ['/Users/alice/.pypirc', 1],
    ]);
    h.monitor.stop();
  });

  it('a command compiled with its own tag gets its refusals whatever the pid, and no one else’s', async () => {
    const h = await started();
    h.tree.set(700, [700]);
    h.monitor.track(700, { tag: 'nono-c1' });
    h.monitor.track(800, { tag: 'nono-c2' });
    h.log().push(
      kernel('Sandbox: cat(731) deny(1) file-read-data /Users/alice/.netrc\nnono-c1:deny-0'),
      kernel('Sandbox: cat(700) deny(1) file-read-data /Users/alice/.npmrc\nnono-c2:deny-0'),
    );
    await delay(10);
    expect(await h.monitor.collect(700, { flushMs: 0, fallback: 'never' })).toMatchObject([{ path: '/Users/alice/.netrc' }]);
    expect(await h.monitor.collect(800, { flushMs: 0, fallback: 'never' })).toMatchObject([{ path: '/Users/alice/.npmrc' }]);
    h.monitor.stop();
  });

  it('keeps the root’s own unmappable refusals for explain', async () => {
    const h = await started();
    h.tree.set(900, [900, 901]);
    h.monitor.track(900);
    h.log().push(
      kernel('Sandbox: zsh(900) deny(1) mach-lookup com.apple.coreservices.launchservicesd\nnono:default'),
      kernel('Sandbox: git(901) deny(1) mach-lookup com.apple.coreservices.launchservicesd\nnono:default'),
    );
    await delay(10);
    const r = await h.monitor.collectDetailed(900, { flushMs: 0, fallback: 'never' });
    expect(r.denials).toEqual([]);
    expect(r.unmapped).toMatchObject([{ pid: 900, operation: 'mach-lookup' }]);
    h.monitor.stop();
  });

  it('kills the stream on stop', async () => {
    const h = await started();
    h.monitor.stop();
    expect(h.log().killed).toBe(true);
    await h.monitor.closed();
    expect(h.monitor.streaming).toBe(false);
    h.monitor.stop(); // idempotent
    expect(await h.monitor.start()).toMatchObject({ ready: false });
  });

  it('ignores non-record and malformed lines on the stream', async () => {
    const h = await started();
    h.monitor.track(41600);
    h.log().push(...fixture('malformed.txt').split('\n'), rec('touch(41600)'));
    await delay(10);
    expect(await h.monitor.collect(41600, { flushMs: 0 })).toHaveLength(1);
    h.monitor.stop();
  });
});

describe('parseShowOutput', () => {
  it('reads ndjson and JSON arrays, skipping banners, trailers and noise', () => {
    const v = parseShowOutput(fixture('show.ndjson'));
    expect(v.map((x) => x.target)).toEqual(['/Users/alice/.zshrc', '/Users/alice/.pypirc']);
    const records = lines('show.ndjson').filter((l) => l.startsWith('{"traceID"')).map((l) => JSON.parse(l) as unknown);
    expect(parseShowOutput(JSON.stringify(records)).map((x) => x.target)).toEqual(['/Users/alice/.zshrc', '/Users/alice/.pypirc']);
    expect(parseShowOutput('')).toEqual([]);
    expect(parseShowOutput('[oops')).toEqual([]);
  });
});
