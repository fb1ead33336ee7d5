/* See backoff_poll.h. */
#include "backoff_poll.h"

#include <stdlib.h>

static void on_retry(uv_timer_t *t) {
  nono_backoff_poll *p = t->data;
  uv_poll_start(p->poll, UV_READABLE, p->cb);
}

int nono_backoff_poll_start(nono_backoff_poll *p, uv_loop_t *loop, int fd, uv_poll_cb cb) {
  p->poll = malloc(sizeof *p->poll);
  p->timer = malloc(sizeof *p->timer);
  int rc = p->poll && p->timer ? uv_poll_init(loop, p->poll, fd) : UV_ENOMEM;
  if (rc != 0) {
    free(p->poll);
    free(p->timer);
    p->poll = NULL;
    p->timer = NULL;
    return rc;
  }
  uv_timer_init(loop, p->timer); /* cannot fail */
  p->timer->data = p;
  p->cb = cb;
  uv_poll_start(p->poll, UV_READABLE, cb);
  uv_unref((uv_handle_t *)p->poll);
  uv_unref((uv_handle_t *)p->timer);
  return 0;
}

void nono_backoff_poll_pause(nono_backoff_poll *p, uint64_t ms) {
  uv_poll_stop(p->poll);
  uv_timer_start(p->timer, on_retry, ms, 0);
}

void nono_backoff_poll_close(nono_backoff_poll *p) {
  if (!p->poll) return;
  uv_poll_stop(p->poll);
  uv_close((uv_handle_t *)p->poll, (uv_close_cb)free);
  uv_timer_stop(p->timer);
  uv_close((uv_handle_t *)p->timer, (uv_close_cb)free);
  p->poll = NULL;
  p->timer = NULL;
}
