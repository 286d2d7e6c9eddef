/* hypervisor-clh: the saved state from which another process reattaches to
 * a running Cloud Hypervisor: its pid and start time (a recycled pid is not
 * our VMM), its API and vsock sockets, sizes and devices. The API takes any
 * number of clients, so attaching needs nobody to let go first. */
#include "config.h"

#include "clh-plugin.h"

#include <string.h>

#define STATE_VERSION 1

char *
clh_save_state (VcVm *vm, GError **error)
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
  INT ("pid", vm->pid);
  INT ("start_time", vm->start_time);
  STR ("api_socket", vm->api_path);
  STR ("vsock_socket", vm->vsock_path);
  STR ("console", vm->console_file);
  STR ("log", vm->log_file);
  INT ("vcpus", vm->vcpus);
  INT ("max_vcpus", vm->max_vcpus);
  INT ("memory_mib", vm->memory_mib);
  INT ("max_memory_mib", vm->max_memory_mib);
  BOOL ("shared_memory", vm->shared_memory);
  g_mutex_lock (&vm->lock);
  INT ("cur_vcpus", vm->cur_vcpus);
  INT ("cur_memory_mib", vm->cur_memory_mib);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < vm->devices->len; i++)
    {
      ClhDevice *dev = g_ptr_array_index (vm->devices, i);
      json_builder_begin_object (b);
      STR ("id", dev->device->id);
      INT ("type", dev->device->type);
      STR ("host_path", dev->device->host_path);
      if (dev->device->tag != NULL)
        STR ("tag", dev->device->tag);
      BOOL ("readonly", dev->device->readonly);
      if (dev->device->format != NULL)
        STR ("format", dev->device->format);
      if (dev->bdf != NULL)
        STR ("bdf", dev->bdf);
      if (dev->device->type == VC_DEVICE_NET)
        {
          STR ("mac", dev->device->mac);
          INT ("mtu", dev->device->mtu);
        }
      BOOL ("hotplugged", dev->hotplugged);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  g_mutex_unlock (&vm->lock);
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
                   "saved Cloud Hypervisor state: '%s' is missing or not an integer in [%"
                   G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", name, min, max);
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
                   "saved Cloud Hypervisor state: '%s' is missing or not a string", name);
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

static gboolean
load_devices (VcVm *vm, JsonObject *root, GError **error)
{
  JsonNode *n = json_object_get_member (root, "devices");
  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "saved Cloud Hypervisor state: 'devices' is not an array");
      return FALSE;
    }
  JsonArray *devices = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    {
      JsonNode *e = json_array_get_element (devices, i);
      if (!JSON_NODE_HOLDS_OBJECT (e))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "saved Cloud Hypervisor state: device %u is not an object", i);
          return FALSE;
        }
      JsonObject *o = json_node_get_object (e);
      gint64 type = 0;
      const char *id, *host_path;
      if ((id = get_str (o, "id", TRUE, error)) == NULL
          || (host_path = get_str (o, "host_path", TRUE, error)) == NULL
          || !get_int (o, "type", VC_DEVICE_BLOCK, VC_DEVICE_NET, &type, error))
        return FALSE;
      VcDevice *d = vc_device_new ((VcDeviceType) type, id, host_path, get_str (o, "tag", FALSE, NULL));
      d->readonly = get_bool (o, "readonly");
      d->format = g_strdup (get_str (o, "format", FALSE, NULL));
      gint64 mtu = 0;
      if (type == VC_DEVICE_NET
          && (get_str (o, "mac", TRUE, error) == NULL || !get_int (o, "mtu", 0, 65535, &mtu, error)))
        {
          vc_device_free (d);
          return FALSE;
        }
      ClhDevice *dev = clh_device_new (d);
      if (type == VC_DEVICE_NET)
        {
          /* CLH holds the tap; the handle keeps what it was. */
          dev->device->mac = g_strdup (get_str (o, "mac", TRUE, NULL));
          dev->device->mtu = (guint32) mtu;
          dev->net_added = TRUE;
        }
      vc_device_free (d);
      dev->bdf = g_strdup (get_str (o, "bdf", FALSE, NULL));
      dev->hotplugged = get_bool (o, "hotplugged");
      g_ptr_array_add (vm->devices, dev);
    }
  return TRUE;
}

