/* libvcrun: the sandbox object — construction, load and list, state
 * changes under the per-sandbox lock, stop, delete, getters. */
#include "config.h"

#include "sandbox-impl.h"
#include "owner-client.h"
#include "hooks.h"
#include "host-cgroup.h"
#include "container-devices.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* ---- construction ------------------------------------------------------ */

VcSandbox *
vc_sandbox_new_handle (VcRuntime *runtime, const char *id, VcSandboxRecord *record)
{
  VcSandbox *sb = g_new0 (VcSandbox, 1);
  sb->ref_count = 1;
  sb->runtime = vc_runtime_ref (runtime);
  sb->id = g_strdup (id);
  sb->dir = g_build_filename (vc_runtime_get_state_dir (runtime), id, NULL);
  sb->lock_path = g_build_filename (sb->dir, "lock", NULL);
  g_mutex_init (&sb->op_mutex);
  g_mutex_init (&sb->state_mutex);
  sb->record = record;
  sb->notify_queue = g_ptr_array_new_with_free_func (g_free);
  sb->boot_timeout_ms = DEFAULT_BOOT_TIMEOUT_MS;
  sb->stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
  return sb;
}

VcSandbox *
vc_sandbox_ref (VcSandbox *sb)
{
  g_atomic_int_inc (&sb->ref_count);
  return sb;
}

void
vc_sandbox_unref (VcSandbox *sb)
{
  if (sb == NULL || !g_atomic_int_dec_and_test (&sb->ref_count))
    return;
  vc_sandbox_finalize (sb);
}

void
vc_sandbox_finalize (VcSandbox *sb)
{
  /* No event may start using sb from here on. */
  g_mutex_lock (&sb->state_mutex);
  sb->finalizing = TRUE;
  g_mutex_unlock (&sb->state_mutex);
  vc_sandbox_op_lock (sb);
  if (sb->vm)
    sb->hv->free_vm (sb->vm);
  if (sb->share && sb->fs->free_share)
    sb->fs->free_share (sb->share);
  vc_sandbox_network_free (sb);
  /* Never claimed: the VM keeps the disks until it stops. */
  g_clear_pointer (&sb->cold_devices, vc_container_devices_free);
  vc_sandbox_op_unlock (sb);
  vc_agent_ref_release (sb->agent);

  if (sb->changed_destroy)
    sb->changed_destroy (sb->changed_data);
  g_ptr_array_unref (sb->notify_queue);
  vc_sandbox_record_free (sb->record);
  g_free (sb->pending_stop_reason);
  g_free (sb->template_dir);
  g_free (sb->cold_bundle);
  g_free (sb->cold_container_id);
  g_mutex_clear (&sb->op_mutex);
  g_mutex_clear (&sb->state_mutex);
  g_free (sb->lock_path);
  g_free (sb->dir);
  g_free (sb->id);
  vc_runtime_unref (sb->runtime);
  g_free (sb);
}

/* ---- load and list ----------------------------------------------------- */

VcSandbox *
vc_sandbox_load (VcRuntime *runtime, const char *id, GError **error)
{
  if (!vc_id_validate (id, "sandbox", error))
    return NULL;
  g_autofree char *dir = g_build_filename (vc_runtime_get_state_dir (runtime), id, NULL);
  VcSandboxRecord *record = vc_sandbox_read_record (dir, id, error);
  if (record == NULL)
    return NULL;
  return vc_sandbox_new_handle (runtime, id, record);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
vc_sandbox_list (VcRuntime *runtime, GError **error)
{
  const char *root = vc_runtime_get_state_dir (runtime);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) local = NULL;
  g_autoptr(GDir) dir = g_dir_open (root, 0, &local);

  if (dir == NULL)
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&ids);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot list %s: %s", root, local->message);
      return NULL;
    }
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (!vc_id_validate (name, "sandbox", NULL))
        continue;
      g_autofree char *file = g_build_filename (root, name, VC_STATE_FILE, NULL);
      if (g_file_test (file, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (ids, g_strdup (name));
    }
  g_ptr_array_sort (ids, compare_strings);
  return g_steal_pointer (&ids);
}

gboolean
vc_sandbox_refresh (VcSandbox *sb, GError **error)
{
  return vc_sandbox_reload (sb, error);
}

/* ---- state changes ----------------------------------------------------- */

