/*
 * nono-shell interposer: loaded into an AI coding agent with LD_PRELOAD (DYLD_INSERT_LIBRARIES on
 * macOS), it catches the library calls that start a program and, when that program is a shell,
 * starts the nono-shell client instead. The client then runs the command inside its own sandbox.
 *
 * What gets rewritten when a shell start is caught:
 *   - the program: NONO_SHELL_CLIENT (absolute path) instead of the shell;
 *   - argv: nothing (argv[0] stays as the caller gave it, e.g. "-bash" for a login shell);
 *   - the environment: NONO_SHELL_AS=<absolute path of the shell as the caller named it> is added,
 *     and any NONO_SHELL_AS entry the caller already had is dropped (a stale one must never win).
 *
 * What is a shell: a file whose basename is in the shell set, or a symlink chain whose last file
 * has such a basename (/tmp/x/myshell -> /bin/bash; Debian's /usr/bin/rbash -> bash). A shell
 * name that leads to the client itself (proxy-bin/bash) is not rewritten.
 *
 * Shells started without naming one are routed too:
 *   - a script whose "#!" line names a shell (directly, through a symlink, through other scripts,
 *     or as `#!/usr/bin/env bash` / `#!/usr/bin/env -S bash -e` looked up on the PATH the started
 *     program gets): the client gets the argv the kernel would give that shell,
 *     `<#! name> [<#! arg>] <script> <args...>` (nested scripts add their own name and arg);
 *   - glibc's execvp fallback for a file the kernel does not recognise (ENOEXEC: no "#!", not a
 *     binary), which runs `/bin/sh <file> <args...>`: the hooks for execvp, execvpe and execlp do
 *     that search and fallback themselves, so the /bin/sh start goes through the decision.
 *
 * Inheritance: every start that goes through a hook, routed or not, gets back LD_PRELOAD (with
 * this library) and the NONO_* configuration below if its environment lost them, so that
 * `env -i bash` or an agent passing a fresh environment still reaches the client.
 *
 * Configuration (read once, by the constructor):
 *   NONO_SHELL_CLIENT  absolute path of the client; unset, empty or relative = pure pass-through
 *                      (no routing, no environment changes, no handshake).
 *   NONO_SHELLS        comma-separated basenames that count as shells; default "bash,sh,dash,zsh".
 *   NONO_HANDSHAKE     (Linux) absolute path of a Unix datagram socket: each process that loads
 *                      this library sends it one datagram "v1\t<readlink /proc/self/exe>" at start;
 *                      the receiver takes the pid from SCM_CREDENTIALS. Failures are silent.
 *   NONO_SOCKET, NONO_SESSION_SECRET, NONO_SESSION_ID: not used here, only carried to children.
 *
 * Hooked: execve, execv, execvp, execl, execlp, execle, posix_spawn, posix_spawnp, system, popen,
 * pclose; on Linux also execvpe, fexecve and execveat. Every public entry point needs its own hook
 * because libc calls its internals directly, not through the PLT (execvp ends in __execve,
 * posix_spawnp in __spawni, system and popen in an internal spawn of /bin/sh).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#if defined(__linux__) || defined(__APPLE__)

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "handshake_addr.h"
#define NONO_ENVIRON environ
#define NONO_PRELOAD_ENTRY "LD_PRELOAD="
/* ld.so splits LD_PRELOAD on both. */
#define NONO_PRELOAD_SEPARATORS ": "
/* The hooks are the libc names themselves: the preloaded definition comes first in lookup. */
#define NONO_HOOK(name) name
#else
#include <crt_externs.h>
/* A dylib cannot link against `environ` (it exists only in the main executable). */
#define NONO_ENVIRON (*_NSGetEnviron())
#define NONO_PRELOAD_ENTRY "DYLD_INSERT_LIBRARIES="
#define NONO_PRELOAD_SEPARATORS ":"
/* dyld maps original -> replacement through the __interpose section, so the replacements need
 * names of their own; a function called execve here would bind this image's calls to itself. */
#define NONO_HOOK(name) nono_hook_##name
#endif

/* The build uses -fvisibility=hidden; the hooks must still be in the dynamic symbol table. */
#define NONO_EXPORT __attribute__((visibility("default")))
/* Code that only shell starts, scripts and rare calls reach. Kept out of the pages the common
 * path (an exec of a program that is not a shell) runs through: a forked child faults in every
 * page of library code it executes, on every exec (measured with `npm run bench`, part 2). */
#define NONO_COLD __attribute__((cold, noinline))

/*
 * Rules for everything reachable from an exec or posix_spawn hook (the string helpers and all
 * functions below the "hook path" marker, except system/popen/pclose, which are never called
 * between vfork and exec).
 * Many callers run the exec in a vfork() child (Python's subprocess, Bun, dash): the child shares
 * the parent's memory and runs on the parent's stack until it execs. So the hook path uses only
 * stack memory (plus an anonymous mapping for an array too big for it, see nono_big_array),
 * reads globals without writing them, takes no locks, calls no malloc or stdio, and uses only
 * plain system calls (stat, access, readlink, open/read/close with O_CLOEXEC, fcntl, mmap,
 * getcwd as a raw syscall, execve). String helpers are written here so that no libc function
 * with unknown internals is involved.
 */

#define NONO_DEFAULT_SHELLS "bash,sh,dash,zsh"
#define NONO_MAX_SHELLS 16
#define NONO_SHELL_NAME_MAX 64
#define NONO_AS_PREFIX "NONO_SHELL_AS="
/* Pointer arrays (a new environment, a script's argv) up to this many entries are built on the
 * caller's stack (8 KiB); larger ones get an anonymous mapping of their own, so that a big
 * environment cannot overflow a small thread stack (a vfork child runs on its parent's). */
#define NONO_STACK_PTRS 1024
/* What the kernel reads of a file to recognise "#!" (BINPRM_BUF_SIZE): all of the line it uses. */
#define NONO_HEAD_SIZE 256
/* Scripts the kernel runs in one chain (x.sh -> #!wrapper -> #!/bin/bash): measured on 6.18,
 * five nested scripts run and a sixth fails with ELOOP. */
#define NONO_MAX_SCRIPT_DEPTH 5
/* Words of an `env -S` line taken apart here; a longer one is left to env itself. */
#define NONO_MAX_ENV_WORDS 8
#define NONO_MAX_PREFIX (2 * NONO_MAX_SCRIPT_DEPTH + NONO_MAX_ENV_WORDS)
/* A preload list longer than this is left alone rather than copied into a stack buffer (a real
 * one is a few paths long). */
#define NONO_MAX_PRELOAD_VALUE 16384
/* The kernel's limit on symlinks followed while resolving one path (MAXSYMLINKS). */
#define NONO_MAX_LINK_HOPS 40
/* glibc's execvp default when PATH is unset (confstr(_CS_PATH)). */
#define NONO_DEFAULT_PATH "/bin:/usr/bin"
/* system() and popen() run "sh -c" with this shell; it is also what NONO_SHELL_AS names. */
#define NONO_SYSTEM_SHELL "/bin/sh"
/* Room for one recorded "NAME=value" entry; a longer value is not carried to children. */
#define NONO_KEPT_MAX (PATH_MAX + 64)

/* ------------------------------------------------------------------------------------------ */
/* Configuration and real functions: written only by the constructor, read-only afterwards.   */

static int nono_enabled;
/* Strings the constructor keeps (client path, own path, NONO_* values) are packed one after
 * another in one pool: this runs in every process the agent starts, and every page of .bss it
 * writes costs a fault (measured: separate PATH_MAX buffers cost several faults per exec). */
static char nono_pool[2 * PATH_MAX + 2 * (PATH_MAX + 64)];
static size_t nono_pool_used;
static const char *nono_client = "";
static int nono_client_stat_ok;
static dev_t nono_client_dev;
static ino_t nono_client_ino;
static char nono_shells[NONO_MAX_SHELLS][NONO_SHELL_NAME_MAX];
static size_t nono_shell_count;

/* This library, as an absolute path ("" if dladdr could not say): what a child's preload list
 * must contain. */
static const char *nono_self = "";

/* Variables a child must get back if its environment lost them, as "NAME=value" ("" = unset). */
static const char *const nono_kept_names[] = {
    "NONO_SOCKET",       "NONO_SESSION_SECRET", "NONO_SESSION_ID",
    "NONO_SHELL_CLIENT", "NONO_SHELLS",         "NONO_HANDSHAKE",
};
#define NONO_KEPT_COUNT (sizeof nono_kept_names / sizeof nono_kept_names[0])
/* NAME=value copies, packed one after another in one small pool: this runs in every process the
 * agent starts, and each page of .bss written costs a page fault (measured: ~20 faults, ~0.17 ms
 * per exec, with one PATH_MAX buffer per variable). Unused entries point at "". */
static const char *nono_kept[NONO_KEPT_COUNT];

/* Copies n bytes plus a NUL into the pool; NULL when it does not fit (never truncated). */
static char *nono_keep(const char *s, size_t n) {
  if (n + 1 > sizeof nono_pool - nono_pool_used) return NULL;
  char *slot = nono_pool + nono_pool_used;
  memcpy(slot, s, n);
  slot[n] = '\0';
  nono_pool_used += n + 1;
  return slot;
}

typedef int (*nono_execve_fn)(const char *, char *const[], char *const[]);
typedef int (*nono_execv_fn)(const char *, char *const[]);
typedef int (*nono_posix_spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                   const posix_spawnattr_t *, char *const[], char *const[]);
typedef int (*nono_system_fn)(const char *);
typedef FILE *(*nono_popen_fn)(const char *, const char *);
typedef int (*nono_pclose_fn)(FILE *);

