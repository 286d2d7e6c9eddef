/* hypervisor-clh: changing a running VM: disks (vm.add-disk, answered with
 * the device's PCI address; vm.remove-device), vCPUs and memory (vm.resize).
 * File systems are cold-plugged only. */
#include "config.h"

#include "clh-plugin.h"

#include <stdio.h>
#include <string.h>

#define MIB (G_GUINT64_CONSTANT (1024) * 1024)
/* Memory is hot-added through ACPI in 128 MiB blocks. */
#define MEMORY_BLOCK_MIB 128

/* "0000:BB:DD.F" -> BB and DD; FALSE when it is not a BDF. */
static gboolean
bdf_parse (const char *bdf, guint *bus, guint *slot)
{
  unsigned int domain, b, d, f;
  char tail;
  if (bdf == NULL || sscanf (bdf, "%4x:%2x:%2x.%1x%c", &domain, &b, &d, &f, &tail) != 4)
    return FALSE;
  *bus = b;
  *slot = d;
  return TRUE;
}

/* Kata's PCI path of a disk that vm.add-disk placed behind a bridge (its BDF
 * is on a bus other than 0): the bridge's slot, from vm.info's device_tree
 * (the node that has the disk among its children), then the disk's. NULL
 * when the tree does not say. Cloud Hypervisor itself puts every device on
 * bus 0, where the slot alone is the path. */
static char *
bridged_pci_path (VcVm *vm, const char *clh_id, guint slot)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) info = NULL;
  if (!clh_vm_api (vm, "GET", "vm.info", NULL, &info, &error))
    {
      g_warning ("hypervisor-clh: %s: vm.info for the PCI path of '%s': %s", vm->sandbox_id, clh_id,
                 error->message);
      return NULL;
    }
  JsonObject *root = info != NULL && JSON_NODE_HOLDS_OBJECT (info) ? json_node_get_object (info) : NULL;
  JsonNode *tree_node = root != NULL ? json_object_get_member (root, "device_tree") : NULL;
  if (tree_node == NULL || !JSON_NODE_HOLDS_OBJECT (tree_node))
    return NULL;
  JsonObject *tree = json_node_get_object (tree_node);
  g_autoptr (GList) members = json_object_get_members (tree);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *n = json_object_get_member (tree, l->data);
      JsonObject *node = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      JsonNode *c = node != NULL ? json_object_get_member (node, "children") : NULL;
      JsonArray *children = c != NULL && JSON_NODE_HOLDS_ARRAY (c) ? json_node_get_array (c) : NULL;
      for (guint i = 0; children != NULL && i < json_array_get_length (children); i++)
        {
          JsonNode *child = json_array_get_element (children, i);
          if (json_node_get_value_type (child) != G_TYPE_STRING
              || g_strcmp0 (json_node_get_string (child), clh_id) != 0)
            continue;
          const char *parent_bdf = json_object_get_string_member_with_default (node, "pci_bdf", NULL);
          guint pbus, pslot;
          if (!bdf_parse (parent_bdf, &pbus, &pslot) || pbus != 0)
            return NULL;
          return g_strdup_printf ("%02x/%02x", pslot, slot);
        }
    }
  return NULL;
}

gboolean
clh_hotplug_add (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  if (!clh_vm_require_running (vm, error) || !clh_device_validate (vm, device, error))
    return FALSE;
  if (device->type != VC_DEVICE_BLOCK)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': only block devices can be hotplugged; add file systems before start_vm",
                   device->id);
      return FALSE;
    }
  ClhDevice *dev = clh_device_new (device);
  dev->hotplugged = TRUE;
  g_autoptr (JsonNode) body = clh_disk_config (dev);
  g_autoptr (JsonNode) reply = NULL;
  if (!clh_vm_api (vm, "PUT", "vm.add-disk", body, &reply, error))
    {
      g_prefix_error (error, "device '%s': ", device->id);
      clh_device_free (dev);
      return FALSE;
    }
  /* 200 with a PciDeviceInfo {id, bdf}. */
  g_autoptr (GError) local = NULL;
  dev->bdf = clh_reply_pci_bdf (reply, "vm.add-disk", &local);
  if (dev->bdf == NULL)
    g_warning ("hypervisor-clh: %s: device '%s': %s", vm->sandbox_id, device->id, local->message);
  g_mutex_lock (&vm->lock);
  g_ptr_array_add (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  clh_fill_guest_device (vm, dev, guest_out);
  guint bus, slot;
  if (guest_out != NULL && bdf_parse (dev->bdf, &bus, &slot) && bus != 0)
    {
      char *path = bridged_pci_path (vm, dev->clh_id, slot);
      if (path != NULL)
        {
          g_free (guest_out->guest_address);
          guest_out->guest_address = path;
        }
      else
        g_warning ("hypervisor-clh: %s: disk '%s' is at %s, behind a bridge vm.info does not name: "
                   "the guest may not find it", vm->sandbox_id, device->id, dev->bdf);
    }
  return TRUE;
}

