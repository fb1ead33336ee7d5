// `nono profile explain`: for a path and an operation, allowed or denied under the compiled
// Landlock rules, and which rule decided it. Landlock grants a right when a rule on the path or
// on any of its ancestors grants it, so the answer is the union along the path.
import fs from 'node:fs';
import path from 'node:path';
import { FS } from './landlock-rights.js';
import { isInside, type CompiledLandlock, type LandlockRule } from './landlock-compiler.js';

export const OPERATIONS = ['read', 'list', 'write', 'execute', 'create', 'delete', 'rename'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface Explanation {
  path: string;
  operation: Operation;
  allowed: boolean;
  /** The rules that grant what is needed (deepest first), or the deny that took it away. */
  decidedBy: string;
  rule?: LandlockRule;
  notes: string[];
}

/** The resolved spelling of a path that may not exist yet: resolve the existing part. */
function resolvePartly(p: string): string {
  let cur = path.resolve(p);
  const rest: string[] = [];
  while (!fs.existsSync(cur) && cur !== '/') {
    rest.unshift(path.basename(cur));
    cur = path.dirname(cur);
  }
  return path.join(fs.realpathSync(cur), ...rest);
}

function need(op: Operation, target: string): { at: string; rights: number } {
  const parent = path.dirname(target);
  switch (op) {
    case 'read': return { at: target, rights: FS.READ_FILE };
    case 'list': return { at: target, rights: FS.READ_DIR };
    case 'write': return { at: target, rights: FS.WRITE_FILE };
    case 'execute': return { at: target, rights: FS.EXECUTE };
    case 'create': return { at: parent, rights: FS.MAKE_REG };
    case 'delete': return { at: parent, rights: FS.REMOVE_FILE };
    case 'rename': return { at: parent, rights: FS.REMOVE_FILE | FS.MAKE_REG };
  }
}

export function explainLandlock(c: CompiledLandlock, rawPath: string, op: Operation): Explanation {
  const target = resolvePartly(rawPath);
  const { at, rights } = need(op, target);
  const along = c.rules.filter((r) => isInside(at, r.path)).sort((a, b) => b.path.length - a.path.length);
  const granted = along.reduce((acc, r) => acc | r.rights, 0);
  const notes: string[] = [];
  if (at !== target) notes.push(`${op} needs rights on the parent directory ${at}`);
  for (const e of c.expansions) {
    if (isInside(target, e.dir) && e.dir !== target) {
      notes.push(`${e.dir} is granted entry by entry (${e.granted} entries) around denied ${e.denied.join(', ')}: new entries there are not covered`);
    }
  }
  const allowed = (granted & rights) === rights;
  if (allowed) {
    const rule = along.find((r) => (r.rights & rights) !== 0)!;
    return { path: target, operation: op, allowed, decidedBy: `${rule.source} (rule on ${rule.path})`, rule, notes };
  }
  const deny = c.denies.filter((d) => isInside(at, d.path) && (d.rights & rights) !== 0).sort((a, b) => b.path.length - a.path.length)[0];
  const decidedBy = deny
    ? `${deny.source} (denies ${deny.path})`
    : along.length
      ? `the rules on ${along.map((r) => r.path).join(', ')} do not include this operation`
      : 'no rule grants anything on this path or its parents';
  return { path: target, operation: op, allowed, decidedBy, notes };
}
