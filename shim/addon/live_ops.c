/* See live_ops.h. */
#include "live_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "notify_listener.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#define LIVE_O_TMPFILE_BIT 020000000 /* O_TMPFILE without O_DIRECTORY */

/* Everything a rename or link can need on a parent, for the lexical fast path (which does not
 * know the types involved yet). */
#define LL_NAME_ALL                                                                                           \
  (LL_REMOVE_DIR | LL_REMOVE_FILE | LL_MAKE_DIR | LL_MAKE_REG | LL_MAKE_SOCK | LL_MAKE_FIFO | LL_MAKE_SYM | \
   LL_REFER)

/* ---- rules ---- */

void live_rules_unref(struct nono_live_rules *rs) {
  if (!rs || __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  for (size_t i = 0; i < rs->n; i++) free(rs->r[i].path);
  free(rs->r);
  free(rs);
}

uint32_t live_rights_at(const struct nono_live_rules *rs, const char *path, size_t plen) {
  uint32_t got = 0;
  for (size_t i = 0; i < rs->n; i++) {
    const struct live_rule *r = &rs->r[i];
    if (r->len == 1 && r->path[0] == '/') got |= r->rights;
    else if (plen >= r->len && memcmp(path, r->path, r->len) == 0 && (plen == r->len || path[r->len] == '/'))
      got |= r->rights;
  }
  return got;
}

/* Whether the rules grant NEED at PATH[0..len) (only what the ruleset handles can be denied). */
static int granted(const struct nono_live_rules *rs, const char *path, size_t len, uint32_t need) {
  need &= rs->handled;
  return need == 0 || (live_rights_at(rs, path, len) & need) == need;
}

static size_t parent_len(const struct live_place *p) { return p->name_off > 1 ? p->name_off - 1 : 1; }

const char *live_op_name(int op) {
  switch (op) {
    case LIVE_READ: return "read";
    case LIVE_LIST: return "list";
    case LIVE_WRITE: return "write";
    case LIVE_CREATE: return "create";
    case LIVE_DELETE: return "delete";
    default: return "rename";
  }
}

static uint32_t make_right(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFDIR: return LL_MAKE_DIR;
    case S_IFLNK: return LL_MAKE_SYM;
    case S_IFIFO: return LL_MAKE_FIFO;
    case S_IFSOCK: return LL_MAKE_SOCK;
    case S_IFCHR: return LL_MAKE_CHAR;
    case S_IFBLK: return LL_MAKE_BLOCK;
    default: return LL_MAKE_REG;
  }
}

static uint32_t remove_right(mode_t m) { return S_ISDIR(m) ? LL_REMOVE_DIR : LL_REMOVE_FILE; }

/* ---- reading the call ---- */

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Copies the NUL-terminated string at ADDR in the target, page by page, without confirming that
 * the task is still the caller (see read_cstr). 0 or an errno. */
static int read_cstr_unchecked(const struct seccomp_notif *req, uint64_t addr, char *buf, size_t cap) {
  size_t got = 0;
  while (got < cap) {
    size_t chunk = 4096 - ((addr + got) & 4095);
    if (chunk > cap - got) chunk = cap - got;
    int e = nono_notif_read_mem_unchecked(req, addr + got, buf + got, chunk);
    if (e) return e;
    if (memchr(buf + got, 0, chunk)) return 0;
    got += chunk;
  }
  return ENAMETOOLONG;
}

/* The same, confirmed: the caller's string. */
static int read_cstr(int listener, const struct seccomp_notif *req, uint64_t addr, char *buf, size_t cap) {
  int e = read_cstr_unchecked(req, addr, buf, cap);
  if (e) return e;
  return nono_notif_id_valid(listener, req->id) ? 0 : ESRCH;
}

static int is_proc(const char *p) { return strncmp(p, "/proc", 5) == 0 && (p[5] == '\0' || p[5] == '/'); }

/* The canonical path of FD (an O_PATH descriptor of ours) into OUT; 0, or -1 when it has none
 * that names it for everyone (deleted, outside our root, a /proc name). */
static int fd_path(int fd, char *out, size_t cap, size_t *len) {
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(self, out, cap - 1);
  if (n <= 0 || out[0] != '/') return -1;
  out[n] = '\0';
  if ((size_t)n >= 10 && strcmp(out + n - 10, " (deleted)") == 0) return -1;
  if (is_proc(out)) return -1;
  *len = (size_t)n;
  return 0;
}

/* ---- fast path: the lexical answer ---- */

/* PATH joined to the command's cwd or DIRFD as /proc shows them, into OUT (cap PATH_MAX), and
 * only when the result has no ".", ".." or empty component (else -1: the careful path decides).
 * Strips trailing slashes. No validity check of the notification is needed: whatever this
 * concludes only ever leads to CONTINUE, which leaves the decision to Landlock.
 * Measured (issue 11): the readlink of /proc/PID/cwd is ~2 us of a ~10 us notification; a cache
 * of the cwd per thread saved that on relative opens (~1 % of `git status`, ~120 of them), a
 * readlinkat on a kept /proc/PID descriptor saved nothing (the cost is the ptrace check and
 * d_path, not the lookup). The cache is not done: it needs chdir and fchdir trapped, and
 * invalidation against a chdir still in flight in a thread sharing the cwd and against a
 * recycled thread id (pid_max is 32768 here). */
