/*
 * Live approval, the per-notification half (the thread that receives notifications and the
 * answers from JavaScript are in live_approval.c): what one trapped file system call asks for,
 * whether the session's compiled Landlock rules allow it, and, once the person allowed it,
 * doing it in the supervisor on exactly what was shown.
 *
 * Classify (live_classify), for each notification:
 *  1. Copy the arguments once (path strings, open_how) from the command; decide on the copy only.
 *  2. Fast path: an absolute path (or one joined to the command's cwd / dirfd as read from /proc)
 *     without "." or ".." components whose prefix the rules grant the needed rights ->
 *     SECCOMP_USER_NOTIF_FLAG_CONTINUE at once. A wrong "allowed" (a symlink in the way) only
 *     loses the live question: Landlock still enforces underneath and the denial then drives the
 *     re-run after the exit. A lexical "denied" is never asked about as such.
 *  3. Careful path: resolve as the command would (its cwd or dirfd, openat2 without magic links):
 *     an existing file to its canonical path and inode; for an operation on a NAME (create,
 *     delete, rename, link), the parent directory to its canonical path and inode, plus the last
 *     component as written. Match the rights Landlock needs (only those the ruleset handles)
 *     against the rules; allowed, or anything this cannot judge safely (/proc, devices,
 *     whiteouts, a symlink as the last component of a create...) -> CONTINUE, and Landlock decides.
 *     Denied -> held (LIVE_HOLD): JavaScript asks the person about the canonical path(s).
 *
 * Perform (live_perform), on "allow", with no effective capabilities (as the command's uid would,
 * without Landlock): re-open each shown parent (or the shown file) with RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS and check it is the same inode as when asked; act relative to it on the
 * shown last component, following no symlink, with only the flags the command asked for (never
 * an O_CREAT or O_TRUNC it did not ask for; a create is O_EXCL: it makes a new file or nothing),
 * under the command's umask; confirm the notification is still pending right before acting (a
 * killed command's mkdir is not done); answer with the result: an opened file is installed in
 * the command (SECCOMP_IOCTL_NOTIF_ADDFD + SEND), the others return their real result or -errno.
 * Anything that no longer matches what was shown -> EACCES.
 */
#ifndef NONO_LIVE_OPS_H
#define NONO_LIVE_OPS_H

#include <limits.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Landlock file system rights (uapi values; the same as src/policy/landlock-rights.ts). */
#define LL_EXECUTE (1u << 0)
#define LL_WRITE_FILE (1u << 1)
#define LL_READ_FILE (1u << 2)
#define LL_READ_DIR (1u << 3)
#define LL_REMOVE_DIR (1u << 4)
#define LL_REMOVE_FILE (1u << 5)
#define LL_MAKE_CHAR (1u << 6)
#define LL_MAKE_DIR (1u << 7)
#define LL_MAKE_REG (1u << 8)
#define LL_MAKE_SOCK (1u << 9)
#define LL_MAKE_FIFO (1u << 10)
#define LL_MAKE_BLOCK (1u << 11)
#define LL_MAKE_SYM (1u << 12)
#define LL_REFER (1u << 13)
#define LL_TRUNCATE (1u << 14)

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

void live_rules_unref(struct nono_live_rules *rs);
/* The rights Landlock grants on PATH (canonical): those of every rule on it or an ancestor. */
uint32_t live_rights_at(const struct nono_live_rules *rs, const char *path, size_t plen);

/* ---- one operation ---- */

/* What the person is asked about (the names JavaScript gets: live_op_name). */
enum live_op { LIVE_READ, LIVE_LIST, LIVE_WRITE, LIVE_CREATE, LIVE_DELETE, LIVE_RENAME };
const char *live_op_name(int op);

/* Which call it was, as far as performing it goes. */
enum live_kind { LK_OPEN, LK_MKDIR, LK_MKNOD, LK_UNLINK, LK_RENAME, LK_LINK, LK_SYMLINK, LK_TRUNCATE };

/* A resolved place. For a name op: path = canonical parent + "/" + name, name_off the offset of
 * the name, dev/ino the parent's; has_obj/odev/oino what was at the name when asked. For an
 * existing file: path canonical, name_off 0, dev/ino the file's. */
struct live_place {
  char path[PATH_MAX];
  size_t name_off;
  dev_t dev;
  ino_t ino;
  int has_obj;
  mode_t omode;
  dev_t odev;
  ino_t oino;
};

struct live_req {
  int kind;
  int op;
  int is_dir;
  uint64_t flags;   /* open flags; renameat2 flags; unlinkat flags */
  uint32_t mode;    /* mkdir, mknod, open with O_CREAT */
  int64_t length;   /* truncate */
  uint32_t umask;   /* the command's, for what creates (read when held) */
  /* The rights the rules lacked for it (JavaScript re-checks them against later grants): at
   * a's file (existing-file ops) or a's parent (name ops), and at b's parent. */
  uint32_t need_a, need_b;
  struct live_place a; /* the object of the call (rename: the source; link: the NEW name) */
  struct live_place b; /* rename: the destination; link: the existing file */
  char linkto[PATH_MAX]; /* symlink: its content, as the command passed it */
};

enum { LIVE_CONTINUE, LIVE_ANSWER, LIVE_HOLD };

/* Decides one notification. LIVE_CONTINUE: answer resp as set (CONTINUE); LIVE_ANSWER: resp
 * carries an error; LIVE_HOLD: rq describes what to ask about. resp->id must be set. */
int live_classify(int listener, const struct seccomp_notif *req, const struct nono_live_rules *rules,
                  struct live_req *rq, struct seccomp_notif_resp *resp);

/* Performs an allowed request (held under notification ID) and answers it. Run on a thread with
 * no effective capabilities. */
void live_perform(int listener, uint64_t id, const struct live_req *rq);

#endif
