// `nono profile explain --host HOST[:PORT]`: would a command reach this host through the session
// proxy, and which entry decides it. The same decision the proxy makes (host-pattern.ts), on the
// resolved profile (approvals and session answers are not in it).
import { canonicalHost, decideHost, hostPort } from './host-pattern.js';
import { PolicyError, type NetworkPolicy } from './resolved-policy.js';

export interface HostAnswer {
  host: string;
  port: number;
  verdict: 'allowed' | 'denied' | 'asked' | 'direct';
  decidedBy: string;
  notes: string[];
}

/** "example.com", "example.com:8443", "[::1]:80", "::1". Without a port: 443 (HTTPS). */
export function parseHostArg(arg: string): { host: string; port: number; portGiven: boolean } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(arg) ?? (arg.split(':').length === 2 ? /^([^:]+):(\d+)$/.exec(arg) : null);
  const rawHost = m ? m[1]! : arg;
  const port = m?.[2] !== undefined ? Number(m[2]) : 443;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new PolicyError(`--host ${arg}: the port must be between 1 and 65535`);
  const c = canonicalHost(rawHost);
  if ('error' in c) throw new PolicyError(`--host ${arg}: ${c.error}`);
  return { host: c.host, port, portGiven: m?.[2] !== undefined };
}

export function explainHost(net: NetworkPolicy, arg: string): HostAnswer {
  const { host, port, portGiven } = parseHostArg(arg);
  const notes = portGiven ? [] : ['no port given: asked about 443 (entries with another :PORT do not apply)'];
  if (!net.blockTcp) {
    return { host, port, verdict: 'direct', decidedBy: 'network not blocked (--allow-net or "block": false): commands connect directly, unproxied; the host lists are not used', notes };
  }
  const v = decideHost(host, port, net.domains, net.denyDomains);
  if (v.verdict === 'deny') return { host, port, verdict: 'denied', decidedBy: `deny_domains "${v.rule.pattern}" [${v.rule.source}] (deny wins)`, notes };
  if (v.verdict === 'allow') return { host, port, verdict: 'allowed', decidedBy: `allow_domains "${v.rule.pattern}" [${v.rule.source}]`, notes };
  notes.push(`to allow it: \`nono run --allow-domain ${host}\` or "allow_domains": ["${host}"]`);
  return {
    host,
    port,
    verdict: 'asked',
    decidedBy: `not listed: ${hostPort(host, port)} is a question at the terminal (refused without one, or with --on-denial deny)`,
    notes,
  };
}
