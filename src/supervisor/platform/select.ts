// Which sandbox backend a session uses. Production decides by the platform nono runs on
// (process.platform): Linux keeps the Landlock path as it is, macOS gets the Seatbelt backend
// (platform/darwin.ts) with the real helper, /usr/bin/log and the system process table. Tests
// never fake process.platform: they pass a DarwinBackend whose helper and log binary are the
// doubles (test/helpers/seatbelt-double.mjs, log-double.mjs) and whose process table is read
// from /proc.
import path from 'node:path';
import type { NativeAddon } from '../../native/addon.js';
import { nativeDir } from '../../native/paths.js';
import type { ProcessTable } from './process-table.js';

export interface LinuxBackend {
  kind: 'linux';
}

export interface DarwinBackend {
  kind: 'darwin';
  /** nono-seatbelt-exec: applies an SBPL file, then execs (commands and the agent). */
  helper: string;
  /** The unified log's reader (/usr/bin/log). */
  logBinary: string;
  /** libnono-interpose.dylib, for DYLD_INSERT_LIBRARIES. */
  interposer: string;
  processTable: ProcessTable;
  /** The Mach-O slice this Mac runs ('arm64', 'x86_64'); unset: judge every slice. */
  hostArch?: string;
}

export type PlatformBackend = LinuxBackend | DarwinBackend;

/** The macOS native parts (shim/darwin.cmake writes them next to the others). */
export const darwinPaths = {
  seatbeltExec: path.join(nativeDir, 'nono-seatbelt-exec'),
  interposer: path.join(nativeDir, 'libnono-interpose.dylib'),
};

/** The system process table through the addon (sysctl KERN_PROC_ALL on macOS). */
export function addonProcessTable(addon: Pick<NativeAddon, 'processTable'>): ProcessTable {
  return () => {
    if (!addon.processTable) throw new Error('this build of the addon has no process table (macOS only)');
    return addon.processTable().map(([pid, ppid, pgid, sid, exe]) => ({ pid, ppid, pgid, sid, ...(exe ? { exe } : {}) }));
  };
}

/** The backend for the platform nono runs on. */
export function backendFor(platform: NodeJS.Platform, addon: Pick<NativeAddon, 'processTable'>): PlatformBackend {
  if (platform !== 'darwin') return { kind: 'linux' };
  return {
    kind: 'darwin',
    helper: darwinPaths.seatbeltExec,
    logBinary: '/usr/bin/log', // LOG_BINARY (denials/seatbelt-monitor.ts), not imported: Linux never loads the monitor
    interposer: darwinPaths.interposer,
    processTable: addonProcessTable(addon),
    hostArch: process.arch === 'arm64' ? 'arm64' : 'x86_64',
  };
}
