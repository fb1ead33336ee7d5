/*
 * nono-shell interposer: loaded into an AI coding agent with LD_PRELOAD, it catches the library
 * calls that start a program and, when that program is a shell, starts the nono-shell client
 * instead. The client then runs the command inside its own Landlock sandbox.
 *
 * What gets rewritten when a shell start is caught:
 *   - the program: NONO_SHELL_CLIENT (absolute path) instead of the shell;
 *   - argv: nothing (argv[0] stays as the caller gave it, e.g. "-bash" for a login shell);
 *   - the environment: NONO_SHELL_AS=<absolute path of the requested shell> is added, and any
 *     NONO_SHELL_AS entry the caller already had is dropped (a stale one must never win).
 *
 * Configuration (read once, by the constructor):
 *   NONO_SHELL_CLIENT  absolute path of the client; unset, empty or relative = pure pass-through.
 *   NONO_SHELLS        comma-separated basenames that count as shells; default "bash,sh,dash,zsh".
 *
 * Hooked here: execve, execv, execvp, execvpe, posix_spawn, posix_spawnp. Every public entry point
 * needs its own hook because glibc calls its internals directly, not through the PLT (execvp ends
 * in __execve, posix_spawnp in __spawni): wrapping execve alone would miss node (execvp) and python
 * (execv). execl*, fexecve, system and popen come later; a new hook needs only
 * nono_decide() and one of the two redirect functions.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#if defined(__linux__)

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * Rules for everything reachable from a hook (all functions below the "hook path" marker).
 * Many callers run the exec in a vfork() child (Python's subprocess, Bun, dash): the child shares
 * the parent's memory and runs on the parent's stack until it execs. So the hook path uses only
 * stack memory, reads globals without writing them, takes no locks, calls no malloc or stdio, and
 * uses only async-signal-safe system calls (stat, access, getcwd as a raw syscall, execve). String
 * helpers are written here so that no libc function with unknown internals is involved.
 */

#define NONO_DEFAULT_SHELLS "bash,sh,dash,zsh"
#define NONO_MAX_SHELLS 16
#define NONO_SHELL_NAME_MAX 64
#define NONO_AS_PREFIX "NONO_SHELL_AS="
/* The new environment is a VLA on the caller's stack; past this many entries we refuse (E2BIG)
 * instead of risking a stack overflow in a vfork child. Real environments are far smaller. */
#define NONO_MAX_ENV_ENTRIES 32768
/* glibc's execvp default when PATH is unset (confstr(_CS_PATH)). */
#define NONO_DEFAULT_PATH "/bin:/usr/bin"

/* ------------------------------------------------------------------------------------------ */
/* Configuration and real functions: written only by the constructor, read-only afterwards.   */

static int nono_enabled;
static char nono_client[PATH_MAX];
static int nono_client_stat_ok;
static dev_t nono_client_dev;
static ino_t nono_client_ino;
static char nono_shells[NONO_MAX_SHELLS][NONO_SHELL_NAME_MAX];
static size_t nono_shell_count;

typedef int (*nono_execve_fn)(const char *, char *const[], char *const[]);
typedef int (*nono_execv_fn)(const char *, char *const[]);
typedef int (*nono_posix_spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                   const posix_spawnattr_t *, char *const[], char *const[]);

static nono_execve_fn real_execve;
static nono_execv_fn real_execv;
static nono_execv_fn real_execvp;
static nono_execve_fn real_execvpe;
static nono_posix_spawn_fn real_posix_spawn;
static nono_posix_spawn_fn real_posix_spawnp;

/* ------------------------------------------------------------------------------------------ */
/* Constructor                                                                                */

/* dlsym returns an object pointer; copying its bytes into the function pointer is the conversion
 * POSIX guarantees, and unlike a cast it is valid ISO C. A missing symbol leaves NULL (-> ENOSYS). */
#define NONO_RESOLVE(var, name)          \
  do {                                   \
    void *sym_ = dlsym(RTLD_NEXT, name); \
    memcpy(&(var), &sym_, sizeof(var));  \
  } while (0)

static void nono_resolve_real_functions(void) {
  NONO_RESOLVE(real_execve, "execve");
  NONO_RESOLVE(real_execv, "execv");
  NONO_RESOLVE(real_execvp, "execvp");
  NONO_RESOLVE(real_execvpe, "execvpe");
  NONO_RESOLVE(real_posix_spawn, "posix_spawn");
  NONO_RESOLVE(real_posix_spawnp, "posix_spawnp");
}

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
  if (len >= sizeof nono_client) return;
  memcpy(nono_client, client, len + 1);

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

__attribute__((constructor)) static void nono_interpose_init(void) {
  nono_resolve_real_functions();
  nono_load_config();
}

/* ============================== hook path: see the rules above ============================== */

/* ------------------------------------------------------------------------------------------ */
/* String helpers                                                                             */

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

/* PATH of the environment in effect now, read from environ without getenv: in a child libuv has
 * already pointed environ at the command's environment, which is the PATH execvp searches. */
