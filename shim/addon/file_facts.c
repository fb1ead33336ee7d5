/* Facts about a file that Node's fs cannot give: whether it carries file capabilities (the
 * security.capability extended attribute), which make the loader ignore LD_PRELOAD.
 * JS: hasFileCapabilities(path) -> boolean */
#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>

#include "addon.h"
#include "napi_util.h"

napi_value nono_has_file_capabilities(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *path = nono_get_bytes(env, argv[0], "path");
  if (!path) return NULL;
  ssize_t n = getxattr(path, "security.capability", NULL, 0);
  int e = errno;
  free(path);
  if (n < 0 && e != ENODATA && e != ENOTSUP) {
    nono_throw_errno(env, "getxattr security.capability", e);
    return NULL;
  }
  napi_get_boolean(env, n >= 0, &result);
  return result;
}
