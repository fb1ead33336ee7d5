/*
 * The session proxy's tunnel relay: once a CONNECT or SOCKS tunnel is approved and its upstream
 * connected, the supervisor hands both TCP sockets here and the bytes move between them with
 * splice(2) through one pipe per direction, inside the kernel. Node's stream pipe copies every
 * chunk into and out of JS buffers and reached only ~0.4x of a direct download (npm run bench,
 * part 3); splice never copies the payload into user space.
 *
 * One thread per tunnel (detached, 64 KiB stack, all signals blocked), not a pool: tunnels are
 * capped by the proxy (maxConnections, 256 by default), a thread costs tens of microseconds
 * against a TCP connect plus a TLS handshake, and a blocking poll() loop per tunnel keeps each
 * tunnel's state in one place, so one tunnel's stall can never delay another.
 *
 * Semantics kept from the Node pipe (src/supervisor/network/tunnel.ts):
 *  - a FIN is passed on: at EOF from one side (and once its bytes are written) the other side
 *    gets shutdown(SHUT_WR); the other direction carries on until its own EOF;
 *  - an error on either side (reset, write failure) ends both: both are reset;
 *  - no traffic either way for idleMs ends both (reset);
 *  - relayStop(id) ends both (reset; the proxy closing).
 * The bytes Node had already read (or that must precede the relay, e.g. the head of the tunnel)
 * are passed in and written first, so the handoff loses and reorders nothing.
 *
 * JS: relayStart(fdA, fdB, toA: Buffer, toB: Buffer, idleMs, onDone(reason|null, aToB, bToA)) -> id
 *     relayStop(id); relayActive() -> number of relays still running.
 * The fds are duplicated here (F_DUPFD_CLOEXEC), so the caller then closes its own without
 * touching the connection: the kernel only ends a TCP connection when its last descriptor goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addon.h"
#include "napi_util.h"

#define RELAY_PIPE_SIZE (1 << 20) /* fewer wakeups per MB; falls back to the default 64 KiB */

struct direction {
  int src, dst;
  int pipe[2];
  size_t in_pipe;   /* bytes read from src, not yet written to dst */
  uint8_t *head;    /* bytes to write to dst before anything read from src */
  size_t head_len, head_off;
  int eof;          /* src said EOF */
  int shut;         /* dst got shutdown(SHUT_WR) */
  uint64_t bytes;
};

struct relay {
  int64_t id;
  int fd[2];
  int stop; /* eventfd: relayStop() */
  int idle_ms;
  struct direction d[2]; /* d[0]: A -> B, d[1]: B -> A */
  napi_threadsafe_function done;
  const char *reason; /* NULL: both directions ended normally */
  int stopping;       /* set by relayStop, seen between two pumps even when the poll never waits */
  struct relay *next;
};

struct outcome {
  const char *reason;
  double a_to_b, b_to_a;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct relay *registry;
static int64_t next_id = 1;
static int active;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves what it can without blocking. Returns 1 if any byte or EOF moved, 0 if nothing could,
 * or -errno on a failure that ends the tunnel. */
static int pump(struct direction *d) {
  int moved = 0;
  for (;;) {
    int progress = 0;
    while (d->head_off < d->head_len) {
      ssize_t n = send(d->dst, d->head + d->head_off, d->head_len - d->head_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return moved;
        return -errno;
      }
      d->head_off += (size_t)n;
      d->bytes += (uint64_t)n;
      progress = 1;
    }
    while (d->in_pipe > 0) {
      ssize_t n = splice(d->pipe[0], NULL, d->dst, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return moved | progress;
        return -errno;
      }
      d->in_pipe -= (size_t)n;
      d->bytes += (uint64_t)n;
      progress = 1;
    }
    /* Read only into an empty pipe: then EAGAIN can only mean "src has nothing now" (a pipe with
     * free bytes may still be out of slots, which would make poll() report src readable forever). */
    if (!d->eof) {
      ssize_t n = splice(d->src, NULL, d->pipe[1], NULL, RELAY_PIPE_SIZE, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return -errno;
      } else if (n == 0) {
        d->eof = 1;
        progress = 1;
      } else {
        d->in_pipe = (size_t)n;
        progress = 1;
        continue; /* write it out right away */
      }
    }
    if (d->eof && !d->shut) {
      /* Everything src sent is written: pass its FIN on. ENOTCONN: dst is already gone, which
       * the other direction reports. */
      shutdown(d->dst, SHUT_WR);
      d->shut = 1;
      progress = 1;
    }
    moved |= progress;
    if (!progress || d->shut) return moved;
  }
}

static void call_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  struct outcome *o = data;
  if (env && js_cb && !nono_env_gone) {
    napi_value argv[3], undefined;
    if (o->reason) napi_create_string_utf8(env, o->reason, NAPI_AUTO_LENGTH, &argv[0]);
    else napi_get_null(env, &argv[0]);
    napi_create_double(env, o->a_to_b, &argv[1]);
    napi_create_double(env, o->b_to_a, &argv[2]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, js_cb, 3, argv, NULL);
  }
  free(o);
}

