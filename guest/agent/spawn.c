/* Starting container processes.
 *
 * The agent forks an intermediate child that joins the container's cgroup
 * and creates (init) or joins (exec) its mount, pid, uts and ipc namespaces,
 * then forks the real process, which is thereby inside the new pid namespace,
 * reports its pid and exits. The real process sets up the rootfs (init),
 * applies the OCI process settings and execs. Both report over a sync pipe
 * (O_CLOEXEC: end of file means the exec succeeded). */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* How long a child may take to report (rootfs setup, exec). */
#define SYNC_TIMEOUT_MS 60000
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum { SYNC_PID = 1, SYNC_READY, SYNC_ERROR };

typedef struct {
  int32_t type;
  int32_t value;
  char text[480];    /* one write() below PIPE_BUF: never interleaved */
} SyncMsg;

static void
sync_send (int fd, int type, int value, const char *text)
{
  SyncMsg m = { .type = type, .value = value };
  if (text)
    snprintf (m.text, sizeof m.text, "%s", text);
  (void) !write (fd, &m, sizeof m);
}

/* Everything the child needs, prepared by the agent before fork. */
typedef struct {
  const Grpc__Spec *spec;
  const Grpc__Process *proc;
  const char *rootfs;
  const char *cgroup_procs;
  bool is_init;
  bool terminal;
  int ns_fds[5];           /* exec: ipc, uts, pid, mnt, user of the container init */
  char *hook_state;        /* init with createContainer/startContainer hooks */
  int stdio[3];            /* child ends: stdin, stdout, stderr (or the pty slave 3x) */
  int sync_w;
  int start_r;             /* init: blocks here until StartContainer */
  void *seccomp;
  char **argv;             /* NULL-terminated (protobuf arrays are not) */
  char **envp;
} SpawnPlan;

/* The user namespace last: joined first, it would take away the rights
 * over the others (owned by the guest's). */
static const char *const ns_names[5] = { "ipc", "uts", "pid", "mnt", "user" };

static const char *
env_get (char **envp, const char *name)
{
  size_t n = strlen (name);
  for (char **e = envp; e && *e; e++)
    if (strncmp (*e, name, n) == 0 && (*e)[n] == '=')
      return *e + n + 1;
  return NULL;
}

/* execvpe with the container's PATH (not the agent's). */
static void
exec_in_path (const char *file, char **argv, char **envp)
{
  if (strchr (file, '/'))
    {
      execve (file, argv, envp);
      return;
    }
  const char *path = env_get (envp, "PATH");
  if (!path)
    path = DEFAULT_PATH;
  char buf[4096];
  int saved = ENOENT;
  while (*path)
    {
      const char *end = strchr (path, ':');
      size_t len = end ? (size_t) (end - path) : strlen (path);
      if (len > 0 && len + strlen (file) + 2 < sizeof buf)
        {
          memcpy (buf, path, len);
          buf[len] = '/';
          strcpy (buf + len + 1, file);
          execve (buf, argv, envp);
          if (errno != ENOENT && errno != ENOTDIR)
            saved = errno;
        }
      path = end ? end + 1 : path + len;
    }
  errno = saved;
}

