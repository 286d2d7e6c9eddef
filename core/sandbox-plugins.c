/* libvcrun: a sandbox's plugins, resolved by name, and its VM, fs share
 * and agent connection, reattached lazily in any process. */
#include "config.h"

#include "sandbox-impl.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/* ---- plugins ----------------------------------------------------------- */

gboolean
vc_sandbox_resolve_plugins (VcSandbox *sb, GError **error)
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

gboolean
vc_sandbox_unsupported (const char *plugin, const char *method, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "plugin %s does not support %s",
               plugin, method);
  return FALSE;
}

void
vc_sandbox_fill_vm_config (VcSandbox *sb, VcVmConfig *config)
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
    .event_func = vc_sandbox_on_vm_event,
    .event_data = sb,
  };
}

void
vc_sandbox_fill_fs_config (VcSandbox *sb, VcFsSandboxConfig *config)
{
  guint64 caps = sb->hv->capabilities ? sb->hv->capabilities (sb->hv_plugin->instance) : 0;
  *config = (VcFsSandboxConfig) {
    .struct_size = sizeof (VcFsSandboxConfig),
    .sandbox_id = sb->id,
    .state_dir = sb->dir,
    .hypervisor_caps = caps,
    .event_func = vc_sandbox_on_fs_event,
    .event_data = sb,
  };
}

/* The VM handle, reattaching from the saved state if this process has none.
 * op_mutex held. NULL without error: there is no VM to attach to. */
