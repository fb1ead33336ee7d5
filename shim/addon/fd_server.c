/*
 * The supervisor's Unix socket, driven by Node's own event loop (uv_poll), because Node's `net`
 * module cannot receive file descriptors (SCM_RIGHTS) nor report the peer's credentials.
 *
 * Framing: every message is a 4-byte little-endian length followed by that many bytes (the JSON
 * payload; see docs/protocol.md). File descriptors travel as SCM_RIGHTS on the bytes of a frame and
 * are handed to JavaScript together with that frame. The JS side owns every fd it receives.
 *
 * JS API:
 *   listen(path, onFrame(connId, peer, payload: Buffer, fds: number[]), onClose(connId, reason),
 *          {maxConnections, refusals: {busy, exhausted, fdsLost}: Buffer payloads, onRefused(reason)})
 *   send(connId, payload: Buffer) -> boolean      closeConn(connId)      closeServer()
 *
 * Running short of resources never spins and never leaves a client waiting without an answer:
 *  - a client over maxConnections gets the `busy` reply (nono-shell prints it and exits 126);
 *  - when accept() fails for lack of descriptors (EMFILE/ENFILE), a reserve descriptor is given up
 *    to accept one pending client and send it the `exhausted` reply, and the listener stops being
 *    polled (it is level-triggered: a pending connection that cannot be accepted would wake the
 *    loop forever) until a connection or refusal ends or ACCEPT_BACKOFF_MS passes; other accept
 *    failures (ENOBUFS, ENOMEM...) pause it the same way;
 *  - descriptors that could not be received with a frame (MSG_CTRUNC) get the `fdsLost` reply.
 * A refused client's connection is kept (write side shut) until it has sent its whole first
 * frame, closed, or REFUSAL_TIMEOUT_MS passed: nono-shell sends one frame right after connecting,
 * and closing before it is done would fail its send (EPIPE) with a vaguer message than the reply,
 * which it reads from its own receive queue even after this side is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"
#include "peer_creds.h"
#include "portable.h"
#include "napi_util.h"
#include "unix_socket.h"

#define MAX_FRAME (1u << 20) /* 1 MiB: argv + env of any sane command fits many times over */
#define MAX_FDS_PER_FRAME 8
/* A run request is a few KiB: a connection starts with this much and grows to the size its frame
 * announces; the buffer is freed once the frame is delivered (a running command's connection
 * then only carries tiny signal frames). */
#define FIRST_BUF 4096
#define MAX_REFUSING 8          /* refusals being answered at once; more wait in the backlog */
#define REFUSAL_TIMEOUT_MS 500 /* a refused client that neither sends nor closes is dropped */
#define ACCEPT_BACKOFF_MS 100   /* listener pause after an accept() that failed for resources */

typedef struct conn {
  uint32_t id;
  int fd;
  uv_poll_t poll;
  uint8_t *buf;
  size_t len, cap;
  int fds[MAX_FDS_PER_FRAME];
  int nfds;
  int fds_overflow; /* more fds arrived than a frame may carry */
  struct nono_peer peer;
  struct conn *next;
} conn;

/* A client that is answered with a refusal and then let go (see the top comment). */
typedef struct refusal {
  int fd;
  uv_poll_t poll;
  uv_timer_t timer;
  int handles;    /* handles still to be closed before the struct is freed */
  uint8_t hdr[4]; /* the client's first frame header, to know when it has sent all of it */
  size_t got;     /* bytes of that frame drained so far */
  struct refusal *next;
} refusal;

/* A refusal reply, framed (4-byte length + payload) once at listen(). */
typedef struct {
  uint8_t *data;
  size_t len;
} framed;

static struct {
  int fd;
  int reserve;     /* /dev/null, given up to accept one client when descriptors run out */
  uv_poll_t *poll; /* heap: uv_close finishes asynchronously, a later listen() gets a new one */
  uv_timer_t *backoff;
  int paused; /* the listener is not polled (see the top comment) */
  napi_env env;
  napi_ref on_frame, on_close, on_refused;
  napi_async_context ctx;
  conn *conns;
  uint32_t nconns, max_conns;
  refusal *refusing;
  int nrefusing;
  framed busy, exhausted, fds_lost;
  uint32_t next_id;
  int open;
} srv = {.fd = -1, .reserve = -1};

