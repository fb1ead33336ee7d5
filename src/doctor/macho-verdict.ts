// Will dyld honour DYLD_INSERT_LIBRARIES for this Mach-O? Decided per slice from what the reader
// found (signature flags, entitlements, __RESTRICT), then for the file from its mode bits and
// where it lives, since setuid and SIP-protected platform binaries lose DYLD_* variables whatever
// their signature says. macOS only: on Linux these files are fixtures, but the logic is the same.
import {
  CS_ADHOC,
  CS_LINKER_SIGNED,
  CS_REQUIRE_LV,
  CS_RESTRICT,
  CS_RUNTIME,
  ENT_ALLOW_DYLD_ENV,
  ENT_DISABLE_LV,
  MH_EXECUTE,
  type MachoSlice,
} from './macho.js';
import type { PreloadOutcome } from './preload-verdict.js';

export interface SliceVerdict {
  arch: string;
  preload: Exclude<PreloadOutcome, 'unknown'>;
  reason: string;
}

export interface FileFacts {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

export interface MachoVerdictOptions {
  /** Who would start it (default: this process). */
  callerUid?: number;
  callerGid?: number;
  /** The slice macOS would pick on this machine (e.g. 'arm64'); unset when not on a Mac. */
  hostArch?: string;
}

/** Paths SIP protects; dyld drops DYLD_* for the platform binaries there. */
const SIP_PREFIXES = ['/bin/', '/sbin/', '/usr/bin/', '/usr/sbin/', '/usr/libexec/', '/System/'];

function signatureKind(s: MachoSlice): string {
  if (!s.signature) return 'unsigned';
  const f = s.signature.flags;
  if (f & CS_LINKER_SIGNED) return 'ad-hoc signed by the linker';
  if (f & CS_ADHOC) return 'ad-hoc signed';
  return 'signed';
}

export function machoSliceVerdict(s: MachoSlice): SliceVerdict {
  const v = (preload: SliceVerdict['preload'], reason: string): SliceVerdict => ({ arch: s.arch, preload, reason });
  if (s.filetype === MH_EXECUTE && !s.dylinker) {
    return v('ignored', 'no LC_LOAD_DYLINKER: a static program, dyld never runs, so DYLD_INSERT_LIBRARIES never applies');
  }
  const flags = s.signature?.flags ?? 0;
  const ent = s.signature?.entitlements?.values ?? {};
  if (flags & CS_RESTRICT) return v('stripped', 'its code signature has the restrict flag (CS_RESTRICT): dyld ignores DYLD_* variables');
  if (s.restrictSection) return v('stripped', 'it has a __RESTRICT,__restrict section: dyld ignores DYLD_* variables');
  if (flags & CS_RUNTIME) {
    if (!ent[ENT_ALLOW_DYLD_ENV]) {
      return v('stripped', `signed with the hardened runtime (CS_RUNTIME) without ${ENT_ALLOW_DYLD_ENV}: dyld removes DYLD_INSERT_LIBRARIES`);
    }
    // The hardened runtime turns library validation on: an inserted library must be signed by
    // Apple or by the program's own team, which nono's interposer is not.
    if (!ent[ENT_DISABLE_LV]) {
      return v('stripped', `hardened runtime with ${ENT_ALLOW_DYLD_ENV} but without ${ENT_DISABLE_LV}: library validation refuses nono's interposer (not signed by the program's team)`);
    }
    return v('loads', `hardened runtime, but entitled to DYLD variables (${ENT_ALLOW_DYLD_ENV}) and to other teams' libraries (${ENT_DISABLE_LV})`);
  }
  if (flags & CS_REQUIRE_LV && !ent[ENT_DISABLE_LV]) {
    return v('stripped', `its signature requires library validation (CS_REQUIRE_LV): nono's interposer, not signed by the program's team, is refused`);
  }
  return v('loads', `${signatureKind(s)}, no hardened runtime, restrict flag or __RESTRICT section: dyld honours DYLD_INSERT_LIBRARIES`);
}

export interface MachoVerdict {
  preload: Exclude<PreloadOutcome, 'unknown'>;
  reason: string;
  slices: SliceVerdict[];
}

export function machoVerdict(slices: MachoSlice[], file?: FileFacts, opts: MachoVerdictOptions = {}): MachoVerdict {
  const perSlice = slices.map(machoSliceVerdict);
  const callerUid = opts.callerUid ?? process.getuid?.() ?? 0;
  const callerGid = opts.callerGid ?? process.getgid?.() ?? 0;
  // The file-level reasons win over any slice: they apply whichever slice runs.
  if (file) {
    if (file.mode & 0o4000 && file.uid !== callerUid) {
      return { preload: 'stripped', reason: 'setuid binary: dyld ignores DYLD_* variables for it', slices: perSlice };
    }
    if (file.mode & 0o2000 && file.gid !== callerGid) {
      return { preload: 'stripped', reason: 'setgid binary: dyld ignores DYLD_* variables for it', slices: perSlice };
    }
    if (SIP_PREFIXES.some((p) => file.path.startsWith(p))) {
      return { preload: 'stripped', reason: `${file.path} is an Apple platform binary under System Integrity Protection: DYLD_* variables are dropped`, slices: perSlice };
    }
  }
  if (perSlice.length === 0) return { preload: 'loads', reason: 'no slices', slices: perSlice };
  const host = opts.hostArch ? perSlice.find((s) => s.arch === opts.hostArch || (opts.hostArch === 'arm64' && s.arch === 'arm64e')) : undefined;
  if (host) return { preload: host.preload, reason: perSlice.length > 1 ? `${host.arch} slice (the one this Mac runs): ${host.reason}` : host.reason, slices: perSlice };
  const first = perSlice[0]!;
  if (perSlice.every((s) => s.preload === first.preload && s.reason === first.reason)) {
    return { preload: first.preload, reason: first.reason, slices: perSlice };
  }
  // Slices disagree and we do not know which one will run: report the least favourable.
  const rank = { stripped: 0, ignored: 1, loads: 2 } as const;
  const worst = [...perSlice].sort((a, b) => rank[a.preload] - rank[b.preload])[0]!;
  return {
    preload: worst.preload,
    reason: perSlice.map((s) => `${s.arch}: ${s.reason}`).join('; '),
    slices: perSlice,
  };
}
