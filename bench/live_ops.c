/* Micro-benchmark of live approval's per-call cost (issue 11): run inside a command, once under
 * `nono run` (live approval on, the default) and once with --no-live-approval, and compare. Not
 * part of the build (`npm run bench` part 6 is the official figure):
 *   cc -O2 -o /tmp/live_ops bench/live_ops.c
 *   node dist/cli/main.js run [--no-live-approval] -- proxy-bin/bash -c '/tmp/live_ops 20000'
 * Each line: the call, and its mean cost in microseconds over N calls (all allowed by the policy,
 * in the current directory, which must be writable: the project).
 * `live_ops N cold`: the cold case instead, where the supervisor's thread has gone to sleep
 * between calls (as in a real command, whose opens are separated by other work): N opens, each
 * after a 200 us sleep or 200 us of computation, timed one by one (p50 and p90). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void spin(double us) {
  double until = now() + us;
  while (now() < until) {
  }
}

/* Each call after a gap (GAP: 0 a sleep, 1 computation), timed alone. */
static void cold(const char *label, int n, int gap, const char *path, int flags) {
  double *t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; i++) {
    if (gap == 0) usleep(200);
    else spin(200);
    double t0 = now();
    int f = open(path, flags, 0644);
    t[i] = now() - t0;
    if (f >= 0) close(f);
  }
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  printf("%-40s p50 %7.2f us  p90 %7.2f us\n", label, t[n / 2], t[n * 9 / 10]);
  free(t);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10000;
  if (argc > 2 && !strcmp(argv[2], "cold")) {
    int fd = open("bench-file", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) return perror("bench-file"), 1;
    close(fd);
    cold("after sleep: open relative, read", n, 0, "bench-file", O_RDONLY);
    cold("after work: open relative, read", n, 1, "bench-file", O_RDONLY);
    cold("after sleep: open /etc/hostname, read", n, 0, "/etc/hostname", O_RDONLY);
    cold("after sleep: open missing (ENOENT)", n, 0, "/usr/lib/nono-missing.so", O_RDONLY);
    unlink("bench-file");
    return 0;
  }
  char cwd[PATH_MAX], abs[PATH_MAX + 32];
  if (!getcwd(cwd, sizeof cwd)) return 1;
  int fd = open("bench-file", O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) return perror("bench-file"), 1;
  close(fd);
  snprintf(abs, sizeof abs, "%s/bench-file", cwd);
  double t;
#define RUN(label, body)                                        \
  t = now();                                                    \
  for (int i = 0; i < n; i++) { body; }                          \
  printf("%-40s %8.2f us\n", label, (now() - t) / n);
  RUN("open absolute, read", { int f = open(abs, O_RDONLY); if (f >= 0) close(f); });
  RUN("open relative, read", { int f = open("bench-file", O_RDONLY); if (f >= 0) close(f); });
  RUN("open /etc/hostname, read", { int f = open("/etc/hostname", O_RDONLY); if (f >= 0) close(f); });
  RUN("open relative, write (O_TRUNC)", { int f = open("bench-file", O_WRONLY | O_TRUNC); if (f >= 0) close(f); });
  RUN("open ../ relative (careful path)", { int f = open("../project/bench-file", O_RDONLY); if (f >= 0) close(f); });
  RUN("mkdir + rmdir relative (2 calls)", { mkdir("bench-dir", 0755); rmdir("bench-dir"); });
  RUN("create + unlink relative (2 calls)", { int f = open("bench-new", O_CREAT | O_WRONLY | O_EXCL, 0644); if (f >= 0) close(f); unlink("bench-new"); });
  RUN("stat (not trapped)", { struct stat st; stat(abs, &st); });
  unlink("bench-file");
  return 0;
}
