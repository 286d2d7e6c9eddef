/* libvcrun: creating a sandbox — state dirs, the boot sequence, and the
 * rollback of every step on failure. */
#include "config.h"

#include "sandbox-impl.h"
#include "plugin-compat.h"
#include "container-devices.h"
#include "oci.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

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

  vc_sandbox_drop_agent (sb);
  if (sb->vm)
    {
      if (sb->hv->stop_vm && !vc_sandbox_stop_vm_on_purpose (sb, sb->vm, FALSE, &error))
        {
          g_warning ("sandbox %s: rollback: stop_vm: %s", sb->id, error->message);
          g_clear_error (&error);
        }
      sb->hv->free_vm (sb->vm);
      sb->vm = NULL;
    }
  /* The VM is gone with the first container's cold-plugged disks. */
  if (sb->cold_devices)
    {
      vc_container_devices_unprepare (sb->cold_devices);
      g_clear_pointer (&sb->cold_devices, vc_container_devices_free);
    }
  if (!vc_sandbox_network_cleanup (sb, &error))
    {
      g_warning ("sandbox %s: rollback: %s", sb->id, error->message);
      g_clear_error (&error);
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

/* create_vm, cold plug, start_vm: an ordinary boot. */
static gboolean
cold_start (VcSandbox *sb, GPtrArray *devices, GError **error)
{
  const VcHypervisorOps *hv = sb->hv;
  VcVmConfig vm_config;
  g_mutex_lock (&sb->state_mutex);
  vc_sandbox_fill_vm_config (sb, &vm_config);   /* strings live in the record, unchanged until ready */
  g_mutex_unlock (&sb->state_mutex);
  sb->vm = hv->create_vm (sb->hv_plugin->instance, &vm_config, error);
  if (sb->vm == NULL)
    return step_failed (sb, "create_vm", error);

  for (guint i = 0; devices && i < devices->len; i++)
    {
      const VcDevice *device = devices->pdata[i];
      if (hv->add_device == NULL)
        {
          vc_sandbox_unsupported (sb->hv_plugin->name, "add_device", error);
          return FALSE;
        }
      if (!hv->add_device (sb->vm, device, NULL, error))
        {
          g_autofree char *step = g_strdup_printf ("add_device %s", device->id);
          return step_failed (sb, step, error);
        }
    }
  /* The first container's block volumes, on the VMM's command line; the
   * record notes them, so that a process that reattaches before that
   * container exists knows what to unplug. */
  if (sb->cold_devices)
    {
      if (!vc_container_devices_cold_plug (sb, sb->cold_container_id, sb->cold_devices, error))
        return FALSE;
      GPtrArray *records = sb->cold_devices->records;
      g_mutex_lock (&sb->state_mutex);
      g_free (sb->record->cold_container);
      sb->record->cold_container = g_strdup (sb->cold_container_id);
      g_strfreev (sb->record->cold_devices);
      sb->record->cold_devices = g_new0 (char *, records->len + 1);
      for (guint i = 0; i < records->len; i++)
        sb->record->cold_devices[i] = g_strdup (records->pdata[i]);
      g_mutex_unlock (&sb->state_mutex);
    }

  if (!hv->start_vm (sb->vm, sb->boot_timeout_ms, error))
    return step_failed (sb, "start_vm", error);
  return TRUE;
}

/* --debug: where a start's time goes, in ms since boot() began. */
static void
step_time (VcSandbox *sb, const char *what, gint64 since)
{
  g_debug ("sandbox %s: %s at %" G_GINT64_FORMAT " ms", sb->id, what,
           (g_get_monotonic_time () - since) / 1000);
}

/* The boot sequence; any failure returns FALSE for rollback_create. */
static gboolean
boot (VcSandbox *sb, const char *hostname, GError **error)
{
  const VcHypervisorOps *hv = sb->hv;
  const VcFsOps *fs = sb->fs;
  const VcAgentOps *agent = sb->agent_ops;
  gint64 start = g_get_monotonic_time ();
  const gint64 began = start;

  /* A NIC cannot be hot-plugged into a restored guest: with a network
   * namespace the sandbox boots cold (below). */
  gboolean from_template = sb->netns == NULL && vc_template_wanted (sb);
  /* The first container's volumes first: a bad one fails before anything
   * runs. A template holds no container devices, and a hypervisor without
   * VC_HV_CAP_COLD_PLUG_BLOCK knows a disk's guest address only once it is
   * running (Cloud Hypervisor): then the first container hot-plugs its own,
   * as any later one. */
  guint64 caps = hv->capabilities ? hv->capabilities (sb->hv_plugin->instance) : 0;
  if (sb->cold_bundle != NULL && !from_template && (caps & VC_HV_CAP_COLD_PLUG_BLOCK))
    {
      g_autoptr(VcOciSpec) spec = vc_oci_spec_load (sb->cold_bundle, error);
      if (spec == NULL)
        return FALSE;
      sb->cold_devices = vc_container_devices_prepare (sb, sb->cold_container_id, spec, error);
      if (sb->cold_devices == NULL)
        return FALSE;
      if (sb->cold_devices->requests->len == 0)
        g_clear_pointer (&sb->cold_devices, vc_container_devices_free);
    }

  VcFsSandboxConfig fs_config;
  vc_sandbox_fill_fs_config (sb, &fs_config);
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
      if (!vc_sandbox_save (sb, error))
        return FALSE;
    }

  if (devices == NULL)
    devices = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_device_free);
  if (!vc_sandbox_network_setup (sb, devices, error))
    return step_failed (sb, "network", error);
  step_time (sb, "shared filesystem and network ready", began);

  gboolean restored = FALSE;
  if (from_template && vc_template_usable (sb, devices))
    {
      g_autoptr(GError) template_error = NULL;
      restored = vc_template_start_vm (sb, devices, &template_error);
      if (!restored)
        g_warning ("sandbox %s: cannot start from a template, booting cold instead: %s", sb->id,
                   template_error->message);
    }
  /* The boot timeout counts from the VM that boots, not from a template built first. */
  start = g_get_monotonic_time ();
  gboolean started = restored || cold_start (sb, devices, error);
  /* The hypervisor holds its own copies of the tap fds now (or failed). */
  vc_sandbox_network_close_fds (sb);
  if (!started)
    return FALSE;
  step_time (sb, restored ? "VM restored" : "VM started", began);
  if (!vc_sandbox_network_attach (sb, error))
    return step_failed (sb, "network", error);
  if (hv->save_state)
    {
      char *saved = hv->save_state (sb->vm, error);
      if (saved == NULL)
        return step_failed (sb, "save_state", error);
      set_plugin_state (sb, &sb->record->hypervisor_state, saved);
      if (!vc_sandbox_save (sb, error))
        return FALSE;
    }

  if (hv->wait_agent_channel)
    {
      gint64 spent_ms = (g_get_monotonic_time () - start) / 1000;
      guint left = spent_ms >= sb->boot_timeout_ms ? 1 : sb->boot_timeout_ms - (guint) spent_ms;
      if (!hv->wait_agent_channel (sb->vm, left, error))
        return step_failed (sb, "wait_agent_channel", error);
      step_time (sb, "agent channel open", began);
    }

  VcAgentRef *ref = vc_sandbox_connect_agent_booting (sb, error);
  if (ref == NULL)
    return FALSE;
  g_mutex_lock (&sb->state_mutex);
  sb->agent = ref;
  g_mutex_unlock (&sb->state_mutex);

  step_time (sb, "agent connected", began);
  if (agent->check && !agent->check (ref->conn, error))
    return step_failed (sb, "agent check", error);
  /* A restored guest's clock is the template's: set it. */
  if (restored && agent->set_guest_time)
    {
      gint64 now = g_get_real_time ();
      if (!agent->set_guest_time (ref->conn, now / G_USEC_PER_SEC, now % G_USEC_PER_SEC, error))
        return step_failed (sb, "agent set_guest_time", error);
    }

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
  step_time (sb, "agent checked, guest time set", began);
  if (!agent->create_sandbox (ref->conn, &agent_config, error))
    return step_failed (sb, "agent create_sandbox", error);
  step_time (sb, "agent create_sandbox done", began);
  return vc_sandbox_network_configure (sb, error);
}

