// The addon runs inside the unsandboxed supervisor: it is linked with full RELRO (-z relro -z now),
// so every import is bound at load and its GOT is read-only afterwards. Read from the built file.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { root } from './helpers/paths.js';

const addon = path.join(root, 'native', 'nono_addon.node');

it('the addon binds its imports at load (BIND_NOW) and has a RELRO segment', () => {
  const dynamic = execFileSync('readelf', ['-dW', addon], { encoding: 'utf8' });
  expect(dynamic).toMatch(/\(FLAGS\)\s+.*BIND_NOW/);
  expect(dynamic).toMatch(/\(FLAGS_1\)\s+Flags:.*\bNOW\b/);
  const segments = execFileSync('readelf', ['-lW', addon], { encoding: 'utf8' });
  expect(segments).toMatch(/^\s*GNU_RELRO\s/m);
  // With -z now the PLT's GOT entries live in .got, inside RELRO: no writable .got.plt remains.
  const sections = execFileSync('readelf', ['-SW', addon], { encoding: 'utf8' });
  expect(sections).not.toMatch(/\.got\.plt/);
});
