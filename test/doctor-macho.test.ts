// The Mach-O reader and its preload verdicts, on files assembled byte by byte by the tests
// (fixtures/doctor/macho-builder.ts): thin (64-bit, 32-bit, big-endian) and universal (fat_arch
// and fat_arch_64), unsigned, ad-hoc, linker-signed, hardened runtime with and without the DYLD
// entitlements, the restrict flag, a __RESTRICT section; then every truncation of them, random
// bytes and hand-made hostile headers, which must all give "cannot read" without a throw or a
// hang. Then real signed macOS binaries published on npm (skipped offline).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeExecutable } from '../src/doctor/executable.js';
import { ENT_ALLOW_DYLD_ENV, ENT_DISABLE_LV, csFlagNames, readMacho, type MachoResult } from '../src/doctor/macho.js';
import { machoVerdict } from '../src/doctor/macho-verdict.js';
import { CPU_ARM64, CPU_I386, CPU_PPC, CPU_X86_64, buildThin, derEntitlements, fat, plist } from './fixtures/doctor/macho-builder.js';

const HARDENED_EMPTY = { cdFlags: [0x10000], entitlementsXml: plist({}) };

const fixtures: Record<string, Buffer> = {
  'arm64 unsigned': buildThin({ cputype: CPU_ARM64 }),
  'x86_64 ad-hoc': buildThin({ cputype: CPU_X86_64, signature: { cdFlags: [0x2] } }),
  'arm64 linker-signed': buildThin({ cputype: CPU_ARM64, signature: { cdFlags: [0x20002] } }),
  'arm64 hardened': buildThin({ cputype: CPU_ARM64, signature: HARDENED_EMPTY }),
  'arm64 restrict flag': buildThin({ cputype: CPU_ARM64, signature: { cdFlags: [0x800] } }),
  'arm64 hardened + DYLD entitlements': buildThin({
    cputype: CPU_ARM64,
    signature: { cdFlags: [0x10000], entitlementsXml: plist({ [ENT_ALLOW_DYLD_ENV]: true, [ENT_DISABLE_LV]: true, 'com.apple.security.cs.allow-jit': true }) },
  }),
  'arm64 hardened + allow-dyld only': buildThin({
    cputype: CPU_ARM64,
    signature: { cdFlags: [0x10000], entitlementsXml: plist({ [ENT_ALLOW_DYLD_ENV]: true }) },
  }),
  'arm64 hardened + allow-dyld false': buildThin({
    cputype: CPU_ARM64,
    signature: { cdFlags: [0x10000], entitlementsXml: plist({ [ENT_ALLOW_DYLD_ENV]: false, [ENT_DISABLE_LV]: true }) },
  }),
  'arm64 __RESTRICT': buildThin({ cputype: CPU_ARM64, restrictSegment: true, signature: { cdFlags: [0x20002] } }),
  'universal hardened': fat([
    { cputype: CPU_X86_64, data: buildThin({ cputype: CPU_X86_64, signature: HARDENED_EMPTY }) },
    { cputype: CPU_ARM64, data: buildThin({ cputype: CPU_ARM64, signature: HARDENED_EMPTY }) },
  ]),
  'universal mixed': fat([
    { cputype: CPU_X86_64, data: buildThin({ cputype: CPU_X86_64, signature: HARDENED_EMPTY }) },
    { cputype: CPU_ARM64, data: buildThin({ cputype: CPU_ARM64, signature: { cdFlags: [0x20002] } }) },
  ]),
  'universal fat_arch_64': fat(
    [
      { cputype: CPU_X86_64, data: buildThin({ cputype: CPU_X86_64, signature: { cdFlags: [0x2] } }) },
      { cputype: CPU_ARM64, data: buildThin({ cputype: CPU_ARM64, signature: { cdFlags: [0x2] } }) },
    ],
    true,
  ),
};

function macho(buf: Buffer): Extract<MachoResult, { kind: 'macho' }> {
  const r = readMacho(buf);
  if (r.kind !== 'macho') throw new Error(`expected a Mach-O, got ${JSON.stringify(r)}`);
  return r;
}

const verdictOf = (buf: Buffer, hostArch?: string) => machoVerdict(macho(buf).slices, undefined, { hostArch });

// ------------------------------------------------------------------------------------------------

