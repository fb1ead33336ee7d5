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

#include "napi_util.h"
#include "notify_listener.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

#define LL_READ_FILE (1u << 2)
#define LL_READ_DIR (1u << 3)
#define LIVE_MAX_HELD 16 /* opens held at once per command (threads); more get EACCES at once */

/* ---- the compiled rules (one set per policy, shared by its commands) ---- */

struct live_rule {
  char *path;
  size_t len;
  uint32_t rights;
};

struct nono_live_rules {
  int refs;
  uint32_t handled;
  size_t n;
  struct live_rule *r;
};

static void rules_unref(struct nono_live_rules *rs) {
  if (!rs || __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  for (size_t i = 0; i < rs->n; i++) free(rs->r[i].path);
  free(rs->r);
  free(rs);
}

/* The rights Landlock grants on PATH (canonical): those of every rule on it or an ancestor. */
static uint32_t rights_at(const struct nono_live_rules *rs, const char *path) {
  size_t plen = strlen(path);
  uint32_t got = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const struct live_rule *r = &rs->r[i];
    if (r->len == 1 && r->path[0] == '/') got |= r->rights;
    else if (plen >= r->len && memcmp(path, r->path, r->len) == 0 && (path[r->len] == '\0' || path[r->len] == '/'))
      got |= r->rights;
  }
  return got;
}

/* ---- one command ---- */

struct held {
  int used;
  uint64_t id;
  uint32_t token;
  int flags;     /* what the command asked for */
  int verdict;   /* -1 waiting, 0 deny, 1 allow */
  dev_t dev;
  ino_t ino;
  char path[PATH_MAX];
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
  int is_dir;
  char path[];
};

static void post(struct live_cmd *c, const struct held *h, int withdraw, int is_dir) {
  size_t n = strlen(h->path) + 1;
  struct event *e = malloc(sizeof *e + n);
  if (!e) return;
  e->cmd = c->id;
  e->token = h->token;
  e->withdraw = withdraw;
  e->is_dir = is_dir;
  memcpy(e->path, h->path, n);
  if (napi_call_threadsafe_function(c->tsfn, e, napi_tsfn_nonblocking) != napi_ok) free(e);
}

static void call_js(napi_env env, napi_value fn, void *context, void *data) {
  (void)context;
  struct event *e = data;
  if (env && fn && !nono_env_gone) {
    napi_value argv[5], undef;
    napi_create_int32(env, e->cmd, &argv[0]);
    napi_create_uint32(env, e->token, &argv[1]);
    napi_create_string_utf8(env, e->withdraw ? "withdraw" : "ask", NAPI_AUTO_LENGTH, &argv[2]);
    /* Paths are bytes; Latin-1 keeps each byte (the supervisor turns it back into a Buffer). */
    napi_create_string_latin1(env, e->path, NAPI_AUTO_LENGTH, &argv[3]);
    napi_get_boolean(env, e->is_dir, &argv[4]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, fn, 5, argv, NULL);
  }
  free(e);
}

/* Copies the NUL-terminated string at ADDR in the target, page by page. 0 or an errno. */
static int read_cstr(int listener, const struct seccomp_notif *req, uint64_t addr, char *buf, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    size_t chunk = 4096 - ((addr + got) & 4095);
    if (chunk > cap - got) chunk = cap - got;
    int e = nono_notif_read_mem(listener, req, addr + got, buf + got, chunk);
    if (e) return e;
    if (memchr(buf + got, 0, chunk)) return 0;
    got += chunk;
  }
  return ENAMETOOLONG;
}

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Flags kept when the supervisor opens for a read grant: never create, truncate or write. */
#define READ_KEEP (O_NONBLOCK | O_DIRECTORY | O_NOFOLLOW | O_NOCTTY | O_NOATIME | O_DIRECT | O_SYNC | O_DSYNC)

enum { ANSWERED, HELD };

