// Bad input at the command line: nono itself (flags, `--`, the program, profiles) and nono-shell
// (a NONO_SOCKET that is not a supervisor). Each must print a clear message that names the
// problem (the flag, the file, the field), exit non-zero, and run nothing: the program given is
// always `touch MARKER`, and the marker must not exist afterwards.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, proxyBash } from '../helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from '../helpers/sandbox-home.js';

let home: SandboxHome;
let marker: string;
let profiles: string;

beforeAll(() => {
  home = makeSandboxHome();
  marker = path.join(home.project, 'marker');
  profiles = path.join(home.base, 'profiles');
  fs.mkdirSync(profiles);
});
afterAll(() => home?.cleanup());

function nono(args: string[]) {
  fs.rmSync(marker, { force: true });
  return execa('node', [cli, ...args], {
    cwd: home.project,
    env: { HOME: home.home, PATH: process.env.PATH!, LANG: 'C.UTF-8' },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
}

const ranNothing = () => expect(fs.existsSync(marker), 'the program ran').toBe(false);

describe('nono run: flags and arguments', () => {
  it.each([
    ['an unknown flag', ['run', '--bogus', '--', 'touch', '@M'], /unknown option '--bogus'/],
    ['an unknown flag after a valid one', ['run', '--verbose', '--frobnicate=1', '--', 'touch', '@M'], /unknown option '--frobnicate=1'/],
    ['a flag missing its value', ['run', '--profile'], /option '-p, --profile <name\|file>' argument missing/],
    ['no -- before the program', ['run', 'touch', '@M'], /put -- before the program/],
    ['-- but no program', ['run', '--'], /missing required argument 'program'/],
    ['contradicting flags', ['run', '--allow-net', '--block-net', '--', 'touch', '@M'], /--allow-net and --block-net contradict each other/],
    ['an unknown subcommand', ['frobnicate', 'touch', '@M'], /unknown command 'frobnicate'/],
  ])('%s: a message naming it, non-zero, nothing runs', async (_what, args, message) => {
    const r = await nono(args.map((a) => (a === '@M' ? marker : a)));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    ranNothing();
  });
});

describe('nono run: the program', () => {
  it('does not exist: 127 and one line, like a shell', async () => {
    const r = await nono(['run', '--', 'no-such-program-xyz', marker]);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toBe('nono: no-such-program-xyz: command not found');
  });

  it.each([
    ['is a directory', () => home.project, (p: string) => `nono: ${p} cannot start: the program ${p} is a directory`],
    ['is not executable', () => {
      const f = path.join(home.project, 'not-executable');
      fs.writeFileSync(f, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o644 });
      return f;
    }, (p: string) => `nono: ${p} cannot start: the program ${p} is not executable (mode 0644); make it executable (chmod +x)`],
  ])('%s: 126 and one line naming it, like a shell', async (_what, make, line) => {
    const program = make();
    const r = await nono(['run', '--', program]);
    expect(r.exitCode).toBe(126);
    expect(r.stderr).toBe(line(program));
    ranNothing();
  });
});

describe('nono run --profile FILE: a profile that does not load', () => {
  const write = (name: string, text: string) => {
    const f = path.join(profiles, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it.each([
    ['broken JSON', 'broken.json', '{"extends": "default",', /not valid JSON/, []],
    ['an unknown top-level field', 'typo.json', '{"filesytem": {"allow": ["/x"]}}', /Unrecognized key: "filesytem"/, []],
    ['an unknown nested field', 'nested.json', '{"filesystem": {"alow": ["/x"]}}', /filesystem: Unrecognized key: "alow"/, []],
    ['a field of the wrong type', 'type.json', '{"filesystem": {"allow": "/x"}}', /filesystem\.allow: .*expected array/, []],
    ['a port out of range', 'port.json', '{"network": {"allow_tcp_connect": [70000]}}', /network\.allow_tcp_connect\.0: .*65535/, []],
    ['an unknown path variable', 'var.json', '{"filesystem": {"allow": ["$NOPE/x"]}}', /filesystem\.allow\[0\]: unknown path variable \$NOPE in "\$NOPE\/x"/, []],
  ] as const)('%s: names the file and the field, exits non-zero, runs nothing', async (_what, name, text, message) => {
    const f = write(name, text);
    const r = await nono(['run', '--profile', f, '--', 'touch', marker]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(f);
    expect(r.stderr).toMatch(message);
    ranNothing();
    // `nono profile validate` says the same.
    const v = await nono(['profile', 'validate', f]);
    expect(v.exitCode).not.toBe(0);
    expect(v.stderr).toMatch(message);
  });

  it('an extends cycle: names every file in the cycle and "extends", runs nothing', async () => {
    const a = path.join(profiles, 'cycle-a.json');
    const b = path.join(profiles, 'cycle-b.json');
    fs.writeFileSync(a, JSON.stringify({ extends: b }));
    fs.writeFileSync(b, JSON.stringify({ extends: a }));
    const r = await nono(['run', '--profile', a, '--', 'touch', marker]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/cycle in "extends"/);
    expect(r.stderr).toContain(a);
    expect(r.stderr).toContain(b);
    ranNothing();
  });

  it('a file that does not exist: names it, runs nothing', async () => {
    const f = path.join(profiles, 'missing.json');
    const r = await nono(['run', '--profile', f, '--', 'touch', marker]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(f);
    ranNothing();
  });

  it('extends a profile that does not exist: names the profile, the file that asks for it and "extends", runs nothing', async () => {
    const f = write('extends-missing.json', '{"extends": "no-such-profile-xyz"}');
    const r = await nono(['run', '--profile', f, '--', 'touch', marker]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('no-such-profile-xyz');
    expect(r.stderr).toContain(f);
    expect(r.stderr).toMatch(/extends/);
    ranNothing();
  });
});

describe('nono-shell with a NONO_SOCKET that is not a supervisor', () => {
  function shell(socket: string) {
    fs.rmSync(marker, { force: true });
    return execa(proxyBash, ['-c', `touch ${marker}`], {
      cwd: home.project,
      env: { PATH: '/usr/bin:/bin', HOME: home.home, NONO_SOCKET: socket, NONO_SESSION_SECRET: 'x'.repeat(64) },
      extendEnv: false,
      reject: false,
      timeout: 30_000,
    });
  }

  const oneLine126 = (r: { exitCode?: number; stderr: string }, message: RegExp) => {
    expect(r.exitCode).toBe(126);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^nono-shell: /);
    expect(r.stderr).toMatch(message);
    ranNothing();
  };

  it('a regular file: 126, one line naming it', async () => {
    const f = path.join(home.base, 'regular-file');
    fs.writeFileSync(f, '');
    oneLine126(await shell(f), new RegExp(`cannot reach the nono supervisor at ${f} .*not run`));
  });

  it('a directory: 126, one line naming it', async () => {
    oneLine126(await shell(home.base), new RegExp(`cannot reach the nono supervisor at ${home.base} .*not run`));
  });

  it('a path too long for a Unix socket: 126, one line saying so', async () => {
    const long = path.join(home.base, 'x'.repeat(200));
    oneLine126(await shell(long), /NONO_SOCKET is too long/);
  });

  it('a socket whose server hangs up at once: 126, one line', async () => {
    const sock = path.join(home.base, 'hangs-up.sock');
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      oneLine126(await shell(sock), /supervisor/);
    } finally {
      server.close();
    }
  });

  it('a socket whose server answers garbage: 126, one line', async () => {
    const sock = path.join(home.base, 'garbage.sock');
    const server = net.createServer((c) => {
      c.once('data', () => {
        const body = Buffer.from('this is not json');
        const hdr = Buffer.alloc(4);
        hdr.writeUInt32LE(body.length);
        c.end(Buffer.concat([hdr, body]));
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      oneLine126(await shell(sock), /unreadable reply from the supervisor/);
    } finally {
      server.close();
    }
  });
});
