// The session for the platform nono runs on: Landlock (start-session.ts) on Linux,
// Seatbelt (start-darwin-session.ts) on macOS. `backend` overrides the choice (tests select the
// darwin backend with its doubles explicitly; process.platform is never faked).
import { loadAddon } from '../native/addon.js';
import { backendFor, type PlatformBackend } from './platform/select.js';
import type { DarwinRunningSession } from './start-darwin-session.js';
import { startSession, type RunningSession, type SessionOptions } from './start-session.js';

export type AnySession = RunningSession | DarwinRunningSession;

export async function startPlatformSession(opts: SessionOptions, backend?: PlatformBackend): Promise<AnySession> {
  const chosen = backend ?? backendFor(process.platform, loadAddon());
  if (chosen.kind === 'linux') return startSession(opts);
  // Loaded only on macOS: the Seatbelt compiler and the log monitor would cost a Linux
  // supervisor memory for its whole life (test/cli-run-modules.test.ts).
  const { startDarwinSession } = await import('./start-darwin-session.js');
  return startDarwinSession(opts, chosen);
}
