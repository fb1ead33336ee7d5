/*
 * The interposer's handshake on macOS, linked into libnono-interpose.dylib only there: tells the
 * supervisor that this process loaded the interposer (src/supervisor/preload-watch.ts names the
 * agent processes that did not: hardened runtime, restricted, SIP-protected). macOS has no
 * credentials on datagrams, so it is one short stream connection: connect, write
 * "v1\t<executable path>", close. The receiver (shim/addon/handshake_stream.c) takes the pid from
 * the kernel (LOCAL_PEERPID). Never waited for: non-blocking, and any failure is ignored.
 * Runs from the constructor only (never in a hook, so the vfork rules of interpose.c do not apply).
 */
#if defined(__APPLE__)
#include <fcntl.h>
#include <limits.h>
#include <mach-o/dyld.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "handshake_addr.h"

void nono_handshake(void);

void nono_handshake(void) {
  struct sockaddr_un addr;
  size_t path_len = nono_handshake_addr(&addr);
  if (path_len == 0) return;

  char msg[3 + PATH_MAX];
  memcpy(msg, "v1\t", 3);
  size_t len = 3;
  char exe[PATH_MAX];
  uint32_t size = sizeof exe;
  /* The path the program was started by; realpath gives the file, as /proc/self/exe would. */
  if (_NSGetExecutablePath(exe, &size) == 0 && realpath(exe, msg + 3) != NULL) len += strlen(msg + 3);

  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return;
  int one = 1;
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  (void)fcntl(fd, F_SETFL, O_NONBLOCK);
  (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
  /* A Unix stream connect completes at once or fails (EAGAIN: backlog full): nothing to wait for. */
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) (void)send(fd, msg, len, 0);
  close(fd);
}
#else
/* Linux sends its handshake as a datagram with kernel credentials (interpose.c). */
typedef int nono_interpose_handshake_darwin_unused;
#endif
