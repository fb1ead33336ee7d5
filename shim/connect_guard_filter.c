/* See connect_guard_filter.h. Classic BPF over struct seccomp_data: arch, nr, args[]. */
#include "connect_guard_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#define GUARD_TCP_FASTOPEN_CONNECT 30
#define GUARD_SOCK_TYPE_MASK 0xf /* type without SOCK_NONBLOCK / SOCK_CLOEXEC */

#if defined(__x86_64__)
#define GUARD_ARCH AUDIT_ARCH_X86_64
#define GUARD_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define GUARD_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(GUARD_ARCH)
#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
/* Jumps name their target instruction; BPF wants the distance from the next one, and only
 * jumps forward: a backward target does not compile (negative array size). */
#define TO(target, here) ((target) - (here) - 1 + 0 * sizeof(char[(target) > (here) ? 1 : -1]))
#define JEQ(here, k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), TO(t, here), TO(f, here))
#define JSET(here, k, t, f) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (k), TO(t, here), TO(f, here))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define RET_ERRNO(e) RET(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

/* Where each block starts (instruction index); the program below lists them in this order. */
enum {
  L_NR = 3,
  L_SOCKET = 16,
  L_IP_SOCKET = 21,
  L_SEND_FLAGS3 = 27,
  L_SEND_FLAGS2 = 29,
  L_SOCKOPT = 31,
  L_SECCOMP = 35,
  L_NOSYS = 37,
  L_DENY = 38,
  L_ALLOW = 39,
  L_END = 40,
};

static const struct sock_filter guard_program[] = {
    /* 0: only the native ABI; the ordinary filter refuses the others too. */
    LOAD(offsetof(struct seccomp_data, arch)),
    /* 1 */ JEQ(1, GUARD_ARCH, L_NR, 2),
    /* 2 */ RET_ERRNO(ENOSYS),
    /* 3 = L_NR */ LOAD(offsetof(struct seccomp_data, nr)),
#ifdef GUARD_X32_BIT
    /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, GUARD_X32_BIT, TO(L_NOSYS, 4), TO(5, 4)),
#else
    /* 4 */ JEQ(4, 0xffffffffu, L_NOSYS, 5), /* keeps the layout identical; never true */
#endif
    /* 5 */ JEQ(5, SYS_connect, 6, 7),
    /* 6 */ RET(SECCOMP_RET_USER_NOTIF),
    /* 7 */ JEQ(7, SYS_socket, L_SOCKET, 8),
    /* 8 */ JEQ(8, SYS_sendto, L_SEND_FLAGS3, 9),
    /* 9 */ JEQ(9, SYS_sendmmsg, L_SEND_FLAGS3, 10),
    /* 10 */ JEQ(10, SYS_sendmsg, L_SEND_FLAGS2, 11),
    /* 11 */ JEQ(11, SYS_setsockopt, L_SOCKOPT, 12),
    /* 12 */ JEQ(12, SYS_seccomp, L_SECCOMP, 13),
    /* 13 */ JEQ(13, SYS_io_uring_setup, L_NOSYS, 14),
    /* 14 */ JEQ(14, SYS_io_uring_enter, L_NOSYS, 15),
    /* 15 */ JEQ(15, SYS_io_uring_register, L_NOSYS, L_ALLOW),
    /* 16 = L_SOCKET: socket(domain, type, protocol) */
    LOAD(ARG_LO(0)),
    /* 17 */ JEQ(17, AF_UNIX, L_ALLOW, 18),
    /* 18 */ JEQ(18, AF_NETLINK, L_ALLOW, 19),
    /* 19 */ JEQ(19, AF_INET, L_IP_SOCKET, 20),
    /* 20 */ JEQ(20, AF_INET6, L_IP_SOCKET, L_DENY),
    /* 21 = L_IP_SOCKET: a stream, and TCP itself (protocol 0 or IPPROTO_TCP) */
    LOAD(ARG_LO(1)),
    /* 22 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, GUARD_SOCK_TYPE_MASK),
    /* 23 */ JEQ(23, SOCK_STREAM, 24, L_DENY),
    /* 24 */ LOAD(ARG_LO(2)),
    /* 25 */ JEQ(25, 0, L_ALLOW, 26),
    /* 26 */ JEQ(26, IPPROTO_TCP, L_ALLOW, L_DENY),
    /* 27 = L_SEND_FLAGS3: sendto, sendmmsg (flags in args[3]) */
    LOAD(ARG_LO(3)),
    /* 28 */ JSET(28, MSG_FASTOPEN, L_DENY, L_ALLOW),
    /* 29 = L_SEND_FLAGS2: sendmsg (flags in args[2]) */
    LOAD(ARG_LO(2)),
    /* 30 */ JSET(30, MSG_FASTOPEN, L_DENY, L_ALLOW),
    /* 31 = L_SOCKOPT: setsockopt(fd, level, optname, ...) */
    LOAD(ARG_LO(1)),
    /* 32 */ JEQ(32, IPPROTO_TCP, 33, L_ALLOW),
    /* 33 */ LOAD(ARG_LO(2)),
    /* 34 */ JEQ(34, GUARD_TCP_FASTOPEN_CONNECT, L_DENY, L_ALLOW),
    /* 35 = L_SECCOMP: seccomp(op, flags, args): no listener of its own */
    LOAD(ARG_LO(1)),
    /* 36 */ JSET(36, SECCOMP_FILTER_FLAG_NEW_LISTENER, L_DENY, L_ALLOW),
    /* 37 = L_NOSYS */ RET_ERRNO(ENOSYS),
    /* 38 = L_DENY */ RET_ERRNO(EACCES),
    /* 39 = L_ALLOW */ RET(SECCOMP_RET_ALLOW),
};
_Static_assert(sizeof guard_program / sizeof guard_program[0] == L_END, "a label no longer matches the program");
#endif

int nono_install_connect_guard_filter(void) {
#if !defined(GUARD_ARCH)
  return -ENOSYS; /* fail closed on architectures this filter was not written for */
#else
  struct sock_fprog prog = {.len = L_END, .filter = (struct sock_filter *)guard_program};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  return fd < 0 ? -errno : (int)fd;
#endif
}
