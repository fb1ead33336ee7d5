// Escape attempts that try to READ a denied credential (~/.ssh/id_rsa planted in a temp HOME), or
// the secrets of processes outside the sandbox, from inside a sandboxed command. Each case also
// proves the attempt is sound where that is cheap: the same trick works unsandboxed, or on a file
// the sandbox does grant, so a pass means "the sandbox stopped it", not "the attempt was broken".
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  KEY_MARK,
  escapeTally,
  expectCompleted,
  expectKeySafe,
  expectRefused,
  pyAttempt,
  sandboxed,
  setupRig,
  startDummyAgent,
  startSandboxed,
  parseOutcome,
  unsandboxed,
  type DummyAgent,
} from './harness.js';

// The brief asks for a marker in the supervisor's environment before the session starts. Note:
// /proc/PID/environ shows the environment a process was exec'd with; a variable Node sets later
// lives on the heap only. The environ case therefore also checks a real entry of this process's
// exec-time environment (and the mem case covers the heap).
const SUPERVISOR_MARKER = `nono-supervisor-marker-${process.pid}-${Date.now()}`;
process.env.NONO_TEST_SUPERVISOR_MARKER = SUPERVISOR_MARKER;

const rig = setupRig();
const attempt = escapeTally('read');
const AGENT_MARKER = `nono-agent-marker-${Date.now()}`;
let agent: DummyAgent;
let keyFd: number;

beforeAll(async () => {
  // The "agent": outside every domain, with the agent's session environment (the secret in it),
  // a marker, HOME as cwd, and the key open as its fd 3.
  keyFd = fs.openSync(rig.home.sshKey, 'r');
  agent = await startDummyAgent(rig, {
    env: { ...rig.s.env, NONO_TEST_AGENT_MARKER: AGENT_MARKER },
    holdFds: [keyFd],
  });
});
afterAll(() => {
  agent?.stop();
  if (keyFd !== undefined) fs.closeSync(keyFd);
});

