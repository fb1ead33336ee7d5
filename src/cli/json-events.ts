// `nono run --json-events FILE`: one JSON object per line for programs that watch a session
// (session start, whether the interposer reached the agent, each command, the exit). FILE may be
// a path or /dev/fd/N. Shapes are documented in README ("Events").
import fs from 'node:fs';

export type NonoEvent =
  | { event: 'session'; id: string; socket: string; landlockAbi: number; rules: number; tcp: 'blocked' | 'open'; network: 'open' | 'blocked' | 'proxy'; proxyPort?: number }
  /** macOS: Seatbelt instead of Landlock (the TCP rules are in the SBPL). */
  | { event: 'session'; id: string; socket: string; sandbox: 'seatbelt'; rules: number; network: 'open' | 'blocked' | 'proxy'; proxyPort?: number }
  | { event: 'preload'; agent: boolean; pid: number; exe: string; status: 'loaded' | 'missing'; cause?: string; reason?: string }
  | { event: 'command'; seq: number; pid: number; route: string; argv: string[]; cwd: string; exit?: { code: number } | { signal: number }; killedBecause?: string; durationMs?: number }
  | { event: 'exit'; code: number; signal?: string };

export class EventSink {
  private fd: number | undefined;

  constructor(target: string | undefined) {
    this.fd = target ? fs.openSync(target, 'a') : undefined;
  }

  emit(e: NonoEvent): void {
    if (this.fd === undefined) return;
    fs.writeSync(this.fd, JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
