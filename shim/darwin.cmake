# The macOS set of native parts, included by CMakeLists.txt on Darwin. The same files, with the
# same flags, are cross-compiled for aarch64-macos and x86_64-macos by `npm run check:macos`
# (tools/check-macos/targets.mjs lists them; keep the two in step). Not yet built on a real Mac.

# 1. nono-shell. Dynamic: macOS has no static libSystem. dyld does not load the interposer into
#    it in practice: the supervisor scrubs DYLD_* from every command and nono-shell is exec'd by
#    the agent's own processes, which carry it; the interposer ignores its own client.
add_executable(nono-shell nono_shell_client.c wire_json.c)

# 2. The Seatbelt exec helper: sandbox_init_with_parameters, then exec (commands and the agent).
add_executable(nono-seatbelt-exec seatbelt_exec.c)

# 3. The interposer, loaded with DYLD_INSERT_LIBRARIES; its __DATA,__interpose table does the work.
add_library(nono-interpose SHARED interpose.c interpose_handshake_darwin.c)
target_compile_options(nono-interpose PRIVATE -fvisibility=hidden)
set_target_properties(nono-interpose PROPERTIES PREFIX "lib" OUTPUT_NAME "nono-interpose")

# 4. The session watchdog: kills the commands' trees if the supervisor dies (macOS has no
#    parent-death signal, so nothing else would). Dynamic, like everything on macOS.
add_executable(nono-watchdog session_watchdog.c)

# 5. The Node-API addon: supervisor socket, posix_spawn of the helper with a kqueue exit watch,
#    the process table (sysctl), the stderr relay, the stream handshake. N-API symbols come from
#    the node binary at load time.
add_library(nono_addon SHARED
  addon/addon_main.c addon/fd_server.c addon/napi_util.c addon/file_facts.c addon/stderr_relay.c
  addon/close_fd.c addon/helper_spawn.c addon/handshake_stream.c addon/backoff_poll.c addon/unix_socket.c addon/process_table_darwin.c)
target_include_directories(nono_addon PRIVATE ${CMAKE_JS_INC} ${CMAKE_CURRENT_SOURCE_DIR})
set_target_properties(nono_addon PROPERTIES PREFIX "" SUFFIX ".node")
target_link_libraries(nono_addon PRIVATE ${CMAKE_JS_LIB})
target_link_options(nono_addon PRIVATE -undefined dynamic_lookup)

set(NONO_OUT_DIR "${CMAKE_CURRENT_SOURCE_DIR}/../native")
set_target_properties(nono-shell nono-seatbelt-exec nono-watchdog nono-interpose nono_addon PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY "${NONO_OUT_DIR}"
  LIBRARY_OUTPUT_DIRECTORY "${NONO_OUT_DIR}")
foreach(cfg Release Debug RelWithDebInfo MinSizeRel)
  string(TOUPPER ${cfg} CFG)
  set_target_properties(nono-shell nono-seatbelt-exec nono-watchdog nono-interpose nono_addon PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY_${CFG} "${NONO_OUT_DIR}"
    LIBRARY_OUTPUT_DIRECTORY_${CFG} "${NONO_OUT_DIR}")
endforeach()
