// The question nono asks when a command was denied, and the answers. The supervisor only knows
// this interface; the terminal implementation lives with `nono run` (src/cli/terminal-prompter.ts).
import type { Denial, Grant } from '../denials/types.js';

export type Choice = 'once' | 'session' | 'always' | 'deny';

export interface PromptRequest {
  /** The command as the agent ran it (the -c string, or argv joined). */
  command: string;
  cwd: string;
  denials: Denial[];
  grants: Grant[];
  /** Where "always" would save the grant, shown in the question. */
  alwaysTarget: string;
  /** Only "once" and "deny" may be chosen: the grants cannot be kept for later commands. */
  onceOnly?: boolean;
}

export interface Prompter {
  /** Resolves with the person's choice; rejects with an AbortError when `signal` aborts (the
   * agent killed the command meanwhile). One question at a time is the caller's job. */
  ask(req: PromptRequest, signal: AbortSignal): Promise<Choice>;
}
