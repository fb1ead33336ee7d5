// Live approval, the platform-neutral half: what to do with one operation the policy denies while
// the command waits inside the system call (the kernel half is shim/addon/live_approval.h). One
// instance per command run: it asks the person (the same prompt as a re-run would), remembers what
// was settled so the exit does not ask again, caps how many questions a command may cause, and
// withdraws a question whose command stopped waiting.
import type { DeniedCommand, DenialHandler } from './denial-handler.js';
import { denialKey } from './denial-handler.js';
import type { Denial, DenialOp, Grant } from './denials/types.js';
import { leastGrant } from './denials/least-grant.js';
import { realOrSelf } from '../policy/landlock-compiler.js';
import path from 'node:path';

/** Questions one command may cause while it runs; beyond, its denied operations fail at once. */
export const LIVE_MAX_QUESTIONS = 16;
export const LIVE_QUESTION_TIMEOUT_MS = 120_000;

/** One operation held in the kernel, as the native side reports it (canonical paths). */
export interface HeldOperation {
  token: number;
  op: DenialOp;
  path: string;
  /** rename: the destination; link: the existing file. */
  path2?: string;
  isDir: boolean;
  /** The platform's rights it needs (Landlock access bits on Linux): at the file (read, list,
   * write) or at path's parent (create, delete, rename); need2 at path2's parent (a rename's
   * destination, a link's source). Opaque here: the platform's policy judges them. */
  need: number;
  need2: number;
  /** A write that also reads (opened read-write): a write-only grant would not allow it again. */
  readToo?: boolean;
}

const FILE_OPS = ['read', 'list', 'write', 'create', 'delete', 'rename'] as const;

export interface LiveQuestionsOptions {
  /** Asks the person; unset (no prompt at all): every held operation is denied. */
  denials?: DenialHandler;
  /** The command as the prompt shows it, and the keys asked about in its earlier runs. */
  command: DeniedCommand;
  /** Whether the session policy allows it now (a session grant made since the command started). */
  allowedNow: (h: HeldOperation) => boolean;
  addSessionGrants: (grants: Grant[]) => void;
  /** Whether each grant, added to the session policy, would allow its denial in later commands
   * (Landlock cannot allow creating entries next to a protected path); those that would not are
   * offered for this command only. */
  grantsWork?: (denials: Denial[], grants: Grant[]) => boolean[];
  /** Aborted when the command's nono-shell goes away. */
  gone: AbortSignal;
  /** Whether anyone still waits for the command's result (its nono-shell is connected). */
  connected: () => boolean;
  say: (line: string) => Promise<void>;
  log: (line: string) => void;
  timeoutMs?: number;
}

/** The denial a held operation is, in the words the prompt and the audit log use. */
export function heldDenial(h: HeldOperation): Denial {
  const shown = h.op === 'rename' && h.path2 ? `${h.path} to ${h.path2}` : h.op === 'create' && h.path2 ? `${h.path} (a link to ${h.path2})` : h.path;
  return { op: h.op, path: h.path, ...(h.op === 'rename' && h.path2 ? { path2: h.path2 } : {}), evidence: `${h.op} of ${shown}, held until answered`, source: 'seccomp' };
}

/** What the person is asked to grant for a held operation, one grant per line of the question. */
export function liveQuestion(h: HeldOperation, allowedNow: (h: HeldOperation) => boolean): { denials: Denial[]; grants: Grant[] } {
  const d = heldDenial(h);
  if (h.op === 'rename' && h.path2 !== undefined) {
    // Both parents must allow it: the source's (removing the name) and the destination's
    // (making it), each its own grant when they differ.
    const src: HeldOperation = { ...h, path2: undefined, need2: 0 };
    const dst: HeldOperation = { ...h, op: 'create', path: h.path2, path2: undefined, need: h.need2, need2: 0 };
    const sameDir = path.dirname(h.path) === path.dirname(h.path2);
    const denials: Denial[] = [];
    const grants: Grant[] = [];
    if (!allowedNow(src) || (sameDir && !allowedNow(dst))) {
      denials.push(d);
      grants.push(leastGrant(d));
    }
    if (!sameDir && !allowedNow(dst)) {
      const dd: Denial = { op: 'create', path: h.path2, evidence: `destination of the rename of ${h.path}, held until answered`, source: 'seccomp' };
      denials.push(denials.length ? dd : d);
      grants.push(leastGrant(dd));
    }
    if (denials.length) return { denials, grants };
  }
  if (h.op === 'write' && h.readToo) {
    // Opened for reading and writing: a write-only grant would not allow it again.
    return { denials: [d], grants: [{ kind: 'allow_file', path: h.path, describe: `read and write ${h.path}` }] };
  }
  return { denials: [d], grants: [leastGrant(d)] };
}

