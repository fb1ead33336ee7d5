// How a session's commands reach the network, decided once at the start:
//   open     --allow-net / "block": false: all TCP, directly, no proxy
//   proxy    TCP only to the session proxy (plus allow_tcp_connect ports on loopback); hosts by
//            the lists, a new host is a question
//   blocked  no TCP at all (except allow_tcp_connect ports), no proxy
// The default (TCP not opened, no hosts listed) is the proxy, so that every host is a question,
// but only when the native connect check is in this build: Landlock's port rules cannot tell
// addresses apart, so without it the proxy's port would be reachable on every host of the
// internet. Then the session stays blocked unless the person listed hosts, in which case the
// proxy runs and nono says, every time, that its port is not bound to loopback.
import type { NetworkPolicy } from '../../policy/resolved-policy.js';

export type NetworkMode =
  | { kind: 'open' }
  | { kind: 'blocked'; why: string }
  | { kind: 'proxy'; guarded: boolean };

export interface ModeInputs {
  abi: number;
  /** The addon can check each connect's destination (seccomp user notification). */
  guard: boolean;
  /** The caller opened a proxy listener for this session. */
  proxy: boolean;
}

export interface ModeChoice {
  mode: NetworkMode;
  /** Shown at every start, verbose or not: the person is relying on something that is weaker. */
  notices: string[];
}

export function chooseNetworkMode(net: NetworkPolicy, o: ModeInputs): ModeChoice {
  const hosts = net.domains.map((d) => d.pattern);
  if (!net.blockTcp) return { mode: { kind: 'open' }, notices: [] };
  if (o.abi < 4) {
    const notices = hosts.length ? [`allow_domains (${hosts.join(', ')}) cannot be enforced: Landlock ABI ${o.abi} does not restrict TCP (needs 4), so the network is open`] : [];
    return { mode: { kind: 'open' }, notices };
  }
  if (!o.proxy) {
    const notices = hosts.length ? [`allow_domains (${hosts.join(', ')}) not used: this session has no proxy, TCP stays blocked`] : [];
    return { mode: { kind: 'blocked', why: 'no proxy in this session' }, notices };
  }
  if (o.guard) return { mode: { kind: 'proxy', guarded: true }, notices: [] };
  if (!hosts.length) {
    return { mode: { kind: 'blocked', why: "this build has no native connect check, so the proxy's port could be reached on any host; TCP stays blocked until hosts are listed (--allow-domain)" }, notices: [] };
  }
  return {
    mode: { kind: 'proxy', guarded: false },
    notices: [
      "warning: this build has no native connect check: commands can reach the proxy's port number on any host, not only on loopback (Landlock rules know ports, not addresses)",
    ],
  };
}
