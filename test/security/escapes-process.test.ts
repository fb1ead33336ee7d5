// Escape attempts against PROCESSES outside the sandbox (signals, ptrace, resource limits,
// scheduling, the agent's terminal) and attempts to ESCALATE out of the sandbox (setuid and
// file-capability binaries, re-routing nested shells, user namespaces, chroot, mount, /proc/sys,
// kernel modules, device nodes). Each case checks the target afterwards: the process is alive,
// not stopped, not traced, its limits unchanged; the kernel setting unchanged; nothing mounted.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pty from 'node-pty';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { client, proxyBash, root } from '../helpers/paths.js';
import { isRoot } from '../helpers/privileged.js';
import {
  PY,
  escapeTally,
  expectCompleted,
  expectKeySafe,
  expectRefused,
  isAlive,
  parseOutcome,
  procState,
  pyAttempt,
  sandboxed,
  setupRig,
  sleep,
  startDummyAgent,
  startSandboxed,
  tracerPid,
  waitFor,
  type DummyAgent,
} from './harness.js';

const rig = setupRig();
const attempt = escapeTally('process');
let agent: DummyAgent;
const disposable: ChildProcess[] = [];

beforeAll(async () => {
  agent = await startDummyAgent(rig, { env: rig.s.env });
});
afterAll(() => {
  agent?.stop();
  for (const p of disposable) p.kill('SIGKILL');
});

/** A throw-away unsandboxed process (sleep) for attempts that would damage the shared agent. */
function victim(): number {
  const p = spawn('sleep', ['300'], { stdio: 'ignore' });
  disposable.push(p);
  return p.pid!;
}

const agentSignals = () => agent.lines.filter((l) => l.startsWith('GOT '));

function limits(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
}

function niceOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

describe('signals', () => {
  attempt('signal the agent (kill, pidfd_send_signal), and SIGKILL/SIGSTOP an outside process', async () => {
    const v = victim();
    const py = pyAttempt(
      rig,
      'pidfd-signal',
      `attempt("pidfd-send", lambda: signal.pidfd_send_signal(os.pidfd_open(int(sys.argv[1])), signal.SIGUSR1))`,
    );
    const o = await sandboxed(
      rig,
      `t term kill -TERM ${agent.pid}
       t usr1 kill -USR1 ${agent.pid}
       t winch kill -WINCH ${agent.pid}
       t hup kill -HUP ${agent.pid}
       ${py} ${agent.pid}
       t stop kill -STOP ${v}
       t kill kill -KILL ${v}`,
    );
    expectCompleted(o);
    expectRefused(o, 'term', 'usr1', 'winch', 'hup', 'pidfd-send', 'stop', 'kill');
    expect(o.stderr).toContain('Operation not permitted');
    await sleep(200);
    expect(agentSignals()).toEqual([]);
    expect(isAlive(agent.pid)).toBe(true);
    expect(isAlive(v)).toBe(true);
    expect(procState(v)).not.toBe('T');
  });

  attempt('signal the supervisor (this test process)', async () => {
    const got: string[] = [];
    const handlers = (['SIGTERM', 'SIGHUP', 'SIGUSR2', 'SIGWINCH', 'SIGINT'] as const).map((sig) => {
      const h = () => got.push(sig);
      process.on(sig, h);
      return () => process.off(sig, h);
    });
    try {
      const py = pyAttempt(
        rig,
        'pidfd-signal-supervisor',
        `attempt("pidfd-send", lambda: signal.pidfd_send_signal(os.pidfd_open(int(sys.argv[1])), signal.SIGWINCH))`,
      );
      const o = await sandboxed(
        rig,
        `t term kill -TERM ${process.pid}
         t hup kill -HUP ${process.pid}
         t int kill -INT ${process.pid}
         t usr2 kill -USR2 ${process.pid}
         t winch kill -WINCH ${process.pid}
         ${py} ${process.pid}`,
      );
      expectCompleted(o);
      expectRefused(o, 'term', 'hup', 'int', 'usr2', 'winch', 'pidfd-send');
      await sleep(200);
      expect(got).toEqual([]);
    } finally {
      handlers.forEach((off) => off());
    }
  });

  attempt('broadcast a signal to every process (kill -1)', async () => {
    const got: string[] = [];
    const handlers = (['SIGUSR2', 'SIGWINCH'] as const).map((sig) => {
      const h = () => got.push(sig);
      process.on(sig, h);
      return () => process.off(sig, h);
    });
    try {
      const o = await sandboxed(rig, `kill -WINCH -1; kill -USR2 -1; echo "RC broadcast sent"`);
      expectCompleted(o);
      await sleep(300);
      expect(got, 'the supervisor received a broadcast signal').toEqual([]);
      expect(agentSignals(), 'the agent received a broadcast signal').toEqual([]);
    } finally {
      handlers.forEach((off) => off());
    }
  });

  attempt("signal, ptrace or read another sandboxed command's process (another domain)", async () => {
    const pidFile = path.join(rig.home.project, 'other-command.pid');
    fs.rmSync(pidFile, { force: true });
    const other = startSandboxed(rig, `trap 'echo GOT-TERM' TERM; echo $$ > ${pidFile}; for i in $(seq 200); do sleep 0.05; done`);
    try {
      expect(await waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '')).toBe(true);
      const otherPid = Number(fs.readFileSync(pidFile, 'utf8'));
      const py = pyAttempt(rig, 'ptrace-other', `attempt("ptrace", lambda: syscall(101, 16, int(sys.argv[1]), 0, 0))`);
      const o = await sandboxed(
        rig,
        `t term kill -TERM ${otherPid}\nt kill kill -KILL ${otherPid}\nt environ cat /proc/${otherPid}/environ\n${py} ${otherPid}`,
      );
      expectCompleted(o);
      expectRefused(o, 'term', 'kill', 'environ', 'ptrace');
      expect(isAlive(otherPid)).toBe(true);
      expect(tracerPid(otherPid)).toBe(0);
    } finally {
      other.kill('SIGKILL'); // the supervisor then kills that command's tree
      const r = parseOutcome(await other);
      expect(r.stdout).not.toContain('GOT-TERM');
    }
  });
});

