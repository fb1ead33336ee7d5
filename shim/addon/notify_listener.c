/* See notify_listener.h. */
#include "notify_listener.h"

#include <errno.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64) /* Linux 6.6 */
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD 0x80 /* O_EXCL; Linux 6.9: a pidfd for one thread, not its process */
#endif

/* The kernel's sizes of the notification structs, which may be larger than our headers' (newer
 * fields at the end): receive into buffers of its size. */
static struct seccomp_notif_sizes sizes;
static pthread_once_t sizes_once = PTHREAD_ONCE_INIT;
static int sizes_err;
static int active;

static void load_sizes(void) {
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
    sizes_err = errno;
    return;
  }
  if (sizes.seccomp_notif < sizeof(struct seccomp_notif)) sizes.seccomp_notif = sizeof(struct seccomp_notif);
  if (sizes.seccomp_notif_resp < sizeof(struct seccomp_notif_resp))
    sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
}

int nono_notif_supported(const char **why) {
  uint32_t action = SECCOMP_RET_USER_NOTIF;
  if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
    *why = "seccomp user notifications (Linux >= 5.0)";
    return errno;
  }
  pthread_once(&sizes_once, load_sizes);
  if (sizes_err) {
    *why = "seccomp notification sizes (Linux >= 5.0)";
    return sizes_err;
  }
  /* Notifications name the calling thread: taking its descriptors needs a pidfd for a thread. */
  int pidfd = (int)syscall(SYS_pidfd_open, getpid(), PIDFD_THREAD);
  if (pidfd < 0) {
    *why = "pidfd_open for a thread (PIDFD_THREAD, Linux >= 6.9)";
    return errno;
  }
  int fd = (int)syscall(SYS_pidfd_getfd, pidfd, pidfd, 0);
  int e = errno;
  close(pidfd);
  if (fd < 0) {
    *why = "pidfd_getfd (Linux >= 5.6)";
    return e;
  }
  close(fd);
  return 0;
}

int nono_notif_id_valid(int listener, uint64_t id) {
  return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

int nono_notif_take_fd(int listener, const struct seccomp_notif *req, int fd) {
  int pidfd = (int)syscall(SYS_pidfd_open, req->pid, PIDFD_THREAD);
  if (pidfd < 0) return -errno;
  /* The pid could have been recycled before pidfd_open: only a still-pending notification
   * proves the pidfd is the caller's. From here on the pidfd cannot be recycled. */
  if (!nono_notif_id_valid(listener, req->id)) {
    close(pidfd);
    return -ESRCH;
  }
  int got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
  int e = errno;
  close(pidfd);
  return got < 0 ? -e : got;
}

int nono_notif_read_mem_unchecked(const struct seccomp_notif *req, uint64_t addr, void *buf, size_t len) {
  struct iovec local = {buf, len};
  struct iovec remote = {(void *)(uintptr_t)addr, len};
  ssize_t n = process_vm_readv((pid_t)req->pid, &local, 1, &remote, 1, 0);
  if (n < 0) return errno == EPERM || errno == ESRCH ? errno : EFAULT;
  return (size_t)n == len ? 0 : EFAULT;
}

int nono_notif_read_mem(int listener, const struct seccomp_notif *req, uint64_t addr, void *buf, size_t len) {
  int e = nono_notif_read_mem_unchecked(req, addr, buf, len);
  if (e) return e;
  /* Read by pid: valid only if that pid was still the caller while we read. */
  return nono_notif_id_valid(listener, req->id) ? 0 : ESRCH;
}

int nono_notif_active(void) { return __atomic_load_n(&active, __ATOMIC_SEQ_CST); }

struct served {
  int listener;
  int wake; /* the service's; -1: none */
  const struct nono_notif_ops *ops;
  void *ctx;
  struct served *next;
};

/* The listener this thread is serving, for nono_notif_wake_fd / nono_notif_settle_now. */
static __thread struct served *current;

int nono_notif_wake_fd(void) { return current ? current->wake : -1; }

void nono_notif_settle_now(void) {
  if (current && current->ops->settle) current->ops->settle(current->ctx, 0);
}

static void release(struct served *s) {
  /* Closing the listener also fails closed: a call still waiting gets ENOSYS, never a pass. */
  close(s->listener);
  if (s->ops->free_ctx) s->ops->free_ctx(s->ctx);
  free(s);
  __atomic_sub_fetch(&active, 1, __ATOMIC_SEQ_CST);
}

/* Serves one listener until no process holds its filter any more, then releases it. */
static void serve_one(struct served *s, struct seccomp_notif *req, struct seccomp_notif_resp *resp) {
  int held = 0; /* notifications held by the service after its last settle */
  current = s;
  for (;;) {
    struct pollfd p[2] = {{.fd = s->listener, .events = POLLIN}, {.fd = s->wake, .events = POLLIN}};
    int n = poll(p, s->wake >= 0 ? 2 : 1, held ? NONO_NOTIF_HELD_CHECK_MS : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    int woken = n > 0 && s->wake >= 0 && (p[1].revents & POLLIN);
    if (woken) {
      uint64_t v;
      if (read(s->wake, &v, sizeof v) < 0) { /* already drained */ }
    }
    if (n > 0 && (p[0].revents & POLLIN)) {
      memset(req, 0, sizes.seccomp_notif); /* the kernel refuses a non-zeroed buffer */
      if (ioctl(s->listener, SECCOMP_IOCTL_NOTIF_RECV, req) == 0) {
        memset(resp, 0, sizes.seccomp_notif_resp);
        resp->id = req->id;
        if (s->ops->handle(s->ctx, s->listener, req, resp) == NONO_NOTIF_HELD) held = 1;
        /* ENOENT: the caller was killed or interrupted meanwhile; nobody waits for the answer. */
        else ioctl(s->listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
      } else if (errno != EINTR && errno != ENOENT) { /* ENOENT: the caller went away first */
        break;
      }
    } else if (n > 0 && (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))) {
      break; /* no process holds the filter */
    }
    /* Answers that arrived, callers that left: only when something is held or was answered. */
    if (s->ops->settle && (held || woken)) held = s->ops->settle(s->ctx, 0);
  }
  if (s->ops->settle) s->ops->settle(s->ctx, 1);
  current = NULL;
  release(s);
}

/* Opens and resolutions on these threads get what the command's uid gets, not root's
 * overrides (CAP_DAC_OVERRIDE...): live approval's fast path judges and opens as the command
 * would, and nothing here needs a capability (this thread only; the rest of Node keeps its). */
static void drop_effective_caps(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) return;
  data[0].effective = data[1].effective = 0;
  syscall(SYS_capset, &hdr, data);
}

/*
 * Threads are reused: a thread whose command has exited parks for a while and serves the next
 * command's listener, so a command start costs a mutex and a wakeup instead of creating a thread
 * (stack mmap, clone) and tearing one down at its exit (npm run bench, part 1). Each listener
 * still has a thread of its own while it is served: one command's slow connect never waits for
 * another's. Invariant under pool_lock: idle + (length of queue) == parked threads.
 */
#define PARK_MAX 16          /* more parked threads than this exit at once */
#define PARK_SECONDS 30      /* a parked thread with no work for this long exits */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct served *queue;
static int idle;   /* parked threads no listener is queued for */
static int parked; /* all parked threads */

static void *serve_thread(void *arg) {
  struct served *s = arg;
  drop_effective_caps();
  struct seccomp_notif *req = calloc(1, sizes.seccomp_notif);
  struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp);
  while (s) {
    if (req && resp) serve_one(s, req, resp);
    else release(s); /* out of memory: answer nothing, and fail closed */
    s = NULL;
    if (!req || !resp) break;
    pthread_mutex_lock(&pool_lock);
    if (parked < PARK_MAX) {
      parked++;
      idle++;
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += PARK_SECONDS;
      for (;;) {
        if (queue) {
          s = queue;
          queue = s->next;
          break;
        }
        if (pthread_cond_timedwait(&pool_cond, &pool_lock, &until) == ETIMEDOUT && !queue) {
          idle--; /* queue empty: this thread was nobody's */
          break;
        }
      }
      parked--;
    }
    pthread_mutex_unlock(&pool_lock);
  }
  free(req);
  free(resp);
  return NULL;
}

