// The connect guard of proxy mode (shim/addon/connect_guard.c), through the supervisor's real
// spawn path: real Landlock, real seccomp notifications, real loopback listeners that count what
// they accepted. Landlock is given every port of these tests (as the proxy helper would grant the
// proxy's and the loopback ports); the guard must narrow that to 127.0.0.1:proxy and the listed
// loopback ports.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PY,
  addon,
  makeGuardRig,
  samePort,
  tcpListener,
  udpListener,
  waitFor,
  writeScript,
  type GuardRig,
  type Listener,
  type UdpListener,
} from './helpers/guarded-spawn.js';

const [major, minor] = os.release().split('.').map(Number) as [number, number];
const kernelCanGuard = (major > 6 || (major === 6 && minor >= 9)) && addon.landlockAbi() >= 4;

it('connectGuardSupported() says what this kernel offers (Linux >= 6.9 with Landlock TCP rules)', () => {
  expect(addon.connectGuardSupported()).toBe(kernelCanGuard);
});

describe.skipIf(!kernelCanGuard)('connect guard', () => {
  let rig: GuardRig;
  let proxy: Listener, proxyOn2: Listener, proxyOn6: Listener;
  let lb: Listener, lbOn2: Listener, lbOn6: Listener;
  let other: Listener, otherOn6: Listener;
  let closedPort: number;
  let udp: UdpListener;
  let unixServer: net.Server;
  let unixPath: string;
  let unixConnections = 0;

  beforeAll(async () => {
    rig = makeGuardRig();
    [proxy, proxyOn2, proxyOn6] = await samePort(['127.0.0.1', '127.0.0.2', '::1']);
    [lb, lbOn2, lbOn6] = await samePort(['127.0.0.1', '127.0.0.2', '::1']);
    [other, otherOn6] = await samePort(['127.0.0.1', '::1']);
    const gone = await tcpListener('127.0.0.1');
    closedPort = gone.port;
    await gone.close();
    udp = await udpListener();
    unixPath = path.join(rig.home.project, 'unix.sock');
    unixServer = net.createServer((c) => (unixConnections++, c.end()));
    await new Promise<void>((r) => unixServer.listen(unixPath, r));
  });
  afterAll(async () => {
    for (const l of [proxy, proxyOn2, proxyOn6, lb, lbOn2, lbOn6, other, otherOn6]) await l?.close();
    await udp?.close();
    unixServer?.close();
    rig?.cleanup();
  });

  const guard = () => ({ proxyPort: proxy.port, loopbackPorts: [lb.port, closedPort] });
  const landlockPorts = () => [proxy.port, lb.port, other.port, closedPort];
  const counts = () => [proxy, proxyOn2, proxyOn6, lb, lbOn2, lbOn6, other, otherOn6].map((l) => l.connections);

  const MATRIX = `
P, L, O, CLOSED, UDP = (int(a) for a in sys.argv[1:6])
def tcp(fam, host, port, blocking=True):
    def go():
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(blocking)
        if blocking:
            s.connect((host, port))
        else:
            rc = s.connect_ex((host, port))
            if rc != errno.EINPROGRESS: raise OSError(rc, os.strerror(rc))
            import select
            select.select([], [s], [], 5)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err: raise OSError(err, os.strerror(err))
            s.setblocking(True)
        s.sendall(b"hello")
        assert s.recv(3) == b"hi\\n"
        s.close()
    return go
A4, A6 = socket.AF_INET, socket.AF_INET6
attempt("v4-proxy", tcp(A4, "127.0.0.1", P))
attempt("v4-lb", tcp(A4, "127.0.0.1", L))
attempt("v4-lb-127.0.0.2", tcp(A4, "127.0.0.2", L))
attempt("v4-other", tcp(A4, "127.0.0.1", O))
attempt("v4-proxy-127.0.0.2", tcp(A4, "127.0.0.2", P))
attempt("v4-proxy-0.0.0.0", tcp(A4, "0.0.0.0", P))
attempt("v6-lb", tcp(A6, "::1", L))
attempt("v6-proxy", tcp(A6, "::1", P))
attempt("v6-other", tcp(A6, "::1", O))
attempt("mapped-proxy", tcp(A6, "::ffff:127.0.0.1", P))
attempt("mapped-proxy-127.0.0.2", tcp(A6, "::ffff:127.0.0.2", P))
attempt("mapped-other", tcp(A6, "::ffff:127.0.0.1", O))
attempt("nonblocking-proxy", tcp(A4, "127.0.0.1", P, blocking=False))
attempt("nonblocking-other", tcp(A4, "127.0.0.1", O, blocking=False))
attempt("closed-port", tcp(A4, "127.0.0.1", CLOSED))
def unix():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[6])
    s.close()
attempt("unix", unix)
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"out", ("127.0.0.1", UDP))
attempt("udp4", udp)
attempt("udp6", lambda: socket.socket(A6, socket.SOCK_DGRAM))
attempt("icmp", lambda: socket.socket(A4, socket.SOCK_DGRAM, socket.IPPROTO_ICMP))
attempt("raw", lambda: socket.socket(A4, socket.SOCK_RAW, socket.IPPROTO_TCP))
attempt("sctp", lambda: socket.socket(A4, socket.SOCK_STREAM, 132))
attempt("mptcp", lambda: socket.socket(A4, socket.SOCK_STREAM, 262))
attempt("vsock", lambda: socket.socket(40, socket.SOCK_STREAM))
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
attempt("tcp-socket", lambda: socket.socket(A4, socket.SOCK_STREAM, socket.IPPROTO_TCP))
# connect()'s own answers still come back for calls the guard performs
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def raw_connect(fd, addr, length):
    def go():
        if libc.connect(fd, addr, length) != 0:
            e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    return go
s4 = socket.socket(A4, socket.SOCK_STREAM)
attempt("bad-pointer", raw_connect(s4.fileno(), ctypes.c_void_p(8), 16))
attempt("bad-length", raw_connect(s4.fileno(), ctypes.create_string_buffer(16), 200))
f = open(sys.argv[0])
attempt("not-a-socket", raw_connect(f.fileno(), ctypes.create_string_buffer(16), 16))
attempt("bad-fd", raw_connect(900, ctypes.create_string_buffer(16), 16))
s4.connect(("127.0.0.1", P))
attempt("unspec-disconnect", raw_connect(s4.fileno(), ctypes.create_string_buffer(16), 16))
`;

  it('lets a command reach only 127.0.0.1:proxy and the listed loopback ports; everything else is EACCES', async () => {
    const before = counts();
    const script = writeScript(rig, 'matrix.py', MATRIX);
    const r = await rig.run(rig.sandbox(landlockPorts(), guard()), PY, [
      'python3', script, String(proxy.port), String(lb.port), String(other.port), String(closedPort), String(udp.port), unixPath,
    ]);
    expect(r.rc, r.out).toEqual({
      'v4-proxy': '0',
      'v4-lb': '0',
      'v4-lb-127.0.0.2': '0',
      'v4-other': 'EACCES',
      'v4-proxy-127.0.0.2': 'EACCES',
      'v4-proxy-0.0.0.0': 'EACCES',
      'v6-lb': '0',
      'v6-proxy': 'EACCES',
      'v6-other': 'EACCES',
      'mapped-proxy': '0',
      'mapped-proxy-127.0.0.2': 'EACCES',
      'mapped-other': 'EACCES',
      'nonblocking-proxy': '0',
      'nonblocking-other': 'EACCES',
      'closed-port': 'ECONNREFUSED',
      unix: '0',
      udp4: 'EACCES',
      udp6: 'EACCES',
      icmp: 'EACCES',
      raw: 'EACCES',
      sctp: 'EACCES',
      mptcp: 'EACCES',
      vsock: 'EACCES',
      netlink: '0',
      'tcp-socket': '0',
      'bad-pointer': 'EFAULT',
      'bad-length': 'EINVAL',
      'not-a-socket': 'ENOTSOCK',
      'bad-fd': 'EBADF',
      'unspec-disconnect': '0',
    });
    // What the listeners really accepted: the proxy 4 (v4, v4-mapped, non-blocking, the
    // disconnect test's socket), each listed port once per address family; nothing else.
    const got = counts().map((c, i) => c - before[i]!);
    expect(got).toEqual([4, 0, 0, 1, 1, 1, 0, 0]);
    expect(proxy.data).toContain('hello');
    expect(unixConnections).toBe(1);
    expect(udp.datagrams).toBe(0);
  });

  it('without the guard, the same Landlock ports reach the other port and the second address (what the guard closes)', async () => {
    const before = counts();
    const script = writeScript(rig, 'control.py', MATRIX.split('\nattempt("v6-lb"')[0]!);
    const r = await rig.run(rig.sandbox(landlockPorts(), undefined), PY, [
      'python3', script, String(proxy.port), String(lb.port), String(other.port), String(closedPort), String(udp.port),
    ]);
    expect(r.rc['v4-other'], r.out).toBe('0');
    expect(r.rc['v4-proxy-127.0.0.2'], r.out).toBe('0');
    const got = counts().map((c, i) => c - before[i]!);
    expect(got[6]).toBe(1); // other
    expect(got[1]).toBe(1); // the proxy's port on 127.0.0.2
  });

  it('bash /dev/tcp (a blocking connect): the proxy and a listed port work, another port is refused', async () => {
    const before = counts();
    const r = await rig.run(rig.sandbox(landlockPorts(), guard()), '/bin/bash', [
      'bash',
      '-c',
      `for t in proxy:127.0.0.1:${proxy.port} lb:127.0.0.1:${lb.port} other:127.0.0.1:${other.port} second-host:127.0.0.2:${proxy.port}; do
         IFS=: read name host port <<< "$t"
         ( exec 3<>/dev/tcp/$host/$port && echo hello >&3 && read -r line <&3 && [ "$line" = hi ] ) 2>/dev/null
         echo "RC $name $?"
       done`,
    ]);
    expect(r.rc, r.out).toEqual({ proxy: '0', lb: '0', other: '1', 'second-host': '1' });
    expect(counts().map((c, i) => c - before[i]!)).toEqual([1, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('keeps serving a background process after the command itself exited, and stops once none holds the filter', async () => {
    const before = proxy.connections;
    const r = await rig.run(rig.sandbox(landlockPorts(), guard()), '/bin/bash', [
      'bash',
      '-c',
      `(sleep 0.4; exec 3<>/dev/tcp/127.0.0.1/${proxy.port}) </dev/null >/dev/null 2>&1 & exit 0`,
    ]);
    expect(r.code).toBe(0);
    expect(addon.connectGuardListeners()).toBeGreaterThan(0);
    expect(await waitFor(() => proxy.connections === before + 1, 5000)).toBe(true);
    expect(await waitFor(() => addon.connectGuardListeners() === 0, 5000)).toBe(true);
  });

  it('leaves no thread or descriptor behind after many commands', async () => {
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const listenersHeld = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).includes('seccomp');
        } catch {
          return false;
        }
      }).length;
    const sb = rig.sandbox(landlockPorts(), guard());
    // One command first, so that lazily opened descriptors of this process exist on both sides.
    await rig.run(sb, '/bin/bash', ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${proxy.port}`]);
    await waitFor(() => addon.connectGuardListeners() === 0);
    const fdsBefore = fds();
    const before = proxy.connections;
    const N = 40;
    for (let i = 0; i < N; i++) {
      const r = await rig.run(sb, '/bin/bash', ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${proxy.port}`]);
      expect(r.code, r.out).toBe(0);
    }
    expect(await waitFor(() => proxy.connections === before + N)).toBe(true);
    expect(await waitFor(() => addon.connectGuardListeners() === 0)).toBe(true);
    expect(listenersHeld()).toBe(0);
    // This process opens and closes descriptors of its own meanwhile (accepted connections close
    // a little later): a leak of even one descriptor per command would exceed this margin.
    expect(fds() - fdsBefore).toBeLessThan(N / 4);
  });

  it('reuses its listener threads from one command to the next (no thread started per command)', async () => {
    const tasks = () => fs.readdirSync('/proc/self/task');
    const seen = new Set<string>();
    // Taken while a command is connected and waiting: its listener thread is alive then.
    const server = net.createServer((c) => {
      for (const t of tasks()) seen.add(t);
      c.on('error', () => {});
      c.end('hi\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const sb = rig.sandbox([port], { proxyPort: port, loopbackPorts: [] });
      const argv = ['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port} && read -r line <&3 && [ "$line" = hi ]`];
      expect((await rig.run(sb, '/bin/bash', argv)).code).toBe(0); // leaves one parked thread
      await waitFor(() => addon.connectGuardListeners() === 0);
      const before = new Set(tasks());
      seen.clear();
      for (let i = 0; i < 20; i++) {
        const r = await rig.run(sb, '/bin/bash', argv);
        expect(r.code, r.out).toBe(0);
      }
      // A thread per command would show 20 new ones here.
      expect([...seen].filter((t) => !before.has(t)).length).toBeLessThan(3);
      expect(await waitFor(() => addon.connectGuardListeners() === 0)).toBe(true);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses bad options and starts nothing', () => {
    const sb = rig.sandbox(landlockPorts(), undefined);
    const marker = path.join(rig.home.project, 'should-not-exist');
    const base = {
      file: '/bin/sh',
      argv: ['sh', '-c', `: > ${marker}`],
      env: [],
      cwd: rig.home.project,
      stdio: [0, 1, 2] as [number, number, number],
      rulesetFd: sb.rulesetFd,
      netFilter: sb.compiled.netFilter,
    };
    for (const connectGuard of [
      { proxyPort: 0, loopbackPorts: [] },
      { proxyPort: 65536, loopbackPorts: [] },
      { proxyPort: 8080.5, loopbackPorts: [] },
      { proxyPort: '8080' as unknown as number, loopbackPorts: [] },
      { proxyPort: 8080, loopbackPorts: [0] },
      { proxyPort: 8080, loopbackPorts: Array.from({ length: 65 }, (_, i) => 1000 + i) },
      { proxyPort: 8080, loopbackPorts: 'all' as unknown as number[] },
    ]) {
      expect(() => addon.spawn({ ...base, connectGuard }, () => {}), JSON.stringify(connectGuard)).toThrow(/connectGuard/);
    }
    expect(fs.existsSync(marker)).toBe(false);
  });
});
