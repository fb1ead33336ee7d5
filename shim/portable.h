/*
 * The few descriptor calls that differ between Linux and macOS, behind one name each
 * (../shared table: SOCK_CLOEXEC, pipe2, accept4, MSG_CMSG_CLOEXEC, MSG_NOSIGNAL are Linux-only).
 * Linux keeps its atomic forms, so its behaviour does not change. macOS gets the plain call plus
 * fcntl: not atomic against a concurrent fork+exec, which is why every process nono starts on
 * macOS uses posix_spawn with POSIX_SPAWN_CLOEXEC_DEFAULT (nothing leaks, flag or not).
 */
#ifndef NONO_PORTABLE_H
#define NONO_PORTABLE_H

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <mach-o/dyld.h>

#endif

#if defined(__linux__)
#define NONO_MSG_NOSIGNAL MSG_NOSIGNAL
#define NONO_MSG_CMSG_CLOEXEC MSG_CMSG_CLOEXEC
#else
/* macOS: SIGPIPE is turned off per socket (nono_nosigpipe), received fds get FD_CLOEXEC after. */
#define NONO_MSG_NOSIGNAL 0
#define NONO_MSG_CMSG_CLOEXEC 0

#endif

static inline int nono_set_fd_flags(int fd, int nonblock) {
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -1;
  if (nonblock) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
  }
  return 0;
}

/* No SIGPIPE when writing to a peer that went away (Linux does it per call, MSG_NOSIGNAL). */
static inline int nono_nosigpipe(int fd) {
#if defined(SO_NOSIGPIPE)
  int one = 1;
  return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
  (void)fd;
  return 0;

#endif
}

/* A close-on-exec socket, non-blocking when asked. */
static inline int nono_socket(int domain, int type, int nonblock) {
#if defined(__linux__)
  return socket(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
#else
  int fd = socket(domain, type, 0);
  if (fd >= 0 && (nono_set_fd_flags(fd, nonblock) != 0 || nono_nosigpipe(fd) != 0)) {
    close(fd);
    return -1;
  }
  return fd;

#endif
}

/* accept() giving a close-on-exec, non-blocking descriptor. */
static inline int nono_accept(int srv) {
#if defined(__linux__)
  return accept4(srv, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
  int fd = accept(srv, NULL, NULL);
  if (fd >= 0 && (nono_set_fd_flags(fd, 1) != 0 || nono_nosigpipe(fd) != 0)) {
    close(fd);
    return -1;
  }
  return fd;

#endif
}

/* A close-on-exec pipe, non-blocking when asked (both ends). */
static inline int nono_pipe(int fds[2], int nonblock) {
#if defined(__linux__)
  return pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
#else
  if (pipe(fds) != 0) return -1;
  if (nono_set_fd_flags(fds[0], nonblock) != 0 || nono_set_fd_flags(fds[1], nonblock) != 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  return 0;

#endif
}

/* The running program's file, like readlink("/proc/self/exe"): its length, or -1 (errno set).
 * macOS has no /proc: _NSGetExecutablePath gives the path it was started by, realpath the file. */
static inline ssize_t nono_self_exe(char *buf, size_t size) {
#if defined(__linux__)
  return readlink("/proc/self/exe", buf, size);
#else
  char given[PATH_MAX], real[PATH_MAX];
  uint32_t len = sizeof given;
  if (_NSGetExecutablePath(given, &len) != 0 || realpath(given, real) == NULL) return -1;
  size_t n = strlen(real);
  memcpy(buf, real, n < size ? n : size);
  return (ssize_t)n;
#endif
}

#endif