static void resume_listener(void);
static int send_all(int fd, const uint8_t *hdr_and_data, size_t n, const uint8_t *more, size_t more_len);

static conn *find_conn(uint32_t id) {
  for (conn *c = srv.conns; c; c = c->next)
    if (c->id == id) return c;
  return NULL;
}

static void free_conn(uv_handle_t *h) {
  conn *c = h->data;
  free(c->buf);
  free(c);
}

/* Unlinks and closes a connection; tells JS why unless JS asked for it. */
static void drop_conn(conn *c, const char *reason) {
  for (conn **p = &srv.conns; *p; p = &(*p)->next) {
    if (*p == c) {
      *p = c->next;
      srv.nconns--;
      break;
    }
  }
  for (int i = 0; i < c->nfds; i++) close(c->fds[i]);
  c->nfds = 0;
  uv_poll_stop(&c->poll);
  close(c->fd);
  uint32_t id = c->id;
  uv_close((uv_handle_t *)&c->poll, free_conn);
  resume_listener(); /* descriptors were just freed */
  if (reason && srv.on_close && !nono_env_gone) {
    napi_handle_scope scope;
    napi_open_handle_scope(srv.env, &scope);
    napi_value argv[2];
    napi_create_uint32(srv.env, id, &argv[0]);
    napi_create_string_utf8(srv.env, reason, NAPI_AUTO_LENGTH, &argv[1]);
    nono_call_from_loop(srv.env, srv.on_close, srv.ctx, 2, argv);
    napi_close_handle_scope(srv.env, scope);
  }
}

static void collect_fds(conn *c, struct msghdr *msg) {
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *fds = (int *)CMSG_DATA(cm);
    for (size_t i = 0; i < n; i++) {
      if (c->nfds < MAX_FDS_PER_FRAME) {
#if !defined(__linux__)
        fcntl(fds[i], F_SETFD, FD_CLOEXEC); /* no MSG_CMSG_CLOEXEC: set it on arrival */
#endif
        c->fds[c->nfds++] = fds[i];
      } else {
        close(fds[i]);
        c->fds_overflow = 1;
      }
    }
  }
}

