// Reads the dyld interposing table of a thin 64-bit little-endian Mach-O dylib: the
// {replacement, original} pointer pairs of its __DATA,__interpose section, resolved to names.
// The replacement slot holds a local address (rebased at load), named through the symbol table;
// the original slot is bound to an imported symbol by the dyld bind opcodes (LC_DYLD_INFO[_ONLY]).
// `npm run check:macos` uses it to fail unless every hook of the interposer is really in the table
// (one Zig version silently drops the section). Chained fixups (LC_DYLD_CHAINED_FIXUPS, what
// Apple's ld writes for recent deployment targets) are refused with a clear reason rather than
// guessed. Every read is bounds-checked; a malformed file gives `{ ok: false, reason }`.

export interface InterposePair {
  /** Symbol at the replacement address (e.g. `_nono_hook_execve`), or undefined. */
  replacement?: string;
  /** Imported symbol the original slot binds to (e.g. `_execve`), or undefined. */
  original?: string;
}

export type InterposeTable =
  | { ok: true; arch: string; pairs: InterposePair[]; definedSymbols: string[] }
  | { ok: false; reason: string };

const MH_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT_64 = 0x19;
const LC_SYMTAB = 0x2;
const LC_DYLD_INFO = 0x22;
const LC_DYLD_INFO_ONLY = 0x80000022;
const LC_DYLD_CHAINED_FIXUPS = 0x80000034;
const N_TYPE = 0x0e;
const N_SECT = 0x0e;
const N_STAB = 0xe0;

class Bad extends Error {}

interface Section {
  seg: string;
  name: string;
  addr: number;
  size: number;
  offset: number;
}

export function readInterposeTable(buf: Buffer): InterposeTable {
  try {
    return read(buf);
  } catch (e) {
    if (e instanceof Bad) return { ok: false, reason: e.message };
    throw e;
  }
}

