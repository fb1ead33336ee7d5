/*
 * Building a Landlock ruleset from a flat list of (path, rights) pairs and applying it.
 * Shared by the exec helper (nono-landlock-exec) and the supervisor's addon, so both sandbox
 * with exactly the same code. Policy (which paths, which rights) is decided in TypeScript.
 */
#ifndef NONO_SANDBOX_RULES_H
#define NONO_SANDBOX_RULES_H

#include <stddef.h>
#include <stdint.h>

/* Highest Landlock ABI the running kernel offers, 0 when Landlock is absent or disabled. */
int nono_landlock_abi(void);

struct nono_ruleset_spec {
  uint64_t handled_fs;  /* rights the domain restricts; callers mask them to the ABI */
  uint64_t handled_net; /* 0 = network not restricted */
  uint64_t scoped;      /* ABI 6 scopes, 0 = none */
};

/*
 * Creates an empty ruleset. Returns the fd (O_CLOEXEC) or -1 with errno set.
 */
int nono_ruleset_create(const struct nono_ruleset_spec *spec);

/*
 * Adds a rule for PATH with RIGHTS (masked to the handled rights and, for non-directories, to
 * the file rights). Returns 0, or -1 with errno (ENOENT for a missing path is the caller's call).
 */
int nono_ruleset_add_path(int ruleset_fd, const char *path, uint64_t rights, uint64_t handled_fs);

/* Allows a TCP port for the given net rights. */
int nono_ruleset_add_port(int ruleset_fd, uint64_t port, uint64_t rights);

/*
 * In the process about to exec the sandboxed program: no_new_privs, enter a NEW domain from the
 * ruleset (every call makes a new one), drop every capability so that a root user's command
 * cannot read other processes' /proc entries (see reference/landlock.md), then install the seccomp
 * filter last (seccomp_filter.h; net_filter is a NONO_NET_FILTER_* value). Only async-signal-safe
 * calls: it runs in a vfork child. Returns 0, or the errno of the step that failed and sets *step
 * to a static description of it.
 */
int nono_enter_sandbox(int ruleset_fd, uint32_t restrict_flags, int net_filter, const char **step);

#endif
