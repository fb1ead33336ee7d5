/*
 * Who is at the other end of a connected Unix stream socket, as the kernel recorded it at
 * connect(): Linux SO_PEERCRED; macOS getpeereid() for uid/gid and LOCAL_PEERPID for the pid
 * (macOS has no SO_PEERCRED and no credentials on datagrams).
 */
#ifndef NONO_PEER_CREDS_H
#define NONO_PEER_CREDS_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

struct nono_peer {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

/* 0, or -1 with errno set. */
static inline int nono_peer_creds(int fd, struct nono_peer *out) {
#if defined(__linux__)
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  out->pid = cred.pid;
  out->uid = cred.uid;
  out->gid = cred.gid;
  return 0;
#else
  pid_t pid = 0;
  socklen_t len = sizeof pid;
  if (getpeereid(fd, &out->uid, &out->gid) != 0) return -1;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) != 0) return -1;
  out->pid = pid;
  return 0;
#endif
}

#endif
