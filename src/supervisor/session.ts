// One nono session: a private directory (0700) holding the supervisor socket and the commands'
// private temp dir, and a random secret that only the agent side knows (it is scrubbed from every
// command's environment and never written to disk).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Session {
  id: string;
  dir: string;
  socketPath: string;
  privateTmp: string;
  secret: string;
  cleanup(): void;
}

function baseDir(): string {
  const uid = process.getuid?.() ?? 0;
  const runtime = process.env.XDG_RUNTIME_DIR;
  const root = runtime && fs.existsSync(runtime) ? path.join(runtime, 'nono') : path.join(os.tmpdir(), `nono-${uid}`);
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(root);
  // A shared /tmp: refuse a directory someone else made or left open, instead of trusting it.
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new Error(`${root} must be a directory owned by you with mode 0700; remove it and retry`);
  }
  return root;
}

export function createSession(): Session {
  const id = crypto.randomBytes(6).toString('hex');
  const dir = fs.mkdtempSync(path.join(baseDir(), `${id}-`));
  fs.chmodSync(dir, 0o700);
  const privateTmp = path.join(dir, 'tmp');
  fs.mkdirSync(privateTmp, { mode: 0o700 });
  return {
    id,
    dir,
    socketPath: path.join(dir, 'sock'),
    privateTmp,
    secret: crypto.randomBytes(32).toString('hex'),
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
