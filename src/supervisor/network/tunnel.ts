// Joins the command's connection and the upstream one, byte for byte (TLS passes through
// untouched). Streams with backpressure (pipe), keeps half-closes (a client that shuts down its
// sending side still gets the whole answer), and ends both sides on an error or a long silence.
import type net from 'node:net';

export function tunnel(client: net.Socket, upstream: net.Socket, idleMs: number, onClose: () => void): void {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    client.destroy();
    upstream.destroy();
    onClose();
  };
  for (const s of [client, upstream]) {
    s.setNoDelay(true);
    s.setTimeout(idleMs, close);
    s.on('error', close);
    s.on('close', () => {
      // Both directions ended normally: tear down once the other side is done too.
      if (client.destroyed && upstream.destroyed) close();
      else if (s.destroyed && !(s.readableEnded && s.writableFinished)) close();
    });
  }
  // pipe() ends the destination when the source ends (a FIN passed on), and both sockets were made
  // with allowHalfOpen, so the other direction keeps flowing until its own end.
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}