gboolean
vc_sandbox_claim_ownership (VcSandbox *sb, GError **error)
{
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;
  g_mutex_lock (&sb->state_mutex);
  sb->record->owner_pid = (gint) getpid ();
  g_mutex_unlock (&sb->state_mutex);
  gboolean ok = vc_sandbox_op_save (&op, error);
  vc_sandbox_op_end (&op);
  return ok;
}

static void
set_state (VcSandbox *sb, VcSandboxState state)
{
  g_mutex_lock (&sb->state_mutex);
  sb->record->state = state;
  vc_sandbox_queue_notify_locked (sb, NULL);
  g_mutex_unlock (&sb->state_mutex);
}

gboolean
vc_sandbox_start (VcSandbox *sb, GError **error)
{
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;
  gboolean ok = vc_sandbox_require_state (sb, VC_SANDBOX_MASK (VC_SANDBOX_READY), error);
  if (ok)
    {
      set_state (sb, VC_SANDBOX_RUNNING);
      ok = vc_sandbox_op_save (&op, error);
    }
  vc_sandbox_op_end (&op);
  return ok;
}

static gboolean
pause_or_resume (VcSandbox *sb, gboolean pause, GError **error)
{
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;
  VcSandboxState from = pause ? VC_SANDBOX_RUNNING : VC_SANDBOX_PAUSED;
  gboolean ok = vc_sandbox_require_state (sb, VC_SANDBOX_MASK (from), error)
                && vc_sandbox_resolve_plugins (sb, error);
  if (ok)
    {
      const char *method = pause ? "pause_vm" : "resume_vm";
      gboolean (*fn) (VcVm *, GError **) = pause ? sb->hv->pause_vm : sb->hv->resume_vm;
      VcVm *vm = NULL;
      if (fn == NULL)
        ok = vc_sandbox_unsupported (sb->hv_plugin->name, method, error);
      else if ((vm = vc_sandbox_ensure_vm (sb, error)) == NULL)
        {
          if (error && *error == NULL)
            g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s has no VM", sb->id);
          ok = FALSE;
        }
      else if (!fn (vm, error))
        {
          g_prefix_error (error, "sandbox %s: %s: ", sb->id, method);
          ok = FALSE;
        }
    }
  if (ok)
    {
      set_state (sb, pause ? VC_SANDBOX_PAUSED : VC_SANDBOX_RUNNING);
      ok = vc_sandbox_op_save (&op, error);
    }
  vc_sandbox_op_end (&op);
  return ok;
}

gboolean
vc_sandbox_pause (VcSandbox *sb, GError **error)
{
  return pause_or_resume (sb, TRUE, error);
}

gboolean
vc_sandbox_resume (VcSandbox *sb, GError **error)
{
  return pause_or_resume (sb, FALSE, error);
}

/* Stops the VM (attaching if needed) and forgets its saved state. op held. */
static gboolean
stop_vm_and_forget (VcSandbox *sb, gboolean tolerate_attach_failure, gboolean quiesced,
                    GError **error)
{
  g_autoptr(GError) local = NULL;

  if (!vc_sandbox_resolve_plugins (sb, error))
    return FALSE;
  VcVm *vm = vc_sandbox_ensure_vm (sb, &local);
  if (vm == NULL && local)
    {
      /* VC_ERROR_STOPPED: the plugin knows the VM is gone (a crash killed it
       * with its owner), which is what stopping wants. */
      if (!tolerate_attach_failure && !g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      /* A sandbox already marked stopped whose VM cannot be found: gone. */
      g_debug ("sandbox %s: %s; taking the VM as gone", sb->id, local->message);
    }
  else if (vm == NULL && !tolerate_attach_failure && sb->hv->save_state == NULL)
    {
      /* Nothing saved to reattach with: the VM may well run on. */
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "sandbox %s: plugin %s cannot reattach to the VM to stop it; only the "
                   "process that created the sandbox can", sb->id, sb->hv_plugin->name);
      return FALSE;
    }
  if (vm)
    {
      if (!vc_sandbox_stop_vm_on_purpose (sb, vm, quiesced, error))
        {
          g_prefix_error (error, "sandbox %s: stop_vm: ", sb->id);
          return FALSE;
        }
      sb->hv->free_vm (vm);
      sb->vm = NULL;
    }
  g_mutex_lock (&sb->state_mutex);
  g_clear_pointer (&sb->record->hypervisor_state, g_free);
  sb->pending_vm_gone = FALSE;
  g_mutex_unlock (&sb->state_mutex);
  return TRUE;
}

