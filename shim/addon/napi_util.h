/* Small Node-API helpers shared by the addon's files: argument reading and error throwing. */
#ifndef NONO_NAPI_UTIL_H
#define NONO_NAPI_UTIL_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* Throws a JS Error "<what>: <strerror(err)>" with .code = "E..." and .errno = err. */
void nono_throw_errno(napi_env env, const char *what, int err);
/* The same with "<what>: <detail>" when detail is not NULL (a clearer reason than strerror). */
void nono_throw_errno_detail(napi_env env, const char *what, const char *detail, int err);
void nono_throw(napi_env env, const char *message);

/* Reads a string or Buffer value into a fresh NUL-terminated malloc'd string (rejects embedded
 * NUL bytes). Returns NULL after throwing. */
char *nono_get_bytes(napi_env env, napi_value value, const char *what);

/* Reads an array of strings/Buffers into a NULL-terminated malloc'd vector. */
char **nono_get_string_array(napi_env env, napi_value array, const char *what);
void nono_free_string_array(char **vec);

int nono_get_int64(napi_env env, napi_value obj, const char *key, int64_t *out, int64_t dflt);
napi_value nono_get_prop(napi_env env, napi_value obj, const char *key);

/* Calls a JS callback from a libuv callback (outside any JS frame), so promise jobs and
 * nextTicks run afterwards and exceptions reach process 'uncaughtException'. */
void nono_call_from_loop(napi_env env, napi_ref fn_ref, napi_async_context ctx, size_t argc,
                         napi_value *argv);

/* Set once Node starts tearing the environment down (napi_add_env_cleanup_hook): from then on a
 * libuv callback of ours must not call into JavaScript (it would crash in V8). */
extern int nono_env_gone;
void nono_watch_env_teardown(napi_env env);

#endif
