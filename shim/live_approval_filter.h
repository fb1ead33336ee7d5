/*
 * The seccomp filter of live approval (shim/addon/live_approval.h): a filter stacked on the
 * ordinary one that turns the open family (open, openat, openat2, creat)
 * (and the calls that create, remove, rename, link or truncate a name) into user notifications
 * for the supervisor. The command cannot answer them: it never holds the listener, and the kernel
 * refuses any further listener in a chain that has one (EBUSY), so it cannot install its own
 * either. (The same rule means a command cannot have this filter and the connect guard's at once:
 * both need a listener.) Installed with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: once the
 * supervisor has received a notification, only a fatal signal interrupts the wait, so an open
 * does not turn into a second question when the command catches a signal while the person is
 * being asked.
 */
#ifndef NONO_LIVE_APPROVAL_FILTER_H
#define NONO_LIVE_APPROVAL_FILTER_H

/* Installs the filter (no_new_privs must be set); returns the listener (close-on-exec) or
 * -errno. Async-signal-safe: one seccomp() call on a constant program. */
int nono_install_live_approval_filter(void);

#endif
