// Profiles as a user writes and selects them: built-ins compiled to golden SBPL, user files with
// extends/groups/exceptions running for real under `nono run`, and the errors a broken profile
// gives (file, field, reason) with nothing run.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES } from '../src/policy/builtin-profiles.js';
import { resolveProfile } from '../src/policy/resolve-profile.js';
import { PolicyError } from '../src/policy/resolved-policy.js';
import { compileSeatbelt } from '../src/policy/seatbelt-compiler.js';
import { decide, parseSbpl } from '../src/policy/sbpl-eval.js';
import { cli, root } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

let h: SandboxHome;
let profiles: string;

beforeAll(() => {
  h = makeSandboxHome();
  fs.writeFileSync(path.join(h.home, '.ssh', 'config'), 'Host example\n');
  profiles = path.join(h.home, '.config', 'nono', 'profiles');
  fs.mkdirSync(profiles, { recursive: true });
});
afterAll(() => h?.cleanup());

const mac = { home: '/Users/alice', workdir: '/Users/alice/src/app', tmpdir: '/private/tmp/nono-501/SESSION/tmp', platform: 'darwin' as const, userProfileDir: '/nonexistent' };

describe('built-in profiles compiled to Seatbelt (golden files)', () => {
  it.each(Object.keys(BUILTIN_PROFILES))('%s matches its golden files (test/golden/builtin-NAME-{command,agent}.sb)', (name) => {
    for (const target of ['command', 'agent'] as const) {
      const { sbpl } = compileSeatbelt(resolveProfile(name, mac), { tag: 'nono', target });
      const golden = path.join(root, 'test', 'golden', `builtin-${name}-${target}.sb`);
      if (process.env.UPDATE_GOLDEN) fs.writeFileSync(golden, sbpl);
      expect(sbpl).toBe(fs.readFileSync(golden, 'utf8'));
      // And the golden text decides like a user expects.
      const rules = parseSbpl(sbpl);
      expect(decide(rules, 'file-read-data', '/Users/alice/.ssh/id_rsa').allowed).toBe(false);
      expect(decide(rules, 'file-read-data', '/Users/alice/Library/Keychains/login.keychain-db').allowed).toBe(false);
      expect(decide(rules, 'file-write-data', '/Users/alice/src/app/main.c').allowed).toBe(true);
      expect(decide(rules, 'file-write-data', '/Users/alice/.zshrc').allowed).toBe(false);
      expect(decide(rules, 'file-read-data', '/Users/alice/.zshrc').allowed).toBe(true);
      expect(decide(rules, 'file-write-create', '/private/tmp/nono-501/SESSION/tmp/x').allowed).toBe(true);
    }
  });

  it("gives claude-code's agent its state, and not its commands", () => {
    const policy = resolveProfile('claude-code', mac);
    const agent = parseSbpl(compileSeatbelt(policy, { tag: 'nono', target: 'agent' }).sbpl);
    const command = parseSbpl(compileSeatbelt(policy, { tag: 'nono', target: 'command' }).sbpl);
    expect(decide(agent, 'file-write-data', '/Users/alice/.claude/settings.json').allowed).toBe(true);
    expect(decide(command, 'file-write-data', '/Users/alice/.claude/settings.json').allowed).toBe(false);
    expect(decide(command, 'file-write-create', '/Users/alice/.claude/shell-snapshots/snapshot-bash-1.sh').allowed).toBe(true);
  });
});

