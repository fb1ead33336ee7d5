/* See unix_socket.h. */
#include "unix_socket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "napi_util.h"
#include "portable.h"

int nono_unix_addr_from_js(napi_env env, napi_value value, const char *what, struct sockaddr_un *addr) {
  char *path = nono_get_bytes(env, value, what);
  if (!path) return 0;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr->sun_path) {
    free(path);
    char msg[128];
    snprintf(msg, sizeof msg, "%s too long for a Unix socket (max %zu bytes)", what, sizeof addr->sun_path - 1);
    nono_throw(env, msg);
    return 0;
  }
  strcpy(addr->sun_path, path);
  free(path);
  return 1;
}

int nono_listen_private(const struct sockaddr_un *addr) {
  int fd = nono_socket(AF_UNIX, SOCK_STREAM, 1);
  if (fd < 0) return -errno;
  mode_t old = umask(0177);
  int rc = bind(fd, (const struct sockaddr *)addr, sizeof *addr);
  int e = errno;
  umask(old);
  if (rc == 0 && (rc = listen(fd, 256)) != 0) e = errno;
  if (rc != 0) {
    close(fd);
    return -e;
  }
  return fd;
}
