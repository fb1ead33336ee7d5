/*
 * Serving a seccomp user-notification listener in the supervisor, off Node's event loop: one
 * thread per listener while it is served (so a slow decision for one command never delays
 * another's; threads are parked and reused between commands),
 * which receives each notification, lets a handler decide, and sends the answer. Shared by the
 * connect guard (connect_guard.c) and meant for the live approval of file operations.
 *
 * Rules every handler follows (the target can rewrite its own memory and descriptor table from
 * another thread at any moment):
 *  - decide on a private copy (nono_notif_read_mem), never on the target's memory again;
 *  - act on the object itself (nono_notif_take_fd) and answer with the result, rather than
 *    SECCOMP_USER_NOTIF_FLAG_CONTINUE, whenever what was checked could change before the kernel
 *    re-reads it;
 *  - both helpers confirm with SECCOMP_IOCTL_NOTIF_ID_VALID that the task is still the one that
 *    made the call, so a recycled pid never serves a stranger's memory or descriptors.
 * The listener fd reaches the supervisor from the vfork child (nono_send_fd / nono_recv_fd); the
 * command never holds it, so it cannot answer its own notifications.
 */
#ifndef NONO_NOTIFY_LISTENER_H
#define NONO_NOTIFY_LISTENER_H

#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

/* Fills resp (id already set, error/val/flags zero) for one notification. */
typedef void (*nono_notif_handler)(void *ctx, int listener, const struct seccomp_notif *req,
                                   struct seccomp_notif_resp *resp);

/* Serves LISTENER on a thread of its own (a parked one, or a new detached one) until no process holds the filter any more (the
 * listener reports POLLHUP), then closes it and calls free_ctx(ctx). Takes ownership of both,
 * also on failure. Returns 0 or an errno. */
int nono_notif_serve(int listener, nono_notif_handler handler, void *ctx, void (*free_ctx)(void *));

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

/* 1 while the notification is still pending (its task alive and waiting), else 0. */
int nono_notif_id_valid(int listener, uint64_t id);

/* Passing a descriptor over a Unix socket (SCM_RIGHTS). Send: async-signal-safe, for the vfork
 * child; 0 or an errno. Receive: non-blocking, close-on-exec; the fd or -errno. */
int nono_send_fd(int sock, int fd);
int nono_recv_fd(int sock);

#endif
