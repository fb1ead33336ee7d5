/*
 * See seccomp_filter.h. Classic BPF over struct seccomp_data {nr, arch, ip, args[6]}.
 *
 * The program is generated from the rule table below by a tiny assembler with labels, so that
 * adding a rule never means recounting relative jumps by hand. Its shape:
 *
 *   1. arch != native                 -> ENOSYS (i386 via int 0x80 would dodge every number)
 *   2. nr > NONO_LAST_REVIEWED_NR     -> ENOSYS (x32's numbers have bit 30 set, so land here too)
 *   3. ioctl, then a binary search over the numbers the table names; a number it does not name is
 *      allowed
 *   4. per-rule code: a fixed errno, or a check of the arguments (one block per check kind)
 *
 * Speed: the kernel (5.11+) runs the filter once per system call number and caches the numbers
 * whose answer is "allow" without looking at arguments, so steps 1-3 only load arch and nr and use
 * constant jumps (what that cache can evaluate). Then only the numbers with argument checks (ioctl,
 * socket, clone...) and the refused ones run the program at all: at most ~24 instructions each.
 *
 * Only the low 32 bits of an argument are compared: every argument checked here is an int or
 * unsigned int in the kernel (ioctl's request, personality's persona, socket's domain...), or,
 * for clone, explicitly truncated by it (lower_32_bits). Little-endian: the low half comes first.
 */
#include "seccomp_filter.h"
#include "bpf_asm.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NONO_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NONO_ARCH AUDIT_ARCH_AARCH64
#endif

/* The highest system call number reviewed for this filter: file_setattr (Linux 6.17), the last one
 * kernel 6.18 has. Numbers from 424 on are shared by every architecture. A newer kernel's new
 * calls get ENOSYS, as on an older kernel, which every program must handle (glibc falls back);
 * raise this only after reviewing what the new calls can reach. */
#define NONO_LAST_REVIEWED_NR 469

/* Constants newer than the build machine's headers (Debian 12 has 6.1's). */
#define NONO_NR_open_tree_attr 467
#define NONO_MSG_FASTOPEN 0x20000000u
#define NONO_TCP_FASTOPEN_CONNECT 30
#define NONO_SOCK_TYPE_MASK 0xfu /* the type without SOCK_NONBLOCK / SOCK_CLOEXEC */
#define NONO_TIOCSTI 0x5412u
#define NONO_TIOCLINUX 0x541Cu
#define NONO_USERFAULTFD_IOC_NEW 0xAA00u /* _IO(0xAA, 0x00) on /dev/userfaultfd */
#define NONO_CLONE_NEWTIME 0x80u         /* unshare only: in clone() this bit is the exit signal */
#define NONO_CLONE_NAMESPACES                                                                    \
  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
   CLONE_NEWNET)

#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

/* ------------------------------------------------------------------------------------------ */
/* The rules.                                                                                  */

/* What happens to a system call the table names. */
enum check {
  REFUSE,       /* whatever the arguments: the rule's errno */
  SOCKET,       /* socket(domain, type, protocol) */
  SOCKETPAIR,   /* socketpair(domain, ...) */
  SEND_FLAGS2,  /* sendmsg(fd, msg, flags): no MSG_FASTOPEN */
  SEND_FLAGS3,  /* sendto / sendmmsg(fd, ..., flags, ...): no MSG_FASTOPEN */
  SETSOCKOPT,   /* setsockopt(fd, level, optname, ...): no TCP_FASTOPEN_CONNECT */
  IOCTL,        /* ioctl(fd, request, ...): no terminal injection, no userfaultfd by device */
  PERSONALITY,  /* personality(persona): the values Docker's default profile allows */
  ITSELF,       /* prlimit64 / sched_set*(pid, ...): only on itself (pid 0) */
  PRIORITY,     /* setpriority(which, who, prio): only itself or its own process group */
  IOPRIO,       /* ioprio_set(which, who, ioprio): the same */
  CLONE,        /* clone(flags, ...): no new namespaces */
  UNSHARE,      /* unshare(flags): no new namespaces */
  CHECK_KINDS
};
/* A new check kind (say the network guard's connect -> SECCOMP_RET_USER_NOTIF, or a notifying
 * rule for the open/mkdir/unlink/rename family) is one enum value, one case in emit_check() and
 * one table line. A rule answering SECCOMP_RET_USER_NOTIF needs the filter installed with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER (see nono_install_seccomp_filter). */

