/**
 * The Seatbelt compiler, checked without macOS: the emitted SBPL is evaluated by sbpl-eval's model
 * of Seatbelt (the last matching rule wins), both as rule objects and parsed back from the text, and
 * compared with a golden file. What this cannot show is that macOS agrees with the model; the
 * comments in seatbelt-compiler.ts say which parts of the SBPL semantics are assumed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveProfile } from '../src/policy/resolve-profile.js';
import { PolicyError, type Deny, type Grant, type NetworkPolicy, type ResolvedPolicy } from '../src/policy/resolved-policy.js';
import { compileSeatbelt, defaultSpellings, sandboxExecArgv, type SeatbeltOptions } from '../src/policy/seatbelt-compiler.js';
import { decide, isUnder, operationMatches, parseSbpl, type SeatbeltRule, type Subject } from '../src/policy/sbpl-eval.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden', 'representative.sb');
const H = '/Users/alice';
const W = `${H}/proj`;

const closed = (extra: Partial<NetworkPolicy> = {}): NetworkPolicy => ({ blockTcp: true, tcpConnect: [], tcpBind: [], domains: [], denyDomains: [], ...extra });
const open = (): NetworkPolicy => ({ blockTcp: false, tcpConnect: [], tcpBind: [], domains: [], denyDomains: [] });

const group = (p: string, access: Grant['access'], name: string, kind: Grant['kind'] = 'dir'): Grant => ({
  path: p,
  kind,
  access,
  source: `group ${name}`,
  explicit: false,
});
const explicit = (p: string, access: Grant['access'], source: string, kind: Grant['kind'] = 'dir'): Grant => ({
  path: p,
  kind,
  access,
  source,
  explicit: true,
});
const deny = (p: string, access: Deny['access'], source: string): Deny => ({ path: p, access, source });

function policy(parts: Partial<ResolvedPolicy> = {}): ResolvedPolicy {
  return {
    name: 'test',
    chain: ['test'],
    grants: [],
    denies: [],
    devices: [],
    network: closed(),
    scrubEnv: [],
    agent: { grants: [], denies: [], devices: [], network: open() },
    ...parts,
  };
}

const compile = (p: ResolvedPolicy, o: Partial<SeatbeltOptions> = {}) => compileSeatbelt(p, { tag: 'nono-test', target: 'command', ...o });

/** What a representative profile looks like once resolved: the default profile, by hand. */
function representative(): ResolvedPolicy {
  return policy({
    name: 'representative',
    chain: ['built-in default', 'representative'],
    grants: [
      group('/usr', 'read', 'system_read'),
      group('/bin', 'read', 'system_read'),
      group('/System', 'read', 'system_read'),
      group('/private/etc', 'read', 'system_read'),
      group(H, 'read', 'home_read'),
      group('/tmp/nono-session', 'readwrite', 'tmp_write'),
      { ...explicit(W, 'readwrite', 'profile representative: filesystem.allow'), refuseIfDenied: true },
      explicit(`${H}/.ssh/config`, 'read', 'profile representative: filesystem.read_file', 'file'),
      explicit('/a/b', 'readwrite', '--allow'),
      // A group grant inside a denied path: dropped, not an exception.
      group(`${H}/.gnupg/pubring.kbx`, 'read', 'gpg_pubring', 'file'),
    ],
    denies: [
      deny(`${H}/.ssh`, 'all', 'group deny_credentials'),
      deny(`${H}/.gnupg`, 'all', 'group deny_credentials'),
      deny(`${H}/.bashrc`, 'write', 'group deny_shell_configs'),
      deny(`${W}/.env`, 'all', 'profile representative: filesystem.deny'),
      deny(`${H}/Library/Keychains`, 'all', 'group deny_keychains'),
    ],
    devices: ['/dev/null', '/dev/zero', '/dev/tty'],
    network: closed({ tcpConnect: [443], tcpBind: [3000] }),
    agent: { grants: [explicit(`${H}/.claude`, 'readwrite', 'profile representative: agent.filesystem.allow')], denies: [], devices: [], network: open() },
  });
}

const ruleId = (d: ReturnType<typeof decide>) => (d.rule === 'default' ? 'default' : d.rule.id);