#if defined(__APPLE__)
/* dyld does not interpose the interposing image's own references, so these name the real
 * functions. Static initialisers, because another image's initialiser may start a process before
 * our constructor runs. */
#define NONO_REAL(fn) = fn
#else
#define NONO_REAL(fn) /* resolved by the constructor with dlsym(RTLD_NEXT) */
#endif

static nono_execve_fn real_execve NONO_REAL(execve);
static nono_posix_spawn_fn real_posix_spawn NONO_REAL(posix_spawn);
static nono_posix_spawn_fn real_posix_spawnp NONO_REAL(posix_spawnp);
static nono_system_fn real_system NONO_REAL(system);
static nono_popen_fn real_popen NONO_REAL(popen);
static nono_pclose_fn real_pclose NONO_REAL(pclose);
#if defined(__linux__)
typedef int (*nono_fexecve_fn)(int, char *const[], char *const[]);
typedef int (*nono_execveat_fn)(int, const char *, char *const[], char *const[], int);
static nono_execve_fn real_execvpe;
static nono_fexecve_fn real_fexecve;
static nono_execveat_fn real_execveat;
#else
static nono_execv_fn real_execvp NONO_REAL(execvp);
#endif

/* ------------------------------------------------------------------------------------------ */
/* String helpers (hook path: see the rules above)                                            */

static size_t nono_strlen(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') n++;
  return n;
}

static int nono_streq(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

static int nono_starts_with(const char *s, const char *prefix) {
  while (*prefix != '\0') {
    if (*s != *prefix) return 0;
    s++;
    prefix++;
  }
  return 1;
}

/* Whether two "NAME=value" entries have the same NAME. */
static int nono_same_name(const char *entry, const char *kept) {
  size_t i = 0;
  for (; kept[i] != '='; i++)
    if (entry[i] != kept[i]) return 0;
  return entry[i] == '=';
}

static int nono_has_slash(const char *s) {
  for (; *s != '\0'; s++)
    if (*s == '/') return 1;
  return 0;
}

static const char *nono_basename(const char *path) {
  const char *base = path;
  for (const char *p = path; *p != '\0'; p++)
    if (*p == '/') base = p + 1;
  return base;
}

/* Appends src to dst (which holds *used chars) if it fits in cap with the terminator. */
static int nono_append(char *dst, size_t cap, size_t *used, const char *src, size_t len) {
  if (*used + len >= cap) return -1;
  for (size_t i = 0; i < len; i++) dst[*used + i] = src[i];
  *used += len;
  dst[*used] = '\0';
  return 0;
}

/* The client is told the shell by absolute path; it may start in another directory. On Linux
 * getcwd is called as a raw syscall because glibc's wrapper can fall back to code that
 * allocates. */
static int nono_make_absolute(const char *path, char out[PATH_MAX]) {
  size_t used = 0;
  out[0] = '\0';
  if (path[0] != '/') {
#if defined(__linux__)
    long n = syscall(SYS_getcwd, out, (size_t)PATH_MAX);
    if (n <= 0 || out[0] != '/') return -1; /* "(unreachable)/..." is not a usable path */
#else
    if (getcwd(out, PATH_MAX) == NULL || out[0] != '/') return -1;
#endif
    used = nono_strlen(out);
    if (!(used == 1 && out[0] == '/') && nono_append(out, PATH_MAX, &used, "/", 1) != 0)
      return -1;
    while (path[0] == '.' && path[1] == '/') path += 2;
  }
  return nono_append(out, PATH_MAX, &used, path, nono_strlen(path));
}

/* ------------------------------------------------------------------------------------------ */
/* Constructor                                                                                */

/* Adds one name from NONO_SHELLS. Names with '/' can never equal a basename, so they are
 * dropped; so are names too long for the fixed table and names past the table's end. */
static void nono_add_shell_name(const char *name, size_t len) {
  if (len == 0 || len >= NONO_SHELL_NAME_MAX || nono_shell_count >= NONO_MAX_SHELLS) return;
  if (memchr(name, '/', len) != NULL) return;
  memcpy(nono_shells[nono_shell_count], name, len);
  nono_shells[nono_shell_count][len] = '\0';
  nono_shell_count++;
}

static void nono_parse_shells(const char *list) {
  const char *start = list;
  for (const char *p = list;; p++) {
    if (*p == ',' || *p == '\0') {
      nono_add_shell_name(start, (size_t)(p - start));
      if (*p == '\0') break;
      start = p + 1;
    }
  }
}

/*
 * The configuration is read here and never in the hooks: a hook may run in a child whose
 * environ the caller has already replaced with the command's environment (libuv assigns environ
 * before execvp), and a vfork child must not write the copies. The client's identity is taken
 * now too, so that a shell name that leads back to the client (proxy-bin/bash -> nono-shell)
 * can be recognised with one stat() per start.
 */
static void nono_load_config(void) {
  const char *client = getenv("NONO_SHELL_CLIENT");
  if (client == NULL || client[0] != '/') return;
  size_t len = strlen(client);
  if (len >= PATH_MAX) return;
  char *kept = nono_keep(client, len);
  if (kept == NULL) return;
  nono_client = kept;

  struct stat st;
  if (stat(nono_client, &st) == 0) {
    nono_client_stat_ok = 1;
    nono_client_dev = st.st_dev;
    nono_client_ino = st.st_ino;
  }
  /* A client that does not exist yet is still used: shell starts then fail with the real
   * execve's error instead of quietly running unsandboxed. */

  const char *shells = getenv("NONO_SHELLS");
  nono_parse_shells(shells != NULL && shells[0] != '\0' ? shells : NONO_DEFAULT_SHELLS);
  nono_enabled = 1;
}

/* What a child needs to stay routed: this library's path and the NONO_* values, copied now
 * because the program may rewrite its own environment later. */
static void nono_record_inheritance(void) {
  /* Any address inside this library identifies it; a variable avoids converting a function
   * pointer to void *. The name is the one the loader used, absolute unless LD_PRELOAD was
   * relative; symlinks are not resolved, so it stays equal to the caller's preload entry. */
  Dl_info info;
  char self[PATH_MAX];
  if (dladdr(&nono_enabled, &info) != 0 && info.dli_fname != NULL &&
      nono_make_absolute(info.dli_fname, self) == 0) {
    char *kept = nono_keep(self, strlen(self));
    if (kept != NULL) nono_self = kept;
  }

  for (size_t i = 0; i < NONO_KEPT_COUNT; i++) {
    nono_kept[i] = "";
    const char *value = getenv(nono_kept_names[i]);
    if (value == NULL) continue;
    size_t name_len = strlen(nono_kept_names[i]), value_len = strlen(value);
    size_t need = name_len + 1 + value_len + 1;
    /* never carry a truncated value */
    if (need > NONO_KEPT_MAX || need > sizeof nono_pool - nono_pool_used) continue;
    char *slot = nono_pool + nono_pool_used;
    memcpy(slot, nono_kept_names[i], name_len);
    slot[name_len] = '=';
    memcpy(slot + name_len + 1, value, value_len + 1);
    nono_kept[i] = slot;
    nono_pool_used += need;
  }
}

#if defined(__linux__)
/* dlsym returns an object pointer; copying its bytes into the function pointer is the conversion
 * POSIX guarantees, and unlike a cast it is valid ISO C. A missing symbol leaves NULL (-> ENOSYS). */
#define NONO_RESOLVE(var, name)          \
  do {                                   \
    void *sym_ = dlsym(RTLD_NEXT, name); \
    memcpy(&(var), &sym_, sizeof(var));  \
  } while (0)

static void nono_resolve_real_functions(void) {
  NONO_RESOLVE(real_execve, "execve");
  NONO_RESOLVE(real_execvpe, "execvpe");
  NONO_RESOLVE(real_fexecve, "fexecve");
  NONO_RESOLVE(real_execveat, "execveat");
  NONO_RESOLVE(real_posix_spawn, "posix_spawn");
  NONO_RESOLVE(real_posix_spawnp, "posix_spawnp");
  NONO_RESOLVE(real_system, "system");
  NONO_RESOLVE(real_popen, "popen");
  NONO_RESOLVE(real_pclose, "pclose");
}

/* Tells the supervisor that this process loaded the interposer, so it can name the processes of
 * the agent that did not. One datagram, never waited for: a missing receiver or a full queue is
 * ignored. The pid is not in the payload because the receiver takes it from the kernel. */
static void nono_handshake(void) {
  struct sockaddr_un addr;
  size_t path_len = nono_handshake_addr(&addr);
  if (path_len == 0) return;

  char msg[3 + PATH_MAX];
  memcpy(msg, "v1\t", 3);
  ssize_t n = readlink("/proc/self/exe", msg + 3, PATH_MAX);
  if (n < 0 || n >= PATH_MAX) n = 0; /* still sent: the pid alone says the library loaded */

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  (void)sendto(fd, msg, 3 + (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&addr,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1));
  close(fd);
}
#else
/* macOS: interpose_handshake_darwin.c (no credentials on datagrams there: a stream socket). */
void nono_handshake(void);
#endif

/* Not exported: the loader runs it from .init_array whatever its visibility. */
__attribute__((constructor)) static void nono_interpose_init(void) {
  int saved_errno = errno; /* the program must not start with an errno from us */
#if defined(__linux__)
  nono_resolve_real_functions();
#endif
  nono_load_config();
  if (nono_enabled) {
    nono_record_inheritance();
    nono_handshake();
  }
  errno = saved_errno;
}

/* ============================== hook path: see the rules above ============================== */

/* ------------------------------------------------------------------------------------------ */
/* Facts about a target                                                                       */

/* Exact basename match only: "bashbug", "mybash" or "bash5" are not shells. */
static int nono_is_shell_name(const char *name) {
  for (size_t i = 0; i < nono_shell_count; i++)
    if (nono_streq(name, nono_shells[i])) return 1;
  return 0;
}

/* What execve would accept: a regular file we may execute. Anything else is left to the real
 * call, so that the caller sees the real error (and a PATH walk such as Python's moves on). */
static int nono_executable_file(const char *path, struct stat *st) {
  return stat(path, st) == 0 && S_ISREG(st->st_mode) && access(path, X_OK) == 0;
}

static int nono_is_client(const struct stat *st) {
  return nono_client_stat_ok && st->st_dev == nono_client_dev && st->st_ino == nono_client_ino;
}

/* The PATH entry of an environment, or glibc's execvp default when there is none. */
static const char *nono_path_in(char *const *env) {
  if (env != NULL)
    for (; *env != NULL; env++)
      if (nono_starts_with(*env, "PATH=")) return *env + 5;
  return NONO_DEFAULT_PATH;
}

/* PATH of the environment in effect now, read from environ without getenv: in a child libuv has
 * already pointed environ at the command's environment, which is the PATH execvp searches. */
static const char *nono_current_path(void) { return nono_path_in(NONO_ENVIRON); }

/* execvp's search: the first entry of `path` holding an executable regular file called `name`.
 * An empty entry means the current directory, as in execvp. Writes the candidate to out. */
static NONO_COLD int nono_search_path(const char *name, const char *path, char out[PATH_MAX]) {
  size_t name_len = nono_strlen(name);
  const char *dir = path;
  for (;;) {
    const char *end = dir;
    while (*end != '\0' && *end != ':') end++;
    size_t used = 0;
    out[0] = '\0';
    int fits = 0;
    if (end == dir)
      fits = nono_append(out, PATH_MAX, &used, name, name_len) == 0;
    else
      fits = nono_append(out, PATH_MAX, &used, dir, (size_t)(end - dir)) == 0 &&
             nono_append(out, PATH_MAX, &used, "/", 1) == 0 &&
             nono_append(out, PATH_MAX, &used, name, name_len) == 0;
    struct stat st;
    if (fits && nono_executable_file(out, &st)) return 1;
    if (*end == '\0') return 0;
    dir = end + 1;
  }
}

/* Whether path is a symlink chain that ends at a file with a shell name. readlink resolves only
 * the last component, so the chain is walked here; a relative target is relative to the link's
 * directory. A dangling, looping or too long chain is not a shell: the real call reports it. */
static NONO_COLD int nono_walk_links_to_shell(const char *path);

static int nono_links_to_shell(const char *path) {
  /* Most programs are not symlinks: decide that with one lstat and no large buffers, because
   * every 4 KiB of stack this frame touches is a copy-on-write fault in a forked child (measured:
   * ~20 faults and ~0.17 ms on every exec of every program before this). */
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode)) return 0;
  return nono_walk_links_to_shell(path);
}

