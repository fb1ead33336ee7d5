/*
 * The seccomp filter of a command whose network is "proxy mode" (the connect guard): a second
 * filter stacked on top of the ordinary one (seccomp_filter.h), so it is self-contained and does
 * not depend on which mode the ordinary filter was given.
 *
 *  - connect() is not decided here: it returns SECCOMP_RET_USER_NOTIF, and the supervisor
 *    (shim/addon/connect_guard.c) decides and performs it.
 *  - socket(): AF_UNIX and AF_NETLINK as usual; AF_INET/AF_INET6 only as TCP streams (no UDP,
 *    so no DNS of its own, no raw/ICMP, no SCTP/MPTCP); every other family refused. The proxy
 *    resolves names for the command.
 *  - Connections that would not pass through connect(): TCP Fast Open (MSG_FASTOPEN on
 *    sendto/sendmsg/sendmmsg, TCP_FASTOPEN_CONNECT) and io_uring (whose operations skip seccomp).
 *  - seccomp(..., SECCOMP_FILTER_FLAG_NEW_LISTENER, ...): a filter the command installs itself
 *    is evaluated before ours, and its listener would receive the connect notification instead
 *    of the supervisor and could let it through. Filters without a listener are harmless.
 *
 * Refusals are EACCES (what Landlock returns), io_uring gets ENOSYS (programs fall back to
 * ordinary system calls on it).
 */
#ifndef NONO_CONNECT_GUARD_FILTER_H
#define NONO_CONNECT_GUARD_FILTER_H

/* Installs the filter in the calling process (no_new_privs must be set) and returns the new
 * listener descriptor (close-on-exec), or -errno. Async-signal-safe: one seccomp() call on a
 * constant program. */
int nono_install_connect_guard_filter(void);

#endif
