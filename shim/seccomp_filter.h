/*
 * The seccomp filter every sandboxed command gets, for what Landlock (ABI 7) does not cover:
 *  - prlimit64 on another process (same uid needs no capability): a command could otherwise set
 *    the agent's or the supervisor's open-file limit near zero. Only pid 0 (itself) is allowed.
 *  - the TCP paths Landlock's network rules do not see (below).
 * Landlock checks bind() and connect() of TCP sockets; measured here (test/security), these still
 * got through: listen() on an unbound socket (the kernel binds an ephemeral port itself), MPTCP
 * sockets, TCP Fast Open (sendto with MSG_FASTOPEN, TCP_FASTOPEN_CONNECT), and SCTP, which
 * Landlock does not cover at all.
 */
#ifndef NONO_SECCOMP_FILTER_H
#define NONO_SECCOMP_FILTER_H

enum nono_net_filter {
  NONO_NET_FILTER_NONE = 0, /* network open: only the process rules */
  /* TCP fully blocked: no IPv4/IPv6 stream sockets at all, no MPTCP, no SCTP. */
  NONO_NET_FILTER_NO_TCP = 1,
  /* Some TCP ports allowed (Landlock decides per port): refuse only what bypasses Landlock. */
  NONO_NET_FILTER_PORTS = 2,
};

/* Installs the filter in the calling process (no_new_privs must be set). Async-signal-safe: one
 * prctl with a filter built on the stack. Returns 0 or an errno. */
int nono_install_seccomp_filter(enum nono_net_filter mode);

#endif
