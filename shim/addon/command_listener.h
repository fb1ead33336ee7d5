/*
 * A command's one seccomp listener (Linux allows one per process), shared by the connect guard
 * of proxy mode and live approval:
 *  1. nono_cmd_listener_plan (supervisor, before vfork): which parts, and a socketpair to hand the
 *     listener over.
 *  2. nono_cmd_listener_child (vfork child, after the sandbox and the guard's Landlock layer):
 *     installs the composed filter (shim/listener_filter.h) and sends the listener to the
 *     supervisor; the command never holds it.
 *  3. nono_cmd_listener_start (supervisor, after the vfork returned): receives it and serves it on
 *     one pooled thread (notify_listener.h) that dispatches by system call number: connect() to
 *     the guard (answered at once), file calls to live approval (which may hold them). An error
 *     here means the command must be killed: its notifications would never be answered.
 * One thread per command means one call at a time is being decided: while the guard waits for a
 * blocking connect to complete (connect_guard.c, wait_connected), answers to held opens are still
 * given (it settles every 100 ms slice and at once on the wake descriptor), but the command's
 * next notification (another thread's open or connect) is received only after that connect
 * completes, fails or times out. The guard connects only to loopback (the proxy accepts at once),
 * so this is a slow local listener's accept, bounded by the socket's own timeout or the kernel's
 * connect timeout. Waiting for the connection on another thread would lift it.
 */
#ifndef NONO_COMMAND_LISTENER_H
#define NONO_COMMAND_LISTENER_H

#include <node_api.h>

#include "connect_guard.h"
#include "live_approval.h"

struct nono_cmd_listener {
  unsigned parts; /* NONO_LISTEN_* (listener_filter.h); 0: no listener for this command */
  int sock[2];    /* [0] the supervisor's end, [1] the child's */
};

/* The parts G and L enable; a socketpair when there is any. 1, or 0 after throwing. */
int nono_cmd_listener_plan(napi_env env, struct nono_cmd_listener *c, const struct nono_connect_guard *g,
                           const struct nono_live_plan *l);
/* vfork child. Async-signal-safe. 0, or an errno and *step. */
int nono_cmd_listener_child(const struct nono_cmd_listener *c, const char **step);
/* Supervisor: receives and serves the listener; takes what the live plan holds. 0 or an errno. */
int nono_cmd_listener_start(struct nono_cmd_listener *c, const struct nono_connect_guard *g, struct nono_live_plan *l);
void nono_cmd_listener_close(struct nono_cmd_listener *c);

#endif
