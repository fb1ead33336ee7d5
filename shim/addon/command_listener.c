/* See command_listener.h. */
#include "command_listener.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "listener_filter.h"
#include "napi_util.h"
#include "notify_listener.h"

int nono_cmd_listener_plan(napi_env env, struct nono_cmd_listener *c, const struct nono_connect_guard *g,
                           const struct nono_live_plan *l) {
  c->parts = (g->enabled ? NONO_LISTEN_GUARD : 0) | (l->enabled ? NONO_LISTEN_LIVE : 0);
  c->sock[0] = c->sock[1] = -1;
  if (!c->parts) return 1;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->sock) != 0) {
    c->sock[0] = c->sock[1] = -1;
    nono_throw_errno(env, "socketpair for the command's seccomp listener", errno);
    return 0;
  }
  return 1;
}

int nono_cmd_listener_child(const struct nono_cmd_listener *c, const char **step) {
  int listener = nono_install_listener_filter(c->parts);
  if (listener < 0) {
    *step = "installing the seccomp filter with a listener (connect guard, live approval)";
    return -listener;
  }
  int err = nono_send_fd(c->sock[1], listener);
  close(listener); /* the command must never hold it */
  if (err) *step = "handing the seccomp listener to the supervisor";
  return err;
}

struct cmd_ctx {
  void *guard;          /* the guard's rules, or NULL */
  struct live_cmd *live; /* or NULL */
};

static int handle(void *ctx, int listener, const struct seccomp_notif *req, struct seccomp_notif_resp *resp) {
  struct cmd_ctx *c = ctx;
  if (c->guard && req->data.nr == SYS_connect) {
    nono_connect_guard_on_notification(c->guard, listener, req, resp);
    return NONO_NOTIF_ANSWERED;
  }
  if (c->live) return nono_live_on_notification(c->live, req, resp);
  /* A call no part of this command's filter traps: never let it through unexamined. */
  resp->error = -EACCES;
  return NONO_NOTIF_ANSWERED;
}

static int settle(void *ctx, int all_gone) {
  struct cmd_ctx *c = ctx;
  return c->live ? nono_live_settle(c->live, all_gone) : 0;
}

static void free_ctx(void *ctx) {
  struct cmd_ctx *c = ctx;
  free(c->guard);
  nono_live_cmd_free(c->live);
  free(c);
}

static const struct nono_notif_ops guard_only = {handle, NULL, free_ctx};
static const struct nono_notif_ops with_live = {handle, settle, free_ctx};

int nono_cmd_listener_start(struct nono_cmd_listener *c, const struct nono_connect_guard *g, struct nono_live_plan *l) {
  int listener = nono_recv_fd(c->sock[0]);
  nono_cmd_listener_close(c);
  if (listener < 0) return -listener;
  struct cmd_ctx *x = calloc(1, sizeof *x);
  int err = x ? 0 : ENOMEM;
  if (!err && g->enabled && !(x->guard = nono_connect_guard_rules(g))) err = ENOMEM;
  if (!err && l->enabled && !(x->live = nono_live_cmd_new(l, listener))) err = ENOMEM;
  if (err) {
    if (x) free_ctx(x);
    close(listener);
    return err;
  }
  return nono_notif_serve(listener, x->live ? nono_live_wake_fd(x->live) : -1, x->live ? &with_live : &guard_only, x);
}

void nono_cmd_listener_close(struct nono_cmd_listener *c) {
  for (int i = 0; i < 2; i++)
    if (c->sock[i] >= 0) {
      close(c->sock[i]);
      c->sock[i] = -1;
    }
}
