/* Facts about a file that Node's fs cannot give: whether it carries file capabilities (the
 * security.capability extended attribute), which make the loader ignore LD_PRELOAD.
 * JS: hasFileCapabilities(path) -> boolean */
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>
#if defined(__linux__)
#include <sys/xattr.h>
#endif

#include "addon.h"
#include "napi_util.h"

napi_value nono_has_file_capabilities(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = nono_get_bytes(env, argv[0], "path");
  if (!path) return NULL;
#if defined(__linux__)
  ssize_t n = getxattr(path, "security.capability", NULL, 0);
  int e = errno;
  free(path);
  if (n < 0 && e != ENODATA && e != ENOTSUP) {
    nono_throw_errno(env, "getxattr security.capability", e);
    return NULL;
  }
#else
  /* macOS has no file capabilities: nothing there makes dyld ignore DYLD_* this way. */
  ssize_t n = -1;
  free(path);
#endif
  napi_get_boolean(env, n >= 0, &result);
  return result;
}
