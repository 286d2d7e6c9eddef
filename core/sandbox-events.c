/* libvcrun: a sandbox's op lock, its record and the stops that plugin
 * events leave pending, VM and fs events, change notifications. */
#include "config.h"

#include "sandbox-impl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

void
vc_sandbox_op_lock (VcSandbox *sb)
{
  g_mutex_lock (&sb->op_mutex);
  g_atomic_pointer_set (&sb->op_thread, g_thread_self ());
}

gboolean
vc_sandbox_op_trylock (VcSandbox *sb)
{
  /* A plugin may send an event from inside a call the op is making. */
  if (g_atomic_pointer_get (&sb->op_thread) == g_thread_self ())
    return FALSE;
  if (!g_mutex_trylock (&sb->op_mutex))
    return FALSE;
  g_atomic_pointer_set (&sb->op_thread, g_thread_self ());
  return TRUE;
}

void
vc_sandbox_op_unlock (VcSandbox *sb)
{
  g_atomic_pointer_set (&sb->op_thread, NULL);
  g_mutex_unlock (&sb->op_mutex);
}

/* ---- agent connection references --------------------------------------- */

VcAgentRef *
vc_agent_ref_acquire (VcAgentRef *ref)
{
  g_atomic_int_inc (&ref->ref_count);
  return ref;
}

void
vc_agent_ref_release (VcAgentRef *ref)
{
  if (ref == NULL || !g_atomic_int_dec_and_test (&ref->ref_count))
    return;
  if (ref->ops->disconnect)
    ref->ops->disconnect (ref->conn);
  g_free (ref);
}

/* Drops the sandbox's own reference; users in flight keep theirs. */
void
vc_sandbox_drop_agent (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  VcAgentRef *ref = g_steal_pointer (&sb->agent);
  g_mutex_unlock (&sb->state_mutex);
  vc_agent_ref_release (ref);
}

/* ---- names and state checks -------------------------------------------- */

char *
vc_state_names_join (const char *const *names, guint n)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append (s, i + 1 == n ? " or " : ", ");
      g_string_append (s, names[i]);
    }
  return g_string_free (s, FALSE);
}

gboolean
vc_sandbox_require_state (VcSandbox *sb, guint accepted, GError **error)
{
  g_mutex_lock (&sb->state_mutex);
  VcSandboxState state = sb->record->state;
  g_mutex_unlock (&sb->state_mutex);

  if (accepted & VC_SANDBOX_MASK (state))
    return TRUE;
  const char *names[4];
  guint n = 0;
  for (int s = VC_SANDBOX_READY; s <= VC_SANDBOX_STOPPED; s++)
    if (accepted & VC_SANDBOX_MASK (s))
      names[n++] = vc_sandbox_state_to_string (s);
  g_autofree char *expected = vc_state_names_join (names, n);
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "sandbox %s is %s, expected %s",
               sb->id, vc_sandbox_state_to_string (state), expected);
  return FALSE;
}

/* ---- notifications ----------------------------------------------------- */

void
vc_sandbox_queue_notify (VcSandbox *sb, const char *container_id)
{
  /* Called with state_mutex held or not; it is not recursive, so callers
   * inside the lock use vc_sandbox_queue_notify_locked. */
  g_mutex_lock (&sb->state_mutex);
  g_ptr_array_add (sb->notify_queue, g_strdup (container_id ? container_id : ""));
  g_mutex_unlock (&sb->state_mutex);
}

void
vc_sandbox_queue_notify_locked (VcSandbox *sb, const char *container_id)
{
  g_ptr_array_add (sb->notify_queue, g_strdup (container_id ? container_id : ""));
}

static void
deliver_notifications (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  VcSandboxChangedFunc func = sb->changed_func;
  gpointer data = sb->changed_data;
  g_autoptr(GPtrArray) queue = sb->notify_queue;
  sb->notify_queue = g_ptr_array_new_with_free_func (g_free);
  g_mutex_unlock (&sb->state_mutex);

  if (func == NULL)
    return;
  for (guint i = 0; i < queue->len; i++)
    {
      const char *id = queue->pdata[i];
      if (id[0] == '\0')
        func (sb, NULL, data);
      else
        {
          g_autoptr(VcContainer) c = vc_container_new_handle (sb, id);
          func (sb, c, data);
        }
    }
}