static int lexical(const struct seccomp_notif *req, int dirfd, const char *path, char *out, size_t *len) {
  size_t n = 0;
  if (path[0] != '/') {
    char proc[64];
    if (dirfd == AT_FDCWD) snprintf(proc, sizeof proc, "/proc/%u/cwd", req->pid);
    else snprintf(proc, sizeof proc, "/proc/%u/fd/%d", req->pid, dirfd);
    ssize_t r = readlink(proc, out, PATH_MAX - 1);
    if (r <= 0 || out[0] != '/') return -1;
    n = (size_t)r;
    if (n == 1) n = 0; /* "/" */
    out[n++] = '/';
  }
  size_t pl = strlen(path);
  if (n + pl >= PATH_MAX) return -1;
  memcpy(out + n, path, pl + 1);
  n += pl;
  while (n > 1 && out[n - 1] == '/') out[--n] = '\0';
  /* Every component must be a plain name. */
  for (size_t i = 0; i < n; i++) {
    if (out[i] != '/') continue;
    const char *c = out + i + 1;
    if (i + 1 < n && (c[0] == '/' || (c[0] == '.' && (c[1] == '/' || c[1] == '\0')) ||
                      (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))))
      return -1;
  }
  if (n >= 10 && strstr(out, " (deleted)")) return -1;
  *len = n;
  return 0;
}

static int lexical_granted(const struct nono_live_rules *rs, const char *p, size_t n, uint32_t at_path, uint32_t at_parent) {
  if (at_path && !granted(rs, p, n, at_path)) return 0;
  if (at_parent) {
    const char *slash = memrchr(p, '/', n);
    size_t plen = slash && slash != p ? (size_t)(slash - p) : 1;
    if (!granted(rs, p, plen, at_parent)) return 0;
  }
  return 1;
}

/* ---- careful path: resolution as the command would resolve ---- */

/* The directory a relative path starts from for the command: its cwd or its DIRFD, as a
 * descriptor of ours (*own set), or AT_FDCWD for an absolute path. -1: cannot tell. */
static int open_base(int listener, const struct seccomp_notif *req, int dirfd, const char *path, int *own) {
  *own = 0;
  if (path[0] == '/') return AT_FDCWD;
  int base;
  if (dirfd == AT_FDCWD) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%u/cwd", req->pid);
    base = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
    /* The pid may have been recycled before the open: only a pending id proves it was ours. */
    if (base >= 0 && !nono_notif_id_valid(listener, req->id)) {
      close(base);
      return -1;
    }
  } else {
    base = nono_notif_take_fd(listener, req, dirfd);
  }
  if (base < 0) return -1;
  *own = 1;
  return base;
}

/* An existing file, resolved from the command's base as it would (following symlinks unless
 * asked not to, never magic links). 0 with PL (canonical path, the file's dev/ino) and *ST, or
 * an errno (ENOENT: nothing there; anything else: let Landlock decide). */
static int resolve_file(int listener, const struct seccomp_notif *req, int dirfd, const char *path, uint64_t oflags,
                        uint64_t resolve, struct live_place *pl, struct stat *st) {
  int own, base = open_base(listener, req, dirfd, path, &own);
  if (base == -1) return EPERM;
  int probe = sys_openat2(base, path, O_PATH | O_CLOEXEC | (oflags & (O_NOFOLLOW | O_DIRECTORY)),
                          (resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)) |
                              RESOLVE_NO_MAGICLINKS);
  int e = probe < 0 ? errno : 0;
  if (own) close(base);
  if (probe < 0) return e;
  size_t n;
  int ok = fd_path(probe, pl->path, sizeof pl->path, &n) == 0 && fstat(probe, st) == 0;
  close(probe);
  if (!ok) return EPERM;
  pl->name_off = 0;
  pl->dev = st->st_dev;
  pl->ino = st->st_ino;
  pl->has_obj = 1;
  pl->omode = st->st_mode;
  pl->odev = st->st_dev;
  pl->oino = st->st_ino;
  return 0;
}

/* A NAME the call creates, removes or renames: its parent resolved from the command's base as
 * the command would (never magic links), to its canonical path and inode, and the last
 * component as written; what is at the name now (not following a symlink there). TRAILING:
 * trailing slashes are allowed (a directory operation). 0 with PL, or -1: let Landlock decide. */
