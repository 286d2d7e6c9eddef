/* vcrund: one container process's stdio and exit.
 *
 * vcrund owns the sandboxes it runs, so it drains their processes' output
 * whether or not a client listens. Each process gets three pipes; the
 * caller's ends (stdin's write end, stdout's and stderr's read ends) are
 * handed out once over the bus (Attach, Exec). Threads per started process:
 * one per output stream (agent -> pipe), one for stdin (pipe -> agent) and
 * one waiting for the exit.
 *
 * Nobody attached yet: output fills the pipe (kept for a later Attach), and
 * what does not fit is dropped, so the guest never blocks on a reader that
 * does not exist. Attached: the pump waits for the reader, as a pipe does.
 * Reader gone: the rest is drained and dropped.
 */
#include "vcrund.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <glib-unix.h>

/* Bytes asked of the agent per read. */
#define PUMP_CHUNK (64 * 1024)
/* How long the exit waits for the output to be forwarded. */
#define DRAIN_TIMEOUT_MS 10000

enum { STDIN_FD, STDOUT_FD, STDERR_FD };

struct VcdProcess {
  gint         ref_count;
  VcContainer *handle;
  char        *exec_id;
  gboolean     terminal;

  /* vcrund's ends: stdin's read end, stdout's and stderr's write ends
   * (non-blocking); -1 when unused. */
  int          fds[3];
  int          cancel[2];        /* stops the stdin thread */

  GMutex       lock;
  GCond        cond;
  int          caller_fds[3];    /* until handed out; under lock */
  gboolean     attached;         /* under lock */
  guint        outputs_running;  /* under lock */
  gboolean     started;          /* under lock */

  VcdExitFunc    exit_func;      /* main context only, after start */
  gpointer       exit_data;
  GDestroyNotify exit_destroy;
  int            status;
  GError        *wait_error;
};

