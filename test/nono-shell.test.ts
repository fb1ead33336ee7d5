// nono-shell as an agent uses it: a real client process talking to a real supervisor (in this
// test process) over the session socket, with its command in a real Landlock sandbox.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import * as pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, proxyBash, proxySh, root } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';
import { commandTree } from '../src/supervisor/process-tree.js';

let home: SandboxHome;
let s: TestSession;

beforeAll(() => {
  home = makeSandboxHome();
  s = startTestSession({ workdir: home.project, home: home.home });
});

afterAll(() => {
  s?.close();
  home?.cleanup();
});

function shell(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; shellPath?: string } = {}) {
  return execa(opts.shellPath ?? proxyBash, args, {
    cwd: home.project,
    env: { ...s.env, ...opts.env },
    extendEnv: false,
    reject: false,
    input: opts.input,
    stripFinalNewline: false,
    encoding: 'buffer',
  });
}

const text = (b: unknown) => Buffer.from(b as Uint8Array).toString('utf8');

async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

describe('exit status', () => {
  it.each([0, 1, 42])('exits %i when the command does', async (code) => {
    const r = await shell(['-c', `exit ${code}`]);
    expect(r.exitCode).toBe(code);
  });

  it('dies of SIGTERM when the command does, like bash', async () => {
    const r = await shell(['-c', 'kill -TERM $$']);
    expect(r.signal).toBe('SIGTERM');
    expect(r.exitCode).toBeUndefined();
  });

  it('passes a killed child status through as bash reports it (128+n)', async () => {
    const r = await shell(['-c', 'sh -c "kill -KILL \\$\\$"; echo "status=$?"']);
    expect(text(r.stdout)).toBe('status=137\n');
    expect(r.exitCode).toBe(0);
  });
});

describe('stdio', () => {
  it('pipes stdin through', async () => {
    const r = await shell(['-c', 'tr a-z A-Z'], { input: 'hello from stdin\n' });
    expect(text(r.stdout)).toBe('HELLO FROM STDIN\n');
  });

  it('keeps stdout and stderr apart', async () => {
    const r = await shell(['-c', 'echo to-out; echo to-err >&2; echo more-out']);
    expect(text(r.stdout)).toBe('to-out\nmore-out\n');
    expect(text(r.stderr)).toBe('to-err\n');
  });

  it('passes 10 MB of binary output through intact', async () => {
    const blob = path.join(home.project, 'blob.bin');
    const data = crypto.randomBytes(10 * 1024 * 1024);
    fs.writeFileSync(blob, data);
    const r = await shell(['-c', 'cat blob.bin']);
    const out = Buffer.from(r.stdout as Uint8Array);
    expect(out.length).toBe(data.length);
    expect(crypto.createHash('sha256').update(out).digest('hex')).toBe(crypto.createHash('sha256').update(data).digest('hex'));
  });

  it('gives the command the real terminal when the agent uses a pty (isatty(1))', async () => {
    const out = await new Promise<string>((resolve) => {
      let buf = '';
      const p = pty.spawn(proxyBash, ['-c', 'if [ -t 1 ]; then echo "stdout-is-a-tty"; else echo "stdout-is-not-a-tty"; fi'], {
        cwd: home.project,
        env: s.env,
        cols: 80,
        rows: 24,
      });
      p.onData((d) => (buf += d));
      p.onExit(() => resolve(buf));
    });
    expect(out).toContain('stdout-is-a-tty');
  });

  it('runs an interactive shell when started with no arguments on a terminal', async () => {
    const out = await new Promise<string>((resolve) => {
      let buf = '';
      const p = pty.spawn(proxyBash, ['--norc'], { cwd: home.project, env: { ...s.env, PS1: 'nono$ ' }, cols: 80, rows: 24 });
      p.onData((d) => {
        buf += d;
        if (buf.includes('nono$ ') && !buf.includes('sent')) {
          buf += 'sent';
          p.write('echo "answer=$((6*7))"; exit 7\r');
        }
      });
      p.onExit(({ exitCode }) => resolve(`${buf}\nEXIT=${exitCode}`));
    });
    expect(out).toContain('answer=42');
    expect(out).toContain('EXIT=7');
  });
});

