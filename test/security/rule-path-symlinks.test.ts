// Rule paths reach the native code already resolved (the policy compiler's realpath). A symbolic
// link found there at open time was swapped in after resolution and must not redirect the grant
// to its target: not as the last component, and not as a directory on the way. Both users of the
// shared rule code are checked for real: the exec helper that sandboxes the agent, and the
// addon that builds the commands' ruleset (then a command under that ruleset tries the secret).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/native/addon.js';
import { execHelper } from '../helpers/paths.js';

const EXECUTE = 1 << 0;
const READ_FILE = 1 << 2;
const READ_DIR = 1 << 3;
const READ = EXECUTE | READ_FILE | READ_DIR;

let base: string;
let secretFile: string;
const cases: Array<[string, () => string]> = [
  ['the last component', () => path.join(base, 'grant')],
  ['a directory on the way', () => path.join(base, 'via', 'inner')],
];

beforeAll(() => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nono-rulelink-')));
  fs.mkdirSync(path.join(base, 'secret', 'inner'), { recursive: true });
  secretFile = path.join(base, 'secret', 'inner', 'key');
  fs.writeFileSync(secretFile, 'SECRET-KEY\n');
  fs.mkdirSync(path.join(base, 'innocent', 'inner'), { recursive: true });
  // What the compiler resolved: plain directories. What is there at open time: links to the secret.
  fs.symlinkSync(path.join(base, 'secret', 'inner'), path.join(base, 'grant'));
  fs.symlinkSync(path.join(base, 'secret'), path.join(base, 'via'));
});
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe('the exec helper (nono-landlock-exec)', () => {
  it.each(cases)('refuses a rule path with a symlink in %s, and runs nothing', async (_what, rulePath) => {
    const r = await execa(
      execHelper,
      ['--handled-fs', String(READ), '--path', `${READ}:/usr`, '--path', `${READ}:/etc`, '--path', `${READ}:${rulePath()}`, '--', '/usr/bin/cat', secretFile],
      { reject: false },
    );
    expect(r.stdout).not.toContain('SECRET-KEY');
    expect(r.exitCode).toBe(126);
    expect(r.stderr).toBe(
      `nono-landlock-exec: cannot add rule for ${rulePath()}: a symbolic link appeared in this already-resolved path; not granting through it, not running /usr/bin/cat`,
    );
  });

  it('still grants a resolved path (the same rules without the swapped link)', async () => {
    const r = await execa(
      execHelper,
      ['--handled-fs', String(READ), '--path', `${READ}:/usr`, '--path', `${READ}:/etc`, '--path', `${READ}:${path.join(base, 'secret', 'inner')}`, '--', '/usr/bin/cat', secretFile],
      { reject: false },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('SECRET-KEY');
  });
});

describe('the addon (commands)', () => {
  const addon = loadAddon();

  /** Runs cat on the secret under a ruleset with /usr, /etc and whatever `add` managed to add. */
  async function catUnder(add: (fd: number) => void): Promise<{ code: number | null; out: string }> {
    const rs = addon.createRuleset({ handledFs: READ });
    try {
      addon.addPathRule(rs, '/usr', READ, READ);
      addon.addPathRule(rs, '/etc', READ, READ);
      try {
        add(rs);
      } catch {
        /* refused: the command runs without that rule */
      }
      const [r, w] = addon.makePipe();
      const code = await new Promise<number | null>((resolve) => {
        addon.spawn({ file: '/usr/bin/cat', argv: ['cat', secretFile], env: [], cwd: '/', stdio: [w, w, w], rulesetFd: rs }, (c) => resolve(c));
        addon.closeFd(w);
      });
      let out = '';
      for (let chunk = addon.readAvailable(r); chunk !== null && chunk.length; chunk = addon.readAvailable(r)) out += chunk.toString();
      addon.closeFd(r);
      return { code, out };
    } finally {
      addon.closeFd(rs);
    }
  }

  it.each(cases)('refuses a rule path with a symlink in %s with ELOOP and a clear message', async (_what, rulePath) => {
    let thrown: NodeJS.ErrnoException | undefined;
    const r = await catUnder((rs) => {
      try {
        addon.addPathRule(rs, rulePath(), READ, READ);
      } catch (e) {
        thrown = e as NodeJS.ErrnoException;
        throw e;
      }
    });
    expect(r.out).not.toContain('SECRET-KEY');
    expect(r.code).not.toBe(0);
    expect(thrown?.code).toBe('ELOOP');
    expect(thrown?.message).toBe(
      `${rulePath()}: a symbolic link appeared in this already-resolved rule path; nono does not grant through it (check what replaced it)`,
    );
  });

  it('still grants a resolved path', async () => {
    const r = await catUnder((rs) => addon.addPathRule(rs, path.join(base, 'secret', 'inner'), READ, READ));
    expect(r.code).toBe(0);
    expect(r.out).toBe('SECRET-KEY\n');
  });
});
