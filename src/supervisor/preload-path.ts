// The interposer as LD_PRELOAD can name it. ld.so splits LD_PRELOAD on spaces and colons, so a
// checkout under "My Projects" would silently lose the preload route (the loader prints an error
// into the agent's screen and loads nothing). Such a path is named through a link in a directory
// of the session instead; the interposer keeps the name it was loaded by, so children inherit it.
import fs from 'node:fs';
import path from 'node:path';
import { nativePaths } from '../native/paths.js';
import { PolicyError } from '../policy/resolved-policy.js';

const splittable = (p: string) => /[ :]/.test(p);

export function preloadablePath(linkDir: string): string {
  if (!splittable(nativePaths.interposer)) return nativePaths.interposer;
  const link = path.join(linkDir, path.basename(nativePaths.interposer));
  if (splittable(link)) {
    throw new PolicyError(
      `cannot preload nono's interposer: both ${nativePaths.interposer} and ${link} contain a space or a colon, which LD_PRELOAD cannot hold; ` +
        'move nono (or TMPDIR / XDG_RUNTIME_DIR) to a path without them',
    );
  }
  if (!fs.existsSync(link)) fs.symlinkSync(nativePaths.interposer, link);
  return link;
}
