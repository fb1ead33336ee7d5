// The whole path, as a user runs it: `nono run -- <agent>` where the agent starts shells the ways
// real agents do. Each command must arrive at the supervisor (its --verbose log) and run in a
// sandbox: it writes in the working directory, but cannot write elsewhere in HOME, read a planted
// ~/.ssh key, or connect to a loopback TCP listener.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, fixtures } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let home: SandboxHome;
let server: net.Server;
let port = 0;
let connections = 0;

beforeAll(async () => {
  home = makeSandboxHome();
  server = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(() => {
  server.close();
  home.cleanup();
});

function nonoRun(args: string[]) {
  return execa('node', [cli, 'run', '--verbose', '--', ...args], {
    cwd: home.project,
    env: { HOME: home.home, PATH: process.env.PATH, LANG: 'C.UTF-8' },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
}

interface AgentResult {
  method: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

function parseResults(stdout: string): AgentResult[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AgentResult);
}

function expectSandboxed(r: AgentResult) {
  expect(r.code, `${r.method}: ${r.stderr}`).toBe(0);
  expect(r.stdout).toContain('write-workdir=allowed');
  expect(r.stdout).toContain('write-home=denied');
  expect(r.stdout).toContain('read-ssh=denied');
  expect(r.stdout).toContain('tcp=denied');
  // Commands run directly in their sandbox: the interposer is not in their environment.
  expect(r.stdout).toContain('preload=none');
  expect(fs.readFileSync(path.join(home.project, `written-by-${r.method}`), 'utf8').trim()).toBe(r.method);
  expect(fs.existsSync(path.join(home.home, `escaped-${r.method}`))).toBe(false);
}

describe('nono run with a Node agent', () => {
  it('sandboxes commands started by spawn(bash), spawn(/bin/bash), exec() and $SHELL -c -l detached', async () => {
    const before = connections;
    const res = await nonoRun(['node', path.join(fixtures, 'agent.mjs'), `sh ${path.join(fixtures, 'probe.sh')} @M ${port}`]);
    expect(res.exitCode, res.stderr).toBe(0);
    const results = parseResults(res.stdout);
    expect(results.map((r) => r.method)).toEqual(['spawn-bash', 'spawn-abs-bash', 'exec', 'shell-detached']);
    for (const r of results) expectSandboxed(r);
    expect(connections - before).toBe(0);

    // The supervisor saw each one, by the route that carried it.
    const log = res.stderr;
    const line = (m: string) => log.split('\n').find((l) => l.includes(`probe.sh ${m} `) && l.includes('-> exit'));
    // bash on PATH is proxy-bin/bash (nono-shell itself): the interposer lets it through as is.
    expect(line('spawn-bash')).toMatch(/route=path-proxy shell=\S*\/bash /);
    expect(line('spawn-abs-bash')).toMatch(/route=preload shell=\/bin\/bash /);
    expect(line('exec')).toMatch(/route=preload shell=\/bin\/sh /);
    // $SHELL is proxy-bin/bash: nono-shell itself, reached without the interposer.
    expect(line('shell-detached')).toMatch(/route=shell-proxy shell=\S*\/bash /);
  });

  it('sandboxes the agent itself: it cannot read the planted key either', async () => {
    const res = await nonoRun(['node', '-e', `require('fs').readFileSync(${JSON.stringify(home.sshKey)})`]);
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toContain('EACCES');
  });

  it('warns when asked not to sandbox the agent, and still sandboxes its commands', async () => {
    const res = await execa(
      'node',
      [cli, 'run', '--no-agent-sandbox', '--', 'node', path.join(fixtures, 'agent.mjs'), `sh ${path.join(fixtures, 'probe.sh')} @M ${port}`, 'exec'],
      { cwd: home.project, env: { HOME: home.home, PATH: process.env.PATH }, extendEnv: false, reject: false },
    );
    expect(res.stderr).toMatch(/warning: --no-agent-sandbox/);
    const [r] = parseResults(res.stdout);
    expectSandboxed(r!);
  });
});

describe('nono run with a Python agent', () => {
  it('sandboxes subprocess.run(..., shell=True)', async () => {
    const before = connections;
    const res = await nonoRun(['/usr/bin/python3', path.join(fixtures, 'agent.py'), `sh ${path.join(fixtures, 'probe.sh')} @M ${port}`]);
    expect(res.exitCode, res.stderr).toBe(0);
    const [r] = parseResults(res.stdout);
    expectSandboxed(r!);
    expect(connections - before).toBe(0);
    expect(res.stderr).toMatch(/route=preload shell=\/bin\/sh .*probe\.sh python-shell/);
  });
});

describe('nono run itself', () => {
  it("exits with the program's status", async () => {
    expect((await nonoRun(['node', '-e', 'process.exit(42)'])).exitCode).toBe(42);
    expect((await nonoRun(['node', '-e', 'process.exit(0)'])).exitCode).toBe(0);
  });

  it('lets --allow-net open TCP for commands', async () => {
    const before = connections;
    const res = await execa('node', [cli, 'run', '--allow-net', '--', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`], {
      cwd: home.project,
      env: { HOME: home.home, PATH: process.env.PATH },
      extendEnv: false,
      reject: false,
    });
    expect(res.stdout).toBe('connected');
    expect(connections - before).toBe(1);
  });

  it('reports a program that does not exist like a shell would (127)', async () => {
    const res = await nonoRun(['definitely-not-a-program-xyz']);
    expect(res.exitCode).toBe(127);
    expect(res.stderr).toContain('definitely-not-a-program-xyz: command not found');
  });

  it('refuses to start without -- before the program', async () => {
    const res = await execa('node', [cli, 'run', 'true'], { reject: false });
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toContain('put -- before the program');
  });

  it('rejects an unknown flag with a clear message and runs nothing', async () => {
    const marker = path.join(home.project, 'should-not-exist');
    const res = await execa('node', [cli, 'run', '--bogus', '--', 'touch', marker], { reject: false });
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toMatch(/unknown option '--bogus'/);
    expect(fs.existsSync(marker)).toBe(false);
  });
});
