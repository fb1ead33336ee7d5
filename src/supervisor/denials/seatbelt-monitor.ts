// Watches the macOS unified log for Seatbelt refusals and hands each finished command the ones
// that were its own.
//
// VERIFIED ONLY ON RECORDED/CONSTRUCTED LINES, NOT ON macOS. The `log` process is injected
// (spawnLog, runLogShow) and so is the process tree (pidsOf); the tests drive this class with
// hand-written ndjson. On a Mac, still to check: that `log stream` prints its "Filtering the log
// data..." banner as soon as the predicate is installed (used here as the readiness signal),
// how long kernel lines take to arrive, and how many are lost (observers report that the kernel
// drops refusal lines of non-platform binaries, so the log is a lower bound and the stderr-based
// detection stays the fallback of last resort).
//
// Why the design is what it is:
//   - One stream for the whole session, started before the first command: starting `log stream`
//     per command costs its start-up time on every command, and a short command is over before
//     the stream listens. Readiness is awaited once (first line, at most 2 s).
//   - The log names processes by pid only. A command's refusals are those of its pid and its
//     descendants (pidsOf, asked at track(), whenever a refusal of an unknown pid arrives while a
//     command is in flight, and at collect()); a child that was refused and exited before any of
//     those asks is missed, unless the command was compiled with its own tag (track's `tag`),
//     which every process of that sandbox carries in its refusals whatever its pid.
//   - Lines arrive after the refused call returned, often after the command exited: collect()
//     waits a flush delay (100 ms as peers use), then, if the stream gave nothing for a command
//     that fits in the window, asks `log show --last 10s`, which reads the log store instead.
import type { Denial } from './types.js';
import {
  denialOpOf,
  denialsFrom,
  mergeViolations,
  noiseReason,
  parseRecord,
  type SandboxViolation,
} from './seatbelt-log.js';

/** By absolute path: in zsh `log` is a builtin, and a `log` earlier on PATH must not answer. */
export const LOG_BINARY = '/usr/bin/log';

/**
 * Kernel refusals (pid 0, sent by the Sandbox kext), plus whatever sandboxd and the
 * sandbox.reporting subsystem say, as nono selects them. Passed as one argv element, so it is
 * never seen by a shell and needs no quoting beyond the predicate language's own.
 */
export function sandboxLogPredicate(): string {
  const kernel = `(processID == 0) AND (senderImagePath CONTAINS ${predicateString('/Sandbox')})`;
  const daemon = `process == ${predicateString('sandboxd')}`;
  const reporting = `subsystem == ${predicateString('com.apple.sandbox.reporting')}`;
  return `((${kernel}) OR (${daemon}) OR (${reporting}))`;
}

/** A string literal of NSPredicate syntax. */
export function predicateString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Arguments to LOG_BINARY for the live stream; debug level so nothing is filtered by level. */
export function logStreamArgs(predicate = sandboxLogPredicate()): string[] {
  return ['stream', '--style', 'ndjson', '--level', 'debug', '--predicate', predicate];
}

/** Arguments to LOG_BINARY for reading back the last seconds from the log store. */
export function logShowArgs(lastSeconds = 10, predicate = sandboxLogPredicate()): string[] {
  return ['show', '--style', 'ndjson', '--last', `${lastSeconds}s`, '--predicate', predicate];
}

export interface LogProcess {
  /** stdout, one line at a time; ends when the process exits. */
  lines: AsyncIterable<string>;
  kill(): void;
  /** Resolves once the process was started, rejects when it could not be (no /usr/bin/log). */
  ready: Promise<void>;
}

export interface SeatbeltMonitorDeps {
  spawnLog(args: string[]): LogProcess;
  /** Runs LOG_BINARY with args to completion and returns its stdout. */
  runLogShow(args: string[]): Promise<string>;
  /** The pids of the command rooted at rootPid and of its live descendants. */
  pidsOf(rootPid: number): Iterable<number> | Promise<Iterable<number>>;
  /**
   * The session tag the profiles were compiled with (SeatbeltOptions.tag). Refusals carrying
   * another tag come from another sandbox (another session, another tool) and are dropped.
   */
  tag?: string;
  /** How long start() waits for the stream's first line. Default 2000. */
  readyTimeoutMs?: number;
  /** The window of the `log show` fallback. Default 10. */
  showLastSeconds?: number;
  now?: () => number;
}

export interface StartResult {
  ready: boolean;
  /** Why not, for the verbose log and `nono doctor`. */
  reason?: string;
}

export interface TrackOptions {
  /** The tag this command's own profile was compiled with, when each command has one. */
  tag?: string;
}

export interface CollectOptions {
  /** How long to wait after the command exited for its last lines. Default 100. */
  flushMs?: number;
  /**
   * 'auto' (default): ask `log show` when the stream brought nothing for this command and the
   * command fits in the show window, or whenever the stream is not running.
   */
  fallback?: 'auto' | 'always' | 'never';
}

