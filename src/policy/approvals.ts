// "Always" answers at a denial prompt: saved in ~/.config/nono/approvals.json (the profile format,
// filesystem and network sections only) and applied on top of every profile, so the person sees
// one file with everything they approved. Sandboxed commands cannot write it (group
// deny_nono_state).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Grant } from '../supervisor/denials/types.js';
import { profileSchema, type Profile } from './profile-schema.js';
import { PolicyError } from './resolved-policy.js';

export function nonoConfigDir(home = os.homedir()): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'nono');
}

export function approvalsFile(home = os.homedir()): string {
  return path.join(nonoConfigDir(home), 'approvals.json');
}

export function loadApprovals(file: string): Profile | undefined {
  if (!fs.existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PolicyError(`${file}: not valid JSON (${(e as Error).message}); fix or remove it`);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new PolicyError(`${file}: invalid approvals: ${i.path.join('.') || '(top level)'}: ${i.message}`);
  }
  return parsed.data;
}

/** Paths under HOME are written with ~ so they read like a profile a person would write. */
export function portable(p: string, home = os.homedir()): string {
  return p === home ? '~' : p.startsWith(home + '/') ? `~${p.slice(home.length)}` : p;
}

/** Adds the grants and returns the lines that changed, for the person to see. */
export function saveApprovals(file: string, grants: readonly Grant[], home = os.homedir()): string[] {
  const current: Profile = loadApprovals(file) ?? { description: 'Grants approved with "always" at nono prompts' };
  const fsSec = { ...(current.filesystem ?? {}) };
  const net = { ...(current.network ?? {}) };
  const changes: string[] = [];
  const push = (key: keyof NonNullable<Profile['filesystem']>, value: string) => {
    const list = [...(fsSec[key] ?? [])];
    if (list.includes(value)) return;
    list.push(value);
    fsSec[key] = list;
    changes.push(`filesystem.${key} += ${JSON.stringify(value)}`);
  };
  for (const g of grants) {
    if (g.kind === 'tcp_connect' || g.kind === 'tcp_bind') {
      const key = g.kind === 'tcp_connect' ? 'allow_tcp_connect' : 'allow_tcp_bind';
      const list = [...(net[key] ?? [])];
      if (!list.includes(g.port!)) {
        list.push(g.port!);
        net[key] = list;
        changes.push(`network.${key} += ${g.port}`);
      }
    } else if (g.kind === 'domain') {
      const list = [...(net.allow_domains ?? [])];
      if (!list.includes(g.host!)) {
        list.push(g.host!);
        net.allow_domains = list;
        changes.push(`network.allow_domains += ${JSON.stringify(g.host)}`);
      }
    } else if (g.kind === 'tcp') {
      if (net.block !== false) changes.push('network.block = false');
      net.block = false;
    } else {
      push(g.kind, portable(g.path!, home));
    }
  }
  const next: Profile = { ...current, filesystem: fsSec, network: Object.keys(net).length ? net : undefined };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return changes;
}