VcVm *
vc_sandbox_ensure_vm (VcSandbox *sb, GError **error)
{
  if (sb->vm)
    return sb->vm;
  if (!vc_sandbox_resolve_plugins (sb, error))
    return NULL;

  g_mutex_lock (&sb->state_mutex);
  g_autofree char *saved = g_strdup (sb->record->hypervisor_state);
  VcVmConfig config;
  vc_sandbox_fill_vm_config (sb, &config);
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
      vc_sandbox_unsupported (sb->hv_plugin->name, "attach_vm (reattaching to a running VM)", error);
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
  if (!vc_sandbox_resolve_plugins (sb, error))
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
      vc_sandbox_fill_fs_config (sb, &config);
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

/* The agent's endpoint on sb's VM. op_mutex held. */
static gboolean
agent_endpoint (VcSandbox *sb, VcAgentEndpoint *endpoint, GError **error)
{
  if (!vc_sandbox_resolve_plugins (sb, error))
    return FALSE;
  VcVm *vm = vc_sandbox_ensure_vm (sb, error);
  if (vm == NULL)
    {
      if (error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s has no running VM", sb->id);
      return FALSE;
    }
  if (sb->hv->get_agent_endpoint == NULL)
    return vc_sandbox_unsupported (sb->hv_plugin->name, "get_agent_endpoint", error);
  if (!sb->hv->get_agent_endpoint (vm, endpoint, error))
    {
      g_prefix_error (error, "sandbox %s: get_agent_endpoint: ", sb->id);
      return FALSE;
    }
  if (sb->agent_ops->connect == NULL)
    {
      vc_agent_endpoint_clear (endpoint);
      return vc_sandbox_unsupported (sb->agent_plugin->name, "connect", error);
    }
  return TRUE;
}

static VcAgentRef *
agent_ref_new (VcSandbox *sb, VcAgentConn *conn)
{
  VcAgentRef *ref = g_new0 (VcAgentRef, 1);
  ref->ref_count = 1;
  ref->ops = sb->agent_ops;
  ref->conn = conn;
  return ref;
}

/* Connects to the agent over the VM's endpoint. op_mutex held. */
VcAgentRef *
vc_sandbox_connect_agent (VcSandbox *sb, GError **error)
{
  VcAgentEndpoint endpoint = { .struct_size = sizeof (VcAgentEndpoint) };
  if (!agent_endpoint (sb, &endpoint, error))
    return NULL;
  VcAgentConn *conn = sb->agent_ops->connect (sb->agent_plugin->instance, &endpoint,
                                              sb->agent_timeout_ms, error);
  vc_agent_endpoint_clear (&endpoint);
  if (conn == NULL)
    {
      g_prefix_error (error, "sandbox %s: agent connect: ", sb->id);
      return NULL;
    }
  return agent_ref_new (sb, conn);
}

/* ---- the first connection, while the VM boots --------------------------- */

/* An agent dial on a thread of its own: a VM that dies while the agent is
 * dialled (its event leaves sb->pending_stop_reason) ends the wait at once,
 * not at the dial's timeout (a hybrid-vsock dial retries a socket nobody
 * serves any more for dial_timeout_ms). An abandoned dial finishes on its
 * own and drops what it got. */
typedef struct {
  gint              refs;       /* the thread's and the waiter's */
  GMutex            lock;
  GCond             cond;
  gboolean          done, abandoned;
  VcRuntime        *runtime;    /* keeps the plugin instance */
  const VcAgentOps *ops;
  VcPluginInstance *instance;
  VcAgentEndpoint   endpoint;
  guint             timeout_ms;
  VcAgentConn      *conn;
  GError           *error;
} Dial;

static void
dial_unref (Dial *d)
{
  if (!g_atomic_int_dec_and_test (&d->refs))
    return;
  if (d->conn && d->ops->disconnect)
    d->ops->disconnect (d->conn);
  g_clear_error (&d->error);
  vc_agent_endpoint_clear (&d->endpoint);
  vc_runtime_unref (d->runtime);
  g_mutex_clear (&d->lock);
  g_cond_clear (&d->cond);
  g_free (d);
}

static gpointer
dial_thread (gpointer data)
{
  Dial *d = data;
  GError *error = NULL;
  VcAgentConn *conn = d->ops->connect (d->instance, &d->endpoint, d->timeout_ms, &error);
  g_mutex_lock (&d->lock);
  d->conn = conn;   /* an abandoned dial's is disconnected by dial_unref */
  d->error = error;
  d->done = TRUE;
  g_cond_broadcast (&d->cond);
  g_mutex_unlock (&d->lock);
  dial_unref (d);
  return NULL;
}

VcAgentRef *
vc_sandbox_connect_agent_booting (VcSandbox *sb, GError **error)
{
  Dial *d = g_new0 (Dial, 1);
  d->endpoint.struct_size = sizeof (VcAgentEndpoint);
  if (!agent_endpoint (sb, &d->endpoint, error))
    {
      g_free (d);
      return NULL;
    }
  d->refs = 2;
  g_mutex_init (&d->lock);
  g_cond_init (&d->cond);
  d->runtime = vc_runtime_ref (sb->runtime);
  d->ops = sb->agent_ops;
  d->instance = sb->agent_plugin->instance;
  d->timeout_ms = sb->agent_timeout_ms;
  g_thread_unref (g_thread_new ("vc-agent-dial", dial_thread, d));

  VcAgentRef *ref = NULL;
  g_autofree char *stopped = NULL;
  g_mutex_lock (&d->lock);
  while (!d->done)
    {
      g_cond_wait_until (&d->cond, &d->lock, g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND);
      if (d->done)
        break;
      g_mutex_unlock (&d->lock);
      g_mutex_lock (&sb->state_mutex);
      stopped = g_strdup (sb->pending_stop_reason);
      g_mutex_unlock (&sb->state_mutex);
      g_mutex_lock (&d->lock);
      if (stopped != NULL && !d->done)
        {
          d->abandoned = TRUE;
          break;
        }
      g_clear_pointer (&stopped, g_free);
    }
  if (d->done)
    {
      if (d->conn)
        ref = agent_ref_new (sb, g_steal_pointer (&d->conn));
      else
        {
          g_propagate_error (error, g_steal_pointer (&d->error));
          g_prefix_error (error, "sandbox %s: agent connect: ", sb->id);
        }
    }
  else
    g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                 "sandbox %s: stopped while its agent was dialled: %s", sb->id, stopped);
  g_mutex_unlock (&d->lock);
  dial_unref (d);
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
    vc_sandbox_op_lock (sb);
  g_mutex_lock (&sb->state_mutex);
  ref = sb->agent ? vc_agent_ref_acquire (sb->agent) : NULL;
  gboolean stopped = sb->record->state == VC_SANDBOX_STOPPED;
  g_mutex_unlock (&sb->state_mutex);
  if (ref == NULL && stopped)
    g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s is stopped", sb->id);
  else if (ref == NULL)
    {
      ref = vc_sandbox_connect_agent (sb, error);
      if (ref)
        {
          g_mutex_lock (&sb->state_mutex);
          sb->agent = vc_agent_ref_acquire (ref);
          g_mutex_unlock (&sb->state_mutex);
        }
    }
  if (!in_op)
    vc_sandbox_op_unlock (sb);
  return ref;
}

/* ---- devices ----------------------------------------------------------- */

/* The VM's device list changed: another process reattaching must see it. */
static void
resave_vm_state (VcSandbox *sb, VcVm *vm)
{
  if (sb->hv->save_state == NULL)
    return;
  g_autoptr(GError) error = NULL;
  char *saved = sb->hv->save_state (vm, &error);
  if (saved == NULL)
    {
      g_warning ("sandbox %s: save_state after hotplug: %s", sb->id, error->message);
      return;
    }
  g_mutex_lock (&sb->state_mutex);
  g_free (sb->record->hypervisor_state);
  sb->record->hypervisor_state = saved;
  g_mutex_unlock (&sb->state_mutex);
}

GArray *
vc_sandbox_device_plugins (VcSandbox *sb)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (VcDevicePluginRef));
  GPtrArray *plugins = vc_registry_list (vc_runtime_get_registry (sb->runtime));
  for (guint i = 0; i < plugins->len; i++)
    {
      VcPlugin *p = plugins->pdata[i];
      const VcDeviceOps *ops = vc_plugin_device (p);
      if (ops == NULL)
        continue;
      VcDevicePluginRef ref = { .name = p->name, .instance = p->instance, .ops = ops };
      g_array_append_val (out, ref);
    }
  return out;
}