void
vc_sandbox_set_changed_func (VcSandbox *sb, VcSandboxChangedFunc func, gpointer user_data,
                             GDestroyNotify destroy)
{
  g_mutex_lock (&sb->state_mutex);
  GDestroyNotify old_destroy = sb->changed_destroy;
  gpointer old_data = sb->changed_data;
  sb->changed_func = func;
  sb->changed_data = user_data;
  sb->changed_destroy = destroy;
  g_mutex_unlock (&sb->state_mutex);
  if (old_destroy)
    old_destroy (old_data);
}

/* ---- records and pending events ---------------------------------------- */

VcSandboxRecord *
vc_sandbox_lock_record (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  return sb->record;
}

void
vc_sandbox_unlock_record (VcSandbox *sb)
{
  g_mutex_unlock (&sb->state_mutex);
}

/* Marks the record stopped for reason; containers stop too. Returns whether
 * anything changed. state_mutex held. */
gboolean
vc_sandbox_mark_stopped_locked (VcSandbox *sb, const char *reason)
{
  gboolean changed = FALSE;
  if (sb->record->state != VC_SANDBOX_STOPPED)
    {
      sb->record->state = VC_SANDBOX_STOPPED;
      g_free (sb->record->reason);
      sb->record->reason = g_strdup (reason);
      vc_sandbox_queue_notify_locked (sb, NULL);
      changed = TRUE;
    }
  for (guint i = 0; i < sb->record->containers->len; i++)
    {
      VcContainerRecord *c = sb->record->containers->pdata[i];
      if (c->state != VC_CONTAINER_STOPPED)
        {
          c->state = VC_CONTAINER_STOPPED;
          vc_sandbox_queue_notify_locked (sb, c->id);
          changed = TRUE;
        }
    }
  return changed;
}

/* Applies an event's stop to the in-memory record. state_mutex held. */
gboolean
vc_sandbox_apply_pending_locked (VcSandbox *sb)
{
  if (sb->pending_stop_reason == NULL)
    return FALSE;
  gboolean changed = vc_sandbox_mark_stopped_locked (sb, sb->pending_stop_reason);
  if (sb->pending_vm_gone && sb->record->hypervisor_state)
    {
      /* Nothing left to reattach to. */
      g_clear_pointer (&sb->record->hypervisor_state, g_free);
      changed = TRUE;
    }
  return changed;
}

void
vc_sandbox_write_record_locked (VcSandbox *sb, GError **error)
{
  vc_state_write (sb->dir, sb->record, error);
}

/* stop_vm on purpose: the VM's "stopped" event that comes with it is no
 * news and must not replace the reason the caller records. A quiesced guest
 * (the agent's DestroySandbox answered: containers gone, every mount it
 * made undone) has nothing left to flush, so it is not asked to power off
 * first. op_mutex held. */
gboolean
vc_sandbox_stop_vm_on_purpose (VcSandbox *sb, VcVm *vm, gboolean quiesced, GError **error)
{
  g_mutex_lock (&sb->state_mutex);
  sb->stopping = TRUE;
  g_mutex_unlock (&sb->state_mutex);
  gboolean ok = sb->hv->stop_vm (vm, quiesced ? 0 : sb->stop_timeout_ms, error);
  g_mutex_lock (&sb->state_mutex);
  sb->stopping = FALSE;
  g_mutex_unlock (&sb->state_mutex);
  return ok;
}

/* Persists a pending event and does what it asks (stop the VM). op_mutex
 * held; lock_timeout_ms bounds the wait for another process. The stop is
 * written first, so that others see it at once even if the VM takes its
 * graceful timeout to go. */
