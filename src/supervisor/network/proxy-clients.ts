// Which command a proxy connection belongs to. Each command gets its own random token, put in
// the proxy URLs of its environment (http://nono:TOKEN@127.0.0.1:PORT); the proxy accepts nothing
// else. Chosen over a port per command because one port keeps one Landlock ruleset for the whole
// session (no ruleset per command on the spawn path), and over reading /proc to find a socket's
// owner because a token names the command even for a daemonised grandchild. Other commands
// cannot read the token: each runs in its own Landlock domain, which cannot read another domain's
// /proc/PID/environ.
import crypto from 'node:crypto';
import { PROXY_USER } from './proxy-server.js';

export interface ProxyClient {
  seq: number;
  /** As the agent ran it, for the question. */
  command: string;
  cwd: string;
  /** One line on the command's stderr (the agent reads it). */
  say(line: string): Promise<void>;
  /** Aborted when the command has finished (or its nono-shell went away): no more questions. */
  ended: AbortSignal;
  /** Hosts allowed "once": for this command's lifetime. */
  once: Set<string>;
  /** Hosts refused to this command, with the reason given (asked once, refused quietly after). */
  refused: Map<string, string>;
  /** Denial keys asked about for this command (DenialHandler's loop guard). */
  asked: Set<string>;
  /** Audit records already written ("allowed|host|port"), so a busy command logs each host once. */
  reported: Set<string>;
}

export class ProxyClients {
  private readonly byToken = new Map<string, ProxyClient>();

  /** Registers a command; returns its credentials. */
  add(c: Omit<ProxyClient, 'once' | 'refused' | 'asked' | 'reported'>): { client: ProxyClient; username: string; token: string } {
    const token = crypto.randomBytes(16).toString('hex');
    const client: ProxyClient = { ...c, once: new Set(), refused: new Map(), asked: new Set(), reported: new Set() };
    this.byToken.set(token, client);
    return { client, username: PROXY_USER, token };
  }

  authenticate(username: string, token: string): ProxyClient | undefined {
    return username === PROXY_USER ? this.byToken.get(token) : undefined;
  }

  /**
   * The command finished: processes it left running keep their credentials (a backgrounded
   * download still reaches its allowed hosts) but nothing of the command (its stderr relay) is
   * held any more, and an unlisted host is refused without a question.
   */
  retire(client: ProxyClient): void {
    client.say = async () => {};
    client.asked.clear();
  }

  get size(): number {
    return this.byToken.size;
  }
}
