// Process trees from a whole-system table of (pid, ppid, pgid, sid): what macOS gives through
// sysctl(KERN_PROC_ALL) (the addon's processTable()). Same rules as process-tree.ts, which reads
// /proc on Linux: a command's tree is its session plus every descendant, frozen before it is killed.
import type { ProcStat } from '../process-tree.js';

export type ProcessTable = () => ProcStat[];

export function treeOf(table: readonly ProcStat[], rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const s of table) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s.pid]);
  const tree = new Set<number>([rootPid]);
  for (const s of table) if (s.sid === rootPid) tree.add(s.pid);
  const stack = [...tree];
  while (stack.length) {
    for (const c of children.get(stack.pop()!) ?? []) {
      if (!tree.has(c)) {
        tree.add(c);
        stack.push(c);
      }
    }
  }
  return [...tree];
}

export function killTreeWith(table: ProcessTable, rootPid: number, signal: NodeJS.Signals = 'SIGKILL'): number {
  const send = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  };
  const frozen = new Set<number>();
  for (let pass = 0; pass < 2; pass++) {
    for (const pid of treeOf(table(), rootPid)) if (!frozen.has(pid) && send(pid, 'SIGSTOP')) frozen.add(pid);
  }
  send(-rootPid, signal);
  let n = 0;
  for (const pid of frozen) {
    if (send(pid, signal)) n++;
    if (signal !== 'SIGKILL') send(pid, 'SIGCONT');
  }
  return n;
}

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
