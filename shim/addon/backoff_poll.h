/*
 * Watching a socket whose readiness can fail persistently (accept() out of descriptors, a receive
 * error): libuv's poll is level-triggered, so a descriptor that stays "ready" while every attempt
 * fails would wake the loop again at once and spin it at 100% CPU. nono_backoff_poll_pause() stops
 * watching and watches again after a delay. Used by both handshake listeners (datagram and stream);
 * the supervisor socket (fd_server.c) has its own, with a reserve descriptor and a connection cap.
 * The handles never keep Node alive on their own.
 */
#ifndef NONO_BACKOFF_POLL_H
#define NONO_BACKOFF_POLL_H

#include <stdint.h>
#include <uv.h>

typedef struct nono_backoff_poll {
  uv_poll_t *poll;
  uv_timer_t *timer;
  uv_poll_cb cb;
} nono_backoff_poll;

/* Allocates both handles and starts watching FD for readability: 0, or a negative uv error (then
 * nothing is left allocated and FD is untouched). */
int nono_backoff_poll_start(nono_backoff_poll *p, uv_loop_t *loop, int fd, uv_poll_cb cb);

/* Stops watching; watches again after MS milliseconds. */
void nono_backoff_poll_pause(nono_backoff_poll *p, uint64_t ms);

/* Stops and frees both handles (FD is the caller's to close). */
void nono_backoff_poll_close(nono_backoff_poll *p);

#endif
