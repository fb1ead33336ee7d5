// Live approval (on by default; shim/addon/live_approval.h) as a person meets it: a command reads
// a file the policy denies, waits inside open() while nono asks in a real terminal (node-pty), and
// goes on with the file on "allow", on its first and only run. (Writes, creates, removes:
// test/live-approval-writes.test.ts.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { cli, fixtures } from './helpers/paths.js';
import { QUESTION, auditRecords as auditRecordsOf, startPtyAgent } from './helpers/pty-agent.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

const supported = loadAddon().liveApprovalSupported() === null;

let h: SandboxHome;
let config: string;
let other: string;

beforeEach(() => {
  h = makeSandboxHome();
  config = path.join(h.home, '.ssh', 'config');
  other = path.join(h.home, '.aws', 'config');
  fs.writeFileSync(config, 'Host example-secret\n');
  fs.writeFileSync(other, '[profile other-secret]\n');
});
afterEach(() => h.cleanup());

const env = () => ({
  HOME: h.home,
  PATH: process.env.PATH!,
  TERM: 'xterm-256color',
  XDG_CONFIG_HOME: path.join(h.home, '.config'),
  XDG_STATE_HOME: path.join(h.home, '.local', 'state'),
});

// --allow-net: TCP open, no connect guard (the cases that need proxy mode say so).
const startAgent = (...cmds: string[]) => startAgentWith(['--allow-net'], ...cmds);

const startAgentWith = (flags: string[], ...cmds: string[]) =>
  startPtyAgent({ cwd: h.project, env: env(), nonoArgs: ['--live-approval', ...flags], agent: ['node', path.join(fixtures, 'live-agent.mjs'), ...cmds] });

const auditRecords = () => auditRecordsOf(h.home);

const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** A script that tries to install a seccomp filter with a listener of its own, then prints its
 * descriptors, the call's result and errno. */
function listenerProbe(): string {
  const script = path.join(h.project, 'listener.py');
  fs.writeFileSync(
    script,
    [
      'import ctypes, os',
      'libc = ctypes.CDLL(None, use_errno=True)',
      // struct sock_fprog {len=1, filter=[RET ALLOW]}; SECCOMP_SET_MODE_FILTER=1, NEW_LISTENER=8
      'insn = (ctypes.c_uint64 * 1)(0x7fff000000000006)',
      'class P(ctypes.Structure): _fields_ = [("len", ctypes.c_ushort), ("f", ctypes.c_void_p)]',
      'prog = P(1, ctypes.addressof(insn))',
      'r = libc.syscall(317, 1, 8, ctypes.byref(prog))',
      'print("fds", sorted(os.listdir("/proc/self/fd")), "listener", r, ctypes.get_errno())',
    ].join('\n'),
  );
  return script;
}

