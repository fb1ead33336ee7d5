// Escape attempts against the connect guard of proxy mode (shim/addon/connect_guard.c): races on
// the address and on the descriptor, taking or replacing the supervisor's listener, connections
// that do not go through connect(), and a real second host in a network namespace. A case passes
// only if the attempt failed AND the listener it aimed at accepted nothing.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fixtures } from '../helpers/paths.js';
import {
  PY,
  addon,
  makeGuardRig,
  samePort,
  tcpListener,
  waitFor,
  writeScript,
  type GuardRig,
  type Listener,
} from '../helpers/guarded-spawn.js';
import { escapeTally } from './harness.js';

const attempt = escapeTally('connect guard');
const isRoot = process.getuid?.() === 0;

/** "COUNTS ok=1 EACCES=2" -> { ok: 1, EACCES: 2 } */
function parseCounts(out: string): Record<string, number> {
  const line = out.split('\n').find((l) => l.startsWith('COUNTS '));
  if (!line) throw new Error(`no COUNTS line in: ${out}`);
  return Object.fromEntries(line.slice(7).split(' ').map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])]));
}

describe.skipIf(!addon.connectGuardSupported())('connect guard escapes', () => {
  let rig: GuardRig;
  let proxy: Listener, proxyOn2: Listener, lb: Listener, other: Listener;
  let racer: string;

  beforeAll(async () => {
    rig = makeGuardRig();
    [proxy, proxyOn2] = await samePort(['127.0.0.1', '127.0.0.2']);
    lb = await tcpListener('127.0.0.1');
    other = await tcpListener('127.0.0.1');
    racer = path.join(rig.home.project, 'connect-race');
    execFileSync('cc', ['-O2', '-pthread', '-o', racer, path.join(fixtures, 'connect-race.c')]);
  });
  afterAll(async () => {
    for (const l of [proxy, proxyOn2, lb, other]) await l?.close();
    rig?.cleanup();
  });

  // Landlock allows the forbidden port too: only the guard stands in the way.
  const sandbox = () => rig.sandbox([proxy.port, lb.port, other.port], { proxyPort: proxy.port, loopbackPorts: [lb.port] });

  attempt('rewrite the address from another thread while connecting (no connect ever reaches the checked-then-changed port)', async () => {
    const before = { proxy: proxy.connections, other: other.connections };
    const N = 3000;
    const r = await rig.run(sandbox(), racer, ['connect-race', 'addr', String(proxy.port), String(other.port), String(N)]);
    const c = parseCounts(r.out);
    expect(other.connections - before.other).toBe(0);
    // Both states were really seen, so the race ran: some connects went to the proxy, some refused.
    expect(c.ok, r.out).toBeGreaterThan(0);
    expect(c.EACCES, r.out).toBeGreaterThan(0);
    expect(c.ok! + c.EACCES!, r.out).toBe(N);
    expect(await waitFor(() => proxy.connections - before.proxy === c.ok)).toBe(true);
  }, 120_000);

  attempt('swap a TCP socket in under a Unix socket\'s descriptor number (the path the guard lets continue)', async () => {
    const before = other.connections;
    const N = 3000;
    const r = await rig.run(sandbox(), racer, ['connect-race', 'fd', String(other.port), String(N)]);
    const c = parseCounts(r.out);
    expect(c.ok ?? 0, r.out).toBe(0);
    expect(other.connections - before).toBe(0);
  }, 120_000);

  attempt('find, take or use the supervisor\'s listener (own descriptors, /proc, pidfd_getfd on the supervisor)', async () => {
    const script = writeScript(
      rig,
      'listener.py',
      `
import ctypes, fcntl
libc = ctypes.CDLL(None, use_errno=True)
mine = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}")]
print("FDS", mine)
def no_listener_here():
    if any("seccomp" in t for t in mine): return
    raise OSError(errno.ENOENT, "no listener among my descriptors")
attempt("own-fds", no_listener_here)
SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100
def recv_any():
    buf = ctypes.create_string_buffer(80)
    for fd in range(0, 256):
        if libc.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf) == 0: return
    raise OSError(errno.ENOENT, "no descriptor answers NOTIF_RECV")
attempt("notif-recv", recv_any)
ppid = os.getppid()
def parent_fd_links():
    last = errno.ENOENT
    for fd in os.listdir(f"/proc/{ppid}/fd"):  # the numbers are visible, not what they are
        for use in (os.readlink, lambda p: os.close(os.open(p, os.O_RDONLY))):
            try:
                use(f"/proc/{ppid}/fd/{fd}")
                return
            except OSError as e:
                last = e.errno
    raise OSError(last, os.strerror(last))
attempt("proc-parent-fd-links", parent_fd_links)
def take_from_parent():
    pidfd = libc.syscall(434, ppid, 0)
    if pidfd < 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    last = 0
    for fd in range(0, 1024):
        got = libc.syscall(438, pidfd, fd, 0)
        if got >= 0: return
        last = ctypes.get_errno()
    raise OSError(last, os.strerror(last))
attempt("pidfd-getfd-parent", take_from_parent)
`,
    );
    const { done } = rig.start(sandbox(), PY, ['python3', script]);
    // While it runs, this process (the supervisor) really holds its listener.
    const held = await waitFor(() =>
      fs.readdirSync('/proc/self/fd').some((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).includes('seccomp');
        } catch {
          return false;
        }
      }),
    );
    const r = await done;
    expect(held).toBe(true);
    expect(r.out).toMatch(/^FDS /m);
    expect(r.rc, r.out).toEqual({
      'own-fds': 'ENOENT',
      'notif-recv': 'ENOENT',
      'proc-parent-fd-links': 'EACCES',
      'pidfd-getfd-parent': 'EPERM',
    });
  });

  attempt('install its own listener, or its own filters, to answer or skip the supervisor', async () => {
    const before = other.connections;
    const script = writeScript(
      rig,
      'nested.py',
      `
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
O = int(sys.argv[1])
def prog(insns):
    raw = b"".join(struct.pack("HBBI", *i) for i in insns)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = struct.pack("HxxxxxxQ", len(insns), ctypes.addressof(buf))
    return buf, ctypes.create_string_buffer(fprog, len(fprog))
def seccomp(flags, insns):
    def go():
        keep = prog(insns)
        if libc.syscall(317, 1, flags, keep[1]) < 0:
            e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    return go
RET, LD, JEQ = 0x06, 0x20, 0x15
ALLOW, NOTIF = 0x7fff0000, 0x7fc00000
libc.prctl(38, 1, 0, 0, 0)  # no_new_privs (already set by the sandbox)
def connect_other():
    s = socket.socket(); s.settimeout(3); s.connect(("127.0.0.1", O))
attempt("new-listener", seccomp(8, [(LD, 0, 0, 0), (RET, 0, 0, NOTIF)]))
attempt("allow-all-filter", seccomp(0, [(RET, 0, 0, ALLOW)]))
attempt("connect-under-allow-all", connect_other)
attempt("notif-filter-without-listener", seccomp(0, [(LD, 0, 0, 0), (JEQ, 0, 1, 42), (RET, 0, 0, NOTIF), (RET, 0, 0, ALLOW)]))
attempt("connect-under-own-notif", connect_other)
`,
    );
    const r = await rig.run(sandbox(), PY, ['python3', script, String(other.port)]);
    expect(r.rc, r.out).toEqual({
      'new-listener': 'EACCES',
      'allow-all-filter': '0',
      'connect-under-allow-all': 'EACCES',
      'notif-filter-without-listener': '0',
      // Its own filter wins for connect, and without a listener the kernel answers ENOSYS.
      'connect-under-own-notif': 'ENOSYS',
    });
    expect(other.connections - before).toBe(0);
  });

  attempt('connect without connect(): TCP Fast Open, io_uring', async () => {
    const before = other.connections;
    const script = writeScript(
      rig,
      'bypass.py',
      `
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
O = int(sys.argv[1])
MSG_FASTOPEN = 0x20000000
def fastopen_sendto():
    s = socket.socket(); s.sendto(b"x", MSG_FASTOPEN, ("127.0.0.1", O))
attempt("fastopen-sendto", fastopen_sendto)
def fastopen_sendmsg():
    s = socket.socket(); s.sendmsg([b"x"], [], MSG_FASTOPEN, ("127.0.0.1", O))
attempt("fastopen-sendmsg", fastopen_sendmsg)
attempt("fastopen-connect-opt", lambda: socket.socket().setsockopt(socket.IPPROTO_TCP, 30, 1))
def io_uring():
    params = ctypes.create_string_buffer(120)
    if libc.syscall(425, 8, params) < 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
attempt("io-uring-setup", io_uring)
`,
    );
    const r = await rig.run(sandbox(), PY, ['python3', script, String(other.port)]);
    expect(r.rc, r.out).toEqual({
      'fastopen-sendto': 'EACCES',
      'fastopen-sendmsg': 'EACCES',
      'fastopen-connect-opt': 'EACCES',
      'io-uring-setup': 'ENOSYS',
    });
    expect(other.connections - before).toBe(0);
  });

  attempt('reach the proxy\'s port on another address (127.0.0.2)', async () => {
    const before = proxyOn2.connections;
    const r = await rig.run(sandbox(), '/bin/bash', ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.2/${proxy.port}`]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/Permission denied/);
    expect(proxyOn2.connections - before).toBe(0);
  });

  describe('a second host: a network namespace behind a veth pair', () => {
    const ns = `nono-g13-${process.pid}`;
    const hostIf = `nng${process.pid % 100000}a`;
    const nsIf = `nng${process.pid % 100000}b`;
    const HOST_IP = '10.213.13.1';
    const PEER_IP = '10.213.13.2';
    let server: ChildProcess | undefined;
    let accepted = 0;
    let ready = false;

    beforeAll(async () => {
      if (!isRoot) return;
      const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
      // Only if that small private range is unused here.
      if (execFileSync('ip', ['-4', 'addr'], { encoding: 'utf8' }).includes('10.213.13.')) return;
      ip('netns', 'add', ns);
      ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
      ip('link', 'set', nsIf, 'netns', ns);
      ip('addr', 'add', `${HOST_IP}/30`, 'dev', hostIf);
      ip('link', 'set', hostIf, 'up');
      ip('-n', ns, 'addr', 'add', `${PEER_IP}/30`, 'dev', nsIf);
      ip('-n', ns, 'link', 'set', nsIf, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // A server on the other host, on the proxy's port number; it prints one line per accept.
      server = spawn('ip', ['netns', 'exec', ns, PY, '-c', `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("${PEER_IP}", ${proxy.port})); s.listen(16); print("READY", flush=True)
while True:
    c, _ = s.accept(); print("ACCEPT", flush=True); c.close()
`], { stdio: ['ignore', 'pipe', 'inherit'] });
      readline.createInterface({ input: server.stdout! }).on('line', (l) => {
        if (l === 'READY') ready = true;
        if (l === 'ACCEPT') accepted++;
      });
      await waitFor(() => ready, 5000);
    });
    afterAll(() => {
      server?.kill('SIGKILL');
      if (isRoot) {
        try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' }); } catch { /* not created */ }
        try { execFileSync('ip', ['link', 'del', hostIf], { stdio: 'pipe' }); } catch { /* gone with the namespace */ }
      }
    });

    attempt('connect to the proxy\'s port on a real second host (root: creates its own namespace)', async (ctx) => {
      if (!isRoot) ctx.skip(); // creating a network namespace and a veth pair needs CAP_NET_ADMIN
      expect(ready).toBe(true);
      // The host is really reachable from outside the sandbox on that port...
      await new Promise<void>((resolve, reject) => {
        const c = net.connect({ host: PEER_IP, port: proxy.port }, () => (c.destroy(), resolve()));
        c.on('error', reject);
      });
      expect(await waitFor(() => accepted === 1)).toBe(true);
      // ...and Landlock alone would let the command through (its port is the proxy's)...
      const open = rig.sandbox([proxy.port], undefined);
      const r0 = await rig.run(open, '/bin/bash', ['bash', '-c', `exec 3<>/dev/tcp/${PEER_IP}/${proxy.port}`]);
      expect(r0.code, r0.out).toBe(0);
      expect(await waitFor(() => accepted === 2)).toBe(true);
      // ...but not with the guard.
      const r = await rig.run(sandbox(), '/bin/bash', ['bash', '-c', `exec 3<>/dev/tcp/${PEER_IP}/${proxy.port}`]);
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/Permission denied/);
      await new Promise((res) => setTimeout(res, 200));
      expect(accepted).toBe(2);
    });
  });

  attempt('die in the middle of a connect the supervisor is performing (no hang, no crash, no stall of other commands)', async () => {
    // A loopback listener that never accepts, its queue already full: connects to it hang.
    const stuck = spawn(PY, ['-c', `
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
fill = []
for i in range(3):
    c = socket.socket(); c.setblocking(False); c.connect_ex(s.getsockname()); fill.append(c)
print(s.getsockname()[1], flush=True)
time.sleep(120)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const stuckPort = Number(await new Promise<string>((r) => readline.createInterface({ input: stuck.stdout! }).once('line', r)));
      const sb = rig.sandbox([proxy.port, stuckPort], { proxyPort: proxy.port, loopbackPorts: [stuckPort] });
      const hanging = rig.start(sb, '/bin/bash', ['bash', '-c', `echo started; exec 3<>/dev/tcp/127.0.0.1/${stuckPort}; echo connected`]);
      await new Promise((r) => setTimeout(r, 500));
      // Another command's connect is not held up by that one.
      const before = proxy.connections;
      const t0 = Date.now();
      const other = await rig.run(sb, '/bin/bash', ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${proxy.port}`]);
      expect(other.code, other.out).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(await waitFor(() => proxy.connections === before + 1)).toBe(true);
      // Kill the hanging one while its connect is in the supervisor's hands.
      expect(addon.connectGuardListeners()).toBeGreaterThan(0);
      process.kill(hanging.pid, 'SIGKILL');
      const r = await hanging.done;
      expect(r.signal).toBe(9);
      expect(r.out).toContain('started');
      expect(r.out).not.toContain('connected');
      expect(await waitFor(() => addon.connectGuardListeners() === 0, 3000)).toBe(true);
      // And the supervisor still guards the next command.
      const after = await rig.run(sb, '/bin/bash', ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${proxy.port}`]);
      expect(after.code, after.out).toBe(0);
    } finally {
      stuck.kill('SIGKILL');
    }
  }, 60_000);
});
