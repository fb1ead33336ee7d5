// One executable file, read for what doctor reports: its format, architecture slices, signature
// flags and entitlements (Mach-O), linkage (ELF), whether it is a packed JavaScript program, and
// whether nono's preload library will reach it. Never throws: an unreadable file is a verdict.
import fs from 'node:fs';
import { readElf } from './elf.js';
import { csFlagNames, isMachoMagic, readMacho } from './macho.js';
import { machoVerdict, type SliceVerdict } from './macho-verdict.js';
import { preloadVerdict, readHead, type PreloadOutcome } from './preload-verdict.js';
import { detectSingleFile, type SingleFileKind } from './single-file.js';

export type ExecutableFormat = 'elf' | 'macho' | 'script' | 'unknown';

export interface SignatureReport {
  arch: string;
  signed: boolean;
  /** CodeDirectory flag names (CS_RUNTIME, CS_ADHOC, ...), union over the slice's code directories. */
  flags: string[];
  /** Boolean entitlements found in the signature, by key. */
  entitlements: Record<string, boolean>;
}

export interface ExecutableReport {
  path: string;
  format: ExecutableFormat;
  arch: string[];
  /** ELF only. */
  linkage?: 'dynamic' | 'static' | 'static-pie';
  /** Mach-O only: one entry per slice. */
  signature: SignatureReport[];
  /** Mach-O only: the verdict of each slice. */
  slices?: SliceVerdict[];
  singleFile?: SingleFileKind;
  /** false: built for another OS or CPU (a Mach-O read on Linux, an aarch64 ELF on x86_64). */
  runsHere?: boolean;
  preload: PreloadOutcome;
  reason: string;
}

const ELF_MACHINES: Record<number, string> = {
  3: 'i386',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390x',
  40: 'arm',
  62: 'x86_64',
  183: 'aarch64',
  243: 'riscv64',
  258: 'loongarch64',
};

export function elfMachineName(machine: number): string {
  return ELF_MACHINES[machine] ?? `machine ${machine}`;
}

const HOST_ELF: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i386', arm: 'arm', riscv64: 'riscv64', loong64: 'loongarch64', ppc64: 'ppc64', s390x: 's390x' };

/** Could this machine start it? Unknown host architectures are given the benefit of the doubt. */
function runsOnThisMachine(format: 'elf' | 'macho', arch: string[]): boolean {
  if (format === 'elf') {
    if (process.platform === 'darwin' || process.platform === 'win32') return false;
    const host = HOST_ELF[process.arch];
    return !host || arch.includes(host);
  }
  if (process.platform !== 'darwin') return false;
  // Apple silicon also runs x86_64 slices (Rosetta).
  const ok = process.arch === 'arm64' ? ['arm64', 'arm64e', 'x86_64', 'x86_64h'] : ['x86_64', 'x86_64h'];
  return arch.some((a) => ok.includes(a));
}

/** Mach-O slices are read whole; no agent comes near this, and a bigger file is refused, not read. */
const MAX_MACHO_BYTES = 1 << 30;

export function sniffFormat(head: Buffer): ExecutableFormat {
  if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return 'elf';
  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) return 'script';
  if (isMachoMagic(head)) return 'macho';
  return 'unknown';
}

/** The Mach-O slice macOS would run here, when doctor itself runs on a Mac. */
function hostMachoArch(): string | undefined {
  if (process.platform !== 'darwin') return undefined;
  return process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'x86_64' : undefined;
}

export interface AnalyzeOptions {
  pathVar: string;
  /** Look for Bun / Node SEA markers (reads the whole file; off for quick scans). */
  detectSingleFile?: boolean;
}

export function analyzeExecutable(file: string, opts: AnalyzeOptions): ExecutableReport {
  const unknown = (reason: string, format: ExecutableFormat = 'unknown'): ExecutableReport => ({
    path: file,
    format,
    arch: [],
    signature: [],
    preload: 'unknown',
    reason,
  });
  let head: Buffer;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
    if (!st.isFile()) return unknown(`${file} is not a regular file`);
    head = readHead(file, 64 * 1024);
  } catch (e) {
    return unknown(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const format = sniffFormat(head);
  if (format === 'script') return unknown('a #! script: the verdict is its interpreter\'s', 'script');
  if (format === 'unknown') return unknown('neither ELF, Mach-O nor a #! script');
  const singleFile = opts.detectSingleFile ? detectSingleFile(file).kind : undefined;

  if (format === 'elf') {
    const elf = readElf(head);
    if (elf.kind !== 'elf') return unknown(elf.kind === 'unreadable' ? `cannot read this ELF file: ${elf.reason}` : 'not an ELF file', 'elf');
    const v = preloadVerdict(file, opts.pathVar);
    return {
      path: file,
      format,
      arch: [elfMachineName(elf.machine)],
      linkage: elf.interpreter ? 'dynamic' : elf.staticPie ? 'static-pie' : 'static',
      signature: [],
      singleFile,
      runsHere: runsOnThisMachine('elf', [elfMachineName(elf.machine)]),
      preload: v.preload,
      reason: v.reason,
    };
  }

  if (st.size > MAX_MACHO_BYTES) return unknown(`cannot read this Mach-O file: larger than ${MAX_MACHO_BYTES} bytes`, 'macho');
  let whole: Buffer;
  try {
    whole = fs.readFileSync(file);
  } catch (e) {
    return unknown(`cannot read ${file} (${(e as Error).message})`, 'macho');
  }
  const m = readMacho(whole);
  if (m.kind !== 'macho') return unknown(m.kind === 'unreadable' ? `cannot read this Mach-O file: ${m.reason}` : 'not a Mach-O file', 'macho');
  const v = machoVerdict(m.slices, { path: file, mode: st.mode, uid: st.uid, gid: st.gid }, { hostArch: hostMachoArch() });
  return {
    path: file,
    format,
    arch: m.slices.map((s) => s.arch),
    signature: m.slices.map((s) => ({
      arch: s.arch,
      signed: Boolean(s.signature),
      flags: csFlagNames(s.signature?.flags ?? 0),
      entitlements: s.signature?.entitlements?.values ?? {},
    })),
    slices: v.slices,
    singleFile,
    runsHere: runsOnThisMachine('macho', m.slices.map((s) => s.arch)),
    preload: v.preload,
    reason: v.reason,
  };
}