static NONO_COLD int nono_walk_links_to_shell(const char *path) {
  char cur[PATH_MAX];
  char next[PATH_MAX];
  size_t used = 0;
  cur[0] = '\0';
  if (nono_append(cur, PATH_MAX, &used, path, nono_strlen(path)) != 0) return 0;
  for (int hop = 0; hop < NONO_MAX_LINK_HOPS; hop++) {
    ssize_t n = readlink(cur, next, sizeof next);
    if (n < 0) return hop > 0 && errno == EINVAL && nono_is_shell_name(nono_basename(cur));
    if ((size_t)n >= sizeof next) return 0; /* maybe truncated */
    next[n] = '\0';
    used = next[0] == '/' ? 0 : (size_t)(nono_basename(cur) - cur); /* keep the link's dir */
    cur[used] = '\0';
    if (nono_append(cur, PATH_MAX, &used, next, (size_t)n) != 0) return 0;
  }
  return 0;
}

static int nono_names_shell(const char *path) {
  return nono_is_shell_name(nono_basename(path)) || nono_links_to_shell(path);
}

/* Whether a file starts with "#!": two bytes, read only for a regular file with an execute bit
 * (anything else execve refuses or runs as a binary without our help). This is the one cost
 * the script rule adds to the start of a program that is not a shell (npm run bench, part 2). */
