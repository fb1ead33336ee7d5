/*
 * processTable() -> [[pid, ppid, pgid, sid, exe], ...]: every process of the system, read with
 * sysctl(KERN_PROC_ALL) on macOS (there is no /proc). The supervisor builds a command's process
 * tree from it to kill the whole tree (src/supervisor/platform/process-table.ts), as it does
 * from /proc/PID/stat on Linux; `nono run` judges the processes of the agent's tree that did not
 * report loading the interposer by their executable (proc_pidpath; null when it cannot be read,
 * e.g. another user's process). macOS only.
 */
#include <errno.h>
#include <libproc.h>
#include <stdlib.h>
#include <sys/sysctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "addon.h"
#include "napi_util.h"

napi_value nono_process_table(napi_env env, napi_callback_info info) {
  (void)info;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_ALL, 0};
  struct kinfo_proc *procs = NULL;
  size_t size = 0;
  /* The table grows between the size query and the read: retry with headroom. */
  for (int attempt = 0; attempt < 8; attempt++) {
    if (sysctl(mib, 3, NULL, &size, NULL, 0) != 0) break;
    size += size / 4 + 16 * sizeof(struct kinfo_proc);
    free(procs);
    procs = malloc(size);
    if (!procs) break;
    if (sysctl(mib, 3, procs, &size, NULL, 0) == 0) {
      size_t n = size / sizeof(struct kinfo_proc);
      napi_value out;
      napi_create_array_with_length(env, n, &out);
      for (size_t i = 0; i < n; i++) {
        pid_t pid = procs[i].kp_proc.p_pid;
        pid_t sid = getsid(pid); /* kinfo_proc holds a session pointer, not its id */
        int32_t row[4] = {pid, procs[i].kp_eproc.e_ppid, procs[i].kp_eproc.e_pgid, sid < 0 ? -1 : sid};
        napi_value r, exe;
        napi_create_array_with_length(env, 5, &r);
        for (uint32_t k = 0; k < 4; k++) {
          napi_value v;
          napi_create_int32(env, row[k], &v);
          napi_set_element(env, r, k, v);
        }
        char path[PROC_PIDPATHINFO_MAXSIZE];
        if (proc_pidpath(pid, path, sizeof path) > 0) napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &exe);
        else napi_get_null(env, &exe);
        napi_set_element(env, r, 4, exe);
        napi_set_element(env, out, (uint32_t)i, r);
      }
      free(procs);
      return out;
    }
    if (errno != ENOMEM) break;
  }
  int e = errno;
  free(procs);
  nono_throw_errno(env, "sysctl KERN_PROC_ALL", e ? e : ENOMEM);
  return NULL;
}
