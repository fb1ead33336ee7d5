// A classic-BPF interpreter for seccomp programs, to prove what nono's filter answers for a table
// of system calls (test/seccomp-filter.test.ts) instead of assuming it.
//
// It accepts what the kernel accepts for a seccomp filter (bpf_check_classic + seccomp_check_filter:
// the instruction whitelist, loads only of aligned words inside struct seccomp_data, jumps forward
// and inside the program, a return at the end, scratch memory 0..15) and rejects the rest with a
// message naming the instruction, so a program the kernel would refuse fails here too.
// Semantics follow the kernel's interpreter: 32-bit unsigned A and X, A/X/M start at 0.

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; (64 bytes) */
export interface SeccompData {
  nr: number;
  arch: number;
  ip?: bigint;
  args?: Array<bigint | number>;
}

export const SECCOMP_DATA_SIZE = 64;

// Opcode parts (linux/bpf_common.h, linux/filter.h).
const CLASS = (c: number) => c & 0x07;
const [LD, LDX, ST, STX, ALU, JMP, RET, MISC] = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07];
const SIZE = (c: number) => c & 0x18;
const W = 0x00;
const MODE = (c: number) => c & 0xe0;
const [IMM, ABS, MEM, LEN] = [0x00, 0x20, 0x60, 0x80];
const OP = (c: number) => c & 0xf0;
const SRC = (c: number) => c & 0x08;
const [K, X] = [0x00, 0x08];
const [ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR] = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0];
const [JA, JEQ, JGT, JGE, JSET] = [0x00, 0x10, 0x20, 0x30, 0x40];
const RVAL = (c: number) => c & 0x18;
const [RK, RA] = [0x00, 0x10];
const MISCOP = (c: number) => c & 0xf8;
const [TAX, TXA] = [0x00, 0x80];

const MEMWORDS = 16;

/** Decodes the raw struct sock_filter array (u16 code, u8 jt, u8 jf, u32 k; little-endian here). */
export function decode(buf: Buffer): Insn[] {
  if (buf.length % 8 !== 0) throw new Error(`program is ${buf.length} bytes, not a whole number of 8-byte instructions`);
  const out: Insn[] = [];
  for (let o = 0; o < buf.length; o += 8) {
    out.push({ code: buf.readUInt16LE(o), jt: buf.readUInt8(o + 2), jf: buf.readUInt8(o + 3), k: buf.readUInt32LE(o + 4) });
  }
  return out;
}

/** Throws if the kernel would refuse this program as a seccomp filter. */
export function validate(prog: Insn[]): void {
  if (prog.length === 0 || prog.length > 4096) throw new Error(`program length ${prog.length} is outside 1..4096`);
  prog.forEach((ins, pc) => {
    const where = `instruction ${pc} (code 0x${ins.code.toString(16)}, k ${ins.k})`;
    const c = ins.code;
    switch (CLASS(c)) {
      case LD:
        if (c === (LD | W | ABS)) {
          if (ins.k % 4 !== 0 || ins.k >= SECCOMP_DATA_SIZE) throw new Error(`${where}: load outside struct seccomp_data or unaligned`);
        } else if (c !== (LD | W | LEN) && c !== (LD | IMM) && c !== (LD | MEM)) {
          throw new Error(`${where}: load mode seccomp does not allow (only word ABS, LEN, IMM, MEM)`);
        }
        if (c === (LD | MEM) && ins.k >= MEMWORDS) throw new Error(`${where}: scratch memory index out of range`);
        break;
      case LDX:
        if (c !== (LDX | W | LEN) && c !== (LDX | IMM) && c !== (LDX | MEM)) throw new Error(`${where}: LDX mode not allowed`);
        if (c === (LDX | MEM) && ins.k >= MEMWORDS) throw new Error(`${where}: scratch memory index out of range`);
        break;
      case ST:
      case STX:
        if (c !== ST && c !== STX) throw new Error(`${where}: bad store`);
        if (ins.k >= MEMWORDS) throw new Error(`${where}: scratch memory index out of range`);
        break;
      case ALU: {
        const op = OP(c);
        if (![ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, XOR].includes(op)) throw new Error(`${where}: ALU op not allowed in seccomp`);
        if (op !== NEG && SRC(c) === K && op === DIV && ins.k === 0) throw new Error(`${where}: division by constant 0`);
        if (op !== NEG && SRC(c) === K && (op === LSH || op === RSH) && ins.k >= 32) throw new Error(`${where}: shift by ${ins.k}`);
        break;
      }
      case JMP: {
        const op = OP(c);
        if (op === JA) {
          if (c !== (JMP | JA)) throw new Error(`${where}: bad JA`);
          if (pc + 1 + ins.k >= prog.length) throw new Error(`${where}: JA lands outside the program`);
        } else {
          if (![JEQ, JGT, JGE, JSET].includes(op)) throw new Error(`${where}: jump op not allowed`);
          if (pc + 1 + ins.jt >= prog.length || pc + 1 + ins.jf >= prog.length) throw new Error(`${where}: jump lands outside the program`);
        }
        break;
      }
      case RET:
        if (c !== (RET | RK) && c !== (RET | RA)) throw new Error(`${where}: bad return`);
        break;
      case MISC:
        if (c !== (MISC | TAX) && c !== (MISC | TXA)) throw new Error(`${where}: bad MISC op`);
        break;
      default:
        throw new Error(`${where}: unknown class`);
    }
  });
  const last = prog[prog.length - 1]!;
  if (CLASS(last.code) !== RET) throw new Error('the program does not end with a return');
}

