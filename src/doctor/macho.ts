// A bounds-checked Mach-O reader: thin (32/64-bit, either byte order) and universal files, and
// for each slice the facts that decide whether dyld will honour DYLD_INSERT_LIBRARIES: the code
// signature's CodeDirectory flags, its entitlements, a __RESTRICT,__restrict section, and whether
// dyld is involved at all. It reads only the Buffer it is given. A truncated or hostile file gives
// `{ kind: 'unreadable', reason }`: every offset is checked before use and every loop has a cap,
// so no input can make it throw or spin.

/** CodeDirectory flag bits (Apple's cs_blobs.h), by the names Apple's tools print. */
export const CS_FLAGS: ReadonlyArray<readonly [string, number]> = [
  ['CS_VALID', 0x1],
  ['CS_ADHOC', 0x2],
  ['CS_GET_TASK_ALLOW', 0x4],
  ['CS_INSTALLER', 0x8],
  ['CS_FORCED_LV', 0x10],
  ['CS_INVALID_ALLOWED', 0x20],
  ['CS_HARD', 0x100],
  ['CS_KILL', 0x200],
  ['CS_CHECK_EXPIRATION', 0x400],
  ['CS_RESTRICT', 0x800],
  ['CS_ENFORCEMENT', 0x1000],
  ['CS_REQUIRE_LV', 0x2000],
  ['CS_ENTITLEMENTS_VALIDATED', 0x4000],
  ['CS_NVRAM_UNRESTRICTED', 0x8000],
  ['CS_RUNTIME', 0x10000],
  ['CS_LINKER_SIGNED', 0x20000],
];
export const CS_ADHOC = 0x2;
export const CS_RESTRICT = 0x800;
export const CS_REQUIRE_LV = 0x2000;
export const CS_RUNTIME = 0x10000;
export const CS_LINKER_SIGNED = 0x20000;

export const ENT_ALLOW_DYLD_ENV = 'com.apple.security.cs.allow-dyld-environment-variables';
export const ENT_DISABLE_LV = 'com.apple.security.cs.disable-library-validation';

export const MH_EXECUTE = 2;

export interface MachoEntitlements {
  /** Which blob they came from: the XML plist, or (when only that exists) the DER form. */
  format: 'xml' | 'der';
  /** Every boolean entitlement found, by key. */
  values: Record<string, boolean>;
}

export interface MachoSignature {
  /** Flags of each CodeDirectory (the primary one and any alternates), in blob order. */
  codeDirectoryFlags: number[];
  /** The union of those flags: what the verdict looks at. */
  flags: number;
  entitlements?: MachoEntitlements;
}

export interface MachoSlice {
  arch: string;
  cputype: number;
  cpusubtype: number;
  bits: 32 | 64;
  filetype: number;
  /** Where the slice starts in the file and how long it is (the whole file for a thin Mach-O). */
  offset: number;
  size: number;
  /** LC_LOAD_DYLINKER's path; absent = dyld never runs for this program. */
  dylinker?: string;
  /** A __RESTRICT segment holding a __restrict section (dyld then ignores DYLD_* variables). */
  restrictSection: boolean;
  signature?: MachoSignature;
}

export type MachoResult =
  | { kind: 'macho'; universal: boolean; slices: MachoSlice[] }
  | { kind: 'not-macho' }
  | { kind: 'unreadable'; reason: string };

const FAT_MAGIC = 0xcafebabe;
const FAT_MAGIC_64 = 0xcafebabf;
const MH_MAGIC = 0xfeedface;
const MH_MAGIC_64 = 0xfeedfacf;

const LC_SEGMENT = 0x1;
const LC_LOAD_DYLINKER = 0xe;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;

const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSMAGIC_EMBEDDED_ENTITLEMENTS = 0xfade7171;
const CSMAGIC_EMBEDDED_DER_ENTITLEMENTS = 0xfade7172;

// Caps far above anything a real toolchain writes, low enough that hostile counts end quickly.
// A Java class file shares the 0xcafebabe magic; its "count" is the class version (45 and up).
const MAX_FAT_ARCHS = 32;
const MAX_LOAD_COMMANDS = 65536;
const MAX_SECTIONS = 4096;
const MAX_BLOBS = 256;
const MAX_ENTITLEMENTS_BYTES = 1 << 20;

const CPU_ARCH_ABI64 = 0x01000000;
const CPU_ARCH_ABI64_32 = 0x02000000;
const CPU_TYPES: Record<number, string> = {
  7: 'i386',
  [7 | CPU_ARCH_ABI64]: 'x86_64',
  12: 'arm',
  [12 | CPU_ARCH_ABI64]: 'arm64',
  [12 | CPU_ARCH_ABI64_32]: 'arm64_32',
  18: 'ppc',
  [18 | CPU_ARCH_ABI64]: 'ppc64',
};

