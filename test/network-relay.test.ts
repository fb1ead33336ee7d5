// The proxy's tunnels once approved: handed to the native splice relay (shim/addon/tunnel_relay.c)
// or, where it is unavailable, joined by the Node pipe (tunnel.ts). Both must behave the same, so
// every behaviour runs against both: bytes in order across the handoff (the client's payload in
// the same packet as its CONNECT / SOCKS request, an upstream that speaks first), half-closes
// both ways, 50 concurrent tunnels, resets, the idle timeout. The relay alone: that it really
// carried the tunnels, and that nothing (descriptors, threads, relays) is left behind.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { HostGate } from '../src/supervisor/network/host-gate.js';
import { ProxyClients, type ProxyClient } from '../src/supervisor/network/proxy-clients.js';
import { SessionProxy } from '../src/supervisor/network/proxy-server.js';
import { SOCKS_REPLY, socksReply } from '../src/supervisor/network/socks5.js';

const addon = loadAddon();
const HOST = 'up.nono.test';

interface Rig {
  proxy: SessionProxy<ProxyClient>;
  user: string;
  token: string;
}

const open: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function makeRig(nativeRelay: boolean, idleTimeoutMs?: number): Promise<Rig> {
  const clients = new ProxyClients();
  const { username, token } = clients.add({ seq: 1, command: 'test', cwd: '/', say: async () => {}, ended: new AbortController().signal });
  const proxy = await SessionProxy.open<ProxyClient>({ hosts: { [HOST]: ['127.0.0.1'] }, nativeRelay, idleTimeoutMs });
  proxy.serve({ authenticate: (u, p) => clients.authenticate(u, p), gate: new HostGate({ allow: [{ pattern: HOST, source: 'test' }], deny: [], log: () => {} }) });
  open.push({ close: () => proxy.close() });
  return { proxy, user: username, token };
}

