/*
 * spawnHelper(options, onExit) -> pid: starts a sandbox helper (on macOS nono-seatbelt-exec, which
 * enters the command's Seatbelt profile and execs the shell) with posix_spawn, and reports its
 * exit. This is the macOS spawn path; Linux builds it too, so that the macOS orchestration runs end
 * to end in tests against a stand-in helper (Linux commands use sandboxed_spawn.c).
 *
 * The child gets: its own session (POSIX_SPAWN_SETSID, so the supervisor can signal its process
 * group and kill its tree), every signal at its default and an empty mask, the command's 0, 1, 2
 * (-1: left closed, as nono-shell's caller had it), the command's cwd, and on macOS nothing else
 * (POSIX_SPAWN_CLOEXEC_DEFAULT closes every descriptor no file action names). On Linux the other
 * descriptors the supervisor holds are close-on-exec already (Node's and the received ones).
 *
 * The exit is watched with kqueue EVFILT_PROC/NOTE_EXIT on macOS and a pidfd on Linux, both polled
 * by libuv; onExit(code, signal) gets exactly one of them non-null.
 *
 * JS: spawnHelper({ file, argv, env, cwd, stdio: [in, out, err] }, onExit) -> pid
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#if defined(__APPLE__)
#include <sys/event.h>
#else
#include <sys/syscall.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#endif

#include "addon.h"
#include "napi_util.h"

typedef struct watched {
  pid_t pid;
  int fd; /* the kqueue or the pidfd */
  uv_poll_t poll;
  napi_env env;
  napi_ref on_exit;
  napi_async_context ctx;
} watched;

static void free_watched(uv_handle_t *h) {
  watched *w = h->data;
  close(w->fd);
  free(w);
}

static void on_exit_readable(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  watched *w = h->data;
#if defined(__APPLE__)
  struct kevent ev;
  struct timespec zero = {0, 0};
  while (kevent(w->fd, NULL, 0, &ev, 1, &zero) > 0) {
  } /* drain, so the poll does not fire again */
#endif
  int st = 0;
  pid_t got;
  do got = waitpid(w->pid, &st, WNOHANG);
  while (got < 0 && errno == EINTR);
  if (got == 0) return; /* not yet */
  uv_poll_stop(&w->poll);
  if (nono_env_gone) {
    uv_close((uv_handle_t *)&w->poll, free_watched);
    return;
  }
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2];
  if (got > 0 && WIFSIGNALED(st)) {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, WTERMSIG(st), &argv[1]);
  } else {
    napi_create_int32(env, got > 0 ? WEXITSTATUS(st) : 127, &argv[0]);
    napi_get_null(env, &argv[1]);
  }
  napi_ref cb = w->on_exit;
  napi_async_context ctx = w->ctx;
  uv_close((uv_handle_t *)&w->poll, free_watched);
  nono_call_from_loop(env, cb, ctx, 2, argv);
  napi_delete_reference(env, cb);
  napi_async_destroy(env, ctx);
  napi_close_handle_scope(env, scope);
}