int nono_notif_serve(int listener, int wake, const struct nono_notif_ops *ops, void *ctx) {
  pthread_once(&sizes_once, load_sizes);
  struct served *s = malloc(sizeof *s);
  int err = sizes_err ? sizes_err : s ? 0 : ENOMEM;
  if (err) {
    close(listener);
    if (ops->free_ctx) ops->free_ctx(ctx);
    free(s);
    return err;
  }
  *s = (struct served){listener, wake, ops, ctx, NULL};
  /* Every listener here is request and answer: the command waits while its call is decided.
   * SYNC_WAKE_UP (Linux 6.6) makes the kernel wake this service's thread on the CPU of the
   * calling task, which is about to sleep until the answer, and the answer wakes the task on the
   * thread's CPU the same way: no cross-CPU wake-up. On this kind of VM a wake-up of an idle
   * vCPU costs ~100 us, and a command's opens come with work in between, so the thread is
   * usually asleep: `live_ops N cold` (bench/live_ops.c) went from ~100 to ~15 us per open after
   * computation, `bash -c true` (32 notified opens) from 2.4-2.7x to 2.1-2.3x. Only a scheduling
   * hint: the argument is the flags themselves, and a kernel without it (EINVAL) is served as
   * before. */
  (void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, (unsigned long)SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
  __atomic_add_fetch(&active, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&pool_lock);
  if (idle > 0) { /* a parked thread takes it */
    idle--;
    struct served **tail = &queue;
    while (*tail) tail = &(*tail)->next;
    *tail = s;
    pthread_cond_signal(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    return 0;
  }
  pthread_mutex_unlock(&pool_lock);
  pthread_attr_t attr;
  if ((err = pthread_attr_init(&attr)) == 0) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Handlers keep a few PATH_MAX buffers on the stack (live approval); no recursion. */
    pthread_attr_setstacksize(&attr, 256 * 1024);
    /* Node's signal handlers stay on Node's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    err = pthread_create(&t, &attr, serve_thread, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
  }
  if (err) release(s);
  return err;
}

int nono_send_fd(int sock, int fd) {
  char byte = 'L';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : n < 0 ? errno : EIO;
}

int nono_recv_fd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return -errno;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  if (n != 1 || !cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
      cm->cmsg_len != CMSG_LEN(sizeof(int)))
    return -EPROTO;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}