#define IN_NONE (1u << NONO_NET_FILTER_NONE)
#define IN_NO_TCP (1u << NONO_NET_FILTER_NO_TCP)
#define IN_PORTS (1u << NONO_NET_FILTER_PORTS)
#define ALWAYS (IN_NONE | IN_NO_TCP | IN_PORTS)
#define TCP_LIMITED (IN_NO_TCP | IN_PORTS)

struct rule {
  int nr;
  uint8_t check;  /* enum check */
  uint8_t modes;  /* IN_* bits: in which network modes the rule applies */
  uint16_t err;   /* REFUSE only */
};

/*
 * Anchors: Docker's default seccomp profile (what a container without capabilities may call),
 * Flatpak's blocklist (which bubblewrap users share), and bubblewrap itself (it installs the
 * filter last, after dropping capabilities, as nono_enter_sandbox does). EPERM is what the kernel
 * itself answers when privilege is missing; ENOSYS means "this kernel has no such call", for calls
 * whose callers fall back (clone3 -> clone, the new mount API -> mount).
 * "Defence in depth" marks calls the kernel already refuses to a command without capabilities.
 */
static const struct rule rules[] = {
    /* A second system call interface: a ring of requests the filter never sees (IORING_OP_SOCKET
     * made TCP sockets and IORING_OP_SENDMSG with MSG_FASTOPEN connected under "TCP blocked").
     * Refused in every mode, the agent's sandbox included; Docker (since 25) refuses it too, and
     * libuv, Bun and others fall back to their thread pools. */
    {SYS_io_uring_setup, REFUSE, ALWAYS, EPERM},
    {SYS_io_uring_enter, REFUSE, ALWAYS, EPERM},
    {SYS_io_uring_register, REFUSE, ALWAYS, EPERM},

    /* The kernel keyrings hold secrets of the user (Kerberos KEYRING: caches, tokens), readable by
     * any process of the uid that possesses the user keyring. Docker and Flatpak refuse all three. */
    {SYS_keyctl, REFUSE, ALWAYS, EPERM},
    {SYS_add_key, REFUSE, ALWAYS, EPERM},
    {SYS_request_key, REFUSE, ALWAYS, EPERM},

    /* Namespaces: an unprivileged user namespace hands the command every capability inside it and
     * exposes large parts of the kernel (netfilter, mounts) to it. clone3's flags live in memory
     * seccomp cannot read: ENOSYS makes glibc (2.34+) fall back to clone, whose flags are checked. */
    {SYS_clone, CLONE, ALWAYS, 0},
    {SYS_unshare, UNSHARE, ALWAYS, 0},
    {SYS_clone3, REFUSE, ALWAYS, ENOSYS},
    {SYS_setns, REFUSE, ALWAYS, EPERM}, /* defence in depth: needs CAP_SYS_ADMIN over the target */

    /* Exploit helpers reachable without capabilities: userfaultfd (UFFD_USER_MODE_ONLY needs none)
     * stalls kernel copies at will; perf_event_open (perf_event_paranoid <= 2) and bpf (where
     * unprivileged BPF is on) are large, often-patched subsystems. Flatpak refuses perf too. */
    {SYS_userfaultfd, REFUSE, ALWAYS, EPERM},
    {SYS_perf_event_open, REFUSE, ALWAYS, EPERM},
    {SYS_bpf, REFUSE, ALWAYS, EPERM},
    /* The execution domain: ADDR_NO_RANDOMIZE and friends (gdb asks for it, warns and goes on). */
    {SYS_personality, PERSONALITY, ALWAYS, 0},
    /* Terminal input injection into whoever reads the same terminal (CVE-2017-5226, and TIOCLINUX
     * on a virtual console, CVE-2023-28100), and userfaultfd again by its device. */
    {SYS_ioctl, IOCTL, ALWAYS, 0},
    /* Another process's resource limits, scheduling, CPU affinity and nice/I/O priority: the
     * same uid needs no capability for these, and none of them asks Landlock (ptrace-style
     * checks do; these do not). As root the dropped capabilities already refuse them
     * (cap_safe_nice); as an ordinary user, without these rules, a command could renice, ionice
     * or pin the agent, the supervisor or any other process of the user. Itself only: pid 0,
     * what glibc passes for its own process (nice, setrlimit, sched_setaffinity(0, ...)); a
     * thread pinned by its own tid is refused (a hint its runtime can live without). */
    {SYS_prlimit64, ITSELF, ALWAYS, 0},
    {SYS_sched_setaffinity, ITSELF, ALWAYS, 0},
    {SYS_sched_setscheduler, ITSELF, ALWAYS, 0},
    {SYS_sched_setparam, ITSELF, ALWAYS, 0},
    {SYS_sched_setattr, ITSELF, ALWAYS, 0},
    /* who 0 with PRIO_PROCESS/PRIO_PGRP (IOPRIO_WHO_PROCESS/PGRP): itself, or its own process
     * group (the command leads its own); never PRIO_USER / IOPRIO_WHO_USER (every process of
     * the uid). */
    {SYS_setpriority, PRIORITY, ALWAYS, 0},
    {SYS_ioprio_set, IOPRIO, ALWAYS, 0},

    /* Address families: Unix, IPv4/IPv6 and netlink only (Flatpak's list). vsock reaches the
     * hypervisor host and Docker refuses it; the rest (SMC, RDS, TIPC, KCM, ALG, XDP...) are
     * rarely loaded protocols, and SMC would carry TCP that Landlock does not see as TCP. */
    {SYS_socket, SOCKET, ALWAYS, 0},
    {SYS_socketpair, SOCKETPAIR, ALWAYS, 0},
    /* TCP Fast Open connects inside a send, where Landlock's connect rule does not look. */
    {SYS_sendto, SEND_FLAGS3, TCP_LIMITED, 0},
    {SYS_sendmmsg, SEND_FLAGS3, TCP_LIMITED, 0},
    {SYS_sendmsg, SEND_FLAGS2, TCP_LIMITED, 0},
    {SYS_setsockopt, SETSOCKOPT, TCP_LIMITED, 0},

    /* Mounting: Landlock already forbids a sandboxed process to change its mounts, and all of these
     * need CAP_SYS_ADMIN (defence in depth). The new mount API answers ENOSYS, as in Flatpak. */
    {SYS_mount, REFUSE, ALWAYS, EPERM},
    {SYS_umount2, REFUSE, ALWAYS, EPERM},
    {SYS_pivot_root, REFUSE, ALWAYS, EPERM},
    {SYS_chroot, REFUSE, ALWAYS, EPERM},
    {SYS_open_tree, REFUSE, ALWAYS, ENOSYS},
    {NONO_NR_open_tree_attr, REFUSE, ALWAYS, ENOSYS},
    {SYS_move_mount, REFUSE, ALWAYS, ENOSYS},
    {SYS_fsopen, REFUSE, ALWAYS, ENOSYS},
    {SYS_fsconfig, REFUSE, ALWAYS, ENOSYS},
    {SYS_fsmount, REFUSE, ALWAYS, ENOSYS},
    {SYS_fspick, REFUSE, ALWAYS, ENOSYS},
    {SYS_mount_setattr, REFUSE, ALWAYS, ENOSYS},

    /* The rest of what Docker grants only with a capability the command does not have (defence in
     * depth), and Flatpak's obsolete or leaky calls (uselib, modify_ldt, quotactl, syslog). */
    {SYS_open_by_handle_at, REFUSE, ALWAYS, EPERM}, /* opens by inode handle, around path checks */
    {SYS_init_module, REFUSE, ALWAYS, EPERM},
    {SYS_finit_module, REFUSE, ALWAYS, EPERM},
    {SYS_delete_module, REFUSE, ALWAYS, EPERM},
    {SYS_kexec_load, REFUSE, ALWAYS, EPERM},
    {SYS_kexec_file_load, REFUSE, ALWAYS, EPERM},
    {SYS_reboot, REFUSE, ALWAYS, EPERM},
    {SYS_swapon, REFUSE, ALWAYS, EPERM},
    {SYS_swapoff, REFUSE, ALWAYS, EPERM},
    {SYS_acct, REFUSE, ALWAYS, EPERM},
    {SYS_settimeofday, REFUSE, ALWAYS, EPERM},
    {SYS_clock_settime, REFUSE, ALWAYS, EPERM},
    {SYS_sethostname, REFUSE, ALWAYS, EPERM},
    {SYS_setdomainname, REFUSE, ALWAYS, EPERM},
    {SYS_syslog, REFUSE, ALWAYS, EPERM},
    {SYS_vhangup, REFUSE, ALWAYS, EPERM},
    {SYS_quotactl, REFUSE, ALWAYS, EPERM},
    {SYS_quotactl_fd, REFUSE, ALWAYS, EPERM},
    {SYS_fanotify_init, REFUSE, ALWAYS, EPERM},
    {SYS_lookup_dcookie, REFUSE, ALWAYS, EPERM},
#if defined(__x86_64__)
    {SYS_iopl, REFUSE, ALWAYS, EPERM},
    {SYS_ioperm, REFUSE, ALWAYS, EPERM},
    {SYS_modify_ldt, REFUSE, ALWAYS, EPERM},
    {SYS_uselib, REFUSE, ALWAYS, EPERM},
#endif
};