/* fs cleanup (attaching if needed), then forgets its saved state. op held. */
static gboolean
cleanup_fs_and_forget (VcSandbox *sb, GError **error)
{
  g_mutex_lock (&sb->state_mutex);
  gboolean has_state = sb->record->fs_state != NULL;
  g_mutex_unlock (&sb->state_mutex);
  if (sb->share == NULL && !has_state)
    return TRUE;  /* cleaned up already, or nothing was shared */

  VcFsShare *share = NULL;
  const VcFsOps *fs = vc_sandbox_ensure_fs (sb, &share, error);
  if (fs == NULL)
    return FALSE;
  if (fs->cleanup && !fs->cleanup (share, error))
    {
      g_prefix_error (error, "sandbox %s: fs cleanup: ", sb->id);
      return FALSE;
    }
  if (fs->free_share)
    fs->free_share (share);
  sb->share = NULL;
  g_mutex_lock (&sb->state_mutex);
  g_clear_pointer (&sb->record->fs_state, g_free);
  g_mutex_unlock (&sb->state_mutex);
  return TRUE;
}

/* The body of stop; op held, state checked. */
static gboolean
do_stop (VcSandbox *sb, const char *reason, GError **error)
{
  /* Only a process already connected (the owner) tells the agent; others
   * must not take over the agent channel just to stop. */
  g_mutex_lock (&sb->state_mutex);
  VcAgentRef *ref = sb->agent ? vc_agent_ref_acquire (sb->agent) : NULL;
  g_mutex_unlock (&sb->state_mutex);
  gboolean quiesced = FALSE;
  if (ref)
    {
      g_autoptr(GError) local = NULL;
      if (ref->ops->destroy_sandbox)
        {
          quiesced = ref->ops->destroy_sandbox (ref->conn, &local);
          if (!quiesced)
            g_debug ("sandbox %s: destroy_sandbox: %s", sb->id, local->message);
        }
      vc_agent_ref_release (ref);
    }
  vc_sandbox_drop_agent (sb);

  if (!stop_vm_and_forget (sb, FALSE, quiesced, error))
    return FALSE;

  g_mutex_lock (&sb->state_mutex);
  /* A stop event racing with ours says nothing new: ours is the reason. */
  g_clear_pointer (&sb->pending_stop_reason, g_free);
  sb->pending_stop_vm = FALSE;
  vc_sandbox_mark_stopped_locked (sb, reason);
  g_free (sb->record->reason);
  sb->record->reason = g_strdup (reason);
  g_mutex_unlock (&sb->state_mutex);

  /* The VM is gone: record that even if the cleanup below fails (delete
   * retries it). */
  g_autoptr(GError) cleanup_error = NULL;
  gboolean cleaned = cleanup_fs_and_forget (sb, &cleanup_error);
  g_autoptr(GError) save_error = NULL;
  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_write_record_locked (sb, &save_error);
  g_mutex_unlock (&sb->state_mutex);
  if (!cleaned)
    {
      g_propagate_error (error, g_steal_pointer (&cleanup_error));
      return FALSE;
    }
  if (save_error)
    {
      g_propagate_error (error, g_steal_pointer (&save_error));
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_sandbox_stop (VcSandbox *sb, GError **error)
{
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;
  gboolean ok = vc_sandbox_require_state (sb, VC_SANDBOX_MASK (VC_SANDBOX_READY)
                                              | VC_SANDBOX_MASK (VC_SANDBOX_RUNNING)
                                              | VC_SANDBOX_MASK (VC_SANDBOX_PAUSED), error)
                && do_stop (sb, "stopped by request", error);
  vc_sandbox_op_end (&op);
  return ok;
}

/* The containers still recorded die with the VM: their poststop hooks run
 * now, before the state dir (which keeps them) goes. */
static void
run_poststop_hooks (VcSandbox *sb)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_mutex_lock (&sb->state_mutex);
  for (guint i = 0; i < sb->record->containers->len; i++)
    {
      VcContainerRecord *rec = sb->record->containers->pdata[i];
      g_ptr_array_add (ids, g_strdup (rec->id));
    }
  g_mutex_unlock (&sb->state_mutex);
  for (guint i = 0; i < ids->len; i++)
    vc_hooks_run_saved (sb->dir, ids->pdata[i], VC_HOOK_POSTSTOP, "stopped", 0, TRUE);
}

gboolean
vc_sandbox_delete (VcSandbox *sb, gboolean force, GError **error)
{
  VcSandboxOp op;
  if (!vc_sandbox_op_begin (sb, &op, error))
    return FALSE;

  gboolean ok = TRUE;
  if (!vc_sandbox_require_state (sb, VC_SANDBOX_MASK (VC_SANDBOX_STOPPED), force ? NULL : error))
    {
      if (force)
        ok = do_stop (sb, "deleted by request", error);
      else
        ok = FALSE;
    }
  else
    {
      /* Stopped: make sure. The VM may still run (a failed stop, a creator
       * killed half way, an fs daemon that died) or be gone already. */
      vc_sandbox_drop_agent (sb);
      ok = stop_vm_and_forget (sb, TRUE, FALSE, error) && cleanup_fs_and_forget (sb, error);
      if (!ok)
        {
          g_autoptr(GError) ignored = NULL;
          vc_sandbox_op_save (&op, &ignored);
        }
    }

  if (ok)
    ok = vc_sandbox_network_cleanup (sb, error);
  if (ok)
    {
      /* the VM and its helpers are gone: their host cgroup can go */
      vc_host_cgroup_release ();
      run_poststop_hooks (sb);
    }
  if (ok)
    ok = vc_state_remove_dir (sb->dir, error);
  if (ok)
    {
      g_mutex_lock (&sb->state_mutex);
      sb->deleted = TRUE;
      sb->record->state = VC_SANDBOX_STOPPED;
      if (sb->record->reason == NULL)
        sb->record->reason = g_strdup ("deleted");
      g_clear_pointer (&sb->pending_stop_reason, g_free);
      vc_sandbox_queue_notify_locked (sb, NULL);
      g_mutex_unlock (&sb->state_mutex);
    }
  vc_sandbox_op_end (&op);
  return ok;
}

/* ---- getters ----------------------------------------------------------- */

const char *
vc_sandbox_get_id (VcSandbox *sb)
{
  return sb->id;
}

VcSandboxState
vc_sandbox_get_state (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  VcSandboxState state = sb->record->state;
  g_mutex_unlock (&sb->state_mutex);
  return state;
}

char *
vc_sandbox_dup_reason (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  char *reason = sb->record->state == VC_SANDBOX_STOPPED ? g_strdup (sb->record->reason) : NULL;
  g_mutex_unlock (&sb->state_mutex);
  return reason;
}

gboolean
vc_sandbox_is_being_created (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  gint64 pid = 0;
  if (sb->record->state == VC_SANDBOX_STOPPED && sb->record->reason
      && g_str_has_prefix (sb->record->reason, CREATING_REASON))
    pid = g_ascii_strtoll (sb->record->reason + strlen (CREATING_REASON), NULL, 10);
  g_mutex_unlock (&sb->state_mutex);
  return pid > 0 && pid <= G_MAXINT && vc_owner_pid_alive ((gint) pid);
}

char *
vc_sandbox_get_owner_socket (VcSandbox *sb)
{
  return g_build_filename (sb->dir, "owner.sock", NULL);
}

/* The plugin names never change after create; the record keeps them. */
#define RECORD_FIELD(type, field)                      \
  g_mutex_lock (&sb->state_mutex);                     \
  type value = sb->record->field;                      \
  g_mutex_unlock (&sb->state_mutex);                   \
  return value
/* A copy: the record is replaced by every operation. */
#define RECORD_STRING(field)                           \
  g_mutex_lock (&sb->state_mutex);                     \
  char *value = g_strdup (sb->record->field);          \
  g_mutex_unlock (&sb->state_mutex);                   \
  return value

char *
vc_sandbox_dup_hypervisor_name (VcSandbox *sb)
{
  RECORD_STRING (hypervisor);
}

char *
vc_sandbox_dup_agent_name (VcSandbox *sb)
{
  RECORD_STRING (agent);
}

char *
vc_sandbox_dup_fs_name (VcSandbox *sb)
{
  RECORD_STRING (fs);
}

guint
vc_sandbox_get_vcpus (VcSandbox *sb)
{
  RECORD_FIELD (guint, vcpus);
}

guint64
vc_sandbox_get_memory_mib (VcSandbox *sb)
{
  RECORD_FIELD (guint64, memory_mib);
}

gint64
vc_sandbox_get_created (VcSandbox *sb)
{
  RECORD_FIELD (gint64, created);
}

guint
vc_sandbox_get_owner_uid (VcSandbox *sb)
{
  RECORD_FIELD (guint, owner_uid);
}

gint
vc_sandbox_get_owner_pid (VcSandbox *sb)
{
  RECORD_FIELD (gint, owner_pid);
}

GArray *
vc_sandbox_get_pids (VcSandbox *sb, GError **error)
{
  vc_sandbox_op_lock (sb);
  GArray *pids = NULL;
  if (vc_sandbox_resolve_plugins (sb, error))
    {
      VcVm *vm = vc_sandbox_ensure_vm (sb, error);
      if (vm == NULL && error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s has no VM", sb->id);
      else if (vm && sb->hv->get_pids == NULL)
        vc_sandbox_unsupported (sb->hv_plugin->name, "get_pids", error);
      else if (vm)
        pids = sb->hv->get_pids (vm, error);
    }
  vc_sandbox_op_unlock (sb);
  return pids;
}

/* The sandbox's processes on the host, as `vcrun ps --format json` lists
 * them: the VMM and the hypervisor's helpers (get_pids), then the fs-sharer's
 * (virtiofsd). Not the owner: a vcrun supervisor adds itself, vcrund is
 * shared by every sandbox it runs. */
GArray *
vc_sandbox_get_host_pids (VcSandbox *sb, GError **error)
{
  g_autoptr(GArray) pids = vc_sandbox_get_pids (sb, error);
  if (pids == NULL)
    return NULL;
  vc_sandbox_op_lock (sb);
  VcFsShare *share = NULL;
  const VcFsOps *fs = NULL;
  g_autoptr(GError) local = NULL;
  if (vc_sandbox_resolve_plugins (sb, NULL) && sb->fs->get_pids != NULL)
    fs = vc_sandbox_ensure_fs (sb, &share, &local);
  g_autoptr(GArray) helpers = fs ? fs->get_pids (share, &local) : NULL;
  vc_sandbox_op_unlock (sb);
  /* A share that cannot say (no saved state to reattach from) leaves the
   * VMM's list as it is: ps still answers. */
  if (local != NULL)
    g_debug ("sandbox %s: no fs helper pids: %s", sb->id, local->message);
  for (guint i = 0; helpers && i < helpers->len; i++)
    {
      gint pid = g_array_index (helpers, gint, i);
      gboolean seen = pid <= 0;
      for (guint j = 0; j < pids->len && !seen; j++)
        seen = g_array_index (pids, gint, j) == pid;
      if (!seen)
        g_array_append_val (pids, pid);
    }
  return g_steal_pointer (&pids);
}

char *
vc_sandbox_get_console_path (VcSandbox *sb)
{
  vc_sandbox_op_lock (sb);
  char *path = NULL;
  if (vc_sandbox_resolve_plugins (sb, NULL) && sb->hv->console_path)
    {
      VcVm *vm = vc_sandbox_ensure_vm (sb, NULL);
      if (vm)
        path = sb->hv->console_path (vm);
    }
  vc_sandbox_op_unlock (sb);
  return path;
}

GPtrArray *
vc_sandbox_list_containers (VcSandbox *sb)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_container_unref);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  g_mutex_lock (&sb->state_mutex);
  for (guint i = 0; i < sb->record->containers->len; i++)
    g_ptr_array_add (ids, g_strdup (((VcContainerRecord *) sb->record->containers->pdata[i])->id));
  g_mutex_unlock (&sb->state_mutex);
  for (guint i = 0; i < ids->len; i++)
    g_ptr_array_add (list, vc_container_new_handle (sb, ids->pdata[i]));
  return list;
}

VcContainer *
vc_sandbox_get_container (VcSandbox *sb, const char *id, GError **error)
{
  g_mutex_lock (&sb->state_mutex);
  gboolean found = vc_sandbox_record_find (sb->record, id, NULL) != NULL;
  g_mutex_unlock (&sb->state_mutex);
  if (!found)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s has no container %s",
                   sb->id, id);
      return NULL;
    }
  return vc_container_new_handle (sb, id);
}

const char *
vc_sandbox_get_dir (VcSandbox *sb)
{
  return sb->dir;
}
