// Tests that run something as another user (setpriv --reuid 65534) cannot run it from the
// checkout: a clone may sit in a private (0700) directory, such as a home or a `mktemp -d`, that
// the other user cannot enter. They run a copy instead, made here in a world-readable directory.
import fs from 'node:fs';
import path from 'node:path';
import { root } from './paths.js';

/**
 * Copies `parts` (paths relative to the checkout: files or directories) into `dest`, keeping their
 * relative layout, and makes everything readable (and directories enterable) by anyone.
 * Returns `dest`: the root of the copy.
 */
export function copyForOtherUser(dest: string, parts: string[]): string {
  for (const part of parts) fs.cpSync(path.join(root, part), path.join(dest, part), { recursive: true });
  const open = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    fs.chmodSync(p, st.mode | (st.isDirectory() || st.mode & 0o111 ? 0o755 : 0o644));
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) open(path.join(p, e));
  };
  open(dest);
  return dest;
}
