/*
 * Starting one command in a fresh Landlock domain, on the per-command hot path.
 *
 * Why not child_process.spawn + an exec helper: libuv forks the whole Node process (copying its
 * page tables) and the helper adds a second exec; together that is ~3 ms on top of a 1.25 ms
 * `bash -c true` (reference/baselines.md). vfork() shares the parent's memory, so the child costs
 * almost nothing, and entering the domain in the child before exec saves the helper's exec.
 *
 * The vfork child may only make async-signal-safe system calls: everything it needs (argv, envp,
 * paths) is prepared in the parent, and it reports a failure through memory it shares with the
 * parent. Signals are blocked around vfork so that no Node signal handler runs in the child.
 *
 * JS: spawn({file, argv, env, cwd, stdio: [in, out, err] (-1: closed), rulesetFd, restrictFlags,
 *            netFilter, ignoreSignals: number[], connectGuard?: {proxyPort, loopbackPorts}},
 *       onExit(code: number|null, signal: number|null)) -> pid
 * With connectGuard, the child also enters the connect guard's Landlock layer (connect_guard.h);
 * with liveApproval: {rules, onEvent} (live_approval.h) too or instead, the child installs the one
 * seccomp filter with a listener for both (command_listener.h) and hands the listener to the
 * supervisor before exec, which serves connect() and the file calls on one thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "addon.h"
#include "command_listener.h"
#include "connect_guard.h"
#include "live_approval.h"
#include "napi_util.h"
#include "sandbox_rules.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

struct spawn_plan {
  const char *file;
  char **argv;
  char **envp;
  const char *cwd;
  int stdio[3];
  int ruleset_fd;
  uint32_t restrict_flags;
  int net_filter;
  int death_signal; /* 0 when a session watchdog will clean up (see shim/session_watchdog.c) */
  sigset_t ignored;
  pid_t parent;
  struct nono_connect_guard guard;
  struct nono_live_plan live;
  struct nono_cmd_listener listener; /* the one seccomp listener of guard and live approval */
};

struct child_report {
  int err;
  const char *step;
};

typedef struct running {
  pid_t pid;
  uv_poll_t poll;
  int pidfd;
  napi_env env;
  napi_ref on_exit;
  napi_async_context ctx;
} running;

