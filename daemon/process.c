/* vcrund: one container process's stdio and exit.
 *
 * vcrund owns the sandboxes it runs, so it drains their processes' output
 * whether or not a client listens. Each process gets three pipes; the
 * caller's ends (stdin's write end, stdout's and stderr's read ends) are
 * handed out once over the bus (Attach, Exec). Threads per started process:
 * the stdio pump's (core/stdio-pump.c: one per output stream, one for stdin)
 * and one waiting for the exit; forward() below is how output is written.
 *
 * Nobody attached yet: output fills the pipe (kept for a later Attach), and
 * what does not fit is dropped, so the guest never blocks on a reader that
 * does not exist. Attached: the pump waits for the reader, as a pipe does.
 * Reader gone: the agent closes the process's pipe (EPIPE or SIGPIPE for the
 * writer, as in a host pipeline).
 */
#include "config.h"

#include "vcrund.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>
#include <glib-unix.h>

/* How long the exit waits for output that stalls (see vc_stdio_pump_finish). */
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
  VcStdioPump *pump;             /* once started: it owns fds[] then */

  GMutex       lock;
  GCond        cond;
  int          caller_fds[3];    /* until handed out; under lock */
  gboolean     attached;         /* under lock */
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

/* What vcrund's stdio pipes hold: the agent's reads are up to 1 MiB, and a
 * bigger pipe means fewer wake-ups on both sides. */
#define PIPE_SIZE (1024 * 1024)

static gboolean
make_pipe (int fds[2], GError **error)
{
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    {
      g_prefix_error (error, "cannot make a pipe: ");
      return FALSE;
    }
  /* Best effort: an unprivileged vcrund may be held to less. */
  if (fcntl (fds[1], F_SETPIPE_SZ, PIPE_SIZE) < 0)
    g_debug ("cannot grow a stdio pipe to %d bytes: %s", PIPE_SIZE, g_strerror (errno));
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

gboolean
vcd_process_use_stdio (VcdProcess *process, int fds[3], GError **error)
{
  g_mutex_lock (&process->lock);
  gboolean busy = process->attached || process->started;
  if (!busy)
    {
      for (int i = 0; i < 3; i++)
        {
          close_fd (&process->caller_fds[i]);
          close_fd (&process->fds[i]);
          process->fds[i] = fds[i];
          fds[i] = -1;
        }
      /* The terminal carries both streams. */
      if (process->terminal)
        close_fd (&process->fds[STDERR_FD]);
      /* Someone reads them, or they are files: output is never dropped. */
      process->attached = TRUE;
    }
  g_mutex_unlock (&process->lock);
  if (busy)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_BUSY,
                   "the stdio of process %s of container %s was handed out or started already",
                   process->exec_id ? process->exec_id : "init",
                   vc_container_get_id (process->handle));
      return FALSE;
    }
  return TRUE;
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
forward (int stream, int fd, const guint8 *data, gsize len, gpointer user_data)
{
  VcdProcess *process = user_data;
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

  /* Forward the output before telling anyone it exited, within bounds. */
  vc_stdio_pump_finish (g_steal_pointer (&process->pump), DRAIN_TIMEOUT_MS);

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
  /* The pump owns our ends from now on. */
  process->pump = vc_stdio_pump_start (process->handle, process->exec_id, process->fds[STDIN_FD],
                                       process->fds[STDOUT_FD], process->fds[STDERR_FD], forward,
                                       vcd_process_ref (process),
                                       (GDestroyNotify) vcd_process_unref);
  for (int i = 0; i < 3; i++)
    process->fds[i] = -1;
  g_mutex_unlock (&process->lock);
  g_thread_unref (g_thread_new ("vcrund-wait", wait_thread, vcd_process_ref (process)));
}
