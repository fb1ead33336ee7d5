// `nono --version` / `-V`: the version of the package the CLI runs from, read from its
// package.json when it runs (a copy of the CLI under another package.json reports that one).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/paths.js';

let copy: string;

beforeAll(() => {
  // The compiled CLI beside a package.json of another version; its modules come from ours.
  copy = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-version-'));
  fs.cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ name: 'nono-shell', version: '9.8.7-test', type: 'module' }));
});
afterAll(() => fs.rmSync(copy, { recursive: true, force: true }));

describe('nono --version', () => {
  const ours = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

  it.each(['--version', '-V'])('%s prints the package version and exits 0', async (flag) => {
    const r = await execa('node', [cli, flag], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(ours);
    expect(r.stderr).toBe('');
  });

  it('reads package.json at run time, not a version built into the code', async () => {
    const r = await execa('node', [path.join(copy, 'dist', 'cli', 'main.js'), '--version'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('9.8.7-test');
  });

  it('is listed in --help', async () => {
    const r = await execa('node', [cli, '--help'], { reject: false });
    expect(r.stdout).toMatch(/-V, --version\s+print nono's version and exit/);
  });
});