static uint32_t frame_len(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Delivers every complete frame in the buffer. Returns 0, or -1 when the connection was dropped. */
static int deliver_frames(conn *c) {
  while (c->len >= 4) {
    uint32_t n = frame_len(c->buf);
    if (n > MAX_FRAME) {
      drop_conn(c, "frame larger than 1 MiB");
      return -1;
    }
    if (c->len < 4 + (size_t)n) return 0;
    if (c->fds_overflow) {
      /* More descriptors than a frame may carry, or ones the kernel could not install here
       * (EMFILE): the command cannot run with what arrived, and the client is told why. */
      send_all(c->fd, srv.fds_lost.data, srv.fds_lost.len, NULL, 0);
      drop_conn(c, "file descriptors sent with the frame could not be received (too many, or the supervisor is out of descriptors)");
      return -1;
    }
    if (nono_env_gone) {
      drop_conn(c, NULL); /* nobody left to hand the frame to */
      return -1;
    }
    uint32_t id = c->id;
    napi_env env = srv.env;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value argv[4], peer, v, payload;
    napi_create_uint32(env, id, &argv[0]);
    napi_create_object(env, &peer);
    napi_create_int32(env, c->peer.pid, &v);
    napi_set_named_property(env, peer, "pid", v);
    napi_create_uint32(env, c->peer.uid, &v);
    napi_set_named_property(env, peer, "uid", v);
    napi_create_uint32(env, c->peer.gid, &v);
    napi_set_named_property(env, peer, "gid", v);
    argv[1] = peer;
    void *data;
    napi_create_buffer_copy(env, n, c->buf + 4, &data, &payload);
    argv[2] = payload;
    napi_create_array_with_length(env, (size_t)c->nfds, &argv[3]);
    for (int i = 0; i < c->nfds; i++) {
      napi_create_int32(env, c->fds[i], &v);
      napi_set_element(env, argv[3], (uint32_t)i, v);
    }
    c->nfds = 0; /* ownership moves to JS */
    memmove(c->buf, c->buf + 4 + n, c->len - 4 - n);
    c->len -= 4 + (size_t)n;
    if (c->len == 0) { /* the usual case: nothing more until a signal frame; give the buffer back */
      free(c->buf);
      c->buf = NULL;
      c->cap = 0;
    }
    nono_call_from_loop(env, srv.on_frame, srv.ctx, 4, argv);
    napi_close_handle_scope(env, scope);
    if (!find_conn(id)) return -1; /* JS closed it from the callback */
  }
  return 0;
}

/* Makes room to read: FIRST_BUF, or the whole frame whose header is in. 0, or -1 when dropped. */
static int make_room(conn *c) {
  size_t need = FIRST_BUF;
  if (c->len >= 4) {
    uint32_t n = frame_len(c->buf);
    if (n > MAX_FRAME) {
      drop_conn(c, "frame larger than 1 MiB");
      return -1;
    }
    if (4 + (size_t)n > need) need = 4 + (size_t)n;
  }
  if (c->cap >= need && c->cap > c->len) return 0;
  uint8_t *nb = realloc(c->buf, need);
  if (!nb) {
    drop_conn(c, "out of memory");
    return -1;
  }
  c->buf = nb;
  c->cap = need;
  return 0;
}

static void on_conn_readable(uv_poll_t *h, int status, int events) {
  conn *c = h->data;
  if (status < 0) {
    drop_conn(c, "socket error");
    return;
  }
  (void)events;
  for (;;) {
    if (make_room(c) < 0) return;
    char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_FRAME)];
    struct iovec iov = {.iov_base = c->buf + c->len, .iov_len = c->cap - c->len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = sizeof cbuf};
    ssize_t r = recvmsg(c->fd, &msg, NONO_MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      drop_conn(c, "socket error");
      return;
    }
    collect_fds(c, &msg);
    if (msg.msg_flags & MSG_CTRUNC) c->fds_overflow = 1;
    if (r == 0) {
      drop_conn(c, c->len ? "connection closed in the middle of a frame" : "peer closed");
      return;
    }
    c->len += (size_t)r;
    if (deliver_frames(c) < 0) return;
  }
}

/* Writes a whole frame (header and payload may be split in two parts), blocking for at most
 * about a second: replies are a few dozen bytes, and a full socket buffer means the client
 * stopped reading; blocking briefly on it is cheaper than a write queue. Returns 1 when all of
 * it was written. */
