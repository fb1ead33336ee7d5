/*
 * nono-seatbelt-exec: puts itself into a Seatbelt sandbox, then execs the command. macOS only.
 * The supervisor starts it with posix_spawn (shim/addon/helper_spawn.c) for every command, and
 * `nono run` for the agent; the supervisor itself stays outside every sandbox, because a process
 * inside one can never apply another (forbidden-sandbox-reinit).
 *
 *   nono-seatbelt-exec --profile FILE [-D KEY=VALUE]... [--ignore-signal N]... [--exec-report FILE]
 *                      -- PROGRAM [ARG...]
 *
 * FILE holds the SBPL the supervisor compiled (src/policy/seatbelt-compiler.ts); each -D is read
 * in it as (param "KEY"). --ignore-signal keeps a signal ignored in the command, as the caller of
 * nono-shell had it (posix_spawn can only reset signals to default). PROGRAM is an absolute path:
 * no PATH search happens here.
 *
 * Fails closed: any error (bad arguments, unreadable profile, sandbox_init refusing the profile)
 * prints one line "nono-seatbelt-exec: ..." and exits 126 without running anything. A failed exec
 * after the sandbox is in place exits 127 (not found) or 126.
 *
 * --exec-report FILE (the agent's start, as nono-landlock-exec has it): if the final exec fails,
 * write "ERRNO STRERROR" to FILE (opened before the sandbox, which may not allow creating it, and
 * close-on-exec, so a successful exec leaves it empty) and print nothing: `nono run` then says in
 * one line which file the agent's SBPL would not let it read or run.
 */
#if !defined(__APPLE__)
#error "nono-seatbelt-exec is the macOS helper; Linux uses nono-landlock-exec"
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Exported by libSystem (libsystem_sandbox) without a public prototype; the same declaration
 * Codex and sandbox-exec rely on. params: NULL-terminated key, value, key, value... */
int sandbox_init_with_parameters(const char *profile, uint64_t flags, const char *const parameters[],
                                 char **errorbuf);
void sandbox_free_error(char *errorbuf);

#define MAX_PROFILE (1u << 20)
#define MAX_PARAMS 64

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "nono-seatbelt-exec: %s\n", line);
  _exit(126);
}

static char *read_profile(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("cannot open the profile %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) die("the profile %s is not a regular file", path);
  if (st.st_size <= 0 || (uint64_t)st.st_size > MAX_PROFILE) die("the profile %s is empty or larger than 1 MiB", path);
  char *text = malloc((size_t)st.st_size + 1);
  if (!text) die("out of memory");
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("cannot read the profile %s: %s", path, n < 0 ? strerror(errno) : "short file");
    got += (size_t)n;
  }
  close(fd);
  text[got] = '\0';
  if (strlen(text) != got) die("the profile %s contains a NUL byte", path);
  return text;
}

int main(int argc, char **argv) {
  const char *profile_path = NULL;
  const char *params[2 * MAX_PARAMS + 1];
  size_t nparams = 0;
  int report_fd = -1;
  sigset_t ignored;
  sigemptyset(&ignored);
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--profile") == 0 && i + 1 < argc) {
      profile_path = argv[++i];
    } else if (strcmp(a, "-D") == 0 && i + 1 < argc) {
      char *kv = argv[++i];
      char *eq = strchr(kv, '=');
      if (!eq || eq == kv) die("-D needs KEY=VALUE, got %s", kv);
      if (nparams == MAX_PARAMS) die("more than %d parameters", MAX_PARAMS);
      *eq = '\0';
      params[2 * nparams] = kv;
      params[2 * nparams + 1] = eq + 1;
      nparams++;
    } else if (strcmp(a, "--ignore-signal") == 0 && i + 1 < argc) {
      char *end;
      long sig = strtol(argv[++i], &end, 10);
      if (*end || sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP) die("bad signal %s", argv[i]);
      sigaddset(&ignored, (int)sig);
    } else if (strcmp(a, "--exec-report") == 0 && i + 1 < argc) {
      const char *report = argv[++i];
      report_fd = open(report, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (report_fd < 0) die("cannot open %s: %s", report, strerror(errno));
    } else {
      die("unknown or incomplete option %s (usage: --profile FILE [-D K=V]... [--ignore-signal N]... [--exec-report FILE] -- PROGRAM [ARG...])", a);
    }
  }
  params[2 * nparams] = NULL;
  if (!profile_path) die("--profile FILE is required (nono never runs a command unsandboxed)");
  if (i >= argc) die("no program after --");
  if (argv[i][0] != '/') die("the program must be an absolute path, got %s", argv[i]);

  char *profile = read_profile(profile_path);
  char *err = NULL;
  if (sandbox_init_with_parameters(profile, 0, params, &err) != 0) {
    /* The message names the SBPL line the kernel's compiler refused. */
    fprintf(stderr, "nono-seatbelt-exec: the sandbox refused the profile %s: %s\n", profile_path,
            err ? err : "(no reason given)");
    if (err) sandbox_free_error(err);
    _exit(126);
  }
  free(profile);

  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember(&ignored, sig) == 1) signal(sig, SIG_IGN);
  execv(argv[i], &argv[i]);
  int e = errno;
  if (report_fd >= 0) dprintf(report_fd, "%d %s\n", e, strerror(e));
  else fprintf(stderr, "nono-seatbelt-exec: cannot execute %s: %s\n", argv[i], strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}
