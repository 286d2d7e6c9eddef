/* Requests about one process: signal, wait, stdin, stdout/stderr, tty. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Largest ReadStdout/ReadStderr answer, and the default when len is 0. */
#define READ_MAX (1024 * 1024)
#define READ_DEFAULT (64 * 1024)
/* How often blocked requests look whether their connection is still there. */
#define ALIVE_CHECK_MS 1000

Process *
process_new (Container *c, const char *exec_id, bool is_init)
{
  Process *p = xcalloc (1, sizeof *p);
  p->container = c;
  p->exec_id = xstrdup (exec_id);
  p->is_init = is_init;
  p->stdin_fd = -1;
  p->pty_master = -1;
  p->start_fd = -1;
  p->sync_fd = -1;
  p->refs = 1;
  pthread_mutex_init (&p->stdin_lock, NULL);
  return p;
}

Process *
process_ref (Process *p)
{
  p->refs++;
  return p;
}

void
process_unref (Process *p)
{
  if (!p || --p->refs > 0)
    return;
  if (p->stdin_fd >= 0)
    close (p->stdin_fd);
  if (p->start_fd >= 0)
    close (p->start_fd);
  if (p->sync_fd >= 0)
    close (p->sync_fd);
  out_stream_close (p->out);
  out_stream_close (p->err);
  child_release (p->child);
  pthread_mutex_destroy (&p->stdin_lock);
  free (p->exec_id);
  free (p);
}

/* Looks the process up and takes a reference, under agent_lock. */
static Process *
lookup (const char *cid, const char *exec_id, AgentError *err)
{
  pthread_mutex_lock (&agent_lock);
  Container *c = container_find (cid, err);
  Process *p = c ? process_find (c, exec_id, err) : NULL;
  if (p)
    process_ref (p);
  pthread_mutex_unlock (&agent_lock);
  return p;
}

static void
release (Process *p)
{
  pthread_mutex_lock (&agent_lock);
  process_unref (p);
  pthread_mutex_unlock (&agent_lock);
}

/* A container's init gets a signal only if it has a handler for it
 * (pid_namespaces(7): from any namespace but SIGKILL and SIGSTOP). Right
 * after start a shell may not have installed its trap yet, and the signal
 * would be lost; and a shell that gets its trapped signal before it blocks
 * in `wait` runs the trap and then waits on. So a fresh init gets up to
 * INIT_HANDLER_GRACE_MS after its exec to catch (or ignore) the signal and
 * go to sleep before the signal is sent: what runc's speed gives a
 * container on a host, which a guest under emulation does not. */
#define INIT_HANDLER_GRACE_MS 3000

static bool
signal_handled (pid_t pid, int sig)
{
  char path[64], buf[2048];
  snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
  if (read_small_file (path, buf, sizeof buf) < 0)
    return true; /* gone: nothing to wait for */
  unsigned long long caught = 0, ignored = 0;
  const char *c = strstr (buf, "SigCgt:");
  const char *i = strstr (buf, "SigIgn:");
  if (!c || !i)
    return true;
  caught = strtoull (c + 7, NULL, 16);
  ignored = strtoull (i + 7, NULL, 16);
  if (!(((caught | ignored) >> (sig - 1)) & 1))
    return false;
  /* ... and is blocked (sleeping), not still running its setup */
  const char *state = strstr (buf, "State:");
  if (!state)
    return true;
  state += 6;
  state += strspn (state, " \t");
  return *state && strchr ("SDTt", *state) != NULL;
}