/** The name Apple's tools use for a (cputype, cpusubtype) pair. */
export function machoArchName(cputype: number, cpusubtype: number): string {
  const sub = cpusubtype & 0x00ffffff; // the top byte holds capability bits, not the subtype
  if (cputype === (12 | CPU_ARCH_ABI64) && sub === 2) return 'arm64e';
  if (cputype === (7 | CPU_ARCH_ABI64) && sub === 8) return 'x86_64h';
  return CPU_TYPES[cputype] ?? `cputype ${cputype}`;
}

class Unreadable extends Error {}

function fail(reason: string): never {
  throw new Unreadable(reason);
}

/** Checked reads inside [0, buf.length): every access names what it was reading when it fails. */
class View {
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
  ) {}

  get length(): number {
    return this.buf.length;
  }

  need(off: number, len: number, what: string): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > this.buf.length) {
      fail(`${what} lies outside the file (bytes ${off}..${off + len}, file has ${this.buf.length})`);
    }
  }

  u32(off: number, what: string): number {
    this.need(off, 4, what);
    return this.le ? this.buf.readUInt32LE(off) : this.buf.readUInt32BE(off);
  }

  u32be(off: number, what: string): number {
    this.need(off, 4, what);
    return this.buf.readUInt32BE(off);
  }

  u64be(off: number, what: string): number {
    this.need(off, 8, what);
    const v = this.buf.readBigUInt64BE(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} is too large (${v})`);
    return Number(v);
  }

  cstr(off: number, max: number): string {
    const end = Math.min(off + max, this.buf.length);
    const slice = this.buf.subarray(off, end);
    const nul = slice.indexOf(0);
    return slice.subarray(0, nul < 0 ? slice.length : nul).toString('latin1');
  }
}

export function isMachoMagic(buf: Buffer): boolean {
  if (buf.length < 4) return false;
  const be = buf.readUInt32BE(0);
  const le = buf.readUInt32LE(0);
  return be === FAT_MAGIC || be === FAT_MAGIC_64 || le === MH_MAGIC || le === MH_MAGIC_64 || be === MH_MAGIC || be === MH_MAGIC_64;
}

export function readMacho(buf: Buffer): MachoResult {
  if (buf.length < 4) return { kind: 'not-macho' };
  const magicBe = buf.readUInt32BE(0);
  try {
    if (magicBe === FAT_MAGIC || magicBe === FAT_MAGIC_64) return readUniversal(buf, magicBe === FAT_MAGIC_64);
    const magicLe = buf.readUInt32LE(0);
    if (magicLe === MH_MAGIC || magicLe === MH_MAGIC_64 || magicBe === MH_MAGIC || magicBe === MH_MAGIC_64) {
      return { kind: 'macho', universal: false, slices: [readThin(buf, 0, buf.length, 'the Mach-O file')] };
    }
    return { kind: 'not-macho' };
  } catch (e) {
    if (e instanceof Unreadable) return { kind: 'unreadable', reason: e.message };
    // A bounds check this reader missed still must not surface as a stack trace.
    return { kind: 'unreadable', reason: `malformed Mach-O (${(e as Error).message})` };
  }
}

function readUniversal(buf: Buffer, wide: boolean): MachoResult {
  const v = new View(buf, false);
  const count = v.u32be(4, 'the universal header');
  if (count === 0) fail('universal header lists no slices');
  if (count > MAX_FAT_ARCHS) {
    fail(`universal header claims ${count} slices (more than ${MAX_FAT_ARCHS}; a Java class file has the same magic)`);
  }
  const entrySize = wide ? 32 : 20;
  const headerEnd = 8 + count * entrySize;
  v.need(8, count * entrySize, 'the universal header');
  const slices: MachoSlice[] = [];
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const e = 8 + i * entrySize;
    const what = `slice ${i + 1}`;
    const cputype = v.u32be(e, what);
    const cpusubtype = v.u32be(e + 4, what);
    const offset = wide ? v.u64be(e + 8, `${what} offset`) : v.u32be(e + 8, what);
    const size = wide ? v.u64be(e + 16, `${what} size`) : v.u32be(e + 12, what);
    if (offset < headerEnd) fail(`${what} overlaps the universal header`);
    v.need(offset, size, what);
    for (const [s, end] of ranges) if (offset < end && s < offset + size) fail(`${what} overlaps another slice`);
    ranges.push([offset, offset + size]);
    const slice = readThin(buf.subarray(offset, offset + size), offset, size, what);
    if (slice.cputype !== cputype) {
      fail(`${what}: the universal header says ${machoArchName(cputype, cpusubtype)}, the slice itself says ${slice.arch}`);
    }
    slices.push(slice);
  }
  return { kind: 'macho', universal: true, slices };
}

function readThin(buf: Buffer, fileOffset: number, size: number, what: string): MachoSlice {
  if (buf.length < 4) fail(`${what} is truncated (no Mach-O header)`);
  const magicLe = buf.readUInt32LE(0);
  const le = magicLe === MH_MAGIC || magicLe === MH_MAGIC_64;
  const magic = le ? magicLe : buf.readUInt32BE(0);
  if (magic !== MH_MAGIC && magic !== MH_MAGIC_64) fail(`${what} is not a thin Mach-O (magic 0x${magic.toString(16)})`);
  const is64 = magic === MH_MAGIC_64;
  const v = new View(buf, le);
  const headerSize = is64 ? 32 : 28;
  v.need(0, headerSize, `${what}: Mach-O header`);
  const cputype = v.u32(4, 'header');
  const cpusubtype = v.u32(8, 'header');
  const filetype = v.u32(12, 'header');
  const ncmds = v.u32(16, 'header');
  const sizeofcmds = v.u32(20, 'header');
  if (ncmds > MAX_LOAD_COMMANDS) fail(`${what}: header claims ${ncmds} load commands`);
  v.need(headerSize, sizeofcmds, `${what}: load commands`);
  const slice: MachoSlice = {
    arch: machoArchName(cputype, cpusubtype),
    cputype,
    cpusubtype,
    bits: is64 ? 64 : 32,
    filetype,
    offset: fileOffset,
    size,
    restrictSection: false,
  };
  const cmdsEnd = headerSize + sizeofcmds;
  let off = headerSize;
  for (let i = 0; i < ncmds; i++) {
    const lc = `${what}: load command ${i + 1}`;
    if (off + 8 > cmdsEnd) fail(`${lc} runs past the load commands area`);
    const cmd = v.u32(off, lc) & 0x7fffffff; // the top bit only says "required by dyld"
    const cmdsize = v.u32(off + 4, lc);
    // A command smaller than its own header would never advance the loop.
    if (cmdsize < 8) fail(`${lc} has size ${cmdsize}`);
    if (off + cmdsize > cmdsEnd) fail(`${lc} runs past the load commands area`);
    if (cmd === LC_CODE_SIGNATURE) {
      if (cmdsize < 16) fail(`${lc} (LC_CODE_SIGNATURE) is too short`);
      const dataoff = v.u32(off + 8, lc);
      const datasize = v.u32(off + 12, lc);
      v.need(dataoff, datasize, `${what}: the code signature`);
      slice.signature = readSignature(buf.subarray(dataoff, dataoff + datasize), `${what}: code signature`);
    } else if (cmd === LC_LOAD_DYLINKER) {
      if (cmdsize < 12) fail(`${lc} (LC_LOAD_DYLINKER) is too short`);
      const nameOff = v.u32(off + 8, lc);
      if (nameOff < 12 || nameOff >= cmdsize) fail(`${lc} (LC_LOAD_DYLINKER) names its path outside itself`);
      slice.dylinker = v.cstr(off + nameOff, cmdsize - nameOff);
    } else if (cmd === LC_SEGMENT || cmd === LC_SEGMENT_64) {
      if (hasRestrictSection(v, off, cmdsize, cmd === LC_SEGMENT_64, lc)) slice.restrictSection = true;
    }
    off += cmdsize;
  }
  return slice;
}

/** The segment is __RESTRICT and one of its sections is __restrict: what dyld looks for. */
function hasRestrictSection(v: View, off: number, cmdsize: number, is64: boolean, lc: string): boolean {
  const headerSize = is64 ? 72 : 56;
  const sectSize = is64 ? 80 : 68;
  if (cmdsize < headerSize) fail(`${lc} (segment) is too short`);
  const segname = v.cstr(off + 8, 16);
  const nsects = v.u32(off + (is64 ? 64 : 48), lc);
  if (nsects > MAX_SECTIONS || headerSize + nsects * sectSize > cmdsize) fail(`${lc} (segment ${segname}) claims ${nsects} sections that do not fit`);
  if (segname !== '__RESTRICT') return false;
  for (let s = 0; s < nsects; s++) {
    if (v.cstr(off + headerSize + s * sectSize, 16) === '__restrict') return true;
  }
  return false;
}

function readSignature(buf: Buffer, what: string): MachoSignature {
  // Code signature structures are big-endian whatever the slice's byte order.
  const v = new View(buf, false);
  const magic = v.u32be(0, what);
  if (magic !== CSMAGIC_EMBEDDED_SIGNATURE) fail(`${what} is not an embedded signature (magic 0x${magic.toString(16)})`);
  const length = v.u32be(4, what);
  const count = v.u32be(8, what);
  if (length < 12 || length > buf.length) fail(`${what} claims ${length} bytes but has ${buf.length}`);
  if (count > MAX_BLOBS || 12 + count * 8 > length) fail(`${what} claims ${count} blobs that do not fit`);
  const sig: MachoSignature = { codeDirectoryFlags: [], flags: 0 };
  let xml: Record<string, boolean> | undefined;
  let der: Record<string, boolean> | undefined;
  for (let i = 0; i < count; i++) {
    const blobWhat = `${what}: blob ${i + 1}`;
    const blobOff = v.u32be(12 + i * 8 + 4, blobWhat);
    if (blobOff + 8 > length) fail(`${blobWhat} lies outside the signature`);
    const blobMagic = v.u32be(blobOff, blobWhat);
    const blobLen = v.u32be(blobOff + 4, blobWhat);
    if (blobLen < 8 || blobOff + blobLen > length) fail(`${blobWhat} lies outside the signature`);
    if (blobMagic === CSMAGIC_CODEDIRECTORY) {
      if (blobLen < 16) fail(`${blobWhat} (CodeDirectory) is too short to hold its flags`);
      const flags = v.u32be(blobOff + 12, blobWhat);
      sig.codeDirectoryFlags.push(flags);
      sig.flags |= flags;
    } else if (blobMagic === CSMAGIC_EMBEDDED_ENTITLEMENTS || blobMagic === CSMAGIC_EMBEDDED_DER_ENTITLEMENTS) {
      if (blobLen - 8 > MAX_ENTITLEMENTS_BYTES) fail(`${blobWhat} (entitlements) is larger than ${MAX_ENTITLEMENTS_BYTES} bytes`);
      const body = buf.subarray(blobOff + 8, blobOff + blobLen);
      if (blobMagic === CSMAGIC_EMBEDDED_ENTITLEMENTS) xml = { ...xml, ...xmlBooleans(body.toString('utf8')) };
      else der = { ...der, ...derBooleans(body) };
    }
  }
  // The XML form is the one dyld and amfid historically read; the DER form only fills in when a
  // signature carries nothing else.
  if (xml) sig.entitlements = { format: 'xml', values: xml };
  else if (der) sig.entitlements = { format: 'der', values: der };
  return sig;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Boolean entries of an entitlements plist. Not a full plist parser: entitlements that matter here
 * are top-level `<key>K</key><true/>` pairs, and a linear regex cannot be made to backtrack.
 */
function xmlBooleans(text: string): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  const re = /<key>([^<]{1,1024})<\/key>\s*<(true|false)\s*\/>/g;
  for (const m of text.matchAll(re)) {
    const key = m[1]!.trim().replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => XML_ENTITIES[e]!);
    out[key] = m[2] === 'true';
  }
  return out;
}

/**
 * Boolean entries of the DER entitlements form, found by shape rather than decoded: a UTF8String
 * (tag 0x0c, short length) holding a printable key, immediately followed by a BOOLEAN (01 01 xx).
 */
function derBooleans(body: Buffer): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (let i = 0; i + 2 < body.length; i++) {
    if (body[i] !== 0x0c) continue;
    const len = body[i + 1]!;
    if (len === 0 || len >= 0x80) continue;
    const keyEnd = i + 2 + len;
    if (keyEnd + 3 > body.length) continue;
    if (body[keyEnd] !== 0x01 || body[keyEnd + 1] !== 0x01) continue;
    const key = body.subarray(i + 2, keyEnd).toString('latin1');
    if (!/^[\x21-\x7e]+$/.test(key)) continue;
    out[key] = body[keyEnd + 2] !== 0x00;
    i = keyEnd + 2;
  }
  return out;
}

/** Names of the set bits, Apple's names first, unknown bits as hex. */
export function csFlagNames(flags: number): string[] {
  const names: string[] = [];
  let rest = flags >>> 0;
  for (const [name, bit] of CS_FLAGS) {
    if (rest & bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  for (let bit = 1; rest !== 0 && bit !== 0; bit = (bit << 1) >>> 0) {
    if (rest & bit) {
      names.push(`0x${bit.toString(16)}`);
      rest = (rest & ~bit) >>> 0;
    }
  }
  return names;
}
