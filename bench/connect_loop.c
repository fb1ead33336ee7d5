/*
 * nono-bench-connect: times TCP connects to 127.0.0.1:PORT from inside a sandboxed command, for
 * part 3 of `npm run bench` (the connect guard's cost: every connect is a round trip to the
 * supervisor, which connects the socket itself).
 *
 *   nono-bench-connect PORT N   -> prints "connects <N> <ns per connect, median of N>"
 * A failed connect prints "error <errno>" and exits 1, so a refused run is never timed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int n = atoi(argv[2]);
  long long *ns = calloc((size_t)n, sizeof *ns);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < n; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != 0) {
      printf("error %d\n", errno);
      return 1;
    }
    close(s);
    ns[i] = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  }
  qsort(ns, (size_t)n, sizeof *ns, cmp);
  printf("connects %d %lld %lld\n", n, ns[n / 2], ns[n * 9 / 10]);
  return 0;
}
