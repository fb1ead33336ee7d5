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
#include <unistd.h>

#include "wire_json.h"

#define PROTOCOL_VERSION 1
#define EXIT_REFUSED 126

extern char **environ;

static int sig_pipe[2] = {-1, -1};

static void __attribute__((noreturn, format(printf, 1, 2))) refuse(const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "nono-shell: %s\n", msg);
  exit(EXIT_REFUSED);
}

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t r = write(sig_pipe[1], &b, 1);
  (void)r;
  errno = saved;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Outside any session: start a one-shot `nono run` whose only program is this same command, so
 * a hand-typed `nono-shell -c cmd` is still sandboxed with the default policy. */
static void __attribute__((noreturn)) run_one_shot(int argc, char **argv) {
  if (getenv("NONO_ONE_SHOT"))
    refuse("a one-shot session started, but NONO_SOCKET did not reach this program; not running "
           "the command unsandboxed");
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) refuse("cannot find my own executable to start a one-shot nono session");
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
  int k = 0;
  nargv[k++] = "node";
  nargv[k++] = cli;
  nargv[k++] = "run";
  nargv[k++] = "--one-shot";
  nargv[k++] = "--";
  nargv[k++] = (char *)program;
  for (int i = 1; i < argc; i++) nargv[k++] = argv[i];
  nargv[k] = NULL;
  setenv("NONO_ONE_SHOT", "1", 1);
  execvp("node", nargv);
  refuse("not inside a nono session, and `node` could not be started to begin one (%s)",
         strerror(errno));
}

static int connect_supervisor(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) refuse("NONO_SOCKET is too long: %s", path);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) refuse("socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
    refuse("cannot reach the nono supervisor at %s (%s): the nono session has ended or crashed; "
           "the command was not run",
           path, strerror(errno));
  return fd;
}

/* The real descriptors 0..2; a closed one is replaced by /dev/null so the command still gets
 * three. */
static void stdio_fds(int out[3]) {
  for (int i = 0; i < 3; i++) {
    out[i] = i;
    if (fcntl(i, F_GETFD) < 0) {
      out[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (out[i] < 0) refuse("cannot open /dev/null for a closed descriptor %d", i);
    }
  }
}

static void build_request(jbuf *b, int argc, char **argv) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) refuse("cannot determine the working directory (%s)", strerror(errno));
  const char *secret = getenv("NONO_SESSION_SECRET");
  const char *shell_as = getenv("NONO_SHELL_AS");
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
    if (starts_with(*e, "NONO_SESSION_SECRET=") || starts_with(*e, "NONO_SHELL_AS=")) continue;
    if (!first) jb_raw(b, ",");
    first = 0;
    jb_str(b, *e);
  }
  /* Signals the caller left ignored stay ignored in the command, as bash would keep them. */
  jb_raw(b, "],\"ignored_signals\":[");
  first = 1;
  for (int sig = 1; sig < 32; sig++) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
      if (!first) jb_raw(b, ",");
      first = 0;
      jb_int(b, sig);
    }
  }
  jb_raw(b, "]}");
  if (b->oom) refuse("out of memory building the request");
}

static void send_frame(int fd, const char *payload, size_t n, const int *fds, int nfds) {
  unsigned char hdr[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 24)};
  struct iovec iov[2] = {{hdr, 4}, {(void *)payload, n}};
  char cbuf[CMSG_SPACE(sizeof(int) * 3)];
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
  if (nfds) {
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
  }
  size_t want = 4 + n, sent = 0;
  while (sent < want) {
    ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) refuse("lost the nono supervisor while sending the command (%s); not run", strerror(errno));
    sent += (size_t)r;
    /* Advance the iovecs past what was sent; descriptors went with the first byte. */
    msg.msg_control = NULL;
    msg.msg_controllen = 0;
    size_t skip = (size_t)r;
    while (msg.msg_iovlen && skip >= msg.msg_iov[0].iov_len) {
      skip -= msg.msg_iov[0].iov_len;
      msg.msg_iov++;
      msg.msg_iovlen--;
    }
    if (msg.msg_iovlen) {
      msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + skip;
      msg.msg_iov[0].iov_len -= skip;
    }
  }
}