static void
await_init_handler (pid_t pid, int64_t exec_ms, int sig)
{
  if (pid <= 0 || exec_ms == 0 || sig == SIGKILL || sig == SIGSTOP || sig > 64)
    return;
  while (monotonic_ms () < exec_ms + INIT_HANDLER_GRACE_MS && !signal_handled (pid, sig))
    {
      struct timespec ts = { 0, 20 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
}

bool
process_signal (const char *cid, const char *exec_id, uint32_t signal, AgentError *err)
{
  if (signal == 0 || signal >= NSIG)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "invalid signal %u", signal);

  if (!exec_id || !*exec_id)
    {
      /* every process of the container */
      pthread_mutex_lock (&agent_lock);
      Container *c = container_find (cid, err);
      char *cgroup = c ? xstrdup (c->cgroup) : NULL;
      pid_t init_pid = c && c->processes ? c->processes->pid : 0;
      int64_t init_exec_ms = c && c->processes ? c->processes->exec_ms : 0;
      pthread_mutex_unlock (&agent_lock);
      if (!c)
        return false;
      await_init_handler (init_pid, init_exec_ms, (int) signal);
      bool ok = cgroup_kill_all (cgroup, (int) signal);
      free (cgroup);
      if (!ok && init_pid > 0 && kill (init_pid, (int) signal) < 0 && errno != ESRCH)
        return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot signal container %s", cid);
      return true;
    }

  Process *p = lookup (cid, exec_id, err);
  if (!p)
    return false;
  bool ok = true;
  if (p->is_init && p->pid > 0)
    await_init_handler (p->pid, p->exec_ms, (int) signal);
  if (p->pid <= 0 || child_exited (p->child))
    ok = agent_error (err, VC_TTRPC_CODE_NOT_FOUND, "process %s of container %s is not running", exec_id, cid);
  else if (kill (p->pid, (int) signal) < 0 && errno != ESRCH)
    ok = agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot signal process %s", exec_id);
  release (p);
  return ok;
}

bool
process_wait (RpcCall *call, const char *cid, const char *exec_id, int32_t *status, AgentError *err)
{
  Process *p = lookup (cid, exec_id, err);
  if (!p)
    return false;
  if (!p->child)
    {
      release (p);
      return agent_error (err, VC_TTRPC_CODE_FAILED_PRECONDITION, "process %s of container %s was never started",
                          exec_id, cid);
    }
  int raw = 0;
  while (!child_wait (p->child, ALIVE_CHECK_MS, &raw))
    if (!rpc_call_alive (call))
      {
        release (p);
        return agent_error (err, VC_TTRPC_CODE_CANCELLED, "connection closed");
      }
  *status = wait_status_to_exit_code (raw);

  pthread_mutex_lock (&agent_lock);
  Container *c = p->container;
  if (!c)
    ; /* removed meanwhile */
  else if (p->is_init)
    c->state = CONTAINER_STOPPED;
  else
    {
      /* An exec process is forgotten once its exit status is collected and
       * its output read to the end: output still in the pipe or the buffer
       * when it exited is not lost. */
      p->waited = true;
      process_forget_if_done (p);
    }
  process_unref (p);
  pthread_mutex_unlock (&agent_lock);
  return true;
}

void
process_forget_if_done (Process *p)
{
  Container *c = p->container;
  if (!c || p->is_init || !p->waited || (p->out && !p->out_done) || (p->err && !p->err_done))
    return;
  for (Process **pp = &c->processes; *pp; pp = &(*pp)->next)
    if (*pp == p)
      {
        *pp = p->next;
        p->next = NULL;
        process_unref (p);
        break;
      }
}

bool
process_write_stdin (const char *cid, const char *exec_id, const uint8_t *data, size_t len, AgentError *err)
{
  if (len == 0)
    return process_close_stdin (cid, exec_id, err);
  Process *p = lookup (cid, exec_id, err);
  if (!p)
    return false;
  bool ok = true;
  pthread_mutex_lock (&p->stdin_lock);
  if (p->stdin_fd < 0)
    ok = agent_error (err, VC_TTRPC_CODE_FAILED_PRECONDITION, "stdin of process %s is closed", p->exec_id);
  else if (!write_full (p->stdin_fd, data, len))
    ok = agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot write stdin of process %s", p->exec_id);
  pthread_mutex_unlock (&p->stdin_lock);
  release (p);
  return ok;
}

bool
process_close_stdin (const char *cid, const char *exec_id, AgentError *err)
{
  Process *p = lookup (cid, exec_id, err);
  if (!p)
    return false;
  pthread_mutex_lock (&p->stdin_lock);
  if (p->stdin_fd >= 0)
    {
      if (p->terminal)
        {
          /* A terminal has no end of file to pass on: send the EOF character. */
          static const char eot = 4;
          (void) !write (p->stdin_fd, &eot, 1);
        }
      else
        {
          close (p->stdin_fd);
          p->stdin_fd = -1;
        }
    }
  pthread_mutex_unlock (&p->stdin_lock);
  release (p);
  return true;
}

/* A ReadStreamResponse { data = 1: the bytes } sent from the output buffer. */
static bool
send_read_reply (const struct iovec *iov, int iovcnt, size_t len, void *data)
{
  RpcCall *call = data;
  uint8_t head[12];
  size_t n = 0;
  head[n++] = 0x0a;  /* field 1, length-delimited */
  for (uint64_t v = len; ; v >>= 7)
    {
      head[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      if (v <= 0x7f)
        break;
    }
  struct iovec all[3] = { { .iov_base = head, .iov_len = n } };
  for (int i = 0; i < iovcnt; i++)
    all[i + 1] = iov[i];
  return rpc_reply_encoded (call, all, iovcnt + 1, n + len);
}

/* The stream reached its end for the host: the process record may go. */
static void
mark_done (Process *p, bool stderr_stream)
{
  pthread_mutex_lock (&agent_lock);
  if (stderr_stream)
    p->err_done = true;
  else
    p->out_done = true;
  process_forget_if_done (p);
  process_unref (p);
  pthread_mutex_unlock (&agent_lock);
}

bool
process_read_output (RpcCall *call, const char *cid, const char *exec_id, bool stderr_stream,
                     uint32_t max, AgentError *err)
{
  Process *p = lookup (cid, exec_id, err);
  if (!p)
    return false;
  OutStream *s = stderr_stream ? p->err : p->out;
  if (s)
    out_stream_ref (s);
  else
    {
      /* A terminal has no separate stderr: end of file at once. */
      mark_done (p, stderr_stream);
      return true;
    }

  size_t want = max == 0 ? READ_DEFAULT : max > READ_MAX ? READ_MAX : max;
  size_t sent = 0;
  int r;
  while ((r = out_stream_send (s, want, ALIVE_CHECK_MS, send_read_reply, call, &sent)) == 0)
    if (!rpc_call_alive (call))
      break;
  out_stream_unref (s);
  if (r == 0)
    {
      release (p);
      return agent_error (err, VC_TTRPC_CODE_CANCELLED, "connection closed");
    }
  /* r == -1: the connection broke while sending; nothing more to answer. */
  if (r == 1 && sent == 0)
    mark_done (p, stderr_stream);  /* the end of file went to the host */
  else
    release (p);
  return true;
}

bool
process_close_output (const char *cid, const char *exec_id, bool stderr_stream, AgentError *err)
{
  Process *p = lookup (cid, exec_id, err);
  if (!p)
    return false;
  OutStream *s = stderr_stream ? p->err : p->out;
  if (s)
    out_stream_shut (s);
  if (p->terminal && !stderr_stream)
    {
      /* The last close of the pty master hangs the terminal up (SIGHUP). */
      pthread_mutex_lock (&p->stdin_lock);
      if (p->stdin_fd >= 0)
        close (p->stdin_fd);
      p->stdin_fd = -1;
      pthread_mutex_unlock (&p->stdin_lock);
    }
  agent_debug ("%s of process %s of container %s: the host no longer reads it",
               stderr_stream ? "stderr" : "stdout", p->exec_id, cid);
  mark_done (p, stderr_stream);
  return true;
}

bool
process_resize (const char *cid, const char *exec_id, uint32_t rows, uint32_t cols, AgentError *err)
{
  Process *p = lookup (cid, exec_id, err);
  if (!p)
    return false;
  bool ok = true;
  pthread_mutex_lock (&p->stdin_lock);
  struct winsize ws = { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };
  if (!p->terminal || p->stdin_fd < 0)
    ok = agent_error (err, VC_TTRPC_CODE_FAILED_PRECONDITION, "process %s has no terminal", p->exec_id);
  else if (ioctl (p->stdin_fd, TIOCSWINSZ, &ws) < 0)
    ok = agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot resize the terminal of %s", p->exec_id);
  pthread_mutex_unlock (&p->stdin_lock);
  release (p);
  return ok;
}
