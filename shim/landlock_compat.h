/*
 * Landlock definitions up to ABI 7.
 *
 * Debian 12 ships kernel headers from Linux 6.1 (ABI 2), so everything newer is defined here
 * with our own names instead of including <linux/landlock.h>. Values are the kernel's uapi.
 */
#ifndef NONO_LANDLOCK_COMPAT_H
#define NONO_LANDLOCK_COMPAT_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

/* Filesystem rights. ABI 1 unless noted. */
#define NL_FS_EXECUTE (1ULL << 0)
#define NL_FS_WRITE_FILE (1ULL << 1)
#define NL_FS_READ_FILE (1ULL << 2)
#define NL_FS_READ_DIR (1ULL << 3)
#define NL_FS_REMOVE_DIR (1ULL << 4)
#define NL_FS_REMOVE_FILE (1ULL << 5)
#define NL_FS_MAKE_CHAR (1ULL << 6)
#define NL_FS_MAKE_DIR (1ULL << 7)
#define NL_FS_MAKE_REG (1ULL << 8)
#define NL_FS_MAKE_SOCK (1ULL << 9)
#define NL_FS_MAKE_FIFO (1ULL << 10)
#define NL_FS_MAKE_BLOCK (1ULL << 11)
#define NL_FS_MAKE_SYM (1ULL << 12)
#define NL_FS_REFER (1ULL << 13)     /* ABI 2: rename/link across directories */
#define NL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define NL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */

/* Rights that make sense on a non-directory; the kernel rejects the others on files. */
#define NL_FS_FILE_RIGHTS \
  (NL_FS_EXECUTE | NL_FS_WRITE_FILE | NL_FS_READ_FILE | NL_FS_TRUNCATE | NL_FS_IOCTL_DEV)

/* Network rights, ABI 4. */
#define NL_NET_BIND_TCP (1ULL << 0)
#define NL_NET_CONNECT_TCP (1ULL << 1)

/* Scopes, ABI 6. */
#define NL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define NL_SCOPE_SIGNAL (1ULL << 1)

#define NL_CREATE_RULESET_VERSION (1U << 0)
#define NL_RULE_PATH_BENEATH 1
#define NL_RULE_NET_PORT 2

/* landlock_restrict_self() flags, ABI 7. */
#define NL_RESTRICT_SELF_LOG_SAME_EXEC_OFF (1U << 0)
#define NL_RESTRICT_SELF_LOG_NEW_EXEC_ON (1U << 1)
#define NL_RESTRICT_SELF_LOG_SUBDOMAINS_OFF (1U << 2)

struct nl_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

struct nl_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

struct nl_net_port_attr {
  uint64_t allowed_access;
  uint64_t port;
};

static inline int nl_create_ruleset(const struct nl_ruleset_attr *attr, size_t size, uint32_t flags) {
  return (int)syscall(__NR_landlock_create_ruleset, attr, size, flags);
}
static inline int nl_add_rule(int ruleset_fd, int rule_type, const void *rule_attr) {
  return (int)syscall(__NR_landlock_add_rule, ruleset_fd, rule_type, rule_attr, 0);
}
static inline int nl_restrict_self(int ruleset_fd, uint32_t flags) {
  return (int)syscall(__NR_landlock_restrict_self, ruleset_fd, flags);
}

#endif