static int send_all(int fd, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
  struct iovec iov[2] = {{(void *)a, a_len}, {(void *)b, b_len}};
  size_t want = a_len + b_len, sent = 0;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return 0;
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  struct timeval tv = {.tv_sec = 1};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  while (sent < want) {
    struct msghdr msg = {0};
    struct iovec cur[2];
    int k = 0;
    size_t skip = sent;
    for (int i = 0; i < 2; i++) {
      if (skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        continue;
      }
      cur[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
      cur[k].iov_len = iov[i].iov_len - skip;
      skip = 0;
      k++;
    }
    msg.msg_iov = cur;
    msg.msg_iovlen = (size_t)k;
    ssize_t r = sendmsg(fd, &msg, NONO_MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    sent += (size_t)r;
  }
  fcntl(fd, F_SETFL, flags);
  return sent == want;
}

/* ---- refusals ---------------------------------------------------------------------------- */

static void free_refusal(uv_handle_t *h) {
  refusal *r = h->data;
  if (--r->handles == 0) free(r);
}

static void end_refusal(refusal *r) {
  for (refusal **p = &srv.refusing; *p; p = &(*p)->next) {
    if (*p == r) {
      *p = r->next;
      srv.nrefusing--;
      break;
    }
  }
  uv_poll_stop(&r->poll);
  uv_timer_stop(&r->timer);
  close(r->fd);
  uv_close((uv_handle_t *)&r->poll, free_refusal);
  uv_close((uv_handle_t *)&r->timer, free_refusal);
  resume_listener();
}

static void on_refusal_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  refusal *r = h->data;
  if (status < 0) {
    end_refusal(r);
    return;
  }
  /* Whatever the client sent is discarded: recv() without a control buffer makes the kernel drop
   * any descriptors that came with it, so this costs no descriptor. */
  for (;;) {
    char sink[4096];
    ssize_t n = recv(r->fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) break; /* the client read the reply and went away, or the socket failed */
    size_t k = 0;
    while (k < (size_t)n && r->got < 4) r->hdr[r->got++] = (uint8_t)sink[k++];
    r->got += (size_t)n - k;
    /* All of its first frame is in: it now only waits for the reply. */
    if (r->got >= 4 && r->got >= 4 + (size_t)frame_len(r->hdr)) break;
  }
  end_refusal(r);
}

static void on_refusal_timeout(uv_timer_t *t) { end_refusal(t->data); }

static void tell_refused(const char *why) {
  if (!srv.on_refused || nono_env_gone) return;
  napi_handle_scope scope;
  napi_open_handle_scope(srv.env, &scope);
  napi_value arg;
  napi_create_string_utf8(srv.env, why, NAPI_AUTO_LENGTH, &arg);
  nono_call_from_loop(srv.env, srv.on_refused, srv.ctx, 1, &arg);
  napi_close_handle_scope(srv.env, scope);
}

/* Answers an accepted client with `reply` and keeps its socket until it has read it. Takes fd. */
static void refuse_client(int fd, const framed *reply, const char *why) {
  uv_loop_t *loop;
  napi_get_uv_event_loop(srv.env, &loop);
  refusal *r = calloc(1, sizeof *r);
  int sent = send_all(fd, reply->data, reply->len, NULL, 0);
  if (!r || !sent || shutdown(fd, SHUT_WR) != 0 || uv_poll_init(loop, &r->poll, fd) != 0) {
    /* No way to wait for the client: it still sees the connection end (nono-shell: 126). */
    close(fd);
    free(r);
    tell_refused(why);
    return;
  }
  r->fd = fd;
  r->poll.data = r;
  r->timer.data = r;
  r->handles = 2;
  uv_timer_init(loop, &r->timer); /* cannot fail */
  uv_poll_start(&r->poll, UV_READABLE | UV_DISCONNECT, on_refusal_readable);
  uv_timer_start(&r->timer, on_refusal_timeout, REFUSAL_TIMEOUT_MS, 0);
  r->next = srv.refusing;
  srv.refusing = r;
  srv.nrefusing++;
  tell_refused(why);
}

/* ---- the listener ------------------------------------------------------------------------ */

static void on_listen_readable(uv_poll_t *h, int status, int events);

static void on_backoff(uv_timer_t *t) {
  (void)t;
  resume_listener();
}

static void pause_listener(uint64_t retry_ms) {
  if (!srv.paused) {
    uv_poll_stop(srv.poll);
    srv.paused = 1;
  }
  if (retry_ms) uv_timer_start(srv.backoff, on_backoff, retry_ms, 0);
}

/* Polls the listener again (after a backoff, or when a connection or refusal freed something),
 * with the reserve descriptor taken back first. Stays paused while MAX_REFUSING are answered. */
static void resume_listener(void) {
  if (!srv.open) return;
  if (srv.reserve < 0) srv.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!srv.paused || srv.nrefusing >= MAX_REFUSING) return;
  uv_timer_stop(srv.backoff);
  srv.paused = 0;
  uv_poll_start(srv.poll, UV_READABLE, on_listen_readable);
}

