/*
 * nono-watchdog: kills what is left of a session's commands when the supervisor dies without
 * cleaning up (SIGKILL, a crash). The supervisor starts one per session, in its own session (so
 * the terminal's signals do not reach it), and writes a line per command on its stdin:
 *   +PID   a command started (PID leads its own session and process group)
 *   -PID   that command finished
 * End of input means the supervisor is gone (or closing): every command still listed is frozen
 * and killed with its whole tree. Commands do not get a parent-death signal while a watchdog
 * runs: that would kill only the leader and orphan its children before they could be found.
 * (macOS has no parent-death signal at all: there the watchdog is the only thing that stops a
 * dead supervisor's commands.) The process table comes from /proc on Linux and from
 * sysctl(KERN_PROC_ALL) on macOS; the rest is the same code.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#else
#include <dirent.h>
#endif

#define MAX_CMDS 4096
#define MAX_PROCS 65536

static int cmds[MAX_CMDS];
static int ncmds;

struct proc {
  int pid, ppid, sid;
};
static struct proc procs[MAX_PROCS];
static int nprocs;

#if defined(__APPLE__)
static void snapshot(void) {
  nprocs = 0;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_ALL, 0};
  static struct kinfo_proc table[MAX_PROCS];
  size_t size = sizeof table;
  /* ENOMEM: more processes than the table holds; what fitted is still returned. */
  if (sysctl(mib, 3, table, &size, NULL, 0) != 0 && size == 0) return;
  size_t n = size / sizeof table[0];
  for (size_t i = 0; i < n && nprocs < MAX_PROCS; i++) {
    pid_t pid = table[i].kp_proc.p_pid;
    pid_t sid = getsid(pid); /* kinfo_proc holds a session pointer, not its id */
    procs[nprocs++] = (struct proc){pid, table[i].kp_eproc.e_ppid, sid < 0 ? -1 : sid};
  }
}
#else
static void snapshot(void) {
  nprocs = 0;
  DIR *d = opendir("/proc");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) && nprocs < MAX_PROCS) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name may hold spaces and ')': the fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    int ppid, pgrp, sid;
    char state;
    if (!p || sscanf(p + 2, "%c %d %d %d", &state, &ppid, &pgrp, &sid) != 4) continue;
    procs[nprocs++] = (struct proc){atoi(e->d_name), ppid, sid};
  }
  closedir(d);
}
#endif

/* Marks the tree of root: same session, plus every descendant (also those in new sessions). */
static int in_tree(const char *marked, int pid) {
  for (int i = 0; i < nprocs; i++)
    if (procs[i].pid == pid) return marked[i];
  return 0;
}

static void kill_tree(int root) {
  static char marked[MAX_PROCS];
  for (int pass = 0; pass < 2; pass++) {
    snapshot();
    memset(marked, 0, (size_t)nprocs);
    for (int i = 0; i < nprocs; i++)
      if (procs[i].pid == root || procs[i].sid == root) marked[i] = 1;
    for (int changed = 1; changed;) {
      changed = 0;
      for (int i = 0; i < nprocs; i++)
        if (!marked[i] && in_tree(marked, procs[i].ppid)) marked[i] = 1, changed = 1;
    }
    /* Freeze first: a parent killed before its children would orphan them out of reach. */
    for (int i = 0; i < nprocs; i++)
      if (marked[i]) kill(procs[i].pid, SIGSTOP);
  }
  kill(-root, SIGKILL);
  for (int i = 0; i < nprocs; i++)
    if (marked[i]) kill(procs[i].pid, SIGKILL);
}

int main(void) {
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    int pid = atoi(line + 1);
    if (pid <= 1) continue;
    if (line[0] == '+' && ncmds < MAX_CMDS) {
      cmds[ncmds++] = pid;
    } else if (line[0] == '-') {
      for (int i = 0; i < ncmds; i++)
        if (cmds[i] == pid) cmds[i] = cmds[--ncmds];
    }
  }
  for (int i = 0; i < ncmds; i++) kill_tree(cmds[i]);
  return 0;
}
