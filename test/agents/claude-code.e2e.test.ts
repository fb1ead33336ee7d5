// End to end with the real Claude Code (test/agents/package.json): the agent runs under
// `nono run --profile claude-code` in a tmux pane, driven offline through its `!` bash mode (a
// shell command with no model and no network, see /work/shared/reference/agents.md). What a user
// would check by hand: a command reading a planted SSH key is denied and the key never reaches
// the screen, a command writing in the project succeeds, and the route `nono doctor --agent`
// predicted is the route the supervisor saw.
//
// Run with `npm run test:agents` (vitest.agents.config.ts sets NONO_AGENT_E2E); under the plain
// `npm test` these tests are skipped.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, root } from '../helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from '../helpers/sandbox-home.js';

const AGENT_BIN = path.join(root, 'test', 'agents', 'node_modules', '.bin', 'claude');
const VERSION = JSON.parse(fs.readFileSync(path.join(root, 'test', 'agents', 'package.json'), 'utf8')).dependencies[
  '@anthropic-ai/claude-code'
] as string;
const QUESTION = 'nono: the sandbox denied part of a command';
const SECRET = 'planted-by-nono-tests'; // the planted key's body (test/helpers/sandbox-home.ts)
const READ_KEY = 'cat ~/.ssh/id_rsa';
const WRITE = 'echo ok > written.txt';
// Claude Code's own screen: its banner and its idle status line.
const BANNER = `Claude Code v${VERSION}`;
const IDLE = '? for shortcuts';
// A dummy key; Claude Code asks once whether to use an ANTHROPIC_API_KEY unless its last 20
// characters are listed as approved in ~/.claude.json.
const API_KEY = 'sk-ant-api03-nono-e2e-offline-dummy-key-000000000000000000000000';

interface CommandEvent {
  event: 'command';
  route: string;
  argv: string[];
  exit?: { code: number } | { signal: number };
}

/** The supervisor reports routes in doctor's words (see Route in src/supervisor/supervisor.ts). */
function doctorRoute(route: string): string {
  return route;
}

