/**
 * How nono reads the argv an agent hands to "bash" (src/nono-shell/bash-args.ts). The reading
 * picks the real shell and names the command in logs and prompts, so it has to agree with bash:
 * the argv lists below are the ones agents really pass (Claude Code puts -l after -c, Codex uses
 * -lc, tools add -e or -o pipefail). Where the real bash can show what it made of the same argv,
 * the test runs it and compares.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flavourOf, parseShellArgs, type ShellInvocation } from '../src/nono-shell/bash-args.js';

type Expected = Pick<ShellInvocation, 'flavour' | 'login' | 'mode'> & { command?: string };

const cases: Array<{ argv: string[]; expected: Expected; options?: string[] }> = [
  { argv: ['bash', '-c', 'echo hi'], expected: { flavour: 'bash', login: false, mode: 'command', command: 'echo hi' } },
  // Claude Code: options after -c are still options; the first operand is the command.
  { argv: ['bash', '-c', '-l', 'cmd'], expected: { flavour: 'bash', login: true, mode: 'command', command: 'cmd' } },
  { argv: ['bash', '-l', '-c', 'cmd'], expected: { flavour: 'bash', login: true, mode: 'command', command: 'cmd' } },
  { argv: ['bash', '-lc', 'cmd'], expected: { flavour: 'bash', login: true, mode: 'command', command: 'cmd' } },
  {
    argv: ['bash', '-e', '-c', 'x'],
    expected: { flavour: 'bash', login: false, mode: 'command', command: 'x' },
    options: ['-e'],
  },
  { argv: ['-bash'], expected: { flavour: 'bash', login: true, mode: 'interactive' } },
  { argv: ['bash'], expected: { flavour: 'bash', login: false, mode: 'interactive' } },
  { argv: ['bash', '--version'], expected: { flavour: 'bash', login: false, mode: 'version' } },
  { argv: ['bash', '--help'], expected: { flavour: 'bash', login: false, mode: 'help' } },
  {
    argv: ['bash', '--login', '--norc', '--noprofile', '-c', 'x'],
    expected: { flavour: 'bash', login: true, mode: 'command', command: 'x' },
    options: ['--login', '--norc', '--noprofile'],
  },
  // "pipefail" is the value of -o: taking it for the command would run (and log) the wrong thing.
  { argv: ['bash', '-o', 'pipefail', '-c', 'x'], expected: { flavour: 'bash', login: false, mode: 'command', command: 'x' } },
  { argv: ['bash', 'script.sh', 'a'], expected: { flavour: 'bash', login: false, mode: 'script', command: 'script.sh' } },
  { argv: ['bash', '-s'], expected: { flavour: 'bash', login: false, mode: 'stdin' } },
  { argv: ['/x/proxy-bin/sh', '-c', 'x'], expected: { flavour: 'sh', login: false, mode: 'command', command: 'x' } },
  // The client itself may be argv[0] (SHELL pointing at it): it stands in for bash.
  { argv: ['nono-shell', '-c', 'x'], expected: { flavour: 'bash', login: false, mode: 'command', command: 'x' } },
  { argv: ['/opt/nono/native/nono-shell', '-lc', 'x'], expected: { flavour: 'bash', login: true, mode: 'command', command: 'x' } },
  { argv: ['zsh', '-c', 'x'], expected: { flavour: 'zsh', login: false, mode: 'command', command: 'x' } },
  { argv: ['-zsh'], expected: { flavour: 'zsh', login: true, mode: 'interactive' } },
  { argv: ['/usr/bin/dash', '-c', 'x'], expected: { flavour: 'dash', login: false, mode: 'command', command: 'x' } },
];

describe('parseShellArgs on the argv agents pass', () => {
  for (const { argv, expected, options } of cases) {
    it(JSON.stringify(argv), () => {
      const inv = parseShellArgs(argv);
      expect({ flavour: inv.flavour, login: inv.login, mode: inv.mode, command: inv.command }).toEqual({
        command: undefined,
        ...expected,
      });
      if (options) expect(inv.options).toEqual(options);
    });
  }

  it('a -c with nothing after it is still command mode, with an empty command', () => {
    const inv = parseShellArgs(['bash', '-c']);
    expect(inv.mode).toBe('command');
    expect(inv.command).toBe('');
  });

  it('the command string is passed through untouched, even when it looks like an option', () => {
    const inv = parseShellArgs(['bash', '-c', '--', '-weird command; echo "$1"', 'arg0', 'arg1']);
    expect(inv.mode).toBe('command');
    expect(inv.command).toBe('-weird command; echo "$1"');
  });

  it('a flavour hint (NONO_SHELL_AS) wins over argv[0]', () => {
    expect(parseShellArgs(['nono-shell', '-c', 'x'], 'dash').flavour).toBe('dash');
    expect(parseShellArgs(['bash', '-c', 'x'], 'sh').flavour).toBe('sh');
  });
});

describe('flavourOf', () => {
  it('knows the shells nono routes, by base name, with or without the login dash', () => {
    expect(flavourOf('bash')).toBe('bash');
    expect(flavourOf('-bash')).toBe('bash');
    expect(flavourOf('/usr/bin/zsh')).toBe('zsh');
    expect(flavourOf('/x/proxy-bin/sh')).toBe('sh');
    expect(flavourOf('dash')).toBe('dash');
    expect(flavourOf('/work/nono/native/nono-shell')).toBe('bash');
  });

  it('does not take a program whose name merely starts like a shell for that shell', () => {
    expect(flavourOf('bashbug')).toBeUndefined();
    expect(flavourOf('/usr/bin/shellcheck')).toBeUndefined();
    expect(flavourOf('zshdb')).toBeUndefined();
    expect(flavourOf('python3')).toBeUndefined();
  });
});

/*
 * The same argv, given to /bin/bash with the command replaced by a probe that reports whether
 * bash considers itself a login shell. If bash runs the probe, bash agrees that this argv slot is
 * the command; the login answer must match parseShellArgs. HOME is an empty temp dir so that a
 * login shell's profile files are the system ones only.
 */