static void
process_pending (VcSandbox *sb, VcLock *held_lock, guint lock_timeout_ms)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcLock) own_lock = NULL;
  g_autofree char *what = g_strdup_printf ("sandbox %s", sb->id);

  g_mutex_lock (&sb->state_mutex);
  gboolean pending = sb->pending_stop_reason != NULL;
  gboolean stop_vm = sb->pending_stop_vm;
  gboolean deleted = sb->deleted;
  g_mutex_unlock (&sb->state_mutex);
  if (!pending || deleted)
    return;

  gboolean locked = held_lock != NULL;
  if (!locked)
    {
      own_lock = vc_lock_acquire (sb->lock_path, what, lock_timeout_ms, &error);
      g_autoptr(VcSandboxRecord) fresh = own_lock ? vc_state_read (sb->dir, &error) : NULL;
      if (fresh)
        {
          g_mutex_lock (&sb->state_mutex);
          vc_sandbox_record_free (sb->record);
          sb->record = g_steal_pointer (&fresh);
          g_mutex_unlock (&sb->state_mutex);
          locked = TRUE;
        }
      else
        {
          /* Stays pending: the next operation persists it. */
          g_debug ("sandbox %s: cannot record the stop yet: %s", sb->id, error->message);
          g_clear_error (&error);
        }
    }
  if (locked)
    {
      g_mutex_lock (&sb->state_mutex);
      vc_sandbox_apply_pending_locked (sb);
      vc_sandbox_write_record_locked (sb, &error);
      g_mutex_unlock (&sb->state_mutex);
      if (error)
        {
          g_warning ("sandbox %s: cannot record that it stopped: %s", sb->id, error->message);
          g_clear_error (&error);
        }
    }

  if (stop_vm && sb->vm && sb->hv->stop_vm)
    {
      if (!vc_sandbox_stop_vm_on_purpose (sb, sb->vm, FALSE, &error))
        {
          g_warning ("sandbox %s: stopping the VM after a failure: %s", sb->id, error->message);
          g_clear_error (&error);
        }
      else
        {
          g_mutex_lock (&sb->state_mutex);
          sb->pending_vm_gone = TRUE;
          sb->pending_stop_vm = FALSE;
          g_mutex_unlock (&sb->state_mutex);
        }
    }
  vc_sandbox_drop_agent (sb);

  if (!locked)
    return;
  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_apply_pending_locked (sb);   /* the VM gone: forget its saved state */
  vc_sandbox_write_record_locked (sb, &error);
  if (error == NULL)
    {
      g_clear_pointer (&sb->pending_stop_reason, g_free);
      sb->pending_vm_gone = FALSE;
      sb->pending_stop_vm = FALSE;
    }
  g_mutex_unlock (&sb->state_mutex);
  if (error)
    g_warning ("sandbox %s: cannot record that it stopped: %s", sb->id, error->message);
}

/* After op_mutex was released: an event may have arrived while it was held
 * and found it taken. Take it now if free; if not, its holder will see the
 * event in its own op_end. */
void
vc_sandbox_process_pending_after_unlock (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  gboolean pending = sb->pending_stop_reason != NULL && !sb->deleted && !sb->finalizing;
  g_mutex_unlock (&sb->state_mutex);
  /* One try: if the lock stays taken, the next operation persists it. */
  if (pending && vc_sandbox_op_trylock (sb))
    {
      process_pending (sb, NULL, EVENT_LOCK_TIMEOUT_MS);
      vc_sandbox_op_unlock (sb);
    }
}

/* Events run on plugin threads, which freeing the plugin handles may join:
 * an event holds a reference so the sandbox cannot be finalised under it,
 * and if it drops the last one, the finalising moves to a thread of its own. */

static gboolean
ref_if_alive (VcSandbox *sb)
{
  for (;;)
    {
      gint count = g_atomic_int_get (&sb->ref_count);
      if (count <= 0)
        return FALSE;
      if (g_atomic_int_compare_and_exchange (&sb->ref_count, count, count + 1))
        return TRUE;
    }
}

static gpointer
finalize_thread (gpointer data)
{
  vc_sandbox_finalize (data);
  return NULL;
}

static void
unref_from_event (VcSandbox *sb)
{
  if (g_atomic_int_dec_and_test (&sb->ref_count))
    g_thread_unref (g_thread_new ("vc-sandbox-free", finalize_thread, sb));
}

/* Event from a plugin, from any thread. */
static void
stop_event (VcSandbox *sb, const char *reason, gboolean vm_gone, gboolean stop_vm)
{
  if (!ref_if_alive (sb))
    return;
  g_mutex_lock (&sb->state_mutex);
  /* While creating, the record reads "stopped" already: the event counts. */
  if (sb->finalizing || sb->deleted || sb->stopping
      || (sb->record->state == VC_SANDBOX_STOPPED && !sb->creating)
      || sb->pending_stop_reason != NULL)
    {
      if (vm_gone && sb->pending_stop_reason != NULL)
        sb->pending_vm_gone = TRUE;
      g_mutex_unlock (&sb->state_mutex);
      unref_from_event (sb);
      return;
    }
  sb->pending_stop_reason = g_strdup (reason);
  sb->pending_vm_gone = vm_gone;
  sb->pending_stop_vm = stop_vm;
  vc_sandbox_apply_pending_locked (sb);
  g_mutex_unlock (&sb->state_mutex);

  g_info ("sandbox %s stopped: %s", sb->id, reason);
  if (vc_sandbox_op_trylock (sb))
    {
      process_pending (sb, NULL, EVENT_LOCK_TIMEOUT_MS);
      vc_sandbox_op_unlock (sb);
    }
  deliver_notifications (sb);
  unref_from_event (sb);
}

