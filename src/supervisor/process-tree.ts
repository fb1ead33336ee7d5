// Reading and killing process trees through /proc. A command is not a descendant of the
// nono-shell that asked for it, so when an agent kills its shell (timeouts), the supervisor has
// to find and kill the command's whole tree itself.
import fs from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** Its executable, where the table says it (macOS: proc_pidpath). */
  exe?: string;
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), sid: Number(fields[3]) };
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    // Out of descriptors (EMFILE/ENFILE) or /proc unreadable: no snapshot. Callers still have the
    // root itself, and killCommandTree still signals the command's process group.
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/**
 * The tree of a command started as a session leader, from one snapshot of the process table
 * (/proc here; sysctl on macOS, src/supervisor/platform/process-table.ts): its session, even what
 * was reparented after its parent died, plus every descendant, even those that started sessions of
 * their own.
 */
export function treeOf(table: readonly ProcStat[], rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const s of table) {
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
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

/** Every live process that belongs to the tree of a command started as a session leader. */
export function commandTree(rootPid: number): number[] {
  return treeOf(allStats(), rootPid);
}

/**
 * Kills the tree of rootPid, read from `table` (a fresh snapshot per call); returns how many
 * processes were signalled. The tree is frozen (SIGSTOP) before anything dies: killing a parent
 * first would reparent its children to init, and one that had started its own session could no
 * longer be found.
 */
export function killTreeWith(table: () => readonly ProcStat[], rootPid: number, signal: NodeJS.Signals = 'SIGKILL'): number {
  const send = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false; // exited meanwhile
    }
  };
  const frozen = new Set<number>();
  // Two passes: a process forked while the first snapshot was taken shows up in the second.
  for (let pass = 0; pass < 2; pass++) {
    for (const pid of treeOf(table(), rootPid)) {
      if (!frozen.has(pid) && send(pid, 'SIGSTOP')) frozen.add(pid);
    }
  }
  send(-rootPid, signal); // the command's process group, for anything not yet seen
  let n = 0;
  for (const pid of frozen) {
    if (send(pid, signal)) n++;
    if (signal !== 'SIGKILL') send(pid, 'SIGCONT'); // a stopped process would not act on TERM
  }
  return n;
}

/** Kills the command's whole tree (see killTreeWith), from /proc. */
export function killCommandTree(rootPid: number, signal: NodeJS.Signals = 'SIGKILL'): number {
  return killTreeWith(allStats, rootPid, signal);
}

/**
 * True when `pid` runs inside one of the commands this supervisor started (so it is sandboxed
 * already): its session, or one of its ancestors, is a command's.
 */
export function isInsideCommand(pid: number, commandPids: ReadonlySet<number>, stopAt: number): boolean {
  if (commandPids.size === 0) return false;
  let cur = readStat(pid);
  for (let depth = 0; cur && depth < 64; depth++) {
    if (commandPids.has(cur.pid) || commandPids.has(cur.sid)) return true;
    if (cur.ppid <= 1 || cur.ppid === stopAt) return false;
    cur = readStat(cur.ppid);
  }
  return false;
}
