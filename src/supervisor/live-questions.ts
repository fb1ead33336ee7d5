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
}

export interface LiveQuestionsOptions {
  /** Asks the person; unset (no prompt at all): every held operation is denied. */
  denials?: DenialHandler;
  /** The command as the prompt shows it, and the keys asked about in its earlier runs. */
  command: DeniedCommand;
  /** Whether the session policy allows it now (a session grant made since the command started). */
  allowedNow: (d: Denial) => boolean;
  addSessionGrants: (grants: Grant[]) => void;
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
  const shown = h.op === 'rename' && h.path2 ? `${h.path} to ${h.path2}` : h.path;
  return { op: h.op, path: h.path, evidence: `${h.op} of ${shown}, held until answered`, source: 'seccomp' };
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
    this.keys.add(key);
    const reply = (allow: boolean) => {
      const waiting = answer(allow);
      this.o.log(`live ${allow ? 'allowed' : 'denied'} ${key}${waiting ? '' : ' (nobody waits any more)'}`);
    };
    if (this.once.has(key) || this.o.allowedNow(d)) return reply(true);
    if (!this.o.denials || !this.o.connected()) return reply(false);
    if (this.questions >= LIVE_MAX_QUESTIONS) {
      reply(false);
      return this.tell([`nono: this command asked about ${LIVE_MAX_QUESTIONS} denied files already; further denied operations fail without a question.`]);
    }
    this.questions++;
    const grant = leastGrant(d);
    const withdraw = new AbortController();
    this.pending.set(h.token, withdraw);
    const signal = AbortSignal.any([this.o.gone, withdraw.signal, AbortSignal.timeout(this.o.timeoutMs ?? LIVE_QUESTION_TIMEOUT_MS)]);
    try {
      const outcome = await this.o.denials.resolve(this.o.command, [d], [grant], signal);
      if (outcome.choice === 'deny') {
        reply(false);
        if (!withdraw.signal.aborted && !this.o.gone.aborted) await this.tell(outcome.lines);
        return;
      }
      if (outcome.choice === 'once') this.once.add(key);
      else this.o.addSessionGrants([grant]);
      reply(true);
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