void
vc_sandbox_on_vm_event (VcVmEvent event, const char *detail, gpointer user_data)
{
  VcSandbox *sb = user_data;
  if (event != VC_VM_EVENT_STOPPED)
    {
      g_debug ("sandbox %s: VM event %d (%s)", sb->id, event, detail ? detail : "");
      return;
    }
  g_autofree char *reason = g_strdup_printf ("the VM stopped: %s", detail ? detail : "unknown");
  stop_event (sb, reason, TRUE, FALSE);
}

void
vc_sandbox_on_fs_event (VcFsEvent event, const char *detail, gpointer user_data)
{
  VcSandbox *sb = user_data;
  if (event != VC_FS_EVENT_DAEMON_DIED)
    return;
  g_autofree char *reason = g_strdup_printf ("the file sharing daemon died: %s",
                                             detail ? detail : "unknown");
  stop_event (sb, reason, FALSE, TRUE);
}

VcSandboxRecord *
vc_sandbox_read_record (const char *dir, const char *id, GError **error)
{
  g_autoptr(GError) local = NULL;
  VcSandboxRecord *record = vc_state_read (dir, &local);
  if (record == NULL)
    {
      if (g_error_matches (local, VC_ERROR, VC_ERROR_NOT_FOUND))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s does not exist", id);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  if (g_strcmp0 (record->id, id) != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s/%s: holds sandbox %s, not %s", dir,
                   VC_STATE_FILE, record->id, id);
      vc_sandbox_record_free (record);
      return NULL;
    }
  return record;
}

gboolean
vc_sandbox_reload (VcSandbox *sb, GError **error)
{
  VcSandboxRecord *fresh = vc_sandbox_read_record (sb->dir, sb->id, error);
  if (fresh == NULL)
    return FALSE;
  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_record_free (sb->record);
  sb->record = fresh;
  vc_sandbox_apply_pending_locked (sb);
  g_mutex_unlock (&sb->state_mutex);
  return TRUE;
}

/* ---- operations -------------------------------------------------------- */

gboolean
vc_sandbox_op_begin (VcSandbox *sb, VcSandboxOp *op, GError **error)
{
  g_autofree char *what = g_strdup_printf ("sandbox %s", sb->id);
  g_autoptr(GError) local = NULL;

  op->sandbox = sb;
  op->lock = NULL;
  vc_sandbox_op_lock (sb);

  g_mutex_lock (&sb->state_mutex);
  gboolean deleted = sb->deleted;
  g_mutex_unlock (&sb->state_mutex);
  if (deleted)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s has been deleted", sb->id);
      goto fail;
    }

  op->lock = vc_lock_acquire (sb->lock_path, what, vc_runtime_get_lock_timeout (sb->runtime),
                              &local);
  if (op->lock == NULL)
    {
      if (g_error_matches (local, VC_ERROR, VC_ERROR_NOT_FOUND))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s does not exist", sb->id);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      goto fail;
    }

  /* Another process may have changed it since we last looked. */
  if (!vc_sandbox_reload (sb, error))
    goto fail;
  return TRUE;

fail:
  g_clear_pointer (&op->lock, vc_lock_release);
  vc_sandbox_op_unlock (sb);
  op->sandbox = NULL;
  return FALSE;
}

gboolean
vc_sandbox_op_save (VcSandboxOp *op, GError **error)
{
  return vc_sandbox_save (op->sandbox, error);
}

gboolean
vc_sandbox_save (VcSandbox *sb, GError **error)
{
  GError *local = NULL;

  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_write_record_locked (sb, &local);
  g_mutex_unlock (&sb->state_mutex);
  if (local)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  return TRUE;
}

void
vc_sandbox_op_end (VcSandboxOp *op)
{
  VcSandbox *sb = op->sandbox;
  if (sb == NULL)
    return;
  process_pending (sb, op->lock, 0);
  g_clear_pointer (&op->lock, vc_lock_release);
  vc_sandbox_op_unlock (sb);
  op->sandbox = NULL;
  vc_sandbox_process_pending_after_unlock (sb);
  deliver_notifications (sb);
}
