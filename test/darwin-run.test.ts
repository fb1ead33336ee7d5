// `nono run` on the darwin backend, on Linux: the real run() through test/helpers/darwin-run.mjs,
// which selects the darwin backend explicitly (process.platform is never faked) and gives it the
// stand-ins for what only a Mac has (the Seatbelt helper double, the `log` double, a process table
// read from /proc). Everything else is the production path: the session, the supervisor, the
// agent started under nono-seatbelt-exec with its own SBPL, the routes, the events.
// NOT a test on macOS: nothing here proves the real kernel, dyld or the log behave like this.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pty from 'node-pty';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/native/paths.js';
import { decide, parseSbpl } from '../src/policy/sbpl-eval.js';
import { CPU_ARM64, CPU_X86_64, buildThin, fat, plist } from './fixtures/doctor/macho-builder.js';
import { installNpmAgent } from './helpers/install-agent.js';

const harness = path.join(packageRoot, 'test/helpers/darwin-run.mjs');
const agent = path.join(packageRoot, 'test/fixtures/darwin/agent.mjs');

interface Rig {
  home: string;
  work: string;
  record: string;
  events: string;
  env: Record<string, string>;
}

let rig: Rig | undefined;
afterEach(() => {
  if (rig) fs.rmSync(rig.home, { recursive: true, force: true });
  rig = undefined;
});

function makeRig(): Rig {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-darwin-run-'));
  const work = path.join(home, 'project');
  fs.mkdirSync(work);
  fs.mkdirSync(path.join(home, '.ssh'));
  fs.writeFileSync(path.join(home, '.ssh', 'id_rsa'), 'PRIVATE KEY\n');
  const record = path.join(home, 'record.jsonl');
  const spool = path.join(home, 'spool.ndjson');
  fs.writeFileSync(spool, '');
  const events = path.join(home, 'events.jsonl');
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, NONO_SIM_RECORD: record, NONO_SIM_SPOOL: spool, NONO_SIM_EVENTS: events };
  return { home, work, record, events, env };
}

