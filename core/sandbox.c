/* libvcrun: sandbox lifecycle — create with rollback, state changes under
 * the per-sandbox lock, lazy reattach, VM and fs events. */
#include "config.h"

#include "sandbox-private.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define DEFAULT_BOOT_TIMEOUT_MS 120000
#define CREATING_REASON "being created by process "
#define DEFAULT_STOP_TIMEOUT_MS 5000
#define DEFAULT_VCPUS 1
#define DEFAULT_MEMORY_MIB 256
/* An event handler persisting a stop waits this long for another process's lock. */
#define EVENT_LOCK_TIMEOUT_MS 2000

struct VcSandbox {
  gint       ref_count;
  VcRuntime *runtime;
  char      *id;
  char      *dir;
  char      *lock_path;

  GMutex     op_mutex;
  GThread   *op_thread;   /* holder of op_mutex (atomic): an event from it must not trylock */
  GMutex     state_mutex;

  /* Under state_mutex. */
  VcSandboxRecord *record;
  gboolean   deleted;
  gboolean   finalizing;
  gboolean   creating;             /* vc_sandbox_create has not returned yet */
  gboolean   stopping;             /* we are stopping the VM: its event is expected */
  char      *pending_stop_reason;  /* an event's stop, to persist */
  gboolean   pending_vm_gone;      /* ... and the VM is gone already */
  gboolean   pending_stop_vm;      /* ... and the VM must be stopped (fs daemon died) */
  GPtrArray *notify_queue;         /* char*: container IDs, "" for the sandbox */
  VcAgentRef *agent;               /* the connection, once made */

  /* Under op_mutex. */
  VcPlugin  *hv_plugin;
  VcPlugin  *agent_plugin;
  VcPlugin  *fs_plugin;
  const VcHypervisorOps *hv;
  const VcAgentOps      *agent_ops;
  const VcFsOps         *fs;
  VcVm      *vm;
  VcFsShare *share;

  /* Timeouts (not persisted: another process uses the defaults). */
  guint      boot_timeout_ms;
  guint      agent_timeout_ms;
  guint      stop_timeout_ms;

  VcSandboxChangedFunc changed_func;
  gpointer   changed_data;
  GDestroyNotify changed_destroy;
};

static void process_pending_after_unlock (VcSandbox *sb);

static void
op_lock (VcSandbox *sb)
{
  g_mutex_lock (&sb->op_mutex);
  g_atomic_pointer_set (&sb->op_thread, g_thread_self ());
}

static gboolean
op_trylock (VcSandbox *sb)
{
  /* A plugin may send an event from inside a call the op is making. */
  if (g_atomic_pointer_get (&sb->op_thread) == g_thread_self ())
    return FALSE;
  if (!g_mutex_trylock (&sb->op_mutex))
    return FALSE;
  g_atomic_pointer_set (&sb->op_thread, g_thread_self ());
  return TRUE;
}

static void
op_unlock (VcSandbox *sb)
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
static void
drop_agent (VcSandbox *sb)
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
   * inside the lock use queue_notify_locked. */
  g_mutex_lock (&sb->state_mutex);
  g_ptr_array_add (sb->notify_queue, g_strdup (container_id ? container_id : ""));
  g_mutex_unlock (&sb->state_mutex);
}

static void
queue_notify_locked (VcSandbox *sb, const char *container_id)
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
static gboolean
mark_stopped_locked (VcSandbox *sb, const char *reason)
{
  gboolean changed = FALSE;
  if (sb->record->state != VC_SANDBOX_STOPPED)
    {
      sb->record->state = VC_SANDBOX_STOPPED;
      g_free (sb->record->reason);
      sb->record->reason = g_strdup (reason);
      queue_notify_locked (sb, NULL);
      changed = TRUE;
    }
  for (guint i = 0; i < sb->record->containers->len; i++)
    {
      VcContainerRecord *c = sb->record->containers->pdata[i];
      if (c->state != VC_CONTAINER_STOPPED)
        {
          c->state = VC_CONTAINER_STOPPED;
          queue_notify_locked (sb, c->id);
          changed = TRUE;
        }
    }
  return changed;
}

/* Applies an event's stop to the in-memory record. state_mutex held. */
static gboolean
apply_pending_locked (VcSandbox *sb)
{
  if (sb->pending_stop_reason == NULL)
    return FALSE;
  gboolean changed = mark_stopped_locked (sb, sb->pending_stop_reason);
  if (sb->pending_vm_gone && sb->record->hypervisor_state)
    {
      /* Nothing left to reattach to. */
      g_clear_pointer (&sb->record->hypervisor_state, g_free);
      changed = TRUE;
    }
  return changed;
}