describe('agrees with the real bash', () => {
  let home: string;
  const bash = '/bin/bash';
  const probe = 'shopt -q login_shell && echo "probe login=true" || echo "probe login=false"';

  beforeAll(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-bash-args-'));
  });
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  const run = (args: string[], input?: string) =>
    execa(bash, args, {
      reject: false,
      input: input ?? '',
      cwd: home,
      env: { HOME: home, PATH: '/usr/bin:/bin', LANG: 'C' },
      extendEnv: false,
    });

  const commandCases = cases.filter((c) => c.expected.mode === 'command' && c.expected.flavour === 'bash' && c.argv[0] === 'bash');

  for (const { argv, expected } of commandCases) {
    it(`bash ${JSON.stringify(argv.slice(1))} runs the slot nono calls the command`, async () => {
      const slot = argv.lastIndexOf(expected.command!);
      expect(slot).toBeGreaterThan(0);
      const probed = argv.slice(1);
      probed[slot - 1] = probe;
      const parsed = parseShellArgs(['bash', ...probed]);
      expect(parsed.command).toBe(probe);

      const r = await run(probed);
      expect(r.exitCode, r.stderr).toBe(0);
      const said = r.stdout.split('\n').filter((l) => l.startsWith('probe '));
      expect(said).toEqual([`probe login=${parsed.login}`]);
    });
  }

  it('a login argv[0] ("-bash") makes bash a login shell, as parseShellArgs says', async () => {
    const parsed = parseShellArgs(['-bash', '-c', probe]);
    const r = await execa(bash, ['-c', probe], {
      argv0: '-bash',
      reject: false,
      cwd: home,
      env: { HOME: home, PATH: '/usr/bin:/bin', LANG: 'C' },
      extendEnv: false,
    });
    expect(r.stdout.split('\n').filter((l) => l.startsWith('probe '))).toEqual([`probe login=${parsed.login}`]);
    expect(parsed.login).toBe(true);
  });

  it('bash with a script operand runs that file, with the rest as its arguments', async () => {
    const script = path.join(home, 'script.sh');
    fs.writeFileSync(script, 'echo "script ran: $0 $1"\n');
    const parsed = parseShellArgs(['bash', script, 'a']);
    expect(parsed).toMatchObject({ mode: 'script', command: script });
    const r = await run([script, 'a']);
    expect(r.stdout).toBe(`script ran: ${script} a`);
  });

  it('bash -s reads its commands from stdin', async () => {
    expect(parseShellArgs(['bash', '-s']).mode).toBe('stdin');
    const r = await run(['-s'], 'echo "from stdin"\n');
    expect(r.stdout).toBe('from stdin');
  });

  it('bash --version only prints its version', async () => {
    expect(parseShellArgs(['bash', '--version']).mode).toBe('version');
    const r = await run(['--version', '-c', 'echo should-not-run']);
    expect(r.stdout).toMatch(/^GNU bash, version /);
    expect(r.stdout).not.toContain('should-not-run');
    expect(parseShellArgs(['bash', '--version', '-c', 'echo should-not-run']).mode).toBe('version');
  });
});
