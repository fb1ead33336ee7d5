// The session's network proxy: one loopback listener that speaks HTTP (CONNECT, and plain
// requests in absolute form) and SOCKS5 on the same port (the first byte tells them apart).
// Commands reach the network only through it. Each connection carries its command's credentials
// (user:token in the proxy URLs nono puts in the command's environment), so a decision, a question
// and a refusal line belong to one command; anything without valid credentials is refused.
// The policy (lists, questions, audit) is the gate's job (host-gate.ts); this file does the
// protocols, the cap on concurrent connections, resolution and the tunnels.
import http from 'node:http';
import net from 'node:net';
import { canonicalHost, hostPort } from '../../policy/host-pattern.js';
import { HandshakeError } from './byte-reader.js';
import { handOff, nativeRelay } from './native-relay.js';
import { handleConnect, handlePlainRequest, refuseUpgrade } from './http-front.js';
import { SOCKS_REPLY, readSocksRequest, socksReply } from './socks5.js';
import { tunnel } from './tunnel.js';
import { UpstreamError, connectUpstream, isLoopbackName, lookupWith, resolveUpstream, systemLookup, type Lookup } from './upstream.js';

export interface HostRequest<C> {
  client: C;
  /** Canonical (host-pattern.ts). */
  host: string;
  port: number;
  protocol: 'http-connect' | 'http' | 'socks5';
}

export type GateAnswer = { allow: true } | { allow: false; reason: string };

/** The policy side: decides (possibly by asking), and hears about refusals made after deciding. */
export interface ProxyGate<C> {
  decide(req: HostRequest<C>, signal: AbortSignal): Promise<GateAnswer>;
  /** A refusal the proxy made itself after the gate allowed (the proxy's own port, DNS rebinding). */
  refusedAfter(req: HostRequest<C>, reason: string): void;
}

/** How the proxy listens and reaches hosts; the policy side is attached later with serve(). */
export interface ProxyOptions {
  /** Fixed name -> addresses (tests): consulted before the system resolver; its loopback answers are trusted. */
  hosts?: Record<string, string[]>;
  lookup?: Lookup;
  /** Concurrent client connections for the whole session. */
  maxConnections?: number;
  connectTimeoutMs?: number;
  /** A tunnel with no traffic either way for this long is closed. */
  idleTimeoutMs?: number;
  /** Time a client has to finish its request (HTTP headers, SOCKS handshake). */
  handshakeTimeoutMs?: number;
  log?: (line: string) => void;
  /** Relay approved tunnels with the native splice relay where the addon has it (default true). */
  nativeRelay?: boolean;
}

/** Who may use the proxy and what they may reach. */
export interface ProxyPolicy<C> {
  /** The client behind a username/password, or undefined: not one of this session's commands. */
  authenticate(username: string, password: string): C | undefined;
  gate: ProxyGate<C>;
}

export const PROXY_USER = 'nono';

export class SessionProxy<C> {
  /** Until serve(): nobody is authorised, so every request is refused (407 / SOCKS auth failure). */
  private policy: ProxyPolicy<C> | undefined;
  private logLine: (line: string) => void;
  private readonly server: net.Server;
  private readonly http: http.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Tunnels the native relay carries (their Node sockets are gone): they count as connections. */
  private readonly relays = new Set<number>();
  private readonly lookup: Lookup;
  private readonly trusted: Set<string>;
  readonly maxConnections: number;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private boundPort = 0;

  /** Bound and listening on 127.0.0.1 before any policy exists: the port goes into the Landlock rules. */
  static async open<C>(o: ProxyOptions = {}): Promise<SessionProxy<C>> {
    const p = new SessionProxy<C>(o);
    await p.listen();
    return p;
  }

  /** From now on, requests are authenticated and decided by `policy`. */
  serve(policy: ProxyPolicy<C>, log?: (line: string) => void): void {
    this.policy = policy;
    if (log) this.logLine = log;
  }