static void
write_record_locked (VcSandbox *sb, GError **error)
{
  vc_state_write (sb->dir, sb->record, error);
}

/* stop_vm on purpose: the VM's "stopped" event that comes with it is no
 * news and must not replace the reason the caller records. op_mutex held. */
static gboolean
stop_vm_on_purpose (VcSandbox *sb, VcVm *vm, GError **error)
{
  g_mutex_lock (&sb->state_mutex);
  sb->stopping = TRUE;
  g_mutex_unlock (&sb->state_mutex);
  gboolean ok = sb->hv->stop_vm (vm, sb->stop_timeout_ms, error);
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
      apply_pending_locked (sb);
      write_record_locked (sb, &error);
      g_mutex_unlock (&sb->state_mutex);
      if (error)
        {
          g_warning ("sandbox %s: cannot record that it stopped: %s", sb->id, error->message);
          g_clear_error (&error);
        }
    }

  if (stop_vm && sb->vm && sb->hv->stop_vm)
    {
      if (!stop_vm_on_purpose (sb, sb->vm, &error))
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
  drop_agent (sb);

  if (!locked)
    return;
  g_mutex_lock (&sb->state_mutex);
  apply_pending_locked (sb);   /* the VM gone: forget its saved state */
  write_record_locked (sb, &error);
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
static void
process_pending_after_unlock (VcSandbox *sb)
{
  g_mutex_lock (&sb->state_mutex);
  gboolean pending = sb->pending_stop_reason != NULL && !sb->deleted && !sb->finalizing;
  g_mutex_unlock (&sb->state_mutex);
  /* One try: if the lock stays taken, the next operation persists it. */
  if (pending && op_trylock (sb))
    {
      process_pending (sb, NULL, EVENT_LOCK_TIMEOUT_MS);
      op_unlock (sb);
    }
}

/* Events run on plugin threads, which freeing the plugin handles may join:
 * an event holds a reference so the sandbox cannot be finalised under it,
 * and if it drops the last one, the finalising moves to a thread of its own. */
static void sandbox_finalize (VcSandbox *sb);

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
  sandbox_finalize (data);
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
  apply_pending_locked (sb);
  g_mutex_unlock (&sb->state_mutex);

  g_info ("sandbox %s stopped: %s", sb->id, reason);
  if (op_trylock (sb))
    {
      process_pending (sb, NULL, EVENT_LOCK_TIMEOUT_MS);
      op_unlock (sb);
    }
  deliver_notifications (sb);
  unref_from_event (sb);
}

static void
on_vm_event (VcVmEvent event, const char *detail, gpointer user_data)
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

static void
on_fs_event (VcFsEvent event, const char *detail, gpointer user_data)
{
  VcSandbox *sb = user_data;
  if (event != VC_FS_EVENT_DAEMON_DIED)
    return;
  g_autofree char *reason = g_strdup_printf ("the file sharing daemon died: %s",
                                             detail ? detail : "unknown");
  stop_event (sb, reason, FALSE, TRUE);
}

/* ---- operations -------------------------------------------------------- */

gboolean
vc_sandbox_op_begin (VcSandbox *sb, VcSandboxOp *op, GError **error)
{
  g_autofree char *what = g_strdup_printf ("sandbox %s", sb->id);
  g_autoptr(GError) local = NULL;
  VcSandboxRecord *fresh = NULL;

  op->sandbox = sb;
  op->lock = NULL;
  op_lock (sb);

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
  fresh = vc_state_read (sb->dir, &local);
  if (fresh == NULL)
    {
      if (g_error_matches (local, VC_ERROR, VC_ERROR_NOT_FOUND))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s does not exist", sb->id);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      goto fail;
    }
  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_record_free (sb->record);
  sb->record = fresh;
  apply_pending_locked (sb);
  g_mutex_unlock (&sb->state_mutex);
  return TRUE;

fail:
  g_clear_pointer (&op->lock, vc_lock_release);
  op_unlock (sb);
  op->sandbox = NULL;
  return FALSE;
}

gboolean
vc_sandbox_op_save (VcSandboxOp *op, GError **error)
{
  VcSandbox *sb = op->sandbox;
  GError *local = NULL;

  g_mutex_lock (&sb->state_mutex);
  write_record_locked (sb, &local);
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
  op_unlock (sb);
  op->sandbox = NULL;
  process_pending_after_unlock (sb);
  deliver_notifications (sb);
}

/* ---- plugins ----------------------------------------------------------- */

