// Predicting from the executable itself whether LD_PRELOAD will reach it, on binaries the test
// builds: dynamic, -static, -static-pie, a setuid copy, a copy with file capabilities, scripts,
// and truncated or garbled files (which must give "cannot read", never an exception).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readElf } from '../src/doctor/elf.js';
import { preloadVerdict } from '../src/doctor/preload-verdict.js';
import { fixtures } from './helpers/paths.js';
import { setuidOther, withCaps } from './helpers/privileged.js';

let dir: string;
let capsMade = false;
const p = (name: string) => path.join(dir, name);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-elf-'));
  const src = path.join(fixtures, 'tiny_agent.c');
  execFileSync('gcc', ['-O2', '-o', p('dynamic'), src]);
  execFileSync('gcc', ['-O2', '-static', '-o', p('static'), src]);
  execFileSync('gcc', ['-O2', '-static-pie', '-o', p('static-pie'), src]);
  setuidOther(p('dynamic'), p('setuid-other'));
  fs.copyFileSync(p('dynamic'), p('setuid-mine'));
  fs.chmodSync(p('setuid-mine'), 0o4755);
  capsMade = withCaps(p('dynamic'), p('with-caps'));
  fs.writeFileSync(p('script-static'), `#!${p('static')}\n`, { mode: 0o755 });
  fs.writeFileSync(p('script-env'), '#!/usr/bin/env static\n', { mode: 0o755 });
  const whole = fs.readFileSync(p('dynamic'));
  fs.writeFileSync(p('truncated'), whole.subarray(0, 40));
  const garbled = Buffer.from(whole.subarray(0, 4096));
  garbled.writeBigUInt64LE(0xffffffffffn, 0x20); // program headers far beyond the end
  fs.writeFileSync(p('garbled'), garbled);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('preloadVerdict', () => {
  it('says a dynamic binary loads the preload, naming its loader', () => {
    expect(preloadVerdict(p('dynamic'), '')).toMatchObject({ preload: 'loads', reason: expect.stringMatching(/ld-linux/) });
  });

  it.each(['static', 'static-pie'])('says a %s binary ignores it', (name) => {
    const v = preloadVerdict(p(name), '');
    expect(v.preload).toBe('ignored');
    expect(v.reason).toMatch(name === 'static' ? /statically linked/ : /static-pie/);
  });

  it('says a setuid binary of another user strips it, unless no_new_privs keeps the bit from acting', () => {
    expect(preloadVerdict(p('setuid-other'), '')).toMatchObject({ preload: 'stripped', reason: expect.stringMatching(/setuid/) });
    expect(preloadVerdict(p('setuid-other'), '', { noNewPrivs: true }).preload).toBe('loads');
  });

  it("does not call a setuid binary of the caller's own uid stripped (no credential change, no secure mode)", () => {
    expect(preloadVerdict(p('setuid-mine'), '').preload).toBe('loads');
  });

  it('reports file capabilities only for callers they would raise (root holds them all)', (ctx) => {
    if (!capsMade) ctx.skip(); // setcap needs root
    const v = preloadVerdict(p('with-caps'), '');
    expect(v.preload).toBe(process.getuid!() === 0 ? 'loads' : 'stripped');
  });

  it('follows #! and #!/usr/bin/env NAME to the interpreter', () => {
    expect(preloadVerdict(p('script-static'), '')).toMatchObject({ preload: 'ignored', executable: p('static') });
    expect(preloadVerdict(p('script-env'), dir)).toMatchObject({ preload: 'ignored', executable: p('static') });
  });

  it.each(['truncated', 'garbled'])('gives "cannot read" for a %s file instead of throwing', (name) => {
    const v = preloadVerdict(p(name), '');
    expect(v.preload).toBe('unknown');
    expect(v.reason).toMatch(/truncated|outside the file/);
  });

  it('reports a missing file as unknown with the reason', () => {
    expect(preloadVerdict(p('nope'), '')).toMatchObject({ preload: 'unknown', reason: expect.stringMatching(/cannot read/) });
  });
});

describe('readElf', () => {
  it('survives every truncation of a real binary', () => {
    const whole = fs.readFileSync(p('dynamic'));
    for (let n = 0; n <= 1024; n += 7) {
      const r = readElf(whole.subarray(0, n));
      expect(['elf', 'not-elf', 'unreadable']).toContain(r.kind);
    }
  });

  it('survives random bytes behind a valid magic', () => {
    for (let i = 0; i < 500; i++) {
      const buf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]), Buffer.from(Array.from({ length: 200 }, () => Math.floor(Math.random() * 256)))]);
      expect(() => readElf(buf)).not.toThrow();
    }
  });
});