gboolean
vc_sandbox_hotplug_add (VcSandbox *sb, const VcDevice *device, VcGuestDevice *guest_out,
                        GError **error)
{
  VcVm *vm = vc_sandbox_ensure_vm (sb, error);
  if (vm == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "sandbox %s has no running VM", sb->id);
      return FALSE;
    }
  if (sb->hv->hotplug_add == NULL)
    return vc_sandbox_unsupported (sb->hv_plugin->name, "hotplug_add (block devices)", error);
  if (!sb->hv->hotplug_add (vm, device, guest_out, error))
    {
      g_prefix_error (error, "sandbox %s: hotplug_add %s: ", sb->id, device->host_path);
      return FALSE;
    }
  resave_vm_state (sb, vm);
  return TRUE;
}

gboolean
vc_sandbox_cold_plug (VcSandbox *sb, const VcDevice *device, VcGuestDevice *guest_out,
                      GError **error)
{
  if (sb->vm == NULL || !sb->creating)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "sandbox %s: cold plug is only possible while its VM is being created", sb->id);
      return FALSE;
    }
  if (sb->hv->add_device == NULL)
    return vc_sandbox_unsupported (sb->hv_plugin->name, "add_device (cold plug)", error);
  if (!sb->hv->add_device (sb->vm, device, guest_out, error))
    {
      g_prefix_error (error, "sandbox %s: add_device %s: ", sb->id, device->host_path);
      return FALSE;
    }
  return TRUE;
}

char **
vc_sandbox_take_cold_records (VcSandbox *sb, const char *id)
{
  char **records = NULL;
  g_mutex_lock (&sb->state_mutex);
  if (sb->record->cold_container != NULL && g_strcmp0 (sb->record->cold_container, id) == 0)
    {
      records = g_steal_pointer (&sb->record->cold_devices);
      g_clear_pointer (&sb->record->cold_container, g_free);
    }
  g_mutex_unlock (&sb->state_mutex);
  return records;
}

struct VcContainerDevices *
vc_sandbox_steal_cold_devices (VcSandbox *sb, const char *id)
{
  if (sb->cold_devices == NULL || g_strcmp0 (sb->cold_container_id, id) != 0)
    return NULL;
  return g_steal_pointer (&sb->cold_devices);
}

gboolean
vc_sandbox_hotplug_remove (VcSandbox *sb, const char *device_id, guint timeout_ms, GError **error)
{
  VcVm *vm = vc_sandbox_ensure_vm (sb, error);
  if (vm == NULL)
    return error == NULL || *error == NULL;  /* no VM: nothing to unplug */
  if (sb->hv->hotplug_remove == NULL)
    return vc_sandbox_unsupported (sb->hv_plugin->name, "hotplug_remove", error);
  gboolean ok = sb->hv->hotplug_remove (vm, device_id, timeout_ms, error);
  if (!ok)
    g_prefix_error (error, "sandbox %s: hotplug_remove %s: ", sb->id, device_id);
  resave_vm_state (sb, vm);
  return ok;
}

gboolean
vc_sandbox_resize_vm (VcSandbox *sb, guint vcpus, guint64 memory_mib, guint *vcpus_out,
                      guint64 *memory_mib_out, GError **error)
{
  VcVm *vm = vc_sandbox_ensure_vm (sb, error);
  if (vm == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "sandbox %s has no running VM", sb->id);
      return FALSE;
    }
  if (vcpus > 0)
    {
      if (sb->hv->resize_vcpus == NULL)
        return vc_sandbox_unsupported (sb->hv_plugin->name, "resize_vcpus (vCPU hotplug)", error);
      if (!sb->hv->resize_vcpus (vm, vcpus, vcpus_out, error))
        {
          g_prefix_error (error, "sandbox %s: resize_vcpus to %u: ", sb->id, vcpus);
          return FALSE;
        }
    }
  if (memory_mib > 0)
    {
      if (sb->hv->resize_memory == NULL)
        return vc_sandbox_unsupported (sb->hv_plugin->name, "resize_memory (memory hotplug)", error);
      if (!sb->hv->resize_memory (vm, memory_mib, memory_mib_out, error))
        {
          g_prefix_error (error, "sandbox %s: resize_memory to %" G_GUINT64_FORMAT " MiB: ", sb->id,
                          memory_mib);
          return FALSE;
        }
    }
  resave_vm_state (sb, vm);
  return TRUE;
}

GArray *
vc_sandbox_vm_pids (VcSandbox *sb, GError **error)
{
  VcVm *vm = vc_sandbox_ensure_vm (sb, error);
  if (vm == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "sandbox %s has no running VM", sb->id);
      return NULL;
    }
  if (sb->hv->get_pids == NULL)
    {
      vc_sandbox_unsupported (sb->hv_plugin->name, "get_pids", error);
      return NULL;
    }
  return sb->hv->get_pids (vm, error);
}
