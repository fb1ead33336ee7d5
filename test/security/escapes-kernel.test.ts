// Escape attempts through the kernel's own interfaces, which Landlock does not mediate and the
// seccomp filter must: TCP through io_uring, secrets in the user keyring, new namespaces,
// ASLR off, terminal injection, userfaultfd, perf, bpf, modules, mounting, vsock. Each runs
// test/fixtures/kernel_escapes.c (one raw system call per step) as a sandboxed command, and the
// same program unsandboxed as the control that proves the attempt is real. Where the kernel
// would refuse a command without capabilities anyway, the errno tells the filter's answer apart
// (ENOTTY from the kernel vs EPERM from the filter for TIOCSTI on a non-terminal, for instance).
// Then what developers' commands legitimately do with the same calls keeps working.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { execHelperArgs } from '../../src/policy/landlock-compiler.js';
import { NET } from '../../src/policy/landlock-rights.js';
import { execHelper, fixtures } from '../helpers/paths.js';
import {
  KEY_MARK,
  PY,
  escapeTally,
  expectCompleted,
  expectRefused,
  parseOutcome,
  sandboxed,
  setupRig,
  sleep,
  unsandboxed,
  waitFor,
  type Rig,
} from './harness.js';

const rig = setupRig();
const attempt = escapeTally('kernel');
const isRoot = process.getuid?.() === 0;

/** The fixture, built into the project (readable and executable inside the sandbox). */
let fx = '';
beforeAll(async () => {
  fx = path.join(rig.home.project, '.attempts', 'kernel_escapes');
  await execa('gcc', ['-O2', '-Wall', '-o', fx, path.join(fixtures, 'kernel_escapes.c')]);
});

interface Listener {
  port: number;
  connections: number;
  data: string;
  close(): Promise<void>;
}

/** A TCP server outside the sandbox that counts connections and collects what they send. */
function tcpListener(): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const l = { port: 0, connections: 0, data: '' } as Listener;
    const server = net.createServer((c) => {
      l.connections++;
      c.on('data', (d) => (l.data += d.toString('latin1')));
      c.on('error', () => {});
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      l.port = (server.address() as net.AddressInfo).port;
      l.close = () => new Promise((r) => server.close(() => r()));
      resolve(l);
    });
  });
}

const readSysctl = (p: string) => {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return undefined;
  }
};

describe('TCP through io_uring (a socket and a Fast Open send made in the ring, not by system calls)', () => {
  async function uringCase(r: Rig) {
    const l = await tcpListener();
    try {
      const o = await sandboxed(r, `${fx} uring ${l.port}`);
      expectCompleted(o);
      expectRefused(o, 'uring-setup');
      await sleep(300);
      expect(l.connections, `the listener got ${l.connections} connection(s), data ${JSON.stringify(l.data)}`).toBe(0);
      // Control: unsandboxed, the ring connects and delivers.
      const c = await unsandboxed(r, `${fx} uring ${l.port}`);
      expect(c.rc['uring-socket'], c.stdout + c.stderr).toBe('0');
      await waitFor(() => l.data.includes('escaped-uring-fastopen'));
      expect(l.data).toContain('escaped-uring-fastopen');
    } finally {
      await l.close();
    }
  }

  attempt('default profile (TCP blocked)', async () => {
    expect(rig.s.commandPolicy.netFilter).toBe(1);
    await uringCase(rig);
  });

  attempt('with one TCP port allowed (9), to any other port', async () => {
    // The command's own rules with port 9 allowed, applied by the exec helper (one supervisor
    // socket per process: a second session cannot run in this file).
    const policy = { ...rig.s.commandPolicy, netFilter: 2 as const, tcpPorts: [{ port: 9, rights: NET.CONNECT_TCP }] };
    const l = await tcpListener();
    try {
      const r = await execa(execHelper, [...execHelperArgs(policy), '--', fx, 'uring', String(l.port)], { cwd: rig.home.project, reject: false, env: { PATH: '/usr/bin:/bin' } });
      const o = parseOutcome(r);
      expectRefused(o, 'uring-setup');
      await sleep(300);
      expect(l.connections).toBe(0);
    } finally {
      await l.close();
    }
  });

  attempt("in the agent's own sandbox too (network open there)", async () => {
    // The agent is started under nono-landlock-exec with exactly these arguments by `nono run`.
    expect(rig.s.agentPolicy.netFilter).toBe(0); // the filter's NONE mode
    const args = execHelperArgs(rig.s.agentPolicy);
    const r = await execa(execHelper, [...args, '--', fx, 'uring', '9'], { cwd: rig.home.project, reject: false, env: { PATH: '/usr/bin:/bin' } });
    const o = parseOutcome(r);
    expectRefused(o, 'uring-setup');
  });
});

