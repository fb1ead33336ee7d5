/*
 * The seccomp filter every sandboxed command (and the agent's own sandbox) gets: what Landlock
 * (ABI 7) does not cover, refused in the kernel before it runs. The full list, with the reason
 * for each entry, is the rule table at the top of seccomp_filter.c; in short:
 *  - other system call interfaces the filter cannot see into: io_uring (its IORING_OP_SOCKET and
 *    IORING_OP_SENDMSG with MSG_FASTOPEN reached TCP listeners under "TCP blocked"), the i386 and
 *    x32 ABIs, and system call numbers newer than this filter (ENOSYS, as an older kernel would);
 *  - kernel-held secrets: the keyring calls (keyctl, add_key, request_key);
 *  - kernel attack surface no shell command needs: new namespaces (clone/unshare with any
 *    CLONE_NEW* flag, setns, clone3 whose flags seccomp cannot read), userfaultfd, perf, bpf,
 *    modules, kexec, mounting, personality flags such as ADDR_NO_RANDOMIZE, terminal input
 *    injection (TIOCSTI, TIOCLINUX), address families other than Unix, IPv4/IPv6 and netlink;
 *  - prlimit64 on another process (a command could set the agent's limits near zero);
 *  - when TCP is restricted, the TCP paths Landlock's port rules do not see: listen() on an
 *    unbound socket, MPTCP/SMC/SCTP and other non-TCP stream protocols, TCP Fast Open.
 */
#ifndef NONO_SECCOMP_FILTER_H
#define NONO_SECCOMP_FILTER_H

#include <linux/filter.h>

enum nono_net_filter {
  NONO_NET_FILTER_NONE = 0, /* network open: only the process and kernel-surface rules */
  /* TCP fully blocked: no IPv4/IPv6 stream sockets at all, and nothing but datagrams. */
  NONO_NET_FILTER_NO_TCP = 1,
  /* Some TCP ports allowed (Landlock decides per port): refuse only what bypasses Landlock. */
  NONO_NET_FILTER_PORTS = 2,
};

/* Room for the program: it is about 200 instructions; the kernel accepts up to 4096. */
#define NONO_SECCOMP_MAX_INSNS 512

/*
 * Writes the filter program for MODE (a NONO_NET_FILTER_* value) into OUT, which has room for CAP
 * instructions. Returns the number of instructions, or a negative errno: -EINVAL for an unknown
 * mode or a malformed rule table, -E2BIG if it does not fit, -ENOSYS on an architecture the
 * filter was not written for. Pure computation on the caller's buffer (no allocation, no system
 * call): safe in a vfork child. nono-seccomp-dump prints exactly these bytes for the tests.
 */
int nono_seccomp_build(int mode, struct sock_filter *out, unsigned cap);

/*
 * Builds the program on the stack and installs it in the calling process (no_new_privs must be
 * set). Async-signal-safe. Returns 0 or an errno; on any error nothing is installed and the
 * caller must not run the command.
 */
int nono_install_seccomp_filter(enum nono_net_filter mode);

#endif