describe('reading a denied file', () => {
  attempt('through a symlink created in the workdir', async () => {
    const { home } = rig;
    const o = await sandboxed(
      rig,
      `ln -s ${home.sshKey} key-link; ln -s ${home.home}/.ssh ssh-link; ln -s ${home.home}/.config/other-tool/settings ok-link
       t control cat ok-link
       t file-link cat key-link
       t dir-link cat ssh-link/id_rsa`,
    );
    expectCompleted(o);
    expect(o.rc.control).toBe('0'); // symlinks work in the sandbox; only the target is denied
    expect(o.stdout).toContain('readable');
    expectRefused(o, 'file-link', 'dir-link');
    expect(o.stderr).toContain('Permission denied');
    expectKeySafe(rig, o);
  });

  attempt('through a hardlink into the workdir (ln, and linkat of an O_PATH descriptor)', async () => {
    const { home } = rig;
    const py = pyAttempt(
      rig,
      'hardlink-opath',
      `
def via_opath():
    fd = os.open(sys.argv[1], os.O_PATH)  # O_PATH opens are not checked; linking it must be
    os.link(f"/proc/self/fd/{fd}", "key-hard2", follow_symlinks=True)
    print(open("key-hard2").read())
attempt("linkat-opath", via_opath)
`,
    );
    const o = await sandboxed(rig, `t ln ln ${home.sshKey} key-hard\nt read-ln cat key-hard\n${py} ${home.sshKey}`);
    expectCompleted(o);
    expectRefused(o, 'ln', 'read-ln', 'linkat-opath');
    expect(fs.existsSync(path.join(home.project, 'key-hard'))).toBe(false);
    expect(fs.existsSync(path.join(home.project, 'key-hard2'))).toBe(false);
    expectKeySafe(rig, o); // includes nlink === 1
  });

  attempt('through `..` traversal and a chdir into the denied directory', async () => {
    const o = await sandboxed(
      rig,
      `t dotdot cat ../.ssh/id_rsa
       t dotdot-long cat ./../../home/.ssh/../.ssh/id_rsa
       cd .. && t from-home cat .ssh/id_rsa
       cd .ssh && t from-inside cat id_rsa; t list-inside ls -a .`,
    );
    expectCompleted(o);
    expectRefused(o, 'dotdot', 'dotdot-long', 'from-home', 'from-inside', 'list-inside');
    expect(o.all).not.toContain('id_rsa\n');
    expectKeySafe(rig, o);
  });

  attempt('through /proc/self/root, /proc/thread-self/root and /proc/$$/root', async () => {
    const k = rig.home.sshKey;
    const o = await sandboxed(
      rig,
      `t self-root cat /proc/self/root${k}
       t thread-self-root cat /proc/thread-self/root${k}
       t shell-root cat /proc/$$/root${k}`,
    );
    expectCompleted(o);
    expectRefused(o, 'self-root', 'thread-self-root', 'shell-root');
    expectKeySafe(rig, o);
  });

  attempt("through the agent's and the supervisor's /proc/PID/root and /proc/PID/cwd", async () => {
    const k = rig.home.sshKey;
    // Control: unsandboxed, the agent's root and cwd lead to the key.
    expect(fs.readFileSync(`/proc/${agent.pid}/root${k}`, 'utf8')).toContain(KEY_MARK);
    expect(fs.readFileSync(`/proc/${agent.pid}/cwd/.ssh/id_rsa`, 'utf8')).toContain(KEY_MARK);
    const o = await sandboxed(
      rig,
      `t agent-root cat /proc/${agent.pid}/root${k}
       t agent-cwd cat /proc/${agent.pid}/cwd/.ssh/id_rsa
       t supervisor-root cat /proc/${process.pid}/root${k}`,
    );
    expectCompleted(o);
    expectRefused(o, 'agent-root', 'agent-cwd', 'supervisor-root');
    expectKeySafe(rig, o);
  });

  attempt('through a descriptor the agent holds: /proc/PID/fd/3 and pidfd_getfd', async () => {
    // Control: the agent's fd 3 is the key.
    expect(fs.readlinkSync(`/proc/${agent.pid}/fd/3`)).toBe(rig.home.sshKey);
    const py = pyAttempt(
      rig,
      'pidfd-getfd',
      `
pid = int(sys.argv[1])
def steal():
    pidfd = os.pidfd_open(pid)
    fd = syscall(438, pidfd, 3, 0)  # pidfd_getfd
    os.lseek(fd, 0, 0)
    print(os.read(fd, 4096))
attempt("pidfd-getfd", steal)
`,
    );
    const o = await sandboxed(rig, `t proc-fd cat /proc/${agent.pid}/fd/3\nt proc-fd-ls ls -l /proc/${agent.pid}/fd\n${py} ${agent.pid}`);
    expectCompleted(o);
    expectRefused(o, 'proc-fd', 'proc-fd-ls', 'pidfd-getfd');
    expectKeySafe(rig, o);
  });

  attempt('through openat() relative to a directory descriptor on HOME and ~/.ssh', async () => {
    const { home } = rig;
    const py = pyAttempt(
      rig,
      'openat-dirfd',
      `
H = sys.argv[1]
def read_at(dirpath, dflags, rel):
    d = os.open(dirpath, dflags | os.O_DIRECTORY)
    fd = os.open(rel, os.O_RDONLY, dir_fd=d)
    print(os.read(fd, 4096))
attempt("home-rdonly", lambda: read_at(H, os.O_RDONLY, ".ssh/id_rsa"))
attempt("home-opath", lambda: read_at(H, os.O_PATH, ".ssh/id_rsa"))
attempt("ssh-opath", lambda: read_at(H + "/.ssh", os.O_PATH, "id_rsa"))
attempt("project-dotdot", lambda: read_at(".", os.O_RDONLY, "../.ssh/id_rsa"))
def reopen_opath():
    p = os.open(H + "/.ssh/id_rsa", os.O_PATH)
    fd = os.open(f"/proc/self/fd/{p}", os.O_RDONLY)
    print(os.read(fd, 4096))
attempt("reopen-opath", reopen_opath)
attempt("listdir-ssh", lambda: print(os.listdir(H + "/.ssh")))
`,
    );
    const o = await sandboxed(rig, `${py} ${home.home}`);
    expectCompleted(o);
    expectRefused(o, 'home-rdonly', 'home-opath', 'ssh-opath', 'project-dotdot', 'reopen-opath', 'listdir-ssh');
    expectKeySafe(rig, o);
  });

  attempt('every other planted credential, while a non-credential config file stays readable', async () => {
    const h = rig.home.home;
    const o = await sandboxed(
      rig,
      `t control cat ${h}/.config/other-tool/settings
       t aws cat ${h}/.aws/credentials
       t gcloud cat ${h}/.config/gcloud/token
       t netrc cat ${h}/.netrc
       t list-aws ls ${h}/.aws`,
    );
    expectCompleted(o);
    expect(o.rc.control).toBe('0');
    expectRefused(o, 'aws', 'gcloud', 'netrc', 'list-aws');
    expect(o.all).not.toMatch(/aws_secret_access_key|password planted|^planted$/m);
  });

  attempt('a credential directory the agent creates after the session started (~/.kube/config)', async () => {
    const kube = path.join(rig.home.home, '.kube');
    fs.mkdirSync(kube);
    fs.writeFileSync(path.join(kube, 'config'), 'kube-token-planted-later\n');
    try {
      const o = await sandboxed(rig, `t kube cat ${kube}/config`);
      expectCompleted(o);
      expectRefused(o, 'kube');
      expect(o.all).not.toContain('kube-token-planted-later');
    } finally {
      fs.rmSync(kube, { recursive: true, force: true });
    }
  });

  attempt('through the raw block device and kernel memory (bypassing the filesystem)', async (ctx) => {
    const { home } = rig;
    // Find where the key's bytes are on disk.
    execFileSync('sync');
    let dev = '';
    let block = -1;
    try {
      const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').trim().split('\n').map((l) => l.split(' '));
      const best = mounts
        .filter(([, target]) => home.sshKey.startsWith(target === '/' ? '/' : `${target}/`))
        .sort((a, b) => b[1]!.length - a[1]!.length)[0];
      dev = best?.[0] ?? '';
      const frag = execFileSync('filefrag', ['-v', '-b4096', home.sshKey], { encoding: 'utf8' });
      block = Number(/^\s*0:\s+0\.\.\s+0:\s+(\d+)\.\./m.exec(frag)?.[1] ?? -1);
    } catch {
      /* no filefrag / not a block-backed fs */
    }
    // Each way in is attempted only where it works unsandboxed: here (a VM without raw I/O, no
    // /proc/kcore or /dev/mem) some may not exist at all, and a refusal there would prove nothing.
    const ways: Record<string, string> = {
      'raw-disk': `dd if=${dev} bs=4096 skip=${block} count=1 status=none of=raw-block.bin`,
      'proc-kcore': 'head -c 64 /proc/kcore > /dev/null',
      'dev-mem': 'head -c 64 /dev/mem > /dev/null',
    };
    const control = await unsandboxed(rig, Object.entries(ways).map(([n, c]) => `t ${n} eval '${c}'`).join('\n'));
    const usable = Object.keys(ways).filter((n) => control.rc[n] === '0');
    if (usable.includes('raw-disk')) expect(fs.readFileSync(path.join(home.project, 'raw-block.bin'), 'latin1')).toContain(KEY_MARK);
    fs.rmSync(path.join(home.project, 'raw-block.bin'), { force: true });
    if (usable.length === 0) {
      ctx.skip(`no raw device or kernel memory is readable here even unsandboxed (${dev} block ${block}, /proc/kcore, /dev/mem)`);
      return;
    }
    const o = await sandboxed(rig, usable.map((n) => `t ${n} eval '${ways[n]}'`).join('\n'));
    expectCompleted(o);
    expectRefused(o, ...usable);
    const raw = path.join(home.project, 'raw-block.bin');
    if (fs.existsSync(raw)) expect(fs.readFileSync(raw, 'latin1')).not.toContain(KEY_MARK);
    expectKeySafe(rig, o);
  });
});

