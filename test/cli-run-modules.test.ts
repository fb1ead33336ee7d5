// `nono run` is the long-lived supervisor: it must not load the other subcommands' modules
// (doctor's binary readers, the profile tools), which only cost it memory for the whole session
// (npm run bench, part 3 measures it). Checked on the real CLI with a module-resolution hook.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli, root } from './helpers/paths.js';

let dir: string;
let register: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-mods-'));
  fs.writeFileSync(
    path.join(dir, 'hooks.mjs'),
    "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('LOADED ' + r.url + '\\n'); return r; }\n",
  );
  register = path.join(dir, 'register.mjs');
  fs.writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const loaded = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED file://'))
    .map((l) => path.relative(root, new URL(l.slice('LOADED '.length)).pathname));

it('nono run loads neither doctor nor the profile tools; nono --help still lists them', async () => {
  const run = await execa(process.execPath, ['--import', register, cli, 'run', '--', 'true'], { cwd: dir, reject: false });
  expect(run.exitCode, run.stderr).toBe(0);
  const mods = loaded(run.stderr);
  expect(mods).toContain(path.join('dist', 'cli', 'run.js'));
  // (the preload check's ELF and Mach-O readers are the supervisor's own, and stay)
  expect(mods.filter((m) => /^dist\/(cli\/(doctor|profile|audit)\.js|doctor\/(checks|report)\.js|policy\/(seatbelt-compiler|sbpl-eval)\.js)/.test(m))).toEqual([]);

  const help = await execa(process.execPath, [cli, '--help'], { reject: false });
  for (const sub of ['profile', 'doctor', 'audit', 'run']) expect(help.stdout).toMatch(new RegExp(`^  ${sub}\\b`, 'm'));
});
