// Live approval's "allowed now?" on Linux (LinuxPlatform.policy.allows): a true lets a held
// operation go ahead without a question, so it must agree with Landlock for every operation live
// approval reports (with the rights the native side says it needs), before and after a session
// grant.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { packageRoot } from '../src/native/paths.js';
import { resolveProfile } from '../src/policy/resolve-profile.js';
import { FS } from '../src/policy/landlock-rights.js';
import type { DenialOp } from '../src/supervisor/denials/types.js';
import type { HeldOperation } from '../src/supervisor/live-questions.js';
import { LinuxPlatform } from '../src/supervisor/platform/linux.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

const addon = loadAddon();
const abi = addon.landlockAbi();

/** The rights the native classifier asks for each operation (shim/addon/live_ops.c). */
const NEED: Record<Exclude<DenialOp, 'execute' | 'connect' | 'bind'>, number> = {
  read: FS.READ_FILE,
  list: FS.READ_DIR,
  write: FS.WRITE_FILE,
  create: FS.MAKE_REG,
  delete: FS.REMOVE_FILE,
  rename: FS.REMOVE_FILE,
};
const denial = (op: keyof typeof NEED, p: string, path2?: string): HeldOperation => ({
  token: 1,
  op,
  path: p,
  ...(path2 !== undefined ? { path2, need2: FS.MAKE_REG | (path.dirname(p) !== path.dirname(path2) ? FS.REFER : 0) } : { need2: 0 }),
  isDir: op === 'list',
  need: NEED[op] | (path2 !== undefined && path.dirname(p) !== path.dirname(path2) ? FS.REFER : 0),
});

describe.skipIf(abi < 1)('Linux: whether the session policy allows a held operation now', () => {
  let home: SandboxHome;
  let platform: LinuxPlatform;
  let ssh: string;
  let project: string;

  beforeAll(() => {
    home = makeSandboxHome();
    ssh = path.join(home.home, '.ssh');
    project = home.project;
    fs.writeFileSync(path.join(project, 'a.txt'), 'a');
    fs.mkdirSync(path.join(project, 'sub'));
    const tmp = path.join(home.base, 'tmp');
    fs.mkdirSync(tmp);
    const policy = resolveProfile('default', { home: home.home, approvalsFile: path.join(home.base, 'approvals.json'), workdir: project, tmpdir: tmp, runtimeDirs: [packageRoot] });
    platform = new LinuxPlatform({ addon, policy, abi, live: false });
  });

  afterAll(() => {
    platform?.close();
    home?.cleanup();
  });

  it('agrees with the profile for read, list, write, create, delete and rename', () => {
    const allows = (d: HeldOperation) => platform.policy.allows(d);
    expect(allows(denial('read', path.join(project, 'a.txt')))).toBe(true);
    expect(allows(denial('read', home.sshKey))).toBe(false);
    expect(allows(denial('list', project))).toBe(true);
    expect(allows(denial('list', ssh))).toBe(false);
    expect(allows(denial('write', path.join(project, 'a.txt')))).toBe(true);
    expect(allows(denial('write', home.sshKey))).toBe(false);
    // create, delete and rename are rights on the directory that holds the entry.
    expect(allows(denial('create', path.join(project, 'new.txt')))).toBe(true);
    expect(allows(denial('create', path.join(ssh, 'new')))).toBe(false);
    expect(allows(denial('delete', path.join(project, 'a.txt')))).toBe(true);
    expect(allows(denial('delete', home.sshKey))).toBe(false);
    expect(allows(denial('rename', path.join(project, 'a.txt')))).toBe(true);
    expect(allows(denial('rename', home.sshKey))).toBe(false);
  });

  it('a rename that names its destination needs both directories, and REFER on both across directories', () => {
    const a = path.join(project, 'a.txt');
    expect(platform.policy.allows(denial('rename', a, path.join(project, 'b.txt')))).toBe(true);
    expect(platform.policy.allows(denial('rename', a, path.join(ssh, 'stolen')))).toBe(false);
    expect(platform.policy.allows(denial('rename', home.sshKey, path.join(project, 'stolen')))).toBe(false);
    // Across directories Landlock also wants REFER on both: the project has it.
    expect(platform.policy.allows(denial('rename', a, path.join(project, 'sub', 'a.txt')))).toBe(true);
  });

  it('a session grant made meanwhile allows exactly what it grants', () => {
    const other = path.join(ssh, 'other');
    fs.writeFileSync(other, 'x');
    platform.policy.addSessionGrants([{ kind: 'read_file', path: home.sshKey, describe: `read ${home.sshKey}` }]);
    expect(platform.policy.allows(denial('read', home.sshKey))).toBe(true);
    expect(platform.policy.allows(denial('read', other))).toBe(false);
    expect(platform.policy.allows(denial('write', home.sshKey))).toBe(false);
  });
});
