// Handing an approved tunnel from Node to the native relay (shim/addon/tunnel_relay.c), which
// moves its bytes with splice(2) and never copies them through JS: the Node pipe (tunnel.ts)
// reached about 0.4x of a direct download. The handoff happens in one JS turn, after the
// success reply has reached the kernel, and loses nothing: whatever Node already read from either
// socket goes to the relay to be written first, and Node's sockets are then destroyed without a
// shutdown (the relay holds duplicates, so the connections stay up).
import type net from 'node:net';
import { loadAddon, type NativeAddon } from '../../native/addon.js';

let cached: NativeAddon | null | undefined;

/** The addon when it has the relay (Linux builds), else undefined: the Node pipe is used. */
export function nativeRelay(): NativeAddon | undefined {
  if (cached === undefined) {
    try {
      const a = loadAddon();
      cached = typeof a.relayStart === 'function' ? a : null;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}

/** The socket's descriptor (libuv's TCP handle on Unix), or -1. */
function fdOf(s: net.Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** Everything Node has read from the socket but nobody consumed yet (the socket is paused). */
function drain(s: net.Socket): Buffer[] {
  const out: Buffer[] = [];
  for (let c: Buffer | null; (c = s.read() as Buffer | null) !== null; ) out.push(c);
  return out;
}

export interface Handoff {
  /** Sent to the client before anything else (the 200 / SOCKS success reply). */
  reply: Buffer | string;
  /** Bytes of the tunnel that came with the request, to send upstream first. */
  head: Buffer;
  idleMs: number;
  /** The relay is running (its id), and Node's sockets are gone. */
  started(id: number): void;
  /** The relay ended (null: both sides closed normally). */
  done(id: number, reason: string | null): void;
  /** The relay could not take over: carry on in Node with these bytes still to deliver. */
  fallback(toClient: Buffer, toUpstream: Buffer): void;
}

export function handOff(addon: NativeAddon, client: net.Socket, upstream: net.Socket, h: Handoff): void {
  client.write(h.reply, (err) => {
    // Everything below runs in this one callback: no data event can slip in between.
    if (err || client.destroyed || upstream.destroyed) {
      client.destroy();
      upstream.destroy();
      return;
    }
    const toUpstream = Buffer.concat([h.head, ...drain(client)]);
    const toClient = Buffer.concat(drain(upstream));
    const fdC = fdOf(client);
    const fdU = fdOf(upstream);
    let id: number;
    try {
      if (fdC < 0 || fdU < 0) throw new Error('no descriptor');
      id = addon.relayStart(fdC, fdU, toClient, toUpstream, h.idleMs, (reason) => h.done(id, reason));
    } catch {
      return h.fallback(toClient, toUpstream);
    }
    h.started(id);
    client.destroy();
    upstream.destroy();
  });
}
