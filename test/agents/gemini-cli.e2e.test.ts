// End to end with the real Gemini CLI (test/agents/package.json): the agent runs under
// `nono run --profile gemini-cli` in a tmux pane, driven offline through its `!` shell mode (a
// shell command with no model and no network: a dummy GEMINI_API_KEY gets it past
// authentication, and nothing is sent until a prompt is). What a user would check by hand: a
// command reading a planted SSH key is denied and the key never reaches the screen, a command
// writing in the project succeeds, its startup probes (`sh -c ...`) are routed too, and the route
// `nono doctor --agent` predicted is the route the supervisor saw.
//
// Gemini CLI runs shell-mode commands in a pty (node-pty) by default, and falls back to
// child_process only when node-pty cannot be loaded. The first two tests turn the pty off
// (tools.shell.enableInteractiveShell: false); the third keeps Gemini's default.
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

const AGENT_BIN = path.join(root, 'test', 'agents', 'node_modules', '.bin', 'gemini');
const VERSION = JSON.parse(fs.readFileSync(path.join(root, 'test', 'agents', 'package.json'), 'utf8')).dependencies[
  '@google/gemini-cli'
] as string;
const QUESTION = 'nono: the sandbox denied part of a command';
const SECRET = 'planted-by-nono-tests'; // the planted key's body (test/helpers/sandbox-home.ts)
const READ_KEY = 'cat ~/.ssh/id_rsa';
const WRITE = 'echo ok > written.txt';
// Gemini CLI's own screen: its banner, its input line, and its input line in shell mode.
const BANNER = `Gemini CLI v${VERSION}`;
const READY = 'Type your message';
const SHELL_MODE = 'shell mode enabled';
const SHELL_INPUT = 'Type your shell command';

interface Run {
  h: SandboxHome;
  pane: Pane;
  eventsFile: string;
}

let current: Run | undefined;

/** A temp HOME with planted credentials, Gemini CLI's offline setup, and the agent under nono. */
function start(nonoArgs: string[], opts: { pty: boolean }): Run {
  const h = makeSandboxHome();
  // What a user who has set Gemini CLI up has: an auth method chosen and this folder trusted.
  // Updates, usage statistics and telemetry off: nothing leaves the machine.
  const gemini = path.join(h.home, '.gemini');
  fs.mkdirSync(gemini, { recursive: true });
  fs.writeFileSync(
    path.join(gemini, 'settings.json'),
    JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      general: { disableAutoUpdate: true, disableUpdateNag: true },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
      ...(opts.pty ? {} : { tools: { shell: { enableInteractiveShell: false } } }),
    }),
  );
  fs.writeFileSync(path.join(gemini, 'trustedFolders.json'), JSON.stringify({ [h.project]: 'TRUST_FOLDER' }));
  const eventsFile = path.join(h.base, 'events.jsonl');
  const env = {
    HOME: h.home,
    PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    GEMINI_API_KEY: 'nono-e2e-offline-dummy-key',
  };
  const pane = new Pane('gemini', h.project, env, [
    process.execPath, cli, 'run', '--profile', 'gemini-cli', '--json-events', eventsFile, ...nonoArgs, '--', AGENT_BIN,
  ]);
  current = { h, pane, eventsFile };
  return current;
}

/** `!` as its own key turns shell mode on (it stays on after a command), then the command, Enter. */
async function shellMode(pane: Pane, command: string): Promise<void> {
  const s = await pane.waitFor((x) => x.includes(READY) || x.includes(SHELL_INPUT));
  if (!s.includes(SHELL_MODE)) {
    await pane.keys('!');
    await pane.waitFor(SHELL_MODE, 10_000);
  }
  await pane.keys(command, true);
  await pane.keys('Enter');
}

/** Ctrl-C twice quits Gemini CLI; nono then writes its `exit` event. */
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
    agent: {
      known: string | null;
      format: string;
      executable: string | null;
      preload: string;
      command: string;
      routes: Array<{ route: string; works: boolean | null }>;
    };
  };
}

