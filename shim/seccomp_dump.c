/*
 * nono-seccomp-dump MODE: writes a seccomp program nono installs to stdout, as the raw array of
 * struct sock_filter (8 bytes each, host byte order). MODE is none, no-tcp or ports (the ordinary
 * filter of that network mode, from nono_seccomp_build()), or listener-guard, listener-live or
 * listener-both (a command's one filter with a listener, from nono_listener_filter_build(): the
 * connect guard's part, live approval's, or both). The bytes come from the same functions the
 * installers call, so the test suite (test/seccomp-filter.test.ts) can run exactly what the
 * kernel gets in a BPF interpreter over a table of system calls. Not installed anywhere; used
 * only by tests.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "listener_filter.h"
#include "seccomp_filter.h"

int main(int argc, char **argv) {
  static const char *const names[] = {"none", "no-tcp", "ports"}; /* NONO_NET_FILTER_* order */
  static const char *const listeners[] = {"listener-guard", "listener-live", "listener-both"}; /* parts 1, 2, 3 */
  int mode = -1, parts = 0;
  for (int i = 0; argc == 2 && i < 3; i++) {
    if (!strcmp(argv[1], names[i])) mode = i;
    if (!strcmp(argv[1], listeners[i])) parts = i + 1;
  }
  if (mode < 0 && !parts) {
    fprintf(stderr,
            "usage: nono-seccomp-dump none|no-tcp|ports|listener-guard|listener-live|listener-both  (raw struct "
            "sock_filter array on stdout)\n");
    return 2;
  }
  struct sock_filter f[NONO_SECCOMP_MAX_INSNS];
  int n = parts ? nono_listener_filter_build((unsigned)parts, f, NONO_SECCOMP_MAX_INSNS)
                : nono_seccomp_build(mode, f, NONO_SECCOMP_MAX_INSNS);
  if (n < 0) {
    fprintf(stderr, "nono-seccomp-dump: building the %s filter failed: %s\n", argv[1], strerror(-n));
    return 1;
  }
  size_t len = (size_t)n * sizeof f[0];
  const char *p = (const char *)f;
  while (len > 0) {
    ssize_t w = write(1, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}