static gboolean
resolve_plugins (VcSandbox *sb, GError **error)
{
  if (sb->hv && sb->agent_ops && sb->fs)
    return TRUE;

  VcRegistry *registry = vc_runtime_get_registry (sb->runtime);
  g_mutex_lock (&sb->state_mutex);
  g_autofree char *hv_name = g_strdup (sb->record->hypervisor);
  g_autofree char *agent_name = g_strdup (sb->record->agent);
  g_autofree char *fs_name = g_strdup (sb->record->fs);
  g_mutex_unlock (&sb->state_mutex);

  sb->hv_plugin = vc_registry_lookup (registry, hv_name, VC_PLUGIN_KIND_HYPERVISOR, error);
  if (sb->hv_plugin == NULL)
    return FALSE;
  sb->agent_plugin = vc_registry_lookup (registry, agent_name, VC_PLUGIN_KIND_AGENT, error);
  if (sb->agent_plugin == NULL)
    return FALSE;
  sb->fs_plugin = vc_registry_lookup (registry, fs_name, VC_PLUGIN_KIND_FS, error);
  if (sb->fs_plugin == NULL)
    return FALSE;
  sb->hv = vc_plugin_hypervisor (sb->hv_plugin);
  sb->agent_ops = vc_plugin_agent (sb->agent_plugin);
  sb->fs = vc_plugin_fs (sb->fs_plugin);
  if (sb->hv == NULL || sb->agent_ops == NULL || sb->fs == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_ABI, "sandbox %s: a plugin has no usable vtable",
                   sb->id);
      sb->hv = NULL;
      sb->agent_ops = NULL;
      sb->fs = NULL;
      return FALSE;
    }
  return TRUE;
}

static gboolean
unsupported (const char *plugin, const char *method, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "plugin %s does not support %s",
               plugin, method);
  return FALSE;
}

static void
fill_vm_config (VcSandbox *sb, VcVmConfig *config)
{
  const VcSandboxRecord *r = sb->record;
  *config = (VcVmConfig) {
    .struct_size = sizeof (VcVmConfig),
    .sandbox_id = sb->id,
    .state_dir = sb->dir,
    .vcpus = r->vcpus,
    .max_vcpus = r->max_vcpus,
    .memory_mib = r->memory_mib,
    .max_memory_mib = r->max_memory_mib,
    .kernel = r->kernel,
    .initrd = r->initrd,
    .kernel_params = r->kernel_params,
    .agent_transport = VC_AGENT_TRANSPORT_NONE,
    .event_func = on_vm_event,
    .event_data = sb,
  };
}

static void
fill_fs_config (VcSandbox *sb, VcFsSandboxConfig *config)
{
  guint64 caps = sb->hv->capabilities ? sb->hv->capabilities (sb->hv_plugin->instance) : 0;
  *config = (VcFsSandboxConfig) {
    .struct_size = sizeof (VcFsSandboxConfig),
    .sandbox_id = sb->id,
    .state_dir = sb->dir,
    .hypervisor_caps = caps,
    .event_func = on_fs_event,
    .event_data = sb,
  };
}

/* The VM handle, reattaching from the saved state if this process has none.
 * op_mutex held. NULL without error: there is no VM to attach to. */
static VcVm *
ensure_vm (VcSandbox *sb, GError **error)
{
  if (sb->vm)
    return sb->vm;
  if (!resolve_plugins (sb, error))
    return NULL;

  g_mutex_lock (&sb->state_mutex);
  g_autofree char *saved = g_strdup (sb->record->hypervisor_state);
  VcVmConfig config;
  fill_vm_config (sb, &config);
  /* The record may be replaced by a refresh: keep the strings alive. */
  g_autoptr(VcSandboxRecord) snapshot = vc_sandbox_record_copy (sb->record);
  g_mutex_unlock (&sb->state_mutex);
  config.kernel = snapshot->kernel;
  config.initrd = snapshot->initrd;
  config.kernel_params = snapshot->kernel_params;

  if (saved == NULL)
    return NULL;
  if (sb->hv->attach_vm == NULL)
    {
      unsupported (sb->hv_plugin->name, "attach_vm (reattaching to a running VM)", error);
      return NULL;
    }
  sb->vm = sb->hv->attach_vm (sb->hv_plugin->instance, &config, saved, error);
  if (sb->vm == NULL)
    g_prefix_error (error, "sandbox %s: attach_vm: ", sb->id);
  return sb->vm;
}