  private constructor(private readonly o: ProxyOptions) {
    this.logLine = o.log ?? (() => {});
    this.lookup = o.hosts ? lookupWith(o.hosts, o.lookup ?? systemLookup) : (o.lookup ?? systemLookup);
    this.trusted = new Set(Object.keys(o.hosts ?? {}));
    this.maxConnections = o.maxConnections ?? 256;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 15_000;
    this.idleTimeoutMs = o.idleTimeoutMs ?? 10 * 60_000;
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? 30_000;
    this.http = http.createServer({ requestTimeout: 0, headersTimeout: this.handshakeTimeoutMs, keepAliveTimeout: 5_000 });
    this.http.on('connect', (req, socket, head) => void handleConnect(this, req, socket as net.Socket, head));
    this.http.on('request', (req, res) => void handlePlainRequest(this, req, res));
    this.http.on('upgrade', (req, socket) => refuseUpgrade(socket as net.Socket));
    this.http.on('clientError', (err, socket) => {
      if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nnono proxy: ${err.message}\n`);
      else socket.destroy();
    });
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (s) => this.accept(s));
  }

  private listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as net.AddressInfo).port;
        resolve(this.boundPort);
      });
    });
  }

  get port(): number {
    return this.boundPort;
  }

  get openConnections(): number {
    return this.sockets.size + this.relays.size;
  }

  /** Of openConnections, the tunnels the native relay carries. */
  get relayedTunnels(): number {
    return this.relays.size;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    for (const id of this.relays) nativeRelay()?.relayStop(id);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get log(): (line: string) => void {
    return this.logLine;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const overCap = this.openConnections > this.maxConnections;
    const handshake = setTimeout(() => socket.destroy(), this.handshakeTimeoutMs);
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first[0] === 5) {
        void this.socks(socket, first, overCap).finally(() => clearTimeout(handshake));
        return;
      }
      clearTimeout(handshake); // the HTTP server keeps its own header deadline
      (socket as net.Socket & { nonoOverCap?: boolean }).nonoOverCap = overCap;
      socket.unshift(first);
      this.http.emit('connection', socket);
      socket.resume();
    });
  }

  /** Proxy-Authorization: Basic base64(user:token). */
  clientFromHeader(header: string | undefined): C | undefined {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    const text = Buffer.from(m[1]!, 'base64').toString('latin1');
    const colon = text.indexOf(':');
    return colon < 0 ? undefined : this.authenticate(text.slice(0, colon), text.slice(colon + 1));
  }

  private authenticate(username: string, password: string): C | undefined {
    return this.policy?.authenticate(username, password);
  }

  overCapMessage(): string {
    return `nono's session proxy already has ${this.maxConnections} connections open (its limit); retry when some have finished`;
  }

  isOverCap(socket: net.Socket): boolean {
    return Boolean((socket as net.Socket & { nonoOverCap?: boolean }).nonoOverCap);
  }

  /**
   * Canonical host, then the gate, then resolution and its safety checks, then the connection.
   * Resolves with the upstream socket, or rejects with a ProxyRefusal saying what to tell the client.
   */
  async open(client: C, rawHost: string, port: number, protocol: HostRequest<C>['protocol'], signal: AbortSignal): Promise<net.Socket> {
    const c = canonicalHost(rawHost);
    if ('error' in c) throw new ProxyRefusal(`nono proxy: ${c.error}`, 'bad-request');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ProxyRefusal(`nono proxy: port ${port} is not a TCP port`, 'bad-request');
    const req: HostRequest<C> = { client, host: c.host, port, protocol };
    // Known before asking anyone: this machine's name or address on the proxy's own port.
    if (port === this.boundPort && isLoopbackName(c.host)) {
      const reason = `${hostPort(c.host, port)} is nono's own proxy`;
      this.policy!.gate.refusedAfter(req, reason);
      throw new ProxyRefusal(`nono: ${reason}; commands cannot connect to it through itself`, 'not-allowed');
    }
    const answer = await this.policy!.gate.decide(req, signal);
    if (!answer.allow) throw new ProxyRefusal(answer.reason, 'not-allowed');
    let addresses;
    try {
      addresses = await resolveUpstream(c.host, port, { lookup: this.lookup, trustedNames: this.trusted, proxyPort: this.boundPort });
    } catch (e) {
      if (e instanceof UpstreamError && e.kind === 'refused-by-policy') {
        this.policy!.gate.refusedAfter(req, e.message);
        throw new ProxyRefusal(`nono: refused ${hostPort(c.host, port)}: ${e.message}`, 'not-allowed');
      }
      throw new ProxyRefusal(`nono proxy: ${(e as Error).message}`, 'unreachable');
    }
    try {
      return await connectUpstream(addresses, port, this.connectTimeoutMs);
    } catch (e) {
      const u = e as UpstreamError;
      throw new ProxyRefusal(`nono proxy: cannot connect to ${hostPort(c.host, port)}: ${u.message}`, u.kind === 'refused' ? 'refused' : 'unreachable');
    }
  }

  /**
   * Sends the success reply, then joins the two connections: in the native relay where it is
   * available (tunnel_relay.c: splice(2), no copy through JS), else in Node (tunnel.ts).
   * `head`: bytes of the tunnel that arrived with the request.
   */
  splice(client: net.Socket, upstream: net.Socket, head: Buffer, reply: Buffer | string): void {
    const inNode = (toClient: Buffer, toUpstream: Buffer) => {
      if (toClient.length) client.write(toClient);
      if (toUpstream.length) upstream.write(toUpstream);
      tunnel(client, upstream, this.idleTimeoutMs, () => {});
    };
    const addon = this.o.nativeRelay === false ? undefined : nativeRelay();
    if (!addon) {
      client.write(reply);
      return inNode(Buffer.alloc(0), head);
    }
    handOff(addon, client, upstream, {
      reply,
      head,
      idleMs: this.idleTimeoutMs,
      started: (id) => this.relays.add(id),
      done: (id) => this.relays.delete(id),
      fallback: inNode,
    });
  }

  private async socks(socket: net.Socket, first: Buffer, overCap: boolean): Promise<void> {
    let client: C | undefined;
    let req;
    try {
      req = await readSocksRequest(socket, first, (u, p) => (client = u === PROXY_USER ? this.authenticate(u, p) : undefined) !== undefined);
    } catch (e) {
      if (!(e instanceof HandshakeError)) this.logLine(`proxy: SOCKS handshake: ${(e as Error).message}`);
      else this.logLine(`proxy: SOCKS: ${e.message}`);
      if (!socket.writableEnded) socket.destroy();
      return;
    }
    if (overCap) {
      this.logLine(`proxy: ${this.overCapMessage()}`);
      socket.end(socksReply(SOCKS_REPLY.generalFailure));
      return;
    }
    const gone = new AbortController();
    socket.once('close', () => gone.abort());
    try {
      const upstream = await this.open(client!, req.host, req.port, 'socks5', gone.signal);
      if (socket.destroyed) return void upstream.destroy();
      this.splice(socket, upstream, req.rest, socksReply(SOCKS_REPLY.succeeded));
    } catch (e) {
      const r = e instanceof ProxyRefusal ? e : new ProxyRefusal((e as Error).message, 'unreachable');
      const code = { 'bad-request': SOCKS_REPLY.addressTypeNotSupported, 'not-allowed': SOCKS_REPLY.notAllowed, refused: SOCKS_REPLY.connectionRefused, unreachable: SOCKS_REPLY.hostUnreachable }[r.kind];
      if (!socket.destroyed) socket.end(socksReply(code));
    }
  }
}

/** Why a connection was not made, and how the front end should say so. */
export class ProxyRefusal extends Error {
  constructor(message: string, readonly kind: 'bad-request' | 'not-allowed' | 'refused' | 'unreachable') {
    super(message);
  }
}