describe.skipIf(!supported)('live approval (real pty)', () => {
  it('allow once: cat gets the file while it waits; the side effect before it happens once, no re-run', async () => {
    const s = startAgent(`echo 1 >> log; cat ${config}; echo "cat=$?"`);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   read ${config}`);
    s.press('o');
    await s.waitFor('AGENT-DONE');
    const [r] = s.results();
    expect(r!.code).toBe(0);
    expect(r!.stdout).toBe('Host example-secret\ncat=0\n');
    expect(r!.stderr).toBe('');
    expect(fs.readFileSync(path.join(h.project, 'log'), 'utf8')).toBe('1\n');
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'command', attempts: 1 }));
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'decision', choice: 'once' }));
    expect(s.questions()).toBe(1);
  });

  it('python3 open() and node fs.readFileSync() get the file on their first run', async () => {
    const s = startAgent(
      `${python} -c 'print(open("${config}").read(), end="")'`,
      `node -e 'process.stdout.write(require("fs").readFileSync("${other}", "utf8"))'`,
    );
    await s.waitForQuestion();
    s.press('o');
    await s.waitFor(() => s.questions() === 2);
    s.press('o');
    await s.waitFor('AGENT-DONE');
    const [py, node] = s.results();
    expect(py!.stdout).toBe('Host example-secret\n');
    expect(node!.stdout).toBe('[profile other-secret]\n');
    expect(py!.code).toBe(0);
    expect(node!.code).toBe(0);
  });

  it('allow for the session: the next command reads the file without a question (Landlock grant)', async () => {
    const s = startAgent(`cat ${config}`, `cat ${config}`);
    await s.waitForQuestion();
    s.press('s');
    await s.waitFor('AGENT-DONE');
    const [a, b] = s.results();
    expect(a!.stdout).toBe('Host example-secret\n');
    expect(b!.stdout).toBe('Host example-secret\n');
    expect(s.questions()).toBe(1);
  });

  it('deny: EACCES at the open, the command goes on (exit 0 after it), one line says how to allow it', async () => {
    const s = startAgent(`echo 1 >> log; cat ${config}; echo done`);
    await s.waitForQuestion();
    s.press('d');
    await s.waitFor('AGENT-DONE');
    const [r] = s.results();
    expect(r!.code).toBe(0);
    expect(r!.stdout).toBe('done\n');
    expect(r!.stderr).toContain(`cat: ${config}: Permission denied`);
    expect(r!.stderr).toContain(`nono: the sandbox denied read of ${config}; to allow it, the user can run \`nono run --read-file ${config}\``);
    expect(r!.stderr).not.toContain('re-running');
    expect(fs.readFileSync(path.join(h.project, 'log'), 'utf8')).toBe('1\n');
    expect(s.questions()).toBe(1);
  });

  it('withdraws the question when the command is killed while it waits', async () => {
    const s = startAgent(`kill:cat ${config}`, `echo after`);
    await s.waitForQuestion();
    await s.waitFor('AGENT-DONE', 20_000);
    const [r, after] = s.results();
    expect(r!.signal).toBe('SIGKILL');
    expect(after!.stdout).toBe('after\n');
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'decision', choice: 'deny', cancelled: true }));
    expect(await s.exit).toBe(0);
  });

  // Security (issue 11, item 7).
  it('a symlink swapped in between the question and the answer is not followed: nothing else is opened', async () => {
    const s = startAgent(`cat ${config}; echo "cat=$?"`);
    await s.waitForQuestion();
    fs.rmSync(config);
    fs.symlinkSync(other, config);
    s.press('o');
    await s.waitFor('AGENT-DONE');
    const [r] = s.results();
    expect(r!.stdout).not.toContain('other-secret');
    expect(r!.stdout).toContain('cat=1');
  });

  it('a file replaced under the same name between question and answer is not opened (inode check)', async () => {
    const s = startAgent(`cat ${config}; echo "cat=$?"`);
    await s.waitForQuestion();
    fs.renameSync(other, config); // the shown name now holds another file
    s.press('o');
    await s.waitFor('AGENT-DONE');
    expect(s.results()[0]!.stdout).toBe('cat=1\n');
  });

  it('a path rewritten in the command\'s memory after the notification changes nothing: the shown file is opened', async () => {
    const script = path.join(h.project, 'rewrite.py');
    fs.writeFileSync(
      script,
      [
        'import ctypes, os, threading, time',
        'libc = ctypes.CDLL(None, use_errno=True)',
        `buf = ctypes.create_string_buffer(${JSON.stringify(config)}.encode(), 4096)`,
        // Another thread rewrites the path while open() waits for the answer.
        `threading.Thread(target=lambda: (time.sleep(0.5), ctypes.memmove(buf, ${JSON.stringify(other)}.encode() + b"\\0", ${other.length + 1}))).start()`,
        'fd = libc.open(buf, os.O_RDONLY)',
        'print("fd", fd >= 0, os.read(fd, 100).decode() if fd >= 0 else ctypes.get_errno())',
      ].join('\n'),
    );
    const s = startAgent(`${python} ${script}`);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   read ${config}`);
    await new Promise((r) => setTimeout(r, 1000)); // the buffer now names the other file
    s.press('o');
    await s.waitFor('AGENT-DONE');
    const [r] = s.results();
    expect(r!.stdout).toBe('fd True Host example-secret\n\n');
    expect(s.questions()).toBe(1);
  });

  it('the question names the real file behind a symlink the command opened', async () => {
    fs.symlinkSync(config, path.join(h.project, 'innocent.txt'));
    const s = startAgent('cat innocent.txt');
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   read ${config}`);
    s.press('d');
    await s.waitFor('AGENT-DONE');
    expect(s.results()[0]!.stdout).toBe('');
  });
});

