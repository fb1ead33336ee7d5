/*
 * The interposer's handshake over a stream socket: each process that loaded the interposer
 * connects, writes "v1\t<its executable>", and closes. The sender's pid comes from the kernel
 * (peer_creds.h: LOCAL_PEERPID on macOS, SO_PEERCRED on Linux), never from the payload, so a
 * process cannot claim to be another. This is the macOS handshake (macOS has no credentials on
 * datagrams, handshake_listener.c's way); Linux builds it too so that it is tested there.
 *
 * JS: listenHandshakeStream(path, onMessage(pid, uid, payload)); closeHandshakeStream()
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"
#include "backoff_poll.h"
#include "napi_util.h"
#include "unix_socket.h"
#include "peer_creds.h"
#include "portable.h"

#define MAX_MESSAGE 4200 /* "v1\t" + PATH_MAX (1024 on macOS, 4096 on Linux) + slack */
#define MAX_PENDING 256  /* connections being read at once; more are dropped (warning only) */
#define ACCEPT_BACKOFF_MS 100 /* listener pause after an accept() that failed (out of descriptors...) */

typedef struct hs_conn {
  uv_poll_t poll;
  int fd;
  struct nono_peer peer;
  size_t len;
  char buf[MAX_MESSAGE];
} hs_conn;

static struct {
  int fd;
  nono_backoff_poll watch;
  napi_env env;
  napi_ref on_message;
  napi_async_context ctx;
  int pending;
} hs = {.fd = -1};

static void free_conn(uv_handle_t *h) {
  hs_conn *c = h->data;
  close(c->fd);
  free(c);
  hs.pending--;
}

static void deliver(hs_conn *c) {
  if (nono_env_gone || !hs.on_message) return;
  napi_env env = hs.env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3];
  napi_create_int32(env, c->peer.pid, &argv[0]);
  napi_create_uint32(env, c->peer.uid, &argv[1]);
  void *data;
  napi_create_buffer_copy(env, c->len, c->buf, &data, &argv[2]);
  nono_call_from_loop(env, hs.on_message, hs.ctx, 3, argv);
  napi_close_handle_scope(env, scope);
}

/* Reads until the sender closes; a message is delivered only once complete. */
static void on_conn_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  hs_conn *c = h->data;
  for (;;) {
    if (status < 0) break;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n == 0) deliver(c); /* end of message */
    if (n > 0) {
      c->len += (size_t)n;
      if (c->len < sizeof c->buf) continue; /* too long: dropped below */
    }
    break;
  }
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, free_conn);
}

static void on_listen_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) {
    nono_backoff_poll_pause(&hs.watch, ACCEPT_BACKOFF_MS);
    return;
  }
  for (;;) {
    int fd = nono_accept(hs.fd);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      /* EMFILE and the like leave the connection pending: polling again now would only spin. */
      if (errno != EAGAIN && errno != EWOULDBLOCK) nono_backoff_poll_pause(&hs.watch, ACCEPT_BACKOFF_MS);
      return;
    }
    hs_conn *c = hs.pending < MAX_PENDING ? calloc(1, sizeof *c) : NULL;
    uv_loop_t *loop;
    napi_get_uv_event_loop(hs.env, &loop);
    if (!c || nono_peer_creds(fd, &c->peer) != 0 || uv_poll_init(loop, &c->poll, fd) != 0) {
      free(c);
      close(fd);
      continue;
    }
    hs.pending++;
    c->fd = fd;
    c->poll.data = c;
    uv_poll_start(&c->poll, UV_READABLE | UV_DISCONNECT, on_conn_readable);
    uv_unref((uv_handle_t *)&c->poll);
  }
}

napi_value nono_listen_handshake_stream(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) {
    nono_throw(env, "listenHandshakeStream(path, onMessage)");
    return NULL;
  }
  if (hs.fd >= 0) {
    nono_throw(env, "the handshake socket is already listening in this process");
    return NULL;
  }
  struct sockaddr_un addr;
  if (!nono_unix_addr_from_js(env, argv[0], "handshake socket path", &addr)) return NULL;
  /* Any process of the user may say it loaded the interposer; other users may not connect. */
  int fd = nono_listen_private(&addr);
  if (fd < 0) {
    nono_throw_errno(env, "bind/listen handshake socket", -fd);
    return NULL;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int err = nono_backoff_poll_start(&hs.watch, loop, fd, on_listen_readable); /* unref'd */
  if (err != 0) {
    close(fd);
    nono_throw_errno(env, "cannot watch the handshake socket", -err);
    return NULL;
  }
  hs.fd = fd;
  hs.env = env;
  napi_create_reference(env, argv[1], 1, &hs.on_message);
  napi_value name;
  napi_create_string_utf8(env, "nono:handshake", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &hs.ctx);
  return NULL;
}

napi_value nono_close_handshake_stream(napi_env env, napi_callback_info info) {
  (void)info;
  if (hs.fd < 0) return NULL;
  nono_backoff_poll_close(&hs.watch);
  close(hs.fd);
  hs.fd = -1;
  napi_delete_reference(env, hs.on_message);
  hs.on_message = NULL;
  napi_async_destroy(env, hs.ctx);
  return NULL;
}
