// Is this executable a JavaScript program packed into a runtime (a "single-file executable")?
// That matters for naming what the agent is (Claude Code ships as a Bun one), not for the preload
// verdict, which is the runtime's own. Detected from markers the packers leave in the file:
//   - Bun (`bun build --compile`) ends the embedded module graph with the trailer "\n---- Bun! ----\n".
//     The Bun runtime itself holds that string once as a constant, so one occurrence near the end
//     of the file, or two anywhere, mean a packed program.
//   - Node SEA: every node binary carries the fuse "NODE_SEA_FUSE_<hash>:0"; postject flips it to
//     ":1" when it injects the NODE_SEA_BLOB resource. (The bare strings NODE_SEA_BLOB and
//     NODE_SEA_FUSE are in every plain node too, so they prove nothing.)
import fs from 'node:fs';

export type SingleFileKind = 'bun' | 'node-sea';

const BUN_TRAILER = Buffer.from('\n---- Bun! ----\n', 'latin1');
const SEA_FUSE = Buffer.from('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:', 'latin1');
const CHUNK = 4 << 20;
/** Where a Bun trailer counts as "at the end": some versions append a few bytes after it. */
const TAIL = 64 * 1024;
/** Agents are a few hundred MB at most; stop rather than read a disk image. */
const MAX_SCAN = 1 << 30;

export interface SingleFileScan {
  kind?: SingleFileKind;
  /** What was found, for the report. */
  evidence?: string;
}

export function detectSingleFile(file: string): SingleFileScan {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return {};
  }
  try {
    const size = fs.fstatSync(fd).size;
    const limit = Math.min(size, MAX_SCAN);
    const overlap = Math.max(BUN_TRAILER.length, SEA_FUSE.length + 1) - 1;
    const buf = Buffer.alloc(CHUNK + overlap);
    let bunHits = 0;
    let bunNearEnd = false;
    let carried = 0;
    for (let pos = 0; pos < limit; ) {
      const n = fs.readSync(fd, buf, carried, Math.min(CHUNK, limit - pos), pos);
      if (n <= 0) break;
      const view = buf.subarray(0, carried + n);
      const base = pos - carried; // file offset of view[0]
      for (let i = view.indexOf(BUN_TRAILER); i >= 0; i = view.indexOf(BUN_TRAILER, i + 1)) {
        // Skip a hit that lies wholly in the carried-over bytes: it was counted in the last round.
        if (i + BUN_TRAILER.length <= carried) continue;
        bunHits++;
        if (base + i >= size - TAIL) bunNearEnd = true;
      }
      for (let i = view.indexOf(SEA_FUSE); i >= 0; i = view.indexOf(SEA_FUSE, i + 1)) {
        if (view[i + SEA_FUSE.length] === 0x31 /* '1' */) {
          return { kind: 'node-sea', evidence: 'Node single executable application (its SEA fuse is set)' };
        }
      }
      pos += n;
      carried = Math.min(overlap, view.length);
      view.copy(buf, 0, view.length - carried);
    }
    if (bunNearEnd || bunHits >= 2) return { kind: 'bun', evidence: 'Bun single-file executable (bun build --compile)' };
    return {};
  } catch {
    return {};
  } finally {
    fs.closeSync(fd);
  }
}
