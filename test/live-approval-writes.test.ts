// Live approval of writes, creates, removes, renames, links and truncates (issue 11), as a person
// meets it: real programs change something the default profile denies (outside the project), wait
// inside the system call while nono asks in a real terminal (node-pty), and on "allow" get the
// real result of the operation, which the supervisor did itself on exactly the path it showed,
// on the command's first and only run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { cli, fixtures } from './helpers/paths.js';
import { QUESTION, auditRecords as auditRecordsOf, startPtyAgent } from './helpers/pty-agent.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

const supported = loadAddon().liveApprovalSupported() === null;

let h: SandboxHome;
let denied: string; // a directory the default profile lets commands read, not change
let file: string;

beforeEach(() => {
  h = makeSandboxHome();
  denied = path.join(h.home, 'denied');
  fs.mkdirSync(denied);
  file = path.join(denied, 'file');
  fs.writeFileSync(file, 'a\n');
});
afterEach(() => h.cleanup());

// The default: live approval on, proxy mode (it shares the connect guard's listener).
const startAgent = (cmds: string[], extraEnv: Record<string, string> = {}) =>
  startPtyAgent({
    cwd: h.project,
    env: {
      HOME: h.home,
      PATH: process.env.PATH!,
      TERM: 'xterm-256color',
      XDG_CONFIG_HOME: path.join(h.home, '.config'),
      XDG_STATE_HOME: path.join(h.home, '.local', 'state'),
      ...extraEnv,
    },
    nonoArgs: [],
    agent: ['node', path.join(fixtures, 'live-agent.mjs'), ...cmds],
  });

const auditRecords = () => auditRecordsOf(h.home);

const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

