// Reaching the host a command asked for: the supervisor resolves the name (the command never
// does: it only talks to the proxy), refuses addresses that would turn the proxy against this
// machine, and connects, trying each address in turn.
import dns from 'node:dns';
import net from 'node:net';
import { canonicalIp, hostPort } from '../../policy/host-pattern.js';

export interface Address {
  address: string;
  family: 4 | 6;
}

export type Lookup = (host: string) => Promise<Address[]>;

export class UpstreamError extends Error {
  constructor(message: string, readonly kind: 'refused-by-policy' | 'resolve' | 'unreachable' | 'refused' | 'timeout') {
    super(message);
  }
}

/** getaddrinfo, as every program on this machine would resolve (/etc/hosts, then DNS). */
export const systemLookup: Lookup = async (host) => {
  const list = await dns.promises.lookup(host, { all: true, verbatim: true });
  return list.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** A fixed name -> addresses map consulted first (tests; a session's explicit mapping). */
export function lookupWith(hosts: Record<string, string[]>, fallback: Lookup = systemLookup): Lookup {
  return async (host) => {
    const fixed = hosts[host];
    if (!fixed) return fallback(host);
    return fixed.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
  };
}

/** This machine, whatever the spelling: 127.0.0.0/8, ::1, and the unspecified addresses. */
export function isLoopback(address: string): boolean {
  const ip = canonicalIp(address);
  if (!ip) return false;
  return ip.startsWith('127.') || ip === '0.0.0.0' || ip === '::1' || ip === '::';
}

/** Names that mean this machine by definition (RFC 6761), so reaching loopback through them is what was asked. */
export function isLoopbackName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || isLoopback(host);
}

export interface ResolveOptions {
  lookup: Lookup;
  /** Names whose loopback answers are trusted (the fixed map's names). */
  trustedNames: ReadonlySet<string>;
  proxyPort: number;
}

/**
 * The addresses to try for host:port, or an UpstreamError saying why none may be used. The proxy's
 * own port on this machine is refused under any name; a name that is not a loopback name but
 * resolves to loopback is refused too (DNS rebinding would otherwise reach local services that
 * the profile did not open).
 */
export async function resolveUpstream(host: string, port: number, o: ResolveOptions): Promise<Address[]> {
  const literal = canonicalIp(host);
  let addresses: Address[];
  if (literal) {
    addresses = [{ address: literal, family: net.isIPv6(literal) ? 6 : 4 }];
  } else if ((host === 'localhost' || host.endsWith('.localhost')) && !o.trustedNames.has(host)) {
    // RFC 6761: these names are this machine, whatever a resolver says (most do not know *.localhost).
    addresses = [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }];
  } else {
    try {
      addresses = await o.lookup(host);
    } catch (e) {
      throw new UpstreamError(`cannot resolve ${host} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 'resolve');
    }
    if (!addresses.length) throw new UpstreamError(`cannot resolve ${host} (no address)`, 'resolve');
  }
  if (port === o.proxyPort && addresses.some((a) => isLoopback(a.address))) {
    throw new UpstreamError(`${hostPort(host, port)} is nono's own proxy`, 'refused-by-policy');
  }
  if (!isLoopbackName(host) && !o.trustedNames.has(host)) {
    const local = addresses.find((a) => isLoopback(a.address));
    if (local) {
      throw new UpstreamError(
        `${host} resolves to ${local.address}, this machine; reach local services as localhost:PORT (allow_domains "localhost:PORT")`,
        'refused-by-policy',
      );
    }
  }
  return addresses;
}

/** Connects to the first address that answers; each attempt is bounded. */
export async function connectUpstream(addresses: Address[], port: number, timeoutMs: number): Promise<net.Socket> {
  let last: UpstreamError | undefined;
  for (const a of addresses) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host: a.address, port, family: a.family, allowHalfOpen: true });
        const timer = setTimeout(() => {
          s.destroy();
          reject(new UpstreamError(`${hostPort(a.address, port)}: no answer within ${timeoutMs / 1000} s`, 'timeout'));
        }, timeoutMs);
        s.once('connect', () => {
          clearTimeout(timer);
          s.removeAllListeners('error');
          resolve(s);
        });
        s.once('error', (e: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          reject(new UpstreamError(`${hostPort(a.address, port)}: ${e.code ?? e.message}`, e.code === 'ECONNREFUSED' ? 'refused' : 'unreachable'));
        });
      });
    } catch (e) {
      last = e as UpstreamError;
    }
  }
  throw last ?? new UpstreamError('no address to connect to', 'unreachable');
}
