/* libvcrun: a container's processes — signal, exec, wait — and their
 * stdio. */
#include "config.h"

#include "container-impl.h"
#include "mountpoints.h"
#include "oci.h"

#include <signal.h>
#include <unistd.h>

/* ---- processes --------------------------------------------------------- */

/* The agent for a call on a live process: container in accepted, sandbox
 * running (when require_running). */
static VcAgentRef *
agent_for (VcContainer *c, guint accepted, gboolean require_running, GError **error)
{
  /* The container's own state first: a stopped container says so, whether or
   * not its sandbox has been stopped yet (its supervisor stops the VM after). */
  if (!vc_container_require_state (c, accepted, error))
    return NULL;
  if (require_running
      && !vc_sandbox_require_state (c->sandbox, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), error))
    return NULL;
  return vc_sandbox_get_agent (c->sandbox, FALSE, error);
}

gboolean
vc_container_signal (VcContainer *c, const char *exec_id, int signum, gboolean all,
                     GError **error)
{
  if (!vc_container_check_exec_id (exec_id, error))
    return FALSE;
  if (signum <= 0 || signum >= 65)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "invalid signal number %d", signum);
      return FALSE;
    }
  /* OCI allows kill of a created container: its init waits for start. */
  g_autoptr(VcAgentRef) agent = agent_for (c, CMASK (VC_CONTAINER_CREATED)
                                              | CMASK (VC_CONTAINER_RUNNING)
                                              | CMASK (VC_CONTAINER_PAUSED), TRUE, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->signal_process == NULL)
    return vc_container_unsupported ("signal_process", error);
  if (!agent->ops->signal_process (agent->conn, c->id, vc_container_exec_or_init (c, exec_id), signum, all,
                                   error))
    {
      g_prefix_error (error, "container %s: signal_process: ", c->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_signal_default_terminates (int signum)
{
  switch (signum)
    {
    case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
      return FALSE;
    default:
      return signum > 0 && signum < 65;
    }
}

gboolean
vc_container_exec (VcContainer *c, const char *exec_id, const char *process_json,
                   GError **error)
{
  if (exec_id == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "exec: no exec ID given");
      return FALSE;
    }
  if (!vc_container_check_exec_id (exec_id, error))
    return FALSE;
  if (g_strcmp0 (exec_id, c->id) == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                   "exec ID %s is the container's own process", exec_id);
      return FALSE;
    }
  g_autofree char *origin = g_strdup_printf ("exec %s", exec_id);
  if (!vc_oci_process_check (process_json, origin, error))
    return FALSE;
  g_autoptr(VcAgentRef) agent = agent_for (c, CMASK (VC_CONTAINER_RUNNING), TRUE, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->exec_process == NULL)
    return vc_container_unsupported ("exec_process", error);
  if (!agent->ops->exec_process (agent->conn, c->id, exec_id, process_json, error))
    {
      g_prefix_error (error, "container %s: exec_process: ", c->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_container_wait (VcContainer *c, const char *exec_id, int *exit_status, GError **error)
{
  if (!vc_container_check_exec_id (exec_id, error))
    return FALSE;

  if (exec_id == NULL)
    {
      VcContainerRecord *rec = vc_container_lock_record (c, ~0u, error);
      if (rec == NULL)
        return FALSE;
      int status = rec->exit_status;
      VcContainerState state = rec->state;
      vc_sandbox_unlock_record (c->sandbox);
      if (state == VC_CONTAINER_STOPPED && status >= 0)
        {
          if (exit_status)
            *exit_status = status;
          return TRUE;
        }
      if (state == VC_CONTAINER_STOPPED)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                       "container %s stopped without an exit status (%s)", c->id,
                       "its sandbox stopped");
          return FALSE;
        }
    }

  guint live = CMASK (VC_CONTAINER_CREATED) | CMASK (VC_CONTAINER_RUNNING)
               | CMASK (VC_CONTAINER_PAUSED);
  g_autoptr(VcAgentRef) agent = agent_for (c, live, FALSE, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->wait_process == NULL)
    return vc_container_unsupported ("wait_process", error);
  int status = -1;
  if (!agent->ops->wait_process (agent->conn, c->id, vc_container_exec_or_init (c, exec_id), &status, error))
    {
      g_prefix_error (error, "container %s: wait_process: ", c->id);
      return FALSE;
    }
  if (status < 0 || status > 255)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "container %s: the agent reported exit status %d", c->id, status);
      return FALSE;
    }
  if (exit_status)
    *exit_status = status;

  if (exec_id == NULL)
    {
      /* The init process is gone: the container is stopped. */
      VcSandboxOp op;
      g_autoptr(GError) local = NULL;
      if (vc_sandbox_op_begin (c->sandbox, &op, &local))
        {
          VcContainerRecord *rec = vc_container_lock_record (c, ~0u, NULL);
          gboolean change = rec && (rec->state != VC_CONTAINER_STOPPED || rec->exit_status < 0);
          if (rec)
            vc_sandbox_unlock_record (c->sandbox);
          if (change)
            {
              vc_container_set_state (c, VC_CONTAINER_STOPPED, status);
              vc_sandbox_op_save (&op, &local);
            }
          vc_sandbox_op_end (&op);
        }
      if (local)
        g_debug ("container %s: recording exit status: %s", c->id, local->message);
      vc_container_snapshot (c);
    }
  return TRUE;
}

