/*
 * nono-bench-spawn: times process starts for `npm run bench`, alternating two commands so both
 * see the same machine noise (this is a shared 2-core VM). Timing is done here, in C, so that the
 * measuring process adds the same small posix_spawn + waitpid cost to both sides; a Node
 * child_process.spawn would add ~2 ms to each and hide the ratio.
 *
 *   nono-bench-spawn ITERATIONS WARMUP CMD_A... -- CMD_B...
 * (CMD paths are absolute: posix_spawn does no PATH search.)
 * prints two lines, "a <ns> <ns> ..." and "b <ns> ...", one figure per run.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static long long run_once(char **argv) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid;
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
    perror(argv[0]);
    exit(2);
  }
  int st;
  waitpid(pid, &st, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "nono-bench-spawn: %s failed (status %d)\n", argv[0], st);
    exit(2);
  }
  return (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
}

int main(int argc, char **argv) {
  /* Inside a nono session the environment carries the interposer. This timer is static (the
   * preload never loads into it, so its own posix_spawn is not routed), and the baseline must be
   * plain bash: drop the preload for both sides (the routed side's nono-shell is static and
   * ignores it anyway). */
  unsetenv("LD_PRELOAD");
  if (argc < 6) {
    fprintf(stderr, "usage: nono-bench-spawn ITERATIONS WARMUP CMD_A... -- CMD_B...\n");
    return 2;
  }
  int n = atoi(argv[1]), warm = atoi(argv[2]);
  char **a = &argv[3], **b = NULL;
  for (int i = 3; i < argc; i++)
    if (!strcmp(argv[i], "--")) {
      argv[i] = NULL;
      b = &argv[i + 1];
      break;
    }
  if (!b || !b[0]) return 2;
  long long *ta = calloc((size_t)n, sizeof *ta), *tb = calloc((size_t)n, sizeof *tb);
  for (int i = 0; i < warm; i++) run_once(a), run_once(b);
  for (int i = 0; i < n; i++) {
    ta[i] = run_once(a);
    tb[i] = run_once(b);
  }
  printf("a");
  for (int i = 0; i < n; i++) printf(" %lld", ta[i]);
  printf("\nb");
  for (int i = 0; i < n; i++) printf(" %lld", tb[i]);
  printf("\n");
  return 0;
}