/* The container process, from namespaces to exec. Never returns. */
static void __attribute__ ((noreturn))
child_run (const SpawnPlan *plan)
{
  char msg[400];

  if (plan->is_init)
    {
      if (!rootfs_setup (plan->spec, plan->rootfs, msg, sizeof msg)
          || !rootfs_finish (plan->spec, msg, sizeof msg))
        goto fail;
      if (userns_wanted (plan->spec) && !userns_enter (plan->spec->linux, msg, sizeof msg))
        goto fail;
      if (!hooks_run (plan->spec, false, plan->hook_state, "creating", msg, sizeof msg))
        goto fail;
      sync_send (plan->sync_w, SYNC_READY, 0, NULL);
      char go;
      ssize_t n;
      while ((n = read (plan->start_r, &go, 1)) < 0 && errno == EINTR)
        ;
      if (n != 1)
        _exit (1); /* the container was removed before it started */
      close (plan->start_r);
      if (!hooks_run (plan->spec, true, plan->hook_state, "created", msg, sizeof msg))
        goto fail;
    }
  else if (chdir ("/") < 0)
    {
      msg_fail (msg, sizeof msg, errno, "chdir /");
      goto fail;
    }

  const Grpc__Process *proc = plan->proc;
  if (setsid () < 0)
    {
      msg_fail (msg, sizeof msg, errno, "setsid");
      goto fail;
    }
  if (plan->terminal && ioctl (plan->stdio[0], TIOCSCTTY, 0) < 0)
    {
      msg_fail (msg, sizeof msg, errno, "cannot make the pty the controlling terminal");
      goto fail;
    }
  for (int i = 0; i < 3; i++)
    if (dup2 (plan->stdio[i], i) < 0)
      {
        msg_fail (msg, sizeof msg, errno, "dup2");
        goto fail;
      }
  if (!rlimits_apply (proc, msg, sizeof msg))
    goto fail;
  const char *cwd = proc->cwd && *proc->cwd ? proc->cwd : "/";
  if (chdir (cwd) < 0)
    {
      msg_fail (msg, sizeof msg, errno, "cannot change to the working directory %s", cwd);
      goto fail;
    }
  if (!privileges_apply (proc, !proc->nonewprivileges, plan->seccomp, msg, sizeof msg))
    goto fail;
  /* Nothing of the agent's may survive exec (all of it is O_CLOEXEC already). */
  syscall (SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
  exec_in_path (plan->argv[0], plan->argv, plan->envp);
  msg_fail (msg, sizeof msg, errno, "cannot execute %s", proc->args[0]);

fail:
  sync_send (plan->sync_w, SYNC_ERROR, 0, msg);
  _exit (127);
}

static int
compare_int (const void *a, const void *b)
{
  return *(const int *) a - *(const int *) b;
}

/* Closes every fd but the plan's. Another container's process forked while
 * this one was being set up must not hold, say, its stdin pipe open. */
static void
close_other_fds (const SpawnPlan *plan)
{
  int keep[12];
  size_t n = 0;
  for (int i = 0; i < 5; i++)
    keep[n++] = plan->ns_fds[i];
  for (int i = 0; i < 3; i++)
    keep[n++] = plan->stdio[i];
  keep[n++] = plan->sync_w;
  keep[n++] = plan->start_r;
  qsort (keep, n, sizeof keep[0], compare_int);
  unsigned int from = 3;
  for (size_t i = 0; i < n; i++)
    {
      if (keep[i] < (int) from)
        continue;
      if (keep[i] > (int) from)
        syscall (SYS_close_range, from, (unsigned int) keep[i] - 1, 0);
      from = (unsigned int) keep[i] + 1;
    }
  syscall (SYS_close_range, from, ~0U, 0);
}

/* The intermediate child: cgroup and namespaces, then fork the process. */
static void __attribute__ ((noreturn))
intermediate_run (SpawnPlan *plan)
{
  char msg[400];
  AgentError err = { 0 };

  child_reset_signals ();
  close_other_fds (plan);
  /* die with the agent rather than linger */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (plan->cgroup_procs && !write_file_fmt (&err, plan->cgroup_procs, "%d", (int) getpid ()))
    {
      sync_send (plan->sync_w, SYNC_ERROR, 0, err.message);
      _exit (1);
    }
  /* Here, still the guest's root: in a user namespace /proc/self is no
   * longer ours to write. The process inherits it. */
  if (!oom_score_adj_apply (plan->proc, msg, sizeof msg))
    {
      sync_send (plan->sync_w, SYNC_ERROR, 0, msg);
      _exit (1);
    }
  if (plan->is_init)
    {
      if (unshare (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) < 0)
        {
          msg_fail (msg, sizeof msg, errno, "cannot create the container namespaces");
          sync_send (plan->sync_w, SYNC_ERROR, 0, msg);
          _exit (1);
        }
    }
  else
    for (int i = 0; i < 5; i++)
      if (plan->ns_fds[i] >= 0 && setns (plan->ns_fds[i], 0) < 0)
        {
          msg_fail (msg, sizeof msg, errno, "cannot join the %s namespace of the container", ns_names[i]);
          sync_send (plan->sync_w, SYNC_ERROR, 0, msg);
          _exit (1);
        }

  pid_t pid = fork ();
  if (pid < 0)
    {
      msg_fail (msg, sizeof msg, errno, "fork");
      sync_send (plan->sync_w, SYNC_ERROR, 0, msg);
      _exit (1);
    }
  if (pid == 0)
    {
      prctl (PR_SET_PDEATHSIG, 0);
      child_run (plan);
    }
  sync_send (plan->sync_w, SYNC_PID, pid, NULL);
  _exit (0);
}

/* Reads sync messages until `want` arrives (SYNC_READY), or end of file when
 * want is 0 (the exec happened). *pid gets a SYNC_PID seen on the way. */
static bool
sync_wait (int fd, int want, pid_t *pid, AgentError *err)
{
  int64_t deadline = monotonic_ms () + SYNC_TIMEOUT_MS;
  for (;;)
    {
      int64_t left = deadline - monotonic_ms ();
      if (left <= 0)
        return agent_error (err, VC_TTRPC_CODE_DEADLINE_EXCEEDED, "the container process did not report back");
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int r = poll (&pfd, 1, (int) left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        continue;
      SyncMsg m;
      ssize_t n = read (fd, &m, sizeof m);
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0)
        {
          if (want == 0 && (!pid || *pid > 0))
            return true;
          return agent_error (err, VC_TTRPC_CODE_INTERNAL, "the container process exited during setup");
        }
      if (n != (ssize_t) sizeof m)
        return agent_error (err, VC_TTRPC_CODE_INTERNAL, "short message from the container process");
      m.text[sizeof m.text - 1] = '\0';
      switch (m.type)
        {
        case SYNC_PID:
          if (pid)
            *pid = m.value;
          if (want == SYNC_PID)
            return true;
          break;
        case SYNC_READY:
          if (want == SYNC_READY && (!pid || *pid > 0))
            return true;
          break;
        case SYNC_ERROR:
          return agent_error (err, VC_TTRPC_CODE_INTERNAL, "%s", m.text);
        default:
          return agent_error (err, VC_TTRPC_CODE_INTERNAL, "bad message from the container process");
        }
    }
}

static char **
build_env (const Grpc__Process *proc)
{
  bool has_path = false;
  for (size_t i = 0; i < proc->n_env; i++)
    if (strncmp (proc->env[i], "PATH=", 5) == 0)
      has_path = true;
  char **envp = xcalloc (proc->n_env + 2, sizeof *envp);
  size_t n = 0;
  for (size_t i = 0; i < proc->n_env; i++)
    envp[n++] = proc->env[i];
  if (!has_path)
    envp[n++] = "PATH=" DEFAULT_PATH;
  envp[n] = NULL;
  return envp;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

bool
process_spawn (Container *c, Process *p, const Grpc__Process *proc, AgentError *err)
{
  SpawnPlan plan = {
    .spec = c->spec, .proc = proc, .rootfs = c->rootfs, .is_init = p->is_init,
    .terminal = proc->terminal, .ns_fds = { -1, -1, -1, -1, -1 }, .stdio = { -1, -1, -1 },
    .sync_w = -1, .start_r = -1,
  };
  int parent_stdin = -1, parent_stdout = -1, parent_stderr = -1, master = -1;
  int sync_r = -1, start_w = -1;
  char cgroup_procs[600];
  bool ok = false;

  if (proc->n_args == 0 || !proc->args[0] || !*proc->args[0])
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "the process has no args");
  if (c->cgroup)
    {
      snprintf (cgroup_procs, sizeof cgroup_procs, "%s/cgroup.procs", c->cgroup);
      plan.cgroup_procs = cgroup_procs;
    }
  if (!seccomp_build (c->spec && c->spec->linux ? c->spec->linux->seccomp : NULL, &plan.seccomp, err))
    return false;
  caps_warn_unknown (proc);
  if (p->is_init && hooks_wanted (c->spec))
    plan.hook_state = hooks_state_prefix (c);
  plan.envp = build_env (proc);
  plan.argv = xcalloc (proc->n_args + 1, sizeof *plan.argv);
  for (size_t i = 0; i < proc->n_args; i++)
    plan.argv[i] = proc->args[i];

  if (!p->is_init)
    {
      Process *init = c->processes;
      if (!init || init->pid <= 0 || child_exited (init->child))
        {
          agent_error (err, VC_TTRPC_CODE_FAILED_PRECONDITION, "container %s is not running", c->id);
          goto out;
        }
      for (int i = 0; i < 5; i++)
        {
          char path[64];
          snprintf (path, sizeof path, "/proc/%d/ns/%s", (int) init->pid, ns_names[i]);
          plan.ns_fds[i] = open (path, O_RDONLY | O_CLOEXEC);
          if (plan.ns_fds[i] < 0)
            {
              agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot open %s", path);
              goto out;
            }
        }
      /* The init's user namespace is joined only if it has its own. */
      struct stat mine, theirs;
      if (fstat (plan.ns_fds[4], &theirs) == 0 && stat ("/proc/self/ns/user", &mine) == 0
          && mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev)
        close_fd (&plan.ns_fds[4]);
    }

  if (proc->terminal)
    {
      master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
      char name[64];
      if (master < 0 || grantpt (master) < 0 || unlockpt (master) < 0 || ptsname_r (master, name, sizeof name) != 0)
        {
          agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot allocate a pty");
          goto out;
        }
      int slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (slave < 0)
        {
          agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot open %s", name);
          goto out;
        }
      if (proc->consolesize && proc->consolesize->height && proc->consolesize->width)
        {
          struct winsize ws = { .ws_row = (unsigned short) proc->consolesize->height,
                                .ws_col = (unsigned short) proc->consolesize->width };
          ioctl (master, TIOCSWINSZ, &ws);
        }
      plan.stdio[0] = slave;
      plan.stdio[1] = fcntl (slave, F_DUPFD_CLOEXEC, 3);
      plan.stdio[2] = fcntl (slave, F_DUPFD_CLOEXEC, 3);
    }
  else
    {
      int fds[3][2];
      for (int i = 0; i < 3; i++)
        if (pipe2 (fds[i], O_CLOEXEC) < 0)
          {
            agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "pipe");
            for (int j = 0; j < i; j++)
              close (fds[j][0]), close (fds[j][1]);
            goto out;
          }
      plan.stdio[0] = fds[0][0];
      parent_stdin = fds[0][1];
      /* A WriteStdin of up to 1 MiB fits at once (stdout and stderr: stream.c). */
      (void) fcntl (parent_stdin, F_SETPIPE_SZ, OUT_STREAM_PIPE_SIZE);
      parent_stdout = fds[1][0];
      plan.stdio[1] = fds[1][1];
      parent_stderr = fds[2][0];
      plan.stdio[2] = fds[2][1];
    }

  int sync_fds[2], start_fds[2] = { -1, -1 };
  if (pipe2 (sync_fds, O_CLOEXEC) < 0 || (p->is_init && pipe2 (start_fds, O_CLOEXEC) < 0))
    {
      agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "pipe");
      goto out;
    }
  sync_r = sync_fds[0];
  plan.sync_w = sync_fds[1];
  plan.start_r = start_fds[0];
  start_w = start_fds[1];

  pid_t middle = fork ();
  if (middle < 0)
    {
      agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "fork");
      goto out;
    }
  if (middle == 0)
    intermediate_run (&plan);

  Child *middle_child = child_register (middle);
  close_fd (&plan.sync_w);
  close_fd (&plan.start_r);
  for (int i = 0; i < 3; i++)
    close_fd (&plan.stdio[i]);

  pid_t pid = 0;
  ok = sync_wait (sync_r, SYNC_PID, &pid, err);
  int middle_status;
  child_wait (middle_child, 5000, &middle_status);
  child_release (middle_child);
  if (!ok)
    goto out;
  p->pid = pid;
  p->child = child_register (pid);
  if (p->is_init)
    {
      ok = sync_wait (sync_r, SYNC_READY, &pid, err);
      if (!ok)
        {
          kill (pid, SIGKILL);
          goto out;
        }
    }

  p->terminal = proc->terminal;
  if (proc->terminal)
    {
      p->pty_master = master;
      p->stdin_fd = fcntl (master, F_DUPFD_CLOEXEC, 3);
      p->out = out_stream_new (master, true);
      master = -1;
    }
  else
    {
      p->stdin_fd = parent_stdin;
      p->out = out_stream_new (parent_stdout, false);
      p->err = out_stream_new (parent_stderr, false);
      parent_stdin = parent_stdout = parent_stderr = -1;
    }
  p->sync_fd = sync_r;
  sync_r = -1;
  p->start_fd = start_w;
  start_w = -1;
  ok = true;

out:
  for (int i = 0; i < 5; i++)
    close_fd (&plan.ns_fds[i]);
  free (plan.hook_state);
  for (int i = 0; i < 3; i++)
    close_fd (&plan.stdio[i]);
  close_fd (&plan.sync_w);
  close_fd (&plan.start_r);
  close_fd (&parent_stdin);
  close_fd (&parent_stdout);
  close_fd (&parent_stderr);
  close_fd (&master);
  close_fd (&sync_r);
  close_fd (&start_w);
  seccomp_free (plan.seccomp);
  free (plan.argv);
  free (plan.envp);
  return ok;
}

bool
process_await_exec (Process *p, AgentError *err)
{
  if (p->sync_fd < 0)
    return true;
  pid_t pid = p->pid;
  bool ok = sync_wait (p->sync_fd, 0, &pid, err);
  close (p->sync_fd);
  p->sync_fd = -1;
  if (ok)
    p->exec_ms = monotonic_ms ();
  return ok;
}
