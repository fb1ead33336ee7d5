/*
 * The one seccomp filter with a listener a command gets (Linux allows one listener per process:
 * a second SECCOMP_FILTER_FLAG_NEW_LISTENER in the chain fails with EBUSY), stacked on the
 * ordinary filter (seccomp_filter.h) and self-contained, so it does not depend on the mode the
 * ordinary one was given. It is generated from its parts, each optional:
 *
 * NONO_LISTEN_GUARD, the connect guard of proxy mode (shim/addon/connect_guard.h):
 *  - connect() is not decided here: it returns SECCOMP_RET_USER_NOTIF, and the supervisor decides
 *    and performs it.
 *  - socket(): AF_UNIX and AF_NETLINK as usual; AF_INET/AF_INET6 only as TCP streams (no UDP, so
 *    no DNS of its own, no raw/ICMP, no SCTP/MPTCP); every other family refused. The proxy
 *    resolves names for the command.
 *  - Connections that would not pass through connect(): TCP Fast Open (MSG_FASTOPEN on
 *    sendto/sendmsg/sendmmsg, TCP_FASTOPEN_CONNECT) and io_uring (whose operations skip seccomp).
 *  - seccomp(..., SECCOMP_FILTER_FLAG_NEW_LISTENER, ...): refused in the filter as well as by the
 *    kernel's one-listener rule, so a command never gets a listener of its own that would see the
 *    connect notification first.
 *  Refusals are EACCES (what Landlock returns), io_uring gets ENOSYS (programs fall back to
 *  ordinary system calls on it).
 *
 * NONO_LISTEN_LIVE, live approval (shim/addon/live_approval.h): the file system calls of
 * live_approval_filter.h's table become notifications (with that file's exemption for reads
 * relative to a directory descriptor).
 *
 * Both: one program, one listener; the supervisor's one thread for the command dispatches by
 * system call number (shim/addon/command_listener.c). With live approval the filter is installed
 * with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: once the supervisor has received a notification,
 * only a fatal signal interrupts the wait, so an open does not turn into a second question when the
 * command catches a signal while the person is being asked. That holds for a guarded connect() of
 * the same command too: a caught signal is then handled once the connect is answered (at the
 * latest when the socket's own timeout or the kernel's connect timeout ends it; the guard only
 * connects to loopback).
 */
#ifndef NONO_LISTENER_FILTER_H
#define NONO_LISTENER_FILTER_H

#include <linux/filter.h>

enum { NONO_LISTEN_GUARD = 1u, NONO_LISTEN_LIVE = 2u };

/* Room for the program: a few dozen instructions. */
#define NONO_LISTENER_MAX_INSNS 128

/* Writes the program for PARTS (NONO_LISTEN_* bits, at least one) into OUT (room for CAP).
 * Returns the number of instructions or -errno (-EINVAL: no or unknown part; -E2BIG; -ENOSYS on
 * an architecture it was not written for). Pure computation: safe in a vfork child. */
int nono_listener_filter_build(unsigned parts, struct sock_filter *out, unsigned cap);

/* Builds and installs it (no_new_privs must be set); returns the listener (close-on-exec) or
 * -errno. Async-signal-safe. */
int nono_install_listener_filter(unsigned parts);

#endif
