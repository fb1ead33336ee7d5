// The reader `npm run check:macos` relies on to prove the interposer's __DATA,__interpose table
// binds every hook. The fixture is the arm64 dylib that check produced (Zig 0.14.0-dev.2456,
// -O2): a real Mach-O, not a constructed one. Damaged copies must be refused, not passed.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { interposeProblems, readInterposeTable } from '../src/doctor/macho-interpose.js';
import { root as repoRoot } from './helpers/paths.js';

const fixture = fs.readFileSync(path.join(repoRoot, 'test/fixtures/macho/libnono-interpose-arm64.dylib'));
const hooks = [...fs.readFileSync(path.join(repoRoot, 'shim/interpose.c'), 'utf8').matchAll(/^NONO_INTERPOSE\((\w+)\);/gm)].map((m) => m[1]!);

function replaceOnce(buf: Buffer, from: string, to: string): Buffer {
  const copy = Buffer.from(buf);
  const at = copy.indexOf(from, 0, 'latin1');
  expect(at).toBeGreaterThan(0);
  copy.write(to, at, 'latin1');
  return copy;
}

describe('__interpose table reader', () => {
  it('resolves every pair of the real dylib to hook and original', () => {
    const t = readInterposeTable(fixture);
    if (!t.ok) throw new Error(t.reason);
    expect(t.arch).toBe('arm64');
    expect(t.pairs).toHaveLength(11);
    expect(t.pairs.map((p) => p.original)).toEqual(hooks.map((h) => `_${h}`));
    expect(t.pairs.every((p, i) => p.replacement === `_nono_hook_${hooks[i]}`)).toBe(true);
    expect(interposeProblems(t, hooks)).toEqual([]);
  });

  it('names a hook the table lacks, and a compiled hook missing from the list', () => {
    const t = readInterposeTable(fixture);
    if (!t.ok) throw new Error(t.reason);
    expect(interposeProblems(t, [...hooks, 'execvP'])).toContain('execvP: no pair binds the original _execvP');
    expect(interposeProblems(t, hooks.filter((h) => h !== 'popen'))).toContain('_nono_hook_popen is compiled in but not listed in the interpose table');
  });

  it('refuses a dylib whose section is gone (what Zig 0.11 produced)', () => {
    const t = readInterposeTable(replaceOnce(fixture, '__interpose', '__interpXse'));
    expect(t).toEqual({ ok: false, reason: 'no __DATA,__interpose section (dyld would interpose nothing)' });
  });

  it('reports an original slot bound to another symbol', () => {
    const t = readInterposeTable(replaceOnce(fixture, '_system\0', '_systeX\0'));
    if (!t.ok) throw new Error(t.reason);
    expect(interposeProblems(t, hooks)).toContain('system: no pair binds the original _system');
  });

  it('never throws on truncated or foreign input', () => {
    for (let n = 0; n < fixture.length; n += 997) expect(readInterposeTable(fixture.subarray(0, n)).ok).toBe(false);
    expect(readInterposeTable(fs.readFileSync('/bin/true'))).toEqual({ ok: false, reason: 'not a thin 64-bit little-endian Mach-O' });
  });
});
