// Host patterns for network.allow_domains / deny_domains and --allow-domain: what one entry means,
// and which entry decides a host. One grammar for the schema, the proxy and `explain --host`:
//   example.com          exactly that name (any port)
//   *.example.com        any name below example.com (not example.com itself), any depth
//   127.0.0.1, [::1]     an IP literal: allowed only when listed, like any other host
//   any of those:PORT    only that port (IPv6 literals need brackets for a port: [::1]:8080)
// Names are compared lower-case, without a trailing dot; IP literals in their canonical form
// (so 0x7f.1 or ::ffff:127.0.0.1 are the same host as 127.0.0.1).
import net from 'node:net';

export interface HostPattern {
  kind: 'name' | 'wildcard' | 'ip';
  /** Canonical host: the name (for a wildcard, the part after "*."), or the address. */
  host: string;
  port?: number;
  /** As written, for messages. */
  text: string;
}

/** A pattern with where it came from ("profile default: network.allow_domains", "--allow-domain"). */
export interface DomainRule {
  pattern: string;
  source: string;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Canonical form of an IP literal, or undefined when `s` is not one. */
export function canonicalIp(s: string): string | undefined {
  const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (net.isIPv4(bare)) return bare.split('.').map((n) => String(Number(n))).join('.');
  if (!net.isIPv6(bare)) return undefined;
  // The URL parser compresses IPv6; a v4-mapped address is the IPv4 host it maps to.
  const v6 = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return v6;
}

/**
 * The canonical host a client asked for (from CONNECT, an absolute URI, or SOCKS), or an error.
 * Numeric forms the URL parser accepts (0x7f.1, 2130706433) become dotted IPv4, so a listed
 * name cannot be dodged by spelling an address differently.
 */
export function canonicalHost(raw: string): { host: string } | { error: string } {
  const s = raw.trim().replace(/\.$/, '');
  if (!s) return { error: 'an empty host name' };
  const ip = canonicalIp(s);
  if (ip) return { host: ip };
  if (s.includes(':') || s.includes('[')) return { error: `${JSON.stringify(raw)} is not a host name or an IP address` };
  let parsed: string;
  try {
    parsed = new URL(`http://${s}/`).hostname;
  } catch {
    return { error: `${JSON.stringify(raw)} is not a host name` };
  }
  const asIp = canonicalIp(parsed);
  if (asIp) return { host: asIp };
  const labels = parsed.split('.');
  if (parsed.length > 253 || !labels.every((l) => LABEL.test(l))) return { error: `${JSON.stringify(raw)} is not a host name` };
  return { host: parsed };
}

/** Parses one entry; throws an Error whose message says what is wrong and what is accepted. */
export function parseHostPattern(text: string): HostPattern {
  const fail = (why: string): never => {
    throw new Error(`${JSON.stringify(text)}: ${why} (expected a host name, *.domain, an IP address, [IPv6], optionally :PORT)`);
  };
  let hostPart = text.trim();
  let port: number | undefined;
  const portMatch = /^(.*[^:]):(\d+)$/.exec(hostPart);
  // "::1" alone is an IPv6 address, not host ":" port "1": a port needs brackets around IPv6.
  if (portMatch && !(portMatch[1]!.includes(':') && !portMatch[1]!.startsWith('['))) {
    hostPart = portMatch[1]!;
    port = Number(portMatch[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`port ${portMatch[2]} is not between 1 and 65535`);
  }
  if (hostPart === '*') fail('"*" would allow every host; use --allow-net (all TCP) or list the hosts');
  if (hostPart.startsWith('*.')) {
    const rest = canonicalHost(hostPart.slice(2));
    if ('error' in rest) return fail(rest.error);
    if (canonicalIp(rest.host)) fail('a wildcard takes a domain, not an IP address');
    if (!rest.host.includes('.') && rest.host !== 'localhost') fail(`"*.${rest.host}" would match a whole top-level domain`);
    return { kind: 'wildcard', host: rest.host, port, text };
  }
  if (hostPart.includes('*')) fail('"*" is only allowed as the first label ("*.example.com")');
  const c = canonicalHost(hostPart);
  if ('error' in c) return fail(c.error);
  return { kind: canonicalIp(c.host) ? 'ip' : 'name', host: c.host, port, text };
}

export function matches(p: HostPattern, host: string, port: number): boolean {
  if (p.port !== undefined && p.port !== port) return false;
  return p.kind === 'wildcard' ? host.endsWith(`.${p.host}`) : host === p.host;
}

export type HostVerdict =
  | { verdict: 'allow'; rule: DomainRule }
  | { verdict: 'deny'; rule: DomainRule }
  | { verdict: 'ask' };

/** deny_domains wins over allow_domains; a host on neither list is a question. `host` is canonical. */
export function decideHost(host: string, port: number, allow: readonly DomainRule[], deny: readonly DomainRule[]): HostVerdict {
  const hit = (rules: readonly DomainRule[]) => rules.find((r) => matches(parseHostPattern(r.pattern), host, port));
  const denied = hit(deny);
  if (denied) return { verdict: 'deny', rule: denied };
  const allowed = hit(allow);
  return allowed ? { verdict: 'allow', rule: allowed } : { verdict: 'ask' };
}

/** "host:port" for messages, with brackets around IPv6. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
