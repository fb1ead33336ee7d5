// A stand-in for the supervisor, for tests of nono-shell's side of the socket: a real Unix stream
// socket that records the client's frames and answers (or stalls) as each test scripts it. The
// real supervisor never misbehaves on purpose; this is how a test makes it stall, answer late, or
// send replies at the edges of what the wire allows.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface FakeConn {
  socket: net.Socket;
  frames: Array<Record<string, unknown>>;
  closed: boolean;
}

export interface FakeSupervisor {
  socketPath: string;
  conns: FakeConn[];
  /** Every frame from every connection, in arrival order. */
  frames(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export function frame(payload: unknown): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32LE(body.length);
  return Buffer.concat([hdr, body]);
}

/**
 * Listens at `dir/fake.sock`. `onFrame` sees each parsed frame with its connection. With
 * `readNothing`, connections are accepted but never read (a supervisor whose event loop is stuck).
 */
export async function startFakeSupervisor(
  dir: string,
  opts: { onFrame?: (conn: FakeConn, f: Record<string, unknown>) => void; readNothing?: boolean } = {},
): Promise<FakeSupervisor> {
  const socketPath = path.join(dir, `fake-${process.pid}-${Math.random().toString(36).slice(2, 8)}.sock`);
  const conns: FakeConn[] = [];
  const server = net.createServer({ pauseOnConnect: Boolean(opts.readNothing) }, (socket) => {
    const conn: FakeConn = { socket, frames: [], closed: false };
    conns.push(conn);
    socket.on('error', () => {});
    socket.on('close', () => (conn.closed = true));
    let buf = Buffer.alloc(0);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
        const n = buf.readUInt32LE(0);
        const f = JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as Record<string, unknown>;
        buf = buf.subarray(4 + n);
        conn.frames.push(f);
        opts.onFrame?.(conn, f);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    conns,
    frames: () => conns.flatMap((c) => c.frames),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) c.socket.destroy();
        server.close(() => {
          fs.rmSync(socketPath, { force: true });
          resolve();
        });
      }),
  };
}
