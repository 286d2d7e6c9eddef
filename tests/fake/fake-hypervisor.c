/* Test-only fake hypervisor: a "VM" is the file <sandbox dir>/fake-vm.running
 * (present while it runs, so another process can attach and tests can see a
 * leak), plus an optional timer that powers it off (die_after_ms). */
#include "fake-common.h"

#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <vcrun/hypervisor.h>

#define RUNNING_FILE "fake-vm.running"

struct VcPluginInstance {
  FakeSettings *settings;
  char         *die_at;
};

struct VcVm {
  VcPluginInstance *self;
  char          *sandbox_id;
  char          *dir;
  VcVmStatus     status;
  VcVmEventFunc  event_func;
  gpointer       event_data;
  GThread       *die_thread;
  FakeTimer      timer;
  gboolean       attached;
};

static const VcSettingSpec settings_spec[] = {
  FAKE_COMMON_SETTINGS,
  { .name = "die_at", .type = VC_SETTING_STRING,
    .description = "a method in which the VM powers off (the event comes from another thread)" },
  { .name = NULL },
};

static VcPluginInstance *
fake_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  (void) host;
  (void) error;
  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->settings = fake_settings_new ("hv", settings);
  if (settings)
    g_variant_lookup (settings, "die_at", "s", &self->die_at);
  return self;
}

static void
fake_destroy (VcPluginInstance *self)
{
  fake_settings_free (self->settings);
  g_free (self->die_at);
  g_free (self);
}

static char *
running_path (VcVm *vm)
{
  return g_build_filename (vm->dir, RUNNING_FILE, NULL);
}

static guint64
fake_capabilities (VcPluginInstance *self)
{
  (void) self;
  return VC_HV_CAP_PAUSE | VC_HV_CAP_FS_9P | VC_HV_CAP_AGENT_SERIAL | VC_HV_CAP_REATTACH
         | VC_HV_CAP_HOTPLUG_BLOCK | VC_HV_CAP_COLD_PLUG_BLOCK;
}

static gboolean
fake_check (VcPluginInstance *self, GString *report, GError **error)
{
  if (!fake_enter (self->settings, "check", error))
    return FALSE;
  g_string_append (report, "fake: ok\n");
  return TRUE;
}

static VcVm *
vm_new (VcPluginInstance *self, const VcVmConfig *config)
{
  VcVm *vm = g_new0 (VcVm, 1);
  vm->self = self;
  vm->sandbox_id = g_strdup (config->sandbox_id);
  vm->dir = g_strdup (config->state_dir);
  vm->event_func = config->event_func;
  vm->event_data = config->event_data;
  fake_timer_init (&vm->timer);
  return vm;
}

static VcVm *
fake_create_vm (VcPluginInstance *self, const VcVmConfig *config, GError **error)
{
  fake_log (self->settings, "create_vm", "%s vcpus=%u memory=%" G_GUINT64_FORMAT,
            config->sandbox_id, config->vcpus, config->memory_mib);
  if (!fake_enter (self->settings, "create_vm", error))
    return NULL;
  VcVm *vm = vm_new (self, config);
  vm->status = VC_VM_STATUS_CREATED;
  return vm;
}

static gboolean
fake_add_device (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  fake_log (vm->self->settings, "add_device", "%s", device->id);
  if (!fake_enter (vm->self->settings, "add_device", error))
    return FALSE;
  if (guest_out)
    {
      guest_out->struct_size = sizeof (VcGuestDevice);
      guest_out->id = g_strdup (device->id);
      if (device->type == VC_DEVICE_BLOCK)
        guest_out->guest_address = g_strdup ("0a/00");
    }
  return TRUE;
}

/* Disks in and out of the running fake VM: logged, "hotplug_add ID [ro]". */
static gboolean
fake_hotplug_add (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  fake_log (vm->self->settings, "hotplug_add", "%s%s", device->id, device->readonly ? " ro" : "");
  if (!fake_enter (vm->self->settings, "hotplug_add", error))
    return FALSE;
  if (guest_out)
    {
      guest_out->struct_size = sizeof (VcGuestDevice);
      guest_out->id = g_strdup (device->id);
      guest_out->guest_address = g_strdup ("0b/00");
    }
  return TRUE;
}

