/* hypervisor-clh: the request bodies, as the API's schemas name them:
 * VmConfig for vm.create (payload, cpus, memory, serial and console, vsock,
 * fs, disks) and DiskConfig for cold plug and vm.add-disk (NetConfig: clh-net.c). */
#include "config.h"

#include "clh-plugin.h"

#include <string.h>

#define MIB (G_GINT64_CONSTANT (1024) * 1024)

/* What a device must look like before CLH sees it. */
gboolean
clh_device_validate (VcVm *vm, const VcDevice *device, GError **error)
{
  if (device == NULL || device->struct_size < sizeof (VcDevice) || device->id == NULL
      || *device->id == '\0' || device->host_path == NULL || *device->host_path == '\0')
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "device: missing, too old (struct_size), or without id or host path");
      return FALSE;
    }
  for (const char *p = device->id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("_.-", *p) == NULL)
      {
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                     "device '%s': ids may hold only letters, digits, '_', '.' and '-'", device->id);
        return FALSE;
      }
  if (strlen (device->id) > 64)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "device '%s': id longer than 64",
                   device->id);
      return FALSE;
    }
  if (device->type != VC_DEVICE_NET && !g_path_is_absolute (device->host_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "device '%s': host path '%s' is not absolute", device->id, device->host_path);
      return FALSE;
    }
  for (guint i = 0; i < vm->devices->len; i++)
    {
      ClhDevice *dev = g_ptr_array_index (vm->devices, i);
      if (g_str_equal (dev->device->id, device->id))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "VM '%s' already has a device '%s'",
                       vm->sandbox_id, device->id);
          return FALSE;
        }
    }
  switch (device->type)
    {
    case VC_DEVICE_BLOCK:
      if (device->format != NULL && !g_str_equal (device->format, "raw")
          && !g_str_equal (device->format, "qcow2"))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device '%s': format '%s' is not raw or qcow2", device->id, device->format);
          return FALSE;
        }
      return TRUE;
    case VC_DEVICE_FS_VHOST_USER:
      if (device->tag == NULL || *device->tag == '\0' || strlen (device->tag) > 36)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device '%s': a virtio-fs tag of 1 to 36 bytes is needed", device->id);
          return FALSE;
        }
      if (device->cache_size != 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                       "device '%s': Cloud Hypervisor has no virtio-fs DAX window", device->id);
          return FALSE;
        }
      return TRUE;
    case VC_DEVICE_NET:
      return clh_net_validate (device, error);
    case VC_DEVICE_FS_9P:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': Cloud Hypervisor has no virtio-9p (use fs-virtiofs)", device->id);
      return FALSE;
    case VC_DEVICE_FS_VIRTIOFS:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': hypervisor-clh does not run virtiofsd itself (give it a vhost-user socket)",
                   device->id);
      return FALSE;
    default:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': type %d is not supported by hypervisor-clh", device->id,
                   (int) device->type);
      return FALSE;
    }
}

char *
clh_kernel_cmdline (VcVm *vm)
{
  GString *s = g_string_new ("console=ttyS0 panic=1 quiet reboot=k");
  /* Kata's defaults: skip slow probes of hardware a sandbox does not have. */
  g_string_append (s, " i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1"
                      " cryptomgr.notests no_timer_check");
  if (vm->plugin->kernel_params != NULL && *vm->plugin->kernel_params != '\0')
    g_string_append_printf (s, " %s", vm->plugin->kernel_params);
  if (vm->kernel_params != NULL && *vm->kernel_params != '\0')
    g_string_append_printf (s, " %s", vm->kernel_params);
  return g_string_free (s, FALSE);
}

JsonNode *
clh_disk_config (ClhDevice *dev)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "path");
  json_builder_add_string_value (b, dev->device->host_path);
  json_builder_set_member_name (b, "readonly");
  json_builder_add_boolean_value (b, dev->device->readonly);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, dev->clh_id);
  json_builder_set_member_name (b, "image_type");
  json_builder_add_string_value (b, g_strcmp0 (dev->device->format, "qcow2") == 0 ? "Qcow2" : "Raw");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

JsonNode *
clh_vm_config (VcVm *vm)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);

  json_builder_set_member_name (b, "payload");
  json_builder_begin_object (b);
  add_string (b, "kernel", vm->kernel);
  if (vm->initrd != NULL)
    add_string (b, "initramfs", vm->initrd);
  g_autofree char *cmdline = clh_kernel_cmdline (vm);
  add_string (b, "cmdline", cmdline);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "cpus");
  json_builder_begin_object (b);
  add_int (b, "boot_vcpus", vm->vcpus);
  add_int (b, "max_vcpus", vm->max_vcpus);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "memory");
  json_builder_begin_object (b);
  add_int (b, "size", (gint64) vm->memory_mib * MIB);
  /* Hot-added memory comes in 128 MiB ACPI blocks. */
  guint64 hotplug_mib = (vm->max_memory_mib - vm->memory_mib) / 128 * 128;
  if (hotplug_mib > 0)
    add_int (b, "hotplug_size", (gint64) hotplug_mib * MIB);
  /* vhost-user back ends map guest memory: it must be shared. */
  json_builder_set_member_name (b, "shared");
  json_builder_add_boolean_value (b, vm->shared_memory);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "serial");
  json_builder_begin_object (b);
  add_string (b, "mode", "File");
  add_string (b, "file", vm->console_file);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "console");
  json_builder_begin_object (b);
  add_string (b, "mode", "Off");
  json_builder_end_object (b);

  json_builder_set_member_name (b, "vsock");
  json_builder_begin_object (b);
  add_int (b, "cid", vm->vsock_cid);
  add_string (b, "socket", vm->vsock_path);
  json_builder_end_object (b);

  gboolean have_fs = FALSE, have_disks = FALSE;
  for (guint i = 0; i < vm->devices->len; i++)
    {
      ClhDevice *dev = g_ptr_array_index (vm->devices, i);
      have_fs |= dev->device->type == VC_DEVICE_FS_VHOST_USER;
      have_disks |= dev->device->type == VC_DEVICE_BLOCK;
    }
  if (have_fs)
    {
      json_builder_set_member_name (b, "fs");
      json_builder_begin_array (b);
      for (guint i = 0; i < vm->devices->len; i++)
        {
          ClhDevice *dev = g_ptr_array_index (vm->devices, i);
          if (dev->device->type != VC_DEVICE_FS_VHOST_USER)
            continue;
          json_builder_begin_object (b);
          add_string (b, "tag", dev->device->tag);
          add_string (b, "socket", dev->device->host_path);
          add_int (b, "num_queues", 1);
          add_int (b, "queue_size", dev->device->queue_size != 0 ? dev->device->queue_size
                                                                 : CLH_FS_QUEUE_SIZE);
          add_string (b, "id", dev->clh_id);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
    }
  if (have_disks)
    {
      json_builder_set_member_name (b, "disks");
      json_builder_begin_array (b);
      for (guint i = 0; i < vm->devices->len; i++)
        {
          ClhDevice *dev = g_ptr_array_index (vm->devices, i);
          if (dev->device->type == VC_DEVICE_BLOCK)
            json_builder_add_value (b, clh_disk_config (dev));
        }
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