/** Upstream: says HELLO first, echoes everything, and answers the client's FIN with BYE then its own FIN. */
async function echoServer(onSocket?: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onSocket?.(s);
    s.write('HELLO\n');
    s.pipe(s, { end: false });
    s.on('end', () => s.end('BYE\n'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return (server.address() as net.AddressInfo).port;
}

interface Tunnel {
  s: net.Socket;
  /** Bytes received after the proxy's own replies. */
  data(): Buffer;
  ended: Promise<void>;
  closed: Promise<void>;
  waitFor(n: number): Promise<Buffer>;
}

/** Opens a tunnel with `payload` in the same write as the request (no waiting for the reply). */
function tunnel(r: Rig, port: number, payload: Buffer, kind: 'connect' | 'socks'): Tunnel {
  const s = net.connect({ port: r.proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  open.push({ close: () => void s.destroy() });
  let request: Buffer;
  let prefix: Buffer;
  if (kind === 'connect') {
    const auth = Buffer.from(`${r.user}:${r.token}`).toString('base64');
    request = Buffer.from(`CONNECT ${HOST}:${port} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
    prefix = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');
  } else {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16BE(port);
    request = Buffer.concat([
      Buffer.from([5, 1, 2]),
      Buffer.from([1, r.user.length]), Buffer.from(r.user), Buffer.from([r.token.length]), Buffer.from(r.token),
      Buffer.from([5, 1, 0, 3, HOST.length]), Buffer.from(HOST), portBytes,
    ]);
    prefix = Buffer.concat([Buffer.from([5, 2, 1, 0]), socksReply(SOCKS_REPLY.succeeded)]);
  }
  let all = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  s.on('data', (d) => {
    all = Buffer.concat([all, d]);
    waiters.splice(0).forEach((w) => w());
  });
  const ended = new Promise<void>((res) => s.once('end', res));
  const closed = new Promise<void>((res) => s.once('close', () => res()));
  s.write(Buffer.concat([request, payload]));
  const data = () => {
    expect(all.subarray(0, prefix.length).toString('latin1')).toBe(prefix.toString('latin1'));
    return all.subarray(prefix.length);
  };
  const waitFor = (n: number) =>
    new Promise<Buffer>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`only ${all.length} of ${prefix.length + n} bytes after 10 s`)), 10_000);
      const check = () => {
        if (all.length >= prefix.length + n) return clearTimeout(timer), res(data());
        if (s.destroyed) return clearTimeout(timer), rej(new Error(`closed after ${all.length} bytes`));
        waiters.push(check);
      };
      s.once('close', check);
      check();
    });
  return { s, data, ended, closed, waitFor };
}

const until = async (what: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe.each([
  ['native relay', true],
  ['Node pipe', false],
])('tunnels (%s)', (_label, nativeRelay) => {
  for (const kind of ['connect', 'socks'] as const) {
    it(`${kind}: a payload sent with the request, and an upstream that speaks first, arrive whole and in order`, async () => {
      const r = await makeRig(nativeRelay);
      const port = await echoServer();
      const payload = crypto.randomBytes(3 << 20); // partly read by Node before the handoff, partly still in the kernel
      const t = tunnel(r, port, payload, kind);
      const got = await t.waitFor(6 + payload.length);
      expect(got.subarray(0, 6).toString()).toBe('HELLO\n');
      expect(sha(got.subarray(6, 6 + payload.length))).toBe(sha(payload));
      if (nativeRelay) expect(r.proxy.relayedTunnels).toBe(1);
      else expect(r.proxy.relayedTunnels).toBe(0);
      t.s.end(); // half-close: the upstream answers after our FIN, and the tunnel passes it on
      await t.ended;
      expect(t.data().subarray(6 + payload.length).toString()).toBe('BYE\n');
      await until(() => r.proxy.openConnections === 0);
    });
  }

  it('half-close from the upstream: the client gets its FIN and can still send', async () => {
    const r = await makeRig(nativeRelay);
    let heard = '';
    let upstreamEnded!: () => void;
    const upstreamDone = new Promise<void>((res) => (upstreamEnded = res));
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      s.end('early bye\n'); // FIN first, then keep reading
      s.on('data', (d) => (heard += d));
      s.on('end', () => upstreamEnded());
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    open.push({ close: () => new Promise<void>((c) => server.close(() => c())) });
    const port = (server.address() as net.AddressInfo).port;
    const t = tunnel(r, port, Buffer.alloc(0), 'connect');
    await t.ended;
    expect(t.data().toString()).toBe('early bye\n');
    t.s.end('still talking after your FIN');
    await upstreamDone;
    expect(heard).toBe('still talking after your FIN');
    await t.closed;
    await until(() => r.proxy.openConnections === 0);
  });

  it('50 concurrent tunnels, each with its own 256 KiB echoed intact', async () => {
    const r = await makeRig(nativeRelay);
    const port = await echoServer();
    const payloads = Array.from({ length: 50 }, () => crypto.randomBytes(256 << 10));
    const tunnels = payloads.map((p, i) => tunnel(r, port, p, i % 2 ? 'connect' : 'socks'));
    const got = await Promise.all(tunnels.map((t, i) => t.waitFor(6 + payloads[i]!.length)));
    got.forEach((g, i) => expect(sha(g.subarray(6)), `tunnel ${i}`).toBe(sha(payloads[i]!)));
    if (nativeRelay) expect(r.proxy.relayedTunnels).toBe(50);
    tunnels.forEach((t) => t.s.end());
    await Promise.all(tunnels.map((t) => t.closed));
    await until(() => r.proxy.openConnections === 0);
  });

  it('a reset on either side ends both', async () => {
    const r = await makeRig(nativeRelay);
    const upstreams: net.Socket[] = [];
    const upstreamClosed: Array<Promise<void>> = [];
    const port = await echoServer((s) => {
      upstreams.push(s);
      upstreamClosed.push(new Promise((res) => s.once('close', () => res())));
    });
    // the client resets
    const a = tunnel(r, port, Buffer.from('x'), 'connect');
    await a.waitFor(7);
    a.s.resetAndDestroy();
    await upstreamClosed[0];
    // the upstream resets
    const b = tunnel(r, port, Buffer.from('y'), 'socks');
    await b.waitFor(7);
    upstreams[1]!.resetAndDestroy();
    await b.closed;
    await until(() => r.proxy.openConnections === 0);
  });

  it('a tunnel silent both ways for the idle timeout is closed', async () => {
    const r = await makeRig(nativeRelay, 300);
    const port = await echoServer();
    const t = tunnel(r, port, Buffer.alloc(0), 'connect');
    await t.waitFor(6);
    const started = Date.now();
    t.s.write('keep'); // traffic pushes the deadline back
    await new Promise((res) => setTimeout(res, 200));
    t.s.write('alive');
    await t.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(t.data().toString()).toBe('HELLO\nkeepalive');
    await until(() => r.proxy.openConnections === 0);
  });
});

describe('the native relay', () => {
  const fdCount = () => fs.readdirSync('/proc/self/fd').length;
  const threadCount = () => fs.readdirSync('/proc/self/task').length;

  it('leaves no descriptor, thread or relay behind after many tunnels, ended every way', async () => {
    const r = await makeRig(true, 2000);
    const port = await echoServer();
    // warm-up: Node opens some descriptors (and threads) lazily
    const w = tunnel(r, port, Buffer.from('w'), 'connect');
    await w.waitFor(7);
    w.s.end();
    await w.closed;
    await until(() => addon.relayActive() === 0 && r.proxy.openConnections === 0);
    const fds = fdCount();
    const threads = threadCount();
    for (let round = 0; round < 4; round++) {
      const ts = Array.from({ length: 25 }, (_, i) => tunnel(r, port, Buffer.from(`p${i}`), i % 2 ? 'connect' : 'socks'));
      await Promise.all(ts.map((t, i) => t.waitFor(6 + `p${i}`.length)));
      expect(addon.relayActive()).toBe(25);
      ts.forEach((t, i) => (i % 3 === 0 ? t.s.resetAndDestroy() : t.s.end()));
      await until(() => addon.relayActive() === 0 && r.proxy.openConnections === 0);
    }
    expect(fdCount()).toBe(fds);
    await until(() => threadCount() <= threads); // relay threads are detached: gone once they return
  });

  it('closing the proxy stops the relays it carries', async () => {
    const r = await makeRig(true);
    const port = await echoServer();
    const ts = [tunnel(r, port, Buffer.alloc(0), 'connect'), tunnel(r, port, Buffer.alloc(0), 'socks')];
    await Promise.all(ts.map((t) => t.waitFor(6)));
    expect(addon.relayActive()).toBe(2);
    await r.proxy.close();
    await Promise.all(ts.map((t) => t.closed));
    await until(() => addon.relayActive() === 0);
  });

  it('refuses what it cannot relay without taking anything over', () => {
    const [a, b] = addon.makePipe();
    try {
      expect(() => addon.relayStart(a, b, Buffer.alloc(0), Buffer.alloc(0), 0, () => {})).toThrow(/not a stream socket/);
      expect(() => addon.relayStart(-1, b, Buffer.alloc(0), Buffer.alloc(0), 0, () => {})).toThrow(/dup/);
      expect(addon.relayActive()).toBe(0);
    } finally {
      addon.closeFd(a);
      addon.closeFd(b);
    }
  });
});