/* ---- stdio ------------------------------------------------------------- */

static VcAgentRef *
agent_for_stdio (VcContainer *c, const char *exec_id, GError **error)
{
  if (!vc_container_check_exec_id (exec_id, error))
    return NULL;
  /* Output may be drained after the process exited. */
  return agent_for (c, ~0u, FALSE, error);
}

static GBytes *
read_stream (VcContainer *c, const char *exec_id, gsize max_len, gboolean err_stream,
             GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return NULL;
  GBytes *(*fn) (VcAgentConn *, const char *, const char *, gsize, GError **)
    = err_stream ? agent->ops->read_stderr : agent->ops->read_stdout;
  const char *method = err_stream ? "read_stderr" : "read_stdout";
  if (fn == NULL)
    {
      vc_container_unsupported (method, error);
      return NULL;
    }
  GBytes *data = fn (agent->conn, c->id, vc_container_exec_or_init (c, exec_id), max_len, error);
  if (data == NULL)
    g_prefix_error (error, "container %s: %s: ", c->id, method);
  else if (g_bytes_get_size (data) > max_len)
    {
      g_bytes_unref (data);
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "container %s: %s returned more than the %" G_GSIZE_FORMAT " bytes asked",
                   c->id, method, max_len);
      return NULL;
    }
  return data;
}

GBytes *
vc_container_read_stdout (VcContainer *c, const char *exec_id, gsize max_len, GError **error)
{
  return read_stream (c, exec_id, max_len, FALSE, error);
}

GBytes *
vc_container_read_stderr (VcContainer *c, const char *exec_id, gsize max_len, GError **error)
{
  return read_stream (c, exec_id, max_len, TRUE, error);
}

gboolean
vc_container_write_stdin (VcContainer *c, const char *exec_id, const guint8 *data, gsize len,
                          gsize *written, GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->write_stdin == NULL)
    return vc_container_unsupported ("write_stdin", error);
  gsize n = 0;
  if (!agent->ops->write_stdin (agent->conn, c->id, vc_container_exec_or_init (c, exec_id), data, len, &n,
                                error))
    {
      g_prefix_error (error, "container %s: write_stdin: ", c->id);
      return FALSE;
    }
  if (written)
    *written = MIN (n, len);
  return TRUE;
}

gboolean
vc_container_close_stdin (VcContainer *c, const char *exec_id, GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->close_stdin == NULL)
    return vc_container_unsupported ("close_stdin", error);
  if (!agent->ops->close_stdin (agent->conn, c->id, vc_container_exec_or_init (c, exec_id), error))
    {
      g_prefix_error (error, "container %s: close_stdin: ", c->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_container_close_output (VcContainer *c, const char *exec_id, gboolean err_stream,
                           GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return FALSE;
  const char *target = vc_container_exec_or_init (c, exec_id);
  g_autoptr(GError) local = NULL;
  if (agent->ops->close_output != NULL
      && agent->ops->close_output (agent->conn, c->id, target, err_stream, &local))
    return TRUE;
  if (local != NULL && !g_error_matches (local, VC_ERROR, VC_ERROR_NOT_SUPPORTED))
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "container %s: close_output: ",
                                  c->id);
      return FALSE;
    }
  /* An agent that cannot close the pipe (a Kata guest): what the writer
   * would get from a closed pipe, as a signal. */
  if (agent->ops->signal_process == NULL)
    return vc_container_unsupported ("close_output", error);
  if (!agent->ops->signal_process (agent->conn, c->id, target, SIGPIPE, FALSE, error))
    {
      g_prefix_error (error, "container %s: signal_process (SIGPIPE for a closed %s): ", c->id,
                      err_stream ? "stderr" : "stdout");
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_container_resize_tty (VcContainer *c, const char *exec_id, guint rows, guint columns,
                         GError **error)
{
  g_autoptr(VcAgentRef) agent = agent_for_stdio (c, exec_id, error);
  if (agent == NULL)
    return FALSE;
  if (agent->ops->tty_win_resize == NULL)
    return vc_container_unsupported ("tty_win_resize", error);
  if (!agent->ops->tty_win_resize (agent->conn, c->id, vc_container_exec_or_init (c, exec_id), rows, columns,
                                   error))
    {
      g_prefix_error (error, "container %s: tty_win_resize: ", c->id);
      return FALSE;
    }
  return TRUE;
}

