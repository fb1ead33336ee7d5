// macOS, simulated like the rest of macOS here: in proxy mode the SBPL a command runs under lets
// it reach only nono's proxy on loopback (and allow_tcp_connect ports, on loopback only). Checked
// with the SBPL evaluator and against a golden file (UPDATE_GOLDEN=1 rewrites it).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveProfile } from '../src/policy/resolve-profile.js';
import { compileSeatbelt } from '../src/policy/seatbelt-compiler.js';
import { decide, parseSbpl } from '../src/policy/sbpl-eval.js';
import { root } from './helpers/paths.js';

const mac = { home: '/Users/alice', workdir: '/Users/alice/src/app', tmpdir: '/private/tmp/nono-501/SESSION/tmp', platform: 'darwin' as const, userProfileDir: '/nonexistent' };
const PROXY = 41000;

function proxied(extra: { tcpConnect?: number[] } = {}) {
  const p = resolveProfile('default', { ...mac, cli: { allowDomains: ['registry.npmjs.org'] } });
  return { ...p, network: { ...p.network, tcpConnect: extra.tcpConnect ?? [], proxyPort: PROXY } };
}

const remote = (host: string, port: number) => ({ remote: { proto: 'tcp' as const, host, port } });

describe('Seatbelt in proxy mode', () => {
  it('reaches only the proxy on loopback; the same port on another host and every other port are denied', () => {
    const { sbpl, rules } = compileSeatbelt(proxied(), { tag: 'nono', target: 'command' });
    expect(sbpl).toContain(`(allow network-outbound (remote tcp "localhost:${PROXY}"))`);
    expect(decide(rules, 'network-outbound', remote('127.0.0.1', PROXY))).toMatchObject({ allowed: true, rule: { id: 'net-proxy' } });
    expect(decide(rules, 'network-outbound', remote('203.0.113.9', PROXY))).toMatchObject({ allowed: false, rule: { id: 'net-block' } });
    expect(decide(rules, 'network-outbound', remote('127.0.0.1', 443)).allowed).toBe(false);
    // The golden text decides the same once parsed back.
    expect(decide(parseSbpl(sbpl), 'network-outbound', remote('203.0.113.9', PROXY)).allowed).toBe(false);
  });

  it('allow_tcp_connect ports become loopback-only: remote hosts go through the proxy', () => {
    const { rules } = compileSeatbelt(proxied({ tcpConnect: [5432] }), { tag: 'nono', target: 'command' });
    expect(decide(rules, 'network-outbound', remote('::1', 5432))).toMatchObject({ allowed: true, rule: { id: 'net-connect' } });
    expect(decide(rules, 'network-outbound', remote('198.51.100.7', 5432)).allowed).toBe(false);
    // Without the proxy the port is open to any host, as Landlock's port rules are.
    const plain = resolveProfile('default', mac);
    const open = compileSeatbelt({ ...plain, network: { ...plain.network, tcpConnect: [5432] } }, { tag: 'nono', target: 'command' });
    expect(decide(open.rules, 'network-outbound', remote('198.51.100.7', 5432)).allowed).toBe(true);
  });

  it('the agent is not proxied: its own network section is unchanged', () => {
    const { sbpl } = compileSeatbelt(proxied(), { tag: 'nono', target: 'agent' });
    expect(sbpl).not.toContain(`localhost:${PROXY}`);
  });

  it('matches the golden file test/golden/proxy-default-command.sb', () => {
    const { sbpl } = compileSeatbelt(proxied({ tcpConnect: [5432] }), { tag: 'nono', target: 'command' });
    const golden = path.join(root, 'test', 'golden', 'proxy-default-command.sb');
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(golden, sbpl);
    expect(sbpl).toBe(fs.readFileSync(golden, 'utf8'));
  });
});