/** The 64 bytes the kernel hands the filter. Arguments are 64-bit; the low word comes first. */
export function seccompData(d: SeccompData): Buffer {
  const b = Buffer.alloc(SECCOMP_DATA_SIZE);
  b.writeInt32LE(d.nr | 0, 0);
  b.writeUInt32LE(d.arch >>> 0, 4);
  b.writeBigUInt64LE(d.ip ?? 0n, 8);
  const args = d.args ?? [];
  for (let i = 0; i < 6; i++) b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(args[i] ?? 0)), 16 + 8 * i);
  return b;
}

export interface RunResult {
  /** The 32-bit return value (SECCOMP_RET_* | data). */
  ret: number;
  /** Instructions executed. */
  steps: number;
  /** Offsets of struct seccomp_data that were loaded. */
  loaded: Set<number>;
}

/** Runs a validated program over one system call. */
export function run(prog: Insn[], d: SeccompData): RunResult {
  const data = seccompData(d);
  let A = 0;
  let Xr = 0;
  const M = new Uint32Array(MEMWORDS);
  const loaded = new Set<number>();
  let pc = 0;
  let steps = 0;
  for (;;) {
    const ins = prog[pc];
    if (!ins) throw new Error(`fell off the program at ${pc}`);
    steps++;
    const c = ins.code;
    let next = pc + 1;
    switch (CLASS(c)) {
      case LD:
        if (MODE(c) === ABS) {
          A = data.readUInt32LE(ins.k);
          loaded.add(ins.k);
        } else if (MODE(c) === LEN) A = SECCOMP_DATA_SIZE;
        else if (MODE(c) === IMM) A = ins.k >>> 0;
        else A = M[ins.k]!;
        break;
      case LDX:
        if (MODE(c) === LEN) Xr = SECCOMP_DATA_SIZE;
        else if (MODE(c) === IMM) Xr = ins.k >>> 0;
        else Xr = M[ins.k]!;
        break;
      case ST:
        M[ins.k] = A;
        break;
      case STX:
        M[ins.k] = Xr;
        break;
      case ALU: {
        const v = SRC(c) === X ? Xr : ins.k >>> 0;
        switch (OP(c)) {
          case ADD: A = (A + v) >>> 0; break;
          case SUB: A = (A - v) >>> 0; break;
          case MUL: A = Math.imul(A, v) >>> 0; break;
          case DIV: if (v === 0) return { ret: 0, steps, loaded }; A = Math.floor(A / v) >>> 0; break; // kernel: returns 0 (kill)
          case OR: A = (A | v) >>> 0; break;
          case AND: A = (A & v) >>> 0; break;
          case XOR: A = (A ^ v) >>> 0; break;
          case LSH: A = (A << (v & 31)) >>> 0; break;
          case RSH: A = A >>> (v & 31); break;
          case NEG: A = -A >>> 0; break;
          case MOD: A = (A % v) >>> 0; break;
        }
        break;
      }
      case JMP: {
        if (OP(c) === JA) {
          next = pc + 1 + ins.k;
          break;
        }
        const v = SRC(c) === X ? Xr : ins.k >>> 0;
        let taken: boolean;
        switch (OP(c)) {
          case JEQ: taken = A === v; break;
          case JGT: taken = A > v; break;
          case JGE: taken = A >= v; break;
          default: taken = ((A & v) >>> 0) !== 0; break; // JSET
        }
        next = pc + 1 + (taken ? ins.jt : ins.jf);
        break;
      }
      case RET:
        return { ret: (RVAL(c) === RA ? A : ins.k) >>> 0, steps, loaded };
      case MISC:
        if (MISCOP(c) === TAX) Xr = A;
        else A = Xr;
        break;
    }
    pc = next;
  }
}

// linux/seccomp.h return values.
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 13: 'EACCES', 38: 'ENOSYS', 97: 'EAFNOSUPPORT', 22: 'EINVAL', 95: 'EOPNOTSUPP',
};

/** 'allow', 'EPERM' (an errno return), or a hex description of anything else. */
export function describe(ret: number): string {
  if (ret === SECCOMP_RET_ALLOW) return 'allow';
  if (((ret & SECCOMP_RET_ACTION_FULL) >>> 0) === SECCOMP_RET_ERRNO) {
    const e = ret & SECCOMP_RET_DATA;
    return ERRNO_NAMES[e] ?? `errno ${e}`;
  }
  return `0x${(ret >>> 0).toString(16)}`;
}
