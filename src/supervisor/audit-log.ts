// The audit log: JSON Lines in $XDG_STATE_HOME/nono/audit.jsonl (default ~/.local/state/nono),
// one record per command and per denial, prompt, decision and grant. Only the supervisor writes
// it; sandboxed commands cannot (group deny_nono_state). `nono audit` reads it.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function auditFile(home = os.homedir()): string {
  return path.join(process.env.XDG_STATE_HOME || path.join(home, '.local', 'state'), 'nono', 'audit.jsonl');
}

export type AuditRecord =
  | { type: 'session'; cwd: string; profile: string; policy: string; argv: string[]; agentProgram?: Array<{ path: string; kind: string; why: string }> }
  | { type: 'command'; seq: number; argv: string[]; cwd: string; route: string; policy: string; exit: { code: number } | { signal: number }; durationMs: number; attempts: number; killedBecause?: string }
  | { type: 'denial'; seq: number; op: string; path?: string; path2?: string; host?: string; port?: number; evidence: string; source: string }
  /** A host a command reached through the session proxy, or was refused (once per command, host and port). */
  | { type: 'host'; seq: number; host: string; port: number; verdict: 'allowed' | 'refused'; by: string; protocol: string }
  | { type: 'prompt'; seq: number; grants: string[] }
  | { type: 'decision'; seq: number; choice: string; grants: string[]; cancelled?: boolean; savedTo?: string; changes?: string[] }
  | { type: 'session-end'; code: number };

/** A short digest of a compiled policy, so records say which rules a command ran under. */
export function policyDigest(compiled: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(compiled)).digest('hex').slice(0, 12);
}

export class AuditLog {
  private fd: number | undefined;

  constructor(readonly file: string | undefined, private readonly session: string) {
    if (!file) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.fd = fs.openSync(file, 'a', 0o600);
  }

  write(record: AuditRecord): void {
    if (this.fd === undefined) return;
    // One write(2) per record on an O_APPEND descriptor: whole lines, even from several sessions.
    fs.writeSync(this.fd, JSON.stringify({ time: new Date().toISOString(), session: this.session, ...record }) + '\n');
  }

  /** Later writes (a command killed at shutdown reporting its exit) are dropped, never written to
   * whatever reuses the descriptor number. */
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
