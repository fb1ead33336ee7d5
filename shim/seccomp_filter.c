/* See seccomp_filter.h. Classic BPF over struct seccomp_data: arch, nr, args[]. */
#include "seccomp_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#define NONO_TCP_FASTOPEN_CONNECT 30
#define NONO_SOCK_TYPE_MASK 0xf /* type without SOCK_NONBLOCK / SOCK_CLOEXEC */

#if defined(__x86_64__)
#define NONO_ARCH AUDIT_ARCH_X86_64
#define NONO_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define NONO_ARCH AUDIT_ARCH_AARCH64
#endif

#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define DENY RET(SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA))
#define DENY_EPERM RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define ALLOW RET(SECCOMP_RET_ALLOW)

int nono_install_seccomp_filter(enum nono_net_filter mode) {
#if !defined(NONO_ARCH)
  return ENOSYS; /* fail closed on architectures this filter was not written for */
#else
  const int no_tcp = mode == NONO_NET_FILTER_NO_TCP;
  const struct sock_filter net_gate =
      mode != NONO_NET_FILTER_NONE ? (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0)
                                   : (struct sock_filter)ALLOW;
  /* Jump offsets are relative; the program is laid out as labelled blocks below. */
  struct sock_filter f[] = {
      /* 0: only the native ABI; other ABIs (i386 via int 0x80, x32) would dodge the numbers. */
      LOAD(offsetof(struct seccomp_data, arch)),
      JEQ(NONO_ARCH, 1, 0),
      RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      LOAD(offsetof(struct seccomp_data, nr)),
#ifdef NONO_X32_BIT
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NONO_X32_BIT, 0, 1),
      RET(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
#else
      JEQ(0xffffffff, 0, 1), /* keeps the layout identical; never true */
      ALLOW,
#endif
      /* prlimit64(pid, ...): only on itself (pid 0, what glibc's setrlimit passes) */
      /* 6 */ JEQ(SYS_prlimit64, 0, 4),
      /* 7 */ LOAD(ARG_LO(0)),
      /* 8 */ JEQ(0, 0, 1),
      /* 9 */ ALLOW,
      /* 10 */ DENY_EPERM,
      /* 11: the network rules apply only when TCP is restricted (a no-op jump keeps the layout) */
      net_gate,
      /* 12 */ JEQ(SYS_socket, 5, 0),
      /* 13 */ JEQ(SYS_sendto, 18, 0),
      /* 14 */ JEQ(SYS_setsockopt, 25, 0),
      /* 15 */ JEQ(SYS_sendmsg, 20, 0),
      /* 16 */ JEQ(SYS_sendmmsg, 15, 0),
      /* 17 */ ALLOW,
      /* socket(domain, type, protocol) */
      /* 18 */ LOAD(ARG_LO(2)),
      /* 19 */ JEQ(IPPROTO_MPTCP, 0, 1),
      /* 20 */ DENY,
      /* 21 */ JEQ(IPPROTO_SCTP, 0, 1),
      /* 22 */ DENY,
      /* 23 */ LOAD(ARG_LO(0)),
      /* 24 */ JEQ(AF_INET, 2, 0),
      /* 25 */ JEQ(AF_INET6, 1, 0),
      /* 26 */ ALLOW,
      /* 27 */ LOAD(ARG_LO(1)),
      /* 28 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, NONO_SOCK_TYPE_MASK),
      /* 29 */ JEQ(SOCK_STREAM, 0, 1),
      /* 30 */ RET(no_tcp ? (SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA)) : SECCOMP_RET_ALLOW),
      /* 31 */ ALLOW,
      /* sendto, sendmmsg (flags in args[3]) and sendmsg (args[2]): no implicit connect via Fast Open */
      /* 32 */ LOAD(ARG_LO(3)),
      /* 33 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MSG_FASTOPEN, 0, 1),
      /* 34 */ DENY,
      /* 35 */ ALLOW,
      /* 36 */ LOAD(ARG_LO(2)),
      /* 37 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MSG_FASTOPEN, 0, 1),
      /* 38 */ DENY,
      /* 39 */ ALLOW,
      /* setsockopt(fd, level, optname, ...) */
      /* 40 */ LOAD(ARG_LO(1)),
      /* 41 */ JEQ(IPPROTO_TCP, 0, 3),
      /* 42 */ LOAD(ARG_LO(2)),
      /* 43 */ JEQ(NONO_TCP_FASTOPEN_CONNECT, 0, 1),
      /* 44 */ DENY,
      /* 45 */ ALLOW,
  };
  struct sock_fprog prog = {.len = (unsigned short)(sizeof f / sizeof f[0]), .filter = f};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) return errno;
  return 0;
#endif
}
