/*
 * Serving a seccomp user-notification listener in the supervisor, off Node's event loop: one
 * thread per listener while it is served (so a slow decision for one command never delays
 * another's; threads are parked and reused between commands), which receives each notification
 * and lets a handler decide. A command has one listener (Linux allows one per process), whose
 * handler dispatches by system call number (command_listener.c): connect() to the connect guard,
 * file calls to live approval.
 *
 * A handler answers at once (NONO_NOTIF_ANSWERED: the thread sends its response), or holds the
 * notification (NONO_NOTIF_HELD: live approval while the person is asked) and answers it later
 * from its settle step, which the thread runs when the service's wake descriptor becomes
 * readable, and every NONO_NOTIF_HELD_CHECK_MS while anything is held (to withdraw what nobody
 * waits for any more). A handler that itself waits (the guard's wait for a connection) calls
 * nono_notif_settle_now() between short waits, so a held question's answer is not kept waiting
 * behind it.
 *
 * Rules every handler follows (the target can rewrite its own memory and descriptor table from
 * another thread at any moment):
 *  - decide on a private copy (nono_notif_read_mem), never on the target's memory again;
 *  - act on the object itself (nono_notif_take_fd) and answer with the result, rather than
 *    SECCOMP_USER_NOTIF_FLAG_CONTINUE, whenever what was checked could change before the kernel
 *    re-reads it;
 *  - both helpers confirm with SECCOMP_IOCTL_NOTIF_ID_VALID that the task is still the one that
 *    made the call, so a recycled pid never serves a stranger's memory or descriptors.
 * The threads run without effective capabilities (dropped once per thread): what a handler opens,
 * resolves or connects for a command, it does with the rights of the command's uid, not with
 * root's overrides. The listener fd reaches the supervisor from the vfork child (nono_send_fd /
 * nono_recv_fd); the command never holds it, so it cannot answer its own notifications.
 */
#ifndef NONO_NOTIFY_LISTENER_H
#define NONO_NOTIFY_LISTENER_H

#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

enum { NONO_NOTIF_ANSWERED = 0, NONO_NOTIF_HELD = 1 };

/* While something is held: how often settle looks whether its caller is still waiting. */
#define NONO_NOTIF_HELD_CHECK_MS 200

struct nono_notif_ops {
  /* Decides one notification: fills resp (id already set, error/val/flags zero) and returns
   * NONO_NOTIF_ANSWERED, or keeps req->id and returns NONO_NOTIF_HELD (it answers later). */
  int (*handle)(void *ctx, int listener, const struct seccomp_notif *req, struct seccomp_notif_resp *resp);
  /* Optional (NULL: nothing is ever held). Answers what was decided since, withdraws what nobody
   * waits for any more; with all_gone (the listener is being closed) withdraws everything held.
   * Returns how many notifications are still held. */
  int (*settle)(void *ctx, int all_gone);
  /* Releases ctx, after the listener is closed. */
  void (*free_ctx)(void *ctx);
};

/* Serves LISTENER on a thread of its own (a parked one, or a new detached one) until no process
 * holds the filter any more (the listener reports POLLHUP), then closes it and calls
 * ops->free_ctx(ctx). WAKE (-1: none) is a descriptor the service makes readable when settle has
 * work; it stays the service's (free_ctx closes it). Takes ownership of LISTENER and CTX, also on
 * failure. Returns 0 or an errno. */
int nono_notif_serve(int listener, int wake, const struct nono_notif_ops *ops, void *ctx);

/* For a handler that waits (on the listener's own thread): the wake descriptor of the listener
 * being served (-1: none), and its settle step, run now (a no-op without one). */
int nono_notif_wake_fd(void);
void nono_notif_settle_now(void);

/* How many listeners are being served (tests check that none is left behind). */
int nono_notif_active(void);

/* 0 when this kernel offers what a handler needs (user notifications, pidfd_getfd, pidfds for
 * single threads: Linux >= 6.9); otherwise an errno, and *why names the missing piece. */
int nono_notif_supported(const char **why);

/* The notifying task's descriptor FD, duplicated into this process (close-on-exec): >= 0, or
 * -errno (-ESRCH: the task is gone or no longer waiting; -EPERM: not allowed to take it). */
int nono_notif_take_fd(int listener, const struct seccomp_notif *req, int fd);

/* Copies LEN bytes at ADDR from the notifying task into BUF. 0 or an errno (ESRCH as above). */
int nono_notif_read_mem(int listener, const struct seccomp_notif *req, uint64_t addr, void *buf, size_t len);

/* The same copy without the check that the task is still the caller: for a conclusion that
 * cannot matter if the pid was recycled (one that only ever leads to CONTINUE), or followed by
 * nono_notif_id_valid before anything is decided on it (the read came first, so a valid id then
 * proves it read the caller's memory). 0 or an errno. */
int nono_notif_read_mem_unchecked(const struct seccomp_notif *req, uint64_t addr, void *buf, size_t len);

/* 1 while the notification is still pending (its task alive and waiting), else 0. */
int nono_notif_id_valid(int listener, uint64_t id);

/* Passing a descriptor over a Unix socket (SCM_RIGHTS). Send: async-signal-safe, for the vfork
 * child; 0 or an errno. Receive: non-blocking, close-on-exec; the fd or -errno. */
int nono_send_fd(int sock, int fd);
int nono_recv_fd(int sock);

#endif