describe.skipIf(!supported)('live approval of changes (real pty)', () => {
  it('mkdir ~/newdir under a UTF-8 locale is asked live and done once, on the only run', async () => {
    const newdir = path.join(h.home, 'newdir');
    const s = startAgent([`echo 1 >> log; mkdir ${newdir}; echo "mkdir=$?"`], { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' });
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   create ${newdir}`);
    // Landlock cannot allow creating in HOME for later commands without opening ~/.ssh & co.
    expect(s.lastQuestion()).not.toContain('[s] allow for this session');
    s.press('s'); // not offered: ignored, the question stays
    await new Promise((r) => setTimeout(r, 300)); // (keys typed together arrive as one chunk)
    expect(s.screen()).not.toContain('RESULT');
    s.press('o');
    const [r] = await s.done();
    expect(r!.stdout).toBe('mkdir=0\n');
    expect(r!.stderr).toBe('');
    expect(fs.statSync(newdir).isDirectory()).toBe(true);
    expect(fs.statSync(newdir).mode & 0o777).toBe(0o755); // the command's umask (022)
    expect(fs.readFileSync(path.join(h.project, 'log'), 'utf8')).toBe('1\n');
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'command', attempts: 1 }));
    expect(s.questions()).toBe(1);
  });

  it('a redirection into a denied file: the side effect before it happens once, the file gets the bytes', async () => {
    const s = startAgent([`echo 1 >> log; echo x > ${file}; echo "w=$?"`]);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   write ${file}`);
    s.press('o');
    const [r] = await s.done();
    expect(r!.stdout).toBe('w=0\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('x\n'); // O_TRUNC applied, after the inode check
    expect(fs.readFileSync(path.join(h.project, 'log'), 'utf8')).toBe('1\n');
    expect(s.questions()).toBe(1);
  });

  it('a new file in a denied directory (create), with python3 open(..., "w") and node fs.writeFileSync', async () => {
    const a = path.join(denied, 'py.txt');
    const b = path.join(denied, 'node.txt');
    const s = startAgent([
      `umask 027; ${python} -c 'open("${a}", "w").write("from python\\n")'`,
      `node -e 'require("fs").writeFileSync("${b}", "from node\\n")'`,
    ]);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   create ${a}`);
    expect(s.lastQuestion()).toContain(`grant    create files in ${denied}`);
    s.press('o');
    await s.answer('o');
    const [py, node] = await s.done();
    expect(py!.code).toBe(0);
    expect(node!.code).toBe(0);
    expect(fs.readFileSync(a, 'utf8')).toBe('from python\n');
    expect(fs.statSync(a).mode & 0o777).toBe(0o640); // 0666 under the command's umask 027
    expect(fs.readFileSync(b, 'utf8')).toBe('from node\n');
  });

  it('rm, mv, ln -s and truncate -s 0 each get their real result', async () => {
    fs.writeFileSync(path.join(denied, 'gone'), 'x');
    fs.writeFileSync(path.join(denied, 'long'), 'many bytes\n');
    const s = startAgent([
      `rm ${denied}/gone && echo rm-ok`,
      `mv ${file} ${denied}/moved && echo mv-ok`,
      `ln -s /etc/hostname ${denied}/link && echo ln-ok`,
      `truncate -s 0 ${denied}/long && echo truncate-ok`,
    ]);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   delete ${denied}/gone`);
    s.press('o');
    await s.answer('o');
    expect(s.lastQuestion()).toContain(`denied   rename ${file} to ${denied}/moved`);
    await s.answer('o');
    expect(s.lastQuestion()).toContain(`denied   create ${denied}/link`);
    await s.answer('o');
    expect(s.lastQuestion()).toContain(`denied   write ${denied}/long`);
    const rs = await s.done();
    expect(rs.map((r) => r.stdout)).toEqual(['rm-ok\n', 'mv-ok\n', 'ln-ok\n', 'truncate-ok\n']);
    expect(fs.existsSync(path.join(denied, 'gone'))).toBe(false);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readFileSync(path.join(denied, 'moved'), 'utf8')).toBe('a\n');
    expect(fs.readlinkSync(path.join(denied, 'link'))).toBe('/etc/hostname');
    expect(fs.statSync(path.join(denied, 'long')).size).toBe(0);
    expect(s.questions()).toBe(4);
  });

  it('sed -i (a temp file next to it, renamed over it): allowed for the session, one question', async () => {
    const s = startAgent([`sed -i s/a/b/ ${file} && echo sed-ok`, `echo c > ${denied}/later && echo later-ok`]);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`grant    create files in ${denied}`);
    s.press('s');
    const [sed, later] = await s.done();
    expect(sed!.stdout).toBe('sed-ok\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('b\n');
    // The session grant reached the next command's Landlock rules: no question.
    expect(later!.stdout).toBe('later-ok\n');
    expect(s.questions()).toBe(1);
    expect(fs.readdirSync(denied).sort()).toEqual(['file', 'later']);
  });

  it('git config --global: its lock file in HOME is created and renamed over ~/.gitconfig, live', async () => {
    const s = startAgent(['git config --global user.name X && echo git-ok && git config --global user.name']);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   create ${h.home}/.gitconfig.lock`);
    s.press('o');
    await s.answer('o');
    expect(s.lastQuestion()).toContain(`denied   rename ${h.home}/.gitconfig.lock to ${h.home}/.gitconfig`);
    // The new ~/.gitconfig is not under any read rule yet (HOME is granted entry by entry): the
    // second git asks to read it.
    await s.answer('o');
    expect(s.lastQuestion()).toContain(`denied   read ${h.home}/.gitconfig`);
    const [r] = await s.done();
    expect(r!.stdout).toBe('git-ok\nX\n');
    expect(fs.readFileSync(path.join(h.home, '.gitconfig'), 'utf8')).toContain('name = X');
    expect(fs.existsSync(path.join(h.home, '.gitconfig.lock'))).toBe(false);
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'command', attempts: 1 }));
  });

  it('deny: the program reports EACCES itself and exits as it would under Landlock; nothing changes', async () => {
    const newdir = path.join(h.home, 'newdir');
    const s = startAgent([`mkdir ${newdir}; echo "mkdir=$?"; rm ${file}; echo "rm=$?"`]);
    await s.waitForQuestion();
    s.press('d');
    await s.answer('d');
    const [r] = await s.done();
    expect(r!.code).toBe(0);
    expect(r!.stdout).toBe('mkdir=1\nrm=1\n');
    expect(r!.stderr).toMatch(new RegExp(`mkdir: cannot create directory .${newdir}.: Permission denied`));
    expect(r!.stderr).toContain(`rm: cannot remove '${file}': Permission denied`);
    expect(r!.stderr).toContain(`nono: the sandbox denied create of ${newdir}; to allow it`);
    expect(r!.stderr).not.toContain('re-running');
    expect(fs.existsSync(newdir)).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe('a\n');
  });

  it('a denied create is remembered by its directory: mktemp\'s next random name is not asked again', async () => {
    const s = startAgent([`mktemp ${denied}/tmp.XXXXXX; echo "m=$?"`, `mktemp ${denied}/tmp.XXXXXX; echo "m=$?"`]);
    await s.waitForQuestion();
    s.press('d');
    const [a, b] = await s.done();
    expect(a!.stdout).toBe('m=1\n');
    expect(b!.stdout).toBe('m=1\n');
    expect(b!.stderr).toContain(`nono: the sandbox denied create of ${denied}/tmp.`);
    expect(s.questions()).toBe(1);
    expect(fs.readdirSync(denied)).toEqual(['file']);
  });

  // Security.
  it('a symlink swapped into the parent between the question and the answer: EACCES, nothing written elsewhere', async () => {
    const sub = path.join(denied, 'sub');
    fs.mkdirSync(sub);
    const elsewhere = path.join(h.home, '.aws');
    const s = startAgent([`echo secret > ${sub}/new; echo "w=$?"`]);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   create ${sub}/new`);
    fs.renameSync(sub, path.join(denied, 'sub-away'));
    fs.symlinkSync(elsewhere, sub);
    s.press('o');
    const [r] = await s.done();
    expect(r!.stdout).toBe('w=1\n');
    expect(r!.stderr).toContain('Permission denied');
    expect(fs.existsSync(path.join(elsewhere, 'new'))).toBe(false);
    expect(fs.readdirSync(path.join(denied, 'sub-away'))).toEqual([]);
  });

  it('a directory replaced under the shown parent name (same path, another inode): EACCES', async () => {
    const sub = path.join(denied, 'sub');
    fs.mkdirSync(sub);
    const s = startAgent([`mkdir ${sub}/new; echo "mkdir=$?"`]);
    await s.waitForQuestion();
    fs.renameSync(sub, path.join(denied, 'sub-away'));
    fs.mkdirSync(sub);
    s.press('o');
    const [r] = await s.done();
    expect(r!.stdout).toBe('mkdir=1\n');
    expect(fs.existsSync(path.join(sub, 'new'))).toBe(false);
    expect(fs.existsSync(path.join(denied, 'sub-away', 'new'))).toBe(false);
  });

  it('a rename whose destination parent is swapped for a symlink: EACCES, nothing moved', async () => {
    const dst = path.join(h.home, 'denied2');
    fs.mkdirSync(dst);
    const s = startAgent([`mv ${file} ${dst}/moved; echo "mv=$?"`]);
    await s.waitForQuestion();
    // Two parents, two grants.
    expect(s.lastQuestion()).toContain(`denied   rename ${file} to ${dst}/moved`);
    expect(s.lastQuestion()).toContain(`denied   create ${dst}/moved`);
    fs.renameSync(dst, path.join(h.home, 'denied2-away'));
    fs.symlinkSync(path.join(h.home, '.aws'), dst);
    s.press('o');
    const [r] = await s.done();
    expect(r!.stdout).toContain('mv=1');
    expect(fs.readFileSync(file, 'utf8')).toBe('a\n');
    expect(fs.existsSync(path.join(h.home, '.aws', 'moved'))).toBe(false);
  });

  it('a name rewritten in the command\'s memory after the notification: the shown name is created', async () => {
    const shown = path.join(denied, 'shown');
    const other = path.join(denied, 'other');
    const script = path.join(h.project, 'rewrite.py');
    fs.writeFileSync(
      script,
      [
        'import ctypes, threading, time',
        'libc = ctypes.CDLL(None, use_errno=True)',
        `buf = ctypes.create_string_buffer(${JSON.stringify(shown)}.encode(), 4096)`,
        `threading.Thread(target=lambda: (time.sleep(0.5), ctypes.memmove(buf, ${JSON.stringify(other)}.encode() + b"\\0", ${other.length + 1}))).start()`,
        'print("mkdir", libc.mkdir(buf, 0o755))',
      ].join('\n'),
    );
    const s = startAgent([`${python} ${script}`]);
    await s.waitForQuestion();
    expect(s.screen()).toContain(`denied   create ${shown}`);
    await new Promise((r) => setTimeout(r, 1000)); // the buffer now names the other directory
    s.press('o');
    const [r] = await s.done();
    expect(r!.stdout).toBe('mkdir 0\n');
    expect(fs.statSync(shown).isDirectory()).toBe(true);
    expect(fs.existsSync(other)).toBe(false);
    expect(s.questions()).toBe(1);
  });

  it('a command killed while its mkdir waits: the question is withdrawn and the directory never made', async () => {
    const newdir = path.join(denied, 'never');
    const s = startAgent([`kill:mkdir ${newdir}`, 'echo after']);
    await s.waitForQuestion();
    const [r, after] = await s.done();
    expect(r!.signal).toBe('SIGKILL');
    expect(after!.stdout).toBe('after\n');
    s.press('o'); // too late: nothing waits for it
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.existsSync(newdir)).toBe(false);
    expect(auditRecords()).toContainEqual(expect.objectContaining({ type: 'decision', choice: 'deny', cancelled: true }));
  });

  it('a file put at the name of a create between question and answer is not opened (the create is O_EXCL)', async () => {
    const target = path.join(denied, 'new');
    const s = startAgent([`echo overwrite > ${target}; echo "w=$?"`]);
    await s.waitForQuestion();
    fs.writeFileSync(target, 'planted\n');
    s.press('o');
    const [r] = await s.done();
    expect(r!.stdout).toBe('w=1\n');
    expect(fs.readFileSync(target, 'utf8')).toBe('planted\n');
  });
});

