// The HTTP side of the session proxy: CONNECT host:port (HTTPS, git, anything over TLS: the
// bytes are tunnelled, never decrypted) and plain requests in absolute form
// (GET http://host/path), forwarded one request at a time with the body streamed both ways.
import http from 'node:http';
import type net from 'node:net';
import { ProxyRefusal, type SessionProxy } from './proxy-server.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function status(code: number, body: string, extra = ''): string {
  const text = `${body}\n`;
  return `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n${extra}\r\n${text}`;
}

const AUTH_NEEDED =
  'nono proxy: this proxy serves the commands of one nono session, and only with the credentials in the HTTP_PROXY/HTTPS_PROXY nono set for them';
const CHALLENGE = 'Proxy-Authenticate: Basic realm="nono"\r\n';

function refusalCode(r: ProxyRefusal): number {
  return { 'bad-request': 400, 'not-allowed': 403, refused: 502, unreachable: 502 }[r.kind];
}

/** "host:port" or "[v6]:port" from a CONNECT line. */
function authority(target: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:[\]]+):(\d+)$/.exec(target);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}

/** `first`: what the HTTP parser read past the CONNECT request (a client that did not wait). */
export async function handleConnect<C>(proxy: SessionProxy<C>, req: http.IncomingMessage, socket: net.Socket, first?: Buffer): Promise<void> {
  socket.on('error', () => socket.destroy());
  const client = proxy.clientFromHeader(req.headers['proxy-authorization']);
  if (client === undefined) return void socket.end(status(407, AUTH_NEEDED, CHALLENGE));
  if (proxy.isOverCap(socket)) {
    proxy.log(`proxy: ${proxy.overCapMessage()}`);
    return void socket.end(status(503, proxy.overCapMessage()));
  }
  const target = authority(req.url ?? '');
  if (!target) return void socket.end(status(400, `nono proxy: CONNECT needs host:port, got ${JSON.stringify(req.url)}`));
  // The head of the tunnel may already be here (a client that did not wait for the 200).
  const head: Buffer[] = first?.length ? [first] : [];
  const early = (d: Buffer) => head.push(d);
  socket.on('data', early);
  socket.pause();
  const gone = new AbortController();
  socket.once('close', () => gone.abort());
  try {
    const upstream = await proxy.open(client, target.host, target.port, 'http-connect', gone.signal);
    if (socket.destroyed) return void upstream.destroy();
    socket.off('data', early);
    proxy.splice(socket, upstream, Buffer.concat(head), 'HTTP/1.1 200 Connection Established\r\n\r\n');
  } catch (e) {
    const r = e instanceof ProxyRefusal ? e : new ProxyRefusal((e as Error).message, 'unreachable');
    if (!socket.destroyed) socket.end(status(refusalCode(r), r.message));
  }
}

export async function handlePlainRequest<C>(proxy: SessionProxy<C>, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const reply = (code: number, body: string, headers: Record<string, string> = {}) => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...headers });
    res.end(`${body}\n`);
  };
  const client = proxy.clientFromHeader(req.headers['proxy-authorization']);
  if (client === undefined) return reply(407, AUTH_NEEDED, { 'proxy-authenticate': 'Basic realm="nono"' });
  if (proxy.isOverCap(req.socket)) return reply(503, proxy.overCapMessage());
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    return reply(400, `nono proxy: expected an absolute http:// URL (this is a proxy), got ${JSON.stringify(req.url)}`);
  }
  if (url.protocol !== 'http:') return reply(400, `nono proxy: only http:// URLs are forwarded as requests; ${url.protocol} goes through CONNECT`);
  const port = url.port ? Number(url.port) : 80;
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  let upstream: net.Socket;
  try {
    upstream = await proxy.open(client, url.hostname, port, 'http', gone.signal);
  } catch (e) {
    const r = e instanceof ProxyRefusal ? e : new ProxyRefusal((e as Error).message, 'unreachable');
    return reply(refusalCode(r), r.message);
  }
  if (gone.signal.aborted) return void upstream.destroy();
  const headers: http.OutgoingHttpHeaders = {};
  const listed = new Set(String(req.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && !listed.has(k) && v !== undefined) headers[k] = v;
  headers.connection = 'close'; // one upstream connection per request
  const out = http.request({ createConnection: () => upstream, method: req.method, path: `${url.pathname}${url.search}`, headers, setHost: false });
  out.on('response', (up) => {
    const back: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) back[k] = v;
    res.writeHead(up.statusCode ?? 502, up.statusMessage, back);
    up.pipe(res);
    up.on('error', () => res.destroy());
  });
  out.on('error', (e) => reply(502, `nono proxy: ${url.host}: ${e.message}`));
  res.once('close', () => {
    if (!res.writableFinished) out.destroy();
  });
  req.pipe(out);
}

export function refuseUpgrade(socket: net.Socket): void {
  socket.end(status(501, 'nono proxy: protocol upgrades on plain HTTP are not forwarded; use CONNECT (wss:// does)'));
}
