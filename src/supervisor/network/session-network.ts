// The proxy side of one session, as the supervisor sees it: each command is enrolled when it
// starts (its own credentials, the variables for its environment) and retired when it ends.
import type { ProxyEnv } from '../command-env.js';
import type { AuditLog } from '../audit-log.js';
import type { DenialHandler } from '../denial-handler.js';
import type { NetworkPolicy } from '../../policy/resolved-policy.js';
import { HostGate } from './host-gate.js';
import { ProxyClients, type ProxyClient } from './proxy-clients.js';
import type { SessionProxy } from './proxy-server.js';

export interface Enrolled {
  env: ProxyEnv;
  /** The command finished (or its nono-shell went away): withdraw its questions, drop its relay. */
  end(): void;
}

export class SessionNetwork {
  private readonly clients = new ProxyClients();
  readonly gate: HostGate;

  constructor(
    readonly proxy: SessionProxy<ProxyClient>,
    network: NetworkPolicy,
    o: { denials?: DenialHandler; audit?: AuditLog; questionTimeoutMs?: number; log: (line: string) => void },
  ) {
    this.gate = new HostGate({ allow: network.domains, deny: network.denyDomains, denials: o.denials, audit: o.audit, questionTimeoutMs: o.questionTimeoutMs, log: o.log });
    proxy.serve({ authenticate: (u, p) => this.clients.authenticate(u, p), gate: this.gate }, o.log);
  }

  get port(): number {
    return this.proxy.port;
  }

  enroll(c: { seq: number; command: string; cwd: string; say(line: string): Promise<void> }, directPorts: readonly number[]): Enrolled {
    const ended = new AbortController();
    const { client, username, token } = this.clients.add({ ...c, ended: ended.signal });
    const at = `${username}:${token}@127.0.0.1:${this.proxy.port}`;
    return {
      env: { httpUrl: `http://${at}`, socksUrl: `socks5h://${at}`, directPorts },
      end: () => {
        ended.abort();
        this.clients.retire(client);
      },
    };
  }

  close(): Promise<void> {
    return this.proxy.close();
  }
}
