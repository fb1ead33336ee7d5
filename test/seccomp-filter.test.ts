// The seccomp filter, proven rather than assumed: the exact program the sandbox installs
// (native/nono-seccomp-dump prints what nono_seccomp_build() returns, the function the installer
// calls) runs in a classic-BPF interpreter (test/helpers/seccomp-bpf.ts) over a table of
// (arch, nr, args) -> expected answer for each network mode, plus a sweep showing that every
// other system call is allowed without looking at its arguments. As root, a last test reads the
// filter back out of a sandboxed process (PTRACE_SECCOMP_GET_FILTER) and compares the bytes.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execHelper, fixtures, proxyBash, root } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { decode, describe as answer, run, validate, type Insn } from './helpers/seccomp-bpf.js';
import { startTestSession, type TestSession } from './helpers/session.js';

const dumpTool = path.join(root, 'native', 'nono-seccomp-dump');
const MODES = ['none', 'no-tcp', 'ports'] as const;
type Mode = (typeof MODES)[number];

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_AARCH64 = 0xc00000b7;
const X32_BIT = 0x40000000;
/** The highest number the filter was reviewed against (file_setattr, Linux 6.17). */
const LAST_REVIEWED = 469;

const onX64 = process.arch === 'x64' && process.platform === 'linux';

function dump(mode: Mode): Buffer {
  if (!fs.existsSync(dumpTool)) throw new Error(`${dumpTool} is missing: run \`npm install\` (it builds shim/ with cmake-js)`);
  return execFileSync(dumpTool, [mode]);
}

// x86_64 numbers, from the kernel's arch/x86/entry/syscalls/syscall_64.tbl.
const NR = {
  read: 0, write: 1, ioctl: 16, socket: 41, connect: 42, sendto: 44, sendmsg: 46, bind: 49, listen: 50,
  socketpair: 53, setsockopt: 54, clone: 56, fork: 57, vfork: 58, execve: 59, ptrace: 101, syslog: 103,
  uselib: 134, personality: 135, vhangup: 153, modify_ldt: 154, pivot_root: 155, chroot: 161, acct: 163,
  settimeofday: 164, mount: 165, umount2: 166, swapon: 167, swapoff: 168, reboot: 169, sethostname: 170,
  setdomainname: 171, iopl: 172, ioperm: 173, init_module: 175, delete_module: 176, quotactl: 179,
  io_setup: 206, lookup_dcookie: 212, clock_settime: 227, kexec_load: 246, add_key: 248, request_key: 249,
  keyctl: 250, openat: 257, unshare: 272, inotify_init1: 294, perf_event_open: 298, fanotify_init: 300,
  setpriority: 141, sched_setparam: 142, sched_setscheduler: 144, sched_setaffinity: 203, ioprio_set: 251, sched_setattr: 314,
  prlimit64: 302, name_to_handle_at: 303, open_by_handle_at: 304, sendmmsg: 307, setns: 308,
  process_vm_readv: 310, process_vm_writev: 311, kcmp: 312, finit_module: 313, seccomp: 317,
  getrandom: 318, memfd_create: 319, kexec_file_load: 320, bpf: 321, userfaultfd: 323,
  io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, open_tree: 428, move_mount: 429,
  fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, pidfd_open: 434, clone3: 435, pidfd_getfd: 438,
  mount_setattr: 442, quotactl_fd: 443, landlock_create_ruleset: 444, landlock_add_rule: 445,
  landlock_restrict_self: 446, mseal: 462, setxattrat: 463, open_tree_attr: 467, file_setattr: 469,
} as const;
type Name = keyof typeof NR;

const AF = { UNSPEC: 0, UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17, RDS: 21, TIPC: 30, BLUETOOTH: 31, ALG: 38, VSOCK: 40, KCM: 41, SMC: 43, XDP: 44 };
const SOCK = { STREAM: 1, DGRAM: 2, RAW: 3, SEQPACKET: 5, DCCP: 6, NONBLOCK: 0x800, CLOEXEC: 0x80000 };
const IPPROTO = { TCP: 6, UDP: 17, ICMPV6: 58, SCTP: 132, SMC: 256, MPTCP: 262 };
const MSG_FASTOPEN = 0x20000000;
const CLONE = { NEWTIME: 0x80, NEWNS: 0x20000, NEWCGROUP: 0x2000000, NEWUTS: 0x4000000, NEWIPC: 0x8000000, NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000 };
const SIGCHLD = 17;
const HIGH = 0x1_0000_0000n; // a bit the kernel never reads in the arguments checked here

type Expect = string | Record<Mode, string>;
const byMode = (none: string, noTcp: string, ports: string): Record<Mode, string> => ({ none, 'no-tcp': noTcp, ports });
const TCP_ONLY_OPEN = byMode('allow', 'EACCES', 'allow'); // a plain TCP socket
const TCP_REFUSED = byMode('allow', 'EACCES', 'EACCES'); // TCP paths Landlock's port rules miss

interface Case {
  what: string;
  nr: Name;
  args?: Array<bigint | number>;
  expect: Expect;
}

const refused = (nr: Name, errno = 'EPERM'): Case => ({ what: `${nr}()`, nr, args: [0, 0, 0, 0, 0, 0], expect: errno });

