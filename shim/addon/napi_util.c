/* See napi_util.h. */
#include "napi_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *errno_name(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EBADF: return "EBADF";
    case ENOTDIR: return "ENOTDIR";
    case EADDRINUSE: return "EADDRINUSE";
    case EMFILE: return "EMFILE";
    case E2BIG: return "E2BIG";
    case ELOOP: return "ELOOP";
    case ENOMEM: return "ENOMEM";
    case ENFILE: return "ENFILE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "EUNKNOWN";
  }
}

void nono_throw(napi_env env, const char *message) { napi_throw_error(env, NULL, message); }

void nono_throw_errno_detail(napi_env env, const char *what, const char *detail, int err) {
  /* Built to size: a long path in `what` must not cut the reason off the end. */
  const char *why = detail ? detail : strerror(err);
  size_t n = strlen(what) + strlen(why) + 3;
  char *msg = malloc(n);
  if (msg) snprintf(msg, n, "%s: %s", what, why);
  napi_value m, code, e, num;
  napi_create_string_utf8(env, msg ? msg : why, NAPI_AUTO_LENGTH, &m);
  free(msg);
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, e, "errno", num);
  napi_throw(env, e);
}

void nono_throw_errno(napi_env env, const char *what, int err) { nono_throw_errno_detail(env, what, NULL, err); }

char *nono_get_bytes(napi_env env, napi_value value, const char *what) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  char *out = NULL;
  size_t len = 0;
  if (is_buffer) {
    void *data;
    napi_get_buffer_info(env, value, &data, &len);
    out = malloc(len + 1);
    if (out) memcpy(out, data, len);
  } else {
    if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
      char msg[256];
      snprintf(msg, sizeof msg, "%s must be a string or a Buffer", what);
      nono_throw(env, msg);
      return NULL;
    }
    out = malloc(len + 1);
    if (out) napi_get_value_string_utf8(env, value, out, len + 1, &len);
  }
  if (!out) {
    nono_throw(env, "out of memory");
    return NULL;
  }
  out[len] = 0;
  if (strlen(out) != len) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s contains a NUL byte", what);
    free(out);
    nono_throw(env, msg);
    return NULL;
  }
  return out;
}

char **nono_get_string_array(napi_env env, napi_value array, const char *what) {
  bool is_array = false;
  napi_is_array(env, array, &is_array);
  if (!is_array) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s must be an array", what);
    nono_throw(env, msg);
    return NULL;
  }
  uint32_t n = 0;
  napi_get_array_length(env, array, &n);
  char **vec = calloc((size_t)n + 1, sizeof *vec);
  if (!vec) {
    nono_throw(env, "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    vec[i] = nono_get_bytes(env, item, what);
    if (!vec[i]) {
      nono_free_string_array(vec);
      return NULL;
    }
  }
  return vec;
}

void nono_free_string_array(char **vec) {
  if (!vec) return;
  for (char **p = vec; *p; p++) free(*p);
  free(vec);
}

napi_value nono_get_prop(napi_env env, napi_value obj, const char *key) {
  napi_value v = NULL;
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return NULL;
  napi_get_named_property(env, obj, key, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return (t == napi_undefined || t == napi_null) ? NULL : v;
}

int nono_get_int64(napi_env env, napi_value obj, const char *key, int64_t *out, int64_t dflt) {
  napi_value v = nono_get_prop(env, obj, key);
  if (!v) {
    *out = dflt;
    return 1;
  }
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s must be a number", key);
    nono_throw(env, msg);
    return 0;
  }
  return 1;
}

int nono_env_gone;

static void on_env_teardown(void *arg) {
  (void)arg;
  nono_env_gone = 1;
}

void nono_watch_env_teardown(napi_env env) { napi_add_env_cleanup_hook(env, on_env_teardown, NULL); }

void nono_call_from_loop(napi_env env, napi_ref fn_ref, napi_async_context ctx, size_t argc,
                         napi_value *argv) {
  if (nono_env_gone) return;
  napi_value fn, recv, result;
  napi_get_reference_value(env, fn_ref, &fn);
  napi_get_global(env, &recv); /* napi_make_callback wants an object receiver */
  napi_status st = napi_make_callback(env, ctx, recv, fn, argc, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}