/* Runs in the vfork child. Never returns. */
static void __attribute__((noinline, noreturn))
child_main(const struct spawn_plan *p, volatile struct child_report *report) {
  const char *step = "creating a session";
  int err = 0;
  if (setsid() < 0) goto fail;
  /* Without a watchdog, the command must at least not outlive a supervisor that died. */
  if (p->death_signal) {
    step = "setting the parent-death signal";
    if (prctl(PR_SET_PDEATHSIG, p->death_signal, 0, 0, 0) != 0) goto fail;
    if (getppid() != p->parent) _exit(127);
  }
  step = "changing to the working directory";
  if (chdir(p->cwd) != 0) goto fail;
  /* Move the received descriptors out of the way first: they may themselves be 0..2. A slot of
   * -1 is one nono-shell's caller had closed: the command gets it closed too, as under bash. */
  int tmp[3];
  step = "duplicating stdio";
  for (int i = 0; i < 3; i++)
    if (p->stdio[i] >= 0 && (tmp[i] = fcntl(p->stdio[i], F_DUPFD_CLOEXEC, 10)) < 0) goto fail;
  for (int i = 0; i < 3; i++) {
    if (p->stdio[i] < 0) close(i);
    else if (dup2(tmp[i], i) < 0) goto fail;
  }
  const char *sandbox_step = NULL;
  if ((err = nono_enter_sandbox(p->ruleset_fd, p->restrict_flags, p->net_filter, &sandbox_step)) != 0) {
    report->step = sandbox_step;
    report->err = err;
    _exit(127);
  }
  if (p->guard.enabled && (err = nono_connect_guard_child(&p->guard, &sandbox_step)) != 0) {
    report->step = sandbox_step;
    report->err = err;
    _exit(127);
  }
  /* Last: a filter with a listener notifies for every trapped call from here on, and nothing
   * serves the listener until the supervisor runs again (after exec). */
  if (p->listener.parts && (err = nono_cmd_listener_child(&p->listener, &sandbox_step)) != 0) {
    report->step = sandbox_step;
    report->err = err;
    _exit(127);
  }
  /* Only stdio reaches the command: the supervisor's sockets, the ruleset and other
   * commands' descriptors stay behind. */
  if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
    for (int fd = 3; fd < 65536; fd++) close(fd);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = sigismember(&p->ignored, sig) == 1 ? SIG_IGN : SIG_DFL;
    sigaction(sig, &sa, NULL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(p->file, p->argv, p->envp);
  step = "executing the shell";
fail:
  report->step = step;
  report->err = errno ? errno : EINVAL;
  _exit(127);
}

static void free_running(uv_handle_t *h) {
  running *r = h->data;
  close(r->pidfd);
  free(r);
}

static void on_pidfd_readable(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  running *r = h->data;
  int st = 0;
  pid_t w;
  do w = waitpid(r->pid, &st, WNOHANG);
  while (w < 0 && errno == EINTR);
  if (w == 0) return; /* not yet (spurious wakeup) */
  uv_poll_stop(&r->poll);
  if (nono_env_gone) { /* reaped; Node is shutting down, so nobody to tell */
    uv_close((uv_handle_t *)&r->poll, free_running);
    return;
  }
  napi_env env = r->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2];
  if (w > 0 && WIFSIGNALED(st)) {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, WTERMSIG(st), &argv[1]);
  } else {
    napi_create_int32(env, w > 0 ? WEXITSTATUS(st) : 127, &argv[0]);
    napi_get_null(env, &argv[1]);
  }
  napi_ref cb = r->on_exit;
  napi_async_context ctx = r->ctx;
  uv_close((uv_handle_t *)&r->poll, free_running);
  nono_call_from_loop(env, cb, ctx, 2, argv);
  napi_delete_reference(env, cb);
  napi_async_destroy(env, ctx);
  napi_close_handle_scope(env, scope);
}

static int read_plan(napi_env env, napi_value o, struct spawn_plan *p) {
  napi_value v;
  if (!(v = nono_get_prop(env, o, "file")) || !(p->file = nono_get_bytes(env, v, "file"))) goto bad;
  if (!(v = nono_get_prop(env, o, "cwd")) || !(p->cwd = nono_get_bytes(env, v, "cwd"))) goto bad;
  if (!(v = nono_get_prop(env, o, "argv")) || !(p->argv = nono_get_string_array(env, v, "argv")))
    goto bad;
  if (!(v = nono_get_prop(env, o, "env")) || !(p->envp = nono_get_string_array(env, v, "env")))
    goto bad;
  int64_t fd, flags, net_filter, death_signal;
  if (!nono_get_int64(env, o, "rulesetFd", &fd, -1) ||
      !nono_get_int64(env, o, "restrictFlags", &flags, 0) ||
      !nono_get_int64(env, o, "netFilter", &net_filter, 0) ||
      !nono_get_int64(env, o, "deathSignal", &death_signal, SIGKILL))
    return 0;
  p->net_filter = (int)net_filter;
  p->death_signal = (int)death_signal;
  /* There is no unsandboxed spawn in this addon: a missing ruleset is a bug, not a mode. */
  if (fd < 0) {
    nono_throw(env, "spawn: rulesetFd is required (nono never starts a command unsandboxed)");
    return 0;
  }
  p->ruleset_fd = (int)fd;
  p->restrict_flags = (uint32_t)flags;
  if (!nono_connect_guard_from_js(env, o, &p->guard)) return 0;
  if (!nono_live_from_js(env, o, &p->live)) return 0;
  /* One seccomp listener per process: both share one filter and one listener. */
  if (!nono_cmd_listener_plan(env, &p->listener, &p->guard, &p->live)) return 0;
  if (!(v = nono_get_prop(env, o, "stdio"))) goto bad;
  for (uint32_t i = 0; i < 3; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || napi_get_value_int32(env, e, &p->stdio[i]) != napi_ok)
      goto bad;
  }
  sigemptyset(&p->ignored);
  if ((v = nono_get_prop(env, o, "ignoreSignals"))) {
    uint32_t n = 0;
    napi_get_array_length(env, v, &n);
    for (uint32_t i = 0; i < n; i++) {
      napi_value e;
      int32_t sig = 0;
      napi_get_element(env, v, i, &e);
      napi_get_value_int32(env, e, &sig);
      if (sig > 0 && sig < NSIG) sigaddset(&p->ignored, sig);
    }
  }
  return 1;