function read(buf: Buffer): InterposeTable {
  const need = (off: number, len: number, what: string) => {
    if (off < 0 || len < 0 || off + len > buf.length) throw new Bad(`${what} lies outside the file`);
  };
  const u32 = (off: number, what: string) => (need(off, 4, what), buf.readUInt32LE(off));
  const u64 = (off: number, what: string) => {
    need(off, 8, what);
    const v = buf.readBigUInt64LE(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Bad(`${what} is too large`);
    return Number(v);
  };
  const name16 = (off: number) => (need(off, 16, 'a segment name'), buf.subarray(off, off + 16).toString('latin1').replace(/\0.*$/s, ''));
  const cstr = (off: number, what: string) => {
    need(off, 1, what);
    const end = buf.indexOf(0, off);
    if (end < 0) throw new Bad(`${what} is not terminated`);
    return buf.subarray(off, end).toString('latin1');
  };

  if (buf.length < 32 || buf.readUInt32LE(0) !== MH_MAGIC_64) return { ok: false, reason: 'not a thin 64-bit little-endian Mach-O' };
  const cputype = buf.readInt32LE(4);
  const arch = cputype === 0x0100000c ? 'arm64' : cputype === 0x01000007 ? 'x86_64' : `cputype ${cputype}`;
  const ncmds = u32(16, 'the load command count');
  if (ncmds > 65536) throw new Bad('too many load commands');
  const sections: Section[] = [];
  const segments: Array<{ name: string; vmaddr: number }> = [];
  let symtab: { symoff: number; nsyms: number; stroff: number; strsize: number } | undefined;
  let bind: { off: number; size: number } | undefined;
  let chained = false;
  let off = 32;
  for (let i = 0; i < ncmds; i++) {
    const cmd = u32(off, 'a load command');
    const size = u32(off + 4, 'a load command size');
    if (size < 8) throw new Bad(`load command ${i} has size ${size}`);
    need(off, size, `load command ${i}`);
    if (cmd === LC_SEGMENT_64) {
      const seg = name16(off + 8);
      segments.push({ name: seg, vmaddr: u64(off + 24, 'a segment address') });
      const nsects = u32(off + 64, 'a section count');
      if (72 + nsects * 80 > size) throw new Bad(`segment ${seg} claims ${nsects} sections that do not fit`);
      for (let k = 0; k < nsects; k++) {
        const s = off + 72 + 80 * k;
        sections.push({ seg: name16(s + 16), name: name16(s), addr: u64(s + 32, 'a section address'), size: u64(s + 40, 'a section size'), offset: u32(s + 48, 'a section offset') });
      }
    } else if (cmd === LC_SYMTAB) {
      symtab = { symoff: u32(off + 8, 'symoff'), nsyms: u32(off + 12, 'nsyms'), stroff: u32(off + 16, 'stroff'), strsize: u32(off + 20, 'strsize') };
    } else if (cmd === LC_DYLD_INFO || cmd === LC_DYLD_INFO_ONLY) {
      bind = { off: u32(off + 16, 'bind_off'), size: u32(off + 20, 'bind_size') };
    } else if (cmd === LC_DYLD_CHAINED_FIXUPS) {
      chained = true;
    }
    off += size;
  }
  const table = sections.find((s) => s.seg === '__DATA' && s.name === '__interpose');
  if (!table) return { ok: false, reason: 'no __DATA,__interpose section (dyld would interpose nothing)' };
  if (table.size === 0 || table.size % 16 !== 0) return { ok: false, reason: `__interpose holds ${table.size} bytes, not a whole number of 16-byte pairs` };
  if (chained && !bind) return { ok: false, reason: 'the pointers use chained fixups, which this reader does not decode' };
  if (!bind) return { ok: false, reason: 'no LC_DYLD_INFO bind information for the original slots' };
  if (!symtab) return { ok: false, reason: 'no symbol table to name the replacements' };
  need(table.offset, table.size, 'the __interpose section');
  need(symtab.symoff, symtab.nsyms * 16, 'the symbol table');
  need(symtab.stroff, symtab.strsize, 'the string table');

  // Defined symbols by address (the replacements are local functions of this image).
  const byAddr = new Map<number, string>();
  const definedSymbols: string[] = [];
  for (let i = 0; i < symtab.nsyms; i++) {
    const e = symtab.symoff + 16 * i;
    const strx = u32(e, 'a symbol name');
    const type = buf[e + 4]!;
    if (type & N_STAB || (type & N_TYPE) !== N_SECT || strx >= symtab.strsize) continue;
    const name = cstr(symtab.stroff + strx, 'a symbol name');
    byAddr.set(u64(e + 8, 'a symbol value'), name);
    definedSymbols.push(name);
  }

  const binds = bindTable(buf, bind.off, bind.size, segments);
  const pairs: InterposePair[] = [];
  for (let at = 0; at < table.size; at += 16) {
    const target = u64(table.offset + at, 'a replacement pointer');
    pairs.push({ replacement: byAddr.get(target), original: binds.get(table.addr + at + 8) });
  }
  return { ok: true, arch, pairs, definedSymbols };
}

/** Runs the (non-lazy) bind opcodes: address -> symbol name. */
function bindTable(buf: Buffer, off: number, size: number, segments: Array<{ vmaddr: number }>): Map<number, string> {
  if (off + size > buf.length) throw new Bad('the bind opcodes lie outside the file');
  const out = new Map<number, string>();
  let p = off;
  const end = off + size;
  // Operands are ULEB128 of 64 bits; address arithmetic wraps modulo 2^64 as dyld's does (linkers
  // encode "go back 24 bytes" as a huge ULEB), hence BigInt.
  const MASK = (1n << 64n) - 1n;
  const uleb = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (p >= end) throw new Bad('a bind opcode operand runs past its end');
      const b = buf[p++]!;
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return v & MASK;
      if (shift > 63n) throw new Bad('a bind opcode operand is too long');
    }
  };
  let symbol: string | undefined;
  let addr = 0n;
  let steps = 0;
  const advance = (n: bigint) => {
    addr = (addr + n) & MASK;
  };
  const doBind = () => {
    if (symbol !== undefined && addr <= BigInt(Number.MAX_SAFE_INTEGER)) out.set(Number(addr), symbol);
    advance(8n);
  };
  while (p < end) {
    if (++steps > 1_000_000) throw new Bad('the bind opcodes do not end');
    const byte = buf[p++]!;
    const op = byte & 0xf0;
    const imm = byte & 0x0f;
    switch (op) {
      case 0x00: // DONE: the non-lazy stream ends here
        return out;
      case 0x10: // SET_DYLIB_ORDINAL_IMM
      case 0x30: // SET_DYLIB_SPECIAL_IMM
      case 0x50: // SET_TYPE_IMM
        break;
      case 0x20: // SET_DYLIB_ORDINAL_ULEB
      case 0x60: // SET_ADDEND_SLEB (same encoding length as ULEB)
        uleb();
        break;
      case 0x40: { // SET_SYMBOL_TRAILING_FLAGS_IMM
        const z = buf.indexOf(0, p);
        if (z < 0 || z >= end) throw new Bad('a bound symbol name is not terminated');
        symbol = buf.subarray(p, z).toString('latin1');
        p = z + 1;
        break;
      }
      case 0x70: { // SET_SEGMENT_AND_OFFSET_ULEB
        const seg = segments[imm];
        if (!seg) throw new Bad(`a bind names segment ${imm}, which does not exist`);
        addr = (BigInt(seg.vmaddr) + uleb()) & MASK;
        break;
      }
      case 0x80: // ADD_ADDR_ULEB
        advance(uleb());
        break;
      case 0x90: // DO_BIND
        doBind();
        break;
      case 0xa0: // DO_BIND_ADD_ADDR_ULEB
        doBind();
        advance(uleb());
        break;
      case 0xb0: // DO_BIND_ADD_ADDR_IMM_SCALED
        doBind();
        advance(BigInt(imm * 8));
        break;
      case 0xc0: { // DO_BIND_ULEB_TIMES_SKIPPING_ULEB
        const count = uleb();
        const skip = uleb();
        if (count > 1_000_000n) throw new Bad('a bind repeat count is absurd');
        for (let i = 0n; i < count; i++) {
          doBind();
          advance(skip);
        }
        break;
      }
      default:
        throw new Bad(`unknown bind opcode 0x${byte.toString(16)}`);
    }
  }
  return out;
}

/**
 * Every hook named in `expected` (e.g. execve) has a pair whose replacement is `_nono_hook_<name>`
 * and whose original binds to `_<name>`; and every `_nono_hook_*` the image defines is in the
 * table. Returns the problems (empty = the table binds every hooked function).
 */
export function interposeProblems(t: Extract<InterposeTable, { ok: true }>, expected: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of expected) {
    const pair = t.pairs.find((p) => p.original === `_${name}`);
    if (!pair) problems.push(`${name}: no pair binds the original _${name}`);
    else if (pair.replacement !== `_nono_hook_${name}`) problems.push(`${name}: its pair's replacement is ${pair.replacement ?? 'not a symbol of this image'}, not _nono_hook_${name}`);
  }
  for (const s of t.definedSymbols) {
    const m = /^_nono_hook_(\w+)$/.exec(s);
    if (m && !expected.includes(m[1]!)) problems.push(`${s} is compiled in but not listed in the interpose table`);
  }
  for (const [i, p] of t.pairs.entries()) {
    if (!p.original || !p.replacement) problems.push(`pair ${i}: replacement ${p.replacement ?? '?'}, original ${p.original ?? '?'} (unresolved)`);
  }
  return problems;
}
