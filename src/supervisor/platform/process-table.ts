// Process trees from a whole-system table of (pid, ppid, pgid, sid): what macOS gives through
// sysctl(KERN_PROC_ALL) (the addon's processTable()). The tree walk and the freeze-then-kill are
// process-tree.ts's, shared with Linux, where the table comes from /proc.
import type { ProcStat } from '../process-tree.js';
export { killTreeWith, treeOf } from '../process-tree.js';

export type ProcessTable = () => ProcStat[];

export function insideCommandWith(table: ProcessTable, pid: number, commandPids: ReadonlySet<number>, stopAt: number): boolean {
  if (commandPids.size === 0) return false;
  const byPid = new Map(table().map((s) => [s.pid, s]));
  let cur = byPid.get(pid);
  for (let depth = 0; cur && depth < 64; depth++) {
    if (commandPids.has(cur.pid) || commandPids.has(cur.sid)) return true;
    if (cur.ppid <= 1 || cur.ppid === stopAt) return false;
    cur = byPid.get(cur.ppid);
  }
  return false;
}

/** pid's parent, grandparent... up to (not including) pid 1, from one snapshot of the table. */
export function ancestorsWith(table: ProcessTable, pid: number): number[] {
  const byPid = new Map(table().map((s) => [s.pid, s]));
  const out: number[] = [];
  for (let cur = byPid.get(pid); cur && cur.ppid > 1 && out.length < 64; cur = byPid.get(cur.ppid)) out.push(cur.ppid);
  return out;
}
