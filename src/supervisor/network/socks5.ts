// The SOCKS5 side of the session proxy (RFC 1928, with RFC 1929 username/password): the client
// names the host (domain, IPv4 or IPv6), the proxy decides and connects. Only CONNECT. The
// username/password is how the proxy knows which command is asking (the per-command credentials
// in ALL_PROXY=socks5h://user:token@127.0.0.1:PORT); a client that offers no credentials is
// refused, because a question must name the command and a refusal must reach its stderr.
import type net from 'node:net';
import { ByteReader, HandshakeError } from './byte-reader.js';

export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export interface SocksRequest {
  username: string;
  password: string;
  /** As sent: a domain name, or an address in text form. */
  host: string;
  port: number;
  /** Bytes the client sent after the request (optimistic data): forwarded once connected. */
  rest: Buffer;
}

const NO_ACCEPTABLE = 0xff;
const USERPASS = 0x02;

function ipv6Text(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(':');
}

/**
 * Reads the greeting, the credentials (answered with `authorised`'s verdict: the client waits for
 * that answer before it sends its request) and the request. On a protocol error, replies and throws.
 */
export async function readSocksRequest(socket: net.Socket, first: Buffer, authorised: (username: string, password: string) => boolean): Promise<SocksRequest> {
  const r = new ByteReader(socket, first);
  const [ver, nMethods] = await r.read(2);
  if (ver !== 5) throw new HandshakeError(`not SOCKS5 (version ${ver})`);
  const methods = await r.read(nMethods!);
  if (!methods.includes(USERPASS)) {
    socket.end(Buffer.from([5, NO_ACCEPTABLE]));
    throw new HandshakeError('the SOCKS client offered no username/password: use the ALL_PROXY URL nono set (socks5h://user:token@...)');
  }
  socket.write(Buffer.from([5, USERPASS]));
  const [authVer, uLen] = await r.read(2);
  if (authVer !== 1) throw new HandshakeError(`bad SOCKS auth version ${authVer}`);
  const username = (await r.read(uLen!)).toString('latin1');
  const [pLen] = await r.read(1);
  const password = (await r.read(pLen!)).toString('latin1');
  if (!authorised(username, password)) {
    socket.end(Buffer.from([1, 1]));
    throw new HandshakeError('wrong SOCKS credentials: only commands of this nono session may use its proxy');
  }
  socket.write(Buffer.from([1, 0]));

  const [v, cmd, , atyp] = await r.read(4);
  if (v !== 5) throw new HandshakeError(`bad SOCKS request version ${v}`);
  let host: string;
  if (atyp === 1) host = [...(await r.read(4))].join('.');
  else if (atyp === 4) host = ipv6Text(await r.read(16));
  else if (atyp === 3) {
    const [len] = await r.read(1);
    host = (await r.read(len!)).toString('latin1');
  } else {
    socket.end(socksReply(SOCKS_REPLY.addressTypeNotSupported));
    throw new HandshakeError(`SOCKS address type ${atyp} is not supported`);
  }
  const port = (await r.read(2)).readUInt16BE(0);
  const request = { username, password, host, port };
  if (cmd !== 1) {
    socket.end(socksReply(SOCKS_REPLY.commandNotSupported));
    throw new HandshakeError(`SOCKS command ${cmd} is not supported (only CONNECT)`);
  }
  return { ...request, rest: r.detach() };
}

/** A request reply; the bound address is not meaningful for a proxy that resolves for the client. */
export function socksReply(code: number): Buffer {
  return Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}