/* Before anything is made: do the fs and hypervisor plugins fit? */
static gboolean
check_compat (VcSandbox *sb, GError **error)
{
  guint64 caps = sb->hv->capabilities ? sb->hv->capabilities (sb->hv_plugin->instance) : 0;
  if (vc_plugin_compat_check (sb->hv_plugin->name, caps, sb->fs_plugin->name, error))
    return TRUE;
  g_prefix_error (error, "sandbox %s: ", sb->id);
  return FALSE;
}

static const char *
pick (const char *option, const char *config)
{
  return option && *option ? option : config;
}

/* Whether r has the configuration's VM settings. Only those get a template
 * built automatically: one per configuration, not one per memory size or
 * kernel a caller ever asked for (each is a saved guest of that size). */
static gboolean
has_configured_settings (const VcSandboxRecord *r, const VcSandboxDefaults *d)
{
  guint vcpus = d->vcpus ? d->vcpus : DEFAULT_VCPUS;
  guint64 memory = d->memory_mib ? d->memory_mib : DEFAULT_MEMORY_MIB;
  return r->vcpus == vcpus && r->max_vcpus == MAX (d->max_vcpus, vcpus)
         && r->memory_mib == memory && r->max_memory_mib == MAX (d->max_memory_mib, memory)
         && g_strcmp0 (r->hypervisor, d->hypervisor) == 0 && g_strcmp0 (r->agent, d->agent) == 0
         && g_strcmp0 (r->fs, d->fs) == 0 && g_strcmp0 (r->kernel, d->kernel) == 0
         && g_strcmp0 (r->initrd, d->initrd) == 0
         && g_strcmp0 (pick (r->kernel_params, NULL), pick (d->kernel_params, NULL)) == 0;
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

  g_autoptr(VcSandbox) sb = vc_sandbox_new_handle (runtime, id, g_steal_pointer (&record));
  sb->creating = TRUE;
  sb->boot_timeout_ms = o->boot_timeout_ms ? o->boot_timeout_ms : DEFAULT_BOOT_TIMEOUT_MS;
  sb->agent_timeout_ms = o->agent_timeout_ms;
  sb->stop_timeout_ms = o->stop_timeout_ms ? o->stop_timeout_ms : DEFAULT_STOP_TIMEOUT_MS;
  sb->use_template = o->use_template > 0 || (o->use_template == 0 && d->template);
  sb->template_build = o->use_template > 0 || has_configured_settings (sb->record, d);
  sb->netns = g_strdup (o->netns);
  if (o->bundle != NULL && *o->bundle != '\0')
    {
      sb->cold_bundle = g_canonicalize_filename (o->bundle, NULL);
      sb->cold_container_id = g_strdup (o->container_id && *o->container_id ? o->container_id : id);
      if (!vc_id_validate (sb->cold_container_id, "container", error))
        return NULL;
    }

  vc_sandbox_op_lock (sb);
  if (!vc_sandbox_resolve_plugins (sb, error) || !check_compat (sb, error)
      || !make_state_dirs (sb, error))
    {
      vc_sandbox_op_unlock (sb);
      return NULL;
    }
  g_autofree char *what = g_strdup_printf ("sandbox %s", id);
  g_autoptr(VcLock) lock = vc_lock_acquire (sb->lock_path, what,
                                            vc_runtime_get_lock_timeout (runtime), error);
  /* The state says "stopped, being created" until it is ready, so that a
   * creator killed half way leaves a sandbox that delete can clean up. */
  if (lock == NULL || !vc_sandbox_save (sb, error) || !boot (sb, sb->record->hostname, error))
    {
      rollback_create (sb, lock);
      vc_sandbox_op_unlock (sb);
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
      vc_sandbox_op_unlock (sb);
      return NULL;
    }
  if (!vc_sandbox_save (sb, error))
    {
      if (sb->agent && sb->agent_ops->destroy_sandbox)
        sb->agent_ops->destroy_sandbox (sb->agent->conn, NULL);
      rollback_create (sb, lock);
      vc_sandbox_op_unlock (sb);
      return NULL;
    }
  g_clear_pointer (&lock, vc_lock_release);
  vc_sandbox_op_unlock (sb);
  vc_sandbox_process_pending_after_unlock (sb);
  /* Nobody could have asked for notifications yet. */
  g_mutex_lock (&sb->state_mutex);
  g_ptr_array_set_size (sb->notify_queue, 0);
  g_mutex_unlock (&sb->state_mutex);
  return g_steal_pointer (&sb);
}
