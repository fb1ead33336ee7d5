/*
 * See listener_filter.h. Classic BPF over struct seccomp_data {nr, arch, ip, args[6]}, generated
 * with the assembler of bpf_asm.h (labels, so a part can grow without recounting jumps):
 *
 *   1. arch != native              -> ENOSYS
 *   2. x32 numbers (x86_64)        -> ENOSYS
 *   3. each part's numbers, tested one after the other (a notification, an errno, or a jump to
 *      that call's argument check); any other number -> allow
 *   4. the argument checks, one block each, every path ending in a return
 *
 * Steps 1-3 only load arch and nr and use constant jumps, so the kernel's per-number cache of
 * "allow" (5.11+) covers every call the parts do not name: the filter runs only for those.
 * Only the low 32 bits of an argument are compared: every argument checked here is an int or
 * unsigned int in the kernel. Little-endian: the low half comes first.
 */
#include "listener_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_asm.h"
#include "live_approval_filter.h"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5) /* Linux 5.19 */
#endif

#define GUARD_MSG_FASTOPEN 0x20000000u
#define GUARD_TCP_FASTOPEN_CONNECT 30
#define GUARD_SOCK_TYPE_MASK 0xfu /* type without SOCK_NONBLOCK / SOCK_CLOEXEC */
#define LIVE_AT_FDCWD 0xffffff9cu /* (unsigned)-100 */

#if defined(__x86_64__)
#define LISTEN_ARCH AUDIT_ARCH_X86_64
#define LISTEN_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define LISTEN_ARCH AUDIT_ARCH_AARCH64
#endif

#define ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

#if defined(LISTEN_ARCH)
struct guard_labels {
  int socket, ip_socket, send3, send2, sockopt, seccomp, deny, allow;
};

/* The connect guard's numbers (A holds nr). Its argument checks are guard_blocks(). */
static void guard_dispatch(struct bpf_asm *a, struct guard_labels *l) {
  l->socket = new_label(a), l->ip_socket = new_label(a), l->send3 = new_label(a), l->send2 = new_label(a);
  l->sockopt = new_label(a), l->seccomp = new_label(a), l->deny = new_label(a), l->allow = new_label(a);
  if_eq(a, SYS_connect);
  ret(a, SECCOMP_RET_USER_NOTIF);
  jeq(a, SYS_socket, l->socket, NEXT);
  jeq(a, SYS_sendto, l->send3, NEXT);
  jeq(a, SYS_sendmmsg, l->send3, NEXT);
  jeq(a, SYS_sendmsg, l->send2, NEXT);
  jeq(a, SYS_setsockopt, l->sockopt, NEXT);
  jeq(a, SYS_seccomp, l->seccomp, NEXT);
  /* io_uring's operations never pass through seccomp: ENOSYS, and programs fall back. */
  if_eq(a, SYS_io_uring_setup);
  ret(a, ERRNO(ENOSYS));
  if_eq(a, SYS_io_uring_enter);
  ret(a, ERRNO(ENOSYS));
  if_eq(a, SYS_io_uring_register);
  ret(a, ERRNO(ENOSYS));
}

static void guard_blocks(struct bpf_asm *a, const struct guard_labels *l) {
  /* socket(domain, type, protocol) */
  place(a, l->socket);
  load_arg(a, 0);
  jeq(a, AF_UNIX, l->allow, NEXT);
  jeq(a, AF_NETLINK, l->allow, NEXT);
  jeq(a, AF_INET, l->ip_socket, NEXT);
  jeq(a, AF_INET6, l->ip_socket, l->deny);
  /* a stream, and TCP itself (protocol 0 or IPPROTO_TCP) */
  place(a, l->ip_socket);
  load_arg(a, 1);
  and_k(a, GUARD_SOCK_TYPE_MASK);
  jeq(a, SOCK_STREAM, NEXT, l->deny);
  load_arg(a, 2);
  jeq(a, 0, l->allow, NEXT);
  jeq(a, IPPROTO_TCP, l->allow, l->deny);
  /* sendto, sendmmsg: flags in args[3] */
  place(a, l->send3);
  load_arg(a, 3);
  jset(a, GUARD_MSG_FASTOPEN, l->deny, l->allow);
  /* sendmsg: flags in args[2] */
  place(a, l->send2);
  load_arg(a, 2);
  jset(a, GUARD_MSG_FASTOPEN, l->deny, l->allow);
  /* setsockopt(fd, level, optname, ...) */
  place(a, l->sockopt);
  load_arg(a, 1);
  jeq(a, IPPROTO_TCP, NEXT, l->allow);
  load_arg(a, 2);
  jeq(a, GUARD_TCP_FASTOPEN_CONNECT, l->deny, l->allow);
  /* seccomp(op, flags, args): no listener of its own */
  place(a, l->seccomp);
  load_arg(a, 1);
  jset(a, SECCOMP_FILTER_FLAG_NEW_LISTENER, l->deny, l->allow);
  place(a, l->deny);
  ret(a, ERRNO(EACCES));
  place(a, l->allow);
  ret(a, SECCOMP_RET_ALLOW);
}

