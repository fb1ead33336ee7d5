/*
 * nono-shell, the program agents exec instead of bash/sh/zsh (through the interposer or the
 * bash-named proxy in proxy-bin/). It is deliberately dumb and small: it runs once per shell
 * command, so it must start in well under a millisecond, and all bash semantics (which flags
 * mean what, which shell to run) live in TypeScript in the supervisor (src/nono-shell/).
 *
 * What it does: hand its argv, cwd, environment and its real stdin/stdout/stderr (SCM_RIGHTS) to
 * the supervisor named by $NONO_SOCKET; forward SIGINT/SIGTERM/SIGHUP/SIGQUIT; exit exactly as the
 * command did (same code, or death by the same signal). It never runs a command itself, except
 * when the supervisor says the caller is already inside one of its sandboxes ("direct").
 *
 * It never hangs on the supervisor: a forwarded signal the supervisor leaves unacknowledged for
 * STALL_MS makes the next forwarded signal end nono-shell (dying of it, as the shell would have),
 * and a signal that arrives before the request is fully sent ends it at once (nothing has started).
 * It never loses the command's result: the supervisor's reply is always read before anything else
 * is sent, and a failed send only means "now read the reply".
 *
 * Exit 126 = nono refused or could not run the command (no supervisor, protocol error). The
 * command's own exit codes pass through unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "portable.h"
#include "wire_json.h"

#define PROTOCOL_VERSION 1
#define EXIT_REFUSED 126
#define MAX_FRAME (1u << 20)
/* How long a forwarded signal may go unacknowledged before the supervisor counts as stalled: long
 * enough that a busy but healthy supervisor always answers in time (it acknowledges in well under
 * a millisecond), short enough that a second Ctrl-C a person types after it is never lost. */
#define STALL_MS 250

extern char **environ;

static int sig_pipe[2] = {-1, -1};
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void __attribute__((noreturn, format(printf, 1, 2))) refuse(const char *fmt, ...) {
  /* Our caller's stderr may be a pipe nobody reads any more: the status must still be 126. */
  signal(SIGPIPE, SIG_IGN);
  /* Sized to the message: a supervisor's message is printed whole, never cut. */
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "nono-shell: %s\n", n >= 0 ? msg : "out of memory while describing why the command was not run");
  exit(EXIT_REFUSED);
}

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t r = write(sig_pipe[1], &b, 1);
  (void)r;
  errno = saved;
}

/* Ends this process the way `sig` ended the command (or would have ended the shell): our caller
 * sees what it would have seen from bash. No core file: the command's, if any, was its own. */
static void __attribute__((noreturn)) die_of(int sig) {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(sig, SIG_DFL);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  sigprocmask(SIG_UNBLOCK, &s, NULL);
  raise(sig);
  exit(128 + sig); /* a signal whose default action is to ignore it, as bash reports it */
}

/* No process ends by a stop signal: an exit reply naming one is not believed (raising it would
 * only stop us, and leave our caller waiting). */
static int is_stop_signal(long sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Which of descriptors 0..2 our caller left closed (bit i). Each is plugged with /dev/null,
 * close-on-exec: nothing nono-shell opens (the supervisor socket, the signal pipe) can then land
 * on 0..2 and be handed to the command as its stdio, and anything exec'd from here (the direct
 * shell, the one-shot `nono run`) sees it closed again. The supervisor is told which are closed,
 * so the command sees them closed too, as under bash.
 */
static unsigned plug_closed_stdio(void) {
  unsigned closed = 0;
  for (int i = 0; i < 3; i++) {
    if (fcntl(i, F_GETFD) >= 0) continue;
    /* 0..i-1 are open (or plugged) and i is not: open() returns i. */
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd != i)
      refuse("descriptor %d is closed and /dev/null cannot take its place (%s); not run", i,
             fd < 0 ? strerror(errno) : "it landed elsewhere");
    closed |= 1u << i;
  }
  return closed;
}

/* Outside any session: start a one-shot `nono run` whose only program is this same command, so
 * a hand-typed `nono-shell -c cmd` is still sandboxed with the default policy. */