describe("reading the secrets of processes outside the sandbox", () => {
  attempt("/proc/PID/environ of the agent (an unsandboxed process)", async () => {
    // Control: the marker is there for an unsandboxed reader.
    expect(fs.readFileSync(`/proc/${agent.pid}/environ`, 'latin1')).toContain(AGENT_MARKER);
    const o = await sandboxed(rig, `t environ eval 'tr "\\0" "\\n" < /proc/${agent.pid}/environ'`);
    expectCompleted(o);
    expectRefused(o, 'environ');
    expect(o.all).not.toContain(AGENT_MARKER);
    expect(o.all).not.toContain(rig.s.session.secret);
  });

  attempt("/proc/PID/environ of the supervisor (this test process)", async () => {
    // A real entry of this process's exec-time environment: what a successful read would show.
    const entries = fs.readFileSync('/proc/self/environ', 'latin1').split('\0').filter((e) => e.length > 12);
    const sample = entries.sort((a, b) => b.length - a.length)[0]!;
    const control = await unsandboxed(rig, `t environ cat /proc/${process.pid}/environ`);
    expect(control.stdout).toContain(sample);
    const o = await sandboxed(rig, `t environ cat /proc/${process.pid}/environ`);
    expectCompleted(o);
    expectRefused(o, 'environ');
    expect(o.all).not.toContain(sample);
    expect(o.all).not.toContain(SUPERVISOR_MARKER);
    expect(o.all).not.toContain(rig.s.session.secret);
  });

  attempt('/proc/PID/mem and process_vm_readv of the agent and of the supervisor', async () => {
    // The agent's environment strings live on its stack: find the range, and read it unsandboxed.
    const maps = fs.readFileSync(`/proc/${agent.pid}/maps`, 'utf8');
    const m = /^([0-9a-f]+)-([0-9a-f]+) .*\[stack\]$/m.exec(maps)!;
    const [lo, hi] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16)];
    const fd = fs.openSync(`/proc/${agent.pid}/mem`, 'r');
    const buf = Buffer.alloc(hi - lo);
    fs.readSync(fd, buf, 0, buf.length, lo);
    fs.closeSync(fd);
    expect(buf.includes(AGENT_MARKER)).toBe(true); // control
    const py = pyAttempt(
      rig,
      'proc-mem',
      `
pid, lo, hi, marker = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
def via_proc_mem(p):
    fd = os.open(f"/proc/{p}/mem", os.O_RDONLY)
    data = os.pread(fd, hi - lo, lo) if p == pid else os.pread(fd, 4096, 0x400000)
    print("FOUND-MARKER" if marker in data else "read-something", flush=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
def via_vm_readv():
    n = hi - lo
    local = ctypes.create_string_buffer(n)
    liov = iovec(ctypes.cast(local, ctypes.c_void_p), n)
    riov = iovec(lo, n)
    syscall(310, pid, ctypes.byref(liov), ctypes.c_ulong(1), ctypes.byref(riov), ctypes.c_ulong(1), ctypes.c_ulong(0))
    print("FOUND-MARKER" if marker in local.raw else "read-something", flush=True)
attempt("agent-mem", lambda: via_proc_mem(pid))
attempt("agent-vm-readv", via_vm_readv)
attempt("supervisor-mem", lambda: via_proc_mem(int(sys.argv[5])))
attempt("supervisor-maps", lambda: print(open(f"/proc/{sys.argv[5]}/maps").read()[:200]))
`,
    );
    const o = await sandboxed(rig, `${py} ${agent.pid} ${lo} ${hi} ${AGENT_MARKER} ${process.pid}`);
    expectCompleted(o);
    expectRefused(o, 'agent-mem', 'agent-vm-readv', 'supervisor-mem', 'supervisor-maps');
    expect(o.all).not.toContain('FOUND-MARKER');
    expect(o.all).not.toContain('read-something');
    expect(o.all).not.toContain(rig.s.session.secret);
  });

  attempt("the session secret, by sweeping every process's /proc/PID/environ", async () => {
    const sweep = `for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < "$f" 2>/dev/null | grep '^NONO_SESSION_SECRET='; done; echo "RC sweep done"`;
    // Control: unsandboxed, the sweep finds the secret (the agent carries it).
    const control = await unsandboxed(rig, sweep);
    expect(control.stdout).toContain(rig.s.session.secret);
    const o = await sandboxed(rig, `${sweep}\nenv | grep -c '^NONO_SESSION_SECRET=' || true`);
    expectCompleted(o);
    expect(o.rc.sweep).toBe('done');
    expect(o.all).not.toContain(rig.s.session.secret);
  });
});

