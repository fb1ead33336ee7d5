// The policy every session gets until profiles exist: read the system and HOME except
// credentials; read-write the working directory and a private temp dir; no TCP unless allowed.
import path from 'node:path';
import { CREDENTIAL_PATHS } from './credential-paths.js';
import type { PathGrant, Policy } from './policy.js';

export interface DefaultPolicyInput {
  home: string;
  workdir: string;
  privateTmp: string;
  allowNet: boolean;
  /** --allow PATH (read-write) */
  allow: string[];
  /** --read PATH */
  read: string[];
}

const DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx', '/dev/pts', '/dev/shm'];

export function defaultPolicy(input: DefaultPolicyInput): Policy {
  const builtin = (p: string, source: string, extra: Partial<PathGrant> = {}): PathGrant => ({
    path: p,
    source,
    explicit: false,
    ...extra,
  });
  const explicit = (p: string, source: string): PathGrant => ({ path: path.resolve(p), source, explicit: true });
  return {
    name: 'default',
    read: [builtin('/', 'system and home (read)'), ...input.read.map((p) => explicit(p, '--read'))],
    readWrite: [
      builtin(input.workdir, 'working directory', { refuseIfDenied: true }),
      builtin(input.privateTmp, 'private temp dir'),
      ...input.allow.map((p) => explicit(p, '--allow')),
    ],
    devices: DEVICES.map((d) => builtin(d, 'devices a shell needs')),
    deny: CREDENTIAL_PATHS.map((rel) => ({ path: path.join(input.home, rel), group: 'deny_credentials' })),
    network: { blockTcp: !input.allowNet },
  };
}
