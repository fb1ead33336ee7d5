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
#define LIVE_NR_OPEN SYS_open
#define LIVE_NR_CREAT SYS_creat
#elif defined(__aarch64__)
#define LIVE_ARCH AUDIT_ARCH_AARCH64
#define LIVE_NR_OPEN 0xfffffffeu /* no open/creat on arm64: never matches */
#define LIVE_NR_CREAT 0xfffffffdu
#endif

#if defined(LIVE_ARCH)
#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define TO(target, here) ((target) - (here) - 1 + 0 * sizeof(char[(target) > (here) ? 1 : -1]))
#define JEQ(here, k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), TO(t, here), TO(f, here))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define RET_ERRNO(e) RET(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

enum { L_NR = 3, L_NOTIFY = 10, L_NOSYS = 11, L_END = 12 };

static const struct sock_filter live_program[] = {
    /* 0 */ LOAD(offsetof(struct seccomp_data, arch)),
    /* 1 */ JEQ(1, LIVE_ARCH, L_NR, 2),
    /* 2 */ RET_ERRNO(ENOSYS),
    /* 3 = L_NR */ LOAD(offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
    /* 4: x32 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, TO(L_NOSYS, 4), TO(5, 4)),
#else
    /* 4 */ JEQ(4, 0xffffffffu, L_NOSYS, 5), /* keeps the layout; never true */
#endif
    /* 5 */ JEQ(5, SYS_openat, L_NOTIFY, 6),
    /* 6 */ JEQ(6, LIVE_NR_OPEN, L_NOTIFY, 7),
    /* 7 */ JEQ(7, SYS_openat2, L_NOTIFY, 8),
    /* 8 */ JEQ(8, LIVE_NR_CREAT, L_NOTIFY, 9),
    /* 9 */ RET(SECCOMP_RET_ALLOW),
    /* 10 = L_NOTIFY */ RET(SECCOMP_RET_USER_NOTIF),
    /* 11 = L_NOSYS */ RET_ERRNO(ENOSYS),
};
_Static_assert(sizeof live_program / sizeof live_program[0] == L_END, "a label no longer matches the program");
#endif

int nono_install_live_approval_filter(void) {
#if !defined(LIVE_ARCH)
  return -ENOSYS;
#else
  struct sock_fprog prog = {.len = L_END,
                           .filter = (struct sock_filter *)live_program};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
  return fd < 0 ? -errno : (int)fd;
#endif
}
