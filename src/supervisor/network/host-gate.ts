// The proxy's policy: is this command allowed to reach host:port? The lists decide first
// (deny_domains wins, then allow_domains and the session's answers, then the command's "once"
// answers); a host on neither list is a question, asked through the same DenialHandler as file
// denials (one question at a time for the whole session). While it is open, the connection
// waits, bounded. Without a terminal (or --on-denial deny) the answer is no: the client gets the
// reason (HTTP 403 body / SOCKS "not allowed") and the command's stderr gets the agent-readable
// line. Every host allowed or refused is in the audit log once per command.
import { hostPort, decideHost, type DomainRule } from '../../policy/host-pattern.js';
import type { AuditLog } from '../audit-log.js';
import type { DenialHandler } from '../denial-handler.js';
import { denialLine } from '../denial-handler.js';
import type { Denial, Grant } from '../denials/types.js';
import type { ProxyClient } from './proxy-clients.js';
import type { GateAnswer, HostRequest, ProxyGate } from './proxy-server.js';

export interface HostGateOptions {
  allow: readonly DomainRule[];
  deny: readonly DomainRule[];
  /** Asks, or (deny mode) only reports; undefined: refuse unlisted hosts with the line. */
  denials?: DenialHandler;
  audit?: AuditLog;
  /** How long a connection waits for an answer before it is refused (the question is withdrawn). */
  questionTimeoutMs?: number;
  log: (line: string) => void;
}

export function domainGrant(host: string): Grant {
  return { kind: 'domain', host, describe: `connections to ${host} (any port, through nono's proxy)` };
}

export class HostGate implements ProxyGate<ProxyClient> {
  /** Hosts allowed for the rest of the session ("session" and "always" answers). */
  private readonly sessionAllow: DomainRule[] = [];
  /** Open questions by host: later connections to the same host wait for the answer. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly timeoutMs: number;

  constructor(private readonly o: HostGateOptions) {
    this.timeoutMs = o.questionTimeoutMs ?? 120_000;
  }

  private record(c: ProxyClient, req: HostRequest<ProxyClient>, verdict: 'allowed' | 'refused', by: string): void {
    const key = `${verdict}|${req.host}|${req.port}`;
    if (c.reported.has(key)) return;
    c.reported.add(key);
    this.o.audit?.write({ type: 'host', seq: c.seq, host: req.host, port: req.port, verdict, by, protocol: req.protocol });
    this.o.log(`cmd ${c.seq}: proxy ${verdict} ${hostPort(req.host, req.port)} (${by})`);
  }

  /** `remember`: later connections of this command to the host are refused without a new line. */
  private async refuse(c: ProxyClient, req: HostRequest<ProxyClient>, by: string, line: string, remember = true): Promise<GateAnswer> {
    const first = !c.reported.has(`refused|${req.host}|${req.port}`);
    this.record(c, req, 'refused', by);
    if (remember) c.refused.set(req.host, line);
    if (first) await c.say(line);
    return { allow: false, reason: line };
  }

  /** What the lists and earlier answers say, or undefined: a question. */
  private quick(req: HostRequest<ProxyClient>): Promise<GateAnswer> | GateAnswer | undefined {
    const c = req.client;
    const v = decideHost(req.host, req.port, [...this.o.allow, ...this.sessionAllow], this.o.deny);
    if (v.verdict === 'deny') {
      const line = `nono: the connection to ${hostPort(req.host, req.port)} is refused by deny_domains "${v.rule.pattern}" (${v.rule.source}).`;
      return this.refuse(c, req, `deny_domains ${v.rule.pattern} [${v.rule.source}]`, line);
    }
    if (v.verdict === 'allow') {
      this.record(c, req, 'allowed', `allow_domains ${v.rule.pattern} [${v.rule.source}]`);
      return { allow: true };
    }
    if (c.once.has(req.host)) {
      this.record(c, req, 'allowed', 'allowed once for this command');
      return { allow: true };
    }
    const earlier = c.refused.get(req.host);
    if (earlier !== undefined) return { allow: false, reason: earlier };
    return undefined;
  }

  async decide(req: HostRequest<ProxyClient>, signal: AbortSignal): Promise<GateAnswer> {
    for (;;) {
      const known = this.quick(req);
      if (known) return known;
      const open = this.pending.get(req.host);
      if (!open) break;
      await open;
    }
    const asking = this.ask(req, signal);
    const settled = asking.catch(() => undefined);
    this.pending.set(req.host, settled);
    try {
      return await asking;
    } finally {
      if (this.pending.get(req.host) === settled) this.pending.delete(req.host);
    }
  }

  private async ask(req: HostRequest<ProxyClient>, signal: AbortSignal): Promise<GateAnswer> {
    const c = req.client;
    const denial: Denial = { op: 'connect', host: req.host, port: req.port, evidence: `${req.protocol} ${hostPort(req.host, req.port)}`, source: 'proxy' };
    const grant = domainGrant(req.host);
    if (!this.o.denials || c.ended.aborted) {
      const why = c.ended.aborted ? 'its command has finished' : 'no way to ask';
      return this.refuse(c, req, `not on the list (${why})`, denialLine(denial, grant));
    }
    // Withdrawn when the client gives up, the command ends, or nobody answers in time.
    const bounded = AbortSignal.any([signal, c.ended, AbortSignal.timeout(this.timeoutMs)]);
    const outcome = await this.o.denials.resolve({ seq: c.seq, command: c.command, cwd: c.cwd, asked: c.asked }, [denial], [grant], bounded);
    if (outcome.choice === 'deny') {
      if (bounded.aborted) {
        // Nobody said no: a later connection may ask again.
        c.asked.delete(`connect:host:${req.host}`);
        const why = signal.aborted ? 'the client closed the connection' : c.ended.aborted ? 'the command ended' : `no answer within ${this.timeoutMs / 1000} s`;
        this.record(c, req, 'refused', `question withdrawn: ${why}`);
        return { allow: false, reason: `${outcome.lines[0]} (the question was withdrawn: ${why})` };
      }
      return this.refuse(c, req, 'not on the list (denied)', outcome.lines[0]!);
    }
    if (outcome.choice === 'once') c.once.add(req.host);
    else this.sessionAllow.push({ pattern: req.host, source: outcome.choice === 'always' ? 'answered "always" (approvals.json)' : 'answered "allow for this session"' });
    this.record(c, req, 'allowed', `answered ${outcome.choice}`);
    return { allow: true };
  }

  refusedAfter(req: HostRequest<ProxyClient>, reason: string): void {
    void this.refuse(req.client, req, reason, `nono: refused a connection to ${hostPort(req.host, req.port)}: ${reason}.`, false);
  }
}