describe('ptrace', () => {
  attempt('PTRACE_ATTACH / PTRACE_SEIZE the agent and the supervisor (python ctypes)', async () => {
    const py = pyAttempt(
      rig,
      'ptrace',
      `
for label, pid in (("agent", int(sys.argv[1])), ("supervisor", int(sys.argv[2]))):
    attempt(f"attach-{label}", lambda: syscall(101, 16, pid, 0, 0))        # PTRACE_ATTACH
    attempt(f"seize-{label}", lambda: syscall(101, 0x4206, pid, 0, 0))     # PTRACE_SEIZE
`,
    );
    const o = await sandboxed(rig, `${py} ${agent.pid} ${process.pid}`);
    expectCompleted(o);
    expectRefused(o, 'attach-agent', 'seize-agent', 'attach-supervisor', 'seize-supervisor');
    expect(tracerPid(agent.pid)).toBe(0);
    expect(tracerPid(process.pid)).toBe(0);
    expect(procState(agent.pid)).not.toMatch(/[tT]/);
  });

  attempt('strace -p and gdb -p the agent', async () => {
    const o = await sandboxed(
      rig,
      `t strace timeout 10 strace -p ${agent.pid} -e trace=none -o /dev/null
       timeout 20 gdb -nx -batch -p ${agent.pid} -ex 'print (int) getpid()'`,
    );
    expectCompleted(o);
    expectRefused(o, 'strace');
    // gdb -batch exits 0 whether or not it attached: judge it by what it says and could do.
    expect(o.stderr).toContain('ptrace: Operation not permitted');
    expect(o.stdout).not.toMatch(new RegExp(`= ${agent.pid}$`, 'm'));
    expect(tracerPid(agent.pid)).toBe(0);
    expect(isAlive(agent.pid)).toBe(true);
    expect(procState(agent.pid)).not.toMatch(/[tT]/);
  });
});

