/*
 * Where the interposer's handshake goes: the Unix socket named by NONO_HANDSHAKE (an absolute
 * path that fits sun_path), shared by the Linux datagram (interpose.c) and the macOS stream
 * (interpose_handshake_darwin.c). Constructor-only code: getenv and a copy, nothing else.
 */
#ifndef NONO_HANDSHAKE_ADDR_H
#define NONO_HANDSHAKE_ADDR_H

#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* Fills ADDR and returns the path's length, or 0 when there is no usable handshake socket. */
static inline size_t nono_handshake_addr(struct sockaddr_un *addr) {
  const char *path = getenv("NONO_HANDSHAKE");
  if (path == NULL || path[0] != '/') return 0;
  size_t path_len = strlen(path);
  if (path_len >= sizeof addr->sun_path) return 0;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path, path_len + 1);
  return path_len;
}

#endif
