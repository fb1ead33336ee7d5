/*
 * The connect guard: for a command whose network goes through the session's proxy, every TCP
 * connection it opens goes only to the proxy (127.0.0.1:proxyPort) or to a loopback port the
 * policy lists; anything else fails with EACCES. Landlock's TCP rules know ports, not
 * addresses, so this is decided here, on the destination itself.
 *
 * How:
 *  1. In the vfork child (after the ordinary sandbox): one more Landlock layer that handles TCP
 *     connect and allows no port, so the command itself can never complete a TCP connect; then
 *     the command's one filter with a listener (shim/listener_filter.h, the guard's part), which
 *     turns connect() into a notification; its listener goes to the supervisor
 *     (command_listener.h) and is closed before exec (the command never holds it).
 *  2. In the supervisor, the command's listener thread (notify_listener.h) answers each connect():
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

#include <linux/seccomp.h>
#include <node_api.h>
#include <stdint.h>

#define NONO_GUARD_MAX_PORTS 64

struct nono_connect_guard {
  int enabled;
  uint16_t proxy_port;        /* allowed on 127.0.0.1 (and ::ffff:127.0.0.1) only */
  uint16_t loopback_ports[NONO_GUARD_MAX_PORTS]; /* allowed on 127.0.0.0/8 and ::1 */
  uint32_t n_loopback_ports;
  int landlock_fd; /* the process-wide "no TCP connect" ruleset; not owned */
};

/* Reads the spawn option `connectGuard: {proxyPort, loopbackPorts}` from OPTS. Returns 1 (with
 * g->enabled 0 when the option is absent), or 0 after throwing (bad option, or this kernel
 * cannot guard: the command must not start). Holds nothing to release. */
int nono_connect_guard_from_js(napi_env env, napi_value opts, struct nono_connect_guard *g);

/* In the vfork child, after nono_enter_sandbox and before the listener filter: the guard's
 * Landlock layer. Async-signal-safe. 0, or an errno and *step. */
int nono_connect_guard_child(const struct nono_connect_guard *g, const char **step);

/* The decision's own copy of G's ports, for the command's listener (free() it); NULL: no memory. */
void *nono_connect_guard_rules(const struct nono_connect_guard *g);

/* Answers one connect() notification (on the command's listener thread; see notify_listener.h):
 * fills resp, always at once. */
void nono_connect_guard_on_notification(const void *rules, int listener, const struct seccomp_notif *req,
                                        struct seccomp_notif_resp *resp);

/* JS: connectGuardSupported() -> boolean; connectGuardListeners() -> number (running threads) */
napi_value nono_connect_guard_supported_js(napi_env env, napi_callback_info info);
napi_value nono_connect_guard_listeners_js(napi_env env, napi_callback_info info);

#endif
