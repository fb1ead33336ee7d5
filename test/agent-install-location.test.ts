// An agent installed outside the directories a sandbox reads (a custom npm prefix under /tmp,
// Homebrew on Linux) must start under `nono run` with its commands routed and sandboxed: the
// agent's own sandbox gets read+execute on exactly its program (npm package root, Homebrew keg),
// shown by --verbose and recorded in the events and the audit log. An agent that cannot start
// gets one line saying what could not be run, exit 126, and no interposer warning.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installUnit } from '../src/policy/agent-program.js';
import { cli, fixtures } from './helpers/paths.js';
import { installBrewAgent, installNpmAgent, type InstalledAgent } from './helpers/install-agent.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let home: SandboxHome;
let npmAgent: InstalledAgent;
let brewAgent: InstalledAgent;
let server: net.Server;
let port = 0;

beforeAll(async () => {
  home = makeSandboxHome();
  // Beside HOME, not in it: nothing under home.base but HOME is readable in a sandbox.
  npmAgent = installNpmAgent(home.base);
  brewAgent = installBrewAgent(home.base);
  server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(() => {
  server?.close();
  home?.cleanup();
});

function nonoRun(args: string[], binDir: string) {
  return execa('node', [cli, 'run', ...args], {
    cwd: home.project,
    env: { HOME: home.home, PATH: `${binDir}:${process.env.PATH}`, LANG: 'C.UTF-8', XDG_STATE_HOME: path.join(home.base, 'state') },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
}

const probe = (label: string) => `sh ${path.join(fixtures, 'probe.sh')} ${label} ${port}`;

function results(stdout: string): Array<{ method: string; code: number; stdout: string; stderr: string }> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

describe('an agent installed outside the readable set', () => {
  it('npm prefix under /tmp (bin symlink to a #!/usr/bin/env node script): starts, its package root is granted, its commands are sandboxed', async () => {
    const events = path.join(home.base, 'npm-events.jsonl');
    const r = await nonoRun(['--verbose', '--json-events', events, '--', npmAgent.name, probe('@M'), 'spawn-bash,spawn-abs-bash'], npmAgent.binDir);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = results(r.stdout);
    expect(out.map((o) => o.method)).toEqual(['spawn-bash', 'spawn-abs-bash']);
    for (const o of out) {
      expect(o.code, o.stderr).toBe(0);
      expect(o.stdout).toContain('write-workdir=allowed');
      expect(o.stdout).toContain('read-ssh=denied');
      expect(o.stdout).toContain('tcp=denied');
    }
    // Routed: the supervisor ran each one, by the route that carried it.
    const line = (m: string) => r.stderr.split('\n').find((l) => l.includes(`probe.sh ${m} `) && l.includes('-> exit'));
    expect(line('spawn-bash')).toMatch(/route=path-proxy /);
    expect(line('spawn-abs-bash')).toMatch(/route=preload shell=\/bin\/bash /);
    expect(r.stderr).not.toMatch(/did not load nono's interposer/);
    // Exactly the package root (not the prefix), shown and recorded.
    expect(r.stderr).toContain(`nono: agent sandbox: read and run ${npmAgent.unit} (npm package fake-agent, holding the program ${npmAgent.script})`);
    const session = fs.readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'session');
    expect(session.agentProgram).toEqual([{ path: npmAgent.unit, kind: 'dir', why: expect.stringContaining('npm package fake-agent') }]);
    const audit = fs.readFileSync(path.join(home.base, 'state', 'nono', 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(audit.find((a) => a.type === 'session' && a.session === session.id)?.agentProgram).toEqual(session.agentProgram);
  });

  it('the grant is for the agent only: a command cannot read the agent package', async () => {
    const r = await nonoRun(['--', npmAgent.name, `cat ${npmAgent.script} >/dev/null && echo readable || echo unreadable`, 'spawn-bash'], npmAgent.binDir);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(results(r.stdout)[0]!.stdout.trim()).toBe('unreadable');
  });

  it('Homebrew on Linux (node and the agent each in a Cellar keg): both kegs granted, the agent runs on the keg node', async () => {
    const r = await nonoRun(['--verbose', '--', brewAgent.name, probe('@M'), 'spawn-bash'], brewAgent.binDir);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(results(r.stdout)[0]!.stdout).toContain('read-ssh=denied');
    expect(r.stderr.split('\n').find((l) => l.includes('probe.sh spawn-bash ') && l.includes('-> exit'))).toMatch(/route=path-proxy /);
    expect(r.stderr).toContain(`nono: agent sandbox: read and run ${brewAgent.unit} (Homebrew keg brew-agent 1.0, holding the program ${brewAgent.script})`);
    expect(r.stderr).toContain(`nono: agent sandbox: read and run ${path.dirname(path.dirname(brewAgent.node!))} (Homebrew keg node 99.0.0, holding its interpreter ${brewAgent.node})`);
    // The process that loaded the interposer is the keg's node.
    expect(r.stderr).toMatch(new RegExp(`interposer loaded in pid \\d+ \\(${brewAgent.node!.replace(/[.]/g, '\\.')}\\)`));
  });
});

describe('an agent that cannot start inside its sandbox', () => {
  it('its interpreter denied by the profile: one line naming it and how to allow it, exit 126, nothing ran', async () => {
    const profile = path.join(home.base, 'deny-node.json');
    const node = fs.realpathSync(process.execPath);
    fs.writeFileSync(profile, JSON.stringify({ extends: 'default', agent: { filesystem: { deny: [node] } } }));
    const marker = path.join(home.project, 'ran');
    const r = await nonoRun(['--profile', profile, '--', npmAgent.name, `touch ${marker}`, 'spawn-bash'], npmAgent.binDir);
    expect(r.exitCode).toBe(126);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^nono: fake-agent cannot start inside the agent sandbox: its interpreter ${node}`));
    expect(lines[0]).toContain(`"read_file": ["${node}"]`);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('re-allowing that file as the message says starts it again', async () => {
    const profile = path.join(home.base, 'deny-node-readmit.json');
    const node = fs.realpathSync(process.execPath);
    fs.writeFileSync(profile, JSON.stringify({ extends: 'default', agent: { filesystem: { deny: [node], read_file: [node] } } }));
    const r = await nonoRun(['--profile', profile, '--', npmAgent.name, 'echo started', 'spawn-bash'], npmAgent.binDir);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(results(r.stdout)[0]!.stdout.trim()).toBe('started');
  });

  it('its exec fails in the exec helper (the program is not executable): one line naming the file, exit 126, no interposer warning', async () => {
    const script = path.join(home.base, 'not-executable.mjs');
    fs.copyFileSync(npmAgent.script, script);
    fs.chmodSync(script, 0o644);
    const r = await nonoRun(['--', script, 'true'], npmAgent.binDir);
    expect(r.exitCode).toBe(126);
    expect(r.stderr).toBe(`nono: ${script} cannot start: the program ${script} is not executable (mode 0644); make it executable (chmod +x)`);
  });

  it('its #! interpreter does not exist: one line naming it, exit 126 (not "command not found")', async () => {
    const script = path.join(home.base, 'bad-interpreter');
    fs.writeFileSync(script, '#!/nonexistent/nono-test-node\n', { mode: 0o755 });
    const r = await nonoRun(['--', script], npmAgent.binDir);
    expect(r.exitCode).toBe(126);
    expect(r.stderr).toBe(`nono: ${script} cannot start: the #! interpreter of ${script} /nonexistent/nono-test-node does not exist`);
  });

  it('a directory named as the agent: nothing granted, one line, exit 126', async () => {
    const dir = path.join(home.base, 'a-directory');
    fs.mkdirSync(dir, { recursive: true });
    const r = await nonoRun(['--verbose', '--', dir], npmAgent.binDir);
    expect(r.exitCode).toBe(126);
    expect(r.stderr).not.toMatch(/agent sandbox: read and run/);
    expect(r.stderr.split('\n').filter((l) => !/^nono: (denials|session|profile|network:|warning:|live approval:) /.test(l) && l)).toEqual([`nono: ${dir} cannot start: the program ${dir} is a directory`]);
  });

  it('its package directory holds a protected path: refused with one line, nothing granted, exit 126', async () => {
    const profile = path.join(home.base, 'protect-in-package.json');
    const secret = path.join(npmAgent.unit, 'secrets');
    fs.mkdirSync(secret, { recursive: true });
    fs.writeFileSync(profile, JSON.stringify({ extends: 'default', filesystem: { deny: [secret] } }));
    const r = await nonoRun(['--profile', profile, '--', npmAgent.name, 'true', 'spawn-bash'], npmAgent.binDir);
    fs.rmSync(secret, { recursive: true });
    expect(r.exitCode).toBe(126);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^nono: fake-agent cannot start inside the agent sandbox: its npm package fake-agent ${npmAgent.unit} holds the protected path ${secret}`));
  });
});

describe('installUnit: the narrowest directory an agent was installed as', () => {
  it('a Nix store entry, a Homebrew keg, an npm package root (not its prefix)', () => {
    expect(installUnit('/nix/store/abc123-nodejs-22.1.0/bin/node')).toEqual({ dir: '/nix/store/abc123-nodejs-22.1.0', what: 'Nix store entry' });
    expect(installUnit('/home/linuxbrew/.linuxbrew/Cellar/gemini-cli/0.61.0/libexec/lib/node_modules/@google/gemini-cli/dist/index.js')).toEqual({
      dir: '/home/linuxbrew/.linuxbrew/Cellar/gemini-cli/0.61.0',
      what: 'Homebrew keg gemini-cli 0.61.0',
    });
    expect(installUnit(npmAgent.script)).toEqual({ dir: npmAgent.unit, what: 'npm package fake-agent' });
  });

  it('no unit for a lone file, or for a package.json at a prefix (/tmp/package.json names nothing)', () => {
    const lone = path.join(home.base, 'lone', 'agent');
    fs.mkdirSync(path.dirname(lone), { recursive: true });
    fs.writeFileSync(lone, '#!/bin/sh\n');
    fs.writeFileSync(path.join(home.base, 'package.json'), JSON.stringify({ name: 'not-this' }));
    try {
      expect(installUnit(lone)).toBeUndefined();
    } finally {
      fs.rmSync(path.join(home.base, 'package.json'));
    }
    expect(installUnit('/nix/store/abc123-x')).toBeUndefined();
  });
});