const VcFsOps *
vc_sandbox_ensure_fs (VcSandbox *sb, VcFsShare **share, GError **error)
{
  if (!resolve_plugins (sb, error))
    return NULL;
  if (sb->share == NULL)
    {
      g_mutex_lock (&sb->state_mutex);
      g_autofree char *saved = g_strdup (sb->record->fs_state);
      g_mutex_unlock (&sb->state_mutex);
      if (saved == NULL || sb->fs->attach == NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                       "sandbox %s: plugin %s cannot reattach to its share%s", sb->id,
                       sb->fs_plugin->name, saved == NULL ? " (no saved state)" : "");
          return NULL;
        }
      VcFsSandboxConfig config;
      fill_fs_config (sb, &config);
      sb->share = sb->fs->attach (sb->fs_plugin->instance, &config, saved, error);
      if (sb->share == NULL)
        {
          g_prefix_error (error, "sandbox %s: fs attach: ", sb->id);
          return NULL;
        }
    }
  *share = sb->share;
  return sb->fs;
}

/* Connects to the agent over the VM's endpoint. op_mutex held. */
static VcAgentRef *
connect_agent (VcSandbox *sb, GError **error)
{
  VcAgentEndpoint endpoint = { .struct_size = sizeof (VcAgentEndpoint) };

  if (!resolve_plugins (sb, error))
    return NULL;
  VcVm *vm = ensure_vm (sb, error);
  if (vm == NULL)
    {
      if (error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s has no running VM", sb->id);
      return NULL;
    }
  if (sb->hv->get_agent_endpoint == NULL)
    {
      unsupported (sb->hv_plugin->name, "get_agent_endpoint", error);
      return NULL;
    }
  if (!sb->hv->get_agent_endpoint (vm, &endpoint, error))
    {
      g_prefix_error (error, "sandbox %s: get_agent_endpoint: ", sb->id);
      return NULL;
    }
  if (sb->agent_ops->connect == NULL)
    {
      vc_agent_endpoint_clear (&endpoint);
      unsupported (sb->agent_plugin->name, "connect", error);
      return NULL;
    }
  VcAgentConn *conn = sb->agent_ops->connect (sb->agent_plugin->instance, &endpoint,
                                              sb->agent_timeout_ms, error);
  vc_agent_endpoint_clear (&endpoint);
  if (conn == NULL)
    {
      g_prefix_error (error, "sandbox %s: agent connect: ", sb->id);
      return NULL;
    }
  VcAgentRef *ref = g_new0 (VcAgentRef, 1);
  ref->ref_count = 1;
  ref->ops = sb->agent_ops;
  ref->conn = conn;
  return ref;
}

VcAgentRef *
vc_sandbox_get_agent (VcSandbox *sb, gboolean in_op, GError **error)
{
  g_mutex_lock (&sb->state_mutex);
  VcAgentRef *ref = sb->agent ? vc_agent_ref_acquire (sb->agent) : NULL;
  g_mutex_unlock (&sb->state_mutex);
  if (ref)
    return ref;

  if (!in_op)
    op_lock (sb);
  g_mutex_lock (&sb->state_mutex);
  ref = sb->agent ? vc_agent_ref_acquire (sb->agent) : NULL;
  gboolean stopped = sb->record->state == VC_SANDBOX_STOPPED;
  g_mutex_unlock (&sb->state_mutex);
  if (ref == NULL && stopped)
    g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s is stopped", sb->id);
  else if (ref == NULL)
    {
      ref = connect_agent (sb, error);
      if (ref)
        {
          g_mutex_lock (&sb->state_mutex);
          sb->agent = vc_agent_ref_acquire (ref);
          g_mutex_unlock (&sb->state_mutex);
        }
    }
  if (!in_op)
    op_unlock (sb);
  return ref;
}

/* ---- construction ------------------------------------------------------ */

static VcSandbox *
sandbox_new (VcRuntime *runtime, const char *id, VcSandboxRecord *record)
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
  sandbox_finalize (sb);
}

static void
sandbox_finalize (VcSandbox *sb)
{
  /* No event may start using sb from here on. */
  g_mutex_lock (&sb->state_mutex);
  sb->finalizing = TRUE;
  g_mutex_unlock (&sb->state_mutex);
  op_lock (sb);
  if (sb->vm)
    sb->hv->free_vm (sb->vm);
  if (sb->share && sb->fs->free_share)
    sb->fs->free_share (sb->share);
  op_unlock (sb);
  vc_agent_ref_release (sb->agent);

  if (sb->changed_destroy)
    sb->changed_destroy (sb->changed_data);
  g_ptr_array_unref (sb->notify_queue);
  vc_sandbox_record_free (sb->record);
  g_free (sb->pending_stop_reason);
  g_mutex_clear (&sb->op_mutex);
  g_mutex_clear (&sb->state_mutex);
  g_free (sb->lock_path);
  g_free (sb->dir);
  g_free (sb->id);
  vc_runtime_unref (sb->runtime);
  g_free (sb);
}

