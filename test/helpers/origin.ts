// A loopback HTTP "origin" server for proxy tests: counts requests, echoes bodies, streams
// large bodies without holding them in memory, and answers a raw TCP echo after the client's
// half-close. Only ever on loopback (the workplace rule: no traffic to other addresses).
import http from 'node:http';
import net from 'node:net';

export interface Origin {
  port: number;
  requests: Array<{ method: string; url: string; host: string | undefined }>;
  close(): Promise<void>;
}

export function startOrigin(host = '127.0.0.1'): Promise<Origin> {
  const requests: Origin['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, host: req.headers.host });
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/echo') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    if (url.pathname === '/bytes') {
      // n bytes of a repeating pattern, written as the socket drains.
      let left = Number(url.searchParams.get('n') ?? 0);
      const chunk = Buffer.alloc(64 * 1024, 'nono');
      res.writeHead(200, { 'content-length': String(left) });
      const pump = () => {
        while (left > 0) {
          const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
          left -= piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from origin ${req.method} ${req.url}\n`);
  });
  return new Promise((resolve) =>
    server.listen(0, host, () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        requests,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      }),
    ),
  );
}

/** Raw TCP: collects everything until the client's FIN, then answers "got N bytes" and closes. */
export function startHalfCloseEcho(host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (d) => (n += d.length));
    s.on('end', () => setTimeout(() => s.end(`got ${n} bytes\n`), 50));
    s.on('error', () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve({ port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) })),
  );
}
