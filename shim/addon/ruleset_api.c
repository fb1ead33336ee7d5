/* JS wrappers over sandbox_rules.c: the supervisor builds one ruleset per policy and every
 * command enters a new domain made from it. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "addon.h"
#include "napi_util.h"
#include "sandbox_rules.h"

napi_value nono_landlock_abi_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, nono_landlock_abi(), &v);
  return v;
}

/* createRuleset({handledFs, handledNet, scoped}) -> fd */
napi_value nono_create_ruleset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t fs, net, scoped;
  if (argc < 1 || !nono_get_int64(env, argv[0], "handledFs", &fs, 0) ||
      !nono_get_int64(env, argv[0], "handledNet", &net, 0) ||
      !nono_get_int64(env, argv[0], "scoped", &scoped, 0))
    return NULL;
  struct nono_ruleset_spec spec = {(uint64_t)fs, (uint64_t)net, (uint64_t)scoped};
  int fd = nono_ruleset_create(&spec);
  if (fd < 0) {
    nono_throw_errno(env, "landlock_create_ruleset", errno);
    return NULL;
  }
  napi_create_int32(env, fd, &result);
  return result;
}

/* addPathRule(fd, path, rights, handledFs): throws with .code (ENOENT, ELOOP...) on failure. */
napi_value nono_add_path_rule(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int64_t rights, handled;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &rights) != napi_ok ||
      napi_get_value_int64(env, argv[3], &handled) != napi_ok) {
    nono_throw(env, "addPathRule(rulesetFd, path, rights, handledFs)");
    return NULL;
  }
  char *path = nono_get_bytes(env, argv[1], "rule path");
  if (!path) return NULL;
  if (nono_ruleset_add_path(fd, path, (uint64_t)rights, (uint64_t)handled) != 0) {
    int e = errno;
    const char *why = e == ELOOP ? "a symbolic link appeared in this already-resolved rule path; "
                                   "nono does not grant through it (check what replaced it)"
                                 : NULL;
    nono_throw_errno_detail(env, path, why, e);
  }
  free(path);
  return NULL;
}

napi_value nono_add_port_rule(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int64_t port, rights;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int64(env, argv[1], &port);
  napi_get_value_int64(env, argv[2], &rights);
  if (nono_ruleset_add_port(fd, (uint64_t)port, (uint64_t)rights) != 0)
    nono_throw_errno(env, "landlock_add_rule(port)", errno);
  return NULL;
}