describe('readMacho on well-formed files', () => {
  it('reads a thin arm64 file without a signature', () => {
    const r = macho(fixtures['arm64 unsigned']!);
    expect(r.universal).toBe(false);
    expect(r.slices).toHaveLength(1);
    expect(r.slices[0]).toMatchObject({ arch: 'arm64', bits: 64, filetype: 2, dylinker: '/usr/lib/dyld', restrictSection: false });
    expect(r.slices[0]!.signature).toBeUndefined();
  });

  it('reads CodeDirectory flags and names them', () => {
    expect(macho(fixtures['x86_64 ad-hoc']!).slices[0]).toMatchObject({ arch: 'x86_64', signature: { flags: 0x2 } });
    expect(csFlagNames(macho(fixtures['arm64 linker-signed']!).slices[0]!.signature!.flags)).toEqual(['CS_ADHOC', 'CS_LINKER_SIGNED']);
    expect(csFlagNames(0x10000)).toEqual(['CS_RUNTIME']);
    expect(csFlagNames(0x800 | 0x40000000)).toEqual(['CS_RESTRICT', '0x40000000']);
  });

  it('reads the entitlements plist', () => {
    const sig = macho(fixtures['arm64 hardened + DYLD entitlements']!).slices[0]!.signature!;
    expect(sig.entitlements).toEqual({
      format: 'xml',
      values: { [ENT_ALLOW_DYLD_ENV]: true, [ENT_DISABLE_LV]: true, 'com.apple.security.cs.allow-jit': true },
    });
    expect(macho(fixtures['arm64 hardened']!).slices[0]!.signature!.entitlements).toEqual({ format: 'xml', values: {} });
  });

  it('reads DER entitlements when there is no plist', () => {
    const buf = buildThin({ cputype: CPU_ARM64, signature: { cdFlags: [0x10000], entitlementsDer: derEntitlements({ [ENT_ALLOW_DYLD_ENV]: true, [ENT_DISABLE_LV]: false }) } });
    expect(macho(buf).slices[0]!.signature!.entitlements).toEqual({ format: 'der', values: { [ENT_ALLOW_DYLD_ENV]: true, [ENT_DISABLE_LV]: false } });
  });

  it('unites the flags of every CodeDirectory (an alternate directory counts too)', () => {
    const buf = buildThin({ cputype: CPU_ARM64, signature: { cdFlags: [0x2, 0x10002] } });
    const sig = macho(buf).slices[0]!.signature!;
    expect(sig.codeDirectoryFlags).toEqual([0x2, 0x10002]);
    expect(verdictOf(buf).preload).toBe('stripped');
  });

  it('finds a __RESTRICT,__restrict section, and only with the section', () => {
    expect(macho(fixtures['arm64 __RESTRICT']!).slices[0]!.restrictSection).toBe(true);
    const segmentOnly = buildThin({ cputype: CPU_ARM64, restrictSegment: true, restrictSection: false });
    expect(macho(segmentOnly).slices[0]!.restrictSection).toBe(false);
  });

  it('reads universal files with fat_arch and fat_arch_64 entries', () => {
    for (const name of ['universal hardened', 'universal fat_arch_64']) {
      const r = macho(fixtures[name]!);
      expect(r.universal).toBe(true);
      expect(r.slices.map((s) => s.arch)).toEqual(['x86_64', 'arm64']);
      expect(r.slices[0]!.offset).toBe(4096);
      expect(r.slices.every((s) => s.signature)).toBe(true);
    }
  });

  it('reads 32-bit and big-endian thin files', () => {
    expect(macho(buildThin({ cputype: CPU_I386, bits: 32, restrictSegment: true, signature: { cdFlags: [0x2] } })).slices[0]).toMatchObject({
      arch: 'i386',
      bits: 32,
      restrictSection: true,
      signature: { flags: 0x2 },
    });
    expect(macho(buildThin({ cputype: CPU_PPC, bits: 32, bigEndian: true, signature: { cdFlags: [0x10000] } })).slices[0]).toMatchObject({
      arch: 'ppc',
      signature: { flags: 0x10000 },
    });
  });

  it('names arm64e and x86_64h', () => {
    expect(macho(buildThin({ cputype: CPU_ARM64, cpusubtype: 0x80000002 })).slices[0]!.arch).toBe('arm64e');
    expect(macho(buildThin({ cputype: CPU_X86_64, cpusubtype: 8 })).slices[0]!.arch).toBe('x86_64h');
  });

  it('says not-macho for other files', () => {
    expect(readMacho(Buffer.from('#!/bin/sh\n')).kind).toBe('not-macho');
    expect(readMacho(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1])).kind).toBe('not-macho');
    expect(readMacho(Buffer.alloc(0)).kind).toBe('not-macho');
  });
});