static int resolve_name(int listener, const struct seccomp_notif *req, int dirfd, const char *path, int trailing,
                        uint64_t resolve, struct live_place *pl) {
  char dir[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof dir) return -1;
  memcpy(dir, path, n + 1);
  if (dir[n - 1] == '/') {
    if (!trailing) return -1;
    while (n > 0 && dir[n - 1] == '/') dir[--n] = '\0';
    if (n == 0) return -1; /* "/" itself */
  }
  char *slash = strrchr(dir, '/');
  const char *name = slash ? slash + 1 : dir;
  if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strlen(name) > NAME_MAX) return -1;
  char namebuf[NAME_MAX + 1];
  strcpy(namebuf, name);
  const char *dirpart = ".";
  if (slash == dir) dirpart = "/";
  else if (slash) {
    *slash = '\0';
    dirpart = dir;
  }
  int own, base = open_base(listener, req, dirfd, path, &own);
  if (base == -1) return -1;
  int pfd = sys_openat2(base, dirpart, O_PATH | O_DIRECTORY | O_CLOEXEC, (resolve & RESOLVE_NO_SYMLINKS) | RESOLVE_NO_MAGICLINKS);
  if (own) close(base);
  if (pfd < 0) return -1; /* ENOENT, ENOTDIR...: the kernel says the same */
  size_t plen;
  struct stat pst, ost;
  int ok = fd_path(pfd, pl->path, sizeof pl->path, &plen) == 0 && fstat(pfd, &pst) == 0;
  int has = ok && fstatat(pfd, namebuf, &ost, AT_SYMLINK_NOFOLLOW) == 0;
  int lookup_err = errno;
  close(pfd);
  if (!ok) return -1;
  if (!has && lookup_err != ENOENT) return -1; /* EACCES on the parent and the like: the kernel decides */
  size_t nl = strlen(namebuf);
  if (plen == 1) plen = 0; /* the parent is "/" */
  if (plen + 1 + nl >= sizeof pl->path) return -1;
  pl->path[plen] = '/';
  memcpy(pl->path + plen + 1, namebuf, nl + 1);
  pl->name_off = plen + 1;
  pl->dev = pst.st_dev;
  pl->ino = pst.st_ino;
  pl->has_obj = has;
  pl->omode = has ? ost.st_mode : 0;
  pl->odev = has ? ost.st_dev : 0;
  pl->oino = has ? ost.st_ino : 0;
  /* A trailing slash on something that is not a directory: ENOTDIR from the kernel. */
  if (path[strlen(path) - 1] == '/' && has && !S_ISDIR(ost.st_mode)) return -1;
  return 0;
}

