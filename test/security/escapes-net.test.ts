// Escape attempts that try to REACH OUT of a sandboxed command: TCP to a loopback listener (the
// usual way and the less usual ones), TCP servers, abstract Unix sockets of processes outside the
// sandbox, and the supervisor's own socket. Every listener here counts what it really received,
// and each case asserts that count, not only the command's errors.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  PY,
  escapeTally,
  expectCompleted,
  expectRefused,
  parseOutcome,
  pyAttempt,
  sandboxed,
  setupRig,
  sleep,
  startSandboxed,
  unsandboxed,
  waitFor,
} from './harness.js';

const rig = setupRig();
const attempt = escapeTally('net');

interface Listener {
  port: number;
  connections: number;
  data: string;
  close(): Promise<void>;
}

/** A TCP server outside the sandbox that counts connections and collects what they send. */
function tcpListener(host: string): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const l = { port: 0, connections: 0, data: '' } as Listener;
    const server = net.createServer((c) => {
      l.connections++;
      c.on('data', (d) => (l.data += d.toString('latin1')));
      c.on('error', () => {});
    });
    server.on('error', reject);
    server.listen(0, host, () => {
      l.port = (server.address() as net.AddressInfo).port;
      l.close = () => new Promise((r) => server.close(() => r()));
      resolve(l);
    });
  });
}

/** Connects from outside the sandbox; true if the connection was accepted. */
function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host });
    c.setTimeout(2000, () => (c.destroy(), resolve(false)));
    c.on('connect', () => (c.destroy(), resolve(true)));
    c.on('error', () => resolve(false));
  });
}

