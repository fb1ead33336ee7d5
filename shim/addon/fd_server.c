/*
 * The supervisor's Unix socket, driven by Node's own event loop (uv_poll), because Node's `net`
 * module cannot receive file descriptors (SCM_RIGHTS) nor report the peer's credentials.
 *
 * Framing: every message is a 4-byte little-endian length followed by that many bytes (the JSON
 * payload; see docs/protocol.md). File descriptors travel as SCM_RIGHTS on the bytes of a frame and
 * are handed to JavaScript together with that frame. The JS side owns every fd it receives.
 *
 * JS API:
 *   listen(path, onFrame(connId, peer, payload: Buffer, fds: number[]), onClose(connId, reason))
 *   send(connId, payload: Buffer) -> boolean      closeConn(connId)      closeServer()
 */
#include <errno.h>
#include <fcntl.h>
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

#define MAX_FRAME (1u << 20) /* 1 MiB: argv + env of any sane command fits many times over */
#define MAX_FDS_PER_FRAME 8

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

static struct {
  int fd;
  uv_poll_t *poll; /* heap: uv_close finishes asynchronously, a later listen() gets a new one */
  napi_env env;
  napi_ref on_frame, on_close;
  napi_async_context ctx;
  conn *conns;
  uint32_t next_id;
  int open;
} srv = {.fd = -1};

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
      break;
    }
  }
  for (int i = 0; i < c->nfds; i++) close(c->fds[i]);
  c->nfds = 0;
  uv_poll_stop(&c->poll);
  close(c->fd);
  uint32_t id = c->id;
  uv_close((uv_handle_t *)&c->poll, free_conn);
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

/* Delivers every complete frame in the buffer. Returns 0, or -1 when the connection was dropped. */
static int deliver_frames(conn *c) {
  while (c->len >= 4) {
    uint32_t n = (uint32_t)c->buf[0] | (uint32_t)c->buf[1] << 8 | (uint32_t)c->buf[2] << 16 |
                 (uint32_t)c->buf[3] << 24;
    if (n > MAX_FRAME) {
      drop_conn(c, "frame larger than 1 MiB");
      return -1;
    }
    if (c->len < 4 + (size_t)n) return 0;
    if (c->fds_overflow) {
      drop_conn(c, "too many file descriptors on one frame");
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
    nono_call_from_loop(env, srv.on_frame, srv.ctx, 4, argv);
    napi_close_handle_scope(env, scope);
    if (!find_conn(id)) return -1; /* JS closed it from the callback */
  }
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
    if (c->cap - c->len < 65536) {
      size_t ncap = c->cap ? c->cap * 2 : 65536;
      if (ncap > MAX_FRAME + 4 + 65536) ncap = MAX_FRAME + 4 + 65536;
      if (ncap <= c->cap) {
        drop_conn(c, "frame larger than 1 MiB");
        return;
      }
      uint8_t *nb = realloc(c->buf, ncap);
      if (!nb) {
        drop_conn(c, "out of memory");
        return;
      }
      c->buf = nb;
      c->cap = ncap;
    }
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

static void on_listen_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) return;
  for (;;) {
    int fd = nono_accept(srv.fd);
    if (fd < 0) return; /* EAGAIN, or a transient error: try again on the next wakeup */
    conn *c = calloc(1, sizeof *c);
    if (!c || nono_peer_creds(fd, &c->peer) != 0) {
      free(c);
      close(fd);
      continue;
    }
    c->fd = fd;
    c->id = ++srv.next_id;
    c->poll.data = c;
    uv_loop_t *loop;
    napi_get_uv_event_loop(srv.env, &loop);
    uv_poll_init(loop, &c->poll, fd);
    uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_conn_readable);
    c->next = srv.conns;
    srv.conns = c;
  }
}

napi_value nono_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    nono_throw(env, "listen(path, onFrame, onClose)");
    return NULL;
  }
  if (srv.open) {
    nono_throw(env, "the supervisor socket is already listening in this process");
    return NULL;
  }
  char *path = nono_get_bytes(env, argv[0], "socket path");
  if (!path) return NULL;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    free(path);
    nono_throw(env, "socket path too long for a Unix socket (max 107 bytes)");
    return NULL;
  }
  strcpy(addr.sun_path, path);
  free(path);
  int fd = nono_socket(AF_UNIX, SOCK_STREAM, 1);
  if (fd < 0) {
    nono_throw_errno(env, "socket", errno);
    return NULL;
  }
  /* The directory is 0700; the socket itself is also owner-only so that other users' processes
   * cannot even connect. */
  mode_t old = umask(0177);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  int e = errno;
  umask(old);
  if (rc != 0 || listen(fd, 256) != 0) {
    if (rc == 0) e = errno;
    close(fd);
    nono_throw_errno(env, "cannot listen on the supervisor socket", e);
    return NULL;
  }
  srv.fd = fd;
  srv.env = env;
  napi_create_reference(env, argv[1], 1, &srv.on_frame);
  napi_create_reference(env, argv[2], 1, &srv.on_close);
  napi_value name;
  napi_create_string_utf8(env, "nono:supervisor-socket", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &srv.ctx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  srv.poll = malloc(sizeof *srv.poll);
  uv_poll_init(loop, srv.poll, fd);
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
  if (napi_get_buffer_info(env, argv[1], &data, &n) != napi_ok) {
    nono_throw(env, "send(connId, Buffer)");
    return NULL;
  }
  conn *c = find_conn(id);
  bool ok = false;
  if (c && n <= MAX_FRAME) {
    uint8_t hdr[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    struct iovec iov[2] = {{hdr, 4}, {data, n}};
    size_t want = 4 + n, sent = 0;
    /* Replies are a few dozen bytes; a full socket buffer means the client stopped reading, and
     * blocking briefly on it is cheaper than a write queue. */
    int flags = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
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
      ssize_t r = sendmsg(c->fd, &msg, NONO_MSG_NOSIGNAL);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      sent += (size_t)r;
    }
    fcntl(c->fd, F_SETFL, flags);
    ok = sent == want;
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
  while (srv.conns) drop_conn(srv.conns, NULL);
  uv_poll_stop(srv.poll);
  uv_close((uv_handle_t *)srv.poll, (uv_close_cb)free);
  srv.poll = NULL;
  close(srv.fd);
  srv.fd = -1;
  napi_delete_reference(env, srv.on_frame);
  napi_delete_reference(env, srv.on_close);
  napi_async_destroy(env, srv.ctx);
  srv.on_frame = srv.on_close = NULL;
  srv.open = 0;
  return NULL;
}