static gboolean
fake_hotplug_remove (VcVm *vm, const char *device_id, guint timeout_ms, GError **error)
{
  (void) timeout_ms;
  fake_log (vm->self->settings, "hotplug_remove", "%s", device_id);
  return fake_enter (vm->self->settings, "hotplug_remove", error);
}

static gpointer
die_thread (gpointer data)
{
  VcVm *vm = data;
  if (!fake_timer_sleep (&vm->timer, vm->self->settings->die_after_ms))
    return NULL;
  g_autofree char *path = running_path (vm);
  g_unlink (path);
  vm->status = VC_VM_STATUS_STOPPED;
  fake_log (vm->self->settings, "event", "stopped");
  if (vm->event_func)
    vm->event_func (VC_VM_EVENT_STOPPED, "fake guest powered off", vm->event_data);
  return NULL;
}

static gpointer
power_off_thread (gpointer data)
{
  VcVm *vm = data;
  g_autofree char *path = running_path (vm);
  g_unlink (path);
  vm->status = VC_VM_STATUS_STOPPED;
  fake_log (vm->self->settings, "event", "stopped");
  if (vm->event_func)
    vm->event_func (VC_VM_EVENT_STOPPED, "fake guest powered off", vm->event_data);
  return NULL;
}

/* die_at: the VM goes away during method; its event comes from another
 * thread (as a monitor thread would send it) before the method returns. */
static void
maybe_die (VcVm *vm, const char *method)
{
  if (g_strcmp0 (vm->self->die_at, method) == 0)
    g_thread_join (g_thread_new ("fake-vm-power-off", power_off_thread, vm));
}

static gboolean
fake_start_vm (VcVm *vm, guint timeout_ms, GError **error)
{
  (void) timeout_ms;
  fake_log (vm->self->settings, "start_vm", "%s", vm->sandbox_id);
  if (!fake_enter (vm->self->settings, "start_vm", error))
    return FALSE;
  g_autofree char *path = running_path (vm);
  g_autofree char *pid = g_strdup_printf ("%d\n", (int) getpid ());
  if (!g_file_set_contents (path, pid, -1, error))
    return FALSE;
  vm->status = VC_VM_STATUS_RUNNING;
  if (vm->self->settings->die_after_ms > 0)
    vm->die_thread = g_thread_new ("fake-vm-die", die_thread, vm);
  return TRUE;
}

static gboolean
fake_stop_vm (VcVm *vm, guint graceful_timeout_ms, GError **error)
{
  (void) graceful_timeout_ms;
  fake_log (vm->self->settings, "stop_vm", "%s", vm->sandbox_id);
  if (!fake_enter (vm->self->settings, "stop_vm", error))
    return FALSE;
  fake_timer_cancel (&vm->timer);
  /* As QEMU's monitor thread does, report the VM gone before returning. */
  if (vm->status == VC_VM_STATUS_RUNNING || vm->status == VC_VM_STATUS_PAUSED)
    g_thread_join (g_thread_new ("fake-vm-power-off", power_off_thread, vm));
  g_autofree char *path = running_path (vm);
  g_unlink (path);
  vm->status = VC_VM_STATUS_STOPPED;
  return TRUE;
}

static gboolean
fake_pause_vm (VcVm *vm, GError **error)
{
  fake_log (vm->self->settings, "pause_vm", "%s", vm->sandbox_id);
  maybe_die (vm, "pause_vm");
  if (!fake_enter (vm->self->settings, "pause_vm", error))
    return FALSE;
  vm->status = VC_VM_STATUS_PAUSED;
  return TRUE;
}

static gboolean
fake_resume_vm (VcVm *vm, GError **error)
{
  fake_log (vm->self->settings, "resume_vm", "%s", vm->sandbox_id);
  if (!fake_enter (vm->self->settings, "resume_vm", error))
    return FALSE;
  vm->status = VC_VM_STATUS_RUNNING;
  return TRUE;
}

static VcVmStatus
fake_get_status (VcVm *vm, GError **error)
{
  (void) error;
  return vm->status;
}

