/*
 * nono-landlock-exec: enter a new Landlock domain described on the command line, then exec.
 *
 *   nono-landlock-exec --handled-fs MASK [--handled-net MASK] [--scoped MASK] [--log-new-exec]
 *                      [--net-filter no-tcp|ports] [--path RIGHTS:PATH]... [--port RIGHTS:PORT]...
 *                      [--exec-report FILE] -- PROGRAM [ARGS...]
 *
 * RIGHTS and MASK are Landlock access bit masks (decimal or 0x hex), computed by the policy
 * compiler in src/policy. The rules are not interpreted here: this program only applies them,
 * so that what was reviewed (`nono profile compile`) is exactly what runs. A rule path that no
 * longer exists grants nothing and is skipped; every other failure stops before the exec
 * (exit 126), so nothing ever runs with less protection than asked for.
 * `nono run` uses it to sandbox the agent process itself.
 *
 * --exec-report FILE: if the final exec fails, write "ERRNO STRERROR" to FILE (opened before the
 * sandbox, close-on-exec, so a successful exec leaves it empty) and print nothing: `nono run`
 * then says in one line what could not be run, instead of a bare "Permission denied".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "landlock_compat.h"
#include "seccomp_filter.h"
#include "sandbox_rules.h"

#define PROG "nono-landlock-exec"

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

static void usage_error(const char *msg, const char *arg) {
  fprintf(stderr, PROG ": %s%s%s\nusage: " PROG
          " --handled-fs MASK [--handled-net MASK] [--scoped MASK] [--log-new-exec] [--net-filter no-tcp|ports]"
          " [--path RIGHTS:PATH]... [--port RIGHTS:PORT]... [--exec-report FILE] -- PROGRAM [ARGS...]\n",
          msg, arg ? ": " : "", arg ? arg : "");
  exit(126);
}

int main(int argc, char **argv) {
  /* nono, which started us: compared again once the parent-death signal is armed. */
  pid_t parent = getppid();
  struct nono_ruleset_spec spec = {0};
  uint32_t flags = 0;
  int net_filter = NONO_NET_FILTER_NONE;
  int i = 1, have_fs = 0, report_fd = -1;
  /* First pass: the masks, which the rules need. */
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *a = argv[i];
    uint64_t *target = NULL;
    if (!strcmp(a, "--handled-fs")) target = &spec.handled_fs, have_fs = 1;
    else if (!strcmp(a, "--handled-net")) target = &spec.handled_net;
    else if (!strcmp(a, "--scoped")) target = &spec.scoped;
    else if (!strcmp(a, "--log-new-exec")) { flags |= NL_RESTRICT_SELF_LOG_NEW_EXEC_ON; continue; }
    else if (!strcmp(a, "--net-filter")) {
      if (++i >= argc) usage_error("missing value after", a);
      if (!strcmp(argv[i], "no-tcp")) net_filter = NONO_NET_FILTER_NO_TCP;
      else if (!strcmp(argv[i], "ports")) net_filter = NONO_NET_FILTER_PORTS;
      else usage_error("--net-filter takes no-tcp or ports", argv[i]);
      continue;
    }
    else if (!strcmp(a, "--exec-report")) {
      if (++i >= argc) usage_error("missing file after", a);
      /* Opened now: the sandbox may not allow creating it later. */
      report_fd = open(argv[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (report_fd < 0) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", argv[i], strerror(errno));
        return 126;
      }
      continue;
    }
    else if (!strcmp(a, "--path") || !strcmp(a, "--port")) { i++; continue; }
    else usage_error("unknown option", a);
    if (++i >= argc || parse_u64(argv[i], target) != 0) usage_error("missing or bad number after", a);
  }
  if (i >= argc) usage_error("missing -- before the program", NULL);
  if (i + 1 >= argc) usage_error("missing program after --", NULL);
  if (!have_fs || spec.handled_fs == 0) usage_error("--handled-fs is required", NULL);
  int prog = i + 1;

  if (nono_landlock_abi() < 1) {
    fprintf(stderr, PROG ": this kernel has no Landlock (or it is disabled); refusing to run "
                    "%s unsandboxed\n", argv[prog]);
    return 126;
  }
  int rs = nono_ruleset_create(&spec);
  if (rs < 0) {
    fprintf(stderr, PROG ": landlock_create_ruleset: %s\n", strerror(errno));
    return 126;
  }
  for (i = 1; i < prog - 1; i++) {
    int is_path = !strcmp(argv[i], "--path"), is_port = !strcmp(argv[i], "--port");
    if (!is_path && !is_port) {
      if (strcmp(argv[i], "--log-new-exec") != 0) i++; /* skip the option's value (--exec-report's too) */
      continue;
    }
    const char *spec_arg = argv[++i];
    const char *colon = strchr(spec_arg, ':');
    char num[32];
    uint64_t rights, port;
    if (!colon || (size_t)(colon - spec_arg) >= sizeof num) usage_error("expected RIGHTS:VALUE", spec_arg);
    memcpy(num, spec_arg, (size_t)(colon - spec_arg));
    num[colon - spec_arg] = 0;
    if (parse_u64(num, &rights) != 0) usage_error("bad rights mask", spec_arg);
    if (is_path) {
      if (nono_ruleset_add_path(rs, colon + 1, rights, spec.handled_fs) != 0) {
        if (errno == ENOENT) continue; /* grants nothing; see the header comment */
        if (errno == ELOOP) {
          fprintf(stderr, PROG ": cannot add rule for %s: a symbolic link appeared in this "
                          "already-resolved path; not granting through it, not running %s\n",
                  colon + 1, argv[prog]);
          return 126;
        }
        fprintf(stderr, PROG ": cannot add rule for %s: %s\n", colon + 1, strerror(errno));
        return 126;
      }
    } else {
      if (parse_u64(colon + 1, &port) != 0 || port > 65535) usage_error("bad port", spec_arg);
      if (nono_ruleset_add_port(rs, port, rights) != 0) {
        fprintf(stderr, PROG ": cannot add rule for port %s: %s\n", colon + 1, strerror(errno));
        return 126;
      }
    }
  }
  const char *step = NULL;
  int err = nono_enter_sandbox(rs, flags, net_filter, &step);
  if (err) {
    fprintf(stderr, PROG ": %s: %s; not running %s\n", step, strerror(err), argv[prog]);
    return 126;
  }
  close(rs);
  /* The agent must not outlive nono: without the supervisor its commands would all fail (126),
   * and an agent left running unsupervised is not what the person started. The signal only
   * covers a death after it is armed: if nono died before, we were already reparented, to init
   * or to a subreaper (PR_SET_CHILD_SUBREAPER: systemd --user, tmux, containers...), so the
   * test is "is the parent still the one that started us", not "is it pid 1". */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) {
    fprintf(stderr, PROG ": cannot set the parent-death signal: %s; not running %s\n", strerror(errno), argv[prog]);
    return 126;
  }
  if (getppid() != parent) {
    fprintf(stderr, PROG ": nono (pid %d) exited before %s started; not running it\n", (int)parent, argv[prog]);
    return 126;
  }
  execvp(argv[prog], &argv[prog]);
  int e = errno;
  if (report_fd >= 0) {
    dprintf(report_fd, "%d %s\n", e, strerror(e));
    return e == ENOENT ? 127 : 126;
  }
  if (e == ENOENT) {
    fprintf(stderr, "nono: %s: command not found\n", argv[prog]);
    return 127;
  }
  fprintf(stderr, "nono: %s: %s\n", argv[prog], strerror(e));
  return 126;
}