static int nono_starts_with_shebang(const char *path, const struct stat *st) {
  if (!S_ISREG(st->st_mode) || (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return 0; /* unreadable: we cannot tell; see nono_classify_script */
  char magic[2];
  ssize_t n = read(fd, magic, sizeof magic);
  close(fd);
  return n == 2 && magic[0] == '#' && magic[1] == '!';
}

/* The first NONO_HEAD_SIZE bytes of a file, zero padded, as the kernel sees them; head has one
 * more byte, always NUL. -1 when the file cannot be opened for reading. */
static NONO_COLD int nono_read_head(const char *path, char head[NONO_HEAD_SIZE + 1]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got < NONO_HEAD_SIZE) {
    ssize_t n = read(fd, head + got, NONO_HEAD_SIZE - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  for (size_t i = got; i <= NONO_HEAD_SIZE; i++) head[i] = '\0';
  return 0;
}

static int nono_spacetab(char c) { return c == ' ' || c == '\t'; }

/*
 * "#!NAME [ARG]" read the way Linux reads it (fs/binfmt_script.c), so that the argv built here is
 * the one the shell would have got: spaces and tabs around NAME are skipped, everything after the
 * first space or tab up to the end of the line (trailing spaces and tabs dropped) is ONE argument,
 * and a carriage return is an ordinary character ("#!/bin/bash\r" names a file that does not
 * exist). A line without a newline inside the buffer is used only if NAME visibly ends in it.
 * Works in place: *name and *arg (NULL if none) point into head. -1 where the kernel says ENOEXEC.
 */
static NONO_COLD int nono_parse_shebang(char head[NONO_HEAD_SIZE + 1], char **name, char **arg) {
  if (head[0] != '#' || head[1] != '!') return -1;
  char *last = head + NONO_HEAD_SIZE - 1;
  char *end = NULL;
  for (char *p = head; p <= last && *p != '\0'; p++)
    if (*p == '\n') {
      end = p;
      break;
    }
  if (end == NULL) {
    char *p = head + 2;
    while (p <= last && nono_spacetab(*p)) p++;
    if (p > last) return -1; /* only spaces */
    while (p <= last && !nono_spacetab(*p) && *p != '\0') p++;
    if (p > last) return -1; /* the name may be cut off */
    end = last;
  }
  while (nono_spacetab(end[-1])) end--; /* stops at the '!' at the latest */
  char *n = head + 2;
  while (n <= end && nono_spacetab(*n)) n++;
  if (n >= end) return -1; /* no name */
  char *sep = n;
  while (sep <= end && !nono_spacetab(*sep) && *sep != '\0') sep++;
  char *a = NULL;
  if (sep <= end && *sep != '\0') {
    a = sep;
    while (a <= end && nono_spacetab(*a)) a++;
    if (a > end) a = NULL;
  }
  *end = '\0';
  if (a != NULL) *sep = '\0';
  *name = n;
  *arg = a;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The decision                                                                               */

enum nono_lookup {
  NONO_LITERAL,    /* execve, execv, posix_spawn: the path is used as given (bare = cwd) */
  NONO_SEARCH_PATH /* posix_spawnp: a bare name is searched on PATH */
};

enum nono_decision {
  NONO_PASS,  /* not a shell (or it is the client itself): call the real function */
  NONO_ROUTE, /* a shell: start the client with NONO_SHELL_AS=<route.shell> */
  NONO_REFUSE /* a shell we cannot name in PATH_MAX: fail rather than run it unsandboxed */
};

/* What a routed start becomes. For a script the client's argv is prefix[], then script, then
 * the caller's argv[1..] (the kernel drops argv[0] of a script); otherwise the caller's argv. */
struct nono_route {
  char shell[PATH_MAX]; /* NONO_SHELL_AS: the shell, absolute */
  int script;
  const char *script_path;
  size_t nprefix;
  const char *prefix[NONO_MAX_PREFIX];
  char found[PATH_MAX]; /* the file a PATH search found (posix_spawnp) */
  char heads[NONO_MAX_SCRIPT_DEPTH][NONO_HEAD_SIZE + 1];
};

/* A file named as a shell: routed unless it cannot be run or is the client itself (a shell name
 * that is the client, proxy-bin/bash first on PATH, is already routed; rewriting it would hand
 * the client a NONO_SHELL_AS pointing at itself). */
static NONO_COLD enum nono_decision nono_shell_route(const char *path, struct nono_route *r) {
  struct stat st;
  if (!nono_executable_file(path, &st) || nono_is_client(&st)) return NONO_PASS;
  /* The shell is named by the path the caller used: the supervisor resolves it itself. */
  if (nono_make_absolute(path, r->shell) != 0) return NONO_REFUSE;
  return NONO_ROUTE;
}

/* names[k]/args[k]: the "#!" line of the k-th script of a chain. The kernel puts the innermost
 * interpreter first: names[from], args[from], ..., names[0], args[0], then the script. */
static NONO_COLD void nono_push_chain(struct nono_route *r, char *const names[], char *const args[],
                            size_t from, int include_from) {
  for (size_t k = from + 1; k-- > 0;) {
    if (k == from && !include_from) continue;
    r->prefix[r->nprefix++] = names[k];
    if (args[k] != NULL) r->prefix[r->nprefix++] = args[k];
  }
}

/*
 * `#!/usr/bin/env ARG` at depth `depth`: env runs ARG (or, for "-S ...", the words of the rest)
 * found on the PATH of the environment the script gets. Only the plain forms are taken apart
 * here; options, assignments, quotes, escapes and ${VAR} are left to env itself, which loads this
 * library too and routes its own execvp.
 */
static NONO_COLD enum nono_decision
nono_classify_env(struct nono_route *r, char *const names[], char *const args[], size_t depth,
                  const char *script, char *const envp[]) {
  char *arg = args[depth];
  char *words[NONO_MAX_ENV_WORDS];
  size_t nw = 0;
  if (arg == NULL) return NONO_PASS;
  if (arg[0] == '-' && arg[1] == 'S') {
    for (const char *q = arg + 2; *q != '\0'; q++)
      if (*q == '\\' || *q == '\'' || *q == '"' || *q == '$' || *q == '#') return NONO_PASS;
    for (char *p = arg + 2;;) {
      while (nono_spacetab(*p)) p++;
      if (*p == '\0') break;
      if (nw == NONO_MAX_ENV_WORDS) return NONO_PASS;
      words[nw++] = p;
      while (*p != '\0' && !nono_spacetab(*p)) p++;
      if (*p != '\0') *p++ = '\0';
    }
  } else {
    for (const char *q = arg; *q != '\0'; q++)
      if (nono_spacetab(*q)) return NONO_PASS; /* env looks for a program with that space */
    words[nw++] = arg;
  }
  if (nw == 0 || words[0][0] == '-') return NONO_PASS;
  for (const char *q = words[0]; *q != '\0'; q++)
    if (*q == '=') return NONO_PASS; /* an assignment, not the program */

  char found[PATH_MAX];
  const char *program = words[0];
  if (!nono_has_slash(program)) {
    if (!nono_search_path(program, nono_path_in(envp), found)) return NONO_PASS;
    program = found;
  }
  if (!nono_names_shell(program)) return NONO_PASS; /* env runs it, through its own hook */
  enum nono_decision d = nono_shell_route(program, r);
  if (d != NONO_ROUTE) return d;
  r->nprefix = 0;
  for (size_t i = 0; i < nw; i++) r->prefix[r->nprefix++] = words[i];
  nono_push_chain(r, names, args, depth, 0);
  r->script = 1;
  r->script_path = script;
  return NONO_ROUTE;
}

/*
 * A script whose "#!" chain ends in a shell. Each file of the chain must be one the kernel would
 * run: a regular file we may execute whose head we can read. One we cannot read (mode 0711 and
 * not ours) is passed through: its interpreter cannot read it either and fails.
 */
static NONO_COLD enum nono_decision
nono_classify_script(const char *script, struct nono_route *r, char *const envp[]) {
  char *names[NONO_MAX_SCRIPT_DEPTH];
  char *args[NONO_MAX_SCRIPT_DEPTH];
  const char *file = script;
  for (size_t depth = 0; depth < NONO_MAX_SCRIPT_DEPTH; depth++) {
    struct stat st;
    if (!nono_executable_file(file, &st) || nono_read_head(file, r->heads[depth]) != 0 ||
        nono_parse_shebang(r->heads[depth], &names[depth], &args[depth]) != 0)
      return NONO_PASS;
    const char *interp = names[depth];
    if (nono_names_shell(interp)) {
      enum nono_decision d = nono_shell_route(interp, r);
      if (d != NONO_ROUTE) return d;
      r->nprefix = 0;
      nono_push_chain(r, names, args, depth, 1);
      r->script = 1;
      r->script_path = script;
      return NONO_ROUTE;
    }
    if (nono_streq(nono_basename(interp), "env"))
      return nono_classify_env(r, names, args, depth, script, envp);
    file = interp; /* the interpreter may itself be a script */
  }
  return NONO_PASS; /* deeper than the kernel goes: it fails with ELOOP */
}

/* scripts = 0 where the kernel would refuse to run a script (see nono_fd_script_ok). */
static NONO_COLD enum nono_decision nono_classify_target(const char *target, struct nono_route *r,
                                               char *const envp[], int scripts) {
  /* The name decides first; only other names pay for the readlink of the symlink check. */
  if (nono_names_shell(target)) return nono_shell_route(target, r);
  if (!scripts) return NONO_PASS;
  return nono_classify_script(target, r, envp);
}

/* The one place that decides whether a start is routed. errno is restored so that a
 * pass-through caller sees only the real call's errno, never one from our stat/readlink. */
static NONO_COLD enum nono_decision nono_decide(const char *file, enum nono_lookup lookup, char *const envp[],
                                      int scripts, struct nono_route *r) {
  if (!nono_enabled || file == NULL || file[0] == '\0') return NONO_PASS;
  int saved_errno = errno;
  r->script = 0;
  enum nono_decision d;
  if (lookup == NONO_SEARCH_PATH && !nono_has_slash(file))
    d = nono_search_path(file, nono_current_path(), r->found)
            ? nono_classify_target(r->found, r, envp, scripts)
            : NONO_PASS; /* the real call reports ENOENT etc. */
  else
    d = nono_classify_target(file, r, envp, scripts);
  errno = saved_errno;
  return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Pointer arrays                                                                             */

/* An array too big for the stack (more than NONO_STACK_PTRS entries), in its own mapping: mmap
 * takes no lock and touches no heap, so it is usable in a vfork child. It is unmapped when the
 * real call returns; after an exec that succeeded in a vfork child it stays in the parent (the
 * mapping was made in the shared address space): one mapping of 8 bytes per entry, and only for
 * an environment or argv of more than NONO_STACK_PTRS entries. */
struct nono_big_array {
  void *map;
  size_t bytes;
};

static NONO_COLD char **nono_big_array_get(struct nono_big_array *a, size_t entries) {
  a->map = NULL;
  a->bytes = 0;
  if (entries > ((size_t)-1) / sizeof(char *)) return NULL;
  size_t bytes = entries * sizeof(char *);
  void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return NULL;
  a->map = m;
  a->bytes = bytes;
  return (char **)m;
}

static void nono_big_array_put(struct nono_big_array *a) {
  if (a->map == NULL) return;
  int saved_errno = errno;
  munmap(a->map, a->bytes);
  errno = saved_errno;
}

/* ------------------------------------------------------------------------------------------ */
/* The environment a start gets                                                               */

static int nono_has_sep(char c) {
  for (const char *s = NONO_PRELOAD_SEPARATORS; *s != '\0'; s++)
    if (*s == c) return 1;
  return 0;
}

/* Whether a preload list holds exactly our path as one of its entries. */
static int nono_list_has(const char *list, const char *item) {
  for (const char *p = list;;) {
    const char *end = p;
    while (*end != '\0' && !nono_has_sep(*end)) end++;
    size_t i = 0;
    while (p + i < end && item[i] != '\0' && p[i] == item[i]) i++;
    if (p + i == end && item[i] == '\0') return 1;
    if (*end == '\0') return 0;
    p = end + 1;
  }
}

/*
 * What has to change in an environment. The scan is the fast path: when nothing is missing and
 * nothing is routed, `changed` stays 0 and the caller's envp is used as it is, with no copy.
 */
struct nono_env_plan {
  size_t out_count;            /* entries of the new environment, NULL not counted */
  size_t preload_size;         /* bytes of the rebuilt preload entry with its NUL; 0 = keep */
  const char *their_preload;   /* the caller's preload list (the last entry, the one ld.so
                                  uses), or NULL */
  unsigned char missing[NONO_KEPT_COUNT];
  int changed;
};

/* shell != NULL: a redirect, which also replaces NONO_SHELL_AS. */
static void nono_env_plan(char *const envp[], const char *shell, struct nono_env_plan *plan) {
  size_t count = 0, stale_as = 0, preload_entries = 0;
  unsigned char present[NONO_KEPT_COUNT] = {0};
  const char *theirs = NULL;
  if (envp != NULL)
    for (; envp[count] != NULL; count++) {
      const char *e = envp[count];
      if (nono_starts_with(e, NONO_PRELOAD_ENTRY)) {
        theirs = e + sizeof NONO_PRELOAD_ENTRY - 1;
        preload_entries++;
      } else if (e[0] == 'N') {
        if (shell != NULL && nono_starts_with(e, NONO_AS_PREFIX)) stale_as++;
        for (size_t k = 0; k < NONO_KEPT_COUNT; k++)
          if (nono_kept[k][0] != '\0' && nono_same_name(e, nono_kept[k])) present[k] = 1;
      }
    }

  plan->changed = shell != NULL;
  plan->their_preload = theirs;
  plan->preload_size = 0;
  size_t out = count - stale_as + (shell != NULL);
  if (nono_self[0] != '\0' && !(theirs != NULL && nono_list_has(theirs, nono_self))) {
    size_t their_len = theirs != NULL ? nono_strlen(theirs) : 0;
    if (their_len <= NONO_MAX_PRELOAD_VALUE) {
      plan->preload_size =
          sizeof NONO_PRELOAD_ENTRY + nono_strlen(nono_self) + (their_len > 0 ? 1 + their_len : 0);
      out = out - preload_entries + 1; /* all of theirs replaced by one */
      plan->changed = 1;
    }
  }
  /* A variable the environment has, with any value, is the caller's choice and stays. */
  for (size_t k = 0; k < NONO_KEPT_COUNT; k++) {
    plan->missing[k] = nono_kept[k][0] != '\0' && !present[k];
    if (plan->missing[k]) {
      out++;
      plan->changed = 1;
    }
  }
  plan->out_count = out;
}

/* Fills env (room for plan->out_count + 1 pointers). preload has plan->preload_size bytes;
 * as_entry, used when shell != NULL, has as_size bytes (NONO_AS_PREFIX + the shell + NUL). */
static NONO_COLD void nono_env_fill(char **env, char *const envp[], const struct nono_env_plan *plan,
                          char *preload, char *as_entry, size_t as_size, const char *shell) {
  size_t k = 0;
  if (envp != NULL)
    for (size_t i = 0; envp[i] != NULL; i++) {
      if (plan->preload_size > 0 && nono_starts_with(envp[i], NONO_PRELOAD_ENTRY)) continue;
      if (shell != NULL && nono_starts_with(envp[i], NONO_AS_PREFIX)) continue;
      env[k++] = envp[i];
    }
  if (plan->preload_size > 0) {
    /* Ours first, then theirs: <ours> or <ours>:<their value>. */
    size_t used = 0;
    preload[0] = '\0';
    nono_append(preload, plan->preload_size, &used, NONO_PRELOAD_ENTRY,
                sizeof NONO_PRELOAD_ENTRY - 1);
    nono_append(preload, plan->preload_size, &used, nono_self, nono_strlen(nono_self));
    if (plan->their_preload != NULL && plan->their_preload[0] != '\0') {
      nono_append(preload, plan->preload_size, &used, ":", 1);
      nono_append(preload, plan->preload_size, &used, plan->their_preload,
                  nono_strlen(plan->their_preload));
    }
    env[k++] = preload;
  }
  for (size_t i = 0; i < NONO_KEPT_COUNT; i++)
    if (plan->missing[i]) env[k++] = (char *)nono_kept[i];
  if (shell != NULL) {
    size_t used = 0;
    as_entry[0] = '\0';
    nono_append(as_entry, as_size, &used, NONO_AS_PREFIX, sizeof NONO_AS_PREFIX - 1);
    nono_append(as_entry, as_size, &used, shell, nono_strlen(shell));
    env[k++] = as_entry;
  }
  env[k] = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Making the real call                                                                       */

/* One description for every real function a hook may end in, so that the environment is fixed
 * up in one place. */
enum nono_call_kind {
  NONO_CALL_EXECVE,  /* also execv, execl, execle, every candidate of execvp, and redirects */
  NONO_CALL_EXECVPE, /* execvp, execvpe, execlp with routing off */
  NONO_CALL_SPAWN,   /* posix_spawn, and the redirect of any spawn, system or popen */
  NONO_CALL_SPAWNP,
#if defined(__linux__)
  NONO_CALL_FEXECVE,
  NONO_CALL_EXECVEAT,
#endif
};

struct nono_call {
  enum nono_call_kind kind;
  const char *path;
  char *const *argv;
  int fd;    /* fexecve, execveat */
  int flags; /* execveat */
  pid_t *pid;
  const posix_spawn_file_actions_t *actions;
  const posix_spawnattr_t *attr;
};

static int nono_is_spawn(const struct nono_call *c) {
  return c->kind == NONO_CALL_SPAWN || c->kind == NONO_CALL_SPAWNP;
}

/* Errors the way the real function reports them: a number for posix_spawn, -1/errno for exec. */
static int nono_fail(const struct nono_call *c, int err) {
  if (nono_is_spawn(c)) return err;
  errno = err;
  return -1;
}

static int nono_call_real(const struct nono_call *c, char *const envp[]) {
  switch (c->kind) {
    case NONO_CALL_EXECVE:
      if (real_execve == NULL) break;
      return real_execve(c->path, c->argv, envp);
    case NONO_CALL_EXECVPE:
#if defined(__linux__)
      /* glibc's execvp is execvpe(file, argv, environ): the same call when nothing changed. */
      if (real_execvpe == NULL) break;
      return real_execvpe(c->path, c->argv, envp);
#else
      if (envp == NONO_ENVIRON) return real_execvp(c->path, c->argv);
      /* macOS has no execvpe: search PATH as execvp does, then execve with the new env. */
      if (nono_has_slash(c->path)) return real_execve(c->path, c->argv, envp);
      {
        char found[PATH_MAX];
        if (!nono_search_path(c->path, nono_current_path(), found)) return nono_fail(c, ENOENT);
        return real_execve(found, c->argv, envp);
      }
#endif
    case NONO_CALL_SPAWN:
      if (real_posix_spawn == NULL) break;
      return real_posix_spawn(c->pid, c->path, c->actions, c->attr, c->argv, envp);
    case NONO_CALL_SPAWNP:
      if (real_posix_spawnp == NULL) break;
      return real_posix_spawnp(c->pid, c->path, c->actions, c->attr, c->argv, envp);
#if defined(__linux__)
    case NONO_CALL_FEXECVE:
      if (real_fexecve == NULL) break;
      return real_fexecve(c->fd, c->argv, envp);
    case NONO_CALL_EXECVEAT:
      if (real_execveat == NULL) break;
      return real_execveat(c->fd, c->path, c->argv, envp, c->flags);
#endif
  }
  return nono_fail(c, ENOSYS);
}

/*
 * Makes the call with the environment it needs: NONO_SHELL_AS=<shell> for a redirect
 * (shell != NULL), plus whatever inheritance puts back. The new environment lives in this frame
 * (or in a mapping when it is big, see nono_big_array): heap memory is off limits in a vfork
 * child, and the buffers must live until the real call has copied them.
 */
static int nono_call(const struct nono_call *c, char *const envp[], const char *shell) {
  if (!nono_enabled) return nono_call_real(c, envp);
  struct nono_env_plan plan;
  nono_env_plan(envp, shell, &plan);
  if (!plan.changed) return nono_call_real(c, envp);
  size_t entries = plan.out_count + 1;
  char *small[entries <= NONO_STACK_PTRS ? entries : 1];
  struct nono_big_array big = {NULL, 0};
  char **env = entries <= NONO_STACK_PTRS ? small : nono_big_array_get(&big, entries);
  if (env == NULL) {
    if (shell == NULL) return nono_call_real(c, envp); /* pass-through: leave it to the kernel */
    return nono_fail(c, ENOMEM);
  }
  char preload[plan.preload_size > 0 ? plan.preload_size : 1];
  size_t as_size = shell != NULL ? sizeof NONO_AS_PREFIX + nono_strlen(shell) : 1;
  char as_entry[as_size];
  nono_env_fill(env, envp, &plan, preload, as_entry, as_size, shell);
  int result = nono_call_real(c, env);
  nono_big_array_put(&big);
  return result;
}

/* Starts the client for a routed start: the client path is absolute, so execve and plain
 * posix_spawn are right for every caller. A script's argv is built here (see nono_route). */
static NONO_COLD int nono_redirect(struct nono_call *c, const struct nono_route *r, char *const argv[],
                         char *const envp[]) {
  c->path = nono_client;
  c->argv = argv;
  if (!r->script) return nono_call(c, envp, r->shell);
  size_t argc = 0;
  if (argv != NULL)
    while (argv[argc] != NULL) argc++;
  size_t entries = r->nprefix + 1 + (argc > 1 ? argc - 1 : 0) + 1;
  char *small[entries <= NONO_STACK_PTRS ? entries : 1];
  struct nono_big_array big = {NULL, 0};
  char **v = entries <= NONO_STACK_PTRS ? small : nono_big_array_get(&big, entries);
  if (v == NULL) return nono_fail(c, ENOMEM);
  size_t k = 0;
  for (size_t i = 0; i < r->nprefix; i++) v[k++] = (char *)r->prefix[i];
  v[k++] = (char *)r->script_path;
  for (size_t i = 1; i < argc; i++) v[k++] = argv[i];
  v[k] = NULL;
  c->argv = v;
  int result = nono_call(c, envp, r->shell);
  nono_big_array_put(&big);
  return result;
}

static int nono_redirect_exec(const struct nono_route *r, char *const argv[], char *const envp[]) {
  struct nono_call c = {.kind = NONO_CALL_EXECVE};
  return nono_redirect(&c, r, argv, envp);
}

static int nono_redirect_spawn(pid_t *pid, const struct nono_route *r,
                               const posix_spawn_file_actions_t *actions,
                               const posix_spawnattr_t *attr, char *const argv[],
                               char *const envp[]) {
  struct nono_call c = {.kind = NONO_CALL_SPAWN, .pid = pid, .actions = actions, .attr = attr};
  return nono_redirect(&c, r, argv, envp);
}

/* ------------------------------------------------------------------------------------------ */
/* Exec and spawn hooks                                                                       */

static int nono_exec_error(int err) {
  errno = err;
  return -1;
}

/*
 * Whether a start could be a shell, decided without any large buffer: every 4 KiB of stack a hook
 * touches is a copy-on-write fault in the forked child that runs it, on every exec of every
 * program (measured with `npm run bench`, part 2). A path whose name is not a shell's, that is
 * not a symlink and does not start with "#!" is settled with one lstat and, for an executable
 * regular file, a read of two bytes; anything else takes the full decision.
 */
static int nono_may_be_shell(const char *file, enum nono_lookup lookup) {
  if (!nono_enabled || file == NULL || file[0] == '\0') return 0;
  if (lookup == NONO_SEARCH_PATH && !nono_has_slash(file)) return 1; /* PATH search needed */
  if (nono_is_shell_name(nono_basename(file))) return 1;
  int saved_errno = errno;
  struct stat st;
  int maybe = lstat(file, &st) == 0 && (S_ISLNK(st.st_mode) || nono_starts_with_shebang(file, &st));
  errno = saved_errno;
  return maybe;
}

/* The full decision for a start that may be a shell. Returns 1 when it was routed (or refused,
 * with *result set), 0 when it is not a shell after all and passes through. Kept out of line so
 * that its buffers are only on the stack of the starts that need them. */
static NONO_COLD int nono_exec_if_shell(const char *file, char *const argv[],
                                                       char *const envp[], int *result) {
  struct nono_route route;
  switch (nono_decide(file, NONO_LITERAL, envp, 1, &route)) {
    case NONO_ROUTE:
      *result = nono_redirect_exec(&route, argv, envp);
      return 1;
    case NONO_REFUSE:
      *result = nono_exec_error(ENAMETOOLONG);
      return 1;
    case NONO_PASS:
      break;
  }
  return 0;
}

static NONO_COLD int nono_spawn_if_shell(pid_t *pid, const char *file,
                                                        enum nono_lookup lookup,
                                                        const posix_spawn_file_actions_t *actions,
                                                        const posix_spawnattr_t *attr,
                                                        char *const argv[], char *const envp[],
                                                        int *result) {
  struct nono_route route;
  switch (nono_decide(file, lookup, envp, 1, &route)) {
    case NONO_ROUTE:
      *result = nono_redirect_spawn(pid, &route, actions, attr, argv, envp);
      return 1;
    case NONO_REFUSE:
      *result = ENAMETOOLONG;
      return 1;
    case NONO_PASS:
      break;
  }
  return 0;
}

/* Every exec of a path (execve, execv, execl, execle, each execvp candidate) ends here.
 * *routed is set when the client was started (or refused) instead. */
static int nono_exec_path(const char *file, char *const argv[], char *const envp[], int *routed) {
  int result;
  if (nono_may_be_shell(file, NONO_LITERAL) && nono_exec_if_shell(file, argv, envp, &result)) {
    *routed = 1;
    return result;
  }
  struct nono_call c = {.kind = NONO_CALL_EXECVE, .path = file, .argv = argv};
  return nono_call(&c, envp, NULL);
}

static int nono_exec(const char *file, char *const argv[], char *const envp[]) {
  int routed = 0;
  return nono_exec_path(file, argv, envp, &routed);
}

/* glibc's execvp fallback (posix/execvpe.c, maybe_script_execute) for a file the kernel returned
 * ENOEXEC for: execve("/bin/sh", {"/bin/sh", file, argv[1..]}), here through the decision. */
static NONO_COLD int nono_exec_sh_fallback(const char *file, char *const argv[],
                                                          char *const envp[], int *routed) {
  size_t argc = 0;
  if (argv != NULL)
    while (argv[argc] != NULL) argc++;
  size_t entries = 2 + (argc > 1 ? argc - 1 : 0) + 1;
  char *small[entries <= NONO_STACK_PTRS ? entries : 1];
  struct nono_big_array big = {NULL, 0};
  char **v = entries <= NONO_STACK_PTRS ? small : nono_big_array_get(&big, entries);
  if (v == NULL) return nono_exec_error(ENOMEM);
  size_t k = 0;
  v[k++] = (char *)NONO_SYSTEM_SHELL;
  v[k++] = (char *)file;
  for (size_t i = 1; i < argc; i++) v[k++] = argv[i];
  v[k] = NULL;
  int result = nono_exec_path(NONO_SYSTEM_SHELL, v, envp, routed);
  nono_big_array_put(&big);
  return result;
}

/* One execvp candidate: the decision, the real execve, then the ENOEXEC fallback. */
static int nono_exec_candidate(const char *file, char *const argv[], char *const envp[],
                               int *routed) {
  int result = nono_exec_path(file, argv, envp, routed);
  if (*routed || errno != ENOEXEC) return result;
  return nono_exec_sh_fallback(file, argv, envp, routed);
}

/*
 * execvp, execvpe, execlp: glibc's search, done here so that each candidate and the /bin/sh
 * fallback go through the decision (glibc's own execvpe calls its internal execve, which no hook
 * sees). Like glibc: PATH of the current environment (default "/bin:/usr/bin"), an empty entry
 * is the current directory, EACCES/ENOENT/ENOTDIR/ESTALE/ENODEV/ETIMEDOUT move on to the next
 * entry, any other error ends the search, and EACCES is reported if any candidate gave it. One
 * difference, on purpose: once a candidate was routed, its failure ends the search (fail closed).
 */
static int nono_exec_search(const char *file, char *const argv[], char *const envp[]) {
  if (!nono_enabled) {
    struct nono_call c = {.kind = NONO_CALL_EXECVPE, .path = file, .argv = argv};
    return nono_call_real(&c, envp);
  }
  if (file == NULL || file[0] == '\0') return nono_exec_error(ENOENT);
  int routed = 0;
  if (nono_has_slash(file)) {
    nono_exec_candidate(file, argv, envp, &routed);
    return -1;
  }
  size_t file_len = nono_strlen(file);
  if (file_len > NAME_MAX) return nono_exec_error(ENAMETOOLONG);
  int got_eacces = 0;
  char candidate[PATH_MAX];
  for (const char *dir = nono_current_path();;) {
    const char *end = dir;
    while (*end != '\0' && *end != ':') end++;
    size_t used = 0;
    candidate[0] = '\0';
    int fits = (end == dir || (nono_append(candidate, PATH_MAX, &used, dir, (size_t)(end - dir)) == 0 &&
                               nono_append(candidate, PATH_MAX, &used, "/", 1) == 0)) &&
               nono_append(candidate, PATH_MAX, &used, file, file_len) == 0;
    if (fits) {
      nono_exec_candidate(candidate, argv, envp, &routed);
      if (routed) return -1;
      switch (errno) {
        case EACCES:
          got_eacces = 1;
          break;
        case ENOENT:
        case ESTALE:
        case ENOTDIR:
        case ENODEV:
        case ETIMEDOUT:
          break;
        default:
          return -1;
      }
    }
    if (*end == '\0') break;
    dir = end + 1;
  }
  if (got_eacces) errno = EACCES;
  return -1;
}

static int nono_spawn(pid_t *pid, const char *file, enum nono_lookup lookup,
                      const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                      char *const argv[], char *const envp[]) {
  int result;
  if (nono_may_be_shell(file, lookup) &&
      nono_spawn_if_shell(pid, file, lookup, actions, attr, argv, envp, &result))
    return result;
  struct nono_call c = {.kind = lookup == NONO_SEARCH_PATH ? NONO_CALL_SPAWNP : NONO_CALL_SPAWN,
                        .path = file, .argv = argv, .pid = pid, .actions = actions, .attr = attr};
  return nono_call(&c, envp, NULL);
}

NONO_EXPORT int NONO_HOOK(execve)(const char *path, char *const argv[], char *const envp[]) {
  return nono_exec(path, argv, envp);
}

/* execv and execvp use the environment in effect now, like libc (environ is read at call time,
 * so a libuv child that already switched environ passes the command's environment). */
NONO_EXPORT int NONO_HOOK(execv)(const char *path, char *const argv[]) {
  return nono_exec(path, argv, NONO_ENVIRON);
}

NONO_EXPORT int NONO_HOOK(execvp)(const char *file, char *const argv[]) {
  return nono_exec_search(file, argv, NONO_ENVIRON);
}

/*
 * execl, execlp, execle: the arguments are counted in one pass over the va_list and copied into
 * a VLA in a second, then the call continues as execv, execvp or execve. Like glibc there is no
 * limit of our own: the list is written out in the caller's source, so it is short.
 */
static size_t nono_count_args(const char *arg, va_list ap) {
  size_t n = 0;
  for (const char *a = arg; a != NULL; a = va_arg(ap, const char *)) n++;
  return n;
}

/* Copies the list (and its NULL) into argv; for execle also returns the envp after the NULL. */
static char *const *nono_collect_args(char **argv, const char *arg, va_list ap, int with_envp) {
  size_t n = 0;
  for (const char *a = arg; a != NULL; a = va_arg(ap, const char *)) argv[n++] = (char *)a;
  argv[n] = NULL;
  return with_envp ? va_arg(ap, char *const *) : NULL;
}

NONO_EXPORT int NONO_HOOK(execl)(const char *path, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  size_t n = nono_count_args(arg, ap);
  va_end(ap);
  char *argv[n + 1];
  va_start(ap, arg);
  nono_collect_args(argv, arg, ap, 0);
  va_end(ap);
  return nono_exec(path, argv, NONO_ENVIRON);
}

NONO_EXPORT int NONO_HOOK(execlp)(const char *file, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  size_t n = nono_count_args(arg, ap);
  va_end(ap);
  char *argv[n + 1];
  va_start(ap, arg);
  nono_collect_args(argv, arg, ap, 0);
  va_end(ap);
  return nono_exec_search(file, argv, NONO_ENVIRON);
}

NONO_EXPORT int NONO_HOOK(execle)(const char *path, const char *arg, ...) {
  va_list ap;
  va_start(ap, arg);
  size_t n = nono_count_args(arg, ap);
  va_end(ap);
  char *argv[n + 1];
  va_start(ap, arg);
  char *const *envp = nono_collect_args(argv, arg, ap, 1);
  va_end(ap);
  return nono_exec(path, argv, envp);
}

NONO_EXPORT int NONO_HOOK(posix_spawn)(pid_t *restrict pid, const char *restrict path,
                                       const posix_spawn_file_actions_t *file_actions,
                                       const posix_spawnattr_t *restrict attr,
                                       char *const argv[restrict], char *const envp[restrict]) {
  return nono_spawn(pid, path, NONO_LITERAL, file_actions, attr, argv, envp);
}

/* No ENOEXEC fallback here: glibc >= 2.15 posix_spawnp has none (measured on 2.36: a file without
 * "#!" fails with ENOEXEC). */
NONO_EXPORT int NONO_HOOK(posix_spawnp)(pid_t *restrict pid, const char *restrict file,
                                        const posix_spawn_file_actions_t *file_actions,
                                        const posix_spawnattr_t *restrict attr,
                                        char *const argv[restrict], char *const envp[restrict]) {
  return nono_spawn(pid, file, NONO_SEARCH_PATH, file_actions, attr, argv, envp);
}

#if defined(__linux__)
/* Like glibc, the search uses the PATH of the current environment, not the one in envp. */
NONO_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
  return nono_exec_search(file, argv, envp);
}

/* The path an open descriptor refers to, from /proc/self/fd/N (absolute paths only: sockets,
 * pipes and memfds have none that stat could use). errno is left as it was. */
static void nono_fd_link(int fd, char link[32]) {
  size_t used = 0;
  for (const char *p = "/proc/self/fd/"; *p != '\0'; p++) link[used++] = *p;
  char digits[16];
  size_t nd = 0;
  for (unsigned v = (unsigned)fd; nd == 0 || v != 0; v /= 10) digits[nd++] = (char)('0' + v % 10);
  while (nd > 0) link[used++] = digits[--nd];
  link[used] = '\0';
}

static int nono_fd_path(int fd, char out[PATH_MAX]) {
  char link[32];
  if (fd < 0) return -1;
  nono_fd_link(fd, link);
  int saved_errno = errno;
  ssize_t n = readlink(link, out, PATH_MAX);
  errno = saved_errno;
  if (n <= 0 || n >= PATH_MAX || out[0] != '/') return -1;
  out[n] = '\0';
  return 0;
}

/* The kernel names a script run through a descriptor "/dev/fd/N[/path]" and refuses it (ENOENT)
 * when N is close-on-exec, since the interpreter could not open that name. The client gets the
 * file's real path instead (the sandboxed shell inherits no such descriptor), and a script on a
 * close-on-exec descriptor is left to fail as it would. */
static int nono_fd_script_ok(int fd) {
  int saved_errno = errno;
  int flags = fcntl(fd, F_GETFD);
  errno = saved_errno;
  return flags >= 0 && (flags & FD_CLOEXEC) == 0;
}

/* The file execveat would run, as a path decide() understands. Fails (-> pass-through) when
 * there is none, and when AT_SYMLINK_NOFOLLOW meets a symlink: the real call fails with ELOOP,
 * and routing would turn that failure into a run. *via_fd is set when the kernel would name the
 * file through dirfd. */
static int nono_execveat_target(int dirfd, const char *path, int flags, char out[PATH_MAX],
                                int *via_fd) {
  *via_fd = 0;
  if (path == NULL) return -1; /* the real call reports EFAULT */
  if (path[0] == '\0') {
    *via_fd = 1;
    return (flags & AT_EMPTY_PATH) ? nono_fd_path(dirfd, out) : -1;
  }
  size_t used = 0;
  out[0] = '\0';
  if (path[0] != '/' && dirfd != AT_FDCWD) {
    *via_fd = 1;
    if (nono_fd_path(dirfd, out) != 0) return -1;
    used = nono_strlen(out);
    if (out[used - 1] != '/' && nono_append(out, PATH_MAX, &used, "/", 1) != 0) return -1;
  }
  if (nono_append(out, PATH_MAX, &used, path, nono_strlen(path)) != 0) return -1;
  if (flags & AT_SYMLINK_NOFOLLOW) {
    struct stat st;
    int saved_errno = errno;
    int is_link = lstat(out, &st) == 0 && S_ISLNK(st.st_mode);
    errno = saved_errno;
    if (is_link) return -1;
  }
  return 0;
}

/* Decides on a resolved path; a routed start becomes a plain execve of the client. */
static NONO_COLD int nono_exec_resolved(const char *resolved, int scripts,
                                                       const struct nono_call *pass,
                                                       char *const envp[]) {
  struct nono_route route;
  if (resolved != NULL) switch (nono_decide(resolved, NONO_LITERAL, envp, scripts, &route)) {
      case NONO_ROUTE:
        return nono_redirect_exec(&route, pass->argv, envp);
      case NONO_REFUSE:
        return nono_exec_error(ENAMETOOLONG);
      case NONO_PASS:
        break;
    }
  return nono_call(pass, envp, NULL);
}

/* Whether path still names the file open on fd (not so for a deleted or replaced file). */
static int nono_path_is_fd(const char *path, int fd) {
  struct stat by_path, by_fd;
  int saved_errno = errno;
  int same = stat(path, &by_path) == 0 && fstat(fd, &by_fd) == 0 &&
             by_path.st_dev == by_fd.st_dev && by_path.st_ino == by_fd.st_ino;
  errno = saved_errno;
  return same;
}

/*
 * A script open on fd that has no path the sandboxed shell could open (a memfd, a deleted file):
 * the kernel would start its "#!" shell itself, outside any hook, on /dev/fd/N. Whether that
 * shell is one we route (directly, through a symlink or through nested scripts; `env NAME` is
 * left to env, whose own execvp is routed). The head is read through /proc/self/fd/N, a new
 * open file description, so the caller's offset is untouched (and O_PATH descriptors work).
 */
static NONO_COLD int nono_fd_starts_shell(int fd, char *const envp[]) {
  char link[32];
  struct nono_route r;
  nono_fd_link(fd, link);
  int saved_errno = errno;
  char *name, *arg;
  int shell = 0;
  if (nono_read_head(link, r.heads[0]) == 0 && nono_parse_shebang(r.heads[0], &name, &arg) == 0)
    shell = nono_names_shell(name) || (!nono_streq(nono_basename(name), "env") &&
                                       nono_classify_script(name, &r, envp) == NONO_ROUTE);
  errno = saved_errno;
  return shell;
}

/* NULL is not empty: execveat reports EFAULT for it. */
static int nono_is_empty(const char *path) { return path != NULL && path[0] == '\0'; }

/* fexecve, and execveat(fd, "", AT_EMPTY_PATH): the descriptor is the file. A script on it whose
 * shell would be routed but that the client cannot be given a path for is refused (EACCES)
 * rather than run unsandboxed. */
static int nono_exec_fd(int fd, const struct nono_call *pass, char *const envp[]) {
  char path[PATH_MAX];
  if (!nono_enabled || fd < 0) return nono_call(pass, envp, NULL);
  int scripts = nono_fd_script_ok(fd);
  if (nono_fd_path(fd, path) == 0 && nono_path_is_fd(path, fd))
    return nono_exec_resolved(path, scripts, pass, envp);
  if (scripts && nono_fd_starts_shell(fd, envp)) return nono_exec_error(EACCES);
  return nono_call(pass, envp, NULL);
}

NONO_EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  struct nono_call c = {.kind = NONO_CALL_FEXECVE, .argv = argv, .fd = fd};
  return nono_exec_fd(fd, &c, envp);
}

NONO_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                         int flags) {
  char target[PATH_MAX];
  int via_fd = 0;
  struct nono_call c = {
      .kind = NONO_CALL_EXECVEAT, .path = path, .argv = argv, .fd = dirfd, .flags = flags};
  if (nono_is_empty(path) && (flags & AT_EMPTY_PATH)) return nono_exec_fd(dirfd, &c, envp);
  int known = nono_enabled && nono_execveat_target(dirfd, path, flags, target, &via_fd) == 0;
  int scripts = known && (!via_fd || nono_fd_script_ok(dirfd));
  return nono_exec_resolved(known ? target : NULL, scripts, &c, envp);
}
#endif /* __linux__ */

/* ------------------------------------------------------------------------------------------ */
/* system, popen, pclose                                                                      */

/*
 * libc runs "/bin/sh -c cmd" for these through an internal spawn no hook sees, so when an exec
 * of /bin/sh would be routed they are re-implemented here on a spawn of the client; otherwise
 * the real ones run. They are never called between vfork and exec, so the hook-path rules do
 * not apply below: locks, malloc and stdio are fine.
 */
static int nono_sh_routed(struct nono_route *shell) {
  return nono_decide(NONO_SYSTEM_SHELL, NONO_LITERAL, NONO_ENVIRON, 1, shell) == NONO_ROUTE;
}

static pid_t nono_wait(pid_t pid, int *status) {
  pid_t r;
  do r = waitpid(pid, status, 0);
  while (r < 0 && errno == EINTR);
  return r;
}

/* POSIX: SIGINT and SIGQUIT are ignored in the caller while any system() runs. With several
 * threads in system() at once only the first saves the dispositions and only the last restores
 * them; otherwise a later caller would save SIG_IGN and "restore" it for good. */
static pthread_mutex_t nono_system_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned nono_system_active;
static struct sigaction nono_system_saved_int, nono_system_saved_quit;

static void nono_need_atfork(void);

static void nono_system_enter(struct sigaction *orig_int, struct sigaction *orig_quit) {
  nono_need_atfork();
  pthread_mutex_lock(&nono_system_lock);
  if (nono_system_active++ == 0) {
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGINT, &ignore, &nono_system_saved_int);
    sigaction(SIGQUIT, &ignore, &nono_system_saved_quit);
  }
  *orig_int = nono_system_saved_int;
  *orig_quit = nono_system_saved_quit;
  pthread_mutex_unlock(&nono_system_lock);
}

static void nono_system_leave(void) {
  pthread_mutex_lock(&nono_system_lock);
  if (--nono_system_active == 0) {
    sigaction(SIGINT, &nono_system_saved_int, NULL);
    sigaction(SIGQUIT, &nono_system_saved_quit, NULL);
  }
  pthread_mutex_unlock(&nono_system_lock);
}

NONO_EXPORT int NONO_HOOK(system)(const char *command) {
  struct nono_route shell;
  if (!nono_sh_routed(&shell)) {
    if (real_system == NULL) return nono_exec_error(ENOSYS);
    return real_system(command);
  }
  if (command == NULL) return 1; /* a shell is available: the client */

  sigset_t sigchld, caller_mask;
  sigemptyset(&sigchld);
  sigaddset(&sigchld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &sigchld, &caller_mask);
  struct sigaction orig_int, orig_quit;
  nono_system_enter(&orig_int, &orig_quit);

  /* The child gets the caller's mask and the caller's SIGINT/SIGQUIT: default unless the caller
   * itself ignored them (as POSIX's reference implementation restores the saved actions). */
  int status = -1;
  posix_spawnattr_t attr;
  int err = posix_spawnattr_init(&attr);
  if (err == 0) {
    sigset_t defaults;
    sigemptyset(&defaults);
    if (orig_int.sa_handler != SIG_IGN) sigaddset(&defaults, SIGINT);
    if (orig_quit.sa_handler != SIG_IGN) sigaddset(&defaults, SIGQUIT);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &caller_mask);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)command, NULL};
    pid_t pid;
    if (nono_redirect_spawn(&pid, &shell, NULL, &attr, argv, NONO_ENVIRON) != 0)
      status = 127 << 8; /* as if the shell exited 127, like libc's system() */
    else if (nono_wait(pid, &status) < 0)
      status = -1;
    posix_spawnattr_destroy(&attr);
  }

  int saved_errno = errno;
  nono_system_leave();
  sigprocmask(SIG_SETMASK, &caller_mask, NULL);
  errno = err != 0 ? err : saved_errno;
  return status;
}