describe('resource limits and scheduling of outside processes', () => {
  attempt('prlimit on the agent and on the supervisor', async () => {
    const v = victim();
    const beforeV = limits(v);
    const beforeS = limits(process.pid);
    const coreSoft = /^Max core file size\s+(\S+)/m.exec(beforeS)![1]!;
    const o = await sandboxed(
      rig,
      `t victim-nofile prlimit --pid ${v} --nofile=5:5
       t victim-core prlimit --pid ${v} --core=0:0
       t supervisor-core prlimit --pid ${process.pid} --core=${coreSoft === '4096' ? '8192' : '4096'}:`,
    );
    const afterV = limits(v);
    const afterS = limits(process.pid);
    // Give the supervisor its soft core limit back before asserting (only the soft limit is
    // touched, so that this stays possible).
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--core=${coreSoft}:`]);
    } catch {
      /* best effort */
    }
    expectCompleted(o);
    const changed = (a: string, b: string) => b.split('\n').filter((l) => !a.split('\n').includes(l)).join('; ');
    expect(afterS, `the supervisor's limits were changed from inside the sandbox: ${changed(beforeS, afterS)}`).toBe(beforeS);
    expect(afterV, `an outside process's limits were changed from inside the sandbox: ${changed(beforeV, afterV)}`).toBe(beforeV);
    expectRefused(o, 'victim-nofile', 'victim-core', 'supervisor-core');
  });

  attempt('renice, ionice and taskset an outside process', async () => {
    const v = victim();
    const nice = niceOf(v);
    const io = execFileSync('ionice', ['-p', String(v)], { encoding: 'utf8' });
    const aff = execFileSync('taskset', ['-p', String(v)], { encoding: 'utf8' });
    const o = await sandboxed(
      rig,
      `t renice renice -n 19 -p ${v}
       t ionice ionice -c 3 -p ${v}
       t taskset taskset -p 1 ${v}
       t renice-supervisor renice -n 5 -p ${process.pid}`,
    );
    expectCompleted(o);
    expect(niceOf(v)).toBe(nice);
    expect(execFileSync('ionice', ['-p', String(v)], { encoding: 'utf8' })).toBe(io);
    expect(execFileSync('taskset', ['-p', String(v)], { encoding: 'utf8' })).toBe(aff);
    expectRefused(o, 'renice', 'ionice', 'taskset', 'renice-supervisor');
  });

});

describe('terminals', () => {
  attempt("open the agent's terminal by path (/dev/pts/N) to write to it or read its input", async () => {
    // The agent's terminal: a pty whose foreground program (sleep) reads nothing, so typed input
    // waits there for whoever reads the pty. The command is started with pipes, not this pty.
    const term = pty.spawn('/usr/bin/sleep', ['30'], { cols: 120, rows: 24 });
    let seen = '';
    term.onData((d) => (seen += d));
    const pts = (term as unknown as { ptsName: string }).ptsName;
    const stolen = path.join(rig.home.project, 'stolen-input.txt');
    try {
      expect(pts).toMatch(/^\/dev\/pts\/\d+$/);
      const typing = setTimeout(() => term.write('typed-secret-4711\r'), 600);
      const o = await sandboxed(
        rig,
        `t write eval 'printf "SPOOFED%s\\n" "-BY-COMMAND" > ${pts}'
         t read eval 'timeout 3 head -n 1 ${pts} > ${stolen}'`,
      );
      clearTimeout(typing);
      await sleep(100);
      expectCompleted(o);
      const got = fs.existsSync(stolen) ? fs.readFileSync(stolen, 'utf8') : '';
      expect(
        { wroteToAgentTerminal: seen.includes('SPOOFED-BY-COMMAND'), readTypedInput: got.includes('typed-secret-4711') },
        `${pts}: the agent's terminal saw ${JSON.stringify(seen)}; the command read ${JSON.stringify(got)}`,
      ).toEqual({ wroteToAgentTerminal: false, readTypedInput: false });
      expectRefused(o, 'write', 'read');
    } finally {
      term.kill();
    }
  });

  attempt("inject input into the agent's terminal (TIOCSTI on the pty it shares)", async () => {
    // The marker is built from character codes, so it only shows up on the pty if injected.
    const codes = [...'ZQXJ-INJECTED'].map((c) => c.charCodeAt(0)).join(',');
    const py = pyAttempt(
      rig,
      'tiocsti',
      `
def inject():
    for b in bytes([${codes}, 10]):
        fcntl.ioctl(0, termios.TIOCSTI, bytes([b]))
attempt("tiocsti", inject)
`,
    );
    const out = await new Promise<string>((resolve) => {
      let buf = '';
      const p = pty.spawn(proxyBash, ['-c', `${py}; echo ATTEMPT-END`], { cwd: rig.home.project, env: rig.s.env, cols: 200, rows: 24 });
      p.onData((d) => (buf += d));
      p.onExit(() => resolve(buf));
    });
    if (process.env.NONO_SECURITY_VERBOSE) console.log(`pty output:\n${out}`);
    expect(out).toContain('ATTEMPT-END');
    expect(out).toMatch(/RC tiocsti E[A-Z]+/);
    expect(out).not.toContain('ZQXJ-INJECTED');
  });
});