describe('macho preload verdicts', () => {
  it.each([
    ['arm64 unsigned', 'loads', /unsigned/],
    ['x86_64 ad-hoc', 'loads', /ad-hoc signed/],
    ['arm64 linker-signed', 'loads', /ad-hoc signed by the linker/],
    ['arm64 hardened', 'stripped', /hardened runtime \(CS_RUNTIME\) without com\.apple\.security\.cs\.allow-dyld-environment-variables/],
    ['arm64 restrict flag', 'stripped', /CS_RESTRICT/],
    ['arm64 hardened + DYLD entitlements', 'loads', /entitled to DYLD variables/],
    ['arm64 hardened + allow-dyld only', 'stripped', /library validation/],
    ['arm64 hardened + allow-dyld false', 'stripped', /without com\.apple\.security\.cs\.allow-dyld/],
    ['arm64 __RESTRICT', 'stripped', /__RESTRICT,__restrict/],
    ['universal hardened', 'stripped', /CS_RUNTIME/],
  ] as const)('%s: %s', (name, preload, reason) => {
    const v = verdictOf(fixtures[name]!);
    expect(v.preload).toBe(preload);
    expect(v.reason).toMatch(reason);
  });

  it('gives one verdict per slice, and the least favourable when slices disagree', () => {
    const v = verdictOf(fixtures['universal mixed']!);
    expect(v.slices.map((s) => [s.arch, s.preload])).toEqual([
      ['x86_64', 'stripped'],
      ['arm64', 'loads'],
    ]);
    expect(v.preload).toBe('stripped');
    expect(v.reason).toMatch(/^x86_64: .*; arm64: /);
  });

  it("uses the slice a Mac would run when it knows the host's architecture", () => {
    expect(verdictOf(fixtures['universal mixed']!, 'arm64')).toMatchObject({ preload: 'loads', reason: expect.stringMatching(/^arm64 slice/) });
    expect(verdictOf(fixtures['universal mixed']!, 'x86_64').preload).toBe('stripped');
  });

  it('calls a program without LC_LOAD_DYLINKER static: ignored', () => {
    expect(verdictOf(buildThin({ cputype: CPU_ARM64, dylinker: false, signature: { cdFlags: [0x20002] } }))).toMatchObject({
      preload: 'ignored',
      reason: expect.stringMatching(/LC_LOAD_DYLINKER/),
    });
  });

  it('takes setuid/setgid from the file mode, and SIP locations from the path', () => {
    const slices = macho(fixtures['arm64 linker-signed']!).slices;
    const file = { path: '/opt/x/agent', mode: 0o100755 | 0o4000, uid: 0, gid: 0 };
    expect(machoVerdict(slices, file, { callerUid: 501, callerGid: 20 })).toMatchObject({ preload: 'stripped', reason: expect.stringMatching(/setuid/) });
    expect(machoVerdict(slices, file, { callerUid: 0, callerGid: 0 }).preload).toBe('loads');
    expect(machoVerdict(slices, { ...file, mode: 0o102755, gid: 80 }, { callerUid: 0, callerGid: 20 }).reason).toMatch(/setgid/);
    expect(machoVerdict(slices, { ...file, path: '/usr/bin/agent', mode: 0o100755 }, {}).reason).toMatch(/System Integrity Protection/);
  });
});

