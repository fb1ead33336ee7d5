/*
 * Live approval of file operations (on by default in `nono run` where the kernel has it). A
 * command whose open, creat, mkdir, mknod, unlink/rmdir, rename, link, symlink or truncate the
 * session policy denies waits inside the system call while the person is asked; on "allow" the
 * supervisor does the operation itself, on exactly what it showed, and answers with its result,
 * so the command goes on without being re-run. It shares the command's one seccomp listener with
 * the connect guard of proxy mode (the kernel allows one per process): see command_listener.h.
 *
 *  1. In the vfork child, after the ordinary sandbox: the command's one filter with a listener
 *     (shim/listener_filter.h, with live approval's part: the calls of
 *     shim/live_approval_filter.h's table); the listener goes to the supervisor and is closed
 *     before exec (the command never holds it).
 *  2. The command's listener thread (notify_listener.h: a pooled thread, one per command, without
 *     effective capabilities, so it resolves and acts exactly as the command's own uid could
 *     without Landlock) hands each file call to nono_live_on_notification. What the call asks for
 *     and whether the rules allow it is live_ops.h (live_classify: a lexical fast path for paths
 *     the rules plainly allow, else the careful resolution from the command's cwd or dirfd);
 *     allowed, or anything it cannot judge safely -> SECCOMP_USER_NOTIF_FLAG_CONTINUE, and
 *     Landlock still decides underneath (CONTINUE never widens anything).
 *     Not notified at all (the filter lets it through to Landlock): an openat that reads relative
 *     to a directory descriptor (not AT_FDCWD, no write/create/truncate/tmpfile flag). Tree walkers
 *     (grep -r, find, git) make one such open per file, and a notification costs ~10-20 us each;
 *     Landlock still decides them, and a denial among them is found afterwards (the Landlock audit
 *     record, or stderr) and re-run with a grant, as without live approval.
 *  3. A call the rules deny is held (NONO_NOTIF_HELD): JavaScript gets (cmdId, token, "ask", op,
 *     canonical path, path2, isDir, needed rights) and answers with liveAnswer(cmdId, token,
 *     allow), which wakes the thread (nono_live_wake_fd); its settle step (nono_live_settle) then,
 *     for allow, performs it (live_ops.h, live_perform: the same inodes as shown, no symlinks
 *     followed, the notification re-checked right before acting) and answers with the result (an
 *     opened file via SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND). Deny -> EACCES, as
 *     Landlock would. A held call whose command died is withdrawn (JavaScript gets "withdraw").
 */
#ifndef NONO_LIVE_APPROVAL_H
#define NONO_LIVE_APPROVAL_H

#include <linux/seccomp.h>
#include <node_api.h>

struct nono_live_rules;
struct live_cmd;

struct nono_live_plan {
  int enabled;
  struct nono_live_rules *rules; /* one reference, held by the plan */
  napi_threadsafe_function tsfn;
};

/* Reads `liveApproval: {rules, onEvent}` from OPTS. 1 (enabled 0 when absent) or 0 after throwing. */
int nono_live_from_js(napi_env env, napi_value opts, struct nono_live_plan *p);
/* Releases what the plan still holds (nothing once nono_live_cmd_new took it). */
void nono_live_close(struct nono_live_plan *p);

/* One command's live approval, on its LISTENER (not owned: the listener's service closes it
 * after nono_live_cmd_free). Takes the plan's rules and callback. NULL: out of memory. */
struct live_cmd *nono_live_cmd_new(struct nono_live_plan *p, int listener);
void nono_live_cmd_free(struct live_cmd *c);
/* The handler for the command's file calls: NONO_NOTIF_ANSWERED (resp filled) or NONO_NOTIF_HELD
 * (answered later by nono_live_settle). See notify_listener.h for the rules it follows. */
int nono_live_on_notification(struct live_cmd *c, const struct seccomp_notif *req, struct seccomp_notif_resp *resp);
/* Answers what JavaScript decided, withdraws held opens nobody waits for (all of them with
 * all_gone); returns how many are still held. */
int nono_live_settle(struct live_cmd *c, int all_gone);
/* Readable when an answer arrived (liveAnswer). */
int nono_live_wake_fd(const struct live_cmd *c);

napi_value nono_live_supported_js(napi_env env, napi_callback_info info);
napi_value nono_live_rules_js(napi_env env, napi_callback_info info);
napi_value nono_live_answer_js(napi_env env, napi_callback_info info);
napi_value nono_live_listeners_js(napi_env env, napi_callback_info info);

#endif
