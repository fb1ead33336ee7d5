/* See live_approval.h. */
#include "live_approval.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "live_ops.h"
#include "napi_util.h"
#include "notify_listener.h"


#define LIVE_MAX_HELD 16 /* operations held at once per command (threads); more get EACCES at once */

/* ---- one command ---- */

struct held {
  int used;
  uint64_t id;
  uint32_t token;
  int verdict;   /* -1 waiting, 0 deny, 1 allow */
  struct live_req *rq; /* what was asked about (owned) */
};

struct live_cmd {
  struct live_cmd *next;
  int id;
  int listener;
  int wake; /* eventfd: answers arrived */
  pthread_mutex_t mu;
  struct nono_live_rules *rules;
  napi_threadsafe_function tsfn;
  uint32_t next_token;
  struct held held[LIVE_MAX_HELD];
};

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static struct live_cmd *table;
static int next_cmd_id = 1;
static int active;

struct event {
  int cmd;
  uint32_t token;
  int withdraw;
  int op;
  int is_dir;
  uint32_t need_a, need_b;
  size_t path2_off; /* 0: none */
  char path[];
};

static void post(struct live_cmd *c, const struct held *h, int withdraw) {
  const struct live_req *rq = h->rq;
  size_t n = strlen(rq->a.path) + 1;
  int two = rq->kind == LK_RENAME || rq->kind == LK_LINK;
  size_t n2 = two ? strlen(rq->b.path) + 1 : 0;
  struct event *e = malloc(sizeof *e + n + n2);
  if (!e) return;
  e->cmd = c->id;
  e->token = h->token;
  e->withdraw = withdraw;
  e->op = rq->op;
  e->is_dir = rq->is_dir;
  e->need_a = rq->need_a;
  e->need_b = rq->need_b;
  memcpy(e->path, rq->a.path, n);
  e->path2_off = two ? n : 0;
  if (two) memcpy(e->path + n, rq->b.path, n2);
  if (napi_call_threadsafe_function(c->tsfn, e, napi_tsfn_nonblocking) != napi_ok) free(e);
}

static void call_js(napi_env env, napi_value fn, void *context, void *data) {
  (void)context;
  struct event *e = data;
  if (env && fn && !nono_env_gone) {
    napi_value argv[9], undef;
    napi_get_undefined(env, &undef);
    napi_create_int32(env, e->cmd, &argv[0]);
    napi_create_uint32(env, e->token, &argv[1]);
    napi_create_string_utf8(env, e->withdraw ? "withdraw" : "ask", NAPI_AUTO_LENGTH, &argv[2]);
    napi_create_string_utf8(env, live_op_name(e->op), NAPI_AUTO_LENGTH, &argv[3]);
    /* Paths are bytes; Latin-1 keeps each byte (the supervisor turns it back into a Buffer). */
    napi_create_string_latin1(env, e->path, NAPI_AUTO_LENGTH, &argv[4]);
    if (e->path2_off) napi_create_string_latin1(env, e->path + e->path2_off, NAPI_AUTO_LENGTH, &argv[5]);
    else argv[5] = undef;
    napi_get_boolean(env, e->is_dir, &argv[6]);
    napi_create_uint32(env, e->need_a, &argv[7]);
    napi_create_uint32(env, e->need_b, &argv[8]);
    napi_call_function(env, undef, fn, 9, argv, NULL);
  }
  free(e);
}

enum { ANSWERED, HELD };

/* Decides one notification (live_ops.h). ANSWERED with resp filled, or HELD (slot filled,
 * JavaScript told). */
static int on_call(struct live_cmd *c, const struct seccomp_notif *req, struct seccomp_notif_resp *resp) {
  struct live_req *rq = malloc(sizeof *rq);
  if (!rq) return ANSWERED; /* CONTINUE is already set: Landlock decides */
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  int v = live_classify(c->listener, req, c->rules, rq, resp);
  if (v != LIVE_HOLD) {
    free(rq);
    return ANSWERED;
  }
  /* Denied by the policy: hold it and ask. */
  pthread_mutex_lock(&c->mu);
  struct held *slot = NULL;
  for (int i = 0; i < LIVE_MAX_HELD && !slot; i++)
    if (!c->held[i].used) slot = &c->held[i];
  if (!slot) {
    pthread_mutex_unlock(&c->mu);
    free(rq);
    resp->flags = 0;
    resp->error = -EACCES;
    return ANSWERED;
  }
  slot->used = 1;
  slot->id = req->id;
  slot->token = ++c->next_token;
  slot->verdict = -1;
  slot->rq = rq;
  post(c, slot, 0);
  pthread_mutex_unlock(&c->mu);
  return HELD;
}