/* The command's umask, from /proc/PID/status; -1 when it cannot be read for this notification. */
static int read_umask(int listener, const struct seccomp_notif *req) {
  char proc[64], buf[4096];
  snprintf(proc, sizeof proc, "/proc/%u/status", req->pid);
  int fd = open(proc, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char *u = strstr(buf, "\nUmask:\t");
  if (!u) return -1;
  long v = strtol(u + 8, NULL, 8);
  /* The pid could have been recycled: only a still-pending id proves the status was ours. */
  if (!nono_notif_id_valid(listener, req->id)) return -1;
  return (int)(v & 0777);
}

/* ---- classification ---- */

struct call {
  int kind;
  int dirfd, dirfd2;
  uint64_t addr, addr2, addr_link;
  uint64_t flags, resolve;
  uint32_t mode;
  int64_t length;
};

/* Reads which call this is and its arguments. 0, or -1 (not ours to judge: CONTINUE). */
static int decode(int listener, const struct seccomp_notif *req, struct call *c) {
  const __u64 *a = req->data.args;
  memset(c, 0, sizeof *c);
  c->dirfd = c->dirfd2 = AT_FDCWD;
  switch (req->data.nr) {
#ifdef SYS_open
    case SYS_open: c->kind = LK_OPEN; c->addr = a[0]; c->flags = (uint32_t)a[1]; c->mode = (uint32_t)a[2]; return 0;
#endif
#ifdef SYS_creat
    case SYS_creat: c->kind = LK_OPEN; c->addr = a[0]; c->flags = O_CREAT | O_WRONLY | O_TRUNC; c->mode = (uint32_t)a[1]; return 0;
#endif
    case SYS_openat: c->kind = LK_OPEN; c->dirfd = (int)a[0]; c->addr = a[1]; c->flags = (uint32_t)a[2]; c->mode = (uint32_t)a[3]; return 0;
    case SYS_openat2: {
      struct open_how how;
      if (a[3] < sizeof how) return -1; /* the kernel answers EINVAL */
      memset(&how, 0, sizeof how);
      if (nono_notif_read_mem(listener, req, a[2], &how, sizeof how) != 0) return -1;
      c->kind = LK_OPEN; c->dirfd = (int)a[0]; c->addr = a[1]; c->flags = how.flags; c->mode = (uint32_t)how.mode; c->resolve = how.resolve;
      return 0;
    }
#ifdef SYS_mkdir
    case SYS_mkdir: c->kind = LK_MKDIR; c->addr = a[0]; c->mode = (uint32_t)a[1]; return 0;
#endif
    case SYS_mkdirat: c->kind = LK_MKDIR; c->dirfd = (int)a[0]; c->addr = a[1]; c->mode = (uint32_t)a[2]; return 0;
#ifdef SYS_mknod
    case SYS_mknod: c->kind = LK_MKNOD; c->addr = a[0]; c->mode = (uint32_t)a[1]; return 0;
#endif
    case SYS_mknodat: c->kind = LK_MKNOD; c->dirfd = (int)a[0]; c->addr = a[1]; c->mode = (uint32_t)a[2]; return 0;
#ifdef SYS_unlink
    case SYS_unlink: c->kind = LK_UNLINK; c->addr = a[0]; return 0;
#endif
#ifdef SYS_rmdir
    case SYS_rmdir: c->kind = LK_UNLINK; c->addr = a[0]; c->flags = AT_REMOVEDIR; return 0;
#endif
    case SYS_unlinkat: c->kind = LK_UNLINK; c->dirfd = (int)a[0]; c->addr = a[1]; c->flags = (uint32_t)a[2]; return 0;
#ifdef SYS_rename
    case SYS_rename: c->kind = LK_RENAME; c->addr = a[0]; c->addr2 = a[1]; return 0;
#endif
#ifdef SYS_renameat
    case SYS_renameat: c->kind = LK_RENAME; c->dirfd = (int)a[0]; c->addr = a[1]; c->dirfd2 = (int)a[2]; c->addr2 = a[3]; return 0;
#endif
    case SYS_renameat2:
      c->kind = LK_RENAME; c->dirfd = (int)a[0]; c->addr = a[1]; c->dirfd2 = (int)a[2]; c->addr2 = a[3]; c->flags = (uint32_t)a[4];
      return 0;
    /* link: addr = the new name (what is created), addr2 = the existing file. */
#ifdef SYS_link
    case SYS_link: c->kind = LK_LINK; c->addr2 = a[0]; c->addr = a[1]; return 0;
#endif
    case SYS_linkat:
      c->kind = LK_LINK; c->dirfd2 = (int)a[0]; c->addr2 = a[1]; c->dirfd = (int)a[2]; c->addr = a[3]; c->flags = (uint32_t)a[4];
      return 0;
#ifdef SYS_symlink
    case SYS_symlink: c->kind = LK_SYMLINK; c->addr_link = a[0]; c->addr = a[1]; return 0;
#endif
    case SYS_symlinkat: c->kind = LK_SYMLINK; c->addr_link = a[0]; c->dirfd = (int)a[1]; c->addr = a[2]; return 0;
    case SYS_truncate: c->kind = LK_TRUNCATE; c->addr = a[0]; c->length = (int64_t)a[1]; return 0;
    default: return -1;
  }
}

static uint32_t access_rights(uint64_t flags) {
  switch (flags & O_ACCMODE) {
    case O_RDONLY: return LL_READ_FILE;
    case O_WRONLY: return LL_WRITE_FILE;
    case O_RDWR: return LL_READ_FILE | LL_WRITE_FILE;
    default: return 0;
  }
}

/* The lexical answer: 1 when the rules allow the call on its path as written (CONTINUE at once). */
static int fast_allowed(const struct nono_live_rules *rs, const struct seccomp_notif *req, const struct call *c,
                        const char *path, const char *path2) {
  char p[PATH_MAX], q[PATH_MAX];
  size_t n, m;
  if (lexical(req, c->dirfd, path, p, &n) != 0) return 0;
  switch (c->kind) {
    case LK_OPEN:
    case LK_TRUNCATE: {
      /* The usual way into a denied file from an allowed place is a symlink as the last
       * component (project/notes -> ~/.ssh/config): one lstat keeps its live question. A link
       * higher up the path only loses the question (Landlock still denies). */
      struct stat st;
      if (fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) return 0;
      if (c->kind == LK_TRUNCATE) return lexical_granted(rs, p, n, LL_TRUNCATE, 0);

      uint32_t at_path = access_rights(c->flags) | ((c->flags & O_TRUNC) ? LL_TRUNCATE : 0) |
                         ((c->flags & O_DIRECTORY) ? LL_READ_DIR : 0);
      return lexical_granted(rs, p, n, at_path, (c->flags & O_CREAT) ? LL_MAKE_REG : 0);
    }
    case LK_MKDIR: return lexical_granted(rs, p, n, 0, LL_MAKE_DIR);
    case LK_MKNOD: return lexical_granted(rs, p, n, 0, make_right(c->mode));
    case LK_UNLINK: return lexical_granted(rs, p, n, 0, (c->flags & AT_REMOVEDIR) ? LL_REMOVE_DIR : LL_REMOVE_FILE);
    case LK_SYMLINK: return lexical_granted(rs, p, n, 0, LL_MAKE_SYM);
    case LK_RENAME:
    case LK_LINK:
      if (lexical(req, c->dirfd2, path2, q, &m) != 0) return 0;
      return lexical_granted(rs, p, n, 0, LL_NAME_ALL) && lexical_granted(rs, q, m, 0, LL_NAME_ALL);
  }
  return 0;
}

int live_classify(int listener, const struct seccomp_notif *req, const struct nono_live_rules *rules,
                  struct live_req *rq, struct seccomp_notif_resp *resp) {
  resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* the default: Landlock decides */
  struct call c;
  if (decode(listener, req, &c) != 0) return LIVE_CONTINUE;
  /* Never judged here: O_PATH (Landlock does not check it either), O_TMPFILE (no name), mknod
   * of a device (never made by us), renames with a whiteout, links by descriptor. */
  if (c.kind == LK_OPEN && ((c.flags & O_PATH) || (c.flags & LIVE_O_TMPFILE_BIT) || (c.flags & O_ACCMODE) == O_ACCMODE))
    return LIVE_CONTINUE;
  /* O_RDONLY | O_TRUNC: truncating through a read-only descriptor is not something we can do
   * after the inode check (ftruncate needs a writable one). */
  if (c.kind == LK_OPEN && (c.flags & O_TRUNC) && (c.flags & O_ACCMODE) == O_RDONLY) return LIVE_CONTINUE;
  if (c.kind == LK_MKNOD) {
    mode_t t = c.mode & S_IFMT;
    if (t == 0) c.mode |= S_IFREG;
    else if (t != S_IFREG && t != S_IFIFO && t != S_IFSOCK) return LIVE_CONTINUE;
  }
  if (c.kind == LK_RENAME && (c.flags & ~(uint64_t)(RENAME_NOREPLACE | RENAME_EXCHANGE))) return LIVE_CONTINUE;
  if (c.kind == LK_RENAME && (c.flags & RENAME_NOREPLACE) && (c.flags & RENAME_EXCHANGE)) return LIVE_CONTINUE; /* EINVAL */
  if (c.kind == LK_LINK && (c.flags & ~(uint64_t)AT_SYMLINK_FOLLOW)) return LIVE_CONTINUE;
  if (c.kind == LK_UNLINK && (c.flags & ~(uint64_t)AT_REMOVEDIR)) return LIVE_CONTINUE;
  if (c.kind == LK_TRUNCATE && c.length < 0) return LIVE_CONTINUE;

  /* The paths are read unconfirmed: the fast path only ever answers CONTINUE, so what it read
   * cannot matter if the pid was recycled meanwhile, and it saves an ioctl on every allowed call.
   * Everything after it decides on them, so the id is confirmed first (the reads came before:
   * a pending id now proves they read the caller). */
  char path[PATH_MAX], path2[PATH_MAX];
  if (read_cstr_unchecked(req, c.addr, path, sizeof path) != 0 || path[0] == '\0') return LIVE_CONTINUE;
  if ((c.kind == LK_RENAME || c.kind == LK_LINK) &&
      (read_cstr_unchecked(req, c.addr2, path2, sizeof path2) != 0 || path2[0] == '\0'))
    return LIVE_CONTINUE;
  if (fast_allowed(rules, req, &c, path, path2)) return LIVE_CONTINUE;
  if (!nono_notif_id_valid(listener, req->id)) return LIVE_CONTINUE; /* gone: nobody to ask for */

  memset(rq, 0, offsetof(struct live_req, linkto));
  rq->linkto[0] = '\0';
  rq->kind = c.kind;
  rq->flags = c.flags;
  rq->mode = c.mode;
  rq->length = c.length;
  int creates = 0;
  struct stat st;
  switch (c.kind) {
    case LK_OPEN: {
      uint32_t acc = access_rights(c.flags);
      int e = resolve_file(listener, req, c.dirfd, path, (c.flags & O_NOFOLLOW) | (c.flags & O_DIRECTORY) |
                           ((c.flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL) ? O_NOFOLLOW : 0), c.resolve, &rq->a, &st);
      if (e == 0) {
        if ((c.flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) return LIVE_CONTINUE; /* EEXIST */
        if (S_ISLNK(st.st_mode)) return LIVE_CONTINUE; /* O_NOFOLLOW on a link: ELOOP */
        if (S_ISDIR(st.st_mode)) {
          if (acc != LL_READ_FILE || (c.flags & (O_TRUNC | O_CREAT))) return LIVE_CONTINUE; /* EISDIR */
          rq->op = LIVE_LIST;
          rq->is_dir = 1;
          rq->need_a = LL_READ_DIR & rules->handled;
          if (granted(rules, rq->a.path, strlen(rq->a.path), LL_READ_DIR)) return LIVE_CONTINUE;
          return LIVE_HOLD;
        }
        /* Devices, fifos, sockets: opening them here could block or act on hardware. */
        if (!S_ISREG(st.st_mode)) return LIVE_CONTINUE;
        uint32_t need = acc | ((c.flags & O_TRUNC) ? LL_TRUNCATE : 0);
        rq->op = (need == LL_READ_FILE) ? LIVE_READ : LIVE_WRITE;
        rq->need_a = need & rules->handled;
        if (granted(rules, rq->a.path, strlen(rq->a.path), need)) return LIVE_CONTINUE;
        return LIVE_HOLD;
      }
      if (e != ENOENT || !(c.flags & O_CREAT) || (c.flags & O_DIRECTORY)) return LIVE_CONTINUE;
      /* A new file. Resolution limits of openat2 are not re-implemented for the parent. */
      if (c.resolve & ~(uint64_t)(RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)) return LIVE_CONTINUE;
      if (resolve_name(listener, req, c.dirfd, path, 0, c.resolve, &rq->a) != 0) return LIVE_CONTINUE;
      if (rq->a.has_obj) return LIVE_CONTINUE; /* a dangling symlink, or it appeared: the kernel decides */
      rq->op = LIVE_CREATE;
      rq->need_a = (LL_MAKE_REG | acc) & rules->handled;
      if (granted(rules, rq->a.path, parent_len(&rq->a), LL_MAKE_REG | acc)) return LIVE_CONTINUE;
      creates = 1;
      break;
    }
    case LK_MKDIR:
    case LK_MKNOD:
    case LK_SYMLINK: {
      if (resolve_name(listener, req, c.dirfd, path, c.kind == LK_MKDIR, 0, &rq->a) != 0) return LIVE_CONTINUE;
      if (rq->a.has_obj) return LIVE_CONTINUE; /* EEXIST */
      rq->op = LIVE_CREATE;
      rq->is_dir = c.kind == LK_MKDIR;
      uint32_t need = c.kind == LK_MKDIR ? LL_MAKE_DIR : c.kind == LK_SYMLINK ? LL_MAKE_SYM : make_right(c.mode);
      rq->need_a = need & rules->handled;
      if (granted(rules, rq->a.path, parent_len(&rq->a), need)) return LIVE_CONTINUE;
      if (c.kind == LK_SYMLINK) {
        if (read_cstr(listener, req, c.addr_link, rq->linkto, sizeof rq->linkto) != 0 || rq->linkto[0] == '\0')
          return LIVE_CONTINUE;
      } else {
        creates = 1;
      }
      break;
    }
    case LK_UNLINK: {
      int rmdir = (c.flags & AT_REMOVEDIR) != 0;
      if (resolve_name(listener, req, c.dirfd, path, rmdir, 0, &rq->a) != 0) return LIVE_CONTINUE;
      if (!rq->a.has_obj || (rmdir != !!S_ISDIR(rq->a.omode))) return LIVE_CONTINUE; /* ENOENT, EISDIR, ENOTDIR */
      rq->op = LIVE_DELETE;
      rq->is_dir = rmdir;
      rq->need_a = (rmdir ? LL_REMOVE_DIR : LL_REMOVE_FILE) & rules->handled;
      if (granted(rules, rq->a.path, parent_len(&rq->a), rmdir ? LL_REMOVE_DIR : LL_REMOVE_FILE)) return LIVE_CONTINUE;
      break;
    }
    case LK_RENAME: {
      if (resolve_name(listener, req, c.dirfd, path, 1, 0, &rq->a) != 0) return LIVE_CONTINUE;
      if (resolve_name(listener, req, c.dirfd2, path2, 1, 0, &rq->b) != 0) return LIVE_CONTINUE;
      if (!rq->a.has_obj) return LIVE_CONTINUE;
      if ((c.flags & RENAME_EXCHANGE) && !rq->b.has_obj) return LIVE_CONTINUE;
      if ((c.flags & RENAME_NOREPLACE) && rq->b.has_obj) return LIVE_CONTINUE;
      /* Onto itself, or a trailing slash on a non-directory: the kernel answers. */
      if (rq->b.has_obj && rq->b.odev == rq->a.odev && rq->b.oino == rq->a.oino) return LIVE_CONTINUE;
      if ((path2[strlen(path2) - 1] == '/' || path[strlen(path) - 1] == '/') && !S_ISDIR(rq->a.omode)) return LIVE_CONTINUE;
      uint32_t need_a = remove_right(rq->a.omode), need_b = make_right(rq->a.omode);
      if (rq->b.has_obj) need_b |= remove_right(rq->b.omode);
      if (c.flags & RENAME_EXCHANGE) need_a |= make_right(rq->b.omode);
      if (rq->a.dev != rq->b.dev || rq->a.ino != rq->b.ino) {
        need_a |= LL_REFER;
        need_b |= LL_REFER;
      }
      rq->op = LIVE_RENAME;
      rq->is_dir = S_ISDIR(rq->a.omode);
      rq->need_a = need_a & rules->handled;
      rq->need_b = need_b & rules->handled;
      if (granted(rules, rq->a.path, parent_len(&rq->a), need_a) && granted(rules, rq->b.path, parent_len(&rq->b), need_b))
        return LIVE_CONTINUE;
      break;
    }
    case LK_LINK: {
      if (resolve_name(listener, req, c.dirfd, path, 0, 0, &rq->a) != 0) return LIVE_CONTINUE;
      if (resolve_name(listener, req, c.dirfd2, path2, 0, 0, &rq->b) != 0) return LIVE_CONTINUE;
      if (rq->a.has_obj || !rq->b.has_obj || S_ISDIR(rq->b.omode)) return LIVE_CONTINUE; /* EEXIST, ENOENT, EPERM */
      if ((c.flags & AT_SYMLINK_FOLLOW) && S_ISLNK(rq->b.omode)) return LIVE_CONTINUE; /* not re-implemented */
      uint32_t need_a = make_right(rq->b.omode), need_b = 0;
      if (rq->a.dev != rq->b.dev || rq->a.ino != rq->b.ino) {
        need_a |= LL_REFER;
        need_b |= LL_REFER;
      }
      rq->op = LIVE_CREATE;
      rq->need_a = need_a & rules->handled;
      rq->need_b = need_b & rules->handled;
      if (granted(rules, rq->a.path, parent_len(&rq->a), need_a) && granted(rules, rq->b.path, parent_len(&rq->b), need_b))
        return LIVE_CONTINUE;
      break;
    }
    case LK_TRUNCATE: {
      if (resolve_file(listener, req, AT_FDCWD, path, 0, 0, &rq->a, &st) != 0) return LIVE_CONTINUE;
      if (!S_ISREG(st.st_mode)) return LIVE_CONTINUE; /* EISDIR, EINVAL */
      rq->op = LIVE_WRITE;
      rq->need_a = LL_TRUNCATE & rules->handled;
      if (granted(rules, rq->a.path, strlen(rq->a.path), LL_TRUNCATE)) return LIVE_CONTINUE;
      break;
    }
    default: return LIVE_CONTINUE;
  }
  if (creates) {
    int um = read_umask(listener, req);
    if (um < 0) return LIVE_CONTINUE; /* gone, or unreadable: Landlock denies as it would */
    rq->umask = (uint32_t)um;
  }
  return LIVE_HOLD;
}

/* ---- performing an allowed request ---- */

/* Flags kept from the command's open: never create, truncate or anything that changes where the
 * open lands. */
#define OPEN_KEEP (O_APPEND | O_NONBLOCK | O_NOCTTY | O_NOATIME | O_DIRECT | O_SYNC | O_DSYNC | O_LARGEFILE)

/* Re-opens the parent shown (no symlink anywhere, no magic link) and checks it is the same
 * directory as when asked. The descriptor, or -errno (-EACCES: not what was shown). */
static int reopen_parent(const struct live_place *p) {
  char dir[PATH_MAX];
  size_t n = parent_len(p);
  memcpy(dir, p->path, n);
  dir[n] = '\0';
  int fd = sys_openat2(AT_FDCWD, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (fd < 0) return errno == ELOOP || errno == EXDEV || errno == ENOTDIR ? -EACCES : -errno;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != p->dev || st.st_ino != p->ino) {
    close(fd);
    return -EACCES; /* swapped since the question */
  }
  return fd;
}

/* Whether what is at the name now is what was there when asked (nothing, or the same inode). */
static int same_obj(int pfd, const struct live_place *p) {
  struct stat st;
  int has = fstatat(pfd, p->path + p->name_off, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!has) return errno == ENOENT && !p->has_obj;
  return p->has_obj && st.st_dev == p->odev && st.st_ino == p->oino;
}

/* This thread's umask must not be the whole supervisor's: give it its own fs context once. */
static int private_umask(mode_t m) {
  static __thread int done;
  if (!done) {
    if (unshare(CLONE_FS) != 0) return -1;
    done = 1;
  }
  umask(m);
  return 0;
}

static void send_result(int listener, uint64_t id, long val, int err) {
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = id;
  resp.val = err ? 0 : val;
  resp.error = err ? -err : 0;
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* Installs FD in the command as the result of its open, atomically with the answer. 0, or an
 * errno to answer with instead. */
static int send_fd(int listener, uint64_t id, int fd, uint64_t flags) {
  struct seccomp_notif_addfd add = {
      .id = id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = (uint32_t)fd, .newfd = 0,
      .newfd_flags = (flags & O_CLOEXEC) ? O_CLOEXEC : 0};
  int got = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
  if (got >= 0 || errno == ENOENT) return 0; /* ENOENT: the command is gone meanwhile */
  return errno;                              /* EMFILE in the command, for instance */
}

static int perform_open(int listener, uint64_t id, const struct live_req *rq) {
  int acc = (int)(rq->flags & O_ACCMODE);
  int fd;
  if (rq->op == LIVE_CREATE) {
    int pfd = reopen_parent(&rq->a);
    if (pfd < 0) return -pfd;
    if (private_umask(rq->umask) != 0 || !nono_notif_id_valid(listener, id)) {
      close(pfd);
      return EACCES;
    }
    /* A create makes a new file or nothing: O_EXCL, whatever the command asked, so a file (or
     * link) put at the name since the question is never opened instead. */
    fd = openat(pfd, rq->a.path + rq->a.name_off, acc | (int)(rq->flags & OPEN_KEEP) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                (mode_t)(rq->mode & 07777));
    int e = errno;
    close(pfd);
    if (fd < 0) return e == EEXIST && !(rq->flags & O_EXCL) ? EACCES : e == ELOOP ? EACCES : e;
  } else {
    fd = sys_openat2(AT_FDCWD, rq->a.path, acc | (rq->flags & (OPEN_KEEP | O_DIRECTORY)) | O_CLOEXEC,
                     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) return errno == ELOOP || errno == EXDEV ? EACCES : errno; /* a link put in its way */
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != rq->a.dev || st.st_ino != rq->a.ino) {
      close(fd);
      return EACCES; /* another file under the shown name */
    }
    /* O_TRUNC only once the file is known to be the one shown. */
    if ((rq->flags & O_TRUNC) && S_ISREG(st.st_mode)) {
      if (!nono_notif_id_valid(listener, id) || ftruncate(fd, 0) != 0) {
        int e = errno;
        close(fd);
        return e ? e : EACCES;
      }
    }
  }
  int e = send_fd(listener, id, fd, rq->flags);
  close(fd);
  return e;
}

void live_perform(int listener, uint64_t id, const struct live_req *rq) {
  if (rq->kind == LK_OPEN) {
    int e = perform_open(listener, id, rq);
    if (e) send_result(listener, id, 0, e);
    return;
  }
  int err = 0, pa = -1, pb = -1;
  long val = 0;
  if (rq->kind == LK_TRUNCATE) {
    int fd = sys_openat2(AT_FDCWD, rq->a.path, O_PATH | O_CLOEXEC, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    struct stat st;
    if (fd < 0) err = errno == ELOOP || errno == EXDEV ? EACCES : errno;
    else if (fstat(fd, &st) != 0 || st.st_dev != rq->a.dev || st.st_ino != rq->a.ino) err = EACCES;
    else if (!nono_notif_id_valid(listener, id)) err = ESRCH;
    else {
      /* truncate(2) on exactly that inode (the magic link of our own O_PATH descriptor). */
      char self[64];
      snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
      if (truncate(self, (off_t)rq->length) != 0) err = errno;
    }
    if (fd >= 0) close(fd);
    if (err != ESRCH) send_result(listener, id, 0, err);
    return;
  }
  pa = reopen_parent(&rq->a);
  if (pa < 0) err = -pa;
  if (!err && (rq->kind == LK_RENAME || rq->kind == LK_LINK)) {
    pb = reopen_parent(&rq->b);
    if (pb < 0) err = -pb;
  }
  /* What is at the names must still be what was shown (the file to remove, rename or link; no
   * file where something is created). */
  if (!err && !same_obj(pa, &rq->a)) err = EACCES;
  if (!err && pb >= 0 && !same_obj(pb, &rq->b)) err = EACCES;
  if (!err && (rq->kind == LK_MKDIR || rq->kind == LK_MKNOD) && private_umask(rq->umask) != 0) err = EACCES;
  /* The last moment: a command killed while it waited must not get its side effect. */
  if (!err && !nono_notif_id_valid(listener, id)) err = ESRCH;
  const char *na = rq->a.path + rq->a.name_off, *nb = rq->b.path + rq->b.name_off;
  if (!err) {
    int r = -1;
    switch (rq->kind) {
      case LK_MKDIR: r = mkdirat(pa, na, (mode_t)(rq->mode & 07777)); break;
      case LK_MKNOD: r = mknodat(pa, na, (mode_t)(rq->mode & (S_IFMT | 07777)), 0); break;
      case LK_SYMLINK: r = symlinkat(rq->linkto, pa, na); break;
      case LK_UNLINK: r = unlinkat(pa, na, (int)(rq->flags & AT_REMOVEDIR)); break;
      case LK_LINK: r = linkat(pb, nb, pa, na, 0); break;
      case LK_RENAME: {
        /* Nothing was at the destination when asked: replace nothing that came since. */
        unsigned f = (unsigned)rq->flags;
        if (!rq->b.has_obj) f |= RENAME_NOREPLACE;
        r = (int)syscall(SYS_renameat2, pa, na, pb, nb, f);
        if (r != 0 && errno == EEXIST && !(rq->flags & RENAME_NOREPLACE)) errno = EACCES;
        break;
      }
      default: errno = EACCES;
    }
    if (r != 0) err = errno;
    else val = 0;
  }
  if (pa >= 0) close(pa);
  if (pb >= 0) close(pb);
  if (err != ESRCH) send_result(listener, id, val, err);
}