VcdProcess *
vcd_process_ref (VcdProcess *process)
{
  g_atomic_int_inc (&process->ref_count);
  return process;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

void
vcd_process_unref (VcdProcess *process)
{
  if (process == NULL || !g_atomic_int_dec_and_test (&process->ref_count))
    return;
  for (int i = 0; i < 3; i++)
    {
      close_fd (&process->fds[i]);
      close_fd (&process->caller_fds[i]);
    }
  close_fd (&process->cancel[0]);
  close_fd (&process->cancel[1]);
  if (process->exit_destroy)
    process->exit_destroy (process->exit_data);
  g_clear_error (&process->wait_error);
  g_mutex_clear (&process->lock);
  g_cond_clear (&process->cond);
  vc_container_unref (process->handle);
  g_free (process->exec_id);
  g_free (process);
}

const char *
vcd_process_get_exec_id (VcdProcess *process)
{
  return process->exec_id;
}

static gboolean
make_pipe (int fds[2], GError **error)
{
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    {
      g_prefix_error (error, "cannot make a pipe: ");
      return FALSE;
    }
  return TRUE;
}

VcdProcess *
vcd_process_new (VcContainer *handle, const char *exec_id, gboolean terminal, GError **error)
{
  VcdProcess *process = g_new0 (VcdProcess, 1);
  process->ref_count = 1;
  process->handle = vc_container_ref (handle);
  process->exec_id = g_strdup (exec_id);
  process->terminal = terminal;
  g_mutex_init (&process->lock);
  g_cond_init (&process->cond);
  for (int i = 0; i < 3; i++)
    process->fds[i] = process->caller_fds[i] = -1;
  process->cancel[0] = process->cancel[1] = -1;
  process->status = -1;

  int in[2], out[2], err[2];
  if (!make_pipe (in, error))
    goto fail;
  process->fds[STDIN_FD] = in[0];
  process->caller_fds[STDIN_FD] = in[1];
  if (!make_pipe (out, error))
    goto fail;
  process->caller_fds[STDOUT_FD] = out[0];
  process->fds[STDOUT_FD] = out[1];
  if (!make_pipe (err, error))
    goto fail;
  process->caller_fds[STDERR_FD] = err[0];
  if (terminal)
    close (err[1]);  /* the terminal carries both: the reader sees EOF */
  else
    process->fds[STDERR_FD] = err[1];
  if (!make_pipe (process->cancel, error))
    goto fail;
  for (int i = STDOUT_FD; i <= STDERR_FD; i++)
    if (process->fds[i] >= 0 && !g_unix_set_fd_nonblocking (process->fds[i], TRUE, error))
      goto fail;
  return process;

fail:
  vcd_process_unref (process);
  return NULL;
}

GUnixFDList *
vcd_process_attach (VcdProcess *process, GError **error)
{
  g_mutex_lock (&process->lock);
  if (process->attached)
    {
      g_mutex_unlock (&process->lock);
      g_set_error (error, VC_ERROR, VC_ERROR_BUSY,
                   "the stdio of process %s of container %s was handed out already",
                   process->exec_id ? process->exec_id : "init",
                   vc_container_get_id (process->handle));
      return NULL;
    }
  GUnixFDList *list = g_unix_fd_list_new ();
  for (int i = 0; i < 3; i++)
    if (g_unix_fd_list_append (list, process->caller_fds[i], error) < 0)
      {
        g_mutex_unlock (&process->lock);
        g_object_unref (list);
        return NULL;
      }
  /* The list holds copies: from now on only the caller holds these ends. */
  for (int i = 0; i < 3; i++)
    close_fd (&process->caller_fds[i]);
  process->attached = TRUE;
  g_mutex_unlock (&process->lock);
  return list;
}

static gboolean
is_attached (VcdProcess *process)
{
  g_mutex_lock (&process->lock);
  gboolean attached = process->attached;
  g_mutex_unlock (&process->lock);
  return attached;
}

/* Writes data to a non-blocking pipe under the policy above. Returns FALSE
 * once the reader is gone. */
static gboolean
forward (VcdProcess *process, int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n > 0)
        {
          data += n;
          len -= n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          if (!is_attached (process))
            {
              g_debug ("process %s: nobody attached, %" G_GSIZE_FORMAT " bytes dropped",
                       process->exec_id ? process->exec_id : "init", len);
              return TRUE;
            }
          struct pollfd pfd = { .fd = fd, .events = POLLOUT };
          if (poll (&pfd, 1, 1000) < 0 && errno != EINTR)
            return FALSE;
          continue;
        }
      return FALSE;  /* EPIPE: the reader closed its end */
    }
  return TRUE;
}

typedef struct {
  VcdProcess *process;
  int         which;   /* STDOUT_FD or STDERR_FD */
} OutputJob;

static gpointer
output_thread (gpointer data)
{
  OutputJob *job = data;
  VcdProcess *process = job->process;
  int fd = process->fds[job->which];
  gboolean writable = TRUE;

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) bytes = job->which == STDERR_FD
        ? vc_container_read_stderr (process->handle, process->exec_id, PUMP_CHUNK, &error)
        : vc_container_read_stdout (process->handle, process->exec_id, PUMP_CHUNK, &error);
      if (bytes == NULL)
        {
          g_debug ("%s: %s", job->which == STDERR_FD ? "stderr" : "stdout", error->message);
          break;
        }
      gsize len;
      const guint8 *p = g_bytes_get_data (bytes, &len);
      if (len == 0)
        break;
      /* A reader that went away does not stop the draining. */
      if (writable)
        writable = forward (process, fd, p, len);
    }

  g_mutex_lock (&process->lock);
  /* Our write end closes now: the reader sees end of file. */
  close_fd (&process->fds[job->which]);
  process->outputs_running--;
  g_cond_broadcast (&process->cond);
  g_mutex_unlock (&process->lock);
  vcd_process_unref (process);
  g_free (job);
  return NULL;
}