/* Decides one open. ANSWERED with resp filled, or HELD (slot filled, JavaScript told). */
static int on_open(struct live_cmd *c, const struct seccomp_notif *req, struct seccomp_notif_resp *resp) {
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* the default: Landlock decides */
  const __u64 *a = req->data.args;
  int dirfd = AT_FDCWD;
  uint64_t addr, flags, resolve = 0;
  switch (req->data.nr) {
    case SYS_openat: dirfd = (int)a[0]; addr = a[1]; flags = (uint32_t)a[2]; break;
#ifdef SYS_open
    case SYS_open: addr = a[0]; flags = (uint32_t)a[1]; break;
    case SYS_creat: return ANSWERED; /* creates: Landlock decides (not in this slice) */
#endif
    case SYS_openat2: {
      struct open_how how;
      if (a[3] < sizeof how) return ANSWERED; /* the kernel will answer EINVAL */
      memset(&how, 0, sizeof how);
      if (nono_notif_read_mem(c->listener, req, a[2], &how, sizeof how) != 0) return ANSWERED;
      dirfd = (int)a[0]; addr = a[1]; flags = how.flags; resolve = how.resolve;
      break;
    }
    default: return ANSWERED;
  }
  /* This slice holds reads only. O_PATH is never checked by Landlock. */
  if ((flags & O_PATH) || (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | 020000000 /* O_TMPFILE without O_DIRECTORY */))) return ANSWERED;
  char path[PATH_MAX];
  if (read_cstr(c->listener, req, addr, path, sizeof path) != 0 || path[0] == '\0') return ANSWERED;
  /* Resolve as the command would: from its cwd or its dirfd, never through a magic link. */
  int base = AT_FDCWD, own_base = 0;
  if (path[0] != '/') {
    if (dirfd == AT_FDCWD) {
      char proc[64];
      snprintf(proc, sizeof proc, "/proc/%u/cwd", req->pid);
      base = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
      /* The pid may have been recycled before the open: only a pending id proves it was ours. */
      if (base >= 0 && !nono_notif_id_valid(c->listener, req->id)) {
        close(base);
        return ANSWERED;
      }
    } else {
      base = nono_notif_take_fd(c->listener, req, dirfd);
    }
    if (base < 0) return ANSWERED;
    own_base = 1;
  }
  int probe = sys_openat2(base, path, O_PATH | O_CLOEXEC | (flags & (O_NOFOLLOW | O_DIRECTORY)),
                          (resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)) |
                              RESOLVE_NO_MAGICLINKS);
  if (own_base) close(base);
  if (probe < 0) return ANSWERED; /* ENOENT, ELOOP...: the kernel says the same, or Landlock decides */
  struct held h;
  memset(&h, 0, sizeof h);
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", probe);
  ssize_t n = readlink(self, h.path, sizeof h.path - 1);
  struct stat st;
  int ok = n > 0 && fstat(probe, &st) == 0;
  close(probe);
  if (!ok || h.path[0] != '/') return ANSWERED;
  h.path[n] = '\0';
  if (S_ISLNK(st.st_mode)) return ANSWERED; /* O_NOFOLLOW on a link: the kernel answers ELOOP */
  /* /proc names differ per process (self, thread-self, fd/...): never judged from here. A
   * deleted or unreachable file has no path to show. */
  if (strncmp(h.path, "/proc", 5) == 0 && (h.path[5] == '\0' || h.path[5] == '/')) return ANSWERED;
  if ((size_t)n >= 10 && strcmp(h.path + n - 10, " (deleted)") == 0) return ANSWERED;
  int is_dir = S_ISDIR(st.st_mode);
  uint32_t need = is_dir ? LL_READ_DIR : LL_READ_FILE;
  if (!(need & c->rules->handled) || (rights_at(c->rules, h.path) & need)) return ANSWERED; /* allowed */
  /* Denied by the policy: hold it and ask. */
  pthread_mutex_lock(&c->mu);
  struct held *slot = NULL;
  for (int i = 0; i < LIVE_MAX_HELD && !slot; i++)
    if (!c->held[i].used) slot = &c->held[i];
  if (!slot) {
    pthread_mutex_unlock(&c->mu);
    resp->flags = 0;
    resp->error = -EACCES;
    return ANSWERED;
  }
  *slot = h;
  slot->used = 1;
  slot->id = req->id;
  slot->token = ++c->next_token;
  slot->flags = (int)flags;
  slot->verdict = -1;
  slot->dev = st.st_dev;
  slot->ino = st.st_ino;
  post(c, slot, 0, is_dir);
  pthread_mutex_unlock(&c->mu);
  return HELD;
}

/* Performs an allowed read on exactly the path shown, and answers with the descriptor. */
static void perform(struct live_cmd *c, const struct held *h) {
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = h->id;
  int fd = sys_openat2(AT_FDCWD, h->path, O_RDONLY | O_CLOEXEC | (h->flags & READ_KEEP),
                       RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  int err = fd < 0 ? errno : 0;
  struct stat st;
  if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_dev != h->dev || st.st_ino != h->ino)) err = EACCES; /* swapped */
  if (err == ELOOP || err == EXDEV) err = EACCES; /* a link put in its way: not what was shown */
  if (!err) {
    struct seccomp_notif_addfd add = {
        .id = h->id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (uint32_t)fd, .newfd = 0,
        .newfd_flags = (h->flags & O_CLOEXEC) ? O_CLOEXEC : 0};
    /* Installs the descriptor and answers with its number, atomically; ENOENT: gone meanwhile. */
    int got = ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
    close(fd);
    if (got >= 0 || errno == ENOENT) return;
    err = errno; /* EMFILE in the command, for instance */
  } else if (fd >= 0) {
    close(fd);
  }
  resp.error = -err;
  ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
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
      if (gone) post(c, h, 1, 0);
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
      if (todo[i].verdict == 1) perform(c, &todo[i]);
      else if (todo[i].verdict == 0) answer_deny(c, todo[i].id);
    }
  }
}

/* ---- the command's listener (command_listener.c) calls these, on its thread ---- */

int nono_live_on_notification(struct live_cmd *c, const struct seccomp_notif *req, struct seccomp_notif_resp *resp) {
  return on_open(c, req, resp) == HELD ? NONO_NOTIF_HELD : NONO_NOTIF_ANSWERED;
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
  rules_unref(c->rules);
  pthread_mutex_destroy(&c->mu);
  free(c);
  __atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
}

/* ---- spawn integration ---- */

static void rules_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  rules_unref(data);
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
  rules_unref(p->rules);
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
      rules_unref(rs);
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
    rules_unref(rs);
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
