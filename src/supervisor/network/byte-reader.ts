// Reads exact byte counts from a socket for a binary handshake (SOCKS5), with a deadline, and
// hands back whatever arrived beyond the handshake so the tunnel can forward it.
import type net from 'node:net';

export class HandshakeError extends Error {}

export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    this.settle();
  };
  private readonly onEnd = () => this.fail(new HandshakeError('the client closed the connection during the handshake'));
  private readonly onError = (e: Error) => this.fail(new HandshakeError(`the client connection failed: ${e.message}`));

  constructor(private readonly socket: net.Socket, first: Buffer) {
    this.buf = first;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.resume(); // it was paused after the first chunk was sniffed
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failure);
  }

  private settle(): void {
    const w = this.waiting;
    if (!w || this.buf.length < w.n) return;
    this.waiting = undefined;
    const out = this.buf.subarray(0, w.n);
    this.buf = this.buf.subarray(w.n);
    w.resolve(out);
  }

  read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { n, resolve, reject };
      this.settle();
    });
  }

  /** Stops reading; returns the bytes that came after the handshake. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.pause();
    return this.buf;
  }
}
