/* Module entry: wires the exported functions. See addon.h for where each lives. */
#include "addon.h"
#include "napi_util.h"

#define EXPORT(name, fn)                                        \
  do {                                                          \
    napi_value f;                                               \
    napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f); \
    napi_set_named_property(env, exports, name, f);             \
  } while (0)

static napi_value init(napi_env env, napi_value exports) {
  nono_watch_env_teardown(env);
  EXPORT("listen", nono_listen);
  EXPORT("send", nono_send);
  EXPORT("closeConn", nono_close_conn);
  EXPORT("closeServer", nono_close_server);
  EXPORT("spawnHelper", nono_spawn_helper);
  EXPORT("listenHandshakeStream", nono_listen_handshake_stream);
  EXPORT("closeHandshakeStream", nono_close_handshake_stream);
#if defined(__linux__)
  EXPORT("spawn", nono_spawn);
  EXPORT("listenHandshake", nono_listen_handshake);
  EXPORT("closeHandshake", nono_close_handshake);
#endif
  EXPORT("hasFileCapabilities", nono_has_file_capabilities);
  EXPORT("makePipe", nono_make_pipe);
  EXPORT("makePtyLike", nono_make_pty_like);
  EXPORT("readAvailable", nono_read_available);
  EXPORT("watchReadable", nono_watch_readable);
  EXPORT("unwatch", nono_unwatch);
#if defined(__linux__)
  EXPORT("auditStatus", nono_audit_status);
  EXPORT("auditSetEnabled", nono_audit_set_enabled);
  EXPORT("openAuditMulticast", nono_open_audit_multicast);
  EXPORT("landlockAbi", nono_landlock_abi_js);
  EXPORT("createRuleset", nono_create_ruleset);
  EXPORT("addPathRule", nono_add_path_rule);
  EXPORT("addPortRule", nono_add_port_rule);
#else
  EXPORT("processTable", nono_process_table);
#endif
  EXPORT("closeFd", nono_close_fd);
#if defined(__linux__)
  EXPORT("connectGuardSupported", nono_connect_guard_supported_js);
  EXPORT("connectGuardListeners", nono_connect_guard_listeners_js);
  EXPORT("liveApprovalSupported", nono_live_supported_js);
  EXPORT("liveRules", nono_live_rules_js);
  EXPORT("liveAnswer", nono_live_answer_js);
  EXPORT("liveApprovalListeners", nono_live_listeners_js);
  EXPORT("relayStart", nono_relay_start);
  EXPORT("relayStop", nono_relay_stop);
  EXPORT("relayActive", nono_relay_active);
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
