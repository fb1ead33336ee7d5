// Runs the unified-log reader for SeatbeltDenialMonitor: `log stream` as a long-lived child whose
// stdout is read line by line, `log show` to completion. The binary is /usr/bin/log on a Mac
// (LOG_BINARY, by absolute path); tests point it at a double that replays recorded lines.
import { execFile, spawn } from 'node:child_process';
import readline from 'node:readline';
import { LOG_BINARY, type LogProcess, type SeatbeltMonitorDeps } from '../denials/seatbelt-monitor.js';

export function logDeps(binary = LOG_BINARY): Pick<SeatbeltMonitorDeps, 'spawnLog' | 'runLogShow'> {
  return {
    spawnLog(args: string[]): LogProcess {
      const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      const ready = new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
      ready.catch(() => {});
      const rl = readline.createInterface({ input: child.stdout!, crlfDelay: Infinity });
      return { lines: rl, kill: () => child.kill('SIGTERM'), ready };
    },
    runLogShow(args: string[]): Promise<string> {
      return new Promise((resolve, reject) =>
        execFile(binary, args, { maxBuffer: 32 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
      );
    },
  };
}
