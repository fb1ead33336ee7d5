/*
 * The interposer's handshake: every process that loads libnono-interpose.so sends one datagram
 * ("v1\t<exe>") to this socket from its constructor. The kernel attaches the sender's real pid
 * (SO_PASSCRED), so a process cannot claim to be another. `nono run` uses it to learn whether the
 * agent really loaded the interposer (hardened runtimes, static and setuid binaries do not).
 *
 * JS: listenHandshake(path, onMessage(pid, uid, payload: Buffer)); closeHandshake()
 *
 * A datagram longer than the interposer ever sends is dropped whole, never cut short: a truncated
 * executable path would name the wrong program. A receive error other than "nothing left" pauses
 * the socket for a moment instead of waking the loop again at once (level-triggered poll).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"
#include "backoff_poll.h"
#include "napi_util.h"
#include "unix_socket.h"

/* "v1\t" + readlink(/proc/self/exe), which the interposer caps below PATH_MAX (interpose.c). */
#define MAX_HANDSHAKE (3 + PATH_MAX)
#define ERROR_BACKOFF_MS 100

static struct {
  int fd;
  nono_backoff_poll watch;
  napi_env env;
  napi_ref on_message;
  napi_async_context ctx;
} hs = {.fd = -1};

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0) {
    nono_backoff_poll_pause(&hs.watch, ERROR_BACKOFF_MS);
    return;
  }
  for (;;) {
    char buf[MAX_HANDSHAKE + 1]; /* one byte more: a datagram that fills it is too long */
    char cbuf[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n = recvmsg(hs.fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) nono_backoff_poll_pause(&hs.watch, ERROR_BACKOFF_MS);
      return; /* drained, or retried after the pause */
    }
    if ((msg.msg_flags & MSG_TRUNC) || (size_t)n > MAX_HANDSHAKE) continue; /* not from our interposer */
    struct ucred *cred = NULL;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) cred = (struct ucred *)CMSG_DATA(cm);
    if (!cred || nono_env_gone) continue; /* cannot vouch for the sender, or nobody to tell */
    napi_handle_scope scope;
    napi_open_handle_scope(hs.env, &scope);
    napi_value argv[3];
    void *data;
    napi_create_int32(hs.env, cred->pid, &argv[0]);
    napi_create_uint32(hs.env, cred->uid, &argv[1]);
    napi_create_buffer_copy(hs.env, (size_t)n, buf, &data, &argv[2]);
    nono_call_from_loop(hs.env, hs.on_message, hs.ctx, 3, argv);
    napi_close_handle_scope(hs.env, scope);
    if (hs.fd < 0) return; /* closed from the callback */
  }
}

napi_value nono_listen_handshake(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) {
    nono_throw(env, "listenHandshake(path, onMessage)");
    return NULL;
  }
  if (hs.fd >= 0) {
    nono_throw(env, "the handshake socket is already open in this process");
    return NULL;
  }
  struct sockaddr_un addr;
  if (!nono_unix_addr_from_js(env, argv[0], "handshake socket path", &addr)) return NULL;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    nono_throw_errno(env, "cannot open the handshake socket", e);
    return NULL;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  /* Handshakes must never keep nono alive on their own (the watch is unref'd). */
  int rc = nono_backoff_poll_start(&hs.watch, loop, fd, on_readable);
  if (rc != 0) {
    close(fd);
    nono_throw_errno(env, "cannot watch the handshake socket", -rc);
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

napi_value nono_close_handshake(napi_env env, napi_callback_info info) {
  (void)info;
  if (hs.fd < 0) return NULL;
  nono_backoff_poll_close(&hs.watch);
  close(hs.fd);
  hs.fd = -1;
  napi_delete_reference(env, hs.on_message);
  napi_async_destroy(env, hs.ctx);
  return NULL;
}