describe('bash semantics', () => {
  it('respects the working directory and lets `pwd -P >| file` work (Claude Code reads it back)', async () => {
    const sub = path.join(home.project, 'sub');
    fs.mkdirSync(sub, { recursive: true });
    const cwdFile = path.join(s.session.privateTmp, 'claude-ab12-cwd');
    const r = await execa(proxyBash, ['-c', '-l', `pwd; cd .. && pwd -P >| ${cwdFile}`], {
      cwd: sub,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(sub);
    expect(fs.readFileSync(cwdFile, 'utf8').trim()).toBe(home.project);
  });

  it('answers --version like bash', async () => {
    const r = await shell(['--version']);
    expect(r.exitCode).toBe(0);
    expect(text(r.stdout)).toMatch(/^GNU bash, version \d/);
  });

  it.each([
    [['-c', '-l', 'echo $0-$1', 'zero', 'one']],
    [['-l', '-c', 'echo $0-$1', 'zero', 'one']],
    [['-lc', 'echo $0-$1', 'zero', 'one']],
    [['--login', '--noprofile', '--norc', '-c', 'echo $0-$1', 'zero', 'one']],
  ])('accepts %j', async (args) => {
    const r = await shell(args);
    expect(text(r.stdout)).toBe('zero-one\n');
  });

  it('honours -e', async () => {
    const r = await shell(['-e', '-c', 'false; echo not-reached']);
    expect(r.exitCode).toBe(1);
    expect(text(r.stdout)).toBe('');
  });

  it('runs as a login shell when argv[0] is -bash', async () => {
    const r = await execa(client, ['-c', 'shopt -q login_shell && echo login'], {
      argv0: '-bash',
      cwd: home.project,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    expect(r.stdout).toBe('login');
  });

  it('runs sh as sh (POSIX mode), not bash', async () => {
    const r = await shell(['-c', 'echo "${BASH_VERSION:-no-bash}"'], { shellPath: proxySh });
    expect(text(r.stdout)).toBe('no-bash\n');
  });

  it('gives the command the real SHELL and a PATH without proxy-bin, and scrubs injection variables', async () => {
    const r = await shell(['-c', 'echo "SHELL=$SHELL"; echo "PATH=$PATH"; env'], {
      env: { LD_PRELOAD: '/nonexistent.so', BASH_ENV: '/tmp/evil', NODE_OPTIONS: '--require=/tmp/evil.js', DYLD_INSERT_LIBRARIES: 'x' },
    });
    const out = text(r.stdout);
    expect(out).not.toContain(path.join(root, 'proxy-bin'));
    expect(out).toMatch(/^SHELL=\/\S*bash$/m);
    for (const name of ['LD_PRELOAD', 'BASH_ENV', 'NODE_OPTIONS', 'DYLD_INSERT_LIBRARIES', 'NONO_SESSION_SECRET']) {
      expect(out).not.toMatch(new RegExp(`^${name}=`, 'm'));
    }
    expect(out).not.toContain(s.session.secret);
  });

  it('keeps signals the caller ignored ignored in the command', async () => {
    const r = await execa('sh', ['-c', `trap '' INT; exec ${proxyBash} -c 'grep SigIgn /proc/self/status'`], {
      cwd: home.project,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    const mask = BigInt(`0x${r.stdout.split(/\s+/)[1]}`);
    expect(mask & 2n).toBe(2n); // SIGINT is signal 2 -> bit 1
  });
});

describe('the sandbox', () => {
  it('runs each command in a new Landlock domain that denies credentials and writes outside the grants', async () => {
    const r = await shell(['-c', `cat ${home.sshKey}; echo x > ${home.home}/escape; echo ok > here.txt`]);
    expect(text(r.stderr)).toContain(`${home.sshKey}: Permission denied`);
    expect(text(r.stderr)).toContain(`${home.home}/escape: Permission denied`);
    expect(fs.existsSync(path.join(home.home, 'escape'))).toBe(false);
    expect(fs.readFileSync(path.join(home.project, 'here.txt'), 'utf8')).toBe('ok\n');
  });

  it('drops every capability, even for root', async () => {
    const r = await shell(['-c', 'grep -E "^Cap(Eff|Prm|Bnd|Amb)" /proc/self/status']);
    const lines = text(r.stdout).trim().split('\n');
    expect(lines).toHaveLength(4);
    // An ordinary user holds none to begin with and cannot empty the bounding set (that needs
    // CAP_SETPCAP); no_new_privs keeps file capabilities and setuid from raising any.
    for (const line of lines) if (process.getuid?.() === 0 || !line.startsWith('CapBnd')) expect(line).toMatch(/:\s+0{16}$/);
  });

  it('runs a nono-shell started inside a sandboxed command directly there, never outside', async () => {
    const before = s.records.length;
    const r = await shell(['-c', `${client} -c 'cat ${home.sshKey}; echo inner-ran'`]);
    expect(text(r.stdout)).toBe('inner-ran\n');
    expect(text(r.stderr)).toContain('Permission denied');
    expect(s.logLines.some((l) => /inside a sandboxed command: running \S+ there directly/.test(l))).toBe(true);
    // Only the outer command was started by the supervisor.
    await waitFor(() => s.records.length > before);
    expect(s.records.length - before).toBe(1);
  });

  it('refuses a client without the session secret (exit 126, nothing runs)', async () => {
    const marker = path.join(home.project, 'no-secret-marker');
    const env = { ...s.env, NONO_SESSION_SECRET: 'wrong' };
    const r = await shell(['-c', `touch ${marker}`], { env });
    expect(r.exitCode).toBe(126);
    expect(text(r.stderr)).toMatch(/^nono-shell: not authorised/);
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('failure handling', () => {
  it('forwards SIGINT from the agent to the command', async () => {
    const p = execa(proxyBash, ['-c', 'trap "echo got-INT; exit 5" INT; echo ready; while :; do sleep 0.05; done'], {
      cwd: home.project,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
    p.kill('SIGINT');
    const r = await p;
    expect(r.stdout).toContain('got-INT');
    expect(r.exitCode).toBe(5);
  });

  it('kills the whole command tree when nono-shell is SIGKILLed (an agent timeout)', async () => {
    const pidFile = path.join(home.project, 'tree.pids');
    fs.rmSync(pidFile, { force: true });
    // A command with a child, a grandchild, and one that escaped into its own session.
    const p = execa(
      proxyBash,
      ['-c', `sleep 300 & echo $! >> ${pidFile}; (sleep 301 & echo $! >> ${pidFile}; wait) & setsid sleep 302 & echo $! >> ${pidFile}; echo $$ >> ${pidFile}; wait`],
      { cwd: home.project, env: s.env, extendEnv: false, reject: false },
    );
    expect(await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim().split('\n').length >= 4)).toBe(true);
    const pids = fs.readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    const shellPid = pids.at(-1)!;
    const tree = commandTree(shellPid);
    expect(pids.every((pid) => alive(pid))).toBe(true);
    p.kill('SIGKILL');
    await p;
    const gone = await waitFor(() => tree.concat(pids).every((pid) => !alive(pid)), 1000);
    expect(gone, `still alive: ${tree.concat(pids).filter(alive).join(' ')}`).toBe(true);
  });

  it('refuses with exit 126 and one clear line when the supervisor is gone', async () => {
    const marker = path.join(home.project, 'gone-marker');
    const r = await shell(['-c', `touch ${marker}`], { env: { NONO_SOCKET: path.join(home.base, 'no-such-socket') } });
    expect(r.exitCode).toBe(126);
    const err = text(r.stderr);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^nono-shell: cannot reach the nono supervisor at .*no-such-socket \(No such file or directory\).*not run/);
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('outside any session (typed by hand)', () => {
  it('starts a one-shot session with the default policy, so the command is still sandboxed', async () => {
    const r = await execa(client, ['-c', `cat ${home.sshKey}; echo one-shot > one-shot.txt; exit 3`], {
      cwd: home.project,
      env: { HOME: home.home, PATH: process.env.PATH! },
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain(`${home.sshKey}: Permission denied`);
    expect(r.stderr).not.toContain('planted-by-nono-tests');
    expect(r.stdout).not.toContain('planted-by-nono-tests');
    expect(fs.readFileSync(path.join(home.project, 'one-shot.txt'), 'utf8')).toBe('one-shot\n');
  });
});

describe('many commands at once', () => {
  it('runs 16 commands concurrently, each with its own stdout', async () => {
    const n = 16;
    const dir = path.join(home.project, 'rendezvous');
    fs.mkdirSync(dir, { recursive: true });
    // Each command announces itself, then waits until all 16 are running: this can only finish
    // if the supervisor runs them at the same time.
    const runs = Array.from({ length: n }, (_, i) =>
      shell([
        '-c',
        `echo start-${i}; touch ${dir}/${i}; for t in $(seq 200); do [ $(ls ${dir} | wc -l) -ge ${n} ] && break; sleep 0.05; done; echo end-${i}; exit ${i}`,
      ]),
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      expect(text(r.stdout)).toBe(`start-${i}\nend-${i}\n`);
      expect(r.exitCode).toBe(i);
    });
    expect(fs.readdirSync(dir)).toHaveLength(n);
  });
});

describe('signal forwarding', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const)('forwards %s to the command', async (sig) => {
    const name = sig.slice(3);
    const p = execa(proxyBash, ['-c', `trap "echo got-${name}; exit 9" ${name}; echo ready; while :; do sleep 0.05; done`], {
      cwd: home.project,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
    p.kill(sig);
    const r = await p;
    expect(r.stdout).toBe(`ready\ngot-${name}`);
    expect(r.exitCode).toBe(9);
  });
});

describe("Claude Code's CLAUDE_CODE_SHELL_PREFIX route", () => {
  const prefix = path.join(root, 'proxy-bin', 'nono-prefix');
  const claudeStyle = (cmd: string) => `'${prefix}' '${cmd}'`;

  it('sandboxes the command when the outer sh runs unsandboxed (a stripped preload, as on macOS)', async () => {
    const before = s.records.length;
    const r = await execa('/bin/sh', ['-c', claudeStyle(`echo "shell=$0"; cat ${home.sshKey}; echo ok > prefixed.txt`)], {
      cwd: home.project,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    expect(r.stdout).toBe('shell=bash');
    expect(r.stderr).toContain(`${home.sshKey}: Permission denied`);
    expect(fs.readFileSync(path.join(home.project, 'prefixed.txt'), 'utf8')).toBe('ok\n');
    await waitFor(() => s.records.length > before);
    expect(s.records.at(-1)).toMatchObject({ route: 'shell-prefix', argv: ['bash', '-c', expect.stringContaining('prefixed.txt')] });
  });

  it('runs the command directly when the outer sh was itself routed into a sandbox', async () => {
    const r = await shell(['-c', claudeStyle('echo "inner=$0"; cat /proc/self/status | grep -c "^CapEff:.*0000000000000000$"')], { shellPath: proxySh });
    expect(text(r.stdout)).toBe('inner=bash\n1\n');
    expect(s.logLines.some((l) => /inside a sandboxed command: running \S+bash there directly/.test(l))).toBe(true);
  });
});

describe('bytes that are not UTF-8', () => {
  it('reach the command exactly, in argv and in the environment', async () => {
    const py = `import os, sys
env = dict(os.environb); env[b'NONO_TEST_RAW'] = b'\\xfe-raw'
os.execve(sys.argv[1].encode(), [b'bash', b'-c', b'printf %s "$1" | od -An -tx1; printf %s "$NONO_TEST_RAW" | od -An -tx1', b'x', b'caf\\xe9\\xff'], env)`;
    const r = await execa('/usr/bin/python3', ['-c', py, proxyBash], { cwd: home.project, env: s.env, extendEnv: false, reject: false });
    expect(r.stdout.split('\n').map((l) => l.trim())).toEqual(['63 61 66 e9 ff', 'fe 2d 72 61 77']);
  });
});
