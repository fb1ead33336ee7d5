// What the real-agent tests share: a tmux pane of its own tmux server, the process tree under
// nono, and reading nono's --json-events.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface CommandEvent {
  event: 'command';
  route: string;
  argv: string[];
  exit?: { code: number } | { signal: number };
}

/** The supervisor reports routes in doctor's words (see Route in src/supervisor/supervisor.ts). */
export function doctorRoute(route: string): string {
  return route;
}

/** The agent in a tmux pane of its own tmux server, and everything it showed. */
export class Pane {
  readonly socket: string;
  readonly captures: string[] = [];
  /** nono's pid (`env` execs it): under it, the agent and everything else the test started. */
  private readonly pid: string;
  private readonly socketPath: string;

  constructor(agent: string, cwd: string, env: Record<string, string>, command: string[]) {
    this.socket = `nono-e2e-${agent}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    // -f /dev/null: none of the user's tmux settings; env -i: exactly the environment given.
    // remain-on-exit keeps the last screen readable if nono or the agent dies.
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    this.tmux('-f', '/dev/null', 'new-session', '-d', '-x', '200', '-y', '50', '-c', cwd, 'env', '-i', ...envArgs, ...command, ';',
      'set-option', '-g', 'remain-on-exit', 'on');
    [this.pid, this.socketPath] = this.tmux('display-message', '-p', '-t', '0', '#{pane_pid} #{socket_path}').trim().split(' ') as [string, string];
  }

  tmux(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** The visible screen (the alternate one while nono's question is up). */
  screen(): string {
    const s = this.tmux('capture-pane', '-p', '-t', '0');
    this.captures.push(s);
    return s;
  }

  /** The main screen with all its scrollback. */
  history(): string {
    const s = this.tmux('capture-pane', '-p', '-S', '-', '-t', '0');
    this.captures.push(s);
    return s;
  }

  async waitFor(what: string | ((screen: string) => boolean), ms = 30_000): Promise<string> {
    const ok = typeof what === 'string' ? (s: string) => s.includes(what) : what;
    const end = Date.now() + ms;
    let s = '';
    while (Date.now() < end) {
      s = this.screen();
      if (ok(s)) return s;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${typeof what === 'string' ? JSON.stringify(what) : 'a screen'}; the screen:\n${s}`);
  }

  /** Keys as tmux names them (Enter, Escape, C-c) or, with literal, text typed as it is. */
  async keys(keys: string, literal = false): Promise<void> {
    this.tmux('send-keys', '-t', '0', ...(literal ? ['-l', keys] : [keys]));
    await new Promise((r) => setTimeout(r, 300));
  }

  /**
   * Ends what the test started, by pid: nono and every process under it. Closing the pane is not
   * enough: Gemini CLI outlives a hung-up terminal and a SIGTERM to its launcher (its relaunched
   * child keeps running), so stragglers get SIGTERM, then SIGKILL.
   */
  async kill(): Promise<void> {
    const tree = [Number(this.pid), ...descendants(Number(this.pid))].filter((p) => p > 1);
    for (const p of tree.slice().reverse()) signal(p, 'SIGTERM');
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
    const end = Date.now() + 3_000;
    while (Date.now() < end && tree.some(alive)) await new Promise((r) => setTimeout(r, 100));
    for (const p of tree.filter(alive)) signal(p, 'SIGKILL');
    fs.rmSync(this.socketPath, { force: true });
  }
}

/** Every process below PID, parents before children (from /proc). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // Field 4 of /proc/PID/stat, after the parenthesised command name.
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  for (let queue = [pid]; queue.length; ) {
    const next = children.get(queue.shift()!) ?? [];
    out.push(...next);
    queue.push(...next);
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export function events(file: string): Array<Record<string, unknown>> {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

export function commandEvents(file: string): CommandEvent[] {
  return events(file).filter((e): e is CommandEvent & Record<string, unknown> => e.event === 'command');
}

/** The routed command whose script contains TEXT (agents wrap it in their own script). */
export function commandFor(file: string, text: string): CommandEvent | undefined {
  return commandEvents(file).find((e) => e.argv.some((a) => a.includes(text)));
}
