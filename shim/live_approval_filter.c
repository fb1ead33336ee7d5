/* See live_approval_filter.h. Classic BPF over struct seccomp_data. */
#include "live_approval_filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5) /* Linux 5.19 */
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#if defined(__x86_64__)
#define LIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define LIVE_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(LIVE_ARCH)
/* The trapped calls: the open family, and what creates, removes, renames, links or truncates a
 * name (shim/addon/live_ops.c classifies each). arm64 has only the *at forms. */
static const unsigned live_syscalls[] = {
    SYS_openat, SYS_openat2, SYS_mkdirat, SYS_mknodat, SYS_unlinkat, SYS_renameat2, SYS_linkat, SYS_symlinkat,
    SYS_truncate,
#ifdef SYS_renameat
    SYS_renameat,
#endif
#if defined(__x86_64__)
    SYS_open, SYS_creat, SYS_mkdir, SYS_mknod, SYS_unlink, SYS_rmdir, SYS_rename, SYS_link, SYS_symlink,
#endif
};
#define N_LIVE (sizeof live_syscalls / sizeof live_syscalls[0])

#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define RET_ERRNO(e) RET(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

/* Layout: 0 load arch; 1 arch?; 2 ENOSYS; 3 load nr; 4 x32 -> NOSYS; 5.. one JEQ per trapped
 * call -> NOTIFY; ALLOW; NOTIFY; NOSYS. */
enum { L_FIRST = 5, L_ALLOW = L_FIRST + N_LIVE, L_NOTIFY, L_NOSYS, L_END };
#endif
int nono_install_live_approval_filter(void) {
#if !defined(LIVE_ARCH)
  return -ENOSYS;
#else
  /* Built on the stack: plain stores, async-signal-safe in the vfork child. */
  struct sock_filter f[L_END];
  f[0] = (struct sock_filter)LOAD(offsetof(struct seccomp_data, arch));
  f[1] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, LIVE_ARCH, 1, 0);
  f[2] = (struct sock_filter)RET_ERRNO(ENOSYS);
  f[3] = (struct sock_filter)LOAD(offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  f[4] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, L_NOSYS - 5, 0); /* x32 */
#else
  f[4] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0);
#endif
  for (unsigned i = 0; i < N_LIVE; i++)
    f[L_FIRST + i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, live_syscalls[i], (unsigned char)(L_NOTIFY - (L_FIRST + i) - 1), 0);
  f[L_ALLOW] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
  f[L_NOTIFY] = (struct sock_filter)RET(SECCOMP_RET_USER_NOTIF);
  f[L_NOSYS] = (struct sock_filter)RET_ERRNO(ENOSYS);
  _Static_assert(L_END < 250, "jump offsets must fit in a byte");
  struct sock_fprog prog = {.len = L_END, .filter = f};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
  return fd < 0 ? -errno : (int)fd;
#endif
}
