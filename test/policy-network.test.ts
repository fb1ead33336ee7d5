// The policy side of network-by-domain: the host pattern grammar and its decisions, the profile
// fields (allow_domains, deny_domains, the net_* groups, approvals), their errors, and
// `nono profile explain --host` as a user runs it.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalHost, decideHost, matches, parseHostPattern } from '../src/policy/host-pattern.js';
import { resolveProfile } from '../src/policy/resolve-profile.js';
import { PolicyError } from '../src/policy/resolved-policy.js';
import { chooseNetworkMode } from '../src/supervisor/network/network-mode.js';
import { cli } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let h: SandboxHome;
let dir: string;
beforeAll(() => {
  h = makeSandboxHome();
  dir = path.join(h.base, 'profiles');
  fs.mkdirSync(dir);
});
afterAll(() => h?.cleanup());

const resolve = (ref: string, extra: Partial<Parameters<typeof resolveProfile>[1]> = {}) =>
  resolveProfile(ref, { home: h.home, workdir: h.project, tmpdir: h.base, userProfileDir: dir, ...extra });
const profile = (name: string, body: unknown) => {
  const f = path.join(dir, `${name}.json`);
  fs.writeFileSync(f, JSON.stringify(body));
  return f;
};

describe('host patterns', () => {
  const m = (pattern: string, host: string, port = 443) => matches(parseHostPattern(pattern), canonicalHost(host) && (canonicalHost(host) as { host: string }).host, port);
  it('exact names, case and trailing dot ignored', () => {
    expect(m('Example.COM', 'example.com.')).toBe(true);
    expect(m('example.com', 'api.example.com')).toBe(false);
  });
  it('*.domain matches names below it, at any depth, not the domain itself', () => {
    expect(m('*.example.com', 'a.b.example.com')).toBe(true);
    expect(m('*.example.com', 'example.com')).toBe(false);
    expect(m('*.example.com', 'badexample.com')).toBe(false);
  });
  it('host:PORT matches only that port; IPv6 needs brackets for a port', () => {
    expect(m('example.com:8443', 'example.com', 8443)).toBe(true);
    expect(m('example.com:8443', 'example.com', 443)).toBe(false);
    expect(m('[::1]:8080', '::1', 8080)).toBe(true);
    expect(m('::1', '::1', 22)).toBe(true);
  });
  it('IP literals in any spelling are the same host', () => {
    expect(m('127.0.0.1', '2130706433')).toBe(true);
    expect(m('127.0.0.1', '0x7f.1')).toBe(true);
    expect(m('127.0.0.1', '::ffff:127.0.0.1')).toBe(true);
    expect(m('::1', '0:0:0:0:0:0:0:1')).toBe(true);
  });
  it('refuses what would be too broad or is not a host, saying what is accepted', () => {
    expect(() => parseHostPattern('*')).toThrow(/would allow every host; use --allow-net/);
    expect(() => parseHostPattern('*.com')).toThrow(/whole top-level domain/);
    expect(() => parseHostPattern('a.*.com')).toThrow(/only allowed as the first label/);
    expect(() => parseHostPattern('*.10.0.0.1')).toThrow(/not an IP address/);
    expect(() => parseHostPattern('exa mple.com')).toThrow(/not a host name/);
    expect(() => parseHostPattern('example.com:0')).toThrow(/between 1 and 65535/);
  });
  it('deny wins over allow; neither is a question', () => {
    const allow = [{ pattern: '*.example.com', source: 'a' }];
    const deny = [{ pattern: 'evil.example.com', source: 'd' }];
    expect(decideHost('evil.example.com', 443, allow, deny)).toEqual({ verdict: 'deny', rule: deny[0] });
    expect(decideHost('ok.example.com', 443, allow, deny)).toEqual({ verdict: 'allow', rule: allow[0] });
    expect(decideHost('other.org', 443, allow, deny)).toEqual({ verdict: 'ask' });
  });
});

