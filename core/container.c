/* libvcrun: container handles, state checks and changes (start, pause,
 * resume, delete), getters. */
#include "config.h"

#include "container-impl.h"
#include "container-devices.h"
#include "hooks.h"
#include "mountpoints.h"
#include "oci.h"

#include <signal.h>
#include <unistd.h>

/* ---- handles ----------------------------------------------------------- */

/* Refreshes c->last from the sandbox's record; returns whether it exists. */
gboolean
vc_container_snapshot (VcContainer *c)
{
  VcSandboxRecord *r = vc_sandbox_lock_record (c->sandbox);
  VcContainerRecord *rec = vc_sandbox_record_find (r, c->id, NULL);
  VcContainerRecord *copy = rec ? vc_container_record_copy (rec) : NULL;
  vc_sandbox_unlock_record (c->sandbox);

  g_mutex_lock (&c->mutex);
  if (copy)
    {
      vc_container_record_free (c->last);
      c->last = copy;
    }
  else if (c->last)
    c->last->state = VC_CONTAINER_STOPPED;
  g_mutex_unlock (&c->mutex);
  return copy != NULL;
}

VcContainer *
vc_container_new_handle (VcSandbox *sandbox, const char *id)
{
  VcContainer *c = g_new0 (VcContainer, 1);
  c->ref_count = 1;
  c->sandbox = vc_sandbox_ref (sandbox);
  c->id = g_strdup (id);
  g_mutex_init (&c->mutex);
  c->last = vc_container_record_new (id);
  vc_container_snapshot (c);
  c->bundle = g_strdup (c->last->bundle);
  return c;
}

VcContainer *
vc_container_ref (VcContainer *c)
{
  g_atomic_int_inc (&c->ref_count);
  return c;
}

void
vc_container_unref (VcContainer *c)
{
  if (c == NULL || !g_atomic_int_dec_and_test (&c->ref_count))
    return;
  vc_container_record_free (c->last);
  g_mutex_clear (&c->mutex);
  g_free (c->bundle);
  g_free (c->id);
  vc_sandbox_unref (c->sandbox);
  g_free (c);
}

/* ---- state checks ------------------------------------------------------ */

/* VC_ERROR_INVALID_STATE unless the container's record exists with a state
 * in accepted. Returns the record (borrowed; record lock held on success —
 * release with vc_sandbox_unlock_record). */
VcContainerRecord *
vc_container_lock_record (VcContainer *c, guint accepted, GError **error)
{
  VcSandboxRecord *r = vc_sandbox_lock_record (c->sandbox);
  VcContainerRecord *rec = vc_sandbox_record_find (r, c->id, NULL);
  if (rec == NULL)
    {
      vc_sandbox_unlock_record (c->sandbox);
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s has no container %s",
                   vc_sandbox_get_id (c->sandbox), c->id);
      return NULL;
    }
  if (accepted & CMASK (rec->state))
    return rec;

  const char *names[4];
  guint n = 0;
  for (int s = VC_CONTAINER_CREATED; s <= VC_CONTAINER_STOPPED; s++)
    if (accepted & CMASK (s))
      names[n++] = vc_container_state_to_string (s);
  g_autofree char *expected = vc_state_names_join (names, n);
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "container %s is %s, expected %s",
               c->id, vc_container_state_to_string (rec->state), expected);
  vc_sandbox_unlock_record (c->sandbox);
  return NULL;
}

gboolean
vc_container_require_state (VcContainer *c, guint accepted, GError **error)
{
  if (vc_container_lock_record (c, accepted, error) == NULL)
    return FALSE;
  vc_sandbox_unlock_record (c->sandbox);
  return TRUE;
}

void
vc_container_set_state (VcContainer *c, VcContainerState state, int exit_status)
{
  VcSandboxRecord *r = vc_sandbox_lock_record (c->sandbox);
  VcContainerRecord *rec = vc_sandbox_record_find (r, c->id, NULL);
  if (rec)
    {
      rec->state = state;
      if (exit_status >= 0)
        rec->exit_status = exit_status;
      if (state == VC_CONTAINER_RUNNING)
        rec->pid = (gint) getpid ();
    }
  vc_sandbox_unlock_record (c->sandbox);
  vc_sandbox_queue_notify (c->sandbox, c->id);
}

