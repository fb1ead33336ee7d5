// The interposer inside a real `nono run` session: every way real programs start a shell reaches
// the supervisor (and runs), programs that are not shells never do, and an agent the preload
// cannot reach (static, setuid) is named in one warning with its cause.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, fixtures, root } from './helpers/paths.js';
import { isRoot, setuidOther } from './helpers/privileged.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let home: SandboxHome;
let bin: string;

interface Event {
  event: string;
  argv?: string[];
  route?: string;
  status?: string;
  cause?: string;
  agent?: boolean;
  exe?: string;
}

beforeAll(() => {
  home = makeSandboxHome();
  // Inside HOME: the agent sandbox reads HOME, not the rest of /tmp.
  bin = path.join(home.home, 'bin');
  fs.mkdirSync(bin);
  const tiny = path.join(fixtures, 'tiny_agent.c');
  execFileSync('gcc', ['-O2', '-o', path.join(bin, 'dynamic-agent'), tiny]);
  execFileSync('gcc', ['-O2', '-static', '-o', path.join(bin, 'static-agent'), tiny]);
  // A setuid copy owned by another user: running it changes the effective uid, which puts the
  // loader in secure mode (as root, a setuid-root binary would change nothing).
  // (Root only: an ordinary user cannot give a file to another user; those tests are skipped.)
  if (isRoot) setuidOther(path.join(bin, 'dynamic-agent'), path.join(bin, 'setuid-agent'));
  // Project fixtures for the scenarios: a Makefile whose recipe needs a shell, a git repo, and a
  // non-shell whose name contains "bash".
  fs.writeFileSync(path.join(home.project, 'Makefile'), 'all:\n\t@echo M-make | cat\n');
  execFileSync('git', ['init', '-q', home.project]);
  fs.copyFileSync('/bin/true', path.join(home.project, 'bashish'));
  fs.chmodSync(path.join(home.project, 'bashish'), 0o755);
  // Scripts for the scenarios that start a shell without naming one: each prints its marker ($1),
  // then what it sees as $0, its arguments and its directory.
  const body = 'echo "$1 0=$0 args=$# 2=$2 pwd=$PWD"\n';
  for (const [name, head] of [['script-bash.sh', '#!/bin/bash -e\n'], ['script-env.sh', '#!/usr/bin/env bash\n'], ['noshebang', '']]) {
    fs.writeFileSync(path.join(home.project, name), head + body, { mode: 0o755 });
  }
});

afterAll(() => home?.cleanup());

async function nonoRun(args: string[], extra: string[] = []) {
  const eventsFile = path.join(home.base, `events-${Date.now()}-${Math.random()}.jsonl`);
  const res = await execa('node', [cli, 'run', '--json-events', eventsFile, ...extra, '--', ...args], {
    cwd: home.project,
    env: { HOME: home.home, PATH: process.env.PATH, LANG: 'C.UTF-8' },
    extendEnv: false,
    reject: false,
    timeout: 120_000,
  });
  const events: Event[] = fs.existsSync(eventsFile)
    ? fs.readFileSync(eventsFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];
  return { ...res, events };
}

