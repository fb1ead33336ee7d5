/* See sandbox_rules.h. */
#include "sandbox_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock_compat.h"
#include "seccomp_filter.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SECBIT_NOROOT
#define SECBIT_NOROOT (1 << 0)
#define SECBIT_NOROOT_LOCKED (1 << 1)
#define SECBIT_NO_SETUID_FIXUP (1 << 2)
#define SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif

int nono_landlock_abi(void) {
  int abi = nl_create_ruleset(NULL, 0, NL_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : abi;
}

int nono_ruleset_create(const struct nono_ruleset_spec *spec) {
  struct nl_ruleset_attr attr = {
      .handled_access_fs = spec->handled_fs,
      .handled_access_net = spec->handled_net,
      .scoped = spec->scoped,
  };
  /* Older kernels accept the larger struct as long as the fields they do not know are zero. */
  int fd = nl_create_ruleset(&attr, sizeof attr, 0);
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

int nono_ruleset_add_path(int ruleset_fd, const char *path, uint64_t rights, uint64_t handled_fs) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  uint64_t allowed = rights & handled_fs;
  if (!S_ISDIR(st.st_mode)) allowed &= NL_FS_FILE_RIGHTS;
  struct nl_path_beneath_attr rule = {.allowed_access = allowed, .parent_fd = fd};
  int rc = allowed ? nl_add_rule(ruleset_fd, NL_RULE_PATH_BENEATH, &rule) : 0;
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

int nono_ruleset_add_port(int ruleset_fd, uint64_t port, uint64_t rights) {
  struct nl_net_port_attr rule = {.allowed_access = rights, .port = port};
  return nl_add_rule(ruleset_fd, NL_RULE_NET_PORT, &rule);
}

/* Drops every capability from the bounding, ambient, effective, permitted and inheritable sets,
 * and locks the securebits so that exec by uid 0 does not hand them back. */
static int drop_capabilities(const char **step) {
  int is_root = geteuid() == 0;
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break; /* past the last capability this kernel knows */
      /* Without CAP_SETPCAP an unprivileged user cannot shrink the bounding set; its exec gains
       * nothing under no_new_privs anyway. Root without CAP_SETPCAP is a state we do not trust. */
      if (is_root) {
        *step = "dropping the capability bounding set";
        return errno;
      }
      break;
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    *step = "clearing ambient capabilities";
    return errno;
  }
  if (is_root) {
    int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
               SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) {
      *step = "locking securebits";
      return errno;
    }
  }
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {{0}};
  if (syscall(SYS_capset, &hdr, data) != 0) {
    *step = "clearing capabilities";
    return errno;
  }
  return 0;
}

int nono_enter_sandbox(int ruleset_fd, uint32_t restrict_flags, int net_filter, const char **step) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *step = "setting no_new_privs";
    return errno;
  }
  if (nl_restrict_self(ruleset_fd, restrict_flags) != 0) {
    /* ABI < 7 rejects the audit flags: retry without them rather than run unsandboxed. */
    if (!(errno == EINVAL && restrict_flags != 0 && nl_restrict_self(ruleset_fd, 0) == 0)) {
      *step = "entering the Landlock domain";
      return errno;
    }
  }
  int err = drop_capabilities(step);
  if (err) return err;
  /* Last, as bubblewrap does: the filter then never has to allow a setup call (capset, prctl),
   * and nothing runs with the filter but without the rest. */
  err = nono_install_seccomp_filter((enum nono_net_filter)net_filter);
  if (err) *step = "installing the seccomp filter";
  return err;
}
