/* The functions the addon exports; each file implements one concern. */
#ifndef NONO_ADDON_H
#define NONO_ADDON_H
#include <node_api.h>

/* fd_server.c */
napi_value nono_listen(napi_env env, napi_callback_info info);
napi_value nono_send(napi_env env, napi_callback_info info);
napi_value nono_close_conn(napi_env env, napi_callback_info info);
napi_value nono_close_server(napi_env env, napi_callback_info info);

/* sandboxed_spawn.c */
napi_value nono_spawn(napi_env env, napi_callback_info info);

/* handshake_listener.c */
napi_value nono_listen_handshake(napi_env env, napi_callback_info info);
napi_value nono_close_handshake(napi_env env, napi_callback_info info);

/* file_facts.c */
napi_value nono_has_file_capabilities(napi_env env, napi_callback_info info);

/* stderr_relay.c */
napi_value nono_make_pipe(napi_env env, napi_callback_info info);
napi_value nono_make_pty_like(napi_env env, napi_callback_info info);
napi_value nono_read_available(napi_env env, napi_callback_info info);
napi_value nono_watch_readable(napi_env env, napi_callback_info info);
napi_value nono_unwatch(napi_env env, napi_callback_info info);

/* audit_status.c */
napi_value nono_audit_status(napi_env env, napi_callback_info info);
napi_value nono_audit_set_enabled(napi_env env, napi_callback_info info);
napi_value nono_open_audit_multicast(napi_env env, napi_callback_info info);

/* helper_spawn.c: posix_spawn of a sandbox helper (the macOS command path; built on both) */
napi_value nono_spawn_helper(napi_env env, napi_callback_info info);

/* handshake_stream.c: the macOS handshake (stream socket + peer pid; built on both) */
napi_value nono_listen_handshake_stream(napi_env env, napi_callback_info info);
napi_value nono_close_handshake_stream(napi_env env, napi_callback_info info);

/* process_table_darwin.c (macOS only) */
napi_value nono_process_table(napi_env env, napi_callback_info info);

/* close_fd.c */
napi_value nono_close_fd(napi_env env, napi_callback_info info);

/* ruleset_api.c */
napi_value nono_landlock_abi_js(napi_env env, napi_callback_info info);
napi_value nono_create_ruleset(napi_env env, napi_callback_info info);
napi_value nono_add_path_rule(napi_env env, napi_callback_info info);
napi_value nono_add_port_rule(napi_env env, napi_callback_info info);

/* connect_guard.c */
napi_value nono_connect_guard_supported_js(napi_env env, napi_callback_info info);
napi_value nono_connect_guard_listeners_js(napi_env env, napi_callback_info info);
/* live_approval.c (Linux only, like the connect guard: its header needs <linux/seccomp.h>) */
napi_value nono_live_supported_js(napi_env env, napi_callback_info info);
napi_value nono_live_rules_js(napi_env env, napi_callback_info info);
napi_value nono_live_answer_js(napi_env env, napi_callback_info info);
napi_value nono_live_listeners_js(napi_env env, napi_callback_info info);

/* tunnel_relay.c */
napi_value nono_relay_start(napi_env env, napi_callback_info info);
napi_value nono_relay_stop(napi_env env, napi_callback_info info);
napi_value nono_relay_active(napi_env env, napi_callback_info info);

#endif
