// The denial prompt as a person meets it: `nono run` in a real terminal (node-pty), an agent
// whose command is denied, the question on screen, a key press, and what the agent then sees.
// This is the re-run path (the command fails, nono asks, the command runs again with the grant):
// what a kernel without live approval gets, and `--no-live-approval`, which these tests use. The
// same prompt answered while the command waits is test/live-approval.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixtures } from './helpers/paths.js';
import { QUESTION, auditRecords as auditRecordsOf, startPtyAgent } from './helpers/pty-agent.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';


let h: SandboxHome;
let config: string;
let other: string;

beforeEach(() => {
  h = makeSandboxHome();
  config = path.join(h.home, '.ssh', 'config');
  other = path.join(h.home, '.aws', 'config');
  fs.writeFileSync(config, 'Host example-secret\n');
  fs.writeFileSync(other, '[profile other-secret]\n');
});
afterEach(() => h.cleanup());

const startAgent = (scenario: string, ...files: string[]) =>
  startPtyAgent({
    cwd: h.project,
    cols: 200,
    rows: 40,
    env: {
      HOME: h.home,
      PATH: process.env.PATH!,
      TERM: 'xterm-256color',
      XDG_CONFIG_HOME: path.join(h.home, '.config'),
      XDG_STATE_HOME: path.join(h.home, '.local', 'state'),
    },
    nonoArgs: ['--no-live-approval'],
    agent: ['node', path.join(fixtures, 'prompt-agent.mjs'), scenario, ...files],
  });

const auditRecords = () => auditRecordsOf(h.home);

describe('the denial prompt (real pty)', () => {
  it('allow once: the command is re-run with read access to exactly that file, and says so', async () => {
    const s = startAgent('once', config);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   read ${config}`);
    expect(s.screen()).toContain(`grant    read ${config}`);
    s.press('o');
    await s.waitFor('AGENT-DONE');
    expect(await s.exit).toBe(0);
    const [r] = s.results();
    expect(r!.code).toBe(0);
    expect(r!.stdout).toBe('Host example-secret\n');
    expect(r!.stderr).toMatch(/Permission denied\nnono: re-running this command with read .*config allowed \(for this run only\)/);
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'decision', choice: 'once' }));
  });

  it('allow for the session: a second command reading the same file needs no question', async () => {
    const s = startAgent('twice', config);
    await s.waitForQuestion();
    s.press('s');
    await s.waitFor('AGENT-DONE');
    const [first, second] = s.results();
    expect(first!.stdout).toBe('Host example-secret\n');
    expect(second!.stdout).toBe('Host example-secret\n');
    expect(second!.stderr).toBe('');
    expect(s.questions()).toBe(1);
  });

  it('always: the grant is saved to approvals.json, and the question showed that change', async () => {
    const s = startAgent('always', config);
    await s.waitForQuestion();
    expect(s.screen()).toMatch(/\[a\] always: adds read_file "~\/\.ssh\/config" to ~\/\.config\/nono\/approvals\.json/);
    s.press('a');
    await s.waitFor('AGENT-DONE');
    expect(s.results()[0]!.stdout).toBe('Host example-secret\n');
    const saved = JSON.parse(fs.readFileSync(path.join(h.home, '.config', 'nono', 'approvals.json'), 'utf8'));
    expect(saved.filesystem.read_file).toEqual(['~/.ssh/config']);
    // A new session starts with it: no question at all.
    const again = startAgent('once', config);
    await again.waitFor('AGENT-DONE');
    expect(again.questions()).toBe(0);
    expect(again.results()[0]!.stdout).toBe('Host example-secret\n');
  });

  it('deny: the command fails as it did, with one line saying how the user could allow it', async () => {
    const s = startAgent('once', config);
    await s.waitForQuestion();
    s.press('d');
    await s.waitFor('AGENT-DONE');
    const [r] = s.results();
    expect(r!.code).toBe(1);
    expect(r!.stdout).toBe('');
    expect(r!.stderr).toContain(`cat: ${config}: Permission denied\nnono: the sandbox denied read of ${config}; to allow it, the user can run \`nono run --read-file ${config}\``);
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'decision', choice: 'deny' }));
  });

  it('withdraws the question when the agent kills the command meanwhile', async () => {
    const s = startAgent('kill', config);
    await s.waitForQuestion();
    // No answer: the agent's 2.5 s timeout SIGKILLs its shell.
    await s.waitFor('AGENT-DONE', 20_000);
    const [r] = s.results();
    expect(r!.signal).toBe('SIGKILL');
    expect(r!.stdout).toBe('');
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'decision', choice: 'deny', cancelled: true }));
    expect(await s.exit).toBe(0);
  });

  it("takes the screen from an agent on its main screen and gives it back (the terminal's alternate screen)", async () => {
    const s = startAgent('once', config);
    await s.waitForQuestion();
    s.press('o');
    await s.waitFor('AGENT-DONE');
    const out = s.screen();
    const q = out.indexOf(QUESTION);
    // Saved cursor + alternate screen before the question, back to the main screen after it, and
    // the agent's own output only after that.
    expect(out.lastIndexOf('\x1b7\x1b[?1049h', q)).toBeGreaterThanOrEqual(0);
    const back = out.indexOf('\x1b[?1049l\x1b8', q);
    expect(back).toBeGreaterThan(q);
    expect(out.indexOf('RESULT', q)).toBeGreaterThan(back);
  });

  it('asks over a full-screen agent and makes it repaint its screen afterwards', async () => {
    const s = startAgent('fullscreen', config);
    await s.waitForQuestion();
    expect(s.screen().indexOf('FULLSCREEN-AGENT')).toBeLessThan(s.screen().indexOf(QUESTION));
    s.press('o');
    await s.waitFor('AGENT-DONE');
    const out = s.screen();
    expect(out.indexOf('REPAINTED', out.indexOf(QUESTION))).toBeGreaterThan(0);
    expect(s.results()[0]!.stdout).toBe('Host example-secret\n');
  });

  it('asks about two denials one at a time', async () => {
    const s = startAgent('parallel', config, other);
    await s.waitForQuestion();
    await new Promise((r) => setTimeout(r, 800)); // the second command has been denied by now
    expect(s.questions()).toBe(1);
    const firstAsked = s.screen().includes(`denied   read ${config}`) ? config : other;
    s.press('o');
    await s.waitFor(() => s.questions() === 2);
    s.press('d');
    await s.waitFor('AGENT-DONE');
    const byFile = Object.fromEntries(s.results().map((r) => [r.cmd.split(' ').at(-1), r]));
    expect(byFile[firstAsked]!.code).toBe(0);
    const secondAsked = firstAsked === config ? other : config;
    expect(byFile[secondAsked]!.code).toBe(1);
  });
});