struct live_labels {
  int openat_dirfd;
};

/* Live approval's numbers, from the one table of live_approval_filter.h. */
static void live_dispatch(struct bpf_asm *a, struct live_labels *l) {
  l->openat_dirfd = -1;
  struct {
    int nr;
    enum nono_trap_kind kind;
  } const traps[] = {
#define NONO_TRAP_ENTRY(nr, kind) {(nr), (kind)},
      NONO_LIVE_TRAPPED_SYSCALLS(NONO_TRAP_ENTRY)
#undef NONO_TRAP_ENTRY
  };
  for (unsigned i = 0; i < sizeof traps / sizeof traps[0]; i++) {
    if (traps[i].nr < 0) continue; /* not on this architecture */
    switch (traps[i].kind) {
      case NONO_TRAP_ALWAYS:
        if_eq(a, (uint32_t)traps[i].nr);
        ret(a, SECCOMP_RET_USER_NOTIF);
        break;
      case NONO_TRAP_OPENAT_DIRFD:
        if (l->openat_dirfd < 0) l->openat_dirfd = new_label(a);
        jeq(a, (uint32_t)traps[i].nr, l->openat_dirfd, NEXT);
        break;
      default:
        a->err = EINVAL; /* a kind without code: refuse to build */
        return;
    }
  }
}

static void live_blocks(struct bpf_asm *a, const struct live_labels *l) {
  if (l->openat_dirfd < 0) return;
  /* openat(dirfd, path, flags, mode): a read relative to a real directory descriptor goes
   * straight to Landlock (see live_approval_filter.h for why); everything else is a question. */
  int notify = new_label(a);
  place(a, l->openat_dirfd);
  load_arg(a, 0);
  jeq(a, LIVE_AT_FDCWD, notify, NEXT);
  load_arg(a, 2);
  jset(a, NONO_LIVE_OPENAT_WRITE_FLAGS, notify, NEXT);
  ret(a, SECCOMP_RET_ALLOW);
  place(a, notify);
  ret(a, SECCOMP_RET_USER_NOTIF);
}
#endif

int nono_listener_filter_build(unsigned parts, struct sock_filter *out, unsigned cap) {
#if !defined(LISTEN_ARCH)
  (void)parts, (void)out, (void)cap;
  return -ENOSYS; /* fail closed on architectures this filter was not written for */
#else
  if (!parts || (parts & ~(unsigned)(NONO_LISTEN_GUARD | NONO_LISTEN_LIVE))) return -EINVAL;
  struct bpf_asm a = {.out = out, .cap = cap};
  struct guard_labels gl = {-1, -1, -1, -1, -1, -1, -1, -1};
  struct live_labels ll = {-1};
  int native = new_label(&a), nosys = new_label(&a);
  load_arch(&a);
  jeq(&a, LISTEN_ARCH, native, NEXT);
  ret(&a, ERRNO(ENOSYS));
  place(&a, native);
  load_nr(&a);
#ifdef LISTEN_X32_BIT
  jge(&a, LISTEN_X32_BIT, nosys, NEXT);
#endif
  /* Live approval's first: opens are by far the most frequent of the calls named here. */
  if (parts & NONO_LISTEN_LIVE) live_dispatch(&a, &ll);
  if (parts & NONO_LISTEN_GUARD) guard_dispatch(&a, &gl);
  ret(&a, SECCOMP_RET_ALLOW);
  if (parts & NONO_LISTEN_LIVE) live_blocks(&a, &ll);
  if (parts & NONO_LISTEN_GUARD) guard_blocks(&a, &gl);
  place(&a, nosys);
  ret(&a, ERRNO(ENOSYS));
  return finish(&a);
#endif
}

int nono_install_listener_filter(unsigned parts) {
  struct sock_filter f[NONO_LISTENER_MAX_INSNS];
  int n = nono_listener_filter_build(parts, f, NONO_LISTENER_MAX_INSNS);
  if (n < 0) return n;
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
  /* See listener_filter.h: a held open must not become a second question on a caught signal. */
  if (parts & NONO_LISTEN_LIVE) flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  return fd < 0 ? -errno : (int)fd;
}
