// `nono run -- claude` with no --profile: an agent nono recognises (as `nono doctor --agent` does)
// gets its built-in profile, and nono says so in one line; --profile always wins; an unknown
// program keeps default. Checked by what the agent's command may really do: the claude-code
// profile lets commands write ~/.claude/shell-snapshots, default does not.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let home: SandboxHome;
let bin: string;

// A stand-in named like the agent: its one shell command writes a shell snapshot, as Claude Code's does.
const SCRIPT = '#!/bin/sh\nbash -c \'echo snap > "$HOME/.claude/shell-snapshots/snapshot-test.sh" && echo wrote || echo denied\'\n';

beforeAll(() => {
  home = makeSandboxHome();
  // Inside HOME (readable by the agent sandbox), so only the choice of profile is under test here.
  bin = path.join(home.home, '.local', 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const name of ['claude', 'not-an-agent']) fs.writeFileSync(path.join(bin, name), SCRIPT, { mode: 0o755 });
});
afterAll(() => home?.cleanup());

function nonoRun(args: string[]) {
  return execa('node', [cli, 'run', ...args], {
    cwd: home.project,
    env: { HOME: home.home, PATH: `${bin}:${process.env.PATH}`, LANG: 'C.UTF-8' },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
}

describe('nono run without --profile', () => {
  it('a recognised agent (claude): its built-in profile, said in one line', async () => {
    const r = await nonoRun(['--', 'claude']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('nono: using profile claude-code for claude (recognised as Claude Code); --profile default to override');
    expect(r.stdout.trim()).toBe('wrote');
  });

  it('an explicit --profile wins, and nothing is said', async () => {
    const r = await nonoRun(['--profile', 'default', '--', 'claude']);
    expect(r.stderr).not.toMatch(/using profile/);
    expect(r.stdout.trim()).toBe('denied');
  });

  it('an unknown program keeps default', async () => {
    fs.mkdirSync(path.join(home.home, '.claude', 'shell-snapshots'), { recursive: true });
    const r = await nonoRun(['--', 'not-an-agent']);
    expect(r.stderr).not.toMatch(/using profile/);
    expect(r.stdout.trim()).toBe('denied');
  });

  it('--verbose names the profile chosen', async () => {
    const r = await nonoRun(['--verbose', '--', 'claude']);
    expect(r.stderr).toMatch(/^nono: profile claude-code \(built-in default <- built-in claude-code\)$/m);
  });
});