/* Streams from our popen, so that pclose knows whom to wait for and later children can close
 * the earlier streams' descriptors (POSIX). The fd is recorded once, so that building a close
 * list never touches a FILE another thread may be using. */
struct nono_stream {
  FILE *fp;
  int fd;
  pid_t pid;
  struct nono_stream *next;
};
static struct nono_stream *nono_streams;
static pthread_mutex_t nono_streams_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * fork() copies these locks in whatever state other threads left them, and only the forking
 * thread exists in the child: a child forked while another thread was inside popen() (which
 * holds nono_streams_lock across its spawn) would block forever in its own popen(). So fork()
 * takes both locks first and both processes release them. A thread that was inside system()
 * does not exist in the child either: its SIGINT/SIGQUIT ignore is undone there, as that
 * thread would have done on return.
 */
static void nono_atfork_prepare(void) {
  pthread_mutex_lock(&nono_system_lock);
  pthread_mutex_lock(&nono_streams_lock);
}

static void nono_atfork_parent(void) {
  pthread_mutex_unlock(&nono_streams_lock);
  pthread_mutex_unlock(&nono_system_lock);
}

static void nono_atfork_child(void) {
  if (nono_system_active > 0) {
    sigaction(SIGINT, &nono_system_saved_int, NULL);
    sigaction(SIGQUIT, &nono_system_saved_quit, NULL);
    nono_system_active = 0;
  }
  pthread_mutex_unlock(&nono_streams_lock);
  pthread_mutex_unlock(&nono_system_lock);
}

