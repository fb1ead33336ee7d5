// The person at the keyboard, for `nono run`. With a terminal, the agent runs in a pty that nono
// relays (node-pty), so nono can take the screen for a question while a full-screen agent owns it,
// and give it back intact: the question is drawn on the terminal's alternate screen (or over the
// agent's own alternate screen, which the agent then redraws after a resize nudge); the agent's
// output meanwhile is held back and replayed afterwards, and keystrokes go to the question.
// Without a relay (a one-shot nono-shell typed by hand), the question is asked inline.
import type { IPty } from 'node-pty';
import { portable } from '../policy/approvals.js';
import { hostPort } from '../policy/host-pattern.js';
import type { Choice, Prompter, PromptRequest } from '../supervisor/prompt/types.js';

const ALT_ON = /\x1b\[\?(1049|1047|47)h/g;
const ALT_OFF = /\x1b\[\?(1049|1047|47)l/g;

function clip(s: string, width: number): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length <= width ? flat : `${flat.slice(0, Math.max(0, width - 1))}…`;
}

export function questionLines(req: PromptRequest, width: number): string[] {
  const w = Math.max(40, width - 4);
  // A host question comes from the session proxy while the command runs (its connection waits);
  // a file question comes after the command failed (it is re-run with the grant).
  const host = req.denials.some((d) => d.source === 'proxy');
  const lines = [
    host ? 'nono: a command wants to reach a host that is not on the list' : 'nono: the sandbox denied part of a command',
    '',
    `  command  ${clip(req.command, w - 11)}`,
    `  in       ${clip(req.cwd, w - 11)}`,
  ];
  req.denials.forEach((d, i) => {
    const what =
      d.path !== undefined ? `${d.op} ${d.path}${d.path2 !== undefined ? ` to ${d.path2}` : ''}`
      : d.source === 'proxy' ? `connect ${hostPort(d.host!, d.port!)}`
      : `TCP ${d.op}${d.port ? ` port ${d.port}` : ''}`;
    lines.push(`  ${host ? 'host   ' : 'denied '}  ${clip(what, w - 11)}`);
    lines.push(`  grant    ${clip(req.grants[i]!.describe, w - 11)}`);
  });
  const saved = req.grants
    .map((g) => (g.kind === 'domain' ? `allow_domains "${g.host}"` : g.path ? `${g.kind} "${portable(g.path)}"` : `${g.kind}${g.port ? ` ${g.port}` : ''}`))
    .join(', ');
  lines.push('', host || req.denials.every((d) => d.source === 'seccomp') ? '  [o] allow once (this command only)' : '  [o] allow once (re-run this command only)');
  if (req.onceOnly) {
    lines.push(`  (not for later commands: Landlock cannot allow that there without also opening the protected paths next to it)`);
  } else {
    lines.push('  [s] allow for this session', `  [a] always: adds ${clip(saved, w - 20)} to ${portable(req.alwaysTarget)}`);
  }
  lines.push('  [d] deny (Esc)');
  return lines;
}

const KEYS: Record<string, Choice> = { o: 'once', s: 'session', a: 'always', d: 'deny', '\x1b': 'deny', '\x03': 'deny' };

export class TerminalPrompter implements Prompter {
  private pty: IPty | undefined;
  private prompting: ((key: string) => void) | undefined;
  private held: string[] = [];
  private agentOnAltScreen = false;
  private readonly stdin = process.stdin;
  private readonly stdout = process.stdout;

  /** Relays the agent's pty through this terminal until it exits. */
  attach(pty: IPty): void {
    this.pty = pty;
    this.stdin.setRawMode?.(true);
    this.stdin.resume();
    this.stdin.on('data', (d: Buffer) => {
      if (this.prompting) this.prompting(d.toString('latin1'));
      else pty.write(d.toString('utf8'));
    });
    pty.onData((d) => {
      // Track the agent's screen so the question knows whether it may switch screens itself.
      const lastOn = Math.max(-1, ...[...d.matchAll(ALT_ON)].map((m) => m.index ?? -1));
      const lastOff = Math.max(-1, ...[...d.matchAll(ALT_OFF)].map((m) => m.index ?? -1));
      if (lastOn !== lastOff) this.agentOnAltScreen = lastOn > lastOff;
      if (this.prompting) this.held.push(d);
      else this.stdout.write(d);
    });
    this.stdout.on('resize', () => this.resize(this.stdout.columns, this.stdout.rows));
  }

  /** The agent may have exited (its pty closed) by the time a resize is due: then nothing to do. */
  private resize(cols: number, rows: number): void {
    try {
      this.pty?.resize(cols, rows);
    } catch {
      /* the pty is gone */
    }
  }

  detach(): void {
    this.stdin.setRawMode?.(false);
    this.stdin.pause();
    this.stdin.removeAllListeners('data');
    this.pty = undefined;
  }

  ask(req: PromptRequest, signal: AbortSignal): Promise<Choice> {
    return new Promise<Choice>((resolve, reject) => {
      const relayed = this.pty !== undefined;
      const width = this.stdout.columns || 80;
      const useAlt = relayed && !this.agentOnAltScreen;
      if (!relayed) {
        this.stdin.setRawMode?.(true);
        this.stdin.resume();
      }
      // Save the cursor, and take a clean screen: the alternate one when the agent is on its main
      // screen (so that one comes back untouched), or the agent's own alternate screen.
      this.stdout.write(relayed ? `\x1b7${useAlt ? '\x1b[?1049h' : ''}\x1b[H\x1b[2J` : '\r\n');
      this.stdout.write(questionLines(req, width).join('\r\n') + '\r\n  > ');

      const done = (finish: () => void) => {
        this.prompting = undefined;
        signal.removeEventListener('abort', onAbort);
        if (relayed) {
          this.stdout.write(`${useAlt ? '\x1b[?1049l' : '\x1b[H\x1b[2J'}\x1b8`);
          for (const d of this.held.splice(0)) this.stdout.write(d);
          // A full-screen agent repaints on SIGWINCH: nudge its size and put it back.
          const { columns, rows } = this.stdout;
          this.resize(columns, Math.max(1, rows - 1));
          setTimeout(() => this.resize(columns, rows), 30);
        } else {
          this.stdout.write('\r\n');
          this.stdin.setRawMode?.(false);
          this.stdin.pause();
          this.stdin.removeAllListeners('data');
        }
        finish();
      };
      const onAbort = () => done(() => reject(Object.assign(new Error('the agent stopped the command'), { name: 'AbortError' })));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.prompting = (key: string) => {
        const choice = KEYS[key.toLowerCase()];
        if (!choice || (req.onceOnly && choice !== 'once' && choice !== 'deny')) return;
        this.stdout.write(`${choice}\r\n`);
        done(() => resolve(choice));
      };
      if (!relayed) this.stdin.on('data', (d: Buffer) => this.prompting?.(d.toString('latin1')));
    });
  }
}
