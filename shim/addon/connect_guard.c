/* See connect_guard.h. */
#include "connect_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "landlock_compat.h"
#include "napi_util.h"
#include "notify_listener.h"
#include "sandbox_rules.h"

#define GUARD_SIN6_MIN_LEN 24 /* SIN6_LEN_RFC2133: the kernel accepts sockaddr_in6 without scope id */

struct guard_rules {
  uint16_t proxy_port;
  uint16_t loopback_ports[NONO_GUARD_MAX_PORTS];
  uint32_t n_loopback_ports;
};

/* ---- the decision, on the supervisor's own copy of the address ---- */

static int listed(const struct guard_rules *r, uint16_t port) {
  for (uint32_t i = 0; i < r->n_loopback_ports; i++)
    if (r->loopback_ports[i] == port) return 1;
  return 0;
}

/* addr in host order */
static int ipv4_allowed(const struct guard_rules *r, uint32_t addr, uint16_t port) {
  if (addr == INADDR_LOOPBACK && port == r->proxy_port) return 1;
  return (addr >> 24) == 127 && listed(r, port);
}

/* 0 when the connect may go ahead, else the errno to answer. */
static int decide(const struct guard_rules *r, const struct sockaddr_storage *ss, socklen_t len) {
  if (len < (socklen_t)sizeof(sa_family_t)) return EINVAL;
  switch (ss->ss_family) {
    case AF_UNSPEC: /* dissolves an association; reaches nobody */
      return 0;
    case AF_INET: {
      const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
      if (len < (socklen_t)sizeof *in) return EINVAL;
      return ipv4_allowed(r, ntohl(in->sin_addr.s_addr), ntohs(in->sin_port)) ? 0 : EACCES;
    }
    case AF_INET6: {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
      if (len < GUARD_SIN6_MIN_LEN) return EINVAL;
      uint16_t port = ntohs(in6->sin6_port);
      if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        uint32_t v4;
        memcpy(&v4, &in6->sin6_addr.s6_addr[12], 4);
        return ipv4_allowed(r, ntohl(v4), port) ? 0 : EACCES;
      }
      /* The proxy listens on 127.0.0.1 only; ::1 serves the listed loopback ports. */
      return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) && listed(r, port) ? 0 : EACCES;
    }
    default: /* a family this socket cannot connect to; never let it reach the kernel */
      return EACCES;
  }
}

/* ---- performing the checked connect on the command's own socket ---- */

/* Waits for a connect in progress on FD while its caller still waits: 0 or the connect's errno;
 * EINPROGRESS after the socket's own send timeout (as the kernel does); ESRCH when the caller
 * went away (killed, or interrupted by a signal: it will ask again and wait for the same
 * connection, like a restarted blocking connect). */
static int wait_connected(int listener, const struct seccomp_notif *req, int fd) {
  struct timeval tv = {0, 0};
  socklen_t tvlen = sizeof tv;
  getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tvlen);
  long long budget_ms = tv.tv_sec || tv.tv_usec ? (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000 : -1;
  for (;;) {
    /* Short slices: a connect to a port whose listener never accepts must not keep this thread
     * (and the command's other connects) waiting after the command is gone. The same thread
     * serves the command's live approval: an answer to a held open (the wake descriptor) is
     * given at once, and held opens are looked at every slice, so they never wait behind us. */
    int slice = budget_ms < 0 || budget_ms > 100 ? 100 : (int)budget_ms;
    struct pollfd p[2] = {{.fd = fd, .events = POLLOUT}, {.fd = nono_notif_wake_fd(), .events = POLLIN}};
    int n = poll(p, p[1].fd >= 0 ? 2 : 1, slice);
    if (n > 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) return errno;
      return soerr;
    }
    if (n < 0 && errno != EINTR) return errno;
    if (p[1].fd >= 0) {
      if (p[1].revents & POLLIN) {
        uint64_t v;
        if (read(p[1].fd, &v, sizeof v) < 0) { /* already drained */ }
      }
      nono_notif_settle_now();
      if (n > 0) continue; /* woken for an answer: the slice was not used up */
    }
    if (!nono_notif_id_valid(listener, req->id)) return ESRCH;
    if (budget_ms >= 0 && (budget_ms -= slice) <= 0) return EINPROGRESS;
  }
}

/* connect() on the duplicated socket with the checked address. The file description is the
 * command's: a non-blocking socket stays non-blocking (EINPROGRESS goes back to the command,
 * which completes the connect as usual). A blocking one is started non-blocking for a moment
 * (so this thread can notice the command dying) and waited for here. */
static int connect_for(int listener, const struct seccomp_notif *req, int fd, const struct sockaddr_storage *ss,
                       socklen_t len) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return errno;
  if (fl & O_NONBLOCK) return connect(fd, (const struct sockaddr *)ss, len) == 0 ? 0 : errno;
  if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return errno;
  int rc = connect(fd, (const struct sockaddr *)ss, len);
  int err = rc == 0 ? 0 : errno;
  fcntl(fd, F_SETFL, fl);
  /* EALREADY: the same socket's earlier connect (interrupted caller) is still under way. */
  if (err == EINPROGRESS || err == EALREADY) err = wait_connected(listener, req, fd);
  return err;
}

/* ---- answering one connect() notification (listener thread) ---- */

