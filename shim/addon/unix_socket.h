/*
 * The supervisor's own Unix sockets (the command socket, fd_server.c; the handshake sockets,
 * handshake_listener.c and handshake_stream.c): the address taken from JS, and an owner-only
 * listening stream socket. Linux and macOS.
 */
#ifndef NONO_UNIX_SOCKET_H
#define NONO_UNIX_SOCKET_H

#include <node_api.h>
#include <sys/un.h>

/* ADDR from the JS string VALUE: 1, or 0 with a JS error naming WHAT (not a string, too long). */
int nono_unix_addr_from_js(napi_env env, napi_value value, const char *what, struct sockaddr_un *addr);

/* A non-blocking, close-on-exec stream socket listening at ADDR, created owner-only (mode 0600:
 * other users' processes cannot even connect; its directory is 0700 too). The fd, or -errno. */
int nono_listen_private(const struct sockaddr_un *addr);

#endif
