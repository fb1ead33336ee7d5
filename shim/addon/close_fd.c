/* closeFd(fd): closes a descriptor the addon handed to JS (pipes, received fds, rulesets).
 * 0..2 are never closed: they are the supervisor's own stdio. */
#include <unistd.h>

#include "addon.h"
#include "napi_util.h"

napi_value nono_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  napi_get_value_int32(env, argv[0], &fd);
  if (fd > 2) close(fd);
  return NULL;
}
