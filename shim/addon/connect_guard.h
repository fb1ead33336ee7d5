/*
 * The connect guard: for a command whose network goes through the session's proxy, every TCP
 * connection it opens goes only to the proxy (127.0.0.1:proxyPort) or to a loopback port the
 * policy lists; anything else fails with EACCES. Landlock's TCP rules know ports, not
 * addresses, so this is decided here, on the destination itself.
 *
 * How:
 *  1. In the vfork child (after the ordinary sandbox): one more Landlock layer that handles TCP
 *     connect and allows no port, so the command itself can never complete a TCP connect; then
 *     the guard's seccomp filter (shim/connect_guard_filter.h), which turns connect() into a
 *     notification; its listener goes to the supervisor over a socketpair and is closed before
 *     exec (the command never holds it).
 *  2. In the supervisor, a listener thread (notify_listener.h) answers each connect():
 *     IPv4/IPv6 sockets: it copies the address once, decides on that copy, takes the socket
 *     itself (pidfd_getfd) and connects it with the copy, then answers with the real result
 *     (0, EINPROGRESS for a non-blocking socket, ECONNREFUSED...). Nothing the command rewrites
 *     afterwards can change the destination: the kernel never reads its memory for this call.
 *     A blocking socket is connected non-blocking for a moment and awaited on that command's
 *     own thread, which gives up as soon as the caller is gone; other commands have their own.
 *     Other sockets (Unix, netlink): the call continues in the command, under its own Landlock
 *     and filters. If the command swaps an IP socket in under the same descriptor number at
 *     that moment, the guard's Landlock layer refuses the connect.
 *  3. Not supported here (kernel too old, no Landlock TCP rules): the command is not started.
 */
#ifndef NONO_CONNECT_GUARD_H
#define NONO_CONNECT_GUARD_H

#include <node_api.h>
#include <stdint.h>

#define NONO_GUARD_MAX_PORTS 64

struct nono_connect_guard {
  int enabled;
  uint16_t proxy_port;        /* allowed on 127.0.0.1 (and ::ffff:127.0.0.1) only */
  uint16_t loopback_ports[NONO_GUARD_MAX_PORTS]; /* allowed on 127.0.0.0/8 and ::1 */
  uint32_t n_loopback_ports;
  int landlock_fd; /* the process-wide "no TCP connect" ruleset; not owned */
  int sock[2];     /* socketpair for the listener: [0] the supervisor's end, [1] the child's */
};

/* Reads the spawn option `connectGuard: {proxyPort, loopbackPorts}` from OPTS. Returns 1 (with
 * g->enabled 0 when the option is absent), or 0 after throwing (bad option, or this kernel
 * cannot guard: the command must not start). On 1 with enabled, release with ..._close. */
int nono_connect_guard_from_js(napi_env env, napi_value opts, struct nono_connect_guard *g);

/* In the vfork child, after nono_enter_sandbox. Async-signal-safe. 0, or an errno and *step. */
int nono_connect_guard_child(const struct nono_connect_guard *g, const char **step);

/* In the supervisor once the child exec'ed: receives the listener and starts serving it.
 * 0 or an errno (the caller must then kill the command). Closes the socketpair. */
int nono_connect_guard_start(struct nono_connect_guard *g);

void nono_connect_guard_close(struct nono_connect_guard *g);

/* JS: connectGuardSupported() -> boolean; connectGuardListeners() -> number (running threads) */
napi_value nono_connect_guard_supported_js(napi_env env, napi_callback_info info);
napi_value nono_connect_guard_listeners_js(napi_env env, napi_callback_info info);

#endif