gboolean
clh_hotplug_remove (VcVm *vm, const char *device_id, guint timeout_ms, GError **error)
{
  if (!clh_vm_require_running (vm, error))
    return FALSE;
  ClhDevice *dev = device_id != NULL ? clh_vm_find_device (vm, device_id) : NULL;
  if (dev == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "VM '%s' has no device '%s'", vm->sandbox_id,
                   device_id != NULL ? device_id : "(null)");
      return FALSE;
    }
  if (dev->device->type != VC_DEVICE_BLOCK)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s' is a file system: it stays until the VM stops", device_id);
      return FALSE;
    }
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, dev->clh_id);
  json_builder_end_object (b);
  g_autoptr (JsonNode) body = json_builder_get_root (b);
  if (!clh_vm_api (vm, "PUT", "vm.remove-device", body, NULL, error))
    {
      g_prefix_error (error, "device '%s': ", device_id);
      return FALSE;
    }
  g_autofree char *removed = g_strdup (dev->device->id);
  g_mutex_lock (&vm->lock);
  g_ptr_array_remove (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  if (vm->event_func != NULL)
    vm->event_func (VC_VM_EVENT_DEVICE_REMOVED, removed, vm->event_data);
  return TRUE;
}

static gboolean
resize (VcVm *vm, const char *member, gint64 value, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, member);
  json_builder_add_int_value (b, value);
  json_builder_end_object (b);
  g_autoptr (JsonNode) body = json_builder_get_root (b);
  return clh_vm_api (vm, "PUT", "vm.resize", body, NULL, error);
}

gboolean
clh_resize_vcpus (VcVm *vm, guint vcpus, guint *actual, GError **error)
{
  if (!clh_vm_require_running (vm, error))
    return FALSE;
  if (vcpus < 1 || vcpus > vm->max_vcpus)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM '%s': %u vCPUs is outside 1..%u (max_vcpus)", vm->sandbox_id, vcpus,
                   vm->max_vcpus);
      return FALSE;
    }
  if (!resize (vm, "desired_vcpus", vcpus, error))
    return FALSE;
  g_mutex_lock (&vm->lock);
  vm->cur_vcpus = vcpus;
  g_mutex_unlock (&vm->lock);
  if (actual != NULL)
    *actual = vcpus;
  return TRUE;
}

gboolean
clh_resize_memory (VcVm *vm, guint64 memory_mib, guint64 *actual_mib, GError **error)
{
  if (!clh_vm_require_running (vm, error))
    return FALSE;
  g_mutex_lock (&vm->lock);
  guint64 current = vm->cur_memory_mib;
  g_mutex_unlock (&vm->lock);
  if (memory_mib <= current)
    {
      /* ACPI memory is never taken back. */
      if (actual_mib != NULL)
        *actual_mib = current;
      return TRUE;
    }
  guint64 added = memory_mib - current;
  added = (added + MEMORY_BLOCK_MIB - 1) / MEMORY_BLOCK_MIB * MEMORY_BLOCK_MIB;
  guint64 target = current + added;
  if (target > vm->max_memory_mib)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM '%s': %" G_GUINT64_FORMAT " MiB (in %d MiB steps) is above max_memory_mib %"
                   G_GUINT64_FORMAT, vm->sandbox_id, target, MEMORY_BLOCK_MIB, vm->max_memory_mib);
      return FALSE;
    }
  if (!resize (vm, "desired_ram", (gint64) (target * MIB), error))
    return FALSE;
  g_mutex_lock (&vm->lock);
  vm->cur_memory_mib = target;
  g_mutex_unlock (&vm->lock);
  if (actual_mib != NULL)
    *actual_mib = target;
  return TRUE;
}
