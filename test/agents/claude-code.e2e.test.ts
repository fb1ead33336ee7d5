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
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, root } from '../helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from '../helpers/sandbox-home.js';
import { commandEvents, commandFor, doctorRoute, events, Pane } from './harness.js';

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
  const pane = new Pane('claude', h.project, env, [
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
