/* hypervisor-qemu: the saved state from which another process reattaches to
 * a running QEMU: its pid and start time (a recycled pid is not our QEMU),
 * socket paths, and the devices it has. */
#include "config.h"

#include "qemu-plugin.h"

#include <string.h>
#include <unistd.h>

#define STATE_VERSION 1

char *
qemu_save_state (VcVm *vm, GError **error)
{
  if (vm->pid == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "VM '%s' is not started: nothing to save",
                   vm->sandbox_id);
      return NULL;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
#define STR(k, v) (json_builder_set_member_name (b, k), json_builder_add_string_value (b, v))
#define INT(k, v) (json_builder_set_member_name (b, k), json_builder_add_int_value (b, (gint64) (v)))
#define BOOL(k, v) (json_builder_set_member_name (b, k), json_builder_add_boolean_value (b, v))
  INT ("version", STATE_VERSION);
  STR ("machine", vm->machine == QEMU_MACHINE_Q35 ? "q35" : "microvm");
  BOOL ("kvm", vm->use_kvm);
  INT ("pid", vm->pid);
  INT ("start_time", vm->start_time);
  STR ("qmp_socket", vm->qmp_path);
  STR ("agent_socket", vm->agent_path);
  STR ("console", vm->console_file);
  STR ("pid_file", vm->pid_file);
  STR ("log", vm->log_file);
  STR ("agent_transport", vm->agent_transport == VC_AGENT_TRANSPORT_VSOCK ? "vsock" : "serial");
  INT ("vsock_cid", vm->vsock_cid);
  g_mutex_lock (&vm->lock);
  BOOL ("agent_open", vm->agent_open);
  g_mutex_unlock (&vm->lock);
  INT ("vcpus", vm->vcpus);
  INT ("max_vcpus", vm->max_vcpus);
  INT ("memory_mib", vm->memory_mib);
  INT ("max_memory_mib", vm->max_memory_mib);
  INT ("plugged_mib", vm->plugged_mib);
  INT ("dimms", vm->dimms);
  BOOL ("shared_memory", vm->shared_memory);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  g_mutex_lock (&vm->lock);
  for (guint i = 0; i < vm->devices->len; i++)
    {
      QemuDevice *dev = g_ptr_array_index (vm->devices, i);
      json_builder_begin_object (b);
      STR ("id", dev->device->id);
      INT ("type", dev->device->type);
      STR ("host_path", dev->device->host_path);
      if (dev->device->tag != NULL)
        STR ("tag", dev->device->tag);
      BOOL ("readonly", dev->device->readonly);
      if (dev->device->format != NULL)
        STR ("format", dev->device->format);
      STR ("qemu_id", dev->qemu_id);
      if (dev->node_name != NULL)
        STR ("node_name", dev->node_name);
      if (dev->chardev_id != NULL)
        STR ("chardev_id", dev->chardev_id);
      INT ("slot", dev->slot);
      INT ("port", dev->port);
      json_builder_end_object (b);
    }
  g_mutex_unlock (&vm->lock);
  json_builder_end_array (b);
#undef STR
#undef INT
#undef BOOL
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, TRUE);
}

/* Typed lookups that name the member at fault. */
static gboolean
get_int (JsonObject *o, const char *name, gint64 min, gint64 max, gint64 *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < min || json_node_get_int (n) > max)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "saved QEMU state: '%s' is missing or not an integer in [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
                   name, min, max);
      return FALSE;
    }
  *out = json_node_get_int (n);
  return TRUE;
}

static const char *
get_str (JsonObject *o, const char *name, gboolean required, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL && !required)
    return NULL;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "saved QEMU state: '%s' is missing or not a string", name);
      return NULL;
    }
  return json_node_get_string (n);
}

static gboolean
get_bool (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN
         && json_node_get_boolean (n);
}

static void
replace_string (char **field, const char *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

static gboolean
load_devices (VcVm *vm, JsonObject *root, GError **error)
{
  JsonNode *n = json_object_get_member (root, "devices");
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "saved QEMU state: 'devices' is not an array");
      return FALSE;
    }
  JsonArray *devices = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    {
      JsonNode *e = json_array_get_element (devices, i);
      if (!JSON_NODE_HOLDS_OBJECT (e))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "saved QEMU state: device %u is not an object", i);
          return FALSE;
        }
      JsonObject *o = json_node_get_object (e);
      gint64 type = 0, slot = 0, port = 0;
      const char *id, *host_path, *qemu_id;
      if ((id = get_str (o, "id", TRUE, error)) == NULL
          || (host_path = get_str (o, "host_path", TRUE, error)) == NULL
          || (qemu_id = get_str (o, "qemu_id", TRUE, error)) == NULL
          || !get_int (o, "type", VC_DEVICE_BLOCK, VC_DEVICE_NET, &type, error)
          || !get_int (o, "slot", 0, 0xff, &slot, error)
          || !get_int (o, "port", -1, QEMU_HOTPLUG_PORTS - 1, &port, error))
        return FALSE;
      QemuDevice *dev = g_new0 (QemuDevice, 1);
      dev->device = vc_device_new ((VcDeviceType) type, id, host_path, get_str (o, "tag", FALSE, NULL));
      dev->device->readonly = get_bool (o, "readonly");
      dev->device->format = g_strdup (get_str (o, "format", FALSE, NULL));
      dev->qemu_id = g_strdup (qemu_id);
      dev->node_name = g_strdup (get_str (o, "node_name", FALSE, NULL));
      dev->chardev_id = g_strdup (get_str (o, "chardev_id", FALSE, NULL));
      dev->slot = (guint) slot;
      dev->port = (int) port;
      g_ptr_array_add (vm->devices, dev);
    }
  return TRUE;
}