static gpointer
input_thread (gpointer data)
{
  VcdProcess *process = data;
  guint8 *buf = g_malloc (PUMP_CHUNK);

  for (;;)
    {
      struct pollfd pfd[2] = { { .fd = process->fds[STDIN_FD], .events = POLLIN },
                               { .fd = process->cancel[0], .events = POLLIN } };
      if (poll (pfd, 2, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (pfd[1].revents)
        break;
      ssize_t n = read (process->fds[STDIN_FD], buf, PUMP_CHUNK);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      g_autoptr(GError) error = NULL;
      if (n <= 0)
        {
          if (!vc_container_close_stdin (process->handle, process->exec_id, &error))
            g_debug ("closing stdin: %s", error->message);
          break;
        }
      gsize done = 0;
      while (done < (gsize) n && error == NULL)
        {
          gsize written = 0;
          if (vc_container_write_stdin (process->handle, process->exec_id, buf + done,
                                        n - done, &written, &error))
            done += written;
        }
      if (error)
        {
          g_debug ("stdin: %s", error->message);
          break;
        }
    }
  g_free (buf);
  vcd_process_unref (process);
  return NULL;
}

static gboolean
deliver_exit (gpointer data)
{
  VcdProcess *process = data;
  if (process->exit_func)
    process->exit_func (process, process->status, process->wait_error, process->exit_data);
  /* Released here, in the main context, rather than by whichever thread
   * drops the last reference. */
  if (process->exit_destroy)
    process->exit_destroy (process->exit_data);
  process->exit_func = NULL;
  process->exit_destroy = NULL;
  process->exit_data = NULL;
  return G_SOURCE_REMOVE;
}

static gpointer
wait_thread (gpointer data)
{
  VcdProcess *process = data;
  int status = -1;
  g_autoptr(GError) error = NULL;

  if (!vc_container_wait (process->handle, process->exec_id, &status, &error))
    {
      g_debug ("waiting for %s: %s", process->exec_id ? process->exec_id : "init",
               error->message);
      status = -1;
    }

  /* Forward the output before telling anyone it exited, within bounds: a
   * guest that keeps the stream open does not hold the exit forever. */
  gint64 deadline = g_get_monotonic_time () + DRAIN_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&process->lock);
  while (process->outputs_running > 0)
    if (!g_cond_wait_until (&process->cond, &process->lock, deadline))
      break;
  g_mutex_unlock (&process->lock);
  if (write (process->cancel[1], "x", 1) < 0)
    g_debug ("cannot stop the stdin thread: %s", g_strerror (errno));

  process->status = status;
  process->wait_error = g_steal_pointer (&error);
  g_main_context_invoke_full (NULL, G_PRIORITY_DEFAULT, deliver_exit, process,
                              (GDestroyNotify) vcd_process_unref);
  return NULL;
}

void
vcd_process_start (VcdProcess *process, VcdExitFunc exit_func, gpointer user_data,
                   GDestroyNotify destroy)
{
  g_mutex_lock (&process->lock);
  if (process->started)
    {
      g_mutex_unlock (&process->lock);
      g_critical ("process %s started twice", process->exec_id ? process->exec_id : "init");
      return;
    }
  process->started = TRUE;
  process->exit_func = exit_func;
  process->exit_data = user_data;
  process->exit_destroy = destroy;
  for (int which = STDOUT_FD; which <= STDERR_FD; which++)
    {
      if (process->fds[which] < 0)
        continue;
      OutputJob *job = g_new0 (OutputJob, 1);
      job->process = vcd_process_ref (process);
      job->which = which;
      process->outputs_running++;
      g_thread_unref (g_thread_new ("vcrund-output", output_thread, job));
    }
  g_mutex_unlock (&process->lock);
  g_thread_unref (g_thread_new ("vcrund-input", input_thread, vcd_process_ref (process)));
  g_thread_unref (g_thread_new ("vcrund-wait", wait_thread, vcd_process_ref (process)));
}