/** The agent in a tmux pane of its own tmux server, and everything it showed. */
class Pane {
  readonly socket = `nono-e2e-claude-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  readonly captures: string[] = [];
  /** nono's pid (`env` execs it): under it, the agent and everything else the test started. */
  private readonly pid: string;
  private readonly socketPath: string;

  constructor(cwd: string, env: Record<string, string>, command: string[]) {
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
function descendants(pid: number): number[] {
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function events(file: string): Array<Record<string, unknown>> {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

function commandEvents(file: string): CommandEvent[] {
  return events(file).filter((e): e is CommandEvent & Record<string, unknown> => e.event === 'command');
}

/** The routed command whose script contains TEXT (Claude Code wraps it in its own script). */
function commandFor(file: string, text: string): CommandEvent | undefined {
  return commandEvents(file).find((e) => e.argv.some((a) => a.includes(text)));
}

interface Run {
  h: SandboxHome;
  pane: Pane;
  eventsFile: string;
}

let current: Run | undefined;

/** A temp HOME with planted credentials, Claude Code's offline setup, and the agent under nono. */
function start(nonoArgs: string[]): Run {
  const h = makeSandboxHome();
  // What a user who has run Claude Code before has: onboarding done, this project trusted, the
  // API key approved. ~/.claude and ~/.claude/shell-snapshots exist already, as after any earlier
  // run: nono grants a profile's paths only if they exist when it starts, so on a very first run
  // Claude Code cannot create ~/.claude (its `!` commands fail with EACCES on that mkdir) and the
  // snapshot write into ~/.claude/shell-snapshots is denied (a question before the first command).
  fs.mkdirSync(path.join(h.home, '.claude', 'shell-snapshots'), { recursive: true });
  fs.writeFileSync(
    path.join(h.home, '.claude.json'),
    JSON.stringify({
      hasCompletedOnboarding: true,
      lastOnboardingVersion: VERSION,
      theme: 'dark',
      numStartups: 1,
      customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
      projects: { [h.project]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] } },
    }),
  );
  const eventsFile = path.join(h.base, 'events.jsonl');
  const env = {
    HOME: h.home,
    PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    ANTHROPIC_API_KEY: API_KEY,
    // Offline: no API (a closed local port, refused at once; no retries), no telemetry, no update.
    ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
    CLAUDE_CODE_MAX_RETRIES: '0',
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
  const pane = new Pane(h.project, env, [
    process.execPath, cli, 'run', '--profile', 'claude-code', '--json-events', eventsFile, ...nonoArgs, '--', AGENT_BIN,
  ]);
  current = { h, pane, eventsFile };
  return current;
}

/** `!` as its own key (bash mode), then the command, then Enter. */
async function bashMode(pane: Pane, command: string): Promise<void> {
  await pane.waitFor(IDLE);
  await pane.keys('!');
  await pane.waitFor('! for shell mode', 10_000);
  await pane.keys(command, true);
  await pane.keys('Enter');
}

/** After a `!` command Claude Code calls the API once (refused): wait until it is idle again. */
async function settle(pane: Pane): Promise<string> {
  return pane.waitFor((s) => s.includes(IDLE) && !s.includes('esc to interrupt'));
}

/** Ctrl-C twice quits Claude Code; nono then writes its `exit` event. */
async function quit(r: Run): Promise<void> {
  try {
    await r.pane.keys('C-c');
    await r.pane.waitFor('again to exit', 5_000);
    await r.pane.keys('C-c');
    const end = Date.now() + 15_000;
    while (Date.now() < end && !events(r.eventsFile).some((e) => e.event === 'exit')) await new Promise((res) => setTimeout(res, 200));
  } catch {
    /* the assertions say what went wrong; the pane is killed below */
  }
}

function doctor(h: SandboxHome) {
  const r = spawnSync(process.execPath, [cli, 'doctor', '--agent', AGENT_BIN, '--json'], {
    cwd: h.project,
    encoding: 'utf8',
    env: { HOME: h.home, PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, LANG: 'C.UTF-8' },
  });
  expect(r.status, r.stderr).not.toBe(2);
  return JSON.parse(r.stdout) as {
    agent: { known: string | null; preload: string; command: string; routes: Array<{ route: string; works: boolean | null }> };
  };
}

/** What both variants check after the two commands ran. */
function checkOutcome(r: Run): void {
  const { h, pane, eventsFile } = r;
  // The key never reached the screen, at any moment we looked, nor the scrollback.
  pane.history();
  for (const s of pane.captures) expect(s).not.toContain(SECRET);
  // The write in the project succeeded.
  expect(fs.readFileSync(path.join(h.project, 'written.txt'), 'utf8')).toBe('ok\n');

  // The supervisor saw both commands, each with a route.
  const read = commandFor(eventsFile, READ_KEY);
  const write = commandFor(eventsFile, WRITE);
  expect(read, `no command event for ${READ_KEY}: ${JSON.stringify(commandEvents(eventsFile), null, 1)}`).toBeDefined();
  expect(write, `no command event for ${WRITE}`).toBeDefined();
  expect(read!.exit).toEqual({ code: 1 });
  expect(write!.exit).toEqual({ code: 0 });
  expect(read!.route).toMatch(/^(preload|shell-proxy|path-proxy|shell-prefix)$/);
  expect(write!.route).toBe(read!.route);
  // Claude Code's preload verdict: it loaded the interposer.
  expect(events(eventsFile)).toContainEqual(expect.objectContaining({ event: 'preload', agent: true, status: 'loaded' }));

  // Doctor, asked about the same installed agent, predicted that route (and every other route
  // the supervisor saw in this session, e.g. preload for Claude Code's own `/bin/sh -c` calls).
  const d = doctor(h);
  expect(d.agent.known).toBe('claude-code');
  expect(d.agent.preload).toBe('loads');
  expect(d.agent.command).toContain('--profile claude-code');
  const predicted = d.agent.routes.filter((x) => x.works === true).map((x) => x.route);
  expect(predicted).toContain(doctorRoute(read!.route));
  for (const seen of new Set(commandEvents(eventsFile).map((e) => e.route))) expect(predicted).toContain(doctorRoute(seen));
}

describe.skipIf(!process.env.NONO_AGENT_E2E)(`Claude Code ${VERSION} under nono run (tmux, offline bash mode)`, () => {
  beforeAll(() => {
    if (!fs.existsSync(AGENT_BIN)) throw new Error(`${AGENT_BIN} is missing: run \`bash test/agents/install.sh\``);
    if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is not installed');
  });

  afterEach(async () => {
    if (!current) return;
    await current.pane.kill();
    current.h.cleanup();
    current = undefined;
  });

  it('the denial prompt takes the screen over the agent, `d` denies, and the agent gets its screen back', async () => {
    const r = start([]);
    const { pane, h } = r;
    expect(await pane.waitFor(IDLE)).toContain(BANNER);

    await bashMode(pane, READ_KEY);
    const asked = await pane.waitFor(QUESTION);
    expect(asked).toContain(`denied   read ${h.sshKey}`);
    // The question has the screen to itself: Claude Code's UI is not on it.
    expect(asked).not.toContain(BANNER);
    await pane.keys('d');

    // Claude Code's UI is back, showing the command's failure and nono's one-line reason.
    const back = await pane.waitFor((s) => s.includes('Permission denied') && s.includes(BANNER));
    expect(back).not.toContain(QUESTION);
    expect(back).toContain(`! ${READ_KEY}`);
    expect(back).toContain(`cat: ${h.sshKey}: Permission denied`);
    expect(back).toContain(`nono: the sandbox denied read of ${h.sshKey}`);
    await settle(pane);

    await bashMode(pane, WRITE);
    await pane.waitFor((s) => s.includes(`! ${WRITE}`) && s.includes('Bash completed with no output'));
    await settle(pane);
    await quit(r);

    checkOutcome(r);
    // Exactly one question in this session: the key (no prompt for the agent's own plumbing).
    expect(pane.captures.filter((s) => s.includes(QUESTION)).every((s) => s.includes(`denied   read ${h.sshKey}`))).toBe(true);
    expect(events(r.eventsFile)).toContainEqual(expect.objectContaining({ event: 'exit', code: 0 }));
  });

  it('--on-denial deny: no question, the command fails with nono\'s reason, the write succeeds', async () => {
    const r = start(['--on-denial', 'deny']);
    const { pane, h } = r;
    await pane.waitFor(IDLE);

    await bashMode(pane, READ_KEY);
    const shown = await pane.waitFor('Permission denied');
    expect(shown).toContain(`cat: ${h.sshKey}: Permission denied`);
    expect(shown).toContain(`nono: the sandbox denied read of ${h.sshKey}`);
    await settle(pane);

    await bashMode(pane, WRITE);
    await pane.waitFor('Bash completed with no output');
    await settle(pane);
    await quit(r);

    for (const s of pane.captures) expect(s).not.toContain(QUESTION);
    checkOutcome(r);
  });
});
