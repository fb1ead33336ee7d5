// What happens when a command was denied: ask the person (one question at a time, whatever the
// number of commands in flight), or, without a terminal, tell the agent in one line how the user
// can grant it. Remembers refusals for the session so nobody is asked twice about the same thing,
// and never prompts twice for the same denial of one command (a re-run that fails again).
import path from 'node:path';
import type { AuditLog } from './audit-log.js';
import { hostPort } from '../policy/host-pattern.js';
import { saveApprovals } from '../policy/approvals.js';
import type { Denial, Grant } from './denials/types.js';
import type { Choice, Prompter } from './prompt/types.js';

export interface DenialHandlerOptions {
  mode: 'prompt' | 'deny';
  prompter?: Prompter;
  audit: AuditLog;
  approvalsFile: string;
  log: (line: string) => void;
}

export interface DeniedCommand {
  seq: number;
  command: string;
  cwd: string;
  /** Denial keys already asked about for this command (its earlier runs). */
  asked: Set<string>;
}

export type Outcome = { choice: Exclude<Choice, 'deny'>; grants: Grant[]; changes?: string[] } | { choice: 'deny'; lines: string[] };

export function denialKey(d: Denial): string {
  if (d.host !== undefined && d.source === 'proxy') return `${d.op}:host:${d.host}`;
  return d.path !== undefined ? `${d.op}:${d.path}` : `${d.op}:tcp:${d.port ?? '*'}`;
}

function howToAllow(g: Grant): string {
  switch (g.kind) {
    case 'read_file': return `\`nono run --read-file ${g.path}\` or "read_file": ["${g.path}"]`;
    case 'read': return `\`nono run --read ${g.path}\` or "read": ["${g.path}"]`;
    case 'write_file': return `\`nono run --write-file ${g.path}\` or "write_file": ["${g.path}"]`;
    case 'allow_file': return `\`nono run --allow-file ${g.path}\` or "allow_file": ["${g.path}"]`;
    case 'allow': return `\`nono run --allow ${g.path}\` or "allow": ["${g.path}"]`;
    case 'tcp_connect': return `"network": {"allow_tcp_connect": [${g.port}]} or \`nono run --allow-net\``;
    case 'tcp_bind': return `"network": {"allow_tcp_bind": [${g.port}]} or \`nono run --allow-net\``;
    case 'tcp': return '`nono run --allow-net`';
    case 'domain': return `\`nono run --allow-domain ${g.host}\` or "allow_domains": ["${g.host}"]`;
  }
}

/** The line an agent reads on the command's stderr when nothing was granted. */
export function denialLine(d: Denial, g: Grant): string {
  const what =
    d.path !== undefined ? `${d.op} of ${d.path}${d.path2 !== undefined ? ` to ${d.path2}` : ''}`
    : d.source === 'proxy' ? `a connection to ${hostPort(d.host!, d.port!)} (not on the session's host list)`
    : `TCP ${d.op}${d.port ? ` to port ${d.port}` : ''}`;
  return `nono: the sandbox denied ${what}; to allow it, the user can run ${howToAllow(g)} in a profile (see \`nono profile show\`).`;
}

/** What a "deny" is remembered as for the session: a create by its directory, so a program that
 * tries a new random name each time (mktemp, lock files) is one question, not one per name. */
function refusalKey(d: Denial): string {
  return d.op === 'create' && d.path !== undefined && d.source === 'seccomp' ? `create-in:${path.dirname(d.path)}` : denialKey(d);
}

export class DenialHandler {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly refused = new Set<string>();

  constructor(private readonly o: DenialHandlerOptions) {}

  /** onceOnly: the grants cannot be kept for later commands (only "once" or "deny" is offered). */
  async resolve(cmd: DeniedCommand, denials: Denial[], grants: Grant[], signal: AbortSignal, opts: { onceOnly?: boolean } = {}): Promise<Outcome> {
    const keys = denials.map(denialKey);
    const lines = denials.map((d, i) => denialLine(d, grants[i]!));
    for (const d of denials) this.o.audit.write({ type: 'denial', seq: cmd.seq, op: d.op, path: d.path, path2: d.path2, host: d.host, port: d.port, evidence: d.evidence, source: d.source });
    const alreadyAsked = keys.every((k, i) => cmd.asked.has(k) || this.refused.has(refusalKey(denials[i]!)));
    if (this.o.mode === 'deny' || !this.o.prompter || alreadyAsked) {
      const why = this.o.mode === 'deny' || !this.o.prompter ? 'no prompt (--on-denial deny or no terminal)' : 'asked before';
      this.o.log(`cmd ${cmd.seq}: denied ${keys.join(', ')}: ${why}`);
      this.o.audit.write({ type: 'decision', seq: cmd.seq, choice: 'deny', grants: grants.map((g) => g.describe) });
      return { choice: 'deny', lines };
    }
    keys.forEach((k) => cmd.asked.add(k));
    // One question at a time, in the order denials arrived.
    const turn = this.queue.then(() => this.ask(cmd, denials, grants, signal, opts.onceOnly === true));
    this.queue = turn.catch(() => undefined);
    try {
      const choice = await turn;
      if (choice === 'deny') {
        denials.forEach((d) => this.refused.add(refusalKey(d)));
        this.o.audit.write({ type: 'decision', seq: cmd.seq, choice, grants: grants.map((g) => g.describe) });
        return { choice, lines };
      }
      let changes: string[] | undefined;
      if (choice !== 'once' && opts.onceOnly) throw new Error(`the prompt answered "${choice}" where only "once" was offered`);
      if (choice === 'always') changes = saveApprovals(this.o.approvalsFile, grants);
      this.o.audit.write({ type: 'decision', seq: cmd.seq, choice, grants: grants.map((g) => g.describe), savedTo: changes ? this.o.approvalsFile : undefined, changes });
      return { choice, grants, changes };
    } catch (e) {
      this.o.audit.write({ type: 'decision', seq: cmd.seq, choice: 'deny', grants: grants.map((g) => g.describe), cancelled: true });
      if (signal.aborted) return { choice: 'deny', lines };
      throw e;
    }
  }

  private async ask(cmd: DeniedCommand, denials: Denial[], grants: Grant[], signal: AbortSignal, onceOnly: boolean): Promise<Choice> {
    if (signal.aborted) throw new Error('cancelled');
    this.o.audit.write({ type: 'prompt', seq: cmd.seq, grants: grants.map((g) => g.describe) });
    return this.o.prompter!.ask({ command: cmd.command, cwd: cmd.cwd, denials, grants, alwaysTarget: this.o.approvalsFile, ...(onceOnly ? { onceOnly } : {}) }, signal);
  }
}
