// nono must work wherever it is cloned. ld.so splits LD_PRELOAD on spaces and colons: from a
// checkout under a path with a space, the interposer used to be lost (the loader printed an error
// into the agent's output and `bash` started by absolute path ran outside nono-shell). Run a copy
// of nono from such a path and check the preload route still carries the agent's commands.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let home: SandboxHome;
let copy: string;

beforeAll(() => {
  home = makeSandboxHome();
  copy = path.join(home.base, 'My Projects', 'nono');
  fs.mkdirSync(path.join(copy, 'test'), { recursive: true });
  // cp -a keeps proxy-bin's relative links pointing into the copy.
  execFileSync('cp', ['-a', ...['dist', 'native', 'proxy-bin', 'package.json'].map((p) => path.join(root, p)), copy]);
  execFileSync('cp', ['-a', path.join(root, 'test', 'fixtures'), path.join(copy, 'test')]);
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
});
afterAll(() => home?.cleanup());

const env = () => ({ HOME: home.home, PATH: process.env.PATH!, LANG: 'C.UTF-8' });

describe('nono run from a checkout whose path has a space', () => {
  it('the agent loads the interposer and its /bin/bash start is routed (preload)', async () => {
    const r = await execa('node', [path.join(copy, 'dist', 'cli', 'main.js'), 'run', '--verbose', '--', 'node', path.join(copy, 'test', 'fixtures', 'agent.mjs'), 'echo routed', 'spawn-abs-bash'], {
      cwd: home.project,
      env: env(),
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{'))!);
    expect(out).toMatchObject({ code: 0, stdout: 'routed\n', stderr: '' });
    expect(r.stderr).toMatch(/route=preload shell=\/bin\/bash .*"echo routed"/);
    expect(r.stderr).not.toMatch(/cannot be preloaded|did not load nono's interposer/);
  });

  it('nono doctor: the live preload handshake works', async () => {
    const r = await execa('node', [path.join(copy, 'dist', 'cli', 'main.js'), 'doctor', '--json'], { cwd: home.project, env: env(), extendEnv: false, reject: false, timeout: 60_000 });
    const report = JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; detail: string }> };
    expect(report.checks.find((c) => c.name === 'preload-handshake')).toMatchObject({ status: 'ok' });
  });
});