#define RULE_COUNT (sizeof rules / sizeof rules[0])

/* The assembler (labels, forward jumps) is shim/bpf_asm.h, shared with the listener filter. */

/* ------------------------------------------------------------------------------------------ */
/* The program.                                                                                */

/* One block per check kind, at its label. Every path ends in a return. */
static void emit_check(struct bpf_asm *a, enum check c, int mode) {
  int ok = new_label(a);
  switch (c) {
    case SOCKET: {
      int inet = new_label(a);
      load_arg(a, 0);
      jeq(a, AF_UNIX, ok, NEXT);
      jeq(a, AF_INET, inet, NEXT);
      jeq(a, AF_INET6, inet, NEXT);
      jeq(a, AF_NETLINK, ok, NEXT);
      ret(a, ERRNO(EAFNOSUPPORT)); /* as a kernel built without the family: callers fall back */
      place(a, inet);
      if (mode == NONO_NET_FILTER_NONE) break;
      /* TCP limited: datagrams (UDP, ICMP "ping" sockets) always; a stream socket only when some
       * ports are allowed, and then only TCP itself (protocol 0 or IPPROTO_TCP): MPTCP, SMC and
       * SCTP are not TCP to Landlock. SOCK_SEQPACKET is SCTP, SOCK_DCCP is DCCP: refused. */
      load_arg(a, 1);
      and_k(a, NONO_SOCK_TYPE_MASK);
      jeq(a, SOCK_DGRAM, ok, NEXT);
      if_eq(a, SOCK_RAW);
      ret(a, ERRNO(EPERM)); /* what the kernel says without CAP_NET_RAW anyway */
      if (mode == NONO_NET_FILTER_PORTS) {
        int stream = new_label(a);
        jeq(a, SOCK_STREAM, stream, NEXT);
        ret(a, ERRNO(EACCES));
        place(a, stream);
        load_arg(a, 2);
        jeq(a, 0, ok, NEXT);
        jeq(a, IPPROTO_TCP, ok, NEXT);
      }
      ret(a, ERRNO(EACCES)); /* the errno Landlock uses for TCP, which nono's denial reader knows */
      break;
    }
    case SOCKETPAIR:
      load_arg(a, 0);
      jeq(a, AF_UNIX, ok, NEXT);
      ret(a, ERRNO(EAFNOSUPPORT));
      break;
    case SEND_FLAGS2:
    case SEND_FLAGS3:
      load_arg(a, c == SEND_FLAGS2 ? 2 : 3);
      jset(a, NONO_MSG_FASTOPEN, NEXT, ok);
      ret(a, ERRNO(EACCES));
      break;
    case SETSOCKOPT:
      load_arg(a, 1);
      jeq(a, IPPROTO_TCP, NEXT, ok);
      load_arg(a, 2);
      jeq(a, NONO_TCP_FASTOPEN_CONNECT, NEXT, ok);
      ret(a, ERRNO(EACCES));
      break;
    case IOCTL: {
      int refuse = new_label(a);
      load_arg(a, 1);
      jeq(a, NONO_TIOCSTI, refuse, NEXT);
      jeq(a, NONO_TIOCLINUX, refuse, NEXT);
      jeq(a, NONO_USERFAULTFD_IOC_NEW, refuse, ok);
      place(a, refuse);
      ret(a, ERRNO(EPERM));
      break;
    }
    case PERSONALITY:
      /* Docker's values: PER_LINUX, PER_LINUX32, UNAME26 with either, and the query. */
      load_arg(a, 0);
      jeq(a, 0x0, ok, NEXT);
      jeq(a, 0x8, ok, NEXT);
      jeq(a, 0x20000, ok, NEXT);
      jeq(a, 0x20008, ok, NEXT);
      jeq(a, 0xffffffffu, ok, NEXT);
      ret(a, ERRNO(EPERM));
      break;
    case ITSELF:
      load_arg(a, 0);
      jeq(a, 0, ok, NEXT); /* pid 0 = itself, what glibc's setrlimit passes */
      ret(a, ERRNO(EPERM));
      break;
    case PRIORITY:
    case IOPRIO: {
      /* who 0, and `which` not "every process of the user" (PRIO_USER 2, IOPRIO_WHO_USER 3). */
      int refuse = new_label(a);
      load_arg(a, 1);
      jeq(a, 0, NEXT, refuse);
      load_arg(a, 0);
      jeq(a, c == PRIORITY ? 2u : 3u, refuse, ok);
      place(a, refuse);
      ret(a, ERRNO(EPERM));
      break;
    }
    case CLONE:
    case UNSHARE:
      load_arg(a, 0);
      jset(a, NONO_CLONE_NAMESPACES | (c == UNSHARE ? NONO_CLONE_NEWTIME : 0), NEXT, ok);
      ret(a, ERRNO(EPERM));
      break;
    default:
      a->err = EINVAL; /* a table entry whose check has no code: refuse to build */
      return;
  }
  place(a, ok);
  ret(a, SECCOMP_RET_ALLOW);
}