static const char *nono_current_path(void) {
  if (environ != NULL)
    for (char **e = environ; *e != NULL; e++)
      if (nono_starts_with(*e, "PATH=")) return *e + 5;
  return NONO_DEFAULT_PATH;
}

/* execvp's search: the first PATH entry holding an executable regular file called `name`.
 * An empty entry means the current directory, as in execvp. Writes the candidate to out. */
static int nono_search_path(const char *name, char out[PATH_MAX]) {
  size_t name_len = nono_strlen(name);
  const char *dir = nono_current_path();
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

/* The client is told the shell by absolute path; it may start in another directory. getcwd is
 * called as a raw syscall because glibc's wrapper can fall back to code that allocates. */
static int nono_make_absolute(const char *path, char out[PATH_MAX]) {
  size_t used = 0;
  out[0] = '\0';
  if (path[0] != '/') {
    long n = syscall(SYS_getcwd, out, (size_t)PATH_MAX);
    if (n <= 0 || out[0] != '/') return -1; /* "(unreachable)/..." is not a usable path */
    used = nono_strlen(out);
    if (!(used == 1 && out[0] == '/') && nono_append(out, PATH_MAX, &used, "/", 1) != 0)
      return -1;
    while (path[0] == '.' && path[1] == '/') path += 2;
  }
  return nono_append(out, PATH_MAX, &used, path, nono_strlen(path));
}

/* ------------------------------------------------------------------------------------------ */
/* The decision                                                                               */

enum nono_lookup {
  NONO_LITERAL,    /* execve, execv, posix_spawn: the path is used as given (bare = cwd) */
  NONO_SEARCH_PATH /* execvp, execvpe, posix_spawnp: a bare name is searched on PATH */
};

enum nono_decision {
  NONO_PASS,  /* not a shell (or it is the client itself): call the real function unchanged */
  NONO_ROUTE, /* a shell: start the client with NONO_SHELL_AS=<shell_out> */
  NONO_REFUSE /* a shell we cannot name in PATH_MAX: fail rather than run it unsandboxed */
};

static enum nono_decision nono_classify(const char *file, enum nono_lookup lookup,
                                        char shell_out[PATH_MAX]) {
  char found[PATH_MAX];
  const char *target = file;
  if (lookup == NONO_SEARCH_PATH && !nono_has_slash(file)) {
    if (!nono_search_path(file, found)) return NONO_PASS; /* real call reports ENOENT etc. */
    target = found;
  }
  struct stat st;
  if (!nono_executable_file(target, &st)) return NONO_PASS;
  /* A shell name that is the client (proxy-bin/bash -> nono-shell, first on PATH) is already
   * routed; rewriting it would hand the client a NONO_SHELL_AS pointing at itself. */
  if (nono_is_client(&st)) return NONO_PASS;
  if (nono_make_absolute(target, shell_out) != 0) return NONO_REFUSE;
  return NONO_ROUTE;
}

/* The one place that decides whether a start is routed. errno is restored so that a
 * pass-through caller sees only the real call's errno, never one from our stat/access. */
static enum nono_decision nono_decide(const char *file, enum nono_lookup lookup,
                                      char shell_out[PATH_MAX]) {
  if (!nono_enabled || file == NULL || file[0] == '\0') return NONO_PASS;
  if (!nono_is_shell_name(nono_basename(file))) return NONO_PASS;
  int saved_errno = errno;
  enum nono_decision d = nono_classify(file, lookup, shell_out);
  errno = saved_errno;
  return d;
}

/* ------------------------------------------------------------------------------------------ */
/* The redirect                                                                               */

static size_t nono_env_count(char *const envp[]) {
  size_t n = 0;
  if (envp != NULL)
    while (envp[n] != NULL) n++;
  return n;
}

/* Fills out (room for count(envp) + 2 pointers) with envp minus NONO_SHELL_AS entries, plus
 * "NONO_SHELL_AS=<shell>" written into entry (room for PATH_MAX + 32 chars). */
static void nono_env_build(char **out, char *const envp[], char *entry, const char *shell) {
  size_t used = 0;
  nono_append(entry, PATH_MAX + 32, &used, NONO_AS_PREFIX, sizeof NONO_AS_PREFIX - 1);
  nono_append(entry, PATH_MAX + 32, &used, shell, nono_strlen(shell)); /* shell < PATH_MAX */
  size_t k = 0;
  if (envp != NULL)
    for (size_t i = 0; envp[i] != NULL; i++)
      if (!nono_starts_with(envp[i], NONO_AS_PREFIX)) out[k++] = envp[i];
  out[k++] = entry;
  out[k] = NULL;
}

/*
 * The two redirects build the new environment in their own frame (a VLA of pointers and a stack
 * buffer for the added entry): heap memory is off limits in a vfork child, and the buffers must
 * live until the real call has copied them.
 */
static int nono_redirect_exec(const char *shell, char *const argv[], char *const envp[]) {
  if (real_execve == NULL) {
    errno = ENOSYS;
    return -1;
  }
  size_t n = nono_env_count(envp);
  if (n > NONO_MAX_ENV_ENTRIES) {
    errno = E2BIG;
    return -1;
  }
  char entry[PATH_MAX + 32];
  char *env[n + 2];
  nono_env_build(env, envp, entry, shell);
  return real_execve(nono_client, argv, env);
}

/* posix_spawn flavour: file actions and attributes go through untouched. The client path is
 * absolute, so plain posix_spawn is right even when the caller used posix_spawnp. */
static int nono_redirect_spawn(pid_t *pid, const char *shell,
                               const posix_spawn_file_actions_t *file_actions,
                               const posix_spawnattr_t *attr, char *const argv[],
                               char *const envp[]) {
  if (real_posix_spawn == NULL) return ENOSYS;
  size_t n = nono_env_count(envp);
  if (n > NONO_MAX_ENV_ENTRIES) return E2BIG;
  char entry[PATH_MAX + 32];
  char *env[n + 2];
  nono_env_build(env, envp, entry, shell);
  return real_posix_spawn(pid, nono_client, file_actions, attr, argv, env);
}

/* ------------------------------------------------------------------------------------------ */
/* Hooks                                                                                      */

static int nono_exec_error(int err) {
  errno = err;
  return -1;
}

/* Shared by the exec family once the real function is known to exist. */
static int nono_exec_common(enum nono_decision d, const char *shell, char *const argv[],
                            char *const envp[]) {
  if (d == NONO_ROUTE) return nono_redirect_exec(shell, argv, envp);
  return nono_exec_error(ENAMETOOLONG); /* NONO_REFUSE */
}

int execve(const char *path, char *const argv[], char *const envp[]) {
  if (real_execve == NULL) return nono_exec_error(ENOSYS);
  char shell[PATH_MAX];
  enum nono_decision d = nono_decide(path, NONO_LITERAL, shell);
  if (d == NONO_PASS) return real_execve(path, argv, envp);
  return nono_exec_common(d, shell, argv, envp);
}

int execv(const char *path, char *const argv[]) {
  if (real_execv == NULL) return nono_exec_error(ENOSYS);
  char shell[PATH_MAX];
  enum nono_decision d = nono_decide(path, NONO_LITERAL, shell);
  if (d == NONO_PASS) return real_execv(path, argv);
  return nono_exec_common(d, shell, argv, environ);
}

int execvp(const char *file, char *const argv[]) {
  if (real_execvp == NULL) return nono_exec_error(ENOSYS);
  char shell[PATH_MAX];
  enum nono_decision d = nono_decide(file, NONO_SEARCH_PATH, shell);
  if (d == NONO_PASS) return real_execvp(file, argv);
  return nono_exec_common(d, shell, argv, environ);
}

/* Like glibc, the search uses the PATH of the current environment, not the one in envp. */
int execvpe(const char *file, char *const argv[], char *const envp[]) {
  if (real_execvpe == NULL) return nono_exec_error(ENOSYS);
  char shell[PATH_MAX];
  enum nono_decision d = nono_decide(file, NONO_SEARCH_PATH, shell);
  if (d == NONO_PASS) return real_execvpe(file, argv, envp);
  return nono_exec_common(d, shell, argv, envp);
}

int posix_spawn(pid_t *restrict pid, const char *restrict path,
                const posix_spawn_file_actions_t *file_actions,
                const posix_spawnattr_t *restrict attr, char *const argv[restrict],
                char *const envp[restrict]) {
  if (real_posix_spawn == NULL) return ENOSYS;
  char shell[PATH_MAX];
  enum nono_decision d = nono_decide(path, NONO_LITERAL, shell);
  if (d == NONO_PASS) return real_posix_spawn(pid, path, file_actions, attr, argv, envp);
  if (d == NONO_REFUSE) return ENAMETOOLONG;
  return nono_redirect_spawn(pid, shell, file_actions, attr, argv, envp);
}

int posix_spawnp(pid_t *restrict pid, const char *restrict file,
                 const posix_spawn_file_actions_t *file_actions,
                 const posix_spawnattr_t *restrict attr, char *const argv[restrict],
                 char *const envp[restrict]) {
  if (real_posix_spawnp == NULL) return ENOSYS;
  char shell[PATH_MAX];
  enum nono_decision d = nono_decide(file, NONO_SEARCH_PATH, shell);
  if (d == NONO_PASS) return real_posix_spawnp(pid, file, file_actions, attr, argv, envp);
  if (d == NONO_REFUSE) return ENAMETOOLONG;
  return nono_redirect_spawn(pid, shell, file_actions, attr, argv, envp);
}

#else /* !__linux__ */

/*
 * Not Linux: this file compiles to an empty library for now. macOS support (replacement/original
 * pairs in the __DATA,__interpose section, because of the two-level namespace dlsym(RTLD_NEXT)
 * alone does not redirect calls made from other images) comes with the interposer issue.
 */
typedef int nono_interpose_empty_translation_unit;

#endif /* __linux__ */