export interface CollectResult {
  denials: Denial[];
  /** The command's refusals after noise, merged (counts summed); includes the unmapped ones. */
  violations: SandboxViolation[];
  /** Refusals no grant can answer (mach-lookup, sysctl...): for explain and the audit log. */
  unmapped: SandboxViolation[];
  /** Where they came from. */
  from: 'stream' | 'log-show' | 'none';
  notes: string[];
}

interface Tracked {
  pids: Set<number>;
  tag?: string;
  trackedAt: number;
}

interface Received {
  v: SandboxViolation;
  at: number;
}

/** The buffer is fed by the sandboxed commands themselves (they choose what gets refused). */
const MAX_BUFFERED = 5000;
const MAX_AGE_MS = 60_000;
/**
 * Lines received this long before track() are still considered: track() is called right after
 * spawn, and an event loop busy elsewhere may read the stream late. Pids do not come back
 * within a second, so this does not hand a command another process's refusals.
 */
const TRACK_SLACK_MS = 1000;

type State = 'idle' | 'starting' | 'streaming' | 'ended' | 'failed' | 'stopped';

export class SeatbeltDenialMonitor {
  private readonly deps: SeatbeltMonitorDeps;
  private readonly now: () => number;
  private state: State = 'idle';
  private proc: LogProcess | undefined;
  private pump: Promise<void> | undefined;
  private readonly commands = new Map<number, Tracked>();
  private buffer: Received[] = [];
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  /** Lines read from the stream, for doctor and tests. */
  linesSeen = 0;

  constructor(deps: SeatbeltMonitorDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  get streaming(): boolean {
    return this.state === 'streaming';
  }

  async start(): Promise<StartResult> {
    if (this.state !== 'idle') return { ready: this.state === 'streaming', reason: `already ${this.state}` };
    this.state = 'starting';
    let proc: LogProcess;
    try {
      proc = this.deps.spawnLog(logStreamArgs());
    } catch (e) {
      this.state = 'failed';
      return { ready: false, reason: `log stream could not be started: ${message(e)}` };
    }
    this.proc = proc;

    let firstLine!: () => void;
    const gotLine = new Promise<void>((resolve) => (firstLine = resolve));
    this.pump = (async () => {
      try {
        for await (const line of proc.lines) {
          this.linesSeen++;
          firstLine();
          this.ingest(line);
        }
      } catch {
        // A broken pipe is the same as the stream ending: collect() falls back to log show.
      } finally {
        if (this.state === 'starting' || this.state === 'streaming') this.state = 'ended';
        firstLine();
      }
    })();

    const timeoutMs = this.deps.readyTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    let outcome: 'line' | 'timeout';
    try {
      outcome = await Promise.race([proc.ready.then(() => gotLine).then(() => 'line' as const), timeout]);
    } catch (e) {
      this.state = 'failed';
      proc.kill();
      return { ready: false, reason: `log stream did not start: ${message(e)}` };
    } finally {
      clearTimeout(timer);
    }
    if (this.state !== 'starting') {
      return { ready: false, reason: this.state === 'stopped' ? 'stopped' : 'log stream exited' };
    }
    this.state = 'streaming';
    // No banner in time: keep the stream (it may still deliver), but say so; collect() will use
    // log show for commands the stream says nothing about.
    if (outcome === 'timeout') return { ready: false, reason: `no output from log stream within ${timeoutMs} ms` };
    return { ready: true };
  }

  /** Call right after the command was spawned. */
  track(rootPid: number, opts: TrackOptions = {}): void {
    const cmd: Tracked = { pids: new Set([rootPid]), trackedAt: this.now() };
    if (opts.tag !== undefined) cmd.tag = opts.tag;
    this.commands.set(rootPid, cmd);
    this.refreshAll();
  }

  /** For a command whose refusals nobody will ask for (it succeeded). */
  untrack(rootPid: number): void {
    this.commands.delete(rootPid);
  }

  /** After the command exited: its Denials (source 'seatbelt-log'). */
  async collect(rootPid: number, opts: CollectOptions = {}): Promise<Denial[]> {
    return (await this.collectDetailed(rootPid, opts)).denials;
  }

  async collectDetailed(rootPid: number, opts: CollectOptions = {}): Promise<CollectResult> {
    const flushMs = opts.flushMs ?? 100;
    const fallback = opts.fallback ?? 'auto';
    const notes: string[] = [];
    const cmd = this.commands.get(rootPid) ?? { pids: new Set([rootPid]), trackedAt: this.now() };
    if (!this.commands.has(rootPid)) notes.push('collect() without track(): only the root pid is attributed');
    this.commands.set(rootPid, cmd);
    const exitedAt = this.now();

    try {
      this.refreshAll();
      await this.refreshing;
      if (flushMs > 0) await sleep(flushMs);
      await this.refreshing;

      let mine = this.take(cmd).filter((v) => !noiseReason(v, rootPid));
      let from: CollectResult['from'] = mine.length ? 'stream' : 'none';

      const lastSeconds = this.deps.showLastSeconds ?? 10;
      const fitsWindow = exitedAt - cmd.trackedAt + flushMs < lastSeconds * 1000;
      const ask =
        fallback === 'always' || (fallback === 'auto' && mine.length === 0 && (!this.streaming || fitsWindow));
      if (ask) {
        try {
          const out = await this.deps.runLogShow(logShowArgs(lastSeconds));
          const shown = parseShowOutput(out, this.knownTags())
            .filter((v) => this.acceptTag(v) && this.belongs(v, cmd) && !noiseReason(v, rootPid));
          // The stream and the store report the same refusals: add only what the stream lacked,
          // or counts would double.
          const have = new Set(mine.map(identity));
          const extra = shown.filter((v) => !have.has(identity(v)));
          if (extra.length) {
            mine = [...mine, ...extra];
            from = 'log-show';
          }
        } catch (e) {
          notes.push(`log show failed: ${message(e)}`);
        }
      }

      const violations = mergeViolations(mine);
      return {
        denials: denialsFrom(violations),
        violations,
        unmapped: violations.filter((v) => !denialOpOf(v.operation)),
        from,
        notes,
      };
    } finally {
      this.commands.delete(rootPid);
    }
  }

  /** Kills the stream. Lines still in flight are dropped. */
  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.commands.clear();
    this.buffer = [];
    this.proc?.kill();
  }