/* ---- create ------------------------------------------------------------ */

static gboolean
make_state_dirs (VcSandbox *sb, GError **error)
{
  const char *root = vc_runtime_get_state_dir (sb->runtime);
  /* Others may reach their own sandbox dirs (0700) through the root. */
  if (g_mkdir_with_parents (root, 0711) != 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create state directory %s: %s",
                   root, g_strerror (saved));
      return FALSE;
    }
  if (g_mkdir (sb->dir, 0700) != 0)
    {
      int saved = errno;
      if (saved == EEXIST)
        g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "sandbox %s already exists", sb->id);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create %s: %s", sb->dir,
                     g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Undoes a partial create in reverse; errors are logged, not returned, so
 * the caller's error (the cause) is what the user sees. */
static void
rollback_create (VcSandbox *sb, VcLock *lock)
{
  g_autoptr(GError) error = NULL;

  drop_agent (sb);
  if (sb->vm)
    {
      if (sb->hv->stop_vm && !stop_vm_on_purpose (sb, sb->vm, &error))
        {
          g_warning ("sandbox %s: rollback: stop_vm: %s", sb->id, error->message);
          g_clear_error (&error);
        }
      sb->hv->free_vm (sb->vm);
      sb->vm = NULL;
    }
  if (sb->share)
    {
      if (sb->fs->cleanup && !sb->fs->cleanup (sb->share, &error))
        {
          g_warning ("sandbox %s: rollback: fs cleanup: %s", sb->id, error->message);
          g_clear_error (&error);
        }
      if (sb->fs->free_share)
        sb->fs->free_share (sb->share);
      sb->share = NULL;
    }
  if (!vc_state_remove_dir (sb->dir, &error))
    g_warning ("sandbox %s: rollback: %s", sb->id, error->message);
  (void) lock;
  g_mutex_lock (&sb->state_mutex);
  sb->deleted = TRUE;
  g_clear_pointer (&sb->pending_stop_reason, g_free);
  g_ptr_array_set_size (sb->notify_queue, 0);
  g_mutex_unlock (&sb->state_mutex);
}

static gboolean
save_now (VcSandbox *sb, GError **error)
{
  GError *local = NULL;
  g_mutex_lock (&sb->state_mutex);
  write_record_locked (sb, &local);
  g_mutex_unlock (&sb->state_mutex);
  if (local)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  return TRUE;
}

static void
set_plugin_state (VcSandbox *sb, char **field, char *value)
{
  g_mutex_lock (&sb->state_mutex);
  g_free (*field);
  *field = value;
  g_mutex_unlock (&sb->state_mutex);
}

static gboolean
step_failed (VcSandbox *sb, const char *step, GError **error)
{
  g_prefix_error (error, "sandbox %s: %s: ", sb->id, step);
  return FALSE;
}

