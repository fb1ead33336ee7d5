// A loopback HTTP server for the network benchmark, in its own process (so the proxy under test
// does not share an event loop with it): GET /bytes?n=N streams N bytes. Prints its port.
import http from 'node:http';

const chunk = Buffer.alloc(256 * 1024, 'nono');
const server = http.createServer((req, res) => {
  let left = Number(new URL(req.url, 'http://x').searchParams.get('n') ?? 0);
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
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.stdin.on('end', () => process.exit(0)).resume();