attempt('read a secret from the user keyring (@u), list it, add to it, request from it', async () => {
  const desc = `nono-test-${process.pid}-${Date.now()}`;
  const payload = `${KEY_MARK}-keyring`;
  const id = (await execa(fx, ['plant-key', desc, payload])).stdout.trim();
  try {
    const o = await sandboxed(rig, `${fx} keyring ${desc}`);
    expectCompleted(o);
    expectRefused(o, 'key-search', 'keyring-list', 'add-key', 'request-key');
    expect(o.all).not.toContain(KEY_MARK);
    // Control: the same program, unsandboxed, finds and reads it.
    const c = await unsandboxed(rig, `${fx} keyring ${desc}`);
    expect(c.rc['key-read'], c.stdout + c.stderr).toBe('0');
    expect(c.stdout).toContain(`PAYLOAD ${payload}`);
  } finally {
    await execa(fx, ['drop-key', id], { reject: false });
  }
});

describe('the rest of the kernel surface', () => {
  let o: ReturnType<typeof parseOutcome>;
  let control: ReturnType<typeof parseOutcome>;
  beforeAll(async () => {
    o = await sandboxed(rig, `${fx} surface`);
    control = await unsandboxed(rig, `${fx} surface`);
    expectCompleted(o);
  });

  attempt('new namespaces: unshare and clone with CLONE_NEWUSER / NEWNET / NEWNS, clone3, setns', () => {
    expect(o.rc).toMatchObject({ 'unshare-newuser': 'EPERM', 'unshare-newnet': 'EPERM', 'unshare-newns': 'EPERM', 'clone-newuser': 'EPERM', setns: 'EPERM' });
    // ENOSYS, not EPERM: glibc then falls back to clone, whose flags the filter can read.
    expect(o.rc['clone3']).toBe('ENOSYS');
    if (readSysctl('/proc/sys/user/max_user_namespaces') !== '0') expect(control.rc['unshare-newuser']).toBe('0');
  });

  attempt('turn address-space randomisation off (personality ADDR_NO_RANDOMIZE)', () => {
    expect(o.rc['personality-no-aslr']).toBe('EPERM');
    expect(control.rc['personality-no-aslr']).toBe('0');
  });

  attempt('inject terminal input (TIOCSTI, TIOCLINUX, and TIOCSTI with the upper 32 bits set)', () => {
    // On /dev/null the kernel answers ENOTTY (the control): EPERM is the filter's, before the kernel.
    expect(o.rc).toMatchObject({ tiocsti: 'EPERM', tioclinux: 'EPERM', 'tiocsti-high-bits': 'EPERM' });
    expect(control.rc).toMatchObject({ tiocsti: 'ENOTTY', tioclinux: 'ENOTTY', 'tiocsti-high-bits': 'ENOTTY' });
  });

  attempt('userfaultfd, by the system call (user-mode only: no capability needed) and by /dev/userfaultfd', () => {
    expect(o.rc['userfaultfd']).toBe('EPERM');
    expect(control.rc['userfaultfd']).toBe('0');
    // Either Landlock refuses the device or the filter refuses the ioctl that makes one.
    expect(o.rc['userfaultfd-dev-open'] === '0' ? o.rc['userfaultfd-dev-ioctl'] : o.rc['userfaultfd-dev-open']).toMatch(/^E/);
    if (o.rc['userfaultfd-dev-open'] === '0') expect(o.rc['userfaultfd-dev-ioctl']).toBe('EPERM');
  });

  attempt('perf_event_open on itself, bpf', () => {
    expect(o.rc['perf-event-open']).toBe('EPERM');
    if (Number(readSysctl('/proc/sys/kernel/perf_event_paranoid') ?? 3) <= 2) expect(control.rc['perf-event-open']).toBe('0');
    expect(o.rc['bpf']).toBe('EPERM'); // defence in depth where unprivileged BPF is off (the default)
  });

  attempt('load a kernel module or a kexec image', () => {
    expect(o.rc).toMatchObject({ 'init-module': 'EPERM', 'finit-module': 'EPERM', 'kexec-load': 'EPERM' });
  });

  attempt('mount: the new mount API, mount(2), open_by_handle_at', () => {
    expect(o.rc).toMatchObject({ fsopen: 'ENOSYS', 'open-tree': 'ENOSYS', mount: 'EPERM', 'open-by-handle-at': 'EPERM' });
    if (isRoot) expect(control.rc['fsopen']).toBe('0');
  });

  attempt('open an AF_VSOCK socket (a channel to the hypervisor host)', () => {
    expect(o.rc['socket-vsock']).toBe('EAFNOSUPPORT');
    if (fs.existsSync('/dev/vsock')) expect(control.rc['socket-vsock']).toBe('0');
  });
});