describe('profiles', () => {
  it('allow_domains, deny_domains, --allow-domain and approvals, each with its source', () => {
    const f = profile('hosts', { extends: 'default', network: { allow_domains: ['api.example.com'], deny_domains: ['*.tracker.example'] } });
    const approvals = path.join(h.base, 'approvals.json');
    fs.writeFileSync(approvals, JSON.stringify({ network: { allow_domains: ['saved.example.org'] } }));
    const p = resolve(f, { approvalsFile: approvals, cli: { allowDomains: ['cli.example.net:8443'] } });
    expect(p.network.domains).toEqual([
      { pattern: 'api.example.com', source: `${f}: network.allow_domains` },
      { pattern: 'saved.example.org', source: `${approvals}: network.allow_domains` },
      { pattern: 'cli.example.net:8443', source: '--allow-domain' },
    ]);
    expect(p.network.denyDomains).toEqual([{ pattern: '*.tracker.example', source: `${f}: network.deny_domains` }]);
  });

  it('the registry groups are opt-in: none in default, the hosts when included', () => {
    expect(resolve('default').network.domains).toEqual([]);
    const f = profile('npm', { extends: 'default', groups: { include: ['net_npm', 'net_github'] } });
    const hosts = resolve(f).network.domains;
    expect(hosts).toContainEqual({ pattern: 'registry.npmjs.org', source: 'group net_npm' });
    expect(hosts).toContainEqual({ pattern: 'github.com', source: 'group net_github' });
  });

  it('errors name the file, the field and the reason', () => {
    const bad = profile('bad', { network: { allow_domains: ['ok.example.com', 'a*b.example.com'] } });
    expect(() => resolve(bad)).toThrow(new RegExp(`${bad}: invalid profile\\n  network.allow_domains.1: "a\\*b.example.com": "\\*" is only allowed as the first label`));
    const agent = profile('agent', { agent: { network: { allow_domains: ['x.example.com'] } } });
    expect(() => resolve(agent)).toThrow(PolicyError);
    expect(() => resolve(agent)).toThrow(/the agent process is not proxied/);
    expect(() => resolve('default', { cli: { allowDomains: ['*'] } })).toThrow(/--allow-domain "\*": "\*" would allow every host/);
  });
});

describe('network mode', () => {
  const net = (over: Partial<ReturnType<typeof resolve>['network']> = {}) => ({ ...resolve('default').network, ...over });
  const hosts = [{ pattern: 'a.example', source: 't' }];
  it('proxy when the native connect check is there, even with no host listed (every host a question)', () => {
    expect(chooseNetworkMode(net(), { abi: 7, guard: true, proxy: true }).mode).toEqual({ kind: 'proxy', guarded: true });
  });
  it('without the check: blocked with no hosts; with hosts, the proxy and a notice about the gap', () => {
    expect(chooseNetworkMode(net(), { abi: 7, guard: false, proxy: true }).mode.kind).toBe('blocked');
    const c = chooseNetworkMode(net({ domains: hosts }), { abi: 7, guard: false, proxy: true });
    expect(c.mode).toEqual({ kind: 'proxy', guarded: false });
    expect(c.notices[0]).toMatch(/no native connect check/);
  });
  it('--allow-net is all TCP, unproxied; ABI < 4 says the lists cannot be enforced', () => {
    expect(chooseNetworkMode(net({ blockTcp: false, domains: hosts }), { abi: 7, guard: true, proxy: true }).mode.kind).toBe('open');
    expect(chooseNetworkMode(net({ domains: hosts }), { abi: 3, guard: true, proxy: true }).notices[0]).toMatch(/cannot be enforced: Landlock ABI 3/);
  });
});

describe('nono profile explain --host', () => {
  const explain = (...args: string[]) => execa('node', [cli, 'profile', 'explain', ...args], { reject: false, stripFinalNewline: false, cwd: h.project, env: { HOME: h.home, XDG_CONFIG_HOME: path.join(h.home, '.config') } });
  it('says which entry decides, deny first, and what an unlisted host gets', async () => {
    const f = profile('explain', { extends: 'default', groups: { include: ['net_pypi'] }, network: { allow_domains: ['*.example.com'], deny_domains: ['evil.example.com'] } });
    const allowed = await explain('--host', 'files.pythonhosted.org', '-p', f);
    expect(allowed.stdout).toBe('files.pythonhosted.org:443: ALLOWED (commands, profile explain)\n  decided by: allow_domains "files.pythonhosted.org" [group net_pypi]\n  note: no port given: asked about 443 (entries with another :PORT do not apply)\n');
    const denied = await explain('--host', 'evil.example.com:80', '-p', f, '--json');
    expect(JSON.parse(denied.stdout)).toMatchObject({ host: 'evil.example.com', port: 80, verdict: 'denied', decidedBy: `deny_domains "evil.example.com" [${f}: network.deny_domains] (deny wins)` });
    const asked = await explain('--host', 'other.org', '-p', f);
    expect(asked.stdout).toContain('other.org:443: ASKED');
    expect(asked.stdout).toContain('`nono run --allow-domain other.org`');
    const bad = await explain('--host', 'a b', '-p', f);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('--host a b: "a b" is not a host name');
  });
});
