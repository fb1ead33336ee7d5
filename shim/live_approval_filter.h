/*
 * Live approval's part of the command's one seccomp filter with a listener (shim/listener_filter.h
 * builds and installs it; the decisions are shim/addon/live_approval.c): the file system calls
 * below become user notifications for the supervisor. The command cannot answer them: it never
 * holds the listener, and the kernel refuses any further listener in a chain that has one (EBUSY),
 * so it cannot install its own either.
 *
 * The table is the ONE list of trapped file system calls: adding a call is one line here (and, if
 * some architecture lacks it, one NONO_NR_ fallback to -1 below); the filter builder and the interpreter
 * test (test/seccomp-filter.test.ts) take it from here. The handler must then know the call too
 * (live_approval.c: a call it does not know is left to Landlock, SECCOMP_USER_NOTIF_FLAG_CONTINUE).
 *
 * Kinds:
 *  NONO_TRAP_ALWAYS       every call is a notification.
 *  NONO_TRAP_OPENAT_DIRFD openat: a notification unless it is a read relative to a real directory
 *                         descriptor (args[0] != AT_FDCWD, flags without O_WRONLY, O_RDWR, O_CREAT,
 *                         O_TRUNC, O_TMPFILE). Why: tree walkers (grep -r, find, git, fts, ripgrep)
 *                         open every file relative to a directory descriptor, and a notification
 *                         costs ~10-20 us of two context switches each, which made `grep -r` over
 *                         10,000 files several times slower. Such a read is not lost to the
 *                         sandbox: Landlock still decides it in the kernel, and a denial is found
 *                         afterwards (Landlock's audit record, or the command's stderr) and
 *                         re-run with a grant as without live approval; it is only not held for a
 *                         question. Writes and creates relative to a directory stay trapped; an
 *                         absolute path with a directory descriptor (which ignores it) is treated
 *                         the same as a relative one, since the filter cannot read the path.
 */
#ifndef NONO_LIVE_APPROVAL_FILTER_H
#define NONO_LIVE_APPROVAL_FILTER_H

#include <sys/syscall.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
/* Calls some architectures lack (arm64 has only the *at forms): -1, which the builder skips. */
#ifdef SYS_open
#define NONO_NR_open SYS_open
#else
#define NONO_NR_open (-1)
#endif
#ifdef SYS_creat
#define NONO_NR_creat SYS_creat
#else
#define NONO_NR_creat (-1)
#endif
#ifdef SYS_mkdir
#define NONO_NR_mkdir SYS_mkdir
#else
#define NONO_NR_mkdir (-1)
#endif
#ifdef SYS_mknod
#define NONO_NR_mknod SYS_mknod
#else
#define NONO_NR_mknod (-1)
#endif
#ifdef SYS_unlink
#define NONO_NR_unlink SYS_unlink
#else
#define NONO_NR_unlink (-1)
#endif
#ifdef SYS_rmdir
#define NONO_NR_rmdir SYS_rmdir
#else
#define NONO_NR_rmdir (-1)
#endif
#ifdef SYS_rename
#define NONO_NR_rename SYS_rename
#else
#define NONO_NR_rename (-1)
#endif
#ifdef SYS_renameat
#define NONO_NR_renameat SYS_renameat
#else
#define NONO_NR_renameat (-1)
#endif
#ifdef SYS_link
#define NONO_NR_link SYS_link
#else
#define NONO_NR_link (-1)
#endif
#ifdef SYS_symlink
#define NONO_NR_symlink SYS_symlink
#else
#define NONO_NR_symlink (-1)
#endif

enum nono_trap_kind { NONO_TRAP_ALWAYS, NONO_TRAP_OPENAT_DIRFD };

/* X(number, kind): the trapped file system calls, in the order the filter tests them (the most
 * frequent first: openat is nearly every open today): the open family, and what creates, removes,
 * renames, links or truncates a name (shim/addon/live_ops.c classifies each). */
#define NONO_LIVE_TRAPPED_SYSCALLS(X)    \
  X(SYS_openat, NONO_TRAP_OPENAT_DIRFD)  \
  X(NONO_NR_open, NONO_TRAP_ALWAYS)      \
  X(SYS_openat2, NONO_TRAP_ALWAYS)       \
  X(NONO_NR_creat, NONO_TRAP_ALWAYS)     \
  X(SYS_mkdirat, NONO_TRAP_ALWAYS)       \
  X(NONO_NR_mkdir, NONO_TRAP_ALWAYS)     \
  X(SYS_unlinkat, NONO_TRAP_ALWAYS)      \
  X(NONO_NR_unlink, NONO_TRAP_ALWAYS)    \
  X(NONO_NR_rmdir, NONO_TRAP_ALWAYS)     \
  X(SYS_renameat2, NONO_TRAP_ALWAYS)     \
  X(NONO_NR_renameat, NONO_TRAP_ALWAYS)  \
  X(NONO_NR_rename, NONO_TRAP_ALWAYS)    \
  X(SYS_linkat, NONO_TRAP_ALWAYS)        \
  X(NONO_NR_link, NONO_TRAP_ALWAYS)      \
  X(SYS_symlinkat, NONO_TRAP_ALWAYS)     \
  X(NONO_NR_symlink, NONO_TRAP_ALWAYS)   \
  X(SYS_mknodat, NONO_TRAP_ALWAYS)       \
  X(NONO_NR_mknod, NONO_TRAP_ALWAYS)     \
  X(SYS_truncate, NONO_TRAP_ALWAYS)

/* Open flags that make an openat relative to a directory descriptor a notification after all
 * (O_ACCMODE's write bits, creating, truncating; 020000000 is __O_TMPFILE, the bit of O_TMPFILE
 * without O_DIRECTORY). The same values on x86_64 and arm64. */
#define NONO_LIVE_OPENAT_WRITE_FLAGS (01u | 02u | 0100u | 01000u | 020000000u)

#endif