describe.skipIf(!supported)('live approval of changes without a terminal', () => {
  it('a thread flipping a path between an allowed and a denied directory never creates anything in the denied one', () => {
    const script = path.join(h.project, 'race.py');
    fs.writeFileSync(
      script,
      [
        'import ctypes, os, threading',
        'libc = ctypes.CDLL(None, use_errno=True)',
        `a = ${JSON.stringify(path.join(h.project, 'x'))}.encode() + b"\\0"; b = ${JSON.stringify(path.join(denied, 'x'))}.encode() + b"\\0"`,
        'buf = ctypes.create_string_buffer(4096); ctypes.memmove(buf, a, len(a))',
        'stop = False',
        'def flip():',
        '    while not stop:',
        '        ctypes.memmove(buf, b, len(b)); ctypes.memmove(buf, a, len(a))',
        'threading.Thread(target=flip, daemon=True).start()',
        'made = 0',
        'for i in range(2000):',
        '    if libc.mkdir(buf, 0o755) == 0:',
        '        made += 1; libc.rmdir(buf)',
        '    fd = libc.open(buf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)',
        '    if fd >= 0:',
        '        made += 1; os.close(fd); libc.unlink(buf)',
        'stop = True',
        'print("made", made)',
      ].join('\n'),
    );
    const r = spawnSync('node', [cli, 'run', '--live-approval', '--allow-net', '--on-denial', 'deny', '--', 'bash', '-c', `${python} ${script}`], {
      cwd: h.project,
      env: { HOME: h.home, PATH: process.env.PATH!, XDG_CONFIG_HOME: path.join(h.home, '.config'), XDG_STATE_HOME: path.join(h.home, '.local', 'state') },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const m = /made (\d+)/.exec(r.stdout);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0); // the allowed side did happen
    expect(fs.readdirSync(denied)).toEqual(['file']);
  });
});