describe('user profiles', () => {
  const write = (name: string, body: unknown) => {
    const f = path.join(profiles, `${name}.json`);
    fs.writeFileSync(f, typeof body === 'string' ? body : JSON.stringify(body));
    return f;
  };
  const resolve = (ref: string) => resolveProfile(ref, { home: h.home, workdir: h.project, tmpdir: h.base, userProfileDir: profiles });

  it('extends a built-in, excludes a group, and re-allows one file inside a denied directory', () => {
    write('mine', { extends: 'default', groups: { exclude: ['deny_shell_history'] }, filesystem: { read_file: ['~/.ssh/config'] } });
    const p = resolve('mine');
    expect(p.chain).toEqual(['built-in default', path.join(profiles, 'mine.json')]);
    expect(p.denies.some((d) => d.source.includes('deny_shell_history'))).toBe(false);
    expect(p.grants).toContainEqual(expect.objectContaining({ path: path.join(h.home, '.ssh', 'config'), kind: 'file', access: 'read', explicit: true }));
  });

  it.each([
    ['an unknown field', { extends: 'default', filesystem: { alow: ['~'] } }, /bad-unknown-field\.json: invalid profile\n\s+filesystem: Unrecognized key: "alow"/],
    ['a wrong type', { network: { block: 'yes' } }, /bad-wrong-type\.json: invalid profile\n\s+network\.block: Invalid input: expected boolean/],
    ['a bad path variable', { filesystem: { read: ['$NOPE/x'] } }, /bad-bad-path-variable\.json: filesystem\.read\[0\]: unknown path variable \$NOPE in "\$NOPE\/x" \(known: \$HOME, \$WORKDIR, \$TMPDIR, ~\)/],
    ['a relative path', { filesystem: { allow: ['src'] } }, /filesystem\.allow\[0\]: "src" is not an absolute path/],
    ['an unknown group', { groups: { include: ['deny_everything'] } }, /groups\.include: unknown group "deny_everything" \(known: system_read/],
    ['an unknown parent', { extends: 'no-such-profile' }, /no profile named "no-such-profile"/],
  ])('refuses %s with the file, the field and the reason', (what, body, message) => {
    const name = `bad-${what.replaceAll(' ', '-').replace(/^an?-/, '')}`;
    write(name, body);
    expect(() => resolve(name)).toThrow(PolicyError);
    expect(() => resolve(name)).toThrow(message);
  });

  it('refuses a cycle in extends and names it', () => {
    write('cycle-a', { extends: 'cycle-b' });
    write('cycle-b', { extends: 'cycle-a' });
    expect(() => resolve('cycle-a')).toThrow(/cycle in "extends": .*cycle-a\.json -> .*cycle-b\.json -> .*cycle-a\.json/);
  });

  it('refuses a file that is not JSON, and a user profile that takes a built-in name', () => {
    write('broken', '{ "extends": ');
    expect(() => resolve('broken')).toThrow(/broken\.json: not valid JSON/);
    write('default', { extends: 'default' });
    expect(() => resolve('default')).toThrow(/cannot take the built-in name "default"/);
    fs.rmSync(path.join(profiles, 'default.json'));
  });
});

describe('nono run --profile and nono profile (real processes)', () => {
  const env = () => ({ HOME: h.home, PATH: process.env.PATH!, XDG_CONFIG_HOME: path.join(h.home, '.config') });

  it('runs commands under a user profile: the re-allowed file is readable, its siblings are not', async () => {
    fs.writeFileSync(path.join(profiles, 'ssh-config.json'), JSON.stringify({ extends: 'default', filesystem: { read_file: ['~/.ssh/config'] } }));
    const r = await execa('node', [cli, 'run', '--profile', 'ssh-config', '--', 'bash', '-c', `cat ~/.ssh/config; cat ~/.ssh/id_rsa`], {
      cwd: h.project, env: env(), extendEnv: false, reject: false,
    });
    expect(r.stdout).toBe('Host example');
    expect(r.stderr).toContain(`${h.sshKey}: Permission denied`);
  });

  it('refuses to run anything with a broken profile, naming the problem', async () => {
    const marker = path.join(h.project, 'must-not-exist');
    const bad = path.join(h.base, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ filesystem: { read: ['$NOPE'] } }));
    const r = await execa('node', [cli, 'run', '--profile', bad, '--', 'touch', marker], { cwd: h.project, env: env(), extendEnv: false, reject: false });
    expect(r.exitCode).toBe(126);
    expect(r.stderr).toMatch(/bad\.json: filesystem\.read\[0\]: unknown path variable \$NOPE/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('validates a file: 0 when valid, 1 with the reasons when not', async () => {
    const good = path.join(h.base, 'good.json');
    fs.writeFileSync(good, JSON.stringify({ extends: 'claude-code', network: { allow_tcp_connect: [443] } }));
    const ok = await execa('node', [cli, 'profile', 'validate', good], { env: env(), extendEnv: false, reject: false });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain('valid (built-in default <- built-in claude-code <-');
    const bad = path.join(h.base, 'bad-port.json');
    fs.writeFileSync(bad, JSON.stringify({ network: { allow_tcp_connect: [70000] } }));
    const no = await execa('node', [cli, 'profile', 'validate', bad], { env: env(), extendEnv: false, reject: false });
    expect(no.exitCode).toBe(1);
    expect(no.stderr).toMatch(/bad-port\.json: invalid profile\n\s+network\.allow_tcp_connect\.0: Too big/);
  });

  it('explains a decision and names the rule, for Landlock and for Seatbelt', async () => {
    const linux = await execa('node', [cli, 'profile', 'explain', path.join(h.home, '.ssh', 'id_rsa'), '--json'], { cwd: h.project, env: env(), extendEnv: false });
    expect(JSON.parse(linux.stdout)).toMatchObject({ allowed: false, decidedBy: expect.stringMatching(/group deny_credentials/) });
    const write = await execa('node', [cli, 'profile', 'explain', path.join(h.project, 'new.txt'), '--op', 'create'], { cwd: h.project, env: env(), extendEnv: false });
    expect(write.stdout).toMatch(/create -> ALLOWED \(Landlock, command, profile default\)\n\s+decided by: built-in default: filesystem\.allow \(rule on /);
    const mac = await execa('node', [cli, 'profile', 'explain', path.join(h.home, '.ssh', 'id_rsa'), '--platform', 'darwin'], { cwd: h.project, env: env(), extendEnv: false });
    expect(mac.stdout).toMatch(/read -> DENIED \(Seatbelt.*\n\s+decided by: group deny_credentials/);
  });

  it('prints what the compilers emit, and a JSON Schema for editors', async () => {
    const ll = await execa('node', [cli, 'profile', 'compile', 'default', '--target', 'landlock'], { cwd: h.project, env: env(), extendEnv: false });
    const rules = JSON.parse(ll.stdout);
    expect(rules.rules.some((r: { path: string }) => r.path === h.project)).toBe(true);
    expect(rules.expanded.some((e: { dir: string }) => e.dir === h.home)).toBe(true);
    const sb = await execa('node', [cli, 'profile', 'compile', 'default', '--target', 'seatbelt'], { cwd: h.project, env: env(), extendEnv: false });
    expect(sb.stdout).toMatch(/^\(version 1\)/);
    const schema = JSON.parse((await execa('node', [cli, 'profile', 'schema'])).stdout);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['extends', 'groups', 'filesystem', 'network', 'agent', 'environment']));
  });
});

describe('environment.scrub', () => {
  it('removes the named variables and prefixes from every command', async () => {
    const f = path.join(h.base, 'scrub.json');
    fs.writeFileSync(f, JSON.stringify({ extends: 'default', environment: { scrub: ['GITHUB_TOKEN', 'AWS_*'] } }));
    const r = await execa('node', [cli, 'run', '--profile', f, '--', 'bash', '-c', 'env | grep -E "^(GITHUB_TOKEN|AWS_|KEEP_ME)" | sort'], {
      cwd: h.project,
      env: { HOME: h.home, PATH: process.env.PATH!, GITHUB_TOKEN: 'ghp_x', AWS_SECRET_ACCESS_KEY: 's', AWS_REGION: 'r', KEEP_ME: 'yes' },
      extendEnv: false,
    });
    expect(r.stdout).toBe('KEEP_ME=yes');
  });
});
