/*
 * nono-seccomp-dump MODE: writes the seccomp program nono installs for MODE (none, no-tcp or
 * ports) to stdout, as the raw array of struct sock_filter (8 bytes each, host byte order).
 * The bytes come from nono_seccomp_build(), the same function the installer calls, so the
 * test suite (test/seccomp-filter.test.ts) can run exactly what the kernel gets in a BPF
 * interpreter over a table of system calls. Not installed anywhere; used only by tests.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "seccomp_filter.h"

int main(int argc, char **argv) {
  static const char *const names[] = {"none", "no-tcp", "ports"}; /* NONO_NET_FILTER_* order */
  int mode = -1;
  for (int i = 0; argc == 2 && i < 3; i++)
    if (!strcmp(argv[1], names[i])) mode = i;
  if (mode < 0) {
    fprintf(stderr, "usage: nono-seccomp-dump none|no-tcp|ports  (raw struct sock_filter array on stdout)\n");
    return 2;
  }
  struct sock_filter f[NONO_SECCOMP_MAX_INSNS];
  int n = nono_seccomp_build(mode, f, NONO_SECCOMP_MAX_INSNS);
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
