// `nono run` in a real terminal (node-pty) with an agent that prints one `RESULT {...}` line per
// command and `AGENT-DONE` at the end (test/fixtures/live-agent.mjs, prompt-agent.mjs): what the
// person sees, the keys they press, and what the agent got back. Shared by the prompt tests.
import fs from 'node:fs';
import path from 'node:path';
import * as pty from 'node-pty';
import { cli } from './paths.js';

/** The first line of every denial question, and of a host question. */
export const QUESTION = 'nono: the sandbox denied part of a command';
export const HOST_QUESTION = 'nono: a command wants to reach a host that is not on the list';
/** The last line of every question (src/cli/terminal-prompter.ts): it is on screen in full. */
const QUESTION_END = '[d] deny (Esc)';

export interface AgentResult {
  cmd: string;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface PtyAgent {
  screen(): string;
  press(key: string): void;
  waitFor(what: string | RegExp | (() => boolean), ms?: number): Promise<void>;
  /** Waits until a question (file or host) is on screen in full: the terminal may deliver it in
   * more than one read, and a test that reads the screen after its first line alone is racy. */
  waitForQuestion(ms?: number): Promise<void>;
  /** Answers the next N questions with KEY, one after the other. */
  answer(key: string, n?: number): Promise<void>;
  /** The text of the last question on screen. */
  lastQuestion(): string;
  /** Questions shown so far (file and host questions). */
  questions(): number;
  /** The RESULT lines printed so far. */
  results(): AgentResult[];
  /** Waits for AGENT-DONE, then the RESULT lines. */
  done(): Promise<AgentResult[]>;
  exit: Promise<number>;
}

export function startPtyAgent(o: { cwd: string; env: Record<string, string>; nonoArgs: string[]; agent: string[]; cols?: number; rows?: number }): PtyAgent {
  let out = '';
  const p = pty.spawn('node', [cli, 'run', ...o.nonoArgs, '--', ...o.agent], { cwd: o.cwd, cols: o.cols ?? 250, rows: o.rows ?? 50, env: o.env });
  p.onData((d) => (out += d));
  const exit = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
  /** Where the latest question starts on screen (-1: none yet). */
  const lastQuestionAt = () => Math.max(out.lastIndexOf(QUESTION), out.lastIndexOf(HOST_QUESTION));
  const questions = () => out.split(QUESTION).length - 1 + out.split(HOST_QUESTION).length - 1;
  const results = (): AgentResult[] =>
    out
      .split(/\r?\n/)
      .filter((l) => l.includes('RESULT {'))
      .map((l) => JSON.parse(l.slice(l.indexOf('RESULT ') + 7)));
  const a: PtyAgent = {
    screen: () => out,
    press: (k) => p.write(k),
    async waitFor(what, ms = 20_000) {
      const end = Date.now() + ms;
      const seen = () => (typeof what === 'string' ? out.includes(what) : typeof what === 'function' ? what() : what.test(out));
      while (Date.now() < end) {
        if (seen()) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${what}; screen so far:\n${out}`);
    },
    waitForQuestion: (ms) => a.waitFor(() => lastQuestionAt() >= 0 && out.lastIndexOf(QUESTION_END) > lastQuestionAt(), ms),
    async answer(key, n = 1) {
      for (let i = 0; i < n; i++) {
        const seen = questions();
        await a.waitFor(() => questions() > seen || out.includes('AGENT-DONE'));
        if (out.includes('AGENT-DONE') && questions() === seen) throw new Error(`expected question ${seen + 1}; screen:\n${out}`);
        p.write(key);
      }
    },
    lastQuestion: () => out.slice(lastQuestionAt()),
    questions,
    results,
    async done() {
      await a.waitFor('AGENT-DONE', 30_000);
      return results();
    },
    exit,
  };
  return a;
}

/** The audit log of a test HOME (XDG_STATE_HOME under it). */
export function auditRecords(home: string): Array<Record<string, unknown>> {
  const f = path.join(home, '.local', 'state', 'nono', 'audit.jsonl');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
}
