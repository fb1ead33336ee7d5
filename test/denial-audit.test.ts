// Landlock's audit records as the exact source of denials (kernel >= 6.15, ABI 7, audit on, root
// to read /dev/kmsg). nono never switches audit on by itself; this test does, and restores it.
// The command hides its stderr, so only the kernel's records can show what was denied.
import fs from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { proxyBash } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';

const addon = loadAddon();
const before = addon.auditStatus();
const possible = addon.landlockAbi() >= 7 && before !== null && process.getuid?.() === 0 && fs.existsSync('/dev/kmsg');

describe.skipIf(!possible)('denials from Landlock audit records', () => {
  let home: SandboxHome;
  let s: TestSession;

  beforeAll(() => {
    expect(addon.auditSetEnabled(1)).toBe(true);
    home = makeSandboxHome();
    s = startTestSession({ workdir: home.project, home: home.home, denialSource: 'auto' });
  });

  afterAll(() => {
    s?.close();
    home?.cleanup();
    if (before && before.enabled === 0) addon.auditSetEnabled(0);
  });

  it('says which source it uses', () => {
    expect(s.logLines).toContain("denials are read from Landlock's audit records (exact)");
  });

  it('finds a denial the command printed nothing about, and names the exact path', async () => {
    const r = await execa(proxyBash, ['-c', `cat ${home.sshKey} 2>/dev/null; exit 3`], {
      cwd: home.project,
      env: s.env,
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe(
      `nono: the sandbox denied read of ${home.sshKey}; to allow it, the user can run \`nono run --read-file ${home.sshKey}\` or "read_file": ["${home.sshKey}"] in a profile (see \`nono profile show\`).`,
    );
  });

  it('attributes records to the right command when two fail at once', async () => {
    const other = `${home.home}/.aws/credentials`;
    const [a, b] = await Promise.all([
      execa(proxyBash, ['-c', `sleep 0.1; cat ${home.sshKey} >/dev/null 2>&1; exit 1`], { cwd: home.project, env: s.env, extendEnv: false, reject: false }),
      execa(proxyBash, ['-c', `cat ${other} >/dev/null 2>&1; exit 1`], { cwd: home.project, env: s.env, extendEnv: false, reject: false }),
    ]);
    expect(a.stderr).toContain(`denied read of ${home.sshKey};`);
    expect(a.stderr).not.toContain(other);
    expect(b.stderr).toContain(`denied read of ${other};`);
    expect(b.stderr).not.toContain(home.sshKey);
  });

  it('says nothing about a command that failed for its own reasons', async () => {
    const r = await execa(proxyBash, ['-c', 'ls /nonexistent-dir 2>/dev/null; exit 2'], { cwd: home.project, env: s.env, extendEnv: false, reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe('');
  });
});