/* Registered by the first routed system() or popen(), not at load: the handlers write the
 * locks, which costs a copy-on-write fault in both processes on every fork (measured: +2 faults
 * per fork+exec), and most programs that load this library (bash among them) never take them. A
 * fork that races with the first registration finds the locks free: they are taken only after. */
static pthread_once_t nono_atfork_once = PTHREAD_ONCE_INIT;

static void nono_register_atfork(void) {
  (void)pthread_atfork(nono_atfork_prepare, nono_atfork_parent, nono_atfork_child);
}

static void nono_need_atfork(void) { (void)pthread_once(&nono_atfork_once, nono_register_atfork); }

/* glibc's rules: any mix of 'r', 'w' and 'e', with exactly one direction. */
static int nono_popen_mode(const char *mode, int *reading, int *cloexec) {
  int r = 0, w = 0;
  *cloexec = 0;
  for (; *mode != '\0'; mode++) {
    if (*mode == 'r') r = 1;
    else if (*mode == 'w') w = 1;
    else if (*mode == 'e') *cloexec = 1;
    else return -1;
  }
  if (r == w) return -1;
  *reading = r;
  return 0;
}

static int nono_pipe_cloexec(int fds[2]) {
#if defined(__linux__)
  return pipe2(fds, O_CLOEXEC);
#else
  /* No pipe2: a fork in another thread between the calls could inherit the pipe, which would
   * only delay an EOF. */
  if (pipe(fds) != 0) return -1;
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
#endif
}