const CASES: Case[] = [
  // Item 1: io_uring, in every mode.
  refused('io_uring_setup'), refused('io_uring_enter'), refused('io_uring_register'),
  // Item 2: the keyrings.
  refused('keyctl'), refused('add_key'), refused('request_key'),
  // Item 3: kernel attack surface.
  refused('userfaultfd'), refused('perf_event_open'), refused('bpf'), refused('setns'),
  refused('clone3', 'ENOSYS'),
  refused('kexec_load'), refused('kexec_file_load'), refused('init_module'), refused('finit_module'), refused('delete_module'),
  refused('mount'), refused('umount2'), refused('pivot_root'), refused('chroot'),
  ...(['open_tree', 'open_tree_attr', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr'] as const).map((n) => refused(n, 'ENOSYS')),
  ...(['open_by_handle_at', 'reboot', 'swapon', 'swapoff', 'acct', 'settimeofday', 'clock_settime', 'sethostname', 'setdomainname',
    'syslog', 'vhangup', 'quotactl', 'quotactl_fd', 'fanotify_init', 'lookup_dcookie', 'iopl', 'ioperm', 'modify_ldt', 'uselib'] as const).map((n) => refused(n)),

  // clone: any namespace flag; thread and fork flags pass.
  { what: 'clone(SIGCHLD) (fork)', nr: 'clone', args: [SIGCHLD], expect: 'allow' },
  { what: 'clone(pthread flags)', nr: 'clone', args: [0x3d0f00], expect: 'allow' },
  { what: 'clone(CLONE_VM|CLONE_VFORK|SIGCHLD) (posix_spawn)', nr: 'clone', args: [0x4111], expect: 'allow' },
  { what: 'clone(exit signal 0x80: CSIGNAL, not CLONE_NEWTIME)', nr: 'clone', args: [0x80], expect: 'allow' },
  ...Object.entries(CLONE).filter(([n]) => n !== 'NEWTIME').map(([n, f]): Case => ({ what: `clone(CLONE_${n}|SIGCHLD)`, nr: 'clone', args: [f | SIGCHLD], expect: 'EPERM' })),
  { what: 'clone(CLONE_NEWUSER) with the upper half set', nr: 'clone', args: [HIGH | BigInt(CLONE.NEWUSER)], expect: 'EPERM' },
  { what: 'clone with only the upper half set (the kernel truncates it)', nr: 'clone', args: [HIGH | BigInt(SIGCHLD)], expect: 'allow' },
  // unshare: the same, plus CLONE_NEWTIME.
  { what: 'unshare(CLONE_FILES|CLONE_FS)', nr: 'unshare', args: [0x600], expect: 'allow' },
  ...Object.entries(CLONE).map(([n, f]): Case => ({ what: `unshare(CLONE_${n})`, nr: 'unshare', args: [f], expect: 'EPERM' })),

  // personality: Docker's values and the query; nothing that changes the address space layout.
  ...[0, 8, 0x20000, 0x20008, 0xffffffff].map((p): Case => ({ what: `personality(0x${p.toString(16)})`, nr: 'personality', args: [p], expect: 'allow' })),
  { what: 'personality(ADDR_NO_RANDOMIZE)', nr: 'personality', args: [0x0040000], expect: 'EPERM' },
  { what: 'personality(PER_LINUX32|ADDR_NO_RANDOMIZE)', nr: 'personality', args: [0x0040008], expect: 'EPERM' },
  { what: 'personality(READ_IMPLIES_EXEC)', nr: 'personality', args: [0x0400000], expect: 'EPERM' },
  { what: 'personality(ADDR_LIMIT_3GB)', nr: 'personality', args: [0x8000000], expect: 'EPERM' },
  { what: 'personality(PER_BSD)', nr: 'personality', args: [6], expect: 'EPERM' },
  { what: 'personality(ADDR_NO_RANDOMIZE) with the upper half set', nr: 'personality', args: [HIGH | 0x0040000n], expect: 'EPERM' },

  // ioctl: terminal injection and userfaultfd by device; the request is compared on 32 bits.
  { what: 'ioctl(TIOCSTI)', nr: 'ioctl', args: [0, 0x5412], expect: 'EPERM' },
  { what: 'ioctl(TIOCLINUX)', nr: 'ioctl', args: [0, 0x541c], expect: 'EPERM' },
  { what: 'ioctl(USERFAULTFD_IOC_NEW)', nr: 'ioctl', args: [3, 0xaa00], expect: 'EPERM' },
  { what: 'ioctl(TIOCSTI) with the upper half set', nr: 'ioctl', args: [0, HIGH | 0x5412n], expect: 'EPERM' },
  { what: 'ioctl(TIOCSTI) in the fd argument is not a request', nr: 'ioctl', args: [0x5412, 0x5401], expect: 'allow' },
  ...[0x5401, 0x5413, 0x541b, 0x5421, 0x80045430].map((r): Case => ({ what: `ioctl(0x${r.toString(16)})`, nr: 'ioctl', args: [1, r], expect: 'allow' })),

  // prlimit64: itself only.
  { what: 'prlimit64(0, ...)', nr: 'prlimit64', args: [0, 7], expect: 'allow' },
  { what: 'prlimit64(1234, ...)', nr: 'prlimit64', args: [1234, 7], expect: 'EPERM' },
  { what: 'prlimit64(pid 0 with the upper half set)', nr: 'prlimit64', args: [HIGH, 7], expect: 'allow' },
  // Scheduling, affinity and priorities: itself only (the same uid needs no capability for others).
  ...(['sched_setaffinity', 'sched_setscheduler', 'sched_setparam', 'sched_setattr'] as const).flatMap((nr): Case[] => [
    { what: `${nr}(0, ...)`, nr, args: [0, 8, 0], expect: 'allow' },
    { what: `${nr}(another pid, ...)`, nr, args: [4321, 8, 0], expect: 'EPERM' },
  ]),
  { what: 'setpriority(PRIO_PROCESS, 0, 10) (nice)', nr: 'setpriority', args: [0, 0, 10], expect: 'allow' },
  { what: 'setpriority(PRIO_PGRP, 0, 10) (its own process group)', nr: 'setpriority', args: [1, 0, 10], expect: 'allow' },
  { what: 'setpriority(PRIO_PROCESS, another pid, 19) (renice)', nr: 'setpriority', args: [0, 4321, 19], expect: 'EPERM' },
  { what: 'setpriority(PRIO_USER, 0, 19) (every process of the uid)', nr: 'setpriority', args: [2, 0, 19], expect: 'EPERM' },
  { what: 'ioprio_set(IOPRIO_WHO_PROCESS, 0, ...)', nr: 'ioprio_set', args: [1, 0, 0x6000], expect: 'allow' },
  { what: 'ioprio_set(IOPRIO_WHO_PROCESS, another pid, ...) (ionice)', nr: 'ioprio_set', args: [1, 4321, 0x6000], expect: 'EPERM' },
  { what: 'ioprio_set(IOPRIO_WHO_USER, 0, ...)', nr: 'ioprio_set', args: [3, 0, 0x6000], expect: 'EPERM' },

  // socket: families in every mode; TCP per mode.
  { what: 'socket(AF_UNIX, SOCK_STREAM)', nr: 'socket', args: [AF.UNIX, SOCK.STREAM, 0], expect: 'allow' },
  { what: 'socket(AF_UNIX, SOCK_DGRAM|SOCK_CLOEXEC)', nr: 'socket', args: [AF.UNIX, SOCK.DGRAM | SOCK.CLOEXEC, 0], expect: 'allow' },
  { what: 'socket(AF_NETLINK, SOCK_RAW)', nr: 'socket', args: [AF.NETLINK, SOCK.RAW, 0], expect: 'allow' },
  { what: 'socket(AF_INET, SOCK_DGRAM)', nr: 'socket', args: [AF.INET, SOCK.DGRAM, 0], expect: 'allow' },
  { what: 'socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6) (ping)', nr: 'socket', args: [AF.INET6, SOCK.DGRAM | SOCK.CLOEXEC, IPPROTO.ICMPV6], expect: 'allow' },
  { what: 'socket(AF_INET, SOCK_STREAM, 0)', nr: 'socket', args: [AF.INET, SOCK.STREAM, 0], expect: TCP_ONLY_OPEN },
  { what: 'socket(AF_INET6, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_TCP)', nr: 'socket', args: [AF.INET6, SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC, IPPROTO.TCP], expect: TCP_ONLY_OPEN },
  { what: 'socket(AF_INET with the upper half set, SOCK_STREAM)', nr: 'socket', args: [HIGH | BigInt(AF.INET), SOCK.STREAM, 0], expect: TCP_ONLY_OPEN },
  { what: 'socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)', nr: 'socket', args: [AF.INET, SOCK.STREAM, IPPROTO.MPTCP], expect: TCP_REFUSED },
  { what: 'socket(AF_INET6, SOCK_STREAM, IPPROTO_SMC)', nr: 'socket', args: [AF.INET6, SOCK.STREAM, IPPROTO.SMC], expect: TCP_REFUSED },
  { what: 'socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)', nr: 'socket', args: [AF.INET, SOCK.STREAM, IPPROTO.SCTP], expect: TCP_REFUSED },
  { what: 'socket(AF_INET, SOCK_SEQPACKET, 0) (SCTP by default)', nr: 'socket', args: [AF.INET, SOCK.SEQPACKET, 0], expect: TCP_REFUSED },
  { what: 'socket(AF_INET6, SOCK_DCCP, 0)', nr: 'socket', args: [AF.INET6, SOCK.DCCP, 0], expect: TCP_REFUSED },
  { what: 'socket(AF_INET, SOCK_RAW, IPPROTO_TCP)', nr: 'socket', args: [AF.INET, SOCK.RAW, IPPROTO.TCP], expect: byMode('allow', 'EPERM', 'EPERM') },
  ...(['UNSPEC', 'PACKET', 'RDS', 'TIPC', 'BLUETOOTH', 'ALG', 'VSOCK', 'KCM', 'SMC', 'XDP'] as const).map(
    (f): Case => ({ what: `socket(AF_${f})`, nr: 'socket', args: [AF[f], SOCK.STREAM, 0], expect: 'EAFNOSUPPORT' }),
  ),
  { what: 'socketpair(AF_UNIX)', nr: 'socketpair', args: [AF.UNIX, SOCK.STREAM, 0], expect: 'allow' },
  { what: 'socketpair(AF_TIPC)', nr: 'socketpair', args: [AF.TIPC, SOCK.SEQPACKET, 0], expect: 'EAFNOSUPPORT' },
  { what: 'socketpair(AF_INET)', nr: 'socketpair', args: [AF.INET, SOCK.STREAM, 0], expect: 'EAFNOSUPPORT' },

  // TCP Fast Open, when TCP is limited.
  { what: 'sendto(MSG_FASTOPEN)', nr: 'sendto', args: [3, 0, 1, MSG_FASTOPEN, 0, 16], expect: TCP_REFUSED },
  { what: 'sendto(MSG_NOSIGNAL|MSG_DONTWAIT)', nr: 'sendto', args: [3, 0, 1, 0x4040, 0, 0], expect: 'allow' },
  { what: 'sendmmsg(MSG_FASTOPEN)', nr: 'sendmmsg', args: [3, 0, 1, MSG_FASTOPEN], expect: TCP_REFUSED },
  { what: 'sendmsg(MSG_FASTOPEN|MSG_NOSIGNAL)', nr: 'sendmsg', args: [3, 0, MSG_FASTOPEN | 0x4000], expect: TCP_REFUSED },
  { what: 'sendmsg(0) (MSG_FASTOPEN in an unused argument)', nr: 'sendmsg', args: [3, 0, 0, MSG_FASTOPEN], expect: 'allow' },
  { what: 'setsockopt(IPPROTO_TCP, TCP_FASTOPEN_CONNECT)', nr: 'setsockopt', args: [3, IPPROTO.TCP, 30, 0, 4], expect: TCP_REFUSED },
  { what: 'setsockopt(IPPROTO_TCP, TCP_NODELAY)', nr: 'setsockopt', args: [3, IPPROTO.TCP, 1, 0, 4], expect: 'allow' },
  { what: 'setsockopt(SOL_SOCKET, 30)', nr: 'setsockopt', args: [3, 1, 30, 0, 4], expect: 'allow' },

  // What developers' commands use stays allowed (strace/gdb trace their own children; Landlock
  // confines ptrace to the command's own domain).
  ...(['read', 'write', 'openat', 'execve', 'fork', 'vfork', 'connect', 'bind', 'listen', 'ptrace', 'process_vm_readv',
    'process_vm_writev', 'kcmp', 'pidfd_getfd', 'name_to_handle_at', 'seccomp', 'landlock_create_ruleset',
    'landlock_add_rule', 'landlock_restrict_self', 'memfd_create', 'inotify_init1', 'pidfd_open', 'io_setup',
    'getrandom', 'mseal', 'setxattrat', 'file_setattr'] as const).map((n): Case => ({ what: `${n}()`, nr: n, args: [0, 0, 0, 0, 0, 0], expect: 'allow' })),
];

const expected = (c: Case, mode: Mode) => (typeof c.expect === 'string' ? c.expect : c.expect[mode]);

describe.runIf(onX64)('the seccomp program, run in a BPF interpreter (x86_64)', () => {
  const progs = {} as Record<Mode, Insn[]>;
  beforeAll(() => {
    for (const m of MODES) progs[m] = decode(dump(m));
  });

  it('is a program the kernel accepts, in every mode', () => {
    for (const m of MODES) {
      validate(progs[m]);
      expect(progs[m].length).toBeLessThan(512);
    }
    console.log(`[seccomp] program length: ${MODES.map((m) => `${m} ${progs[m].length}`).join(', ')} instructions`);
  });

  for (const m of MODES) {
    it(`answers every call of the table as expected (${m})`, () => {
      const wrong: string[] = [];
      for (const c of CASES) {
        const got = answer(run(progs[m], { nr: NR[c.nr], arch: AUDIT_ARCH_X86_64, args: c.args }).ret);
        if (got !== expected(c, m)) wrong.push(`${c.what}: got ${got}, expected ${expected(c, m)}`);
      }
      expect(wrong).toEqual([]);
    });
  }

  it('allows every other system call number, whatever its arguments, without reading them', () => {
    // So the kernel's per-number allow cache (5.11+) covers them: the filter never runs for them.
    const refusedSomewhere = new Set<number>(CASES.filter((c) => MODES.some((m) => expected(c, m) !== 'allow')).map((c) => NR[c.nr]));
    const argChecked = new Set<number>([NR.ioctl, NR.socket, NR.socketpair, NR.sendto, NR.sendmsg, NR.sendmmsg, NR.setsockopt, NR.personality, NR.prlimit64, NR.clone, NR.unshare, NR.setpriority, NR.ioprio_set, NR.sched_setaffinity, NR.sched_setscheduler, NR.sched_setparam, NR.sched_setattr]);
    const wrong: string[] = [];
    let maxSteps = 0;
    for (const m of MODES) {
      for (let nr = 0; nr <= LAST_REVIEWED; nr++) {
        if (refusedSomewhere.has(nr) || argChecked.has(nr)) continue;
        for (const args of [[0, 0, 0, 0, 0, 0], Array(6).fill(0xffff_ffff_ffff_ffffn), [0x5412, 0x5412, 0x40000, 0x10000000, MSG_FASTOPEN, 0]]) {
          const r = run(progs[m], { nr, arch: AUDIT_ARCH_X86_64, args });
          if (r.ret !== 0x7fff0000) wrong.push(`${m}: nr ${nr} -> ${answer(r.ret)}`);
          if ([...r.loaded].some((o) => o !== 0 && o !== 4)) wrong.push(`${m}: nr ${nr} read its arguments (offsets ${[...r.loaded]})`);
          maxSteps = Math.max(maxSteps, r.steps);
        }
      }
    }
    expect(wrong).toEqual([]);
    console.log(`[seccomp] longest path for an unchecked call: ${maxSteps} instructions (cached by the kernel)`);
  });

  it('refuses other ABIs and numbers newer than it was reviewed for (ENOSYS)', () => {
    const wrong: string[] = [];
    for (const m of MODES) {
      const cases: Array<[string, number, number]> = [];
      for (let nr = 0; nr <= 470; nr += 1) cases.push([`i386 nr ${nr}`, AUDIT_ARCH_I386, nr]);
      cases.push(['aarch64 socket', AUDIT_ARCH_AARCH64, 198], ['an unknown arch', 0, 0]);
      for (const n of [0, 1, NR.socket, NR.io_uring_setup, NR.keyctl, 512, 547]) cases.push([`x32 nr ${n}`, AUDIT_ARCH_X86_64, X32_BIT | n]);
      for (let nr = LAST_REVIEWED + 1; nr < 1024; nr++) cases.push([`nr ${nr}`, AUDIT_ARCH_X86_64, nr]);
      cases.push(['nr -1 (a tracer skipping a call)', AUDIT_ARCH_X86_64, 0xffffffff]);
      for (const [what, arch, nr] of cases) {
        const got = answer(run(progs[m], { nr, arch, args: [AF.INET, SOCK.STREAM, 0] }).ret);
        if (got !== 'ENOSYS') wrong.push(`${m}: ${what} -> ${got}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('answers a checked call within 24 instructions, ioctl (every isatty) within 11', () => {
    // Instruction counts, not timings: the path a call takes through the program is fixed.
    let worst = 0;
    for (const m of MODES) for (const c of CASES) worst = Math.max(worst, run(progs[m], { nr: NR[c.nr], arch: AUDIT_ARCH_X86_64, args: c.args }).steps);
    const ioctl = Math.max(...MODES.map((m) => run(progs[m], { nr: NR.ioctl, arch: AUDIT_ARCH_X86_64, args: [1, 0x5401] }).steps));
    console.log(`[seccomp] longest path for a checked call: ${worst} instructions; ioctl: ${ioctl}`);
    expect(worst).toBeLessThanOrEqual(24);
    expect(ioctl).toBeLessThanOrEqual(11);
  });
});

describe('the BPF interpreter refuses what the kernel refuses', () => {
  const ret = { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 };
  it('an unaligned or out-of-bounds load, a jump past the end, a missing return, a MOD', () => {
    expect(() => validate([{ code: 0x20, jt: 0, jf: 0, k: 2 }, ret])).toThrow(/unaligned/);
    expect(() => validate([{ code: 0x20, jt: 0, jf: 0, k: 64 }, ret])).toThrow(/outside/);
    expect(() => validate([{ code: 0x15, jt: 1, jf: 0, k: 0 }, ret])).toThrow(/outside the program/);
    expect(() => validate([{ code: 0x20, jt: 0, jf: 0, k: 0 }])).toThrow(/return/);
    expect(() => validate([{ code: 0x94, jt: 0, jf: 0, k: 3 }, ret])).toThrow(/ALU op/);
    expect(run([{ code: 0x20, jt: 0, jf: 0, k: 0 }, { code: 0x15, jt: 0, jf: 1, k: 41 }, ret, { code: 0x06, jt: 0, jf: 0, k: 0x50001 }], { nr: 41, arch: 0 }).ret).toBe(0x7fff0000);
  });
});

describe('nono-seccomp-dump', () => {
  it('names the problem on a bad mode', async () => {
    const r = await execa(dumpTool, ['tcp'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/usage: nono-seccomp-dump none\|no-tcp\|ports/);
  });
});

// The bytes above are the bytes the kernel holds: read them back out of sandboxed processes,
// from both installers (the supervisor's vfork path and the agent's exec helper).
describe.runIf(onX64)('the installed filter is the dumped one', () => {
  let dir: string;
  let getFilter: string;
  let home: SandboxHome;
  let s: TestSession;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-seccomp-'));
    getFilter = path.join(dir, 'get_filter');
    await execa('gcc', ['-O2', '-Wall', '-o', getFilter, path.join(fixtures, 'seccomp_get_filter.c')]);
    home = makeSandboxHome();
    s = startTestSession({ workdir: home.project, home: home.home });
  });
  afterAll(() => {
    s?.close();
    home?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `argv`, which prints its pid and then sleeps; returns the bytes of each of its
   * filters, newest first (the fixture checks there are exactly `count`). */
  async function filtersOf(count: number, file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Buffer[]> {
    const p = spawn(file, args, { env, cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        let out = '';
        p.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /PID (\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        p.on('exit', (code) => reject(new Error(`${file} exited (${code}) before printing its pid: ${out}`)));
      });
      return Array.from({ length: count }, (_, i) => execFileSync(getFilter, [String(pid), String(count), String(i)]));
    } finally {
      p.kill('SIGKILL');
    }
  }

  it('as root: a command of the default profile (no TCP, live approval: two filters) and the agent (network open)', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip(); // PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN
    // Newest first: the ordinary filter (installed last of all), then live approval's listener filter.
    const [command, listener] = await filtersOf(2, proxyBash, ['-c', 'echo PID $$; exec sleep 20'], s.env, home.project);
    expect(command!.equals(dump('no-tcp')), 'the command holds another program than nono-seccomp-dump no-tcp prints').toBe(true);
    expect(listener!.equals(dump('listener-live')), 'the listener filter is not what nono-seccomp-dump listener-live prints').toBe(true);
    const [agent] = await filtersOf(1, execHelper, ['--handled-fs', '1', '--path', '1:/', '--', '/bin/sh', '-c', 'echo PID $$; exec sleep 20'], process.env, dir);
    expect(agent!.equals(dump('none'))).toBe(true);
    const [ports] = await filtersOf(1, execHelper, ['--handled-fs', '1', '--handled-net', '2', '--net-filter', 'ports', '--port', '2:443', '--path', '1:/', '--', '/bin/sh', '-c', 'echo PID $$; exec sleep 20'], process.env, dir);
    expect(ports!.equals(dump('ports'))).toBe(true);
  });
});

// A command's one filter with a listener (shim/listener_filter.c): the connect guard's part, live
// approval's part, or both in one program (Linux allows one listener per process, so the two must
// share it). The same interpreter proves all three against one table: each part answers exactly
// as when it is alone, and the other part's calls pass untouched.
const LISTENERS = ['listener-guard', 'listener-live', 'listener-both'] as const;
type Listener = (typeof LISTENERS)[number];
const NOTIFY = '0x7fc00000'; // SECCOMP_RET_USER_NOTIF
const LNR = {
  ...NR,
  open: 2,
  creat: 85,
  openat2: 437,
  truncate: 76,
  rename: 82,
  mkdir: 83,
  rmdir: 84,
  link: 86,
  unlink: 87,
  symlink: 88,
  mknod: 133,
  mkdirat: 258,
  mknodat: 259,
  unlinkat: 263,
  renameat: 264,
  linkat: 265,
  symlinkat: 266,
  renameat2: 316,
} as const;
type LName = keyof typeof LNR;
const AT_FDCWD = 0xffffff9c;
const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, ACCMODE3: 3, CREAT: 0o100, TRUNC: 0o1000, DIRECTORY: 0o200000, NOFOLLOW: 0o400000, CLOEXEC: 0o2000000, NONBLOCK: 0o4000, PATH: 0o10000000, TMPFILE: 0o20200000 };
const SECCOMP_SET_MODE_FILTER = 1;
const FLAG = { TSYNC: 1, LOG: 2, NEW_LISTENER: 8 };

interface LCase {
  what: string;
  nr: LName;
  args?: Array<bigint | number>;
  /** The answer with the guard's part, and with live approval's; a call neither traps is 'allow'. */
  guard?: string;
  live?: string;
}
const GUARD_CASES: LCase[] = [
  { what: 'connect()', nr: 'connect', args: [3, 0, 16], guard: NOTIFY },
  { what: 'socket(AF_UNIX, SOCK_STREAM)', nr: 'socket', args: [AF.UNIX, SOCK.STREAM, 0] },
  { what: 'socket(AF_NETLINK, SOCK_RAW)', nr: 'socket', args: [AF.NETLINK, SOCK.RAW, 0] },
  { what: 'socket(AF_INET, SOCK_STREAM, 0)', nr: 'socket', args: [AF.INET, SOCK.STREAM, 0] },
  { what: 'socket(AF_INET6, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_TCP)', nr: 'socket', args: [AF.INET6, SOCK.STREAM | SOCK.NONBLOCK | SOCK.CLOEXEC, IPPROTO.TCP] },
  { what: 'socket(AF_INET, SOCK_DGRAM) (no DNS of its own)', nr: 'socket', args: [AF.INET, SOCK.DGRAM, 0], guard: 'EACCES' },
  { what: 'socket(AF_INET6, SOCK_DGRAM, ICMPV6)', nr: 'socket', args: [AF.INET6, SOCK.DGRAM, IPPROTO.ICMPV6], guard: 'EACCES' },
  { what: 'socket(AF_INET, SOCK_RAW)', nr: 'socket', args: [AF.INET, SOCK.RAW, IPPROTO.TCP], guard: 'EACCES' },
  { what: 'socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)', nr: 'socket', args: [AF.INET, SOCK.STREAM, IPPROTO.MPTCP], guard: 'EACCES' },
  { what: 'socket(AF_INET, SOCK_SEQPACKET) (SCTP)', nr: 'socket', args: [AF.INET, SOCK.SEQPACKET, 0], guard: 'EACCES' },
  { what: 'socket(AF_PACKET)', nr: 'socket', args: [AF.PACKET, SOCK.RAW, 0], guard: 'EACCES' },
  { what: 'socket(AF_VSOCK)', nr: 'socket', args: [AF.VSOCK, SOCK.STREAM, 0], guard: 'EACCES' },
  { what: 'socket(AF_INET with the upper half set, SOCK_STREAM)', nr: 'socket', args: [HIGH | BigInt(AF.INET), SOCK.STREAM, 0] },
  { what: 'sendto(MSG_FASTOPEN)', nr: 'sendto', args: [3, 0, 1, MSG_FASTOPEN, 0, 16], guard: 'EACCES' },
  { what: 'sendto(MSG_NOSIGNAL)', nr: 'sendto', args: [3, 0, 1, 0x4000, 0, 0] },
  { what: 'sendmmsg(MSG_FASTOPEN)', nr: 'sendmmsg', args: [3, 0, 1, MSG_FASTOPEN], guard: 'EACCES' },
  { what: 'sendmsg(MSG_FASTOPEN|MSG_NOSIGNAL)', nr: 'sendmsg', args: [3, 0, MSG_FASTOPEN | 0x4000], guard: 'EACCES' },
  { what: 'sendmsg(0) (MSG_FASTOPEN in an unused argument)', nr: 'sendmsg', args: [3, 0, 0, MSG_FASTOPEN] },
  { what: 'setsockopt(IPPROTO_TCP, TCP_FASTOPEN_CONNECT)', nr: 'setsockopt', args: [3, IPPROTO.TCP, 30, 0, 4], guard: 'EACCES' },
  { what: 'setsockopt(IPPROTO_TCP, TCP_NODELAY)', nr: 'setsockopt', args: [3, IPPROTO.TCP, 1, 0, 4] },
  { what: 'setsockopt(SOL_SOCKET, 30)', nr: 'setsockopt', args: [3, 1, 30, 0, 4] },
  // A listener of the command's own would see the notifications first. With the guard the filter
  // refuses it; with live approval alone the kernel does (EBUSY: one listener per chain), which
  // test/live-approval.test.ts shows on a real command.
  { what: 'seccomp(SET_MODE_FILTER, NEW_LISTENER)', nr: 'seccomp', args: [SECCOMP_SET_MODE_FILTER, FLAG.NEW_LISTENER, 0], guard: 'EACCES' },
  { what: 'seccomp(SET_MODE_FILTER, TSYNC|LOG|NEW_LISTENER)', nr: 'seccomp', args: [SECCOMP_SET_MODE_FILTER, FLAG.TSYNC | FLAG.LOG | FLAG.NEW_LISTENER, 0], guard: 'EACCES' },
  { what: 'seccomp(SET_MODE_FILTER, 0) (a filter without a listener is harmless)', nr: 'seccomp', args: [SECCOMP_SET_MODE_FILTER, 0, 0] },
  { what: 'io_uring_setup()', nr: 'io_uring_setup', guard: 'ENOSYS' },
  { what: 'io_uring_enter()', nr: 'io_uring_enter', guard: 'ENOSYS' },
  { what: 'io_uring_register()', nr: 'io_uring_register', guard: 'ENOSYS' },
];
const LIVE_CASES: LCase[] = [
  { what: 'openat(AT_FDCWD, O_RDONLY) (every absolute or cwd-relative open)', nr: 'openat', args: [AT_FDCWD, 0, O.RDONLY | O.CLOEXEC], live: NOTIFY },
  { what: 'openat(AT_FDCWD, O_WRONLY|O_CREAT|O_TRUNC)', nr: 'openat', args: [AT_FDCWD, 0, O.WRONLY | O.CREAT | O.TRUNC], live: NOTIFY },
  { what: 'openat(AT_FDCWD as a 64-bit -100)', nr: 'openat', args: [0xffff_ffff_ffff_ff9cn, 0, O.RDONLY], live: NOTIFY },
  { what: 'openat(AT_FDCWD in the low half, other bits above: the kernel reads an int)', nr: 'openat', args: [HIGH | BigInt(AT_FDCWD), 0, O.RDONLY], live: NOTIFY },
  { what: 'openat(AT_FDCWD, O_PATH)', nr: 'openat', args: [AT_FDCWD, 0, O.PATH], live: NOTIFY },
  // The exemption (live_approval_filter.h): reads relative to a directory fd go to Landlock alone.
  { what: 'openat(dirfd, O_RDONLY) (a tree walker)', nr: 'openat', args: [3, 0, O.RDONLY] },
  { what: 'openat(dirfd, O_RDONLY|O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK) (fts)', nr: 'openat', args: [5, 0, O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC | O.NONBLOCK] },
  { what: 'openat(dirfd, O_PATH)', nr: 'openat', args: [7, 0, O.PATH] },
  { what: 'openat(dirfd with a 64-bit upper half, O_RDONLY)', nr: 'openat', args: [HIGH | 3n, 0, O.RDONLY] },
  { what: 'openat(dirfd, O_WRONLY)', nr: 'openat', args: [3, 0, O.WRONLY], live: NOTIFY },
  { what: 'openat(dirfd, O_RDWR)', nr: 'openat', args: [3, 0, O.RDWR], live: NOTIFY },
  { what: 'openat(dirfd, O_ACCMODE 3)', nr: 'openat', args: [3, 0, O.ACCMODE3], live: NOTIFY },
  { what: 'openat(dirfd, O_RDONLY|O_CREAT)', nr: 'openat', args: [3, 0, O.CREAT], live: NOTIFY },
  { what: 'openat(dirfd, O_RDONLY|O_TRUNC)', nr: 'openat', args: [3, 0, O.TRUNC], live: NOTIFY },
  { what: 'openat(dirfd, O_TMPFILE|O_RDWR)', nr: 'openat', args: [3, 0, O.TMPFILE | O.RDWR], live: NOTIFY },
  { what: 'openat(dirfd, __O_TMPFILE alone)', nr: 'openat', args: [3, 0, 0o20000000], live: NOTIFY },
  { what: 'openat(dirfd, O_WRONLY in the upper half only: the kernel reads an int)', nr: 'openat', args: [3, 0, HIGH] },
  { what: 'open(O_RDONLY)', nr: 'open', args: [0, O.RDONLY], live: NOTIFY },
  { what: 'creat()', nr: 'creat', args: [0, 0o644], live: NOTIFY },
  { what: 'openat2(dirfd) (its flags are in memory the filter cannot read)', nr: 'openat2', args: [3, 0, 0, 24], live: NOTIFY },
  // What creates, removes, renames, links or truncates a name: always (relative to a directory
  // descriptor too: a tree walker's writes are rare, and each is a real side effect).
  ...(['mkdir', 'mkdirat', 'mknod', 'mknodat', 'unlink', 'unlinkat', 'rmdir', 'rename', 'renameat', 'renameat2', 'link', 'linkat', 'symlink', 'symlinkat', 'truncate'] as const).map(
    (nr): LCase => ({ what: `${nr}()`, nr, args: [3, 0, 0, 0], live: NOTIFY }),
  ),
];
const lexpect = (c: LCase, l: Listener) =>
  (l !== 'listener-live' && c.guard) || (l !== 'listener-guard' && c.live) || 'allow';

describe.runIf(onX64)('the listener filter (connect guard, live approval, both), run in a BPF interpreter (x86_64)', () => {
  const progs = {} as Record<Listener, Insn[]>;
  beforeAll(() => {
    for (const l of LISTENERS) progs[l] = decode(execFileSync(dumpTool, [l]));
  });

  it('is a program the kernel accepts, for each part and both', () => {
    for (const l of LISTENERS) validate(progs[l]);
    console.log(`[seccomp] listener program length: ${LISTENERS.map((l) => `${l} ${progs[l].length}`).join(', ')} instructions`);
    // Both parts in one program, not one stacked on the other.
    expect(progs['listener-both'].length).toBeLessThan(progs['listener-guard'].length + progs['listener-live'].length);
  });

  for (const l of LISTENERS) {
    it(`answers every call of the guard's and live approval's tables as expected (${l})`, () => {
      const wrong: string[] = [];
      for (const c of [...GUARD_CASES, ...LIVE_CASES]) {
        const got = answer(run(progs[l], { nr: LNR[c.nr], arch: AUDIT_ARCH_X86_64, args: c.args ?? [0, 0, 0, 0, 0, 0] }).ret);
        const want = lexpect(c, l) === NOTIFY ? NOTIFY : lexpect(c, l);
        if (got !== want) wrong.push(`${c.what}: got ${got}, expected ${want}`);
      }
      expect(wrong).toEqual([]);
    });
  }

  it('a command cannot install a listener of its own where the guard is on (the filter refuses it before the kernel would)', () => {
    for (const l of ['listener-guard', 'listener-both'] as const) {
      for (const flags of [FLAG.NEW_LISTENER, FLAG.NEW_LISTENER | FLAG.TSYNC, FLAG.NEW_LISTENER | 0x20, 0x10 /* SPEC_ALLOW */ | FLAG.NEW_LISTENER]) {
        expect(answer(run(progs[l], { nr: NR.seccomp, arch: AUDIT_ARCH_X86_64, args: [SECCOMP_SET_MODE_FILTER, flags, 0] }).ret), `${l} flags ${flags}`).toBe('EACCES');
      }
    }
  });

  it('allows every other system call number without reading its arguments (the kernel caches them)', () => {
    const named = new Set<number>([...GUARD_CASES, ...LIVE_CASES].map((c) => LNR[c.nr]));
    const wrong: string[] = [];
    for (const l of LISTENERS) {
      for (let nr = 0; nr < 1024; nr++) {
        if (named.has(nr)) continue;
        for (const args of [[0, 0, 0, 0, 0, 0], Array(6).fill(0xffff_ffff_ffff_ffffn), [AT_FDCWD, 0, O.WRONLY | O.CREAT, MSG_FASTOPEN, FLAG.NEW_LISTENER, 0]]) {
          const r = run(progs[l], { nr, arch: AUDIT_ARCH_X86_64, args });
          if (r.ret !== 0x7fff0000) wrong.push(`${l}: nr ${nr} -> ${answer(r.ret)}`);
          if ([...r.loaded].some((o) => o !== 0 && o !== 4)) wrong.push(`${l}: nr ${nr} read its arguments`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('refuses other ABIs (ENOSYS), so no trapped call dodges it by number', () => {
    const wrong: string[] = [];
    for (const l of LISTENERS) {
      const cases: Array<[string, number, number]> = [];
      for (const nr of [5 /* i386 open */, 102 /* socketcall */, 295 /* openat */, 362 /* connect */]) cases.push([`i386 nr ${nr}`, AUDIT_ARCH_I386, nr]);
      for (const n of [LNR.connect, LNR.openat, LNR.open, LNR.openat2, LNR.socket, 512, 547]) cases.push([`x32 nr ${n}`, AUDIT_ARCH_X86_64, X32_BIT | n]);
      cases.push(['aarch64 openat', AUDIT_ARCH_AARCH64, 56], ['an unknown arch', 0, LNR.connect]);
      for (const [what, arch, nr] of cases) {
        const got = answer(run(progs[l], { nr, arch, args: [AT_FDCWD, 0, 0] }).ret);
        if (got !== 'ENOSYS') wrong.push(`${l}: ${what} -> ${got}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('decides the most frequent call first: openat within 12 instructions, a connect within 30, any trapped call within 40 (both parts)', () => {
    // A chain of comparisons, one per trapped call, most frequent first: nanoseconds, against the
    // ~10 us of the notification that follows. What is not trapped is cached by the kernel.
    const steps = (nr: LName, args: Array<number | bigint>) => run(progs['listener-both'], { nr: LNR[nr], arch: AUDIT_ARCH_X86_64, args }).steps;
    const openat = Math.max(steps('openat', [AT_FDCWD, 0, 0]), steps('openat', [3, 0, 0]), steps('openat', [3, 0, O.CREAT]));
    const connect = steps('connect', [3, 0, 16]);
    const any = Math.max(...LIVE_CASES.map((c) => steps(c.nr, (c.args ?? [0, 0, 0, 0]) as Array<number | bigint>)));
    console.log(`[seccomp] listener filter (both): openat takes ${openat} instructions, a connect ${connect}, the slowest trapped call ${any}`);
    expect(openat).toBeLessThanOrEqual(12);
    expect(connect).toBeLessThanOrEqual(30); // after live approval's table (shim/listener_filter.c)
    expect(any).toBeLessThanOrEqual(40);
  });
});