static GArray *
fake_get_pids (VcVm *vm, GError **error)
{
  (void) vm;
  (void) error;
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (gint));
  gint pid = (gint) getpid ();
  g_array_append_val (pids, pid);
  return pids;
}

static gboolean
fake_get_agent_endpoint (VcVm *vm, VcAgentEndpoint *out, GError **error)
{
  fake_log (vm->self->settings, "get_agent_endpoint", "%s", vm->sandbox_id);
  if (!fake_enter (vm->self->settings, "get_agent_endpoint", error))
    return FALSE;
  out->struct_size = sizeof (VcAgentEndpoint);
  out->transport = VC_AGENT_TRANSPORT_SERIAL;
  out->socket_path = g_build_filename (vm->dir, "fake-agent.sock", NULL);
  return TRUE;
}

static gboolean
fake_wait_agent_channel (VcVm *vm, guint timeout_ms, GError **error)
{
  (void) timeout_ms;
  fake_log (vm->self->settings, "wait_agent_channel", "%s", vm->sandbox_id);
  maybe_die (vm, "wait_agent_channel");
  return fake_enter (vm->self->settings, "wait_agent_channel", error);
}

static char *
fake_save_state (VcVm *vm, GError **error)
{
  if (!fake_enter (vm->self->settings, "save_state", error))
    return NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "fake_vm");
  json_builder_add_string_value (b, vm->sandbox_id);
  json_builder_set_member_name (b, "dir");
  json_builder_add_string_value (b, vm->dir);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static VcVm *
fake_attach_vm (VcPluginInstance *self, const VcVmConfig *config, const char *saved,
                GError **error)
{
  fake_log (self->settings, "attach_vm", "%s", config->sandbox_id);
  if (!fake_enter (self->settings, "attach_vm", error))
    return NULL;
  g_autoptr(JsonNode) node = json_from_string (saved, NULL);
  JsonObject *o = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (o == NULL || g_strcmp0 (json_object_get_string_member_with_default (o, "fake_vm", NULL),
                              config->sandbox_id) != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "fake: bad saved state: %s", saved);
      return NULL;
    }
  VcVm *vm = vm_new (self, config);
  vm->attached = TRUE;
  g_autofree char *path = running_path (vm);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      fake_timer_clear (&vm->timer);
      g_free (vm->sandbox_id);
      g_free (vm->dir);
      g_free (vm);
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "fake VM of sandbox %s is not running",
                   config->sandbox_id);
      return NULL;
    }
  vm->status = VC_VM_STATUS_RUNNING;
  return vm;
}

static void
fake_free_vm (VcVm *vm)
{
  fake_log (vm->self->settings, "free_vm", "%s", vm->sandbox_id);
  fake_timer_cancel (&vm->timer);
  if (vm->die_thread)
    g_thread_join (vm->die_thread);
  fake_timer_clear (&vm->timer);
  g_free (vm->sandbox_id);
  g_free (vm->dir);
  g_free (vm);
}

static const VcHypervisorOps fake_ops = {
  .version = VC_HYPERVISOR_OPS_VERSION,
  .size = sizeof (VcHypervisorOps),
  .capabilities = fake_capabilities,
  .check = fake_check,
  .create_vm = fake_create_vm,
  .add_device = fake_add_device,
  .hotplug_add = fake_hotplug_add,
  .hotplug_remove = fake_hotplug_remove,
  .start_vm = fake_start_vm,
  .stop_vm = fake_stop_vm,
  .pause_vm = fake_pause_vm,
  .resume_vm = fake_resume_vm,
  .get_status = fake_get_status,
  .get_pids = fake_get_pids,
  .get_agent_endpoint = fake_get_agent_endpoint,
  .wait_agent_channel = fake_wait_agent_channel,
  .save_state = fake_save_state,
  .attach_vm = fake_attach_vm,
  .free_vm = fake_free_vm,
};

static const VcPluginDescriptor descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "fake-hypervisor",
  .version = "1.0",
  .description = "test-only fake hypervisor",
  .kinds = VC_PLUGIN_KIND_HYPERVISOR,
  .settings = settings_spec,
  .create = fake_create,
  .destroy = fake_destroy,
  .hypervisor = &fake_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &descriptor;
}