bad: {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) nono_throw(env, "spawn: options need file, argv, env, cwd, stdio[3], rulesetFd");
  return 0;
}
}

static void free_plan(struct spawn_plan *p) {
  nono_cmd_listener_close(&p->listener);
  nono_live_close(&p->live);
  free((void *)p->file);
  free((void *)p->cwd);
  nono_free_string_array(p->argv);
  nono_free_string_array(p->envp);
}

napi_value nono_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) {
    nono_throw(env, "spawn(options, onExit)");
    return NULL;
  }
  struct spawn_plan plan;
  memset(&plan, 0, sizeof plan);
  plan.listener.sock[0] = plan.listener.sock[1] = -1;
  if (!read_plan(env, argv[0], &plan)) {
    free_plan(&plan);
    return NULL;
  }
  plan.parent = getpid();
  volatile struct child_report report = {0, NULL};

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = vfork();
  if (pid == 0) child_main(&plan, &report);
  int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  if (pid < 0) {
    free_plan(&plan);
    nono_throw_errno(env, "vfork", vfork_errno);
    return NULL;
  }
  if (report.err) {
    int st;
    waitpid(pid, &st, 0);
    /* Sized to fit: a long shell path must not cut the failed step off the message. */
    const char *step = report.step ? report.step : "?";
    size_t n = strlen(plan.file) + strlen(step) + 40;
    char *what = malloc(n);
    if (what) snprintf(what, n, "cannot start %s in the sandbox (%s)", plan.file, step);
    nono_throw_errno(env, what ? what : "cannot start the command in the sandbox", report.err);
    free(what);
    free_plan(&plan);
    return NULL;
  }
  /* A command whose listener is not being served must not run on (its connects and trapped
   * opens would wait until the listener closes, then fail with ENOSYS): kill it and say why. */
  int serve_err = plan.listener.parts ? nono_cmd_listener_start(&plan.listener, &plan.guard, &plan.live) : 0;
  free_plan(&plan);

  int pidfd = serve_err ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int e = serve_err ? serve_err : errno;
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    nono_throw_errno(env, serve_err ? "cannot serve the command's seccomp listener (connect guard, live approval); it was killed" : "pidfd_open (Linux >= 5.3 is required)", e);
    return NULL;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  running *r = calloc(1, sizeof *r);
  int rc = r ? uv_poll_init(loop, &r->poll, pidfd) : UV_ENOMEM;
  if (rc != 0) {
    /* Nothing would ever report this command's exit: it must not run unwatched. */
    free(r);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    close(pidfd);
    nono_throw_errno(env, "cannot watch the started command (it was killed)", -rc);
    return NULL;
  }
  r->pid = pid;
  r->pidfd = pidfd;
  r->env = env;
  r->poll.data = r;
  napi_create_reference(env, argv[1], 1, &r->on_exit);
  napi_value name;
  napi_create_string_utf8(env, "nono:command", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->ctx);
  uv_poll_start(&r->poll, UV_READABLE, on_pidfd_readable);

  napi_value result;
  napi_create_int32(env, pid, &result);
  return result;
}