/** Both commands typed, the read answered or refused: what every variant checks. */
async function readThenWrite(r: Run, onQuestion?: (screen: string) => Promise<void>): Promise<void> {
  const { pane, h } = r;
  // Its banner is drawn a moment after the input line.
  await pane.waitFor((s) => s.includes(READY) && s.includes(BANNER));

  await shellMode(pane, READ_KEY);
  if (onQuestion) await onQuestion(await pane.waitFor(QUESTION));
  const shown = await pane.waitFor((s) => s.includes(`Shell Command ${READ_KEY}`) && /Permission denied|forkpty|failed/.test(s));
  expect(shown, 'Gemini CLI could not open a pty for the command inside the agent sandbox').not.toContain('forkpty(3) failed');
  expect(shown).toContain(`cat: ${h.sshKey}: Permission denied`);
  expect(shown).toContain(`nono: the sandbox denied read of ${h.sshKey}`);

  await shellMode(pane, WRITE);
  // Finished: ✓ or x in front of it (a spinner while it runs).
  await pane.waitFor((s) => s.includes(`✓  Shell Command ${WRITE}`) || s.includes(`x  Shell Command ${WRITE}`));
  await quit(r);
}

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
  expect(read, `no command event for ${READ_KEY}`).toBeDefined();
  expect(write, `no command event for ${WRITE}`).toBeDefined();
  expect(read!.exit).toEqual({ code: 1 });
  expect(write!.exit).toEqual({ code: 0 });
  expect(read!.route).toMatch(/^(preload|shell-proxy|path-proxy|shell-prefix)$/);
  expect(write!.route).toBe(read!.route);
  // Its startup probes (`sh -c 'command -v <editor>'`, `ps`, ...) were routed too.
  expect(commandEvents(eventsFile).some((e) => e.argv[0] === '/bin/sh' && e.argv[2]?.startsWith('command -v '))).toBe(true);
  // Gemini CLI is run by node, which loaded the interposer.
  expect(events(eventsFile)).toContainEqual(expect.objectContaining({ event: 'preload', agent: true, status: 'loaded' }));

  // Doctor, asked about the same installed agent, predicted that route, and every other route the
  // supervisor saw in this session (preload, for the startup probes).
  const d = doctor(h);
  expect(d.agent.known).toBe('gemini-cli');
  expect(d.agent.format).toBe('script');
  expect(d.agent.preload).toBe('loads');
  expect(d.agent.command).toContain('--profile gemini-cli');
  const predicted = d.agent.routes.filter((x) => x.works === true).map((x) => x.route);
  expect(predicted).toContain(doctorRoute(read!.route));
  for (const seen of new Set(commandEvents(eventsFile).map((e) => e.route))) expect(predicted).toContain(doctorRoute(seen));
}

describe.skipIf(!process.env.NONO_AGENT_E2E)(`Gemini CLI ${VERSION} under nono run (tmux, offline shell mode)`, () => {
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
    const r = start([], { pty: false });
    await readThenWrite(r, async (asked) => {
      expect(asked).toContain(`denied   read ${r.h.sshKey}`);
      // The question has the screen to itself: Gemini CLI's UI is not on it.
      expect(asked).not.toContain(SHELL_INPUT);
      await r.pane.keys('d');
      // Gemini CLI's UI is back, with the command's failure in it.
      const back = await r.pane.waitFor((s) => s.includes(SHELL_INPUT) && s.includes('Permission denied'));
      expect(back).not.toContain(QUESTION);
      expect(back).toContain(`Shell Command ${READ_KEY}`);
    });
    checkOutcome(r);
    expect(r.pane.captures.filter((s) => s.includes(QUESTION)).every((s) => s.includes(`denied   read ${r.h.sshKey}`))).toBe(true);
    expect(events(r.eventsFile)).toContainEqual(expect.objectContaining({ event: 'exit', code: 0 }));
  });

  it("--on-denial deny: no question, the command fails with nono's reason, the write succeeds", async () => {
    const r = start(['--on-denial', 'deny'], { pty: false });
    await readThenWrite(r);
    for (const s of r.pane.captures) expect(s).not.toContain(QUESTION);
    checkOutcome(r);
  });

  // Gemini CLI's default: shell-mode commands in a pty it opens itself, inside nono's agent
  // sandbox (node-pty's forkpty: /dev/ptmx, then the new /dev/pts/N). The system_read group
  // denies all of /dev/pts, so opening the new pty's other end fails, by path and by TIOCGPTPEER
  // alike: Gemini shows "forkpty(3) failed" and runs nothing. This test fails until nono lets a
  // sandboxed process use the ptys it creates.
  it('with its default pty shell (node-pty), commands run and are sandboxed the same way', async () => {
    const r = start(['--on-denial', 'deny'], { pty: true });
    await readThenWrite(r);
    checkOutcome(r);
  });
});
