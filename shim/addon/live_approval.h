/*
 * Live approval of file operations (opt-in: `nono run --live-approval`). Not together with the
 * connect guard: the kernel allows one seccomp listener per process (EBUSY for a second), so
 * spawn refuses both at once; the two must share one filter and one thread to combine. A command
 * whose open, mkdir, unlink, rename, link, symlink or truncate the session policy denies waits
 * inside the system call while the person is asked; on "allow" the supervisor does the operation
 * itself, on exactly what it showed, and answers with its result, so the command goes on without
 * being re-run.
 *
 *  1. In the vfork child, after the ordinary sandbox: the filter of
 *     shim/live_approval_filter.h; its listener goes to the supervisor over a socketpair and is
 *     closed before exec (the command never holds it).
 *  2. One thread per command (started here, not nono_notif_serve: an answer may come minutes
 *     later, and that thread's handler must answer before it returns) receives each call. It
 *     runs with no effective capabilities, so it resolves and acts exactly as the command's own
 *     uid could without Landlock. What each call asks for and whether the rules allow it is
 *     live_ops.h (live_classify): allowed, or anything it cannot judge safely ->
 *     SECCOMP_USER_NOTIF_FLAG_CONTINUE, and Landlock decides underneath.
 *  3. A call the rules deny is held: JavaScript gets (cmdId, token, "ask", op, canonical path,
 *     path2, isDir, needed rights) and answers with liveAnswer(cmdId, token, allow). On allow,
 *     this thread performs it (live_ops.h, live_perform: same inodes as shown, no symlinks,
 *     notification re-checked before acting) and answers with the result (an opened file via
 *     SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND). Deny -> EACCES, as Landlock would. A
 *     held call whose command died is withdrawn (JavaScript gets "withdraw").
 */
#ifndef NONO_LIVE_APPROVAL_H
#define NONO_LIVE_APPROVAL_H

#include <node_api.h>

struct nono_live_rules;

struct nono_live_plan {
  int enabled;
  int sock[2]; /* [0] the supervisor's end, [1] the child's */
  struct nono_live_rules *rules; /* one reference, held by the plan */
  napi_threadsafe_function tsfn;
};

/* Reads `liveApproval: {rules, onEvent}` from OPTS. 1 (enabled 0 when absent) or 0 after throwing. */
int nono_live_from_js(napi_env env, napi_value opts, struct nono_live_plan *p);
/* vfork child, after nono_enter_sandbox. Async-signal-safe. 0 or an errno and *step. */
int nono_live_child(const struct nono_live_plan *p, const char **step);
/* Supervisor, once the child exec'ed: receives the listener, starts the command's thread. */
int nono_live_start(struct nono_live_plan *p, int pid);
void nono_live_close(struct nono_live_plan *p);

napi_value nono_live_supported_js(napi_env env, napi_callback_info info);
napi_value nono_live_rules_js(napi_env env, napi_callback_info info);
napi_value nono_live_answer_js(napi_env env, napi_callback_info info);
napi_value nono_live_listeners_js(napi_env env, napi_callback_info info);

#endif
