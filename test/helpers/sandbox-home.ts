// A throw-away HOME with planted credentials and a project directory, so tests can prove what a
// sandboxed command can and cannot touch without going near the real HOME.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SandboxHome {
  base: string;
  home: string;
  project: string;
  sshKey: string;
  cleanup(): void;
}

export const PLANTED_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nplanted-by-nono-tests\n';

export function makeSandboxHome(): SandboxHome {
  const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nono-test-')));
  const home = path.join(base, 'home');
  const project = path.join(home, 'project');
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(home, '.aws'), { recursive: true });
  fs.mkdirSync(path.join(home, '.config', 'gcloud'), { recursive: true });
  fs.mkdirSync(path.join(home, '.config', 'other-tool'), { recursive: true });
  fs.mkdirSync(project, { recursive: true });
  const sshKey = path.join(home, '.ssh', 'id_rsa');
  fs.writeFileSync(sshKey, PLANTED_KEY, { mode: 0o600 });
  fs.writeFileSync(path.join(home, '.aws', 'credentials'), '[default]\naws_secret_access_key=planted\n');
  fs.writeFileSync(path.join(home, '.config', 'gcloud', 'token'), 'planted');
  fs.writeFileSync(path.join(home, '.config', 'other-tool', 'settings'), 'readable');
  fs.writeFileSync(path.join(home, '.netrc'), 'machine example.com password planted\n');
  fs.writeFileSync(path.join(home, '.bashrc'), '# test bashrc\n');
  return { base, home, project, sshKey, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}