static const char *describe(int err) {
  switch (err) {
    case ECONNRESET: return "connection reset";
    case EPIPE: return "connection closed while writing";
    case ETIMEDOUT: return "connection timed out";
    default: return "connection failed";
  }
}

static void *relay_thread(void *arg) {
  struct relay *r = arg;
  int64_t last = now_ms();
  while (!r->reason) {
    if (__atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE)) {
      r->reason = "stopped";
      break;
    }
    int moved = 0;
    for (int i = 0; i < 2 && !r->reason; i++) {
      int rc = pump(&r->d[i]);
      if (rc < 0) r->reason = describe(-rc);
      moved |= rc > 0;
    }
    if (r->reason) break;
    if (r->d[0].shut && r->d[1].shut) break; /* both FINs passed on: done */
    if (moved) {
      last = now_ms();
      continue;
    }
    /* Wait only on what can make progress: a descriptor with no interest would report POLLHUP
     * forever (e.g. the fully closed side while the other side's buffer is full). */
    struct pollfd p[3] = {{.fd = -1}, {.fd = -1}, {.fd = r->stop, .events = POLLIN}};
    for (int i = 0; i < 2; i++) {
      struct direction *d = &r->d[i];
      int src = i, dst = 1 - i;
      if (d->head_off < d->head_len || d->in_pipe > 0) p[dst].events |= POLLOUT;
      else if (!d->eof) p[src].events |= POLLIN;
    }
    for (int i = 0; i < 2; i++)
      if (p[i].events) p[i].fd = r->fd[i];
    int timeout = -1;
    if (r->idle_ms > 0) {
      int64_t left = last + r->idle_ms - now_ms();
      if (left <= 0) {
        r->reason = "idle timeout";
        break;
      }
      timeout = left > INT32_MAX ? INT32_MAX : (int)left;
    }
    int n = poll(p, 3, timeout);
    if (n < 0 && errno != EINTR) r->reason = "poll failed";
    else if (n > 0 && p[2].revents) r->reason = "stopped";
  }
  /* Our descriptors are the connections' last: closing them ends both. After an error, the idle
   * timeout or a stop, both peers get a reset, not a FIN: a FIN would make a cut-off transfer
   * look complete to a peer that reads until EOF. */
  if (r->reason)
    for (int i = 0; i < 2; i++) setsockopt(r->fd[i], SOL_SOCKET, SO_LINGER, &(struct linger){1, 0}, sizeof(struct linger));
  pthread_mutex_lock(&registry_lock);
  for (struct relay **pp = &registry; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  pthread_mutex_unlock(&registry_lock);
  for (int i = 0; i < 2; i++) {
    close(r->fd[i]);
    close(r->d[i].pipe[0]);
    close(r->d[i].pipe[1]);
    free(r->d[i].head);
  }
  close(r->stop);
  struct outcome *o = malloc(sizeof *o);
  if (o) {
    *o = (struct outcome){r->reason, (double)r->d[0].bytes, (double)r->d[1].bytes};
    if (napi_call_threadsafe_function(r->done, o, napi_tsfn_blocking) != napi_ok) free(o);
  }
  napi_release_threadsafe_function(r->done, napi_tsfn_release);
  free(r);
  __atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void free_relay_fds(struct relay *r) {
  for (int i = 0; i < 2; i++) {
    if (r->fd[i] >= 0) close(r->fd[i]);
    for (int k = 0; k < 2; k++)
      if (r->d[i].pipe[k] >= 0) close(r->d[i].pipe[k]);
    free(r->d[i].head);
  }
  if (r->stop >= 0) close(r->stop);
}

static int copy_buffer(napi_env env, napi_value v, uint8_t **out, size_t *len) {
  bool is_buffer = false;
  napi_is_buffer(env, v, &is_buffer);
  if (!is_buffer) return 0;
  void *data;
  napi_get_buffer_info(env, v, &data, len);
  *out = NULL;
  if (*len == 0) return 1;
  if (!(*out = malloc(*len))) return 0;
  memcpy(*out, data, *len);
  return 1;
}

napi_value nono_relay_start(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd_a, fd_b, idle_ms;
  napi_valuetype cb_type = napi_undefined;
  if (argc == 6) napi_typeof(env, argv[5], &cb_type);
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd_a) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fd_b) != napi_ok || napi_get_value_int32(env, argv[4], &idle_ms) != napi_ok ||
      cb_type != napi_function) {
    nono_throw(env, "relayStart(fdA, fdB, toA: Buffer, toB: Buffer, idleMs, onDone)");
    return NULL;
  }
  struct relay *r = calloc(1, sizeof *r);
  if (!r) {
    nono_throw_errno(env, "relayStart", ENOMEM);
    return NULL;
  }
  r->fd[0] = r->fd[1] = r->stop = -1;
  for (int i = 0; i < 2; i++) r->d[i].pipe[0] = r->d[i].pipe[1] = -1;
  r->idle_ms = idle_ms;
  const char *what = "relayStart: toA and toB must be Buffers";
  int err = 0;
  /* d[0] (A -> B) writes toB first; d[1] (B -> A) writes toA first. */
  if (!copy_buffer(env, argv[3], &r->d[0].head, &r->d[0].head_len) ||
      !copy_buffer(env, argv[2], &r->d[1].head, &r->d[1].head_len)) {
    free_relay_fds(r);
    free(r);
    nono_throw(env, what);
    return NULL;
  }
  int src[2] = {fd_a, fd_b};
  for (int i = 0; i < 2 && !err; i++) {
    /* Ours to close; Node's own fd is closed by the caller, which leaves the connection alone. */
    if ((r->fd[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0) what = "relayStart: dup", err = errno;
    else if (fcntl(r->fd[i], F_SETFL, fcntl(r->fd[i], F_GETFL) | O_NONBLOCK) != 0) what = "relayStart: O_NONBLOCK", err = errno;
    else if (pipe2(r->d[i].pipe, O_CLOEXEC | O_NONBLOCK) != 0) what = "relayStart: pipe", err = errno;
    else fcntl(r->d[i].pipe[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE); /* best effort */
  }
  if (!err && (r->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) what = "relayStart: eventfd", err = errno;
  if (!err) {
    int sotype = 0;
    socklen_t len = sizeof sotype;
    for (int i = 0; i < 2 && !err; i++)
      if (getsockopt(r->fd[i], SOL_SOCKET, SO_TYPE, &sotype, &len) != 0 || sotype != SOCK_STREAM)
        what = "relayStart: not a stream socket", err = errno ? errno : ENOTSOCK;
  }
  r->d[0].src = r->fd[0], r->d[0].dst = r->fd[1];
  r->d[1].src = r->fd[1], r->d[1].dst = r->fd[0];
  napi_value name;
  napi_create_string_utf8(env, "nono:relay", NAPI_AUTO_LENGTH, &name);
  if (!err && napi_create_threadsafe_function(env, argv[5], NULL, name, 0, 1, NULL, NULL, NULL, call_done, &r->done) != napi_ok)
    what = "relayStart: threadsafe function", err = ENOMEM;
  if (err) {
    free_relay_fds(r);
    free(r);
    nono_throw_errno(env, what, err);
    return NULL;
  }
  pthread_mutex_lock(&registry_lock);
  r->id = next_id++;
  r->next = registry;
  registry = r;
  pthread_mutex_unlock(&registry_lock);
  int64_t id = r->id;

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024); /* a few locals; no recursion */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* Node's signal handlers stay on Node's threads */
  __atomic_add_fetch(&active, 1, __ATOMIC_SEQ_CST);
  pthread_t t;
  err = pthread_create(&t, &attr, relay_thread, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (err) {
    __atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&registry_lock);
    for (struct relay **pp = &registry; *pp; pp = &(*pp)->next)
      if (*pp == r) {
        *pp = r->next;
        break;
      }
    pthread_mutex_unlock(&registry_lock);
    napi_release_threadsafe_function(r->done, napi_tsfn_abort);
    free_relay_fds(r);
    free(r);
    nono_throw_errno(env, "relayStart: thread", err);
    return NULL;
  }
  napi_value result;
  napi_create_int64(env, id, &result);
  return result;
}

napi_value nono_relay_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t id = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int64(env, argv[0], &id) != napi_ok) {
    nono_throw(env, "relayStop(id)");
    return NULL;
  }
  uint64_t one = 1;
  pthread_mutex_lock(&registry_lock);
  /* Under the lock: a relay leaves the registry before it closes its eventfd. */
  for (struct relay *r = registry; r; r = r->next)
    if (r->id == id) {
      __atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
      if (write(r->stop, &one, sizeof one) < 0) { /* EAGAIN: already woken */
      }
    }
  pthread_mutex_unlock(&registry_lock);
  return NULL;
}

napi_value nono_relay_active(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, __atomic_load_n(&active, __ATOMIC_SEQ_CST), &v);
  return v;
}