static void __attribute__((noreturn)) run_one_shot(int argc, char **argv) {
  if (getenv("NONO_ONE_SHOT"))
    refuse("a one-shot session started, but NONO_SOCKET did not reach this program; not running "
           "the command unsandboxed");
  char self[PATH_MAX];
  ssize_t n = nono_self_exe(self, sizeof self);
  if (n <= 0 || n >= (ssize_t)sizeof self)
    refuse("cannot find my own executable to start a one-shot nono session (%s)",
           n < 0 ? strerror(errno) : "its path is longer than PATH_MAX");
  self[n] = 0;
  /* <root>/native/nono-shell -> <root>/dist/cli/main.js */
  char root[PATH_MAX], cli[PATH_MAX + 32];
  strcpy(root, self);
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(root, '/');
    if (!slash) refuse("unexpected install layout (%s)", self);
    *slash = 0;
  }
  snprintf(cli, sizeof cli, "%s/dist/cli/main.js", root);
  if (access(cli, R_OK) != 0)
    refuse("not inside a nono session, and %s is missing to start one (run `npm install` in %s)",
           cli, root);
  const char *program = (argv[0] && argv[0][0] && argv[0][0] != '-') ? argv[0] : self;
  char **nargv = calloc((size_t)argc + 8, sizeof *nargv);
  if (!nargv) refuse("out of memory");
  int k = 0;
  nargv[k++] = "node";
  nargv[k++] = cli;
  nargv[k++] = "run";
  nargv[k++] = "--one-shot";
  nargv[k++] = "--";
  nargv[k++] = (char *)program;
  for (int i = 1; i < argc; i++) nargv[k++] = argv[i];
  nargv[k] = NULL;
  /* The loop guard for the nono-shell this session starts; it never reaches the command (the
   * request leaves it out). */
  setenv("NONO_ONE_SHOT", "1", 1);
  execvp("node", nargv);
  refuse("not inside a nono session, and `node` could not be started to begin one (%s)",
         strerror(errno));
}

/* Blocking, on purpose: until the request is sent our signal dispositions are still the caller's,
 * so a signal that would have ended the shell ends a connect() the supervisor never completes. */
static int connect_supervisor(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) refuse("NONO_SOCKET is too long: %s", path);
  strcpy(addr.sun_path, path);
  int fd = nono_socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) refuse("socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
    refuse("cannot reach the nono supervisor at %s (%s): the nono session has ended or crashed; "
           "the command was not run",
           path, strerror(errno));
  return fd;
}

/* A frame is a 4-byte little-endian length and the payload: frame_begin reserves the length,
 * frame_end fills it in. */
static size_t frame_begin(jbuf *b) {
  size_t at = b->len;
  jb_mem(b, "\0\0\0\0", 4);
  return at;
}

static void frame_end(jbuf *b, size_t at) {
  if (b->oom) refuse("out of memory building a message for the supervisor");
  size_t n = b->len - at - 4;
  unsigned char *h = (unsigned char *)b->data + at;
  h[0] = (unsigned char)n, h[1] = (unsigned char)(n >> 8), h[2] = (unsigned char)(n >> 16), h[3] = (unsigned char)(n >> 24);
}

static void build_request(jbuf *b, int argc, char **argv, unsigned closed, const sigset_t *ignored) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) {
    if (errno == ERANGE) refuse("the working directory's path is longer than %d bytes; not run", PATH_MAX);
    refuse("cannot determine the working directory (%s)", strerror(errno));
  }
  const char *secret = getenv("NONO_SESSION_SECRET");
  const char *shell_as = getenv("NONO_SHELL_AS");
  size_t at = frame_begin(b);
  jb_raw(b, "{\"v\":");
  jb_int(b, PROTOCOL_VERSION);
  jb_raw(b, ",\"type\":\"run\",\"secret\":");
  jb_str(b, secret ? secret : "");
  jb_raw(b, ",\"client_pid\":");
  jb_int(b, (long)getpid());
  jb_raw(b, ",\"cwd\":");
  jb_str(b, cwd);
  jb_raw(b, ",\"shell_as\":");
  if (shell_as) jb_str(b, shell_as);
  else jb_raw(b, "null");
  jb_raw(b, ",\"argv\":[");
  for (int i = 0; i < argc; i++) {
    if (i) jb_raw(b, ",");
    jb_str(b, argv[i]);
  }
  /* The environment minus what only concerns nono-shell itself. */
  jb_raw(b, "],\"env\":[");
  int first = 1;
  for (char **e = environ; *e; e++) {
    if (starts_with(*e, "NONO_SESSION_SECRET=") || starts_with(*e, "NONO_SHELL_AS=") || starts_with(*e, "NONO_ONE_SHOT="))
      continue;
    if (!first) jb_raw(b, ",");
    first = 0;
    jb_str(b, *e);
  }
  /* Signals the caller left ignored stay ignored in the command, as bash would keep them. */
  jb_raw(b, "],\"ignored_signals\":[");
  first = 1;
  for (int sig = 1; sig < 32; sig++) {
    if (sigismember(ignored, sig) != 1) continue;
    if (!first) jb_raw(b, ",");
    first = 0;
    jb_int(b, sig);
  }
  /* Descriptors the caller had closed stay closed in the command (their slots carry /dev/null). */
  jb_raw(b, "],\"closed_fds\":[");
  first = 1;
  for (int i = 0; i < 3; i++) {
    if (!(closed & 1u << i)) continue;
    if (!first) jb_raw(b, ",");
    first = 0;
    jb_int(b, i);
  }
  jb_raw(b, "]}");
  frame_end(b, at);
}