static void on_listen_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) {
    pause_listener(ACCEPT_BACKOFF_MS);
    return;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(srv.env, &loop);
  for (;;) {
    if (srv.nrefusing >= MAX_REFUSING) {
      pause_listener(0); /* resumed when one of them ends */
      return;
    }
    int fd = nono_accept(srv.fd);
    if (fd < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return;
      if (e == EINTR || e == ECONNABORTED) continue;
      if ((e == EMFILE || e == ENFILE) && srv.reserve >= 0) {
        close(srv.reserve);
        srv.reserve = -1; /* taken back by resume_listener() */
        int rfd = nono_accept(srv.fd);
        if (rfd >= 0) refuse_client(rfd, &srv.exhausted, "out of file descriptors");
        if (!srv.open) return; /* closed from the onRefused callback */
      }
      /* EMFILE, ENFILE, ENOBUFS, ENOMEM or anything unexpected: the pending connection stays
       * pending, so polling again now would only spin. */
      pause_listener(ACCEPT_BACKOFF_MS);
      return;
    }
    if (srv.nconns >= srv.max_conns) {
      refuse_client(fd, &srv.busy, "too many connections");
      if (!srv.open) return; /* closed from the onRefused callback */
      continue;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c || nono_peer_creds(fd, &c->peer) != 0 ||
        uv_poll_init(loop, &c->poll, fd) != 0) {
      free(c);
      close(fd); /* the client sees its connection end: nono-shell exits 126 */
      continue;
    }
    c->fd = fd;
    c->id = ++srv.next_id;
    c->poll.data = c;
    uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_conn_readable);
    c->next = srv.conns;
    srv.conns = c;
    srv.nconns++;
  }
}

/* Copies a JS Buffer into a framed reply. 0 after throwing. */
static int read_reply(napi_env env, napi_value obj, const char *key, framed *out) {
  napi_value v = nono_get_prop(env, obj, key);
  bool is_buffer = false;
  void *data;
  size_t n = 0;
  if (!v || napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, v, &data, &n) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "listen: refusals.%s must be a Buffer", key);
    nono_throw(env, msg);
    return 0;
  }
  if (n > 4096) { /* sent without waiting: it must fit a socket buffer */
    nono_throw(env, "listen: a refusal reply must be at most 4096 bytes");
    return 0;
  }
  out->data = malloc(4 + n);
  if (!out->data) {
    nono_throw(env, "out of memory");
    return 0;
  }
  out->data[0] = (uint8_t)n;
  out->data[1] = (uint8_t)(n >> 8);
  out->data[2] = (uint8_t)(n >> 16);
  out->data[3] = (uint8_t)(n >> 24);
  memcpy(out->data + 4, data, n);
  out->len = 4 + n;
  return 1;
}

static void free_replies(void) {
  framed *all[] = {&srv.busy, &srv.exhausted, &srv.fds_lost};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    free(all[i]->data);
    all[i]->data = NULL;
    all[i]->len = 0;
  }
}

/* Reads listen()'s fourth argument. 0 after throwing. */
static int read_limits(napi_env env, napi_value o) {
  int64_t max = 0;
  if (!nono_get_int64(env, o, "maxConnections", &max, 0)) return 0;
  if (max < 1 || max > 65536) {
    nono_throw(env, "listen: maxConnections must be between 1 and 65536");
    return 0;
  }
  srv.max_conns = (uint32_t)max;
  napi_value refusals = nono_get_prop(env, o, "refusals");
  if (!refusals) {
    nono_throw(env, "listen: refusals {busy, exhausted, fdsLost} are required");
    return 0;
  }
  if (!read_reply(env, refusals, "busy", &srv.busy) || !read_reply(env, refusals, "exhausted", &srv.exhausted) ||
      !read_reply(env, refusals, "fdsLost", &srv.fds_lost)) {
    free_replies();
    return 0;
  }
  return 1;
}