gboolean
vc_container_unsupported (const char *method, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "the agent plugin does not support %s",
               method);
  return FALSE;
}

gboolean
vc_container_check_exec_id (const char *exec_id, GError **error)
{
  return exec_id == NULL || vc_id_validate (exec_id, "exec", error);
}

/* The agent names the init process by the container ID. */
const char *
vc_container_exec_or_init (VcContainer *c, const char *exec_id)
{
  return exec_id ? exec_id : c->id;
}

/* ---- state changes ----------------------------------------------------- */

/* An op that calls one agent method and moves the container between
 * states. */
typedef gboolean (*AgentContainerCall) (VcAgentConn *conn, const char *id, GError **error);

static gboolean
transition (VcContainer *c, guint sandbox_accepted, VcContainerState from,
            VcContainerState to, const char *method, gsize method_offset, GError **error)
{
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (c->sandbox, &op, error))
    return FALSE;
  gboolean ok = vc_sandbox_require_state (c->sandbox, sandbox_accepted, error)
                && vc_container_require_state (c, CMASK (from), error);
  g_autoptr(VcAgentRef) agent = ok ? vc_sandbox_get_agent (c->sandbox, TRUE, error) : NULL;
  if (ok && agent == NULL)
    ok = FALSE;
  if (ok)
    {
      AgentContainerCall call = G_STRUCT_MEMBER (AgentContainerCall, agent->ops, method_offset);
      if (call == NULL)
        ok = vc_container_unsupported (method, error);
      else if (!call (agent->conn, c->id, error))
        {
          g_prefix_error (error, "container %s: %s: ", c->id, method);
          ok = FALSE;
        }
    }
  if (ok)
    {
      vc_container_set_state (c, to, -1);
      ok = vc_sandbox_op_save (&op, error);
    }
  vc_sandbox_op_end (&op);
  vc_container_snapshot (c);
  return ok;
}

gboolean
vc_container_start (VcContainer *c, GError **error)
{
  if (!transition (c, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), VC_CONTAINER_CREATED,
                   VC_CONTAINER_RUNNING, "start_container",
                   G_STRUCT_OFFSET (VcAgentOps, start_container), error))
    return FALSE;
  /* OCI: poststart before start returns; a failure is only a warning. */
  vc_hooks_run_saved (vc_sandbox_get_dir (c->sandbox), c->id, VC_HOOK_POSTSTART, "running",
                      (gint) getpid (), FALSE);
  return TRUE;
}

gboolean
vc_container_pause (VcContainer *c, GError **error)
{
  return transition (c, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), VC_CONTAINER_RUNNING,
                     VC_CONTAINER_PAUSED, "pause_container",
                     G_STRUCT_OFFSET (VcAgentOps, pause_container), error);
}

gboolean
vc_container_resume (VcContainer *c, GError **error)
{
  return transition (c, VC_SANDBOX_MASK (VC_SANDBOX_RUNNING), VC_CONTAINER_PAUSED,
                     VC_CONTAINER_RUNNING, "resume_container",
                     G_STRUCT_OFFSET (VcAgentOps, resume_container), error);
}

