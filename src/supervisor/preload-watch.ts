// Did the agent really load the interposer? Every process that loads it says so on the handshake
// socket (kernel-verified pid). A couple of seconds after the start, nono compares that with the
// agent's process tree, and names what it could not reach and why (static, setuid, capabilities,
// or an environment that lost LD_PRELOAD).
import fs from 'node:fs';
import path from 'node:path';
import type { NativeAddon } from '../native/addon.js';
import { nativePaths } from '../native/paths.js';
import { findOnPath, preloadVerdict, type PreloadOutcome } from '../doctor/preload-verdict.js';
import { realOrSelf } from '../doctor/resolve-agent.js';
import { commandTree, treeOf, type ProcStat } from './process-tree.js';

export interface PreloadFinding {
  pid: number;
  exe: string;
  status: 'loaded' | 'missing';
  cause?: PreloadOutcome | 'env-dropped';
  reason?: string;
}

const MAX_TRACKED = 8192;

export class PreloadWatch {
  private readonly loaded = new Map<number, string>();

  /**
   * `stream`: the macOS handshake (a stream connection per process, pid from LOCAL_PEERPID,
   * shim/addon/handshake_stream.c); otherwise Linux's datagrams with SCM_CREDENTIALS.
   */
  constructor(
    private readonly addon: NativeAddon,
    readonly socketPath: string,
    private readonly log: (l: string) => void,
    private readonly transport: 'datagram' | 'stream' = 'datagram',
    /** macOS: a reporting process's ancestors, read while it is connected (the process table):
     * the agent counts as reached when it or a process it started (a launcher's child) reported. */
    private readonly ancestorsOf?: (pid: number) => number[],
  ) {}

  /** pid -> its ancestors when it reported (macOS only). */
  private readonly lineage = new Map<number, number[]>();

  start(): void {
    const onMessage = (pid: number, _uid: number, payload: Buffer) => {
      const [version, exe] = payload.toString('utf8').split('\t');
      if (version !== 'v1' || !exe) return;
      if (this.loaded.size >= MAX_TRACKED) this.loaded.delete(this.loaded.keys().next().value!);
      this.loaded.set(pid, exe.replace(/\n$/, ''));
      if (this.ancestorsOf) {
        if (this.lineage.size >= MAX_TRACKED) this.lineage.delete(this.lineage.keys().next().value!);
        try {
          this.lineage.set(pid, this.ancestorsOf(pid));
        } catch {
          /* no process table: the pid alone */
        }
      }
    };
    if (this.transport === 'stream') this.addon.listenHandshakeStream(this.socketPath, onMessage);
    else this.addon.listenHandshake(this.socketPath, onMessage);
  }

  stop(): void {
    if (this.transport === 'stream') this.addon.closeHandshakeStream();
    else this.addon.closeHandshake();
  }

  hasLoaded(pid: number): boolean {
    return this.loaded.has(pid);
  }

  /** The executable `pid`, or a process it started, reported on the handshake, if one did. */
  reported(pid: number): string | undefined {
    if (this.loaded.has(pid)) return this.loaded.get(pid);
    for (const [child, up] of this.lineage) if (up.includes(pid)) return this.loaded.get(child);
    return undefined;
  }

  /**
   * Findings for the agent (by pid; `program` and `pathVar` name it if it already exited) and for
   * every process now in its tree that did not load the interposer. Expected non-loaders
   * (nono-shell, nono's own helper) are left out.
   */
  evaluate(agentPid: number, program: string, pathVar: string, noNewPrivs: boolean): PreloadFinding[] {
    const expected = new Set([nativePaths.client, nativePaths.execHelper]);
    const findings: PreloadFinding[] = [];
    const seenExe = new Set<string>();
    const alive = fs.existsSync(`/proc/${agentPid}`);
    // A program that was never found ran nothing: "command not found" says all there is to say.
    if (!alive && !this.loaded.has(agentPid) && !findOnPath(program, pathVar)) return [];
    const pids = alive ? commandTree(agentPid) : [agentPid];
    for (const pid of pids) {
      const raw = this.loaded.get(pid) ?? exeOf(pid) ?? (pid === agentPid ? findOnPath(program, pathVar) ?? program : '');
      // Not realpath(''): that is the working directory, not "unknown".
      const exe = raw ? realOrSelf(raw) : '';
      if (!exe || expected.has(exe)) continue;
      if (this.loaded.has(pid)) {
        if (pid === agentPid) findings.push({ pid, exe, status: 'loaded' });
        continue;
      }
      if (seenExe.has(exe)) continue;
      seenExe.add(exe);
      findings.push({ pid, exe, status: 'missing', ...explain(pid, exe, pathVar, noNewPrivs) });
    }
    for (const f of findings) this.log(`interposer ${f.status} in pid ${f.pid} (${f.exe})${f.reason ? `: ${f.reason}` : ''}`);
    return findings;
  }
}

