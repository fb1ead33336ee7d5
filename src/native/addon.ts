// Typed access to the Node-API addon built from shim/addon (see the C files for the why of
// each function). Loading fails with a message that says how to build it.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { nativePaths } from './paths.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export interface SandboxedSpawnOptions {
  file: string | Buffer;
  argv: Array<string | Buffer>;
  env: Array<string | Buffer>;
  cwd: string | Buffer;
  /** The command's 0, 1, 2; -1 leaves that one closed. */
  stdio: [number, number, number];
  rulesetFd: number;
  restrictFlags?: number;
  /** shim/seccomp_filter.h mode: 0 none, 1 no TCP, 2 ports allowed. */
  netFilter?: number;
  /** Parent-death signal for the command (default SIGKILL); 0 when a session watchdog cleans up. */
  deathSignal?: number;
  ignoreSignals?: number[];
  /**
   * Proxy mode (shim/addon/connect_guard.h): the command's TCP connections may only go to
   * 127.0.0.1:proxyPort and to loopbackPorts on 127.0.0.0/8 or ::1; everything else, UDP
   * included, is refused (EACCES). Throws, and starts nothing, where the kernel cannot enforce it.
   */
  connectGuard?: ConnectGuardOptions;
  /**
   * Live approval (shim/addon/live_approval.h, live_ops.h): file operations the policy denies
   * (reads, writes, creates, deletes, renames) are held in the kernel and reported to onEvent
   * ('ask', what it is, the canonical path(s) it would act on; path2: a rename's destination or
   * a link's existing file); need/need2: the Landlock rights the rules lacked, at the file (read,
   * list, write) or at path's parent (create, delete, rename), and at path2's parent. Answer with
   * liveAnswer(cmdId, token, allow). 'withdraw': the command stopped waiting (killed, or gone).
   */
  liveApproval?: { rules: LiveRules; onEvent: LiveEventHandler };
}

export type LiveOp = 'read' | 'list' | 'write' | 'create' | 'delete' | 'rename';
export type LiveEventHandler = (cmdId: number, token: number, kind: 'ask' | 'withdraw', op: LiveOp, path: string, path2: string | undefined, isDir: boolean, need: number, need2: number) => void;

/** The compiled rules as the native fast path matches them (liveRules). */
export type LiveRules = { readonly __liveRules: unique symbol };

export interface ConnectGuardOptions {
  proxyPort: number;
  /** At most 64. */
  loopbackPorts: number[];
}

/** What the socket does on its own when it cannot serve a client (shim/addon/fd_server.c). */
export interface ListenLimits {
  /** Connections served at once; a client beyond them gets `refusals.busy`. */
  maxConnections: number;
  /** Encoded error replies (at most 4096 bytes each): over the cap; out of descriptors at
   * accept; descriptors that could not be received with a frame. */
  refusals: { busy: Buffer; exhausted: Buffer; fdsLost: Buffer };
  /** Told after each refusal, for the log. */
  onRefused?: (reason: string) => void;
}

export interface NativeAddon {
  listen(
    path: string,
    onFrame: (connId: number, peer: PeerCredentials, payload: Buffer, fds: number[]) => void,
    onClose: (connId: number, reason: string) => void,
    limits: ListenLimits,
  ): void;
  /** false when the connection is gone or stopped reading; throws for a reply over 1 MiB. */
  send(connId: number, payload: Buffer): boolean;
  closeConn(connId: number): void;
  closeServer(): void;
  spawn(opts: SandboxedSpawnOptions, onExit: (code: number | null, signal: number | null) => void): number;
  /** posix_spawn of a sandbox helper (the macOS command path; shim/addon/helper_spawn.c). */
  spawnHelper(
    opts: { file: string; argv: Array<string | Buffer>; env: Array<string | Buffer>; cwd: string | Buffer; stdio: [number, number, number] },
    onExit: (code: number | null, signal: number | null) => void,
  ): number;
  /** The macOS handshake: stream connections, pid from the kernel (shim/addon/handshake_stream.c). */
  listenHandshakeStream(path: string, onMessage: (pid: number, uid: number, payload: Buffer) => void): void;
  closeHandshakeStream(): void;
  /** macOS only: [pid, ppid, pgid, sid] of every process (sysctl KERN_PROC_ALL). */
  processTable?(): Array<[number, number, number, number, string | null]>;
  /** The interposer's handshakes: one datagram per process that loaded it (see handshake_listener.c). */
  listenHandshake(path: string, onMessage: (pid: number, uid: number, payload: Buffer) => void): void;
  closeHandshake(): void;
  hasFileCapabilities(path: string): boolean;
  /** A close-on-exec pipe: [read end, write end]. */
  makePipe(): [number, number];
  /** A new pty pair whose slave copies ttyFd's settings (output processing off) and size. */
  makePtyLike(ttyFd: number): [number, number];
  /** Non-blocking read: bytes, an empty Buffer when nothing is there now, null at the end. */
  readAvailable(fd: number): Buffer | null;
  watchReadable(fd: number, onReadable: () => void): number;
  unwatch(id: number): void;
  /** Kernel audit status (NETLINK_AUDIT), or null when it cannot be read. */
  auditStatus(): { enabled: number; pid: number } | null;
  /** Switches kernel audit on or off (system-wide; tests and explicit requests only). */
  auditSetEnabled(enabled: 0 | 1): boolean;
  /** A non-blocking socket receiving every audit record (netlink multicast; CAP_AUDIT_READ). */
  openAuditMulticast(): number;
  landlockAbi(): number;
  createRuleset(spec: { handledFs: number; handledNet?: number; scoped?: number }): number;
  addPathRule(rulesetFd: number, path: string, rights: number, handledFs: number): void;
  addPortRule(rulesetFd: number, port: number, rights: number): void;
  closeFd(fd: number): void;
  /** Whether spawn's connectGuard can be enforced here (Linux >= 6.9 with Landlock TCP rules). */
  connectGuardSupported(): boolean;
  /** Connect-guard listener threads still running (one per guarded command that holds its filter). */
  connectGuardListeners(): number;
  /** null when live approval works here, else what this kernel lacks. */
  liveApprovalSupported(): string | null;
  liveRules(rules: Array<[string, number]>, handledFs: number): LiveRules;
  /** false when nothing waits for that answer any more. */
  liveAnswer(cmdId: number, token: number, allow: boolean): boolean;
  /** Live approval threads still running (one per command holding its filter). */
  liveApprovalListeners(): number;
  /**
   * The proxy's tunnel relay (shim/addon/tunnel_relay.c): duplicates fdA and fdB, then moves bytes
   * between them with splice(2) on a native thread, writing toA / toB first. onDone runs once, with
   * null when both sides ended normally (FINs passed on) or why it ended both. Throws before
   * taking anything over when it cannot start.
   */
  relayStart(fdA: number, fdB: number, toA: Buffer, toB: Buffer, idleMs: number, onDone: (reason: string | null, aToB: number, bToA: number) => void): number;
  /** Ends a relay (both connections closed); its onDone still runs. */
  relayStop(id: number): void;
  /** Relays still running (tests check that none is left behind). */
  relayActive(): number;
}

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  if (!fs.existsSync(nativePaths.addon)) {
    throw new Error(
      `nono's native addon is missing (${nativePaths.addon}); run \`npm install\` in the nono directory to build it`,
    );
  }
  const require = createRequire(import.meta.url);
  cached = require(nativePaths.addon) as NativeAddon;
  return cached;
}