static void answer_deny(struct live_cmd *c, uint64_t id) {
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = id;
  resp.error = -EACCES;
  ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* Answers what JavaScript decided, and withdraws what nobody waits for any more. */
static int settle(struct live_cmd *c, int all_gone) {
  struct held todo[4];
  int pending = 0;
  for (;;) {
    int n = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < LIVE_MAX_HELD && n < 4; i++) {
      struct held *h = &c->held[i];
      if (!h->used) continue;
      int gone = all_gone || !nono_notif_id_valid(c->listener, h->id);
      if (gone) post(c, h, 1);
      if (gone || h->verdict >= 0) {
        todo[n] = *h;
        if (gone) todo[n].verdict = -2;
        n++;
        h->used = 0;
      }
    }
    pending = 0;
    for (int i = 0; i < LIVE_MAX_HELD; i++) pending += c->held[i].used;
    pthread_mutex_unlock(&c->mu);
    if (!n) return pending;
    for (int i = 0; i < n; i++) {
      if (todo[i].verdict == 1) live_perform(c->listener, todo[i].id, todo[i].rq);
      else if (todo[i].verdict == 0) answer_deny(c, todo[i].id);
      free(todo[i].rq);
    }
  }
}

/* ---- the command's listener (command_listener.c) calls these, on its thread ---- */

int nono_live_on_notification(struct live_cmd *c, const struct seccomp_notif *req, struct seccomp_notif_resp *resp) {
  return on_call(c, req, resp) == HELD ? NONO_NOTIF_HELD : NONO_NOTIF_ANSWERED;
}

int nono_live_settle(struct live_cmd *c, int all_gone) { return settle(c, all_gone); }

int nono_live_wake_fd(const struct live_cmd *c) { return c->wake; }

void nono_live_cmd_free(struct live_cmd *c) {
  if (!c) return;
  pthread_mutex_lock(&table_mu);
  for (struct live_cmd **pp = &table; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  pthread_mutex_unlock(&table_mu);
  napi_release_threadsafe_function(c->tsfn, napi_tsfn_release);
  close(c->wake);
  live_rules_unref(c->rules);
  pthread_mutex_destroy(&c->mu);
  free(c);
  __atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
}

/* ---- spawn integration ---- */

static void rules_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  live_rules_unref(data);
}

int nono_live_from_js(napi_env env, napi_value opts, struct nono_live_plan *p) {
  memset(p, 0, sizeof *p);
  napi_value o = nono_get_prop(env, opts, "liveApproval");
  if (!o) return 1;
  napi_value rules = nono_get_prop(env, o, "rules"), on_event = nono_get_prop(env, o, "onEvent");
  void *rs = NULL;
  napi_valuetype t = napi_undefined;
  if (on_event) napi_typeof(env, on_event, &t);
  if (!rules || napi_get_value_external(env, rules, &rs) != napi_ok || !rs || t != napi_function) {
    nono_throw(env, "spawn: liveApproval needs {rules: liveRules(...), onEvent: function}");
    return 0;
  }
  napi_value name;
  napi_create_string_utf8(env, "nono:live-approval", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, on_event, NULL, name, 0, 1, NULL, NULL, NULL, call_js, &p->tsfn) != napi_ok) {
    nono_live_close(p);
    nono_throw(env, "spawn: cannot create live approval's callback");
    return 0;
  }
  /* A command waiting on a question must not keep Node alive on its own account. */
  napi_unref_threadsafe_function(env, p->tsfn);
  p->rules = rs;
  __atomic_add_fetch(&p->rules->refs, 1, __ATOMIC_ACQ_REL);
  p->enabled = 1;
  return 1;
}