describe('TCP', () => {
  attempt('connect to a loopback listener (bash /dev/tcp, python, curl, v4-mapped IPv6)', async () => {
    const l = await tcpListener('127.0.0.1');
    try {
      const py = pyAttempt(
        rig,
        'tcp-connect',
        `
port = int(sys.argv[1])
attempt("py-connect", lambda: socket.create_connection(("127.0.0.1", port), timeout=3).sendall(b"escaped"))
def mapped():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(("::ffff:127.0.0.1", port))
    s.sendall(b"escaped-mapped")
attempt("py-v4-mapped", mapped)
`,
      );
      const script = `t dev-tcp eval 'echo escaped > /dev/tcp/127.0.0.1/${l.port}'
        t curl curl -sS --max-time 3 http://127.0.0.1:${l.port}/
        ${py} ${l.port}`;
      const o = await sandboxed(rig, script);
      expectCompleted(o);
      expectRefused(o, 'dev-tcp', 'curl', 'py-connect', 'py-v4-mapped');
      await sleep(100);
      expect(l.connections, `the listener got data: ${JSON.stringify(l.data)}`).toBe(0);
      // Control: the same attempts, unsandboxed, do connect.
      const control = await unsandboxed(rig, `${py} ${l.port}`);
      expect(control.rc['py-connect']).toBe('0');
      await waitFor(() => l.connections >= 2);
      expect(l.connections).toBe(2);
    } finally {
      await l.close();
    }
  });

  attempt('connect to an IPv6 loopback listener', async () => {
    const l = await tcpListener('::1');
    try {
      const py = pyAttempt(
        rig,
        'tcp6-connect',
        `attempt("py-connect6", lambda: socket.create_connection(("::1", int(sys.argv[1])), timeout=3).sendall(b"escaped"))`,
      );
      const o = await sandboxed(rig, `${py} ${l.port}`);
      expectCompleted(o);
      expectRefused(o, 'py-connect6');
      await sleep(100);
      expect(l.connections).toBe(0);
    } finally {
      await l.close();
    }
  });

  attempt('bind and listen on a TCP port (fixed, 0, AF_UNSPEC address)', async () => {
    // A free port: take one, and give it back.
    const probe = await tcpListener('127.0.0.1');
    const port = probe.port;
    await probe.close();
    const py = pyAttempt(
      rig,
      'tcp-bind',
      `
port = int(sys.argv[1])
def serve(addr):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen()
    print(f"LISTENING {s.getsockname()[1]}", flush=True)
attempt("bind-fixed", lambda: serve(("127.0.0.1", port)))
attempt("bind-any", lambda: serve(("0.0.0.0", port)))
attempt("bind-zero", lambda: serve(("127.0.0.1", 0)))
class sockaddr_in(ctypes.Structure):
    _fields_ = [("family", ctypes.c_ushort), ("port", ctypes.c_uint16), ("addr", ctypes.c_uint32), ("zero", ctypes.c_char * 8)]
def bind_unspec():
    # bind() of an AF_INET socket to an AF_UNSPEC address with INADDR_ANY is accepted by Linux as AF_INET.
    s = socket.socket()
    sa = sockaddr_in(0, socket.htons(port), 0)
    if libc.bind(s.fileno(), ctypes.byref(sa), ctypes.sizeof(sa)) != 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    s.listen()
    print(f"LISTENING {s.getsockname()[1]}", flush=True)
attempt("bind-unspec", bind_unspec)
time.sleep(1.5)  # keep any listener open while the test knocks
`,
    );
    const p = startSandboxed(rig, `${py} ${port}`);
    await sleep(700);
    const reachable = await canConnect(port);
    const o = parseOutcome(await p);
    expectCompleted(o);
    expectRefused(o, 'bind-fixed', 'bind-any', 'bind-zero', 'bind-unspec');
    expect(o.stdout).not.toContain('LISTENING');
    expect(reachable, `port ${port} accepted a connection from outside`).toBe(false);
  });

  attempt('listen() on an unbound TCP socket (the kernel binds an ephemeral port itself)', async () => {
    const py = pyAttempt(
      rig,
      'tcp-autobind',
      `
holder = []
def autobind():
    s = socket.socket()
    s.listen()
    holder.append(s)
    print(f"LISTENING {s.getsockname()[1]}", flush=True)
if attempt("listen-autobind", autobind):
    s = holder[0]
    s.settimeout(5)
    try:
        c, _ = s.accept()
        print("ACCEPTED", flush=True)
    except OSError:
        pass
`,
    );
    const p = startSandboxed(rig, py);
    let port = 0;
    let buf = '';
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /LISTENING (\d+)/.exec(buf);
      if (m) port = Number(m[1]);
    });
    await waitFor(() => port > 0 || p.exitCode !== null, 3000);
    const reachable = port > 0 ? await canConnect(port) : false;
    const o = parseOutcome(await p);
    expectCompleted(o);
    expect(reachable, `a TCP server started inside the sandbox on port ${port} was reachable from outside (stdout: ${o.stdout})`).toBe(false);
    expectRefused(o, 'listen-autobind');
  });

  attempt('connect with an MPTCP socket (IPPROTO_MPTCP, falls back to TCP)', async () => {
    const l = await tcpListener('127.0.0.1');
    try {
      const py = pyAttempt(
        rig,
        'mptcp',
        `
def mptcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)  # IPPROTO_MPTCP
    s.settimeout(3)
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"escaped-mptcp")
attempt("mptcp-connect", mptcp)
`,
      );
      const o = await sandboxed(rig, `${py} ${l.port}`);
      expectCompleted(o);
      await sleep(100);
      expect(l.connections, `the listener accepted ${l.connections} connection(s), data ${JSON.stringify(l.data)}`).toBe(0);
      expectRefused(o, 'mptcp-connect');
    } finally {
      await l.close();
    }
  });

  attempt('connect with TCP Fast Open (sendto MSG_FASTOPEN, TCP_FASTOPEN_CONNECT)', async () => {
    const l = await tcpListener('127.0.0.1');
    try {
      const py = pyAttempt(
        rig,
        'tfo',
        `
port = int(sys.argv[1])
def sendto_fastopen():
    s = socket.socket()
    s.sendto(b"escaped-tfo", socket.MSG_FASTOPEN, ("127.0.0.1", port))
    time.sleep(0.2)
attempt("sendto-fastopen", sendto_fastopen)
def fastopen_connect():
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, 30, 1)  # TCP_FASTOPEN_CONNECT
    s.connect(("127.0.0.1", port))
    s.sendall(b"escaped-tfo-connect")
    time.sleep(0.2)
attempt("fastopen-connect", fastopen_connect)
`,
      );
      const o = await sandboxed(rig, `${py} ${l.port}`);
      expectCompleted(o);
      await sleep(100);
      expect(l.connections, `the listener accepted ${l.connections} connection(s), data ${JSON.stringify(l.data)}`).toBe(0);
      expectRefused(o, 'sendto-fastopen', 'fastopen-connect');
    } finally {
      await l.close();
    }
  });
});

describe('abstract Unix sockets of processes outside the sandbox', () => {
  const name = `nono-sec-${process.pid}-${Date.now()}`;
  let listener: ChildProcess;
  const events: string[] = [];

  beforeAll(async () => {
    // Started by the test, outside the sandbox: a stream listener and a datagram receiver on
    // abstract addresses, printing every connection and datagram.
    const script = path.join(rig.home.base, 'abstract-listener.py');
    fs.writeFileSync(
      script,
      `
import select, socket, sys
st = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); st.bind("\\0${name}-stream"); st.listen()
dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); dg.bind("\\0${name}-dgram")
print("READY", flush=True)
while True:
    r, _, _ = select.select([st, dg], [], [])
    if st in r:
        c, _ = st.accept(); print("ACCEPT", flush=True); c.close()
    if dg in r:
        print("DGRAM " + dg.recv(100).decode(errors="replace"), flush=True)
`,
    );
    listener = spawn(PY, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    listener.stdout!.setEncoding('utf8');
    let buf = '';
    listener.stdout!.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      events.push(...lines);
    });
    await waitFor(() => events.includes('READY'), 10_000);
  });
  afterAll(() => listener?.kill('SIGKILL'));

  const clientPy = () =>
    pyAttempt(
      rig,
      'abstract-client',
      `
name = sys.argv[1]
def stream():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\\0" + name + "-stream")
attempt("abstract-stream", stream)
def dgram():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(b"escaped", "\\0" + name + "-dgram")
attempt("abstract-dgram", dgram)
def dgram_connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect("\\0" + name + "-dgram")
    s.send(b"escaped-connected")
attempt("abstract-dgram-connect", dgram_connect)
`,
    );

  attempt('connect (stream) and send (datagram) to an outside process on an abstract address', async () => {
    const py = clientPy();
    const o = await sandboxed(rig, `${py} ${name}`);
    expectCompleted(o);
    expectRefused(o, 'abstract-stream', 'abstract-dgram', 'abstract-dgram-connect');
    await sleep(200);
    expect(events.filter((e) => e !== 'READY'), 'the outside listener heard from the sandbox').toEqual([]);
    // Control: the same client, unsandboxed, gets through.
    const control = await unsandboxed(rig, `${py} ${name}`);
    expect(control.rc).toEqual({ 'abstract-stream': '0', 'abstract-dgram': '0', 'abstract-dgram-connect': '0' });
    await waitFor(() => events.length >= 4);
    expect(events.filter((e) => e !== 'READY').sort()).toEqual(['ACCEPT', 'DGRAM escaped', 'DGRAM escaped-connected']);
  });
});