struct entry {
  uint32_t nr;
  const struct rule *rule;
};

/* Leaves of the search: up to this many numbers tested one after the other. */
#define LEAF 4

/* Binary search over sorted numbers, with constant jumps only (see the top of the file). */
static void emit_search(struct bpf_asm *a, const struct entry *e, unsigned n, const int *check_label) {
  if (n > LEAF) {
    unsigned mid = n / 2;
    int right = new_label(a);
    jge(a, e[mid].nr, right, NEXT);
    emit_search(a, e, mid, check_label);
    place(a, right);
    emit_search(a, e + mid, n - mid, check_label);
    return;
  }
  for (unsigned i = 0; i < n; i++) {
    if_eq(a, e[i].nr);
    if (e[i].rule->check == REFUSE) ret(a, ERRNO(e[i].rule->err));
    else jump(a, check_label[e[i].rule->check]);
  }
  ret(a, SECCOMP_RET_ALLOW);
}

int nono_seccomp_build(int mode, struct sock_filter *out, unsigned cap) {
#if !defined(NONO_ARCH)
  (void)mode, (void)out, (void)cap;
  return -ENOSYS; /* fail closed on architectures this filter was not written for */
#else
  if (mode != NONO_NET_FILTER_NONE && mode != NONO_NET_FILTER_NO_TCP && mode != NONO_NET_FILTER_PORTS) return -EINVAL;
  /* The rules of this mode, sorted by number (insertion sort: ~60 entries, no allocation). */
  struct entry e[RULE_COUNT];
  unsigned n = 0;
  for (unsigned i = 0; i < RULE_COUNT; i++) {
    if (!(rules[i].modes & (1u << mode))) continue;
    if (rules[i].nr < 0 || rules[i].nr > NONO_LAST_REVIEWED_NR || rules[i].check >= CHECK_KINDS) return -EINVAL;
    unsigned j = n++;
    for (; j > 0 && e[j - 1].nr > (uint32_t)rules[i].nr; j--) e[j] = e[j - 1];
    if (j > 0 && e[j - 1].nr == (uint32_t)rules[i].nr) return -EINVAL; /* two rules, one call */
    e[j] = (struct entry){(uint32_t)rules[i].nr, &rules[i]};
  }

  struct bpf_asm a = {.out = out, .cap = cap};
  int check_label[CHECK_KINDS];
  for (int c = 0; c < CHECK_KINDS; c++) check_label[c] = -1;
  for (unsigned i = 0; i < n; i++)
    if (e[i].rule->check != REFUSE && check_label[e[i].rule->check] < 0) check_label[e[i].rule->check] = new_label(&a);

  int native = new_label(&a), known = new_label(&a);
  load_arch(&a);
  jeq(&a, NONO_ARCH, native, NEXT);
  ret(&a, ERRNO(ENOSYS));
  place(&a, native);
  load_nr(&a);
  jgt(&a, NONO_LAST_REVIEWED_NR, NEXT, known);
  ret(&a, ERRNO(ENOSYS));
  place(&a, known);
  /* ioctl first: of the calls the filter really runs for (the cache above takes the rest), it is
   * by far the most frequent (every isatty). One compare more for the others. */
  unsigned hot = 0;
  while (hot < n && e[hot].nr != (uint32_t)SYS_ioctl) hot++;
  if (hot < n) {
    if_eq(&a, e[hot].nr);
    jump(&a, check_label[e[hot].rule->check]);
    for (n--; hot < n; hot++) e[hot] = e[hot + 1]; /* out of the search */
  }
  emit_search(&a, e, n, check_label);
  for (int c = 0; c < CHECK_KINDS; c++) {
    if (check_label[c] < 0) continue;
    place(&a, check_label[c]);
    emit_check(&a, (enum check)c, mode);
  }
  return finish(&a);
#endif
}

int nono_install_seccomp_filter(enum nono_net_filter mode) {
  struct sock_filter f[NONO_SECCOMP_MAX_INSNS];
  int n = nono_seccomp_build((int)mode, f, NONO_SECCOMP_MAX_INSNS);
  if (n < 0) return -n;
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  /* Flags stay 0 until a rule answers SECCOMP_RET_USER_NOTIF: then SECCOMP_FILTER_FLAG_NEW_LISTENER
   * here, and the returned listener descriptor goes to the supervisor. No TSYNC: the callers are
   * single-threaded (a vfork child, the exec helper). */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return errno;
  return 0;
}
