/*
 * Descriptors for relaying a command's stderr through the supervisor, which reads it to recognise
 * sandbox denials (src/supervisor/stderr-relay.ts). Node cannot create a bare pipe or a pty pair.
 *
 * JS: makePipe() -> [readFd, writeFd]          (both close-on-exec)
 *     makePtyLike(ttyFd) -> [masterFd, slaveFd] (a new pty whose slave copies the terminal
 *                                                settings and size of ttyFd, so a command whose
 *                                                stderr was a terminal still sees one)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "addon.h"
#include "portable.h"
#include "napi_util.h"

static napi_value pair(napi_env env, int a, int b) {
  napi_value arr, v;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, a, &v);
  napi_set_element(env, arr, 0, v);
  napi_create_int32(env, b, &v);
  napi_set_element(env, arr, 1, v);
  return arr;
}

napi_value nono_make_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (nono_pipe(fds, 0) != 0) {
    nono_throw_errno(env, "pipe", errno);
    return NULL;
  }
  return pair(env, fds[0], fds[1]);
}

#if defined(__linux__) && !defined(TIOCGPTPEER)
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* The slave of MASTER, close-on-exec from the start. TIOCGPTPEER (Linux >= 4.13) opens it without
 * a path lookup; the fallback (and macOS) opens it by name. -1 with errno on failure. */
static int open_slave(int master) {
#if defined(__linux__)
  int fd = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0 || (errno != EINVAL && errno != ENOTTY)) return fd;
#endif
  char name[64];
  if (ptsname_r(master, name, sizeof name) != 0) return -1;
  return open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

napi_value nono_make_pty_like(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t tty = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &tty) != napi_ok) {
    nono_throw(env, "makePtyLike(ttyFd)");
    return NULL;
  }
  struct termios tio;
  struct winsize ws;
  int have_tio = tcgetattr(tty, &tio) == 0;
  int have_ws = ioctl(tty, TIOCGWINSZ, &ws) == 0;
  /* The relay writes what it reads to the real terminal, which does its own output processing:
   * ours must pass bytes through untouched, or newlines would be translated twice. */
  if (have_tio) tio.c_oflag &= ~(tcflag_t)OPOST;
  /* Both ends are close-on-exec from the moment they exist (openpty() would give them without
   * it, and setting it afterwards leaves a window): a command started meanwhile, from any
   * thread, must never inherit another command's pty. */
  const char *step = "posix_openpt";
  int slave = -1;
#if defined(__linux__)
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
#else
  /* macOS takes only O_RDWR | O_NOCTTY here; its commands start through posix_spawn with
   * POSIX_SPAWN_CLOEXEC_DEFAULT, so the window before FD_CLOEXEC leaks nothing. */
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master >= 0 && fcntl(master, F_SETFD, FD_CLOEXEC) != 0) {
    close(master);
    master = -1;
  }
#endif
  if (master < 0) goto fail;
  step = "unlockpt";
  if (unlockpt(master) != 0) goto fail;
  step = "opening the pty slave";
  if ((slave = open_slave(master)) < 0) goto fail;
  step = "copying the terminal settings";
  if (have_tio && tcsetattr(slave, TCSANOW, &tio) != 0) goto fail;
  step = "copying the terminal size";
  if (have_ws && ioctl(slave, TIOCSWINSZ, &ws) != 0) goto fail;
  return pair(env, master, slave);
fail: {
  int e = errno;
  if (slave >= 0) close(slave);
  if (master >= 0) close(master);
  char what[96];
  snprintf(what, sizeof what, "cannot create the stderr relay's pty (%s)", step);
  nono_throw_errno(env, what, e);
  return NULL;
}
}

/*
 * Reading the relay's end without Node streams: a Node pipe stream would set O_NONBLOCK on a
 * shared file description, and at a command's exit the supervisor must drain exactly what is
 * buffered (no more, no less) before it reports the exit status.
 *
 * JS: readAvailable(fd) -> Buffer (empty: nothing now) | null (end: every writer closed)
 *     watchReadable(fd, onReadable) -> id;   unwatch(id)
 */
#include <string.h>
#include <uv.h>

napi_value nono_read_available(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  napi_get_value_int32(env, argv[0], &fd);
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK); /* our own end only */
  char buf[65536];
  ssize_t n;
  do n = read(fd, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) n = 0;
  else if (n <= 0) {
    /* 0 = EOF on a pipe; EIO = every slave of a pty closed: both mean "no writer left". */
    napi_get_null(env, &result);
    return result;
  }
  void *data;
  napi_create_buffer_copy(env, (size_t)n, buf, &data, &result);
  return result;
}

typedef struct watch {
  uint32_t id;
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  struct watch *next;
} watch;

static watch *watches;
static uint32_t next_watch_id;

static void on_watch(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  watch *w = h->data;
  if (nono_env_gone) {
    uv_poll_stop(h); /* level-triggered: it would fire on every remaining loop turn */
    return;
  }
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  nono_call_from_loop(w->env, w->cb, w->ctx, 0, NULL);
  napi_close_handle_scope(w->env, scope);
}

napi_value nono_watch_readable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    nono_throw(env, "watchReadable(fd, onReadable)");
    return NULL;
  }
  watch *w = calloc(1, sizeof *w);
  if (!w) {
    nono_throw(env, "watchReadable: out of memory");
    return NULL;
  }
  w->id = ++next_watch_id;
  w->env = env;
  w->poll.data = w;
  napi_create_reference(env, argv[1], 1, &w->cb);
  napi_value name;
  napi_create_string_utf8(env, "nono:stderr-relay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->ctx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (uv_poll_init(loop, &w->poll, fd) != 0) {
    napi_delete_reference(env, w->cb);
    napi_async_destroy(env, w->ctx);
    free(w);
    nono_throw(env, "watchReadable: cannot poll this descriptor");
    return NULL;
  }
  uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_watch);
  /* A relay must not keep nono alive once everything else is done (background writers). */
  uv_unref((uv_handle_t *)&w->poll);
  w->next = watches;
  watches = w;
  napi_create_uint32(env, w->id, &result);
  return result;
}

static void free_watch(uv_handle_t *h) { free(h->data); }

napi_value nono_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id = 0;
  napi_get_value_uint32(env, argv[0], &id);
  for (watch **p = &watches; *p; p = &(*p)->next) {
    if ((*p)->id != id) continue;
    watch *w = *p;
    *p = w->next;
    uv_poll_stop(&w->poll);
    napi_delete_reference(env, w->cb);
    napi_async_destroy(env, w->ctx);
    uv_close((uv_handle_t *)&w->poll, free_watch);
    break;
  }
  return NULL;
}
