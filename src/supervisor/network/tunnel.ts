// Joins the command's connection and the upstream one, byte for byte (TLS passes through
// untouched). Streams with backpressure (pipe), keeps half-closes (a client that shuts down its
// sending side still gets the whole answer), and ends both sides on an error or a long silence.
import type net from 'node:net';

export function tunnel(client: net.Socket, upstream: net.Socket, idleMs: number, onClose: () => void): void {
  let closed = false;
  // Both ended normally: plain close. An error or the idle timeout: both peers get a reset (a FIN
  // would make a cut-off transfer look complete to a peer that reads until EOF), as in the native
  // relay (tunnel_relay.c).
  const close = (abort: boolean) => {
    if (closed) return;
    closed = true;
    for (const s of [client, upstream]) {
      if (abort && !s.destroyed) s.resetAndDestroy();
      else s.destroy();
    }
    onClose();
  };
  const abort = () => close(true);
  for (const s of [client, upstream]) {
    s.setNoDelay(true);
    s.setTimeout(idleMs, abort);
    s.on('error', abort);
    s.on('close', () => {
      // Both directions ended normally: tear down once the other side is done too.
      if (client.destroyed && upstream.destroyed) close(false);
      else if (s.destroyed && !(s.readableEnded && s.writableFinished)) abort();
    });
  }
  // pipe() ends the destination when the source ends (a FIN passed on), and both sockets were made
  // with allowHalfOpen, so the other direction keeps flowing until its own end.
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}