VcVm *
qemu_attach_vm (VcPluginInstance *self, const VcVmConfig *config, const char *saved_state,
                GError **error)
{
  if (config == NULL || config->struct_size < sizeof (VcVmConfig) || saved_state == NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "attach_vm needs a VM config and the saved state");
      return NULL;
    }
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  if (!json_parser_load_from_data (parser, saved_state, -1, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "saved QEMU state is not JSON: %s",
                   local->message);
      return NULL;
    }
  JsonNode *root_node = json_parser_get_root (parser);
  if (root_node == NULL || !JSON_NODE_HOLDS_OBJECT (root_node))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "saved QEMU state is not a JSON object");
      return NULL;
    }
  JsonObject *root = json_node_get_object (root_node);
  gint64 version, pid, start_time, vcpus, max_vcpus, memory, max_memory, plugged, dimms, cid;
  const char *machine, *qmp, *agent, *console, *pid_file, *log, *transport;
  if (!get_int (root, "version", STATE_VERSION, STATE_VERSION, &version, error)
      || !get_int (root, "pid", 1, G_MAXINT32, &pid, error)
      || !get_int (root, "start_time", 0, G_MAXINT64, &start_time, error)
      || !get_int (root, "vcpus", 1, 255, &vcpus, error)
      || !get_int (root, "max_vcpus", 1, 255, &max_vcpus, error)
      || !get_int (root, "memory_mib", 1, G_MAXINT32, &memory, error)
      || !get_int (root, "max_memory_mib", 1, G_MAXINT32, &max_memory, error)
      || !get_int (root, "plugged_mib", 0, G_MAXINT32, &plugged, error)
      || !get_int (root, "dimms", 0, QEMU_MEMORY_SLOTS, &dimms, error)
      || !get_int (root, "vsock_cid", 0, G_MAXUINT32, &cid, error)
      || (machine = get_str (root, "machine", TRUE, error)) == NULL
      || (qmp = get_str (root, "qmp_socket", TRUE, error)) == NULL
      || (agent = get_str (root, "agent_socket", TRUE, error)) == NULL
      || (console = get_str (root, "console", TRUE, error)) == NULL
      || (pid_file = get_str (root, "pid_file", TRUE, error)) == NULL
      || (log = get_str (root, "log", TRUE, error)) == NULL
      || (transport = get_str (root, "agent_transport", TRUE, error)) == NULL)
    return NULL;

  /* The saved sizes stand in for what the caller leaves out. */
  VcVmConfig copy = *config;
  copy.vcpus = (guint) vcpus;
  copy.max_vcpus = (guint) max_vcpus;
  copy.memory_mib = (guint64) memory;
  copy.max_memory_mib = (guint64) max_memory;
  if (copy.kernel == NULL)
    copy.kernel = "(attached)";
  copy.agent_transport = g_str_equal (transport, "vsock") ? VC_AGENT_TRANSPORT_VSOCK : VC_AGENT_TRANSPORT_SERIAL;
  VcVm *vm = qemu_vm_new (self, &copy, error);
  if (vm == NULL)
    return NULL;
  vm->machine = g_str_equal (machine, "microvm") ? QEMU_MACHINE_MICROVM : QEMU_MACHINE_Q35;
  vm->use_kvm = get_bool (root, "kvm");
  vm->vsock_cid = (guint32) cid;
  vm->plugged_mib = (guint64) plugged;
  vm->dimms = (guint) dimms;
  vm->shared_memory = get_bool (root, "shared_memory");
  vm->agent_open = get_bool (root, "agent_open");
  /* The paths QEMU really uses are the saved ones. */
  replace_string (&vm->qmp_path, qmp);
  replace_string (&vm->agent_path, agent);
  replace_string (&vm->console_file, console);
  replace_string (&vm->pid_file, pid_file);
  replace_string (&vm->log_file, log);
  g_free (vm->agent_open_file);
  vm->agent_open_file = qemu_agent_open_file (vm->agent_path);
  vm->agent_open = vm->agent_open || g_file_test (vm->agent_open_file, G_FILE_TEST_EXISTS);
  if (!load_devices (vm, root, error))
    {
      qemu_free_vm (vm);
      return NULL;
    }

  /* Open the pidfd first, then check the start time: if it still matches,
   * the pidfd names our QEMU and not a later process with the same pid. */
  vm->pid = (GPid) pid;
  vm->start_time = (guint64) start_time;
  vm->pidfd = qemu_pidfd_open (vm->pid);
  if (qemu_process_start_time (vm->pid) != vm->start_time)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "QEMU (pid %d) of VM '%s' is no longer running",
                   (int) pid, vm->sandbox_id);
      qemu_remove_runtime_files (vm);
      vm->pid = 0;
      qemu_free_vm (vm);
      return NULL;
    }
  if (!qemu_vm_connect_qmp (vm, 5000, error))
    {
      g_prefix_error (error, "attaching to VM '%s': ", vm->sandbox_id);
      vm->pid = 0;
      qemu_free_vm (vm);
      return NULL;
    }
  qemu_vm_start_monitor (vm);
  return vm;
}