describe('descriptors from the agent', () => {
  attempt('an extra descriptor open on the key in the agent never reaches the command', async () => {
    const { home } = rig;
    const fd = fs.openSync(home.sshKey, 'r');
    const pidFile = path.join(home.project, 'client.pid');
    fs.rmSync(pidFile, { force: true });
    try {
      // Control: a plain bash given the same stdio does see fd 3.
      const plain = spawnSync('/bin/bash', ['-c', 'ls /proc/$$/fd | sort -n | tr "\\n" " "; cat <&3'], {
        stdio: ['pipe', 'pipe', 'pipe', fd],
        encoding: 'utf8',
      });
      expect(String(plain.stdout)).toMatch(/^0 1 2 3 /);
      expect(String(plain.stdout)).toContain(KEY_MARK);

      const p = startSandboxed(
        rig,
        `ls /proc/$$/fd > shell-fds.txt; echo "SHELLFDS $(sort -n shell-fds.txt | tr '\\n' ' ')"
         ls -l /proc/self/fd > ls-fds.txt; echo "LSFDS $(awk 'NR>1 {print $9 "=" $11}' ls-fds.txt | tr '\\n' ' ')"
         t fd3 eval 'cat <&3'
         t self-fd3 cat /proc/self/fd/3
         for i in $(seq 200); do [ -s client.pid ] && break; sleep 0.02; done
         t client-fd3 cat /proc/$(cat client.pid)/fd/3`,
        { extraFds: [fd] },
      );
      fs.writeFileSync(pidFile, String(p.pid));
      // Control: the nono-shell client (unsandboxed) holds the key as fd 3 while it runs.
      let clientHeld = '';
      try {
        clientHeld = fs.readlinkSync(`/proc/${p.pid}/fd/3`);
      } catch {
        /* exited already */
      }
      const o = parseOutcome(await p);
      expectCompleted(o);
      expect(o.stdout).toMatch(/^SHELLFDS 0 1 2 $/m);
      // ls's own descriptors: stdio plus the one it opened to list the directory.
      expect(o.stdout).toMatch(/^LSFDS 0=\S+ 1=\S+ 2=\S+ 3=\/proc\/\d+\/fd $/m);
      expectRefused(o, 'fd3', 'self-fd3', 'client-fd3');
      expectKeySafe(rig, o);
      if (clientHeld) expect(clientHeld).toBe(home.sshKey);
    } finally {
      fs.closeSync(fd);
    }
  });
});