export class LiveQuestions {
  /** Denial keys settled live (their stderr messages are not asked about again at the exit). */
  private readonly keys = new Set<string>();
  /** Allowed "once": for the rest of this command's run. */
  private readonly once = new Set<string>();
  private questions = 0;
  /** Open questions by token: aborted when the command stops waiting. */
  private readonly pending = new Map<number, AbortController>();
  private readonly said = new Set<string>();
  /** Questions being asked, by operation: another thread of the command making the same call
   * meanwhile waits for that answer instead of being refused as "asked before". */
  private readonly inflight = new Map<string, Promise<'allow' | 'deny' | 'withdrawn'>>();

  constructor(private readonly o: LiveQuestionsOptions) {}

  /** Whether a denial seen at the exit was already settled while the command waited. A message
   * may name a symlink to the file the live question showed: real paths are compared too. */
  settled(d: Denial): boolean {
    return this.keys.has(denialKey(d)) || (d.path !== undefined && this.keys.has(denialKey({ ...d, path: realOrSelf(d.path) })));
  }

  /** The command stopped waiting for this one (killed, interrupted). */
  withdraw(token: number): void {
    this.pending.get(token)?.abort();
  }

  /** Decides one held operation; `answer` reaches the kernel (false: nobody waits any more). */
  async decide(h: HeldOperation, answer: (allow: boolean) => boolean): Promise<void> {
    const d = heldDenial(h);
    const key = denialKey(d);
    // "once" covers this very operation again, not a wider one on the same path.
    const onceKey = `${key}\0${h.path2 ?? ''}\0${h.need}\0${h.need2}`;
    // The person decided about these paths during this run: whatever the command then reports
    // about them at its exit is not asked about again.
    for (const p of [h.path, h.path2]) if (p !== undefined) for (const op of FILE_OPS) this.keys.add(denialKey({ ...d, op, path: p }));
    const reply = (allow: boolean) => {
      const waiting = answer(allow);
      this.o.log(`live ${allow ? 'allowed' : 'denied'} ${key}${h.path2 ? ` -> ${h.path2}` : ''}${waiting ? '' : ' (nobody waits any more)'}`);
    };
    if (this.once.has(onceKey) || this.o.allowedNow(h)) return reply(true);
    if (!this.o.denials || !this.o.connected()) return reply(false);
    const same = this.inflight.get(onceKey);
    if (same) {
      const verdict = await same;
      // The thread that was asked about went away first: this one is asked in its place.
      return verdict === 'withdrawn' ? this.decide(h, answer) : reply(verdict === 'allow');
    }
    let settle: (v: 'allow' | 'deny' | 'withdrawn') => void = () => {};
    this.inflight.set(onceKey, new Promise((resolve) => (settle = resolve)));
    try {
      settle(await this.ask(h, onceKey, reply));
    } finally {
      this.inflight.delete(onceKey);
      settle('withdrawn'); // (no effect once settled)
    }
  }

  /** Asks the person about one held operation; what became of it. */
  private async ask(h: HeldOperation, onceKey: string, reply: (allow: boolean) => void): Promise<'allow' | 'deny' | 'withdrawn'> {
    const handler = this.o.denials;
    if (!handler) {
      reply(false);
      return 'deny';
    }
    if (this.questions >= LIVE_MAX_QUESTIONS) {
      reply(false);
      await this.tell([`nono: this command asked about ${LIVE_MAX_QUESTIONS} denied files already; further denied operations fail without a question.`]);
      return 'deny';
    }
    this.questions++;
    const { denials, grants } = liveQuestion(h, this.o.allowedNow);
    // A grant Landlock cannot keep for later commands is offered for this command only.
    const onceOnly = this.o.grantsWork ? this.o.grantsWork(denials, grants).some((w) => !w) : false;
    const withdraw = new AbortController();
    this.pending.set(h.token, withdraw);
    const signal = AbortSignal.any([this.o.gone, withdraw.signal, AbortSignal.timeout(this.o.timeoutMs ?? LIVE_QUESTION_TIMEOUT_MS)]);
    try {
      const outcome = await handler.resolve(this.o.command, denials, grants, signal, { onceOnly });
      if (outcome.choice === 'deny') {
        reply(false);
        if (withdraw.signal.aborted || this.o.gone.aborted) {
          // Nobody answered it: another thread making the same call may be asked in its place.
          for (const x of denials) this.o.command.asked.delete(denialKey(x));
          return 'withdrawn';
        }
        await this.tell(outcome.lines);
        return 'deny';
      }
      if (outcome.choice === 'once' || onceOnly) this.once.add(onceKey);
      else this.o.addSessionGrants(grants);
      reply(true);
      return 'allow';
    } finally {
      this.pending.delete(h.token);
    }
  }

  /** Each line once per command (a loop hitting the same denial says it once). */
  private async tell(lines: string[]): Promise<void> {
    for (const l of lines) {
      if (this.said.has(l)) continue;
      this.said.add(l);
      await this.o.say(l);
    }
  }
}
