/* hypervisor-libvirt: the saved state from which another process reattaches:
 * the domain's name and UUID (a domain of that name with another UUID is not
 * ours and is refused), its paths, sizes and devices. */
#include "config.h"

#include "libvirt-plugin.h"

#include <json-glib/json-glib.h>
#include <libvirt/virterror.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (virDomain, virDomainFree)

#define STATE_VERSION 1

char *
lv_save_state (VcVm *vm, GError **error)
{
  if (!vm->started)
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
  STR ("uri", vm->plugin->uri);
  STR ("domain_name", vm->name);
  STR ("domain_uuid", vm->uuid);
  STR ("domain_type", vm->domain_type);
  STR ("agent_socket", vm->agent_path);
  STR ("console", vm->console_file);
  INT ("vcpus", vm->vcpus);
  INT ("max_vcpus", vm->max_vcpus);
  INT ("memory_mib", vm->memory_mib);
  INT ("max_memory_mib", vm->max_memory_mib);
  INT ("plugged_mib", vm->plugged_mib);
  INT ("dimms", vm->dimms);
  INT ("next_alias", vm->next_alias);
  BOOL ("shared_memory", vm->shared_memory);
  g_mutex_lock (&vm->lock);
  BOOL ("agent_open", vm->agent_open);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < vm->devices->len; i++)
    {
      LvDevice *dev = g_ptr_array_index (vm->devices, i);
      json_builder_begin_object (b);
      STR ("id", dev->device->id);
      INT ("type", dev->device->type);
      STR ("host_path", dev->device->host_path);
      if (dev->device->tag != NULL)
        STR ("tag", dev->device->tag);
      BOOL ("readonly", dev->device->readonly);
      if (dev->device->format != NULL)
        STR ("format", dev->device->format);
      if (dev->device->mac != NULL)
        STR ("mac", dev->device->mac);
      if (dev->device->mtu != 0)
        INT ("mtu", dev->device->mtu);
      STR ("alias", dev->alias);
      if (dev->target != NULL)
        STR ("target", dev->target);
      INT ("slot", dev->slot);
      INT ("port", dev->port);
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

static gboolean
get_int (JsonObject *o, const char *name, gint64 min, gint64 max, gint64 *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < min || json_node_get_int (n) > max)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "saved libvirt state: '%s' is missing or not an integer in [%" G_GINT64_FORMAT
                   ", %" G_GINT64_FORMAT "]",
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
                   "saved libvirt state: '%s' is missing or not a string", name);
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
                           "saved libvirt state: 'devices' is not an array");
      return FALSE;
    }
  JsonArray *devices = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (devices); i++)
    {
      JsonNode *e = json_array_get_element (devices, i);
      if (!JSON_NODE_HOLDS_OBJECT (e))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "saved libvirt state: device %u is not an object", i);
          return FALSE;
        }
      JsonObject *o = json_node_get_object (e);
      gint64 type = 0, slot = 0, port = 0, mtu = 0;
      const char *id, *host_path, *alias;
      if ((id = get_str (o, "id", TRUE, error)) == NULL
          || (host_path = get_str (o, "host_path", TRUE, error)) == NULL
          || (alias = get_str (o, "alias", TRUE, error)) == NULL
          || !get_int (o, "type", VC_DEVICE_BLOCK, VC_DEVICE_NET, &type, error)
          || !get_int (o, "slot", 0, 0xff, &slot, error)
          || !get_int (o, "port", -1, LV_HOTPLUG_PORTS - 1, &port, error)
          || (json_object_has_member (o, "mtu") && !get_int (o, "mtu", 68, 65535, &mtu, error)))
        return FALSE;
      LvDevice *dev = g_new0 (LvDevice, 1);
      dev->device = vc_device_new ((VcDeviceType) type, id, host_path, get_str (o, "tag", FALSE, NULL));
      dev->device->readonly = get_bool (o, "readonly");
      dev->device->format = g_strdup (get_str (o, "format", FALSE, NULL));
      dev->device->mac = g_strdup (get_str (o, "mac", FALSE, NULL));
      dev->device->mtu = (guint32) mtu;
      dev->alias = g_strdup (alias);
      dev->target = g_strdup (get_str (o, "target", FALSE, NULL));
      dev->slot = (guint) slot;
      dev->port = (int) port;
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
lv_attach_vm (VcPluginInstance *self, const VcVmConfig *config, const char *saved_state,
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
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "saved libvirt state is not JSON: %s",
                   local->message);
      return NULL;
    }
  JsonNode *root_node = json_parser_get_root (parser);
  if (root_node == NULL || !JSON_NODE_HOLDS_OBJECT (root_node))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "saved libvirt state is not a JSON object");
      return NULL;
    }
  JsonObject *root = json_node_get_object (root_node);
  gint64 version, vcpus, max_vcpus, memory, max_memory, plugged, dimms, next_alias;
  const char *name, *uuid, *type, *agent, *console;
  if (!get_int (root, "version", STATE_VERSION, STATE_VERSION, &version, error)
      || !get_int (root, "vcpus", 1, 255, &vcpus, error)
      || !get_int (root, "max_vcpus", 1, 255, &max_vcpus, error)
      || !get_int (root, "memory_mib", 1, G_MAXINT32, &memory, error)
      || !get_int (root, "max_memory_mib", 1, G_MAXINT32, &max_memory, error)
      || !get_int (root, "plugged_mib", 0, G_MAXINT32, &plugged, error)
      || !get_int (root, "dimms", 0, LV_MEMORY_SLOTS, &dimms, error)
      || !get_int (root, "next_alias", 0, G_MAXINT32, &next_alias, error)
      || (name = get_str (root, "domain_name", TRUE, error)) == NULL
      || (uuid = get_str (root, "domain_uuid", TRUE, error)) == NULL
      || (type = get_str (root, "domain_type", TRUE, error)) == NULL
      || (agent = get_str (root, "agent_socket", TRUE, error)) == NULL
      || (console = get_str (root, "console", TRUE, error)) == NULL)
    return NULL;

  VcVmConfig copy = *config;
  copy.vcpus = (guint) vcpus;
  copy.max_vcpus = (guint) max_vcpus;
  copy.memory_mib = (guint64) memory;
  copy.max_memory_mib = (guint64) max_memory;
  if (copy.kernel == NULL)
    copy.kernel = "(attached)";
  copy.agent_transport = VC_AGENT_TRANSPORT_SERIAL;
  VcVm *vm = lv_vm_new (self, &copy, error);
  if (vm == NULL)
    return NULL;
  if (!g_str_equal (name, vm->name))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "saved libvirt state names domain '%s', not '%s' of sandbox '%s'", name, vm->name,
                   vm->sandbox_id);
      lv_free_vm (vm);
      return NULL;
    }
  vm->domain_type = g_strdup (type);
  vm->plugged_mib = (guint64) plugged;
  vm->dimms = (guint) dimms;
  vm->next_alias = (guint) next_alias;
  vm->shared_memory = get_bool (root, "shared_memory");
  vm->agent_open = get_bool (root, "agent_open");
  replace_string (&vm->agent_path, agent);
  replace_string (&vm->console_file, console);
  if (!load_devices (vm, root, error))
    {
      lv_free_vm (vm);
      return NULL;
    }

  /* By name, then the UUID must match: a domain re-created under the same
   * name by someone else is not ours. */
  g_autoptr (virConnect) conn = lv_conn_get (self, error);
  if (conn == NULL)
    {
      lv_free_vm (vm);
      return NULL;
    }
  g_autoptr (virDomain) dom = virDomainLookupByName (conn, vm->name);
  char found[VIR_UUID_STRING_BUFLEN] = "";
  int state = VIR_DOMAIN_NOSTATE;
  if (dom == NULL)
    {
      if (lv_last_error_is (VIR_ERR_NO_DOMAIN))
        g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                     "domain '%s' of VM '%s' no longer exists at %s", vm->name, vm->sandbox_id, self->uri);
      else
        lv_set_error (error, self, "attaching: looking up the domain");
      virResetLastError ();
    }
  else if (virDomainGetUUIDString (dom, found) < 0 || !g_str_equal (found, uuid))
    g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                 "domain '%s' at %s has UUID %s, not the saved %s: it is not VM '%s', refusing it",
                 vm->name, self->uri, found, uuid, vm->sandbox_id);
  else if (virDomainGetState (dom, &state, NULL, 0) == 0
           && (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED))
    g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "domain '%s' of VM '%s' is shut off", vm->name,
                 vm->sandbox_id);
  else
    {
      vm->uuid = g_strdup (uuid);
      vm->started = TRUE;
      lv_conn_register_vm (self, vm);
      lv_vm_start_watch (vm);
      return vm;
    }
  lv_free_vm (vm);
  return NULL;
}