describe('readMacho on truncated, garbled and hostile input', () => {
  it.each(Object.keys(fixtures))('every proper prefix of "%s" is "cannot read", never a throw', (name) => {
    const whole = fixtures[name]!;
    for (let n = 0; n < whole.length; n++) {
      const r = readMacho(whole.subarray(0, n));
      if (n < 4) expect(r.kind).toBe('not-macho');
      else {
        expect(r.kind, `length ${n}`).toBe('unreadable');
        expect((r as { reason: string }).reason.length).toBeGreaterThan(0);
      }
    }
    expect(readMacho(whole).kind).toBe('macho');
  });

  it('survives every single-byte corruption of a signed universal file', () => {
    const whole = fixtures['universal mixed']!;
    // The interesting bytes: the fat header, each slice's header and load commands, each signature.
    const r = macho(whole);
    const ranges: Array<[number, number]> = [[0, 64]];
    for (const s of r.slices) ranges.push([s.offset, s.offset + s.size]);
    for (const [from, to] of ranges) {
      for (let i = from; i < to; i++) {
        for (const v of [0x00, 0xff, 0x7f, 0x80]) {
          const copy = Buffer.from(whole);
          copy[i] = v;
          const out = readMacho(copy);
          expect(['macho', 'unreadable', 'not-macho']).toContain(out.kind);
        }
      }
    }
  });

  it('survives random bytes, with and without a Mach-O magic in front', () => {
    const magics = [
      [0xcf, 0xfa, 0xed, 0xfe],
      [0xce, 0xfa, 0xed, 0xfe],
      [0xfe, 0xed, 0xfa, 0xcf],
      [0xca, 0xfe, 0xba, 0xbe],
      [0xca, 0xfe, 0xba, 0xbf],
    ];
    for (let i = 0; i < 2000; i++) {
      const random = Buffer.from(Array.from({ length: 16 + Math.floor(Math.random() * 600) }, () => Math.floor(Math.random() * 256)));
      const buf = i % 6 === 5 ? random : Buffer.concat([Buffer.from(magics[i % 6]!), random]);
      const r = readMacho(buf);
      expect(['macho', 'unreadable', 'not-macho']).toContain(r.kind);
    }
  });

  function patched(base: Buffer, edits: Array<[number, number]>, le = true): Buffer {
    const b = Buffer.from(base);
    for (const [off, v] of edits) {
      if (le) b.writeUInt32LE(v >>> 0, off);
      else b.writeUInt32BE(v >>> 0, off);
    }
    return b;
  }

  const thin = () => fixtures['arm64 linker-signed']!;
  // Offsets in the thin fixture: header 32 bytes, LC_LOAD_DYLINKER at 32 (32 bytes), LC_CODE_SIGNATURE at 64.
  it.each([
    ['a load command of size 0 (would loop forever)', () => patched(thin(), [[36, 0]]), /size 0/],
    ['four billion load commands', () => patched(thin(), [[16, 0xffffffff]]), /load commands/],
    ['load commands larger than the file', () => patched(thin(), [[20, 0x7fffffff]]), /outside the file/],
    ['a signature beyond the end', () => patched(thin(), [[72, 0x7ffffff0]]), /code signature lies outside/],
    ['a signature that is not a SuperBlob', () => {
      const b = Buffer.from(thin());
      b.writeUInt32BE(0xdeadbeef, b.readUInt32LE(72));
      return b;
    }, /not an embedded signature/],
    ['a SuperBlob claiming a million blobs', () => {
      const b = Buffer.from(thin());
      b.writeUInt32BE(1_000_000, b.readUInt32LE(72) + 8);
      return b;
    }, /blobs that do not fit/],
    ['a blob index pointing outside the signature', () => {
      const b = Buffer.from(thin());
      b.writeUInt32BE(0xfffffff0, b.readUInt32LE(72) + 16);
      return b;
    }, /outside the signature/],
    ['a universal header claiming 4 billion slices', () => patched(fixtures['universal mixed']!, [[4, 0xffffffff]], false), /slices/],
    ['a slice overlapping the universal header', () => patched(fixtures['universal mixed']!, [[16, 0]], false), /overlaps the universal header/],
    ['two overlapping slices', () => {
      const b = Buffer.from(fixtures['universal mixed']!);
      b.writeUInt32BE(b.readUInt32BE(16), 36); // slice 2 starts where slice 1 does
      return b;
    }, /overlaps another slice/],
    ['a slice whose cputype disagrees with the universal header', () => patched(fixtures['universal mixed']!, [[8, CPU_I386]], false), /universal header says i386/],
    ['a universal file nested in a universal file', () => fat([{ cputype: CPU_ARM64, data: fixtures['universal mixed']! }]), /not a thin Mach-O/],
    ['a fat_arch_64 offset beyond 2^53', () => {
      const b = Buffer.from(fixtures['universal fat_arch_64']!);
      b.writeBigUInt64BE(1n << 62n, 16);
      return b;
    }, /too large/],
    ['a segment claiming more sections than fit', () => {
      const b = Buffer.from(fixtures['arm64 __RESTRICT']!);
      b.writeUInt32LE(0xffff, 64 + 64); // nsects of the __RESTRICT segment (second command)
      return b;
    }, /sections that do not fit/],
    ['a Java class file (same magic as a universal file)', () => Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52, 1, 2, 3]), /Java class/],
  ])('%s: cannot read', (_name, make, reason) => {
    const r = readMacho(make());
    expect(r.kind).toBe('unreadable');
    expect((r as { reason: string }).reason).toMatch(reason);
  });
});