describe('every way a real program starts a shell', () => {
  const positive = [
    'node-spawn-bash', 'node-spawn-abs', 'node-exec', 'node-execfile-shell', 'execa-shell',
    'python-list-bash', 'python-shell', 'os-system', 'os-popen', 'make', 'git-alias',
    'perl-system', 'awk-system', 'env-bash', 'xargs-sh', 'find-exec',
    'script-bash', 'script-env', 'noshebang-execvp',
  ];
  const negative = ['true', 'ls', 'git-status', 'bashish'];

  it('reaches the supervisor, runs sandboxed, and nothing else does', async () => {
    const res = await nonoRun(['/usr/bin/python3', path.join(fixtures, 'start-shells.py'), root, home.project]);
    expect(res.exitCode, res.stderr).toBe(0);
    const lines = Object.fromEntries(res.stdout.split('\n').filter(Boolean).map((l) => {
      const [name, code, out] = l.split('\t');
      return [name!, { code: Number(code), out: out ?? '' }];
    }));
    const commands = res.events.filter((e) => e.event === 'command');
    for (const name of positive) {
      expect(lines[name], `scenario ${name} did not report`).toBeDefined();
      expect(lines[name]!.code, name).toBe(0);
      expect(lines[name]!.out, name).toContain(`M-${name}`);
      const marker = new RegExp(`M-${name}(?![\\w-])`);
      const seen = commands.filter((c) => marker.test(c.argv!.join(' ')));
      expect(seen.length, `${name} commands seen by the supervisor`).toBe(1);
    }
    // The shells started without naming one got the argv the kernel (or glibc) would have given
    // them, and ran in the caller's directory.
    const cwd = fs.realpathSync(home.project);
    const argvOf = (name: string) => commands.find((c) => c.argv!.includes(`M-${name}`))!.argv;
    expect(argvOf('script-bash')).toEqual(['/bin/bash', '-e', './script-bash.sh', 'M-script-bash', 'two words']);
    expect(lines['script-bash']!.out).toBe(`M-script-bash 0=./script-bash.sh args=2 2=two words pwd=${cwd}`);
    expect(argvOf('script-env')).toEqual(['bash', path.join(home.project, 'script-env.sh'), 'M-script-env']);
    expect(lines['script-env']!.out).toBe(`M-script-env 0=${path.join(home.project, 'script-env.sh')} args=1 2= pwd=${cwd}`);
    expect(argvOf('noshebang-execvp')).toEqual(['/bin/sh', './noshebang', 'M-noshebang-execvp']);
    expect(lines['noshebang-execvp']!.out).toBe(`M-noshebang-execvp 0=./noshebang args=1 2= pwd=${cwd}`);
    // `env bash` finds proxy-bin/path/bash first on the session's PATH: that is the client
    // itself, so the interposer leaves it to the PATH proxy.
    const routes = Object.fromEntries(['script-bash', 'script-env', 'noshebang-execvp'].map((n) => [n, commands.find((c) => c.argv!.includes(`M-${n}`))!.route]));
    expect(routes).toEqual({ 'script-bash': 'preload', 'script-env': 'path-proxy', 'noshebang-execvp': 'preload' });
    for (const name of negative) expect(lines[name]?.code, name).toBe(0);
    // Exactly one command per positive scenario: /bin/true, ls, git status and `bashish` added none.
    expect(commands.length).toBe(positive.length);
  });
});

describe('a preload that did not reach the agent', () => {
  it('is not reported for a normal dynamic agent, which loaded it', async () => {
    const res = await nonoRun([path.join(bin, 'dynamic-agent')]);
    expect(res.exitCode).toBe(0);
    expect(res.stderr).not.toMatch(/did not load/);
    expect(res.events).toContainEqual(expect.objectContaining({ event: 'preload', agent: true, status: 'loaded' }));
  });

  it('is named for a static agent: preload ignored, and which routes still protect', async () => {
    const res = await nonoRun([path.join(bin, 'static-agent')]);
    expect(res.exitCode).toBe(0);
    const warnings = res.stderr.split('\n').filter((l) => l.includes('did not load'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/the agent \(.*static-agent\) did not load nono's interposer: statically linked binary/);
    expect(warnings[0]).toMatch(/\$SHELL \(proxy-bin\/bash\) or a bash\/sh found on PATH/);
    expect(warnings[0]).toMatch(/only inside the agent-level sandbox/);
    expect(res.events).toContainEqual(expect.objectContaining({ event: 'preload', agent: true, status: 'missing', cause: 'ignored' }));
  });

  it.runIf(isRoot)('is named for a setuid agent outside the agent sandbox (the loader drops it)', async () => {
    const res = await nonoRun([path.join(bin, 'setuid-agent')], ['--no-agent-sandbox']);
    expect(res.exitCode).toBe(0);
    expect(res.stderr).toMatch(/the agent \(.*setuid-agent\) did not load nono's interposer: setuid binary/);
    expect(res.stderr).toMatch(/run unsandboxed \(--no-agent-sandbox\)/);
    expect(res.events).toContainEqual(expect.objectContaining({ event: 'preload', agent: true, status: 'missing', cause: 'stripped' }));
  });

  it.runIf(isRoot)('is not reported for the same setuid agent inside the agent sandbox (no_new_privs keeps the bit from taking effect)', async () => {
    const res = await nonoRun([path.join(bin, 'setuid-agent')]);
    expect(res.exitCode).toBe(0);
    expect(res.stderr).not.toMatch(/did not load/);
    expect(res.events).toContainEqual(expect.objectContaining({ event: 'preload', agent: true, status: 'loaded' }));
  });
});