gboolean
vc_container_delete (VcContainer *c, gboolean force, GError **error)
{
  VcSandbox *sb = c->sandbox;
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;

  gboolean ok = TRUE;
  guint deletable = CMASK (VC_CONTAINER_CREATED) | CMASK (VC_CONTAINER_STOPPED);
  if (!vc_container_require_state (c, force ? ~0u : deletable, error))
    ok = FALSE;
  VcSandboxState sstate = vc_sandbox_get_state (sb);
  gboolean vm_up = sstate != VC_SANDBOX_STOPPED;
  if (ok && sstate == VC_SANDBOX_PAUSED)
    ok = vc_sandbox_require_state (sb, VC_SANDBOX_MASK (VC_SANDBOX_READY)
                                       | VC_SANDBOX_MASK (VC_SANDBOX_RUNNING)
                                       | VC_SANDBOX_MASK (VC_SANDBOX_STOPPED), error);

  g_autoptr(VcAgentRef) agent = NULL;
  if (ok && vm_up)
    {
      agent = vc_sandbox_get_agent (sb, TRUE, error);
      ok = agent != NULL;
    }
  if (ok && vm_up)
    {
      /* force: a running or paused container is killed first. */
      if (!vc_container_require_state (c, deletable, NULL))
        {
          g_autoptr(GError) local = NULL;
          if (vc_container_require_state (c, CMASK (VC_CONTAINER_PAUSED), NULL)
              && agent->ops->resume_container
              && !agent->ops->resume_container (agent->conn, c->id, &local))
            g_debug ("container %s: resume before kill: %s", c->id, local->message);
          g_clear_error (&local);
          if (agent->ops->signal_process
              && !agent->ops->signal_process (agent->conn, c->id, c->id, SIGKILL, TRUE, &local))
            g_debug ("container %s: kill: %s", c->id, local->message);
        }
      if (agent->ops->remove_container == NULL)
        ok = vc_container_unsupported ("remove_container", error);
      else if (!agent->ops->remove_container (agent->conn, c->id, REMOVE_TIMEOUT_MS, error))
        {
          g_prefix_error (error, "container %s: remove_container: ", c->id);
          ok = FALSE;
        }
    }
  if (ok)
    {
      /* The agent side is gone; a share left behind is also undone by the
       * sandbox's fs cleanup, so it does not block the delete. */
      g_autoptr(GError) local = NULL;
      VcFsShare *share = NULL;
      const VcFsOps *fs = vc_sandbox_ensure_fs (sb, &share, &local);
      if (fs)
        vc_container_unshare_quietly (fs, share, c->id);
      else if (vm_up)
        g_warning ("container %s: %s", c->id, local->message);

      guint index;
      g_auto(GStrv) devices = NULL;
      VcSandboxRecord *r = vc_sandbox_lock_record (sb);
      VcContainerRecord *rec = vc_sandbox_record_find (r, c->id, NULL);
      if (rec != NULL)
        devices = g_strdupv (rec->devices);
      vc_sandbox_unlock_record (sb);
      /* The agent has unmounted them: the guest lets go of the disks. */
      if (vm_up && devices != NULL)
        vc_container_devices_release (sb, c->id, devices);
      r = vc_sandbox_lock_record (sb);
      if (vc_sandbox_record_find (r, c->id, &index))
        g_ptr_array_remove_index (r->containers, index);
      vc_sandbox_unlock_record (sb);
      g_mutex_lock (&c->mutex);
      c->last->state = VC_CONTAINER_STOPPED;
      g_mutex_unlock (&c->mutex);
      vc_sandbox_queue_notify (sb, c->id);
      ok = vc_sandbox_op_save (&op, error);
      /* OCI: poststop once the container is gone; failures are warnings. */
      vc_hooks_run_saved (vc_sandbox_get_dir (sb), c->id, VC_HOOK_POSTSTOP, "stopped", 0, TRUE);
    }
  vc_sandbox_op_end (&op);
  return ok;
}

/* ---- getters ----------------------------------------------------------- */

const char *
vc_container_get_id (VcContainer *c)
{
  return c->id;
}

const char *
vc_container_get_bundle (VcContainer *c)
{
  return c->bundle;
}

VcSandbox *
vc_container_get_sandbox (VcContainer *c)
{
  return c->sandbox;
}

#define LAST_FIELD(type, field)           \
  vc_container_snapshot (c);                           \
  g_mutex_lock (&c->mutex);               \
  type value = c->last->field;            \
  g_mutex_unlock (&c->mutex);             \
  return value

VcContainerState
vc_container_get_state (VcContainer *c)
{
  LAST_FIELD (VcContainerState, state);
}

gboolean
vc_container_get_terminal (VcContainer *c)
{
  LAST_FIELD (gboolean, terminal);
}

gint
vc_container_get_pid (VcContainer *c)
{
  LAST_FIELD (gint, pid);
}

int
vc_container_get_exit_status (VcContainer *c)
{
  LAST_FIELD (int, exit_status);
}

gint64
vc_container_get_created (VcContainer *c)
{
  LAST_FIELD (gint64, created);
}