void nono_connect_guard_on_notification(const void *rules, int listener, const struct seccomp_notif *req,
                                        struct seccomp_notif_resp *resp) {
  const struct guard_rules *r = rules;
  int fd = nono_notif_take_fd(listener, req, (int)req->data.args[0]);
  if (fd < 0) {
    /* EBADF as the kernel would say it; anything else (not allowed to look) is a refusal. */
    resp->error = fd == -EBADF ? -EBADF : -EACCES;
    return;
  }
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0) {
    resp->error = errno == ENOTSOCK ? -ENOTSOCK : -EACCES;
    close(fd);
    return;
  }
  if (domain != AF_INET && domain != AF_INET6) {
    /* Unix, netlink...: the kernel applies the command's own Landlock domain and filters. */
    close(fd);
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    return;
  }
  int addrlen = (int)req->data.args[2];
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int err = 0;
  if (addrlen < 0 || addrlen > (int)sizeof ss)
    err = EINVAL; /* what connect() itself answers */
  else if (addrlen > 0 && (err = nono_notif_read_mem(listener, req, req->data.args[1], &ss, (size_t)addrlen)) != 0 &&
           err != EFAULT && err != ESRCH)
    err = EACCES; /* not allowed to look: refuse */
  if (err == 0) err = decide(r, &ss, (socklen_t)addrlen);
  /* Connect only for a caller still waiting: the socket is shared with the command. */
  if (err == 0 && !nono_notif_id_valid(listener, req->id)) err = ESRCH;
  if (err == 0) err = connect_for(listener, req, fd, &ss, (socklen_t)addrlen);
  close(fd);
  resp->error = err == ESRCH ? -EACCES : -err;
}

/* ---- support, options, the child's part, the hand-off ---- */

static int supported_err = -1;
static const char *supported_why;

static int guard_supported(const char **why) {
  if (supported_err >= 0) {
    *why = supported_why;
    return supported_err;
  }
  int err = 0;
  const char *w = NULL;
#if !defined(__x86_64__) && !defined(__aarch64__)
  err = ENOSYS;
  w = "a seccomp filter for this CPU architecture";
#endif
  if (!err && nono_landlock_abi() < 4) {
    err = EOPNOTSUPP;
    w = "Landlock TCP rules (ABI >= 4, Linux >= 6.7)";
  }
  if (!err) err = nono_notif_supported(&w);
  supported_err = err;
  supported_why = w;
  *why = w;
  return err;
}

/* One ruleset for every guarded command: TCP connect handled, no port allowed. */
static int guard_ruleset = -1;

static int get_port(napi_env env, napi_value v, uint16_t *out) {
  int64_t n = 0;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number || napi_get_value_int64(env, v, &n) != napi_ok) return 0;
  double d;
  napi_get_value_double(env, v, &d);
  if (d != (double)n || n < 1 || n > 65535) return 0;
  *out = (uint16_t)n;
  return 1;
}

int nono_connect_guard_from_js(napi_env env, napi_value opts, struct nono_connect_guard *g) {
  memset(g, 0, sizeof *g);
  g->landlock_fd = -1;
  napi_value o = nono_get_prop(env, opts, "connectGuard");
  if (!o) return 1;
  napi_value v;
  if (!(v = nono_get_prop(env, o, "proxyPort")) || !get_port(env, v, &g->proxy_port)) {
    nono_throw(env, "spawn: connectGuard.proxyPort must be a port number (1-65535)");
    return 0;
  }
  if ((v = nono_get_prop(env, o, "loopbackPorts"))) {
    bool is_array = false;
    uint32_t n = 0;
    napi_is_array(env, v, &is_array);
    if (is_array) napi_get_array_length(env, v, &n);
    if (!is_array || n > NONO_GUARD_MAX_PORTS) {
      nono_throw(env, "spawn: connectGuard.loopbackPorts must be an array of at most 64 port numbers");
      return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
      napi_value e;
      if (napi_get_element(env, v, i, &e) != napi_ok || !get_port(env, e, &g->loopback_ports[i])) {
        nono_throw(env, "spawn: connectGuard.loopbackPorts must hold port numbers (1-65535)");
        return 0;
      }
    }
    g->n_loopback_ports = n;
  }
  const char *why = NULL;
  int err = guard_supported(&why);
  if (err) {
    char msg[256];
    snprintf(msg, sizeof msg, "cannot guard this command's connections (this kernel lacks %s); nono does not start it unguarded",
             why ? why : "a needed feature");
    nono_throw_errno(env, msg, err);
    return 0;
  }
  if (guard_ruleset < 0) {
    struct nono_ruleset_spec spec = {.handled_fs = 0, .handled_net = NL_NET_CONNECT_TCP, .scoped = 0};
    if ((guard_ruleset = nono_ruleset_create(&spec)) < 0) {
      nono_throw_errno(env, "cannot create the connect guard's Landlock ruleset", errno);
      return 0;
    }
  }
  g->landlock_fd = guard_ruleset;
  g->enabled = 1;
  return 1;
}

int nono_connect_guard_child(const struct nono_connect_guard *g, const char **step) {
  if (nl_restrict_self(g->landlock_fd, 0) != 0) {
    *step = "entering the connect guard's Landlock layer";
    return errno;
  }
  return 0;
}

void *nono_connect_guard_rules(const struct nono_connect_guard *g) {
  struct guard_rules *r = malloc(sizeof *r);
  if (!r) return NULL;
  r->proxy_port = g->proxy_port;
  r->n_loopback_ports = g->n_loopback_ports;
  memcpy(r->loopback_ports, g->loopback_ports, sizeof r->loopback_ports);
  return r;
}

napi_value nono_connect_guard_supported_js(napi_env env, napi_callback_info info) {
  (void)info;
  const char *why;
  napi_value v;
  napi_get_boolean(env, guard_supported(&why) == 0, &v);
  return v;
}

napi_value nono_connect_guard_listeners_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, nono_notif_active(), &v);
  return v;
}