/* --- what is waiting to be sent: the request (with stdio attached), then signal frames --- */

static jbuf out;
static size_t out_off;
static int stdio_sent;  /* stdin, stdout and stderr went with the request's first bytes */
static int send_failed; /* the supervisor stopped reading: only its reply matters now */

/* Sends what it can without blocking. A failure is not an error by itself: the supervisor may
 * have answered and closed, and its answer is read next. */
static void flush_out(int fd) {
  while (!send_failed && out_off < out.len) {
    struct iovec iov = {out.data + out_off, out.len - out_off};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    int stdio[3] = {0, 1, 2}; /* closed ones are plugged with /dev/null; see plug_closed_stdio */
    char cbuf[CMSG_SPACE(sizeof stdio)];
    if (!stdio_sent) { /* the request's first bytes carry stdin, stdout and stderr */
      memset(cbuf, 0, sizeof cbuf);
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof stdio);
      memcpy(CMSG_DATA(cm), stdio, sizeof stdio);
    }
    ssize_t r = sendmsg(fd, &msg, NONO_MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r < 0) {
      send_failed = errno;
      return;
    }
    stdio_sent = 1;
    out_off += (size_t)r;
  }
}

/* --- the supervisor's side --- */

/* Inside one of the supervisor's sandboxes already: run the real shell right here, in the same
 * sandbox, never outside it. The CLAUDE_CODE_SHELL_PREFIX entry (proxy-bin/nono-prefix) gets the
 * command as its argument, so it becomes `bash -c CMD` (src/nono-shell/bash-args.ts,
 * unwrapShellPrefix, does the same for commands the supervisor starts).
 * The shell starts with exactly the caller's process state: nono-shell never ignores or blocks a
 * signal, its handlers go back to the default at exec (which is what the caller had: a caught
 * signal cannot survive the exec into nono-shell), and its own descriptors and markers go away. */
static void __attribute__((noreturn)) exec_direct(const reply *r, int argc, char **argv, int got_signal) {
  /* A signal that reached us meanwhile was meant for the shell: it would have ended it at once. */
  unsigned char sig;
  while (read(sig_pipe[0], &sig, 1) == 1) got_signal = sig;
  if (got_signal) die_of(got_signal);
  if (r->shell[0] != '/') refuse("the supervisor sent an invalid shell path");
  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  if (!strcmp(base, "nono-prefix")) {
    char **nargv = calloc((size_t)argc + 4, sizeof *nargv);
    if (!nargv) refuse("out of memory");
    int k = 0;
    nargv[k++] = "bash";
    nargv[k++] = "-c";
    if (argc == 2) {
      nargv[k++] = argv[1];
    } else {
      nargv[k++] = "\"$@\"";
      nargv[k++] = "nono-prefix";
      for (int i = 1; i < argc; i++) nargv[k++] = argv[i];
    }
    nargv[k] = NULL;
    argv = nargv;
  }
  unsetenv("NONO_SHELL_AS");
  unsetenv("NONO_ONE_SHOT");
  execv(r->shell, argv);
  refuse("cannot run %s (%s)", r->shell, strerror(errno));
}