function runNono(args: string[], cmd: string) {
  return spawnSync('node', [cli, 'run', ...args, '--', 'bash', '-c', cmd], { cwd: h.project, env: env(), encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(!supported)('live approval is the default', () => {
  it('with no flag: a denied read in a command that exits 0 is decided at the open (the line is said), and --verbose says it is on', () => {
    const r = runNono(['--verbose', '--on-denial', 'deny'], `echo 1 >> log; cat ${config}; echo done`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('done\n');
    expect(r.stderr).toContain('nono: live approval: on (a denied file operation waits for the answer');
    expect(r.stderr).toContain(`nono: the sandbox denied read of ${config}; to allow it`);
    expect(fs.readFileSync(path.join(h.project, 'log'), 'utf8')).toBe('1\n');
  });

  it('--no-live-approval: the same command is not held (nothing is said, it exits 0 unasked), and --verbose says why', () => {
    const r = runNono(['--no-live-approval', '--verbose', '--on-denial', 'deny'], `cat ${config}; echo done`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('done\n');
    expect(r.stderr).toContain('nono: live approval: off (turned off (--no-live-approval))');
    expect(r.stderr).toContain(`cat: ${config}: Permission denied`);
    expect(r.stderr).not.toContain(`nono: the sandbox denied read of ${config}`);
  });
});

describe.skipIf(!supported)('live approval without a terminal', () => {
  it('answers EACCES at once, adds the agent-readable line, and never re-runs (even when the command exits 0)', () => {
    const r = runNono(['--live-approval', '--allow-net', '--on-denial', 'deny'], `echo 1 >> log; cat ${config}; echo done`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('done\n');
    expect(r.stderr).toContain(`cat: ${config}: Permission denied`);
    expect(r.stderr).toContain(`nono: the sandbox denied read of ${config}; to allow it`);
    expect(fs.readFileSync(path.join(h.project, 'log'), 'utf8')).toBe('1\n');
  });

  it('a thread racing the open between an allowed and a denied path never reads the denied file', () => {
    const allowed = path.join(h.project, 'allowed.txt');
    fs.writeFileSync(allowed, 'ALLOWED\n');
    const script = path.join(h.project, 'race.py');
    fs.writeFileSync(
      script,
      [
        'import ctypes, os, threading',
        'libc = ctypes.CDLL(None, use_errno=True)',
        `a = ${JSON.stringify(allowed)}.encode() + b"\\0"; b = ${JSON.stringify(h.sshKey)}.encode() + b"\\0"`,
        'buf = ctypes.create_string_buffer(4096); ctypes.memmove(buf, a, len(a))',
        'stop = False',
        'def flip():',
        '    while not stop:',
        '        ctypes.memmove(buf, b, len(b)); ctypes.memmove(buf, a, len(a))',
        'threading.Thread(target=flip, daemon=True).start()',
        'leaked = opened = 0',
        'for i in range(3000):',
        '    fd = libc.open(buf, os.O_RDONLY)',
        '    if fd >= 0:',
        '        opened += 1',
        '        if b"PRIVATE KEY" in os.read(fd, 200): leaked += 1',
        '        os.close(fd)',
        'stop = True',
        'print("opened", opened, "leaked", leaked)',
      ].join('\n'),
    );
    const r = runNono(['--live-approval', '--allow-net', '--on-denial', 'deny'], `${python} ${script}`);
    const m = /opened (\d+) leaked (\d+)/.exec(r.stdout);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBe(0);
  });

  it('the command holds no listener and cannot install one of its own (the kernel allows one per process)', () => {
    const script = listenerProbe();
    const r = runNono(['--live-approval', '--allow-net', '--on-denial', 'deny'], `exec ${python} ${script} </dev/null`);
    expect(r.stdout).toMatch(/listener -1 16\b/); // EBUSY
    // 0, 1, 2 and the directory listing itself: no listener among them.
    expect(r.stdout).toMatch(/^fds \['0', '1', '2', '3'\]/);
  });

  it('in proxy mode (the connect guard on) the command cannot install a listener of its own either: the shared filter refuses it', () => {
    const script = listenerProbe();
    const r = runNono(['--live-approval', '--on-denial', 'deny'], `exec ${python} ${script} </dev/null`);
    expect(r.stderr).not.toContain('--live-approval is not active');
    expect(r.stdout).toMatch(/listener -1 13\b/); // EACCES, from the guard's part of the filter
    expect(r.stdout).toMatch(/^fds \['0', '1', '2', '3'\]/);
  });

  it('in proxy mode: a denied read is answered EACCES at once (no terminal), the line is said, no re-run', () => {
    const r = runNono(['--live-approval', '--on-denial', 'deny'], `echo 1 >> log; cat ${config}; echo done`);
    expect(r.stderr).not.toContain('--live-approval is not active');
    expect(r.stdout).toBe('done\n');
    expect(r.stderr).toContain(`cat: ${config}: Permission denied`);
    expect(r.stderr).toContain(`nono: the sandbox denied read of ${config}; to allow it`);
    expect(fs.readFileSync(path.join(h.project, 'log'), 'utf8')).toBe('1\n');
  });
});

// Proxy mode, the default network: live approval and the connect guard share the command's one
// seccomp listener (shim/addon/command_listener.h), so the same command has both.
describe.skipIf(!supported || !loadAddon().connectGuardSupported())('live approval in proxy mode (real pty, connect guard on)', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((_req, res) => res.end('through-the-proxy\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a held read is answered at the terminal while the same command connects through the proxy; a direct connect is still refused', async () => {
    const bg = path.join(h.project, 'bg.txt');
    const direct = `${python} -c 'import socket; socket.create_connection(("127.0.0.1", ${port}), timeout=3)' 2>&1 | tail -1`;
    const s = startAgentWith(
      ['--allow-domain', `localhost:${port}`],
      // The background curl connects while cat's open is held: the one listener thread must serve
      // the connect with a question pending.
      `(curl -sS http://localhost:${port}/ > bg.txt; echo "bg=$?" >> bg.txt) & cat ${config}; echo "cat=$?"; wait; ${direct}`,
    );
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   read ${config}`);
    expect(s.screen()).not.toContain('--live-approval is not active');
    await s.waitFor(() => fs.existsSync(bg) && fs.readFileSync(bg, 'utf8').includes('bg='), 20_000);
    expect(fs.readFileSync(bg, 'utf8')).toBe('through-the-proxy\nbg=0\n');
    s.press('o');
    await s.waitFor('AGENT-DONE');
    const [r] = s.results();
    expect(r!.stdout).toBe(`Host example-secret\ncat=0\nPermissionError: [Errno 13] Permission denied\n`);
    expect(r!.code).toBe(0);
    expect(s.questions()).toBe(1);
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'command', attempts: 1 }));
  });

  it("deny at the terminal: EACCES at the open, and the command's connects through the proxy go on working", async () => {
    const s = startAgentWith(['--allow-domain', `localhost:${port}`], `cat ${config}; echo "cat=$?"; curl -sS http://localhost:${port}/`);
    await s.waitForQuestion();
    s.press('d');
    await s.waitFor('AGENT-DONE');
    const [r] = s.results();
    expect(r!.stdout).toBe('cat=1\nthrough-the-proxy\n');
    expect(r!.stderr).toContain(`cat: ${config}: Permission denied`);
  });
});