napi_value nono_listen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    nono_throw(env, "listen(path, onFrame, onClose, {maxConnections, refusals, onRefused})");
    return NULL;
  }
  if (srv.open) {
    nono_throw(env, "the supervisor socket is already listening in this process");
    return NULL;
  }
  struct sockaddr_un addr;
  if (!nono_unix_addr_from_js(env, argv[0], "socket path", &addr)) return NULL;
  if (!read_limits(env, argv[3])) return NULL;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  srv.poll = malloc(sizeof *srv.poll);
  srv.backoff = malloc(sizeof *srv.backoff);
  int reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!srv.poll || !srv.backoff || reserve < 0) {
    int e = reserve < 0 ? errno : ENOMEM;
    free(srv.poll);
    free(srv.backoff);
    srv.poll = NULL;
    srv.backoff = NULL;
    if (reserve >= 0) close(reserve);
    free_replies();
    nono_throw_errno(env, "cannot set up the supervisor socket", e);
    return NULL;
  }
  int fd = nono_listen_private(&addr); /* owner-only: other users' processes cannot connect */
  int e = fd < 0 ? -fd : 0;
  int rc = fd < 0 ? -1 : uv_poll_init(loop, srv.poll, fd);
  if (fd >= 0 && rc != 0) e = -rc;
  if (rc != 0) {
    if (fd >= 0) close(fd);
    close(reserve);
    free(srv.poll);
    free(srv.backoff);
    srv.poll = NULL;
    srv.backoff = NULL;
    free_replies();
    nono_throw_errno(env, "cannot listen on the supervisor socket", e);
    return NULL;
  }
  uv_timer_init(loop, srv.backoff); /* cannot fail */
  srv.fd = fd;
  srv.reserve = reserve;
  srv.env = env;
  srv.nconns = 0;
  srv.paused = 0;
  napi_create_reference(env, argv[1], 1, &srv.on_frame);
  napi_create_reference(env, argv[2], 1, &srv.on_close);
  napi_value on_refused = nono_get_prop(env, argv[3], "onRefused");
  srv.on_refused = NULL;
  if (on_refused) napi_create_reference(env, on_refused, 1, &srv.on_refused);
  napi_value name;
  napi_create_string_utf8(env, "nono:supervisor-socket", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &srv.ctx);
  uv_poll_start(srv.poll, UV_READABLE, on_listen_readable);
  srv.open = 1;
  return NULL;
}

napi_value nono_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id = 0;
  napi_get_value_uint32(env, argv[0], &id);
  void *data;
  size_t n = 0;
  if (argc < 2 || napi_get_buffer_info(env, argv[1], &data, &n) != napi_ok) {
    nono_throw(env, "send(connId, Buffer)");
    return NULL;
  }
  if (n > MAX_FRAME) { /* never cut short: a reply that does not fit the protocol is a bug */
    nono_throw(env, "send: a reply larger than 1 MiB does not fit the protocol");
    return NULL;
  }
  conn *c = find_conn(id);
  bool ok = false;
  if (c) {
    uint8_t hdr[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    ok = send_all(c->fd, hdr, 4, data, n);
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

napi_value nono_close_conn(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id = 0;
  napi_get_value_uint32(env, argv[0], &id);
  conn *c = find_conn(id);
  if (c) drop_conn(c, NULL);
  return NULL;
}

napi_value nono_close_server(napi_env env, napi_callback_info info) {
  (void)info;
  if (!srv.open) return NULL;
  srv.open = 0; /* first: nothing below may resume the listener */
  while (srv.conns) drop_conn(srv.conns, NULL);
  while (srv.refusing) end_refusal(srv.refusing);
  uv_poll_stop(srv.poll);
  uv_close((uv_handle_t *)srv.poll, (uv_close_cb)free);
  srv.poll = NULL;
  uv_timer_stop(srv.backoff);
  uv_close((uv_handle_t *)srv.backoff, (uv_close_cb)free);
  srv.backoff = NULL;
  close(srv.fd);
  srv.fd = -1;
  if (srv.reserve >= 0) close(srv.reserve);
  srv.reserve = -1;
  free_replies();
  napi_delete_reference(env, srv.on_frame);
  napi_delete_reference(env, srv.on_close);
  if (srv.on_refused) napi_delete_reference(env, srv.on_refused);
  napi_async_destroy(env, srv.ctx);
  srv.on_frame = srv.on_close = srv.on_refused = NULL;
  return NULL;
}