describe("the supervisor's socket", () => {
  // A well-formed `run` frame (docs/protocol.md) without the secret, carrying stdin/stdout/stderr,
  // whose command would leave a marker in the project if the supervisor ran it.
  const runClient = (marker: string) =>
    pyAttempt(
      rig,
      `supervisor-client-${path.basename(marker)}`,
      `
sock_path, marker, out = sys.argv[1], sys.argv[2], sys.argv[3]
def talk():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    req = {"v": 1, "type": "run", "secret": "", "client_pid": os.getpid(), "cwd": os.getcwd(),
           "shell_as": None, "argv": ["bash", "-c", "touch " + marker], "env": ["PATH=/usr/bin:/bin"],
           "ignored_signals": []}
    body = json.dumps(req).encode()
    socket.send_fds(s, [struct.pack("<I", len(body)) + body], [0, 1, 2])
    s.settimeout(5)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack("<I", data[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    reply = data[4:4 + struct.unpack("<I", data[:4])[0]].decode() if len(data) >= 4 else "closed"
    with open(out, "w") as f:
        f.write(reply)
    print("REPLY " + reply, flush=True)
def detached():
    # Leave the command's tree: a new session, and a parent that exits (reparented to init).
    if os.fork() == 0:
        os.setsid()
        first = os.getpid()
        if os.fork() == 0:
            while os.getppid() == first:
                time.sleep(0.01)
            attempt("detached-run", talk)
            os._exit(0)
        os._exit(0)
    os.wait()
mode = sys.argv[4]
if mode == "inside":
    attempt("inside-run", talk)
else:
    detached()
    for _ in range(500):
        if os.path.exists(out):
            break
        time.sleep(0.01)
`,
    );

  async function supervisorCase(mode: 'inside' | 'detached') {
    const marker = path.join(rig.home.project, `supervisor-ran-${mode}`);
    const replyFile = path.join(rig.home.project, `reply-${mode}.json`);
    const before = rig.s.records.length;
    const logBefore = rig.s.logLines.length;
    const py = runClient(marker);
    const o = await sandboxed(rig, `${py} ${rig.s.session.socketPath} ${marker} ${replyFile} ${mode}; echo "REPLYFILE $(cat ${replyFile})"`);
    expectCompleted(o);
    await waitFor(() => rig.s.records.length > before);
    await sleep(300); // room for a command the supervisor might have started
    const reply = JSON.parse(fs.readFileSync(replyFile, 'utf8')) as { type: string; message?: string };
    const newLog = rig.s.logLines.slice(logBefore);
    return { o, marker, reply, before, newLog };
  }

  attempt('send a well-formed run frame without the secret from inside the command', async () => {
    const { o, marker, reply, before, newLog } = await supervisorCase('inside');
    expect(o.rc['inside-run']).toBe('0'); // the frame was sent and answered
    // It is told to run in place (`direct`: it is inside a sandbox already) or refused; nothing
    // is started by the supervisor on its behalf.
    expect(['direct', 'error']).toContain(reply.type);
    expect(fs.existsSync(marker)).toBe(false);
    expect(rig.s.records.length - before).toBe(1); // only the outer command itself
    expect(rig.s.records.at(-1)!.argv.join(' ')).toContain('supervisor-client');
    expect(newLog.join('\n')).not.toContain(`touch ${marker}`);
  });

  attempt('send it from a process that left the command tree (setsid, reparented to init)', async () => {
    const { o, marker, reply, before, newLog } = await supervisorCase('detached');
    expect(o.stdout).toMatch(/REPLYFILE \{/);
    expect(reply.type, `reply: ${JSON.stringify(reply)}`).toBe('error');
    expect(reply.message).toMatch(/not authorised/);
    expect(fs.existsSync(marker)).toBe(false);
    expect(rig.s.records.length - before).toBe(1);
    expect(newLog.join('\n')).not.toContain(`touch ${marker}`);
  });
});