#define REQUIRE_METHOD(ops, method, plugin)                             \
  G_STMT_START {                                                        \
    if ((ops)->method == NULL)                                          \
      {                                                                 \
        unsupported ((plugin)->name, #method, error);                   \
        return FALSE;                                                   \
      }                                                                 \
  } G_STMT_END

/* The boot sequence; any failure returns FALSE for rollback_create. */
static gboolean
boot (VcSandbox *sb, const char *hostname, GError **error)
{
  const VcHypervisorOps *hv = sb->hv;
  const VcFsOps *fs = sb->fs;
  const VcAgentOps *agent = sb->agent_ops;
  VcPluginInstance *hv_self = sb->hv_plugin->instance;
  gint64 start = g_get_monotonic_time ();

  REQUIRE_METHOD (hv, create_vm, sb->hv_plugin);
  REQUIRE_METHOD (hv, start_vm, sb->hv_plugin);
  REQUIRE_METHOD (hv, stop_vm, sb->hv_plugin);
  REQUIRE_METHOD (hv, free_vm, sb->hv_plugin);
  REQUIRE_METHOD (hv, get_agent_endpoint, sb->hv_plugin);
  REQUIRE_METHOD (fs, prepare, sb->fs_plugin);
  REQUIRE_METHOD (agent, connect, sb->agent_plugin);
  REQUIRE_METHOD (agent, create_sandbox, sb->agent_plugin);

  VcFsSandboxConfig fs_config;
  fill_fs_config (sb, &fs_config);
  sb->share = fs->prepare (sb->fs_plugin->instance, &fs_config, error);
  if (sb->share == NULL)
    return step_failed (sb, "fs prepare", error);

  g_autoptr(GPtrArray) devices = NULL;
  if (fs->get_devices)
    {
      devices = fs->get_devices (sb->share, error);
      if (devices == NULL)
        return step_failed (sb, "fs get_devices", error);
    }
  if (fs->save_state)
    {
      char *saved = fs->save_state (sb->share, error);
      if (saved == NULL)
        return step_failed (sb, "fs save_state", error);
      set_plugin_state (sb, &sb->record->fs_state, saved);
      if (!save_now (sb, error))
        return FALSE;
    }

  VcVmConfig vm_config;
  g_mutex_lock (&sb->state_mutex);
  fill_vm_config (sb, &vm_config);   /* strings live in the record, unchanged until ready */
  g_mutex_unlock (&sb->state_mutex);
  sb->vm = hv->create_vm (hv_self, &vm_config, error);
  if (sb->vm == NULL)
    return step_failed (sb, "create_vm", error);

  for (guint i = 0; devices && i < devices->len; i++)
    {
      const VcDevice *device = devices->pdata[i];
      if (hv->add_device == NULL)
        {
          unsupported (sb->hv_plugin->name, "add_device", error);
          return FALSE;
        }
      if (!hv->add_device (sb->vm, device, NULL, error))
        {
          g_autofree char *step = g_strdup_printf ("add_device %s", device->id);
          return step_failed (sb, step, error);
        }
    }

  if (!hv->start_vm (sb->vm, sb->boot_timeout_ms, error))
    return step_failed (sb, "start_vm", error);
  if (hv->save_state)
    {
      char *saved = hv->save_state (sb->vm, error);
      if (saved == NULL)
        return step_failed (sb, "save_state", error);
      set_plugin_state (sb, &sb->record->hypervisor_state, saved);
      if (!save_now (sb, error))
        return FALSE;
    }

  if (hv->wait_agent_channel)
    {
      gint64 spent_ms = (g_get_monotonic_time () - start) / 1000;
      guint left = spent_ms >= sb->boot_timeout_ms ? 1 : sb->boot_timeout_ms - (guint) spent_ms;
      if (!hv->wait_agent_channel (sb->vm, left, error))
        return step_failed (sb, "wait_agent_channel", error);
    }

  VcAgentRef *ref = connect_agent (sb, error);
  if (ref == NULL)
    return FALSE;
  g_mutex_lock (&sb->state_mutex);
  sb->agent = ref;
  g_mutex_unlock (&sb->state_mutex);

  if (agent->check && !agent->check (ref->conn, error))
    return step_failed (sb, "agent check", error);

  g_autoptr(VcStorage) storage = NULL;
  if (fs->get_sandbox_storage)
    {
      storage = fs->get_sandbox_storage (sb->share, error);
      if (storage == NULL)
        return step_failed (sb, "fs get_sandbox_storage", error);
    }
  VcStorage *storages[2] = { storage, NULL };
  VcAgentSandboxConfig agent_config = {
    .struct_size = sizeof (VcAgentSandboxConfig),
    .sandbox_id = sb->id,
    .hostname = hostname,
    .storages = (VcStorage *const *) storages,
    .dns = NULL,
    .sandbox_pidns = FALSE,
  };
  if (!agent->create_sandbox (ref->conn, &agent_config, error))
    return step_failed (sb, "agent create_sandbox", error);
  return TRUE;
}

static const char *
pick (const char *option, const char *config)
{
  return option && *option ? option : config;
}

VcSandbox *
vc_sandbox_create (VcRuntime *runtime, const char *id, const VcSandboxOptions *options,
                   GError **error)
{
  static const VcSandboxOptions no_options = { 0 };
  const VcSandboxOptions *o = options ? options : &no_options;
  const VcSandboxDefaults *d = &vc_runtime_get_config (runtime)->sandbox;

  if (!vc_id_validate (id, "sandbox", error))
    return NULL;

  g_autoptr(VcSandboxRecord) record = vc_sandbox_record_new (id);
  record->state = VC_SANDBOX_STOPPED;
  record->reason = g_strdup_printf (CREATING_REASON "%d", (int) getpid ());
  record->created = g_get_real_time () / G_USEC_PER_SEC;
  record->owner_uid = o->owner_uid > 0 ? (guint) o->owner_uid : (guint) getuid ();
  record->owner_pid = (gint) getpid ();
  record->hypervisor = g_strdup (pick (o->hypervisor, d->hypervisor));
  record->agent = g_strdup (pick (o->agent, d->agent));
  record->fs = g_strdup (pick (o->fs, d->fs));
  record->vcpus = o->vcpus ? o->vcpus : d->vcpus ? d->vcpus : DEFAULT_VCPUS;
  record->max_vcpus = o->max_vcpus ? o->max_vcpus : d->max_vcpus;
  if (record->max_vcpus < record->vcpus)
    record->max_vcpus = record->vcpus;
  record->memory_mib = o->memory_mib ? o->memory_mib : d->memory_mib ? d->memory_mib
                                                                    : DEFAULT_MEMORY_MIB;
  record->max_memory_mib = o->max_memory_mib ? o->max_memory_mib : d->max_memory_mib;
  if (record->max_memory_mib < record->memory_mib)
    record->max_memory_mib = record->memory_mib;
  record->kernel = g_strdup (pick (o->kernel, d->kernel));
  record->initrd = g_strdup (pick (o->initrd, d->initrd));
  record->kernel_params = g_strdup (pick (o->kernel_params, d->kernel_params));
  record->hostname = g_strdup (pick (o->hostname, id));
  const char *kinds[3] = { "hypervisor", "agent", "fs" };
  const char *names[3] = { record->hypervisor, record->agent, record->fs };
  for (int i = 0; i < 3; i++)
    if (names[i] == NULL)
      {
        g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                     "sandbox %s: no %s plugin chosen (set sandbox.%s in the configuration)",
                     id, kinds[i], kinds[i]);
        return NULL;
      }

  g_autoptr(VcSandbox) sb = sandbox_new (runtime, id, g_steal_pointer (&record));
  sb->creating = TRUE;
  sb->boot_timeout_ms = o->boot_timeout_ms ? o->boot_timeout_ms : DEFAULT_BOOT_TIMEOUT_MS;
  sb->agent_timeout_ms = o->agent_timeout_ms;
  sb->stop_timeout_ms = o->stop_timeout_ms ? o->stop_timeout_ms : DEFAULT_STOP_TIMEOUT_MS;

  op_lock (sb);
  if (!resolve_plugins (sb, error) || !make_state_dirs (sb, error))
    {
      op_unlock (sb);
      return NULL;
    }
  g_autofree char *what = g_strdup_printf ("sandbox %s", id);
  g_autoptr(VcLock) lock = vc_lock_acquire (sb->lock_path, what,
                                            vc_runtime_get_lock_timeout (runtime), error);
  /* The state says "stopped, being created" until it is ready, so that a
   * creator killed half way leaves a sandbox that delete can clean up. */
  if (lock == NULL || !save_now (sb, error) || !boot (sb, sb->record->hostname, error))
    {
      rollback_create (sb, lock);
      op_unlock (sb);
      return NULL;
    }

  g_mutex_lock (&sb->state_mutex);
  gboolean stopped_meanwhile = sb->pending_stop_reason != NULL;
  g_autofree char *why = g_strdup (sb->pending_stop_reason);
  if (!stopped_meanwhile)
    {
      sb->record->state = VC_SANDBOX_READY;
      g_clear_pointer (&sb->record->reason, g_free);
    }
  sb->creating = FALSE;
  g_mutex_unlock (&sb->state_mutex);
  if (stopped_meanwhile)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s: stopped while booting: %s",
                   id, why);
      rollback_create (sb, lock);
      op_unlock (sb);
      return NULL;
    }
  if (!save_now (sb, error))
    {
      if (sb->agent && sb->agent_ops->destroy_sandbox)
        sb->agent_ops->destroy_sandbox (sb->agent->conn, NULL);
      rollback_create (sb, lock);
      op_unlock (sb);
      return NULL;
    }
  g_clear_pointer (&lock, vc_lock_release);
  op_unlock (sb);
  process_pending_after_unlock (sb);
  /* Nobody could have asked for notifications yet. */
  g_mutex_lock (&sb->state_mutex);
  g_ptr_array_set_size (sb->notify_queue, 0);
  g_mutex_unlock (&sb->state_mutex);
  return g_steal_pointer (&sb);
}

