// The host question as a person meets it: `nono run --allow-domain ...` in a real terminal
// (node-pty), an agent whose command curls a host that is not on the list, the question on
// screen while the connection waits, a key press, and what the command then gets.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fixtures } from './helpers/paths.js';
import { HOST_QUESTION as QUESTION, startPtyAgent } from './helpers/pty-agent.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let h: SandboxHome;
let origin: Origin;
beforeAll(async () => {
  origin = await startOrigin();
});
afterAll(async () => {
  await origin.close();
});
beforeEach(() => {
  h = makeSandboxHome();
});
afterEach(() => h.cleanup());

// api.localhost is listed only so that the session runs its proxy (this build may lack the
// native connect check, without which an empty list keeps TCP blocked); *.localhost names
// resolve to this machine by definition (RFC 6761), in the supervisor.
const startAgent = (...urls: string[]) =>
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
    nonoArgs: ['--allow-domain', 'api.localhost'],
    agent: ['node', path.join(fixtures, 'net-agent.mjs'), ...urls],
  });

const audit = () => {
  const f = path.join(h.home, '.local', 'state', 'nono', 'audit.jsonl');
  return fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
};

describe('a new host is a question (real pty)', () => {
  it('shows the host and port while the connection waits; "session" lets this and later commands through', async () => {
    const url = `http://new.localhost:${origin.port}`;
    const s = startAgent(`${url}/first`, `${url}/second`);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`host     connect new.localhost:${origin.port}`);
    expect(s.screen()).toContain('grant    connections to new.localhost (any port');
    expect(origin.requests.some((r) => r.url === '/first')).toBe(false); // still waiting
    s.press('s');
    await s.waitFor('AGENT-DONE');
    expect(s.results().map((r) => r.stdout)).toEqual(['hello from origin GET /first\n', 'hello from origin GET /second\n']);
    expect(s.questions()).toBe(1);
    expect(await s.exit).toBe(0);
    const records = audit();
    expect(records).toContainEqual(expect.objectContaining({ type: 'denial', host: 'new.localhost', port: origin.port, source: 'proxy' }));
    expect(records).toContainEqual(expect.objectContaining({ type: 'decision', choice: 'session' }));
    expect(records).toContainEqual(expect.objectContaining({ type: 'host', host: 'new.localhost', verdict: 'allowed', by: 'answered session' }));
  });

  it('"always" saves the host in approvals.json: the next session does not ask', async () => {
    const url = `http://saved.localhost:${origin.port}/x`;
    const s = startAgent(url);
    await s.waitForQuestion();
    expect(s.screen()).toMatch(/\[a\] always: adds allow_domains "saved\.localhost" to ~\/\.config\/nono\/approvals\.json/);
    s.press('a');
    await s.waitFor('AGENT-DONE');
    expect(s.results()[0]!.stdout).toBe('hello from origin GET /x\n');
    const saved = JSON.parse(fs.readFileSync(path.join(h.home, '.config', 'nono', 'approvals.json'), 'utf8'));
    expect(saved.network.allow_domains).toEqual(['saved.localhost']);
    const again = startAgent(url);
    await again.waitFor('AGENT-DONE');
    expect(again.questions()).toBe(0);
    expect(again.results()[0]!.stdout).toBe('hello from origin GET /x\n');
  });

  it('"once" is for that command only; "deny" refuses with the line and is not asked again', async () => {
    const url = `http://once.localhost:${origin.port}`;
    const s = startAgent(`${url}/a`, `${url}/b`, `${url}/c`);
    await s.waitForQuestion();
    s.press('o');
    await s.waitFor(() => s.questions() === 2);
    s.press('d');
    await s.waitFor('AGENT-DONE');
    const [a, b, c] = s.results();
    expect(a!.stdout).toBe('hello from origin GET /a\n');
    expect(b!.code).not.toBe(0);
    expect(b!.stderr).toContain(`nono: the sandbox denied a connection to once.localhost:${origin.port} (not on the session's host list); to allow it, the user can run \`nono run --allow-domain once.localhost\``);
    expect(c!.code).not.toBe(0);
    expect(s.questions()).toBe(2);
    expect(origin.requests.some((r) => r.url === '/b' || r.url === '/c')).toBe(false);
  });
});