static void __attribute__((noreturn)) exit_like(const reply *r) {
  if (r->has_signal) {
    /* Die of the same signal, so our caller sees what it would have seen from bash. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal((int)r->signal, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, (int)r->signal);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise((int)r->signal);
    exit(128 + (int)r->signal);
  }
  exit(r->has_code ? (int)(r->code & 0xff) : EXIT_REFUSED);
}

/* Inside one of the supervisor's sandboxes already: run the real shell right here, in the same
 * sandbox, never outside it. The CLAUDE_CODE_SHELL_PREFIX entry (proxy-bin/nono-prefix) gets the
 * command as its argument, so it becomes `bash -c CMD` (src/nono-shell/bash-args.ts,
 * unwrapShellPrefix, does the same for commands the supervisor starts). */
static void __attribute__((noreturn)) exec_direct(const reply *r, int argc, char **argv) {
  if (r->shell[0] != '/') refuse("the supervisor sent an invalid shell path");
  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  if (!strcmp(base, "nono-prefix")) {
    char **nargv = calloc((size_t)argc + 4, sizeof *nargv);
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
  execv(r->shell, argv);
  refuse("cannot run %s (%s)", r->shell, strerror(errno));
}

int main(int argc, char **argv) {
  const char *sock_path = getenv("NONO_SOCKET");
  if (!sock_path || !*sock_path) run_one_shot(argc, argv);

  int fd = connect_supervisor(sock_path);
  int fds[3];
  stdio_fds(fds);
  jbuf req = {0};
  build_request(&req, argc, argv); /* records the caller's ignored signals: before we change ours */
  /* From here on a vanished supervisor must show up as an error, not kill us with SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  if (req.len > (1u << 20)) refuse("argv and environment exceed the 1 MiB protocol limit; not run");

  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) refuse("pipe: %s", strerror(errno));
  int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) {
    struct sigaction cur;
    sigaction(forwarded[i], NULL, &cur);
    if (cur.sa_handler == SIG_IGN) continue; /* ignored by our caller: it stays ignored */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(forwarded[i], &sa, NULL);
  }
  send_frame(fd, req.data, req.len, fds, 3);

  unsigned char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    struct pollfd pf[2] = {{fd, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      refuse("poll: %s", strerror(errno));
    }
    if (pf[1].revents & POLLIN) {
      unsigned char sig;
      while (read(sig_pipe[0], &sig, 1) == 1) {
        jbuf f = {0};
        jb_raw(&f, "{\"v\":1,\"type\":\"signal\",\"signal\":");
        jb_int(&f, sig);
        jb_raw(&f, "}");
        send_frame(fd, f.data, f.len, NULL, 0);
        free(f.data);
      }
    }
    if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (cap - len < 4096) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (2u << 20)) refuse("the supervisor sent an oversized reply");
      buf = realloc(buf, cap);
      if (!buf) refuse("out of memory");
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      refuse("the nono supervisor closed the connection before the command finished (it may have "
             "been stopped or crashed)");
    len += (size_t)r;
    while (len >= 4) {
      size_t n = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16 | (size_t)buf[3] << 24;
      if (len < 4 + n) break;
      char saved = (char)buf[4 + n];
      buf[4 + n] = 0;
      reply rep;
      if (parse_reply((char *)buf + 4, n, &rep) != 0) refuse("unreadable reply from the supervisor");
      buf[4 + n] = (unsigned char)saved;
      if (!strcmp(rep.type, "exit")) exit_like(&rep);
      if (!strcmp(rep.type, "direct")) exec_direct(&rep, argc, argv);
      if (!strcmp(rep.type, "error")) refuse("%s", rep.message);
      /* Unknown reply types are ignored: newer supervisors may add informational ones. */
      memmove(buf, buf + 4 + n, len - 4 - n);
      len -= 4 + n;
    }
  }
}
