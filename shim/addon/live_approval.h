/*
 * Live approval of file opens (opt-in: `nono run --live-approval`). Not together with the
 * connect guard: the kernel allows one seccomp listener per process (EBUSY for a second), so
 * spawn refuses both at once; the two must share one filter and one thread to combine. A command whose open() the
 * session policy denies waits inside the system call while the person is asked; on "allow" the
 * supervisor opens the file itself and installs the descriptor in the command, which goes on
 * without being re-run.
 *
 *  1. In the vfork child, after the ordinary sandbox: the filter of
 *     shim/live_approval_filter.h; its listener goes to the supervisor over a socketpair and is
 *     closed before exec (the command never holds it).
 *  2. One thread per command (started here, not nono_notif_serve: an answer may come minutes
 *     later, and that thread's handler must answer before it returns) receives each open. It
 *     runs with no effective capabilities, so it resolves and opens exactly as the command's own
 *     uid could without Landlock. Fast path, all in this thread: copy the path once, resolve it
 *     from the command's cwd or dirfd (openat2 O_PATH, no magic links), and match the canonical
 *     path against the compiled Landlock rules; allowed (or anything it cannot judge safely:
 *     /proc, O_PATH, write or create opens, which this slice leaves to Landlock and the re-run)
 *     -> SECCOMP_USER_NOTIF_FLAG_CONTINUE, and Landlock still decides underneath.
 *  3. A read the rules deny is held: JavaScript gets (cmdId, token, "ask", canonical path) and
 *     answers with liveAnswer(cmdId, token, allow). On allow, this thread re-checks that the
 *     notification is still pending, opens the canonical path with RESOLVE_NO_SYMLINKS |
 *     RESOLVE_NO_MAGICLINKS and read-only flags (never O_CREAT/O_TRUNC), checks that it is the
 *     very inode that was resolved when the question was made, and installs it in the command
 *     with SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND (installs and answers in one
 *     step). Deny -> EACCES, as Landlock would. A held open whose command died is withdrawn
 *     (JavaScript gets "withdraw").
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
