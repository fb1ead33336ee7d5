// The smallest policy addition that lets a denied operation succeed on a re-run. Landlock rules
// attach to existing files and directories, so what can be granted follows from what exists:
// a read or write names the file itself; something new can only be allowed in a directory that
// exists, the nearest one (granting its parent chain higher up would be wider than needed).
import fs from 'node:fs';
import path from 'node:path';
import type { Denial, Grant } from './types.js';

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function exists(p: string): boolean {
  return fs.existsSync(p);
}

/** The closest ancestor of p that is an existing directory (p itself excluded). */
export function nearestExistingDir(p: string): string {
  let cur = path.dirname(path.resolve(p));
  while (cur !== '/' && !isDir(cur)) cur = path.dirname(cur);
  return cur;
}

function createIn(p: string): Grant {
  const dir = nearestExistingDir(p);
  const why = dir === path.dirname(p) ? `to create ${p}` : `nearest existing directory of ${p}`;
  return { kind: 'allow', path: dir, describe: `create files in ${dir} (${why})` };
}

export function leastGrant(d: Denial): Grant {
  if (d.op === 'connect' || d.op === 'bind') {
    const where = d.host ? ` (${d.host})` : '';
    if (d.port === undefined) {
      // The message did not say which port (a TCP socket refused before connect or bind).
      return { kind: 'tcp', describe: `any TCP connection or listening port${where} (the message did not show the port)` };
    }
    return d.op === 'connect'
      ? { kind: 'tcp_connect', port: d.port, describe: `connect to TCP port ${d.port}${where}` }
      : { kind: 'tcp_bind', port: d.port, describe: `listen on TCP port ${d.port}${where}` };
  }
  const p = path.resolve(d.path ?? '/');
  switch (d.op) {
    case 'read':
      return isDir(p) ? { kind: 'read', path: p, describe: `read ${p} (directory)` } : { kind: 'read_file', path: p, describe: `read ${p}` };
    case 'list':
      return { kind: 'read', path: p, describe: `read ${p} (directory)` };
    case 'execute':
      // read_file carries the execute right (Landlock's read set includes it).
      return { kind: 'read_file', path: p, describe: `read and run ${p}` };
    case 'write':
      // A file that vanished since is created again: only its directory can allow that.
      return exists(p) && !isDir(p) ? { kind: 'write_file', path: p, describe: `write ${p}` } : createIn(p);
    case 'create':
      return createIn(p);
    case 'delete':
    case 'rename': {
      const dir = nearestExistingDir(p);
      return { kind: 'allow', path: dir, describe: `change files in ${dir} (to ${d.op} ${p})` };
    }
  }
}