static void
replace_string (char **field, const char *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

VcVm *
clh_attach_vm (VcPluginInstance *self, const VcVmConfig *config, const char *saved_state,
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
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "saved Cloud Hypervisor state is not JSON: %s", local->message);
      return NULL;
    }
  JsonNode *root_node = json_parser_get_root (parser);
  if (root_node == NULL || !JSON_NODE_HOLDS_OBJECT (root_node))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "saved Cloud Hypervisor state is not a JSON object");
      return NULL;
    }
  JsonObject *root = json_node_get_object (root_node);
  gint64 version, pid, start_time, vcpus, max_vcpus, memory, max_memory, cur_vcpus, cur_memory;
  const char *api, *vsock, *console, *log;
  if (!get_int (root, "version", STATE_VERSION, STATE_VERSION, &version, error)
      || !get_int (root, "pid", 1, G_MAXINT32, &pid, error)
      || !get_int (root, "start_time", 0, G_MAXINT64, &start_time, error)
      || !get_int (root, "vcpus", 1, 254, &vcpus, error)
      || !get_int (root, "max_vcpus", 1, 254, &max_vcpus, error)
      || !get_int (root, "memory_mib", 1, G_MAXINT32, &memory, error)
      || !get_int (root, "max_memory_mib", 1, G_MAXINT32, &max_memory, error)
      || !get_int (root, "cur_vcpus", 1, 254, &cur_vcpus, error)
      || !get_int (root, "cur_memory_mib", 1, G_MAXINT32, &cur_memory, error)
      || (api = get_str (root, "api_socket", TRUE, error)) == NULL
      || (vsock = get_str (root, "vsock_socket", TRUE, error)) == NULL
      || (console = get_str (root, "console", TRUE, error)) == NULL
      || (log = get_str (root, "log", TRUE, error)) == NULL)
    return NULL;

  /* The saved sizes stand in for what the caller leaves out. */
  VcVmConfig copy = *config;
  copy.vcpus = (guint) vcpus;
  copy.max_vcpus = (guint) max_vcpus;
  copy.memory_mib = (guint64) memory;
  copy.max_memory_mib = (guint64) max_memory;
  copy.agent_transport = VC_AGENT_TRANSPORT_NONE;
  if (copy.kernel == NULL)
    copy.kernel = "(attached)";
  VcVm *vm = clh_vm_new (self, &copy, error);
  if (vm == NULL)
    return NULL;
  vm->shared_memory = get_bool (root, "shared_memory");
  vm->cur_vcpus = (guint) cur_vcpus;
  vm->cur_memory_mib = (guint64) cur_memory;
  /* The paths the VMM really uses are the saved ones. */
  replace_string (&vm->api_path, api);
  replace_string (&vm->vsock_path, vsock);
  replace_string (&vm->console_file, console);
  replace_string (&vm->log_file, log);
  if (!load_devices (vm, root, error))
    {
      clh_free_vm (vm);
      return NULL;
    }

  /* Open the pidfd first, then check the start time: if it still matches,
   * the pidfd names our VMM and not a later process with the same pid. */
  vm->pid = (GPid) pid;
  vm->start_time = (guint64) start_time;
  vm->pidfd = clh_pidfd_open (vm->pid);
  if (clh_process_start_time (vm->pid) != vm->start_time)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                   "Cloud Hypervisor (pid %d) of VM '%s' is no longer running", (int) pid,
                   vm->sandbox_id);
      vm->pid = 0;
      clh_free_vm (vm);
      return NULL;
    }
  g_autoptr (JsonNode) reply = NULL;
  if (!clh_api_request (vm->api_path, self->api_timeout_ms, "GET", "vmm.ping", NULL, &reply, error))
    {
      g_prefix_error (error, "attaching to VM '%s': ", vm->sandbox_id);
      vm->pid = 0;
      clh_free_vm (vm);
      return NULL;
    }
  clh_vm_start_monitor (vm);
  return vm;
}
