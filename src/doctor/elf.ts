// A small, bounds-checked ELF header reader: enough to tell whether the dynamic loader (and so
// LD_PRELOAD) is involved. A truncated or hostile file gives a "cannot read" result, never an
// exception or a hang: every offset is checked against the buffer before it is used.
export interface ElfFacts {
  kind: 'elf';
  bits: 32 | 64;
  /** Has PT_INTERP: started through the dynamic loader, which honours LD_PRELOAD. */
  interpreter?: string;
  /** No PT_INTERP but a PT_DYNAMIC segment: static-pie. */
  staticPie: boolean;
  machine: number;
}

export type ElfResult = ElfFacts | { kind: 'not-elf' } | { kind: 'unreadable'; reason: string };

const PT_DYNAMIC = 2;
const PT_INTERP = 3;

export function readElf(buf: Buffer): ElfResult {
  if (buf.length < 4 || buf.readUInt32BE(0) !== 0x7f454c46) return { kind: 'not-elf' };
  if (buf.length < 0x34) return { kind: 'unreadable', reason: 'truncated ELF header' };
  const cls = buf[4];
  const data = buf[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return { kind: 'unreadable', reason: 'unknown ELF class or byte order' };
  const le = data === 1;
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
  const is64 = cls === 2;
  if (is64 && buf.length < 0x40) return { kind: 'unreadable', reason: 'truncated ELF header' };
  const phoff = is64 ? u64(0x20) : u32(0x1c);
  const phentsize = is64 ? u16(0x36) : u16(0x2a);
  const phnum = is64 ? u16(0x38) : u16(0x2c);
  const machine = u16(0x12);
  if (phentsize < (is64 ? 56 : 32)) return { kind: 'unreadable', reason: 'bad program header size' };
  if (!Number.isSafeInteger(phoff) || phoff + phnum * phentsize > buf.length) {
    return { kind: 'unreadable', reason: 'program headers lie outside the file' };
  }
  let interpreter: string | undefined;
  let dynamic = false;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = u32(ph);
    if (type === PT_DYNAMIC) dynamic = true;
    if (type === PT_INTERP) {
      const off = is64 ? u64(ph + 8) : u32(ph + 4);
      const size = is64 ? u64(ph + 32) : u32(ph + 16);
      if (!Number.isSafeInteger(off) || off + size > buf.length || size > 4096) {
        return { kind: 'unreadable', reason: 'PT_INTERP lies outside the file' };
      }
      interpreter = buf.subarray(off, off + size).toString('latin1').replace(/\0.*$/s, '');
    }
  }
  return { kind: 'elf', bits: is64 ? 64 : 32, interpreter, staticPie: !interpreter && dynamic, machine };
}