  /** Resolves when the stream's reader has finished (after stop() or the process exiting). */
  async closed(): Promise<void> {
    await this.pump;
  }

  // ---- internals ----

  private ingest(line: string): void {
    if (!line.startsWith('{')) return; // the banner, or anything else that is not a record
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      return;
    }
    const v = parseRecord(record, { tags: this.knownTags() });
    // Which pid is a command's root is only known at collect(); passing the refused pid as the
    // root drops here only what is noise from any process, and collect() applies the rest.
    if (!v || !this.acceptTag(v) || noiseReason(v, v.pid)) return;
    const at = this.now();
    this.buffer.push({ v, at });
    this.prune(at);
    if (this.commands.size && ![...this.commands.values()].some((c) => c.pids.has(v.pid))) this.refreshAll();
  }

  private prune(now: number): void {
    if (this.buffer.length > MAX_BUFFERED) this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
    const firstFresh = this.buffer.findIndex((r) => now - r.at <= MAX_AGE_MS);
    if (firstFresh > 0) this.buffer.splice(0, firstFresh);
    else if (firstFresh < 0) this.buffer = [];
  }

  private knownTags(): string[] {
    const tags = new Set<string>();
    if (this.deps.tag) tags.add(this.deps.tag);
    for (const c of this.commands.values()) if (c.tag) tags.add(c.tag);
    return [...tags];
  }

  /** A refusal carrying a tag that is none of ours came from someone else's sandbox. */
  private acceptTag(v: SandboxViolation): boolean {
    if (v.tag === undefined) return true;
    const tags = this.knownTags();
    return tags.length === 0 || tags.includes(v.tag);
  }

  private belongs(v: SandboxViolation, cmd: Tracked): boolean {
    if (cmd.tag !== undefined && v.tag !== undefined) return v.tag === cmd.tag;
    return cmd.pids.has(v.pid);
  }

  /** Removes and returns the buffered refusals of this command. */
  private take(cmd: Tracked): SandboxViolation[] {
    const mine: SandboxViolation[] = [];
    const rest: Received[] = [];
    for (const r of this.buffer) {
      if (r.at >= cmd.trackedAt - TRACK_SLACK_MS && this.belongs(r.v, cmd)) mine.push(r.v);
      else rest.push(r);
    }
    this.buffer = rest;
    return mine;
  }

  /** Asks pidsOf for every command in flight; calls made meanwhile fold into one more round. */
  private refreshAll(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        for (const [root, cmd] of [...this.commands]) {
          try {
            for (const pid of await this.deps.pidsOf(root)) cmd.pids.add(pid);
          } catch {
            // The tree is gone (the command exited): the pids already seen still count.
          }
        }
      } while (this.refreshAgain);
    })().finally(() => {
      this.refreshing = undefined;
    });
  }
}

/** `log show --style ndjson` output (or a JSON array, as --style json prints) -> violations. */
export function parseShowOutput(out: string, tags: readonly string[] = []): SandboxViolation[] {
  const text = out.trim();
  let records: unknown[] = [];
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) records = parsed;
    } catch {
      records = [];
    }
  }
  if (records.length === 0) {
    for (const line of text.split('\n')) {
      const l = line.trim();
      if (!l.startsWith('{')) continue;
      try {
        records.push(JSON.parse(l));
      } catch {
        // a torn or foreign line: skipped like any other non-record
      }
    }
  }
  const out2: SandboxViolation[] = [];
  for (const r of records) {
    const v = parseRecord(r, { tags });
    if (v && !noiseReason(v, v.pid)) out2.push(v);
  }
  return out2;
}

const identity = (v: SandboxViolation) => JSON.stringify([v.pid, v.operation, v.target, v.tag ?? null, v.ruleId ?? null]);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