int main(int argc, char **argv) {
  unsigned closed = plug_closed_stdio(); /* first: before anything else takes a descriptor */
  const char *sock_path = getenv("NONO_SOCKET");
  if (!sock_path || !*sock_path) run_one_shot(argc, argv);

  int fd = connect_supervisor(sock_path);
  /* The caller's ignored signals: sent along (they stay ignored in the command), and left alone. */
  sigset_t ignored;
  sigemptyset(&ignored);
  for (int sig = 1; sig < 32; sig++) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) sigaddset(&ignored, sig);
  }
  build_request(&out, argc, argv, closed, &ignored);
  size_t run_len = out.len;
  if (run_len - 4 > MAX_FRAME) refuse("argv and environment exceed the 1 MiB protocol limit; not run");

  if (nono_pipe(sig_pipe, 1) != 0) refuse("pipe: %s", strerror(errno));
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) {
    if (sigismember(&ignored, forwarded[i]) == 1) continue; /* ignored by our caller: it stays so */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(forwarded[i], &sa, NULL);
  }

  int run_sent = 0;              /* the whole request is with the supervisor */
  int got_signal = 0;            /* the last signal we received, for a "direct" reply */
  unsigned unacked = 0;          /* signal frames the supervisor has not acknowledged */
  long long unacked_since = 0;   /* when the oldest of them was queued */
  unsigned char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    flush_out(fd);
    if (out_off >= run_len) run_sent = 1;
    short want_out = !send_failed && out_off < out.len ? POLLOUT : 0;
    struct pollfd pf[2] = {{fd, (short)(POLLIN | want_out), 0}, {sig_pipe[0], POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      refuse("poll: %s", strerror(errno));
    }

    /* The supervisor's answer first: once the command has ended, a signal changes nothing. */
    if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (cap - len < 4096) {
        cap = cap ? cap * 2 : 8192;
        buf = realloc(buf, cap);
        if (!buf) refuse("out of memory");
      }
      ssize_t r = read(fd, buf + len, cap - len - 1);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0 && !run_sent)
        refuse("lost the nono supervisor while sending the command (%s); not run",
               r < 0 ? strerror(errno) : send_failed ? strerror(send_failed) : "connection closed");
      if (r <= 0)
        refuse("the nono supervisor closed the connection before the command finished (it may have "
               "been stopped or crashed)");
      len += (size_t)r;
      while (len >= 4) {
        size_t n = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16 | (size_t)buf[3] << 24;
        if (n > MAX_FRAME) refuse("the supervisor sent an oversized reply (%zu bytes announced)", n);
        if (len < 4 + n) {
          if (cap < 4 + n + 1) {
            cap = 4 + n + 1;
            buf = realloc(buf, cap);
            if (!buf) refuse("out of memory");
          }
          break;
        }
        reply rep;
        if (parse_reply((char *)buf + 4, n, &rep) != 0) refuse("unreadable reply from the supervisor");
        if (!strcmp(rep.type, "exit")) {
          if (rep.has_signal && is_stop_signal(rep.signal))
            refuse("unreadable reply from the supervisor (a command cannot end by stop signal %ld)", rep.signal);
          if (rep.has_signal) die_of((int)rep.signal);
          exit(rep.has_code ? (int)rep.code : EXIT_REFUSED);
        }
        if (!strcmp(rep.type, "direct")) exec_direct(&rep, argc, argv, got_signal);
        if (!strcmp(rep.type, "error")) refuse("%s", rep.message);
        if (!strcmp(rep.type, "signal_ack") && unacked && --unacked) unacked_since = now_ms();
        /* Other reply types are ignored: newer supervisors may add informational ones. */
        memmove(buf, buf + 4 + n, len - 4 - n);
        len -= 4 + n;
      }
    }

    if (pf[1].revents & POLLIN) {
      unsigned char sig;
      while (read(sig_pipe[0], &sig, 1) == 1) {
        got_signal = sig;
        /* The request is not all there: the supervisor cannot have started anything yet. */
        if (!run_sent) die_of(sig);
        long long now = now_ms();
        if (unacked && now - unacked_since >= STALL_MS) {
          signal(SIGPIPE, SIG_IGN); /* the line below must not change which signal we die of */
          fprintf(stderr,
                  "nono-shell: the nono supervisor did not answer a forwarded signal for %lld ms; ending "
                  "with signal %d (the supervisor kills the command when it notices)\n",
                  now - unacked_since, sig);
          die_of(sig);
        }
        if (unacked++ == 0) unacked_since = now;
        if (out_off == out.len) out.len = out_off = 0; /* all sent: reuse the buffer */
        size_t at = frame_begin(&out);
        jb_raw(&out, "{\"v\":1,\"type\":\"signal\",\"signal\":");
        jb_int(&out, sig);
        jb_raw(&out, "}");
        frame_end(&out, at);
      }
    }
  }
}