describe('what commands keep doing with the same calls', () => {
  it('personality query, ptrace of its own child, ordinary ioctls, Unix/UDP/netlink sockets, fork', async () => {
    const o = await sandboxed(rig, `${fx} legit`);
    expectCompleted(o);
    const names = ['personality-query', 'personality-linux', 'ptrace-own-child', 'ioctl-fionread', 'socket-unix', 'socket-udp', 'socket-netlink', 'socketpair-unix', 'fork'];
    expect(o.rc).toEqual(Object.fromEntries(names.map((n) => [n, '0'])));
  });

  it('strace follows a command tree; gdb runs a program (and says it cannot turn ASLR off)', async (ctx) => {
    const strace = fs.existsSync('/usr/bin/strace');
    const gdb = fs.existsSync('/usr/bin/gdb');
    if (!strace && !gdb) ctx.skip();
    const o = await sandboxed(
      rig,
      `${strace ? "t strace strace -f -qq -e trace=execve -o strace.out sh -c 'true; /bin/true'; grep -c execve strace.out" : ''}
       ${gdb ? 't gdb gdb -batch -nx -ex run --args /bin/true' : ''}`,
    );
    expectCompleted(o);
    if (strace) {
      expect(o.rc['strace'], o.all).toBe('0');
      expect(o.stdout).toMatch(/^[2-9]$/m); // sh and /bin/true at least
    }
    if (gdb) {
      expect(o.rc['gdb'], o.all).toBe('0');
      expect(o.all).toMatch(/exited normally/);
      // gdb asks for ADDR_NO_RANDOMIZE for its inferior, is refused, says so and goes on.
      expect(o.all).toMatch(/disabling address space randomization: Operation not permitted/);
    }
  });

  it('node does file I/O with libuv asked to use io_uring (it falls back), python threads and subprocesses (clone3 -> clone), git', async () => {
    const js = `const fs=require('fs');fs.promises.writeFile('io.txt','x'.repeat(100000)).then(()=>fs.promises.readFile('io.txt','utf8')).then(s=>console.log('NODE-IO '+s.length))`;
    const traced = fs.existsSync('/usr/bin/strace') ? 'strace -f -qq -e trace=io_uring_setup -o uring.out' : '';
    const o = await sandboxed(
      rig,
      `t node env UV_USE_IO_URING=1 ${traced} node -e "${js}"
       ${traced ? 'grep -m1 io_uring_setup uring.out' : ''}
       t python ${PY} -c "import threading, subprocess; t = threading.Thread(target=print, args=('PY-THREAD',)); t.start(); t.join(); print('PY-SUB', subprocess.run(['true']).returncode)"
       t git sh -c 'git init -q repo && cd repo && git -c user.email=a@b -c user.name=n commit -q --allow-empty -m x && git log --oneline | wc -l'`,
    );
    expectCompleted(o);
    expect(o.rc, o.all).toMatchObject({ node: '0', python: '0', git: '0' });
    expect(o.stdout).toContain('NODE-IO 100000');
    // libuv did probe io_uring, got the filter's EPERM, and used its thread pool.
    if (traced) expect(o.stdout).toMatch(/io_uring_setup\(.*= -1 EPERM/);
    expect(o.stdout).toContain('PY-THREAD');
    expect(o.stdout).toContain('PY-SUB 0');
  });
});
