// The agent-program judge (src/policy/agent-program.ts) under Seatbelt's rules: what the agent's
// own SBPL lets it read and run, decided by nono's SBPL evaluator. Its own module so that a Linux
// `nono run` never loads the evaluator.
import type { ProgramJudge } from './agent-program.js';
import { bothSpellings } from './landlock-compiler.js';
import { partFor, type ResolvedPolicy } from './resolved-policy.js';
import { decide } from './sbpl-eval.js';
import type { CompiledSeatbelt } from './seatbelt-compiler.js';

/** Seatbelt's operations for the same two questions (what sbpl-eval decides). */
const SEATBELT_OPS = { read: 'file-read-data', execute: 'process-exec' } as const;

export function seatbeltJudge(c: CompiledSeatbelt, policy: ResolvedPolicy): ProgramJudge {
  return {
    check: (p, op) => {
      const d = decide(c.rules, SEATBELT_OPS[op], p);
      return { allowed: d.allowed, decidedBy: d.rule === 'default' ? "the profile's default (deny)" : `${d.rule.action} rule ${d.rule.id} (${d.rule.source})` };
    },
    // Both spellings, as the Landlock compiler keeps them.
    readDenies: partFor(policy, 'agent')
      .denies.filter((d) => d.access === 'all')
      .flatMap((d) => bothSpellings(d.path).map((p) => ({ path: p, source: d.source }))),
  };
}