describe('the regression this compiler exists for: an exception inside a deny', () => {
  const p = policy({
    grants: [group(H, 'read', 'home_read'), explicit(`${H}/.ssh/config`, 'read', 'profile: filesystem.read_file', 'file')],
    denies: [deny(`${H}/.ssh`, 'all', 'group deny_credentials')],
  });
  const { sbpl, rules } = compile(p);

  it('reads ~/.ssh/config and nothing else in ~/.ssh', () => {
    expect(decide(rules, 'file-read-data', `${H}/.ssh/config`)).toMatchObject({ allowed: true, rule: { id: 'exception-1' } });
    expect(decide(rules, 'file-read-data', `${H}/.ssh/id_rsa`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    expect(decide(rules, 'file-read-data', `${H}/notes.txt`)).toMatchObject({ allowed: true, rule: { id: 'grant-0' } });
  });

  it('writes the allow AFTER the deny in the SBPL text', () => {
    const denyAt = sbpl.indexOf(`(deny file-read* file-write* process-exec network-outbound\n  (subpath "${H}/.ssh")\n`);
    const allowAt = sbpl.indexOf(`(allow file-read* process-exec (literal "${H}/.ssh/config"))`);
    const homeAt = sbpl.indexOf(`(allow file-read* process-exec (subpath "${H}"))`);
    expect(denyAt).toBeGreaterThan(0);
    expect(homeAt).toBeGreaterThan(0);
    expect(homeAt).toBeLessThan(denyAt);
    expect(allowAt).toBeGreaterThan(denyAt);
  });

  it('the same text, evaluated, gives the same answers', () => {
    const parsed = parseSbpl(sbpl);
    expect(parsed).toEqual(rules);
    expect(decide(parsed, 'file-read-data', `${H}/.ssh/config`).allowed).toBe(true);
    expect(decide(parsed, 'file-read-data', `${H}/.ssh/id_rsa`).allowed).toBe(false);
  });

  it('would have caught the original bug: with the allow moved before the deny, the file is denied', () => {
    const exception = rules.find((r) => r.id === 'exception-1')!;
    const denyIndex = rules.findIndex((r) => r.id === 'deny-0');
    const buggy = rules.filter((r) => r !== exception);
    buggy.splice(denyIndex, 0, exception); // just before the deny, as the first implementation had it
    expect(buggy.indexOf(exception)).toBeLessThan(buggy.findIndex((r) => r.id === 'deny-0'));
    expect(decide(buggy, 'file-read-data', `${H}/.ssh/config`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
  });

  it('lets `ls -l ~` and the walk to the exception stat ~/.ssh, but not list it', () => {
    expect(decide(rules, 'file-read-metadata', `${H}/.ssh`)).toMatchObject({ allowed: true, rule: { id: 'deny-0-stat' } });
    expect(decide(rules, 'file-read-data', `${H}/.ssh`).allowed).toBe(false);
    expect(decide(rules, 'file-read-metadata', `${H}/.ssh/id_rsa`).allowed).toBe(false);
  });
});

describe('the representative policy: paths x operations', () => {
  const compiled = compile(representative());
  const golden = fs.existsSync(GOLDEN) ? fs.readFileSync(GOLDEN, 'utf8') : '';

  // [operation, subject, allowed, deciding rule]
  const table: Array<[string, Subject, boolean, string]> = [
    // read-only system
    ['file-read-data', '/usr/bin/env', true, 'grant-0'],
    ['process-exec', '/usr/bin/env', true, 'grant-0'],
    ['file-write-data', '/usr/bin/env', false, 'default'],
    ['file-write-create', '/usr/local/new', false, 'default'],
    ['file-read-data', '/opt/elsewhere', false, 'default'],
    ['process-exec', '/opt/elsewhere/tool', false, 'default'],
    ['file-read-metadata', '/opt/elsewhere', true, 'base-metadata'],
    // /etc and /private/etc are the same directory: both spellings are granted
    ['file-read-data', '/etc/hosts', true, 'grant-3'],
    ['file-read-data', '/private/etc/hosts', true, 'grant-3'],
    ['file-write-data', '/private/etc/hosts', false, 'default'],
    // read-write working directory
    ['file-read-data', `${W}/src/main.ts`, true, 'grant-6'],
    ['file-write-data', `${W}/src/main.ts`, true, 'grant-6'],
    ['file-write-create', `${W}/build/out.js`, true, 'grant-6'],
    ['file-write-unlink', `${W}/src`, true, 'grant-6'],
    // ...holding a denied .env: no access to it, and the directories above it cannot be moved away
    ['file-read-data', `${W}/.env`, false, 'deny-3'],
    ['file-write-data', `${W}/.env`, false, 'deny-3'],
    ['file-write-unlink', `${W}/.env`, false, 'deny-3'],
    ['file-write-unlink', W, false, 'deny-3-ancestors'],
    ['file-write-unlink', H, false, 'deny-0-ancestors'],
    ['file-write-unlink', '/Users', false, 'deny-0-ancestors'],
    ['file-write-unlink', `${H}/Library`, false, 'deny-4-ancestors'],
    ['file-write-create', W, true, 'grant-6'], // only the directory entry's removal is refused
    // ...but its siblings (and a name that merely starts the same) are fine
    ['file-read-data', `${W}/.envrc`, true, 'grant-6'],
    ['file-write-data', `${W}/.env.example`, true, 'grant-6'],
    ['file-read-data', `${W}/.env/inside`, false, 'deny-3'],
    // credentials, with one exception
    ['file-read-data', `${H}/.ssh/id_rsa`, false, 'deny-0'],
    ['file-read-metadata', `${H}/.ssh/id_rsa`, false, 'deny-0'],
    ['file-write-create', `${H}/.ssh/authorized_keys`, false, 'deny-0'],
    ['process-exec', `${H}/.ssh/planted`, false, 'deny-0'],
    ['file-read-data', `${H}/.ssh/config`, true, 'exception-7'],
    ['file-write-data', `${H}/.ssh/config`, false, 'deny-0'],
    ['file-read-metadata', `${H}/.ssh`, true, 'deny-0-stat'],
    ['file-read-metadata', `${H}/.gnupg`, true, 'deny-1-stat'],
    ['file-read-metadata', `${H}/.gnupg/private-keys-v1.d`, false, 'deny-1'],
    ['file-read-data', `${H}/.gnupg`, false, 'deny-1'],
    ['file-write-unlink', `${H}/.ssh`, false, 'deny-0'],
    ['file-read-data', `${H}/.ssh2/notes`, true, 'grant-4'],
    ['file-read-data', `${H}/.gnupg/pubring.kbx`, false, 'deny-1'],
    ['network-outbound', { unixSocket: `${H}/.gnupg/S.gpg-agent` }, false, 'deny-1'],
    ['file-read-data', `${H}/Library/Keychains/login.keychain-db`, false, 'deny-4'],
    ['file-read-data', `${H}/Library/Preferences/x.plist`, true, 'grant-4'],
    // write-denied ~/.bashrc: readable, not writable, not replaceable
    ['file-read-data', `${H}/.bashrc`, true, 'grant-4'],
    ['file-write-data', `${H}/.bashrc`, false, 'deny-2'],
    ['file-write-unlink', `${H}/.bashrc`, false, 'deny-2'],
    ['file-write-create', `${H}/.bashrc`, false, 'deny-2'],
    ['file-read-data', `${H}/.bashrc.bak`, true, 'grant-4'],
    ['file-write-data', `${H}/notes.txt`, false, 'default'],
    // the session's temp dir under both spellings, not the rest of /tmp
    ['file-write-create', '/tmp/nono-session/x', true, 'grant-5'],
    ['file-write-create', '/private/tmp/nono-session/x', true, 'grant-5'],
    ['file-read-data', '/private/tmp/other', false, 'default'],
    ['file-write-data', '/tmp/nono-session-2/x', false, 'default'],
    // component boundaries: /a/bc is not under /a/b
    ['file-write-data', '/a/b/c', true, 'grant-8'],
    ['file-write-data', '/a/b', true, 'grant-8'],
    ['file-write-data', '/a/bc', false, 'default'],
    ['file-read-data', '/a/bc/d', false, 'default'],
    // devices and terminals
    ['file-write-data', '/dev/null', true, 'devices'],
    ['file-ioctl', '/dev/tty', true, 'devices'],
    ['file-ioctl', '/dev/ttys003', true, 'base-tty'],
    ['file-write-data', '/dev/disk0', false, 'default'],
    // the rest of a shell's needs
    ['process-fork', '/', true, 'base-fork'],
    ['signal', { target: 'same-sandbox' }, true, 'base-signal'],
    ['signal', { target: 'other' }, false, 'default'],
    ['mach-lookup', { machService: 'com.apple.system.opendirectoryd.libinfo' }, true, 'base-mach'],
    ['mach-lookup', { machService: 'com.apple.SecurityServer' }, false, 'default'],
    ['mach-lookup', { machService: 'com.apple.trustd.agent' }, true, 'net-services'],
    // network: TCP blocked except the listed ports
    ['network-outbound', { remote: { proto: 'tcp', host: 'example.com', port: 443 } }, true, 'net-connect'],
    ['network-outbound', { remote: { proto: 'tcp', host: 'example.com', port: 80 } }, false, 'net-block'],
    ['network-bind', { local: { proto: 'tcp', host: '127.0.0.1', port: 3000 } }, true, 'net-bind'],
    ['network-inbound', { local: { proto: 'tcp', host: '127.0.0.1', port: 3000 } }, true, 'net-bind'],
    ['network-bind', { local: { proto: 'tcp', host: '127.0.0.1', port: 3001 } }, false, 'net-block'],
    ['network-outbound', { unixSocket: '/private/var/run/mDNSResponder' }, false, 'net-block'],
  ];

  const sources = { 'compiled rules': compiled.rules, 'the golden file, parsed': parseSbpl(golden) };
  for (const [name, rules] of Object.entries(sources)) {
    it.each(table)(`${name}: %s %j -> allowed=%s by %s`, (op, subject, allowed, by) => {
      const d = decide(rules, op, subject);
      expect({ allowed: d.allowed, by: ruleId(d) }).toEqual({ allowed, by });
    });
  }

  it('drops a group grant inside a denied path, and says so', () => {
    expect(compiled.rules.some((r) => r.id === 'grant-9' || r.id === 'exception-9')).toBe(false);
    expect(compiled.warnings).toContainEqual(expect.stringContaining(`${H}/.gnupg/pubring.kbx is inside the protected path ${H}/.gnupg`));
  });

  it('orders every rule that touches a denied path after that deny, and every other grant before all denies', () => {
    assertOrdered(compiled.rules);
  });

  it('matches the golden file (UPDATE_GOLDEN=1 rewrites it)', () => {
    if (process.env.UPDATE_GOLDEN === '1') {
      fs.mkdirSync(path.dirname(GOLDEN), { recursive: true });
      fs.writeFileSync(GOLDEN, compiled.sbpl);
    }
    expect(compiled.sbpl).toBe(fs.readFileSync(GOLDEN, 'utf8'));
  });

  it('tags every deny with a message naming its rule, and nothing else', () => {
    const denies = compiled.sbpl.split('\n').filter((l) => l.startsWith('(deny'));
    expect(denies.length).toBe(compiled.rules.filter((r) => r.action === 'deny').length);
    for (const r of compiled.rules.filter((r) => r.action === 'deny')) expect(compiled.sbpl).toContain(`(with message "nono-test:${r.id}")`);
    expect(compiled.sbpl).toMatch(/^\(deny default \(with message "nono-test:default"\)\)$/m);
    expect(compiled.sbpl).not.toMatch(/^\(allow[^\n]*with message/m);
  });

  it('is the same on every run (no filesystem access)', () => {
    expect(compile(representative()).sbpl).toBe(compiled.sbpl);
  });
});

/** Every allow rule with a path inside a deny comes after it (it is an exception); all other path grants come before every deny. */
function assertOrdered(rules: SeatbeltRule[]) {
  const paths = (r: SeatbeltRule) => r.filters.flatMap((f) => (f.kind === 'subpath' || f.kind === 'literal' ? [f.path] : []));
  const denies = rules.map((r, i) => ({ r, i })).filter(({ r }) => /^deny-\d+$/.test(r.id));
  rules.forEach((r, i) => {
    if (/^grant-\d+$/.test(r.id)) {
      for (const d of denies) expect(i, `${r.id} before ${d.r.id}`).toBeLessThan(d.i);
    }
    if (/^exception-\d+$/.test(r.id)) {
      for (const d of denies) {
        const inside = paths(r).some((p) => paths(d.r).some((q) => isUnder(p, q)));
        if (inside) expect(i, `${r.id} after ${d.r.id}`).toBeGreaterThan(d.i);
      }
    }
  });
}

describe('precedence corner cases', () => {
  it('a deny nested inside an exception comes after it, outermost first', () => {
    const { rules, sbpl } = compile(
      policy({
        grants: [group(H, 'read', 'home_read'), explicit(`${H}/.aws/cli`, 'readwrite', '--allow')],
        denies: [deny(`${H}/.aws/cli/cache`, 'all', 'profile: deny'), deny(`${H}/.aws`, 'all', 'group deny_credentials')],
      }),
    );
    expect(decide(rules, 'file-read-data', `${H}/.aws/credentials`)).toMatchObject({ allowed: false, rule: { id: 'deny-1' } });
    expect(decide(rules, 'file-write-data', `${H}/.aws/cli/history`)).toMatchObject({ allowed: true, rule: { id: 'exception-1' } });
    expect(decide(rules, 'file-read-data', `${H}/.aws/cli/cache/token.json`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    // the nested deny's ancestors include the exception itself: it cannot be renamed away either
    expect(decide(rules, 'file-write-unlink', `${H}/.aws/cli`)).toMatchObject({ allowed: false, rule: { id: 'deny-0-ancestors' } });
    const ids = rules.map((r) => r.id);
    expect(ids.indexOf('deny-1')).toBeLessThan(ids.indexOf('exception-1'));
    expect(ids.indexOf('exception-1')).toBeLessThan(ids.indexOf('deny-0'));
    expect(sbpl.indexOf(`(subpath "${H}/.aws/cli/cache")`)).toBeGreaterThan(sbpl.indexOf(`(subpath "${H}/.aws/cli")`));
    assertOrdered(rules);
  });

  it('an exception deep inside a deny gets stat() of the directories on the way to it, nothing more', () => {
    const { rules } = compile(
      policy({
        grants: [group(H, 'read', 'home_read'), explicit(`${H}/.aws/sso/cache/token.json`, 'read', '--read-file', 'file')],
        denies: [deny(`${H}/.aws`, 'all', 'group deny_credentials')],
      }),
    );
    expect(decide(rules, 'file-read-data', `${H}/.aws/sso/cache/token.json`)).toMatchObject({ allowed: true, rule: { id: 'exception-1' } });
    expect(decide(rules, 'file-read-metadata', `${H}/.aws/sso/cache`)).toMatchObject({ allowed: true, rule: { id: 'exception-1-parents' } });
    expect(decide(rules, 'file-read-metadata', `${H}/.aws/sso`)).toMatchObject({ allowed: true, rule: { id: 'exception-1-parents' } });
    expect(decide(rules, 'file-read-metadata', `${H}/.aws`)).toMatchObject({ allowed: true, rule: { id: 'deny-0-stat' } });
    expect(decide(rules, 'file-read-data', `${H}/.aws/sso/cache`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    expect(decide(rules, 'file-read-metadata', `${H}/.aws/sso/cache/other.json`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    expect(decide(rules, 'file-read-metadata', `${H}/.aws/credentials`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    const parents = rules.find((r) => r.id === 'exception-1-parents')!;
    expect(parents.filters).toEqual([
      { kind: 'literal', path: `${H}/.aws/sso/cache` },
      { kind: 'literal', path: `${H}/.aws/sso` },
    ]);
  });

  it('an explicit grant of exactly a denied path wins (as on Linux)', () => {
    const { rules } = compile(policy({ grants: [explicit(`${H}/.aws`, 'read', '--read')], denies: [deny(`${H}/.aws`, 'all', 'group deny_credentials')] }));
    expect(decide(rules, 'file-read-data', `${H}/.aws/config`)).toMatchObject({ allowed: true, rule: { id: 'exception-0' } });
    expect(decide(rules, 'file-write-data', `${H}/.aws/config`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
  });

  it('a group grant inside a write-protected path keeps its reads only', () => {
    const { rules, warnings } = compile(
      policy({ grants: [group(`${H}/.config/fish`, 'readwrite', 'some_group')], denies: [deny(`${H}/.config/fish`, 'write', 'group deny_shell_configs')] }),
    );
    expect(decide(rules, 'file-read-data', `${H}/.config/fish/config.fish`)).toMatchObject({ allowed: true, rule: { id: 'grant-0' } });
    expect(decide(rules, 'file-write-data', `${H}/.config/fish/config.fish`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    expect(rules.find((r) => r.id === 'grant-0')!.operations).toEqual(['file-read*', 'process-exec']);
    expect(warnings).toContainEqual(expect.stringContaining('granted read-only'));
  });

  it('an explicit read inside a write-protected path is a plain grant, not an exception', () => {
    const { rules } = compile(policy({ grants: [explicit(`${H}/.bashrc`, 'read', '--read-file', 'file')], denies: [deny(`${H}/.bashrc`, 'write', 'group deny_shell_configs')] }));
    expect(rules.map((r) => r.id)).toContain('grant-0');
    expect(decide(rules, 'file-write-data', `${H}/.bashrc`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
  });

  it('refuses a working directory inside a protected path, unless it is granted explicitly', () => {
    const wd = { ...explicit(`${H}/.ssh/work`, 'readwrite', 'profile: filesystem.allow'), refuseIfDenied: true };
    const denies = [deny(`${H}/.ssh`, 'all', 'group deny_credentials')];
    expect(() => compile(policy({ grants: [wd], denies }))).toThrow(PolicyError);
    expect(() => compile(policy({ grants: [wd], denies }))).toThrow(`the working directory ${H}/.ssh/work is inside the protected path ${H}/.ssh (group deny_credentials)`);
    const { rules } = compile(policy({ grants: [wd, explicit(`${H}/.ssh/work`, 'readwrite', '--allow')], denies }));
    expect(decide(rules, 'file-write-data', `${H}/.ssh/work/x`)).toMatchObject({ allowed: true, rule: { id: 'exception-1' } });
  });

  it('for the agent: adds its grants and takes its network', () => {
    const { rules } = compile(representative(), { target: 'agent' });
    expect(decide(rules, 'file-write-data', `${H}/.claude/settings.json`)).toMatchObject({ allowed: true, rule: { id: 'grant-10' } });
    expect(decide(rules, 'network-outbound', { remote: { proto: 'tcp', host: 'api.anthropic.com', port: 443 } })).toMatchObject({ allowed: true, rule: { id: 'net-open' } });
    // an open network does not reopen the sockets inside a denied path (the deny comes later)
    expect(decide(rules, 'network-outbound', { unixSocket: `${H}/.gnupg/S.gpg-agent` })).toMatchObject({ allowed: false, rule: { id: 'deny-1' } });
    expect(decide(rules, 'network-outbound', { unixSocket: '/private/var/run/mDNSResponder' }).allowed).toBe(true);
    expect(decide(rules, 'file-read-data', `${H}/.ssh/id_rsa`).allowed).toBe(false);
    // the commands' policy does not have the agent's grant
    expect(decide(compile(representative()).rules, 'file-write-data', `${H}/.claude/settings.json`).allowed).toBe(false);
  });
});

describe('network', () => {
  const tcp = (port: number, host = 'example.com') => ({ remote: { proto: 'tcp' as const, host, port } });

  it('blocked: no TCP, no Unix sockets, no network services', () => {
    const { rules, sbpl } = compile(policy({ network: closed() }));
    expect(decide(rules, 'network-outbound', tcp(443))).toMatchObject({ allowed: false, rule: { id: 'net-block' } });
    expect(decide(rules, 'network-outbound', tcp(5432, 'localhost'))).toMatchObject({ allowed: false, rule: { id: 'net-block' } });
    expect(decide(rules, 'network-bind', { local: { proto: 'tcp', host: '0.0.0.0', port: 8080 } }).allowed).toBe(false);
    expect(decide(rules, 'network-outbound', { unixSocket: '/var/run/docker.sock' }).allowed).toBe(false);
    expect(decide(rules, 'mach-lookup', { machService: 'com.apple.trustd.agent' }).allowed).toBe(false);
    expect(sbpl).toMatch(/^\(deny network\* \(with message "nono-test:net-block"\)\)$/m);
    expect(sbpl).not.toMatch(/^\(allow network/m);
  });

  it('allowed ports: *:PORT for connect, local *:PORT for bind and accept', () => {
    const { rules, sbpl } = compile(policy({ network: closed({ tcpConnect: [443, 5432, 443], tcpBind: [8080] }) }));
    expect(sbpl).toContain('(allow network-outbound (remote tcp "*:443") (remote tcp "*:5432"))');
    expect(sbpl).toContain('(allow network-bind network-inbound (local tcp "*:8080"))');
    expect(decide(rules, 'network-outbound', tcp(443))).toMatchObject({ allowed: true, rule: { id: 'net-connect' } });
    expect(decide(rules, 'network-outbound', tcp(5432, '127.0.0.1')).allowed).toBe(true);
    expect(decide(rules, 'network-outbound', tcp(22)).allowed).toBe(false);
    expect(decide(rules, 'network-outbound', { remote: { proto: 'udp', host: 'example.com', port: 443 } }).allowed).toBe(false);
    expect(decide(rules, 'network-bind', { local: { proto: 'tcp', host: '127.0.0.1', port: 8080 } }).allowed).toBe(true);
    expect(decide(rules, 'network-outbound', tcp(8080)).allowed).toBe(false);
    expect(parseSbpl(sbpl)).toEqual(rules);
  });

  it('open: (allow network*), placed before the filesystem denies', () => {
    const { rules, sbpl } = compile(policy({ network: open(), denies: [deny(`${H}/.gnupg`, 'all', 'group deny_credentials')] }));
    expect(sbpl).toMatch(/^\(allow network\*\)$/m);
    expect(sbpl.indexOf('(allow network*)')).toBeLessThan(sbpl.indexOf(`(subpath "${H}/.gnupg")`));
    expect(decide(rules, 'network-outbound', tcp(22))).toMatchObject({ allowed: true, rule: { id: 'net-open' } });
    expect(decide(rules, 'network-inbound', { local: { proto: 'tcp', host: '0.0.0.0', port: 22 } }).allowed).toBe(true);
    expect(decide(rules, 'network-outbound', { unixSocket: `${H}/.gnupg/S.gpg-agent` }).allowed).toBe(false);
  });

  it('the supervisor socket is reachable even blocked and inside a denied path, under both spellings', () => {
    const sock = '/tmp/nono-1/state/supervisor.sock';
    const { rules, sbpl } = compile(policy({ network: closed(), denies: [deny('/tmp/nono-1/state', 'all', 'nono state')] }), { allowUnixSockets: [sock] });
    expect(sbpl).toContain(`(remote unix-socket (path-literal "${sock}"))`);
    expect(sbpl).toContain(`(remote unix-socket (path-literal "/private${sock}"))`);
    expect(decide(rules, 'network-outbound', { unixSocket: `/private${sock}` })).toMatchObject({ allowed: true, rule: { id: 'unix-sockets' } });
    expect(decide(rules, 'network-outbound', { unixSocket: '/private/tmp/nono-1/state/other.sock' })).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    expect(decide(rules, 'file-read-data', '/tmp/nono-1/state/approvals.json').allowed).toBe(false);
  });

  it('refuses a port that is not one', () => {
    expect(() => compile(policy({ network: closed({ tcpConnect: [70000] }) }))).toThrow(PolicyError);
    expect(() => compile(policy({ network: closed({ tcpBind: [1.5] }) }))).toThrow(/1\.5 is not a TCP port/);
  });

  it('says that host lists do nothing when the network is open (no proxy)', () => {
    const domains = [{ pattern: 'example.com', source: 'p' }];
    expect(compile(policy({ network: { ...open(), domains } })).warnings).toContainEqual(expect.stringContaining('allow_domains (example.com) has no effect: TCP is open'));
    expect(compile(policy({ network: closed({ domains }) })).warnings).toEqual([]);
  });
});

describe('strings', () => {
  it('a path with " and \\ is escaped and round-trips through parseSbpl', () => {
    const odd = `${H}/we"ird\\dir`;
    const { sbpl, rules } = compile(policy({ grants: [explicit(odd, 'readwrite', '--allow')], denies: [deny(`${odd}/se"cret`, 'all', 'profile: deny')] }));
    expect(sbpl).toContain(`(subpath "${H}/we\\"ird\\\\dir")`);
    const parsed = parseSbpl(sbpl);
    expect(parsed).toEqual(rules);
    expect(decide(parsed, 'file-write-data', `${odd}/x`)).toMatchObject({ allowed: true, rule: { id: 'grant-0' } });
    expect(decide(parsed, 'file-read-data', `${odd}/se"cret`)).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
  });

  it.each([
    ['a newline', `${H}/a\nb`],
    ['a carriage return', `${H}/a\rb`],
    ['a NUL', `${H}/a\u0000b`],
    ['an escape', `${H}/a\u001bb`],
    ['a DEL', `${H}/a\u007fb`],
  ])('refuses a path with %s, naming it', (_what, bad) => {
    for (const p of [
      policy({ grants: [explicit(bad, 'read', '--read')] }),
      policy({ denies: [deny(bad, 'all', 'profile: deny')] }),
      policy({ devices: [bad] }),
    ]) {
      expect(() => compile(p)).toThrow(PolicyError);
      expect(() => compile(p)).toThrow(JSON.stringify(bad));
    }
    expect(() => compile(policy(), { allowUnixSockets: [bad] })).toThrow(JSON.stringify(bad));
    expect(() => compile(policy(), { resolve: (p) => [p, bad] })).not.toThrow(); // no paths, nothing resolved
    expect(() => compile(policy({ grants: [explicit('/x', 'read', '--read')] }), { resolve: (p) => [p, bad] })).toThrow(JSON.stringify(bad));
  });

  it('refuses a tag with a control character, and escapes a quote in it', () => {
    expect(() => compile(policy(), { tag: 'a\nb' })).toThrow(PolicyError);
    expect(compile(policy(), { tag: 'say "hi"' }).sbpl).toContain('(with message "say \\"hi\\":default")');
  });

  it('a source with a newline cannot smuggle a rule out of its comment', () => {
    const { sbpl, rules } = compile(policy({ grants: [explicit('/x', 'read', 'evil\n(allow default)\n(allow file-write* (subpath "/"))')] }));
    expect(sbpl).not.toMatch(/^\(allow default\)/m);
    expect(sbpl).not.toMatch(/^\(allow file-write\* \(subpath "\/"\)\)/m);
    const parsed = parseSbpl(sbpl);
    expect(parsed.map((r) => r.id)).toEqual(rules.map((r) => r.id));
    expect(decide(parsed, 'file-write-data', '/etc/passwd').allowed).toBe(false);
  });

  it('refuses relative paths', () => {
    expect(() => compile(policy({ grants: [explicit('proj', 'read', '--read')] }))).toThrow(/not an absolute path/);
  });
});

describe('path spellings', () => {
  it('adds the /private form, and the plain form of /private paths, on component boundaries', () => {
    expect(defaultSpellings('/tmp')).toEqual(['/tmp', '/private/tmp']);
    expect(defaultSpellings('/tmp/x')).toEqual(['/tmp/x', '/private/tmp/x']);
    expect(defaultSpellings('/var/folders/ab')).toEqual(['/var/folders/ab', '/private/var/folders/ab']);
    expect(defaultSpellings('/private/etc/hosts')).toEqual(['/private/etc/hosts', '/etc/hosts']);
    expect(defaultSpellings('/tmpfoo')).toEqual(['/tmpfoo']);
    expect(defaultSpellings('/private/tmpfoo')).toEqual(['/private/tmpfoo']);
    expect(defaultSpellings('/Users/alice')).toEqual(['/Users/alice']);
  });

  it('uses the resolve option for every path: grants, denies and their ancestors', () => {
    const resolve = (p: string) => (isUnder(p, `${H}/link`) ? [p, p.replace(`${H}/link`, '/Volumes/data/real')] : [p]);
    const { rules } = compile(
      policy({ grants: [group(`${H}/link`, 'readwrite', 'g')], denies: [deny(`${H}/link/secret`, 'all', 'd')] }),
      { resolve },
    );
    expect(decide(rules, 'file-write-data', '/Volumes/data/real/x').allowed).toBe(true);
    expect(decide(rules, 'file-read-data', '/Volumes/data/real/secret/k')).toMatchObject({ allowed: false, rule: { id: 'deny-0' } });
    expect(decide(rules, 'file-write-unlink', '/Volumes/data/real')).toMatchObject({ allowed: false, rule: { id: 'deny-0-ancestors' } });
  });
});

describe('sbpl-eval', () => {
  const r = (id: string, action: 'allow' | 'deny', operations: string[], filters: SeatbeltRule['filters'] = []): SeatbeltRule => ({ id, action, operations, filters, source: '' });

  it('understands operation families', () => {
    expect(operationMatches('file-read*', 'file-read-data')).toBe(true);
    expect(operationMatches('file-read*', 'file-read-metadata')).toBe(true);
    expect(operationMatches('file-write*', 'file-write-unlink')).toBe(true);
    expect(operationMatches('file-write*', 'file-read-data')).toBe(false);
    expect(operationMatches('network*', 'network-bind')).toBe(true);
    expect(operationMatches('process-exec', 'process-exec')).toBe(true);
    expect(operationMatches('process-exec', 'process-exec-interpreter')).toBe(false);
    expect(() => decide([], 'file-read*', '/x')).toThrow(/concrete operation/);
  });

  it('matches literal, subpath (on component boundaries) and regex', () => {
    const rules = [
      r('default', 'deny', ['default']),
      r('sub', 'allow', ['file-read*'], [{ kind: 'subpath', path: '/a/b' }]),
      r('lit', 'allow', ['file-write*'], [{ kind: 'literal', path: '/a/b/f' }]),
      r('re', 'allow', ['file-ioctl'], [{ kind: 'regex', path: '^/dev/ttys[0-9]+$' }]),
    ];
    expect(decide(rules, 'file-read-data', '/a/b').allowed).toBe(true);
    expect(decide(rules, 'file-read-data', '/a/b/c/d').allowed).toBe(true);
    expect(decide(rules, 'file-read-data', '/a/bc')).toEqual({ allowed: false, rule: 'default' });
    expect(decide(rules, 'file-read-data', '/a')).toEqual({ allowed: false, rule: 'default' });
    expect(decide(rules, 'file-write-data', '/a/b/f').allowed).toBe(true);
    expect(decide(rules, 'file-write-data', '/a/b/f/g').allowed).toBe(false);
    expect(decide(rules, 'file-write-data', '/a/b/f/').allowed).toBe(true); // normalized
    expect(decide(rules, 'file-ioctl', '/dev/ttys012').allowed).toBe(true);
    expect(decide(rules, 'file-ioctl', '/dev/ttys012x').allowed).toBe(false);
  });

  it('is order-sensitive: the last match wins', () => {
    const d = r('d', 'deny', ['file-read*'], [{ kind: 'subpath', path: '/s' }]);
    const a = r('a', 'allow', ['file-read-data'], [{ kind: 'literal', path: '/s/ok' }]);
    expect(decide([d, a], 'file-read-data', '/s/ok')).toEqual({ allowed: true, rule: a });
    expect(decide([a, d], 'file-read-data', '/s/ok')).toEqual({ allowed: false, rule: d });
    expect(decide([d, a], 'file-read-metadata', '/s/ok')).toEqual({ allowed: false, rule: d });
  });

  it('parses only the subset the compiler emits', () => {
    expect(() => parseSbpl('(version 1)\n(import "system.sb")')).toThrow(/outside the subset/);
    expect(() => parseSbpl('(allow file-read* (prefix "/x"))')).toThrow(/outside the subset/);
    expect(() => parseSbpl('(allow network-outbound (remote tcp "example.com:443"))')).toThrow(/address/);
    expect(() => parseSbpl('(allow file-read* (subpath "/x")')).toThrow(/unbalanced/);
    expect(parseSbpl('(version 1)\n(deny default (with message "a:b:default"))\n(deny file-read* (subpath "/x") (with message "a:b:deny-3"))')).toEqual([
      r('default', 'deny', ['default']),
      r('deny-3', 'deny', ['file-read*'], [{ kind: 'subpath', path: '/x' }]),
    ]);
  });
});

it('runs sandbox-exec by absolute path, with -- before the command', () => {
  expect(sandboxExecArgv('(version 1)', ['/bin/bash', '-c', 'echo hi'])).toEqual(['/usr/bin/sandbox-exec', '-p', '(version 1)', '--', '/bin/bash', '-c', 'echo hi']);
});

describe('the built-in profiles, compiled for Seatbelt', () => {
  // Groups are chosen for the platform the tests run on; what is asserted holds for both lists.
  const resolve = (ref: string) =>
    resolveProfile(ref, { home: H, workdir: W, tmpdir: '/private/var/folders/zz/T/nono-1', userProfileDir: path.join(os.tmpdir(), 'nono-no-such-dir') });

  it.each(['default', 'claude-code', 'gemini-cli', 'codex'])('%s keeps credentials out and the working directory writable', (ref) => {
    const p = resolve(ref);
    for (const target of ['command', 'agent'] as const) {
      const { rules, sbpl } = compile(p, { target });
      assertOrdered(rules);
      expect(parseSbpl(sbpl)).toEqual(rules);
      expect(decide(rules, 'file-read-data', `${H}/.ssh/id_rsa`).allowed).toBe(false);
      expect(decide(rules, 'file-read-data', `${H}/.aws/credentials`).allowed).toBe(false);
      expect(decide(rules, 'file-write-data', `${H}/.bashrc`).allowed).toBe(false);
      expect(decide(rules, 'file-read-data', `${H}/.bashrc`).allowed).toBe(true);
      expect(decide(rules, 'file-write-data', `${W}/src/a.ts`).allowed).toBe(true);
      expect(decide(rules, 'file-write-data', '/var/folders/zz/T/nono-1/x').allowed).toBe(true);
      expect(decide(rules, 'file-write-unlink', H).allowed).toBe(false);
      expect(decide(rules, 'file-read-data', '/usr/bin/env').allowed).toBe(true);
      const net = decide(rules, 'network-outbound', { remote: { proto: 'tcp', host: 'example.com', port: 443 } }).allowed;
      expect(net).toBe(target === 'agent');
    }
  });

  it('claude-code lets the agent, not its commands, rewrite ~/.claude.json', () => {
    const p = resolve('claude-code');
    expect(decide(compile(p, { target: 'agent' }).rules, 'file-write-data', `${H}/.claude.json`).allowed).toBe(true);
    expect(decide(compile(p).rules, 'file-write-data', `${H}/.claude.json`).allowed).toBe(false);
  });
});