/* A descriptor that becomes readable when pid exits (a zombie counts). -1 with errno. */
static int exit_watch_fd(pid_t pid) {
#if defined(__APPLE__)
  int kq = kqueue();
  if (kq < 0) return -1;
  fcntl(kq, F_SETFD, FD_CLOEXEC);
  struct kevent ev;
  EV_SET(&ev, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
  if (kevent(kq, &ev, 1, NULL, 0, NULL) != 0) {
    int e = errno;
    close(kq);
    errno = e;
    return -1;
  }
  return kq;
#else
  return (int)syscall(SYS_pidfd_open, pid, 0);
#endif
}

struct helper_plan {
  char *file, *cwd;
  char **argv, **envp;
  int stdio[3];
};

static void free_plan(struct helper_plan *p) {
  free(p->file);
  free(p->cwd);
  nono_free_string_array(p->argv);
  nono_free_string_array(p->envp);
}

static int read_plan(napi_env env, napi_value o, struct helper_plan *p) {
  napi_value v;
  if (!(v = nono_get_prop(env, o, "file")) || !(p->file = nono_get_bytes(env, v, "file"))) return 0;
  if (!(v = nono_get_prop(env, o, "cwd")) || !(p->cwd = nono_get_bytes(env, v, "cwd"))) return 0;
  if (!(v = nono_get_prop(env, o, "argv")) || !(p->argv = nono_get_string_array(env, v, "argv"))) return 0;
  if (!(v = nono_get_prop(env, o, "env")) || !(p->envp = nono_get_string_array(env, v, "env"))) return 0;
  if (!(v = nono_get_prop(env, o, "stdio"))) return 0;
  for (uint32_t i = 0; i < 3; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || napi_get_value_int32(env, e, &p->stdio[i]) != napi_ok) {
      nono_throw(env, "spawnHelper: stdio must be three descriptors (-1 for closed)");
      return 0;
    }
  }
  return 1;
}

/* posix_spawn with the attributes above; returns 0 or an errno. */
static int spawn_plan(const struct helper_plan *p, pid_t *pid) {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t fa;
  int rc = posix_spawnattr_init(&attr);
  if (rc) return rc;
  if ((rc = posix_spawn_file_actions_init(&fa))) {
    posix_spawnattr_destroy(&attr);
    return rc;
  }
  short flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#if defined(__APPLE__)
  flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
#endif
  sigset_t all, none;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  sigemptyset(&none);
  /* A source descriptor that is itself 0..2 is moved out of the way first: dup2 onto itself would
   * keep its close-on-exec flag (and CLOEXEC_DEFAULT would then close it). */
  int moved[3] = {-1, -1, -1};
  for (int i = 0; i < 3 && !rc; i++) {
    int src = p->stdio[i];
    if (src >= 0 && src <= 2) {
      moved[i] = fcntl(src, F_DUPFD_CLOEXEC, 10);
      if (moved[i] < 0) rc = errno;
      src = moved[i];
    }
    if (!rc) rc = src >= 0 ? posix_spawn_file_actions_adddup2(&fa, src, i) : posix_spawn_file_actions_addclose(&fa, i);
  }
  if (!rc) rc = posix_spawn_file_actions_addchdir_np(&fa, p->cwd);
  if (!rc) rc = posix_spawnattr_setflags(&attr, flags);
  if (!rc) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (!rc) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (!rc) rc = posix_spawn(pid, p->file, &fa, &attr, p->argv, p->envp);
  for (int i = 0; i < 3; i++)
    if (moved[i] >= 0) close(moved[i]);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

napi_value nono_spawn_helper(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) {
    nono_throw(env, "spawnHelper(options, onExit)");
    return NULL;
  }
  struct helper_plan plan;
  memset(&plan, 0, sizeof plan);
  if (!read_plan(env, argv[0], &plan)) {
    free_plan(&plan);
    return NULL;
  }
  pid_t pid = -1;
  int rc = spawn_plan(&plan, &pid);
  if (rc) {
    char what[512];
    snprintf(what, sizeof what, "cannot start the sandbox helper %s", plan.file);
    free_plan(&plan);
    nono_throw_errno(env, what, rc);
    return NULL;
  }
  free_plan(&plan);
  int fd = exit_watch_fd(pid);
  if (fd < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    nono_throw_errno(env, "watching the helper's exit", e);
    return NULL;
  }
  watched *w = calloc(1, sizeof *w);
  w->pid = pid;
  w->fd = fd;
  w->env = env;
  w->poll.data = w;
  napi_create_reference(env, argv[1], 1, &w->on_exit);
  napi_value name;
  napi_create_string_utf8(env, "nono:helper", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->ctx);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &w->poll, fd);
  uv_poll_start(&w->poll, UV_READABLE, on_exit_readable);
  napi_value result;
  napi_create_int32(env, pid, &result);
  return result;
}
