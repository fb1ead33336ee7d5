/*
 * The kernel audit subsystem's status, through NETLINK_AUDIT: whether Landlock denials are being
 * recorded (Linux >= 6.15, ABI 7), so the supervisor can use those records as the exact source of
 * denials (src/supervisor/denials/audit-denials.ts). Switching audit on is a system-wide setting:
 * nono never does it on its own; auditSetEnabled exists for tests and for an explicit request.
 *
 * JS: auditStatus() -> { enabled: number, pid: number } | null (no permission / no audit)
 *     auditSetEnabled(0|1) -> boolean
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addon.h"
#include "napi_util.h"

/* Sends one audit request and reads the reply into status (when wanted). Returns 0 or -1. */
static int audit_request(int type, const struct audit_status *set, struct audit_status *out) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) return -1;
  struct {
    struct nlmsghdr h;
    struct audit_status s;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.s);
  req.h.nlmsg_type = (unsigned short)type;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.h.nlmsg_seq = 1;
  if (set) req.s = *set;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    close(fd);
    return -1;
  }
  int result = -1;
  struct timeval tv = {.tv_sec = 1};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (int i = 0; i < 4; i++) {
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        if (e->error != 0) goto done;
        if (!out) { result = 0; goto done; } /* the ack of a SET */
      } else if (h->nlmsg_type == AUDIT_GET && out) {
        memcpy(out, NLMSG_DATA(h), sizeof *out);
        result = 0;
        goto done;
      }
    }
  }
done:
  close(fd);
  return result;
}

napi_value nono_audit_status(napi_env env, napi_callback_info info) {
  (void)info;
  struct audit_status s;
  napi_value result, v;
  memset(&s, 0, sizeof s);
  if (audit_request(AUDIT_GET, NULL, &s) != 0) {
    napi_get_null(env, &result);
    return result;
  }
  napi_create_object(env, &result);
  napi_create_uint32(env, s.enabled, &v);
  napi_set_named_property(env, result, "enabled", v);
  napi_create_uint32(env, s.pid, &v);
  napi_set_named_property(env, result, "pid", v);
  return result;
}

napi_value nono_audit_set_enabled(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t enabled = 0;
  napi_get_value_uint32(env, argv[0], &enabled);
  struct audit_status s;
  memset(&s, 0, sizeof s);
  s.mask = AUDIT_STATUS_ENABLED;
  s.enabled = enabled;
  napi_get_boolean(env, audit_request(AUDIT_SET, &s, NULL) == 0, &result);
  return result;
}

/*
 * A socket subscribed to the kernel's audit multicast group (needs CAP_AUDIT_READ). Unlike the
 * kernel log, where records are rate-limited when no audit daemon runs (and dropped: "callbacks
 * suppressed"), every record reaches multicast listeners. Each read returns netlink messages
 * whose type is the record type (1423 LANDLOCK_ACCESS...) and whose payload is its text.
 * JS: openAuditMulticast() -> fd (close-on-exec, non-blocking), or throws
 */
#ifndef AUDIT_NLGRP_READLOG
#define AUDIT_NLGRP_READLOG 1
#endif

napi_value nono_open_audit_multicast(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_AUDIT);
  struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1)};
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    nono_throw_errno(env, "cannot subscribe to audit records", e);
    return NULL;
  }
  int big = 4 << 20; /* bursts of denials must not overflow it */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}