describe('analyzeExecutable on Mach-O files', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-macho-'));
    for (const [name, buf] of Object.entries(fixtures)) fs.writeFileSync(path.join(dir, name.replace(/[^a-z0-9_-]+/gi, '-')), buf, { mode: 0o755 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reports format, slices, signature flags and entitlements', () => {
    const r = analyzeExecutable(path.join(dir, 'universal-hardened'), { pathVar: '' });
    expect(r).toMatchObject({
      format: 'macho',
      arch: ['x86_64', 'arm64'],
      preload: 'stripped',
      signature: [
        { arch: 'x86_64', signed: true, flags: ['CS_RUNTIME'], entitlements: {} },
        { arch: 'arm64', signed: true, flags: ['CS_RUNTIME'], entitlements: {} },
      ],
    });
    const ent = analyzeExecutable(path.join(dir, 'arm64-hardened-DYLD-entitlements'), { pathVar: '' });
    expect(ent.signature[0]!.entitlements[ENT_ALLOW_DYLD_ENV]).toBe(true);
    expect(ent.preload).toBe('loads');
  });

  it('reports a truncated file as cannot read', () => {
    const cut = path.join(dir, 'cut');
    fs.writeFileSync(cut, fixtures['universal mixed']!.subarray(0, 5000));
    expect(analyzeExecutable(cut, { pathVar: '' })).toMatchObject({ format: 'macho', preload: 'unknown', reason: expect.stringMatching(/^cannot read this Mach-O file: /) });
  });
});

// ------------------------------------------------------------------------------------------------
// Real binaries published on npm (pinned versions, so the expected signatures do not drift).
// Skipped when the registry cannot be reached. The Claude Code one is ~175 MB: only with
// NONO_TEST_LARGE_DOWNLOADS=1.

describe('real published macOS binaries', () => {
  let dir: string;
  let online = false;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-npm-macho-'));
    const r = await execa('npm', ['view', '@esbuild/darwin-arm64@0.28.2', 'version', '--fetch-retries=0', '--fetch-timeout=8000'], { reject: false, timeout: 20_000 });
    online = r.exitCode === 0 && r.stdout.trim() === '0.28.2';
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function unpack(spec: string): Promise<string> {
    const sub = fs.mkdtempSync(path.join(dir, 'p-'));
    const r = await execa('npm', ['pack', spec, '--silent'], { cwd: sub, timeout: 240_000 });
    await execa('tar', ['xzf', r.stdout.trim().split('\n').pop()!], { cwd: sub });
    return path.join(sub, 'package');
  }

  it('esbuild for darwin-arm64 (Go, linker-signed 0x20002): loads', async ({ skip }) => {
    if (!online) skip('npm registry not reachable');
    const r = analyzeExecutable(path.join(await unpack('@esbuild/darwin-arm64@0.28.2'), 'bin', 'esbuild'), { pathVar: '' });
    expect(r).toMatchObject({ format: 'macho', arch: ['arm64'], preload: 'loads' });
    expect(r.signature[0]!.flags).toEqual(['CS_ADHOC', 'CS_LINKER_SIGNED']);
  });

  it('sentry-cli for macOS (universal, Developer ID, hardened runtime, no entitlements): stripped', async ({ skip }) => {
    if (!online) skip('npm registry not reachable');
    const r = analyzeExecutable(path.join(await unpack('@sentry/cli-darwin@3.8.0'), 'bin', 'sentry-cli'), { pathVar: '' });
    expect(r).toMatchObject({ format: 'macho', arch: ['x86_64', 'arm64'], preload: 'stripped', reason: expect.stringMatching(/CS_RUNTIME/) });
    expect(r.signature.map((s) => s.flags)).toEqual([['CS_RUNTIME'], ['CS_RUNTIME']]);
  });

  it('Claude Code for darwin-arm64 (Bun, hardened runtime without allow-dyld): stripped', async ({ skip }) => {
    if (!online || process.env.NONO_TEST_LARGE_DOWNLOADS !== '1') skip('set NONO_TEST_LARGE_DOWNLOADS=1 (and be online) to fetch ~175 MB');
    const r = analyzeExecutable(path.join(await unpack('@anthropic-ai/claude-code-darwin-arm64@2.1.332'), 'claude'), { pathVar: '', detectSingleFile: true });
    expect(r).toMatchObject({ format: 'macho', arch: ['arm64'], preload: 'stripped', singleFile: 'bun' });
    expect(r.signature[0]!.flags).toContain('CS_RUNTIME');
    expect(r.signature[0]!.entitlements[ENT_DISABLE_LV]).toBe(true);
    expect(r.signature[0]!.entitlements[ENT_ALLOW_DYLD_ENV]).toBeUndefined();
  });
});