NONO_EXPORT FILE *NONO_HOOK(popen)(const char *command, const char *mode) {
  struct nono_route shell;
  if (!nono_sh_routed(&shell)) {
    if (real_popen == NULL) {
      errno = ENOSYS;
      return NULL;
    }
    return real_popen(command, mode);
  }
  int reading, cloexec;
  if (command == NULL || mode == NULL || nono_popen_mode(mode, &reading, &cloexec) != 0) {
    errno = EINVAL;
    return NULL;
  }
  struct nono_stream *s = malloc(sizeof *s);
  if (s == NULL) return NULL;
  int fds[2];
  if (nono_pipe_cloexec(fds) != 0) {
    free(s);
    return NULL;
  }
  /* Both ends are close-on-exec while the child starts; its end is dup2'ed onto stdin/stdout,
   * which clears the flag there. An end that already is that fd is moved first, because
   * dup2(fd, fd) would leave the flag set and the child would lose it at exec. */
  int target = reading ? STDOUT_FILENO : STDIN_FILENO;
  int parent_end = reading ? fds[0] : fds[1];
  int child_end = reading ? fds[1] : fds[0];
  int err = 0;
  if (child_end == target) {
    int moved = fcntl(child_end, F_DUPFD_CLOEXEC, 3);
    if (moved < 0) err = errno;
    close(child_end);
    child_end = moved;
  }

  FILE *fp = NULL;
  posix_spawn_file_actions_t actions;
  if (err == 0) err = posix_spawn_file_actions_init(&actions);
  if (err == 0) {
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)command, NULL};
    pid_t pid = -1;
    /* Held across the spawn so that the list of descriptors to close is the list of streams. */
    nono_need_atfork();
    pthread_mutex_lock(&nono_streams_lock);
    for (struct nono_stream *o = nono_streams; o != NULL && err == 0; o = o->next)
      err = posix_spawn_file_actions_addclose(&actions, o->fd);
    if (err == 0) err = posix_spawn_file_actions_adddup2(&actions, child_end, target);
    if (err == 0) err = nono_redirect_spawn(&pid, &shell, &actions, NULL, argv, NONO_ENVIRON);
    if (err == 0) {
      if (!cloexec) fcntl(parent_end, F_SETFD, 0); /* like popen without "e": inherited by execs */
      fp = fdopen(parent_end, reading ? "r" : "w");
      if (fp == NULL) {
        err = errno;
        close(parent_end); /* the child sees EOF or EPIPE and ends */
        parent_end = -1;
        int ignored;
        nono_wait(pid, &ignored);
      } else {
        s->fp = fp;
        s->fd = parent_end;
        s->pid = pid;
        s->next = nono_streams;
        nono_streams = s;
      }
    }
    pthread_mutex_unlock(&nono_streams_lock);
    posix_spawn_file_actions_destroy(&actions);
  }
  if (child_end >= 0) close(child_end);
  if (fp == NULL) {
    if (parent_end >= 0) close(parent_end);
    free(s);
    errno = err;
  }
  return fp;
}

