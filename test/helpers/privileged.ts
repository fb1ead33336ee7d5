// Fixtures only root can make (another user's setuid program, file capabilities), and what the
// tests use in their place when they run as an ordinary user, who cannot chown or setcap.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export const isRoot = process.getuid?.() === 0;

/**
 * A setuid program owned by another user than the caller. As root: a setuid copy of `src` owned
 * by nobody. As another user: the system's setuid-root `passwd`, which is another user's to them
 * (linked at `dest`; what the tests read from it is its ELF and its mode).
 */
export function setuidOther(src: string, dest: string): void {
  if (isRoot) {
    fs.copyFileSync(src, dest);
    fs.chownSync(dest, 65534, 65534);
    fs.chmodSync(dest, 0o4755);
  } else {
    fs.symlinkSync('/usr/bin/passwd', dest);
  }
}

/** A copy of `src` with file capabilities (cap_net_raw+ep); false when this user cannot set them. */
export function withCaps(src: string, dest: string): boolean {
  fs.copyFileSync(src, dest);
  if (!isRoot) return false;
  execFileSync('/usr/sbin/setcap', ['cap_net_raw+ep', dest]);
  return true;
}