/** Why a macOS process that should have loaded the dylib is taken not to have, when its file says nothing. */
export const DYLD_NOT_REPORTED = 'it did not report loading the interposer (DYLD_INSERT_LIBRARIES was dropped on the way, or dyld refused the library)';

/**
 * macOS (no /proc): the agent itself, by the pid nono started (the helper execs into it). `known`
 * is what was read from its Mach-O at the start; a missing handshake confirms it.
 */
export function evaluateAgentHandshake(watch: PreloadWatch, agentPid: number, exe: string, known?: { reason: string }): PreloadFinding {
  const reported = watch.reported(agentPid);
  if (reported) return { pid: agentPid, exe: reported, status: 'loaded' };
  return known
    ? { pid: agentPid, exe, status: 'missing', cause: 'stripped', reason: known.reason }
    : { pid: agentPid, exe, status: 'missing', cause: 'unknown', reason: DYLD_NOT_REPORTED };
}

/**
 * macOS (no /proc): the other processes now in the agent's tree, from the process table (sysctl,
 * with each executable), that did not report loading the interposer and started nothing that did
 * (a launcher whose child is the real agent reported through its child). Expected non-loaders
 * (nono-shell, nono's helpers) are left out; one finding per executable, judged by `judge` from
 * the file (a hardened, restricted or SIP-protected Mach-O says why dyld dropped the library).
 */
export function evaluateTreeWith(
  watch: PreloadWatch,
  table: readonly ProcStat[],
  agentPid: number,
  skip: ReadonlySet<string>,
  judge: (exe: string) => { cause: PreloadFinding['cause']; reason: string },
): PreloadFinding[] {
  const exeOfPid = new Map(table.map((s) => [s.pid, s.exe]));
  const seen = new Set<string>();
  const findings: PreloadFinding[] = [];
  for (const pid of treeOf(table, agentPid)) {
    if (pid === agentPid || watch.reported(pid)) continue;
    const raw = exeOfPid.get(pid);
    if (!raw) continue;
    const exe = realOrSelf(raw);
    if (skip.has(exe) || seen.has(exe)) continue;
    seen.add(exe);
    findings.push({ pid, exe, status: 'missing', ...judge(exe) });
  }
  return findings;
}

function exeOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

function explain(pid: number, exe: string, pathVar: string, noNewPrivs: boolean): { cause: PreloadFinding['cause']; reason: string } {
  const verdict = preloadVerdict(exe, pathVar, { noNewPrivs });
  if (verdict.preload !== 'loads') return { cause: verdict.preload, reason: verdict.reason };
  // A dynamic program that should have loaded it: was LD_PRELOAD taken out of its environment?
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    const preload = env.find((e) => e.startsWith('LD_PRELOAD='));
    if (!preload || !preload.includes(path.basename(nativePaths.interposer))) {
      return { cause: 'env-dropped', reason: 'its environment no longer holds LD_PRELOAD (it or its parent removed it)' };
    }
  } catch {
    /* exited meanwhile */
  }
  return { cause: 'unknown', reason: 'dynamically linked, yet it did not report loading the interposer' };
}

/** The one warning a user reads: what was not reached, why, and what still protects them. */
export function preloadWarning(f: PreloadFinding, isAgent: boolean, agentSandbox: boolean): string {
  const who = isAgent ? `the agent (${f.exe})` : `${f.exe} (pid ${f.pid}, started by the agent)`;
  const fallback = agentSandbox ? 'run only inside the agent-level sandbox' : 'run unsandboxed (--no-agent-sandbox)';
  return (
    `warning: ${who} did not load nono's interposer: ${f.reason}. ` +
    `Its shell commands are still sandboxed one by one if it starts them through $SHELL (proxy-bin/bash) ` +
    `or a bash/sh found on PATH (proxy-bin/path comes first); commands it starts any other way ${fallback}.`
  );
}