describe('escalation', () => {
  attempt('a setuid binary does not change the effective uid (no_new_privs)', async (ctx) => {
    if (!isRoot) ctx.skip(); // the fixture is a copy given to another user: only root can chown
    const bin = path.join(rig.home.project, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const idCopy = path.join(bin, 'id-setuid-nobody');
    fs.copyFileSync('/usr/bin/id', idCopy);
    fs.chownSync(idCopy, 65534, 65534);
    fs.chmodSync(idCopy, 0o4755);
    // Control: unsandboxed, it runs with euid nobody.
    expect(execFileSync(idCopy, ['-u'], { encoding: 'utf8' }).trim()).toBe('65534');
    const o = await sandboxed(rig, `echo "EUID $(${idCopy} -u)"; grep NoNewPrivs /proc/self/status`);
    expectCompleted(o);
    expect(o.stdout).toMatch(/^EUID 0$/m);
    expect(o.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
  });

  attempt('a binary with file capabilities gains none', async (ctx) => {
    if (!isRoot) ctx.skip(); // setcap needs root
    const caps = 'cap_dac_read_search,cap_dac_override,cap_sys_admin,cap_sys_ptrace+ep';
    const bin = path.join(rig.home.project, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const catCaps = path.join(bin, 'cat-caps');
    fs.copyFileSync('/usr/bin/cat', catCaps);
    execFileSync('setcap', [caps, catCaps]);
    // Control: outside the sandbox an unprivileged user running such a copy does get them.
    const ctlDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-capctl-'));
    try {
      fs.chmodSync(ctlDir, 0o755);
      const ctlCat = path.join(ctlDir, 'cat-caps');
      fs.copyFileSync('/usr/bin/cat', ctlCat);
      fs.chmodSync(ctlCat, 0o755);
      execFileSync('setcap', [caps, ctlCat]);
      const ctl = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ctlCat, '/proc/self/status'], { encoding: 'utf8' });
      expect(ctl).not.toMatch(/^CapEff:\s+0+$/m);
    } finally {
      fs.rmSync(ctlDir, { recursive: true, force: true });
    }
    const o = await sandboxed(rig, `t status ${catCaps} /proc/self/status\nt read-key ${catCaps} ${rig.home.sshKey}`);
    expectCompleted(o);
    // Either the kernel refuses to exec it under no_new_privs, or it runs without the capabilities.
    if (o.rc.status === '0') {
      expect(o.stdout).toMatch(/^CapEff:\s+0{16}$/m);
      expect(o.stdout).toMatch(/^CapPrm:\s+0{16}$/m);
    } else {
      expect(o.stderr).toContain('Operation not permitted');
    }
    expectRefused(o, 'read-key');
    expectKeySafe(rig, o);
  });

  attempt('LD_PRELOAD and NONO_* set by the command re-route nested shells only into the same sandbox', async () => {
    const before = rig.s.records.length;
    const logBefore = rig.s.logLines.length;
    const k = rig.home.sshKey;
    const o = await sandboxed(
      rig,
      `export LD_PRELOAD=${path.join(root, 'native', 'libnono-interpose.so')} NONO_SHELL_CLIENT=${client} NONO_SOCKET=${rig.s.session.socketPath}
       export NONO_SESSION_SECRET=guessed NONO_HANDSHAKE=${path.join(rig.s.session.dir, 'handshake')}
       t via-env env bash -c 'cat ${k}; echo "nested-env $(grep -c "^CapEff:.*0000000000000000$" /proc/self/status)"; touch ${rig.home.home}/nested-env'
       t via-python ${PY} -c 'import os; os.execvp("bash", ["bash", "-c", "cat ${k}; echo nested-py; touch ${rig.home.home}/nested-py"])'
       t via-client ${client} -c 'cat ${k}; echo nested-client; touch ${rig.home.home}/nested-client'`,
    );
    expectCompleted(o);
    // The nested shells ran (in place), and were as confined as the command.
    expect(o.stdout).toMatch(/^nested-env 1$/m);
    expect(o.stdout).toContain('nested-py');
    expect(o.stdout).toContain('nested-client');
    expectKeySafe(rig, o);
    for (const f of ['nested-env', 'nested-py', 'nested-client']) expect(fs.existsSync(path.join(rig.home.home, f)), f).toBe(false);
    await waitFor(() => rig.s.records.length > before);
    await sleep(200);
    expect(rig.s.records.length - before, 'the supervisor started commands for the nested shells').toBe(1);
    // They did reach the supervisor through the interposer, and were told to run in place.
    const directs = rig.s.logLines.slice(logBefore).filter((l) => /inside a sandboxed command: running \S+ there directly/.test(l));
    expect(directs.length).toBeGreaterThanOrEqual(2);
  });

  attempt('a new user namespace (unshare -U / -r) does not lift Landlock', async () => {
    fs.writeFileSync(path.join(rig.home.project, 'fake-key'), 'fake\n');
    const k = rig.home.sshKey;
    const py = pyAttempt(
      rig,
      'userns',
      `
K, SSH, FAKE = sys.argv[1], sys.argv[2], sys.argv[3]
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
def enter():
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    # Full capabilities, but only over the new namespace.
    print([l for l in open("/proc/self/status") if l.startswith("CapEff")][0].strip(), flush=True)
if attempt("userns-enter", enter):
    def mount(src, target, fstype, flags):
        if libc.mount(src, target, fstype, ctypes.c_ulong(flags), None) != 0:
            e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
    attempt("userns-mount-tmpfs", lambda: mount(b"none", SSH.encode(), b"tmpfs", 0))
    attempt("userns-mount-bind", lambda: mount(FAKE.encode(), K.encode(), None, 4096))  # MS_BIND
    attempt("userns-read", lambda: print(open(K).read()))
`,
    );
    const o = await sandboxed(
      rig,
      `${py} ${k} ${rig.home.home}/.ssh $PWD/fake-key
       t userns-r unshare -r cat ${k}
       t userns-U unshare -U cat ${k}
       t userns-bind unshare -rm sh -c 'mount --bind "$PWD/fake-key" ${k} && cat ${k}'
       t userns-tmpfs unshare -rm sh -c 'mount -t tmpfs none ${rig.home.home}/.ssh && ls -a ${rig.home.home}/.ssh'
       t userns-chroot unshare -U /usr/sbin/chroot / cat ${k}`,
    );
    expectCompleted(o);
    // The seccomp filter refuses new namespaces outright (escapes-kernel.test.ts): the mount and
    // read steps inside one are never reached.
    expectRefused(o, 'userns-enter');
    expectRefused(o, 'userns-r', 'userns-U', 'userns-bind', 'userns-tmpfs', 'userns-chroot');
    expectKeySafe(rig, o);
  });

  attempt('chroot and mount (capabilities are dropped)', async () => {
    const mnt = path.join(rig.home.project, 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    const mountsBefore = fs.readFileSync('/proc/self/mounts', 'utf8');
    const o = await sandboxed(
      rig,
      `t chroot /usr/sbin/chroot . /bin/true
       t chroot-root /usr/sbin/chroot / /bin/true
       t mount-tmpfs mount -t tmpfs none ${mnt}
       t mount-bind mount --bind ${mnt} ${rig.home.sshKey}
       t mount-proc mount -t proc proc ${mnt}`,
    );
    expectCompleted(o);
    expectRefused(o, 'chroot', 'chroot-root', 'mount-tmpfs', 'mount-bind', 'mount-proc');
    expect(fs.readFileSync('/proc/self/mounts', 'utf8')).toBe(mountsBefore);
    expectKeySafe(rig, o);
  });

  attempt('write /proc/sys (kernel.domainname, kernel.core_pattern) and /sys (cgroup.procs), set the hostname', async () => {
    // The cgroup write moves the command's shell into the cgroup it is already in: a no-op even
    // if it were allowed, but the attempt's status still tells.
    const files = ['/proc/sys/kernel/domainname', '/proc/sys/kernel/core_pattern', '/proc/sys/kernel/hostname'];
    const before = files.map((f) => fs.readFileSync(f, 'utf8'));
    const o = await sandboxed(
      rig,
      `t domainname eval 'echo nono-escaped > /proc/sys/kernel/domainname'
       t core-pattern eval 'echo "|/tmp/nono-escaped %p" > /proc/sys/kernel/core_pattern'
       t sysctl /usr/sbin/sysctl -w kernel.domainname=nono-escaped
       t hostname hostname nono-escaped
       t cgroup eval 'cg=$(grep -m1 ":pids:" /proc/self/cgroup | cut -d: -f3); echo $$ > /sys/fs/cgroup/pids$cg/cgroup.procs'`,
    );
    const after = files.map((f) => fs.readFileSync(f, 'utf8'));
    files.forEach((f, i) => {
      if (after[i] !== before[i]) fs.writeFileSync(f, before[i]!);
    });
    expectCompleted(o);
    expect(after).toEqual(before);
    expectRefused(o, 'domainname', 'core-pattern', 'sysctl', 'hostname', 'cgroup');
  });

  attempt('load a kernel module (init_module, finit_module)', async () => {
    const py = pyAttempt(
      rig,
      'module',
      `
fd = os.open("/dev/null", os.O_RDONLY)
attempt("finit-module", lambda: syscall(313, fd, b"", 0))
buf = ctypes.create_string_buffer(b"\\x7fELF" + b"\\0" * 60)
attempt("init-module", lambda: syscall(175, buf, ctypes.c_ulong(64), b""))
`,
    );
    const o = await sandboxed(rig, `${py}\ngrep CapBnd /proc/self/status`);
    expectCompleted(o);
    expectRefused(o, 'finit-module', 'init-module');
    // Whatever this kernel does with modules: CAP_SYS_MODULE (bit 16) is gone for good. (An
    // ordinary user never held it and cannot empty the bounding set; no_new_privs keeps any
    // file capability or setuid from raising it.)
    const bnd = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(o.stdout)![1]}`);
    if (isRoot) expect(bnd & (1n << 16n)).toBe(0n);
  });

  attempt('mknod a block device or /dev/mem in the workdir', async () => {
    const o = await sandboxed(rig, `t blk mknod disk b 254 0\nt mem mknod mem c 1 1\nt python ${PY} -c 'import os, stat; os.mknod("kmsg", stat.S_IFCHR | 0o600, os.makedev(1, 11))'`);
    expectCompleted(o);
    expectRefused(o, 'blk', 'mem', 'python');
    for (const f of ['disk', 'mem', 'kmsg']) expect(fs.existsSync(path.join(rig.home.project, f)), f).toBe(false);
  });
});