NONO_EXPORT int NONO_HOOK(pclose)(FILE *stream) {
  struct nono_stream *s = NULL;
  pthread_mutex_lock(&nono_streams_lock);
  for (struct nono_stream **p = &nono_streams; *p != NULL; p = &(*p)->next)
    if ((*p)->fp == stream) {
      s = *p;
      *p = s->next;
      break;
    }
  pthread_mutex_unlock(&nono_streams_lock);
  if (s == NULL) { /* not ours: from the real popen (or not a popen stream at all) */
    if (real_pclose == NULL) return nono_exec_error(ENOSYS);
    return real_pclose(stream);
  }
  pid_t pid = s->pid;
  free(s);
  fclose(stream);
  int status;
  if (nono_wait(pid, &status) < 0) return -1;
  return status;
}

#if defined(__APPLE__)
/* ------------------------------------------------------------------------------------------ */
/* macOS: written against the dyld interposing rules; not compiled or run on Linux CI.        */
/*
 * dyld reads {replacement, original} pairs from the __DATA,__interpose section of an inserted
 * image and binds every other image's references to `original` to `replacement`. References
 * from this image are left alone, which is why the real_* pointers above are the originals.
 * (Apple binaries under SIP and hardened-runtime programs never load this library at all.)
 */
struct nono_interpose_pair {
  const void *replacement;
  const void *original;
};

#define NONO_INTERPOSE(name)                                                        \
  __attribute__((used, section("__DATA,__interpose"))) static const struct        \
      nono_interpose_pair nono_interpose_##name = {                                 \
          (const void *)(unsigned long)&nono_hook_##name, (const void *)(unsigned long)&name}

NONO_INTERPOSE(execve);
NONO_INTERPOSE(execv);
NONO_INTERPOSE(execvp);
NONO_INTERPOSE(execl);
NONO_INTERPOSE(execlp);
NONO_INTERPOSE(execle);
NONO_INTERPOSE(posix_spawn);
NONO_INTERPOSE(posix_spawnp);
NONO_INTERPOSE(system);
NONO_INTERPOSE(popen);
NONO_INTERPOSE(pclose);
#endif /* __APPLE__ */

#else /* neither Linux nor macOS */

/* Nothing to interpose on other systems: the library is empty. */
typedef int nono_interpose_empty_translation_unit;

#endif