function nonoRun(r: Rig, harnessArgs: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [harness, ...harnessArgs], { cwd: r.work, env: { ...r.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const records = (r: Rig) => fs.readFileSync(r.record, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const events = (r: Rig) => fs.readFileSync(r.events, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('nono run with the darwin backend (simulated Seatbelt)', () => {
  it('starts the agent under the helper with the agent SBPL; its routed command runs under the command SBPL and its status comes back', async () => {
    rig = makeRig();
    const out = await nonoRun(rig, ['--', process.execPath, agent, 'echo routed; exit 7']);
    expect(out.stdout).toBe('routed\n');
    if (process.env.NONO_TEST_DEBUG) console.log(out.stderr);
    expect(out.code).toBe(7);
    const [agentRun, commandRun] = records(rig);
    // The agent: started by the helper with its own profile, the agent target's SBPL.
    expect(agentRun.program).toEqual([process.execPath, agent, 'echo routed; exit 7']);
    expect(agentRun.profile).toMatch(/\/profiles\/agent\.sb$/);
    expect(agentRun.sbpl).toContain('for the agent');
    // The command: a fresh helper with the command SBPL (nono-shell reached through $SHELL).
    expect(commandRun.program).toEqual([expect.stringMatching(/^\/(usr\/)?bin\/bash$/), '-c', 'echo routed; exit 7']);
    expect(commandRun.profile).toMatch(/\/profiles\/command-[0-9a-f]{12}\.sb$/);
    expect(commandRun.sbpl).toContain('for commands');
    const agentRules = parseSbpl(agentRun.sbpl);
    const commandRules = parseSbpl(commandRun.sbpl);
    // Both keep the credentials out; only the commands are held to the proxy.
    const key = path.join(rig.home, '.ssh', 'id_rsa');
    expect(decide(agentRules, 'file-read-data', key).allowed).toBe(false);
    expect(decide(commandRules, 'file-read-data', key).allowed).toBe(false);
    const remote = { remote: { proto: 'tcp' as const, host: 'example.com', port: 443 } };
    expect(decide(commandRules, 'network-outbound', remote).allowed).toBe(false);
    expect(decide(agentRules, 'network-outbound', remote).allowed).toBe(true);
    // The events say which sandbox, the route, and the exit.
    const ev = events(rig);
    expect(ev[0]).toMatchObject({ event: 'session', sandbox: 'seatbelt' });
    expect(ev.find((e) => e.event === 'command')).toMatchObject({ route: 'shell-proxy', exit: { code: 7 } });
    expect(ev.at(-1)).toMatchObject({ event: 'exit', code: 7 });
  });

  it('an agent that is not there: 127 and one line, nothing started', async () => {
    rig = makeRig();
    const out = await nonoRun(rig, ['--', 'no-such-agent-xyz']);
    expect(out.code).toBe(127);
    expect(out.stderr).toContain('no-such-agent-xyz: command not found');
    expect(fs.existsSync(rig.record)).toBe(false);
  });

  it('DYLD route: the agent gets DYLD_INSERT_LIBRARIES (the dylib), not LD_PRELOAD; its handshake on the stream socket says it loaded', async () => {
    rig = makeRig();
    const dylib = path.join(rig.home, 'libnono-interpose.dylib');
    const out = await nonoRun(rig, ['--interposer', dylib, '--', process.execPath, agent, 'exit 0'], { AGENT_HANDSHAKE: '1' });
    expect(out.code).toBe(0);
    const [agentRun] = records(rig);
    expect(agentRun.env.DYLD_INSERT_LIBRARIES).toBe(dylib);
    expect(agentRun.env.LD_PRELOAD).toBeUndefined();
    expect(agentRun.env.CLAUDE_CODE_SHELL_PREFIX).toBeUndefined();
    expect(out.stderr).not.toContain('interposer');
    expect(events(rig).find((e) => e.event === 'preload')).toMatchObject({ agent: true, status: 'loaded', exe: process.execPath });
  });

  it("the agent's tree: a program it started directly that did not load the dylib is named once, by its executable from the process table", async () => {
    rig = makeRig();
    const sleep = fs.realpathSync('/bin/sleep');
    // The command outlives the check (1.5 s after the start), and so does the agent's child.
    const out = await nonoRun(rig, ['--', process.execPath, agent, 'sleep 2'], { AGENT_HANDSHAKE: '1', AGENT_CHILD: sleep });
    expect(out.code).toBe(0);
    const lines = out.stderr.split('\n').filter((l) => l.includes("did not load nono's interposer"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`warning: ${sleep} \\(pid \\d+, started by the agent\\) did not load nono's interposer`));
    const ev = events(rig).filter((e) => e.event === 'preload');
    expect(ev).toContainEqual(expect.objectContaining({ agent: true, status: 'loaded' }));
    expect(ev).toContainEqual(expect.objectContaining({ agent: false, exe: sleep, status: 'missing', cause: 'unknown' }));
  });

  it('an agent that never reports on the handshake is named once, after the start', async () => {
    rig = makeRig();
    const out = await nonoRun(rig, ['--', process.execPath, agent, 'exit 0']);
    expect(out.code).toBe(0);
    expect(out.stderr.match(/did not load nono's interposer/g)).toHaveLength(1);
    expect(events(rig).find((e) => e.event === 'preload')).toMatchObject({ agent: true, status: 'missing', cause: 'unknown' });
  });

  it('a hardened-runtime Mach-O agent: one line at the start with the cause, the shell prefix turned on, confirmed by the missing handshake', async () => {
    rig = makeRig();
    // Signed like a published Developer ID CLI: CS_RUNTIME on both slices, no DYLD entitlement.
    const hardened = { cdFlags: [0x10000], entitlementsXml: plist({}) };
    const claude = path.join(rig.home, 'bin', 'claude');
    fs.mkdirSync(path.dirname(claude));
    fs.writeFileSync(claude, fat([{ cputype: CPU_ARM64, data: buildThin({ cputype: CPU_ARM64, signature: hardened }) }, { cputype: CPU_X86_64, data: buildThin({ cputype: CPU_X86_64, signature: hardened }) }]), { mode: 0o755 });
    const out = await nonoRun(rig, ['--', claude]);
    const lines = out.stderr.split('\n').filter((l) => l.includes("will not load nono's interposer"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${claude}: signed with the hardened runtime (CS_RUNTIME)`);
    expect(lines[0]).toContain('CLAUDE_CODE_SHELL_PREFIX (turned on)');
    const [agentRun] = records(rig);
    expect(agentRun.program).toEqual([claude]);
    expect(agentRun.env.CLAUDE_CODE_SHELL_PREFIX).toMatch(/\/proxy-bin\/nono-prefix$/);
    expect(agentRun.env.DYLD_INSERT_LIBRARIES).toBeTruthy(); // set anyway: children that are not hardened honour it
    // (A Mach-O cannot run here: the double fails to exec it.) The check after the start agrees.
    expect(events(rig).find((e) => e.event === 'preload')).toMatchObject({ agent: true, status: 'missing', cause: 'stripped' });
    expect(out.stderr.match(/interposer/g)).toHaveLength(1);
  });

  it('a restricted Mach-O (__RESTRICT,__restrict) is named with its own cause', async () => {
    rig = makeRig();
    const agentFile = path.join(rig.home, 'restricted-agent');
    fs.writeFileSync(agentFile, buildThin({ cputype: CPU_ARM64, restrictSegment: true }), { mode: 0o755 });
    const out = await nonoRun(rig, ['--', agentFile]);
    expect(out.stderr).toContain(`${agentFile}: it has a __RESTRICT,__restrict section`);
  });

  it('the question through a real terminal: TerminalPrompter in a pty, a key press, and the re-run under a wider SBPL', async () => {
    rig = makeRig();
    const key = path.join(rig.home, '.ssh', 'id_rsa');
    let screen = '';
    const p = pty.spawn(process.execPath, [harness, '--', process.execPath, agent, `cat ${key}`], {
      cwd: rig.work,
      cols: 200,
      rows: 40,
      env: { ...rig.env, TERM: 'xterm-256color', AGENT_PROBE: `file-read-data ${key}` },
    });
    p.onData((d) => (screen += d));
    const exit = new Promise<number>((resolve) => p.onExit(({ exitCode }) => resolve(exitCode)));
    const waitFor = async (text: string, ms = 20_000) => {
      const end = Date.now() + ms;
      while (!screen.includes(text)) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${text}; screen so far:\n${screen}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await waitFor('nono: the sandbox denied part of a command');
    await waitFor('[d] deny (Esc)'); // the question comes in more than one write: all of it
    expect(screen).toContain(`denied   read ${key}`);
    p.write('o');
    expect(await exit).toBe(0);
    expect(screen).toContain('PRIVATE KEY');
    expect(screen).toContain('nono: re-running this command with read');
    const [agentRun, first, second] = records(rig);
    expect(agentRun.profile).toMatch(/agent\.sb$/);
    expect(decide(parseSbpl(first.sbpl), 'file-read-data', key).allowed).toBe(false);
    expect(decide(parseSbpl(second.sbpl), 'file-read-data', key).allowed).toBe(true);
  });

  describe('where the agent is installed (its SBPL, as Linux does it for Landlock)', () => {
    // Beside HOME in a directory of its own under /tmp: nothing there is readable to the agent's SBPL.
    let base: string | undefined;
    afterEach(() => {
      if (base) fs.rmSync(base, { recursive: true, force: true });
      base = undefined;
    });

    it('an npm prefix under /tmp: the agent SBPL grants exactly the package root, shown by --verbose; the agent starts and its command runs', async () => {
      rig = makeRig();
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-darwin-agent-'));
      const npm = installNpmAgent(base);
      const out = await nonoRun(rig, ['--', npm.name, 'echo from-npm-agent', 'spawn-bash'], { PATH: `${npm.binDir}:${rig.env.PATH}`, NONO_SIM_VERBOSE: '1' });
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout).toContain('from-npm-agent');
      expect(out.stderr).toContain(`nono: agent sandbox: read and run ${npm.unit} (npm package fake-agent, holding the program ${npm.script})`);
      const [agentRun] = records(rig);
      const rules = parseSbpl(agentRun.sbpl);
      expect(decide(rules, 'file-read-data', npm.script).allowed).toBe(true);
      expect(decide(rules, 'process-exec', npm.script).allowed).toBe(true);
      // Only the package: its prefix and the commands' SBPL stay as they were.
      expect(decide(rules, 'file-read-data', path.join(base, 'prefix', 'other-file')).allowed).toBe(false);
      const commandRun = records(rig)[1];
      expect(decide(parseSbpl(commandRun.sbpl), 'file-read-data', npm.script).allowed).toBe(false);
    });

    it('an agent inside a protected path (~/.ssh): one line naming the file and the rule, exit 126, nothing started', async () => {
      rig = makeRig();
      const inside = path.join(rig.home, '.ssh', 'agent.sh');
      fs.writeFileSync(inside, '#!/bin/sh\necho started\n', { mode: 0o755 });
      const out = await nonoRun(rig, ['--', inside]);
      expect(out.code).toBe(126);
      expect(out.stdout).not.toContain('started');
      const lines = out.stderr.split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^nono: ${inside} cannot start inside the agent sandbox: the program ${inside} lies inside the protected path ${path.dirname(inside)}`));
      expect(fs.existsSync(rig.record)).toBe(false);
    });

    it('an exec the prediction cannot see fails inside the helper: its exec report gives the one line (not executable), exit 126', async () => {
      rig = makeRig();
      const agentFile = path.join(rig.work, 'agent-not-executable.sh');
      fs.writeFileSync(agentFile, '#!/bin/sh\necho started\n', { mode: 0o644 });
      const out = await nonoRun(rig, ['--', agentFile]);
      expect(out.code).toBe(126);
      expect(out.stderr).toContain(`${agentFile} is not executable (mode 0644); make it executable (chmod +x)`);
      expect(out.stderr).not.toContain('nono-seatbelt-exec: cannot execute');
      const [agentRun] = records(rig);
      expect(agentRun.program[0]).toBe(agentFile);
    });
  });
});