struct live_cmd *nono_live_cmd_new(struct nono_live_plan *p, int listener) {
  struct live_cmd *c = calloc(1, sizeof *c);
  int wake = c ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
  if (wake < 0) {
    free(c);
    return NULL;
  }
  c->listener = listener;
  c->wake = wake;
  pthread_mutex_init(&c->mu, NULL);
  c->rules = p->rules;
  c->tsfn = p->tsfn;
  p->rules = NULL; /* the command's listener owns both now */
  p->tsfn = NULL;
  __atomic_add_fetch(&active, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&table_mu);
  c->id = next_cmd_id++;
  c->next = table;
  table = c;
  pthread_mutex_unlock(&table_mu);
  return c;
}

void nono_live_close(struct nono_live_plan *p) {
  if (p->tsfn) {
    napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
    p->tsfn = NULL;
  }
  live_rules_unref(p->rules);
  p->rules = NULL;
}

/* ---- JavaScript ---- */

napi_value nono_live_supported_js(napi_env env, napi_callback_info info) {
  (void)info;
  const char *why = NULL;
  napi_value v;
  /* user notifications, thread pidfds (the dirfd of an openat), Linux >= 6.9; that kernel also
   * has ADDFD with SEND (5.14) and WAIT_KILLABLE_RECV (5.19). */
  int err = nono_notif_supported(&why);
#if !defined(__x86_64__) && !defined(__aarch64__)
  err = ENOSYS;
  why = "a seccomp filter for this CPU architecture";
#endif
  if (err == 0) napi_get_null(env, &v);
  else napi_create_string_utf8(env, why ? why : "seccomp user notifications", NAPI_AUTO_LENGTH, &v);
  return v;
}

/* liveRules(rules: Array<[path, rights]>, handledFs) -> external */
napi_value nono_live_rules_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t n = 0, handled = 0;
  bool is_array = false;
  if (argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_value_uint32(env, argv[1], &handled) != napi_ok) {
    nono_throw(env, "liveRules(rules: [path, rights][], handledFs)");
    return NULL;
  }
  napi_get_array_length(env, argv[0], &n);
  struct nono_live_rules *rs = calloc(1, sizeof *rs);
  if (rs) rs->r = calloc(n ? n : 1, sizeof *rs->r);
  if (!rs || !rs->r) {
    free(rs);
    nono_throw(env, "liveRules: out of memory");
    return NULL;
  }
  rs->refs = 1;
  rs->handled = handled;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e, pv, rv;
    uint32_t rights = 0;
    napi_get_element(env, argv[0], i, &e);
    napi_get_element(env, e, 0, &pv);
    napi_get_element(env, e, 1, &rv);
    char *path = nono_get_bytes(env, pv, "liveRules path");
    if (!path || napi_get_value_uint32(env, rv, &rights) != napi_ok) {
      free(path);
      live_rules_unref(rs);
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) nono_throw(env, "liveRules: each rule is [path, rights]");
      return NULL;
    }
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') path[--len] = '\0';
    rs->r[rs->n++] = (struct live_rule){path, len, rights};
  }
  napi_value ext;
  if (napi_create_external(env, rs, rules_finalize, NULL, &ext) != napi_ok) {
    live_rules_unref(rs);
    nono_throw(env, "liveRules: cannot wrap");
    return NULL;
  }
  return ext;
}

/* liveAnswer(cmdId, token, allow: boolean) -> boolean (false: nobody waits for it any more) */
napi_value nono_live_answer_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t id = 0;
  uint32_t token = 0;
  bool allow = false;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &id) != napi_ok || napi_get_value_uint32(env, argv[1], &token) != napi_ok ||
      napi_get_value_bool(env, argv[2], &allow) != napi_ok) {
    nono_throw(env, "liveAnswer(cmdId, token, allow)");
    return NULL;
  }
  int found = 0;
  pthread_mutex_lock(&table_mu);
  for (struct live_cmd *c = table; c; c = c->next) {
    if (c->id != id) continue;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < LIVE_MAX_HELD; i++)
      if (c->held[i].used && c->held[i].token == token && c->held[i].verdict < 0) {
        c->held[i].verdict = allow ? 1 : 0;
        found = 1;
      }
    pthread_mutex_unlock(&c->mu);
    if (found) {
      uint64_t one = 1;
      if (write(c->wake, &one, sizeof one) < 0) { /* counter full: already woken */ }
    }
    break;
  }
  pthread_mutex_unlock(&table_mu);
  napi_value v;
  napi_get_boolean(env, found, &v);
  return v;
}

napi_value nono_live_listeners_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, __atomic_load_n(&active, __ATOMIC_SEQ_CST), &v);
  return v;
}