/* ---- load and list ----------------------------------------------------- */

VcSandbox *
vc_sandbox_load (VcRuntime *runtime, const char *id, GError **error)
{
  if (!vc_id_validate (id, "sandbox", error))
    return NULL;
  g_autofree char *dir = g_build_filename (vc_runtime_get_state_dir (runtime), id, NULL);
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
  return sandbox_new (runtime, id, record);
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
  g_autoptr(GError) local = NULL;
  VcSandboxRecord *fresh = vc_state_read (sb->dir, &local);
  if (fresh == NULL)
    {
      if (g_error_matches (local, VC_ERROR, VC_ERROR_NOT_FOUND))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "sandbox %s does not exist", sb->id);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_record_free (sb->record);
  sb->record = fresh;
  apply_pending_locked (sb);
  g_mutex_unlock (&sb->state_mutex);
  return TRUE;
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
  queue_notify_locked (sb, NULL);
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
                && resolve_plugins (sb, error);
  if (ok)
    {
      const char *method = pause ? "pause_vm" : "resume_vm";
      gboolean (*fn) (VcVm *, GError **) = pause ? sb->hv->pause_vm : sb->hv->resume_vm;
      VcVm *vm = NULL;
      if (fn == NULL)
        ok = unsupported (sb->hv_plugin->name, method, error);
      else if ((vm = ensure_vm (sb, error)) == NULL)
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
stop_vm_and_forget (VcSandbox *sb, gboolean tolerate_attach_failure, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (!resolve_plugins (sb, error))
    return FALSE;
  VcVm *vm = ensure_vm (sb, &local);
  if (vm == NULL && local)
    {
      if (!tolerate_attach_failure)
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
      if (!stop_vm_on_purpose (sb, vm, error))
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
  if (ref)
    {
      g_autoptr(GError) local = NULL;
      if (ref->ops->destroy_sandbox && !ref->ops->destroy_sandbox (ref->conn, &local))
        g_debug ("sandbox %s: destroy_sandbox: %s", sb->id, local->message);
      vc_agent_ref_release (ref);
    }
  drop_agent (sb);

  if (!stop_vm_and_forget (sb, FALSE, error))
    return FALSE;

  g_mutex_lock (&sb->state_mutex);
  /* A stop event racing with ours says nothing new: ours is the reason. */
  g_clear_pointer (&sb->pending_stop_reason, g_free);
  sb->pending_stop_vm = FALSE;
  mark_stopped_locked (sb, reason);
  g_free (sb->record->reason);
  sb->record->reason = g_strdup (reason);
  g_mutex_unlock (&sb->state_mutex);

  /* The VM is gone: record that even if the cleanup below fails (delete
   * retries it). */
  g_autoptr(GError) cleanup_error = NULL;
  gboolean cleaned = cleanup_fs_and_forget (sb, &cleanup_error);
  g_autoptr(GError) save_error = NULL;
  g_mutex_lock (&sb->state_mutex);
  write_record_locked (sb, &save_error);
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
      drop_agent (sb);
      ok = stop_vm_and_forget (sb, TRUE, error) && cleanup_fs_and_forget (sb, error);
      if (!ok)
        {
          g_autoptr(GError) ignored = NULL;
          vc_sandbox_op_save (&op, &ignored);
        }
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
      queue_notify_locked (sb, NULL);
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
  /* EPERM: alive, someone else's. */
  return pid > 0 && pid <= G_MAXINT && (kill ((pid_t) pid, 0) == 0 || errno == EPERM);
}

const char *
vc_sandbox_get_dir (VcSandbox *sb)
{
  return sb->dir;
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

const char *
vc_sandbox_get_hypervisor_name (VcSandbox *sb)
{
  RECORD_FIELD (const char *, hypervisor);
}

const char *
vc_sandbox_get_agent_name (VcSandbox *sb)
{
  RECORD_FIELD (const char *, agent);
}

const char *
vc_sandbox_get_fs_name (VcSandbox *sb)
{
  RECORD_FIELD (const char *, fs);
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
  op_lock (sb);
  GArray *pids = NULL;
  if (resolve_plugins (sb, error))
    {
      VcVm *vm = ensure_vm (sb, error);
      if (vm == NULL && error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s has no VM", sb->id);
      else if (vm && sb->hv->get_pids == NULL)
        unsupported (sb->hv_plugin->name, "get_pids", error);
      else if (vm)
        pids = sb->hv->get_pids (vm, error);
    }
  op_unlock (sb);
  return pids;
}

char *
vc_sandbox_get_console_path (VcSandbox *sb)
{
  op_lock (sb);
  char *path = NULL;
  if (resolve_plugins (sb, NULL) && sb->hv->console_path)
    {
      VcVm *vm = ensure_vm (sb, NULL);
      if (vm)
        path = sb->hv->console_path (vm);
    }
  op_unlock (sb);
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
