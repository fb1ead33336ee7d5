// The session watchdog (shim/session_watchdog.c): a small process outside the supervisor that
// kills what is left of the commands if the supervisor dies without cleaning up. The supervisor
// tells it which commands run; when its stdin ends, it kills those trees.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { nativePaths } from '../native/paths.js';

export class Watchdog {
  private readonly child: ChildProcess | undefined;

  constructor(log: (l: string) => void) {
    if (!fs.existsSync(nativePaths.watchdog)) {
      log(`no watchdog (${nativePaths.watchdog} missing): commands get a parent-death signal instead`);
      return;
    }
    // Its own session: Ctrl-C or a closing terminal must not take it down with nono.
    this.child = spawn(nativePaths.watchdog, [], { stdio: ['pipe', 'ignore', 'inherit'], detached: true });
    this.child.on('error', (e) => log(`watchdog: ${e.message}`));
    this.child.stdin?.on('error', () => {});
    this.child.unref();
  }

  /** True when commands can do without a parent-death signal (see session_watchdog.c). */
  get active(): boolean {
    return this.child?.exitCode === null && !this.child.killed;
  }

  track(pid: number): void {
    this.child?.stdin?.write(`+${pid}\n`);
  }

  untrack(pid: number): void {
    this.child?.stdin?.write(`-${pid}\n`);
  }

  close(): void {
    this.child?.stdin?.end();
  }
}
