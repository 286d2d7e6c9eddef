/* hypervisor-qemu: changing a running VM: disks (blockdev-add + device_add on
 * a free pcie-root-port, device_del waiting for DEVICE_DELETED), vCPUs
 * (query-hotpluggable-cpus + device_add) and memory (a memory backend and a
 * pc-dimm). All of it needs q35: microvm has neither PCIe hotplug nor ACPI
 * CPU/memory hotplug. */
#include "config.h"

#include "qemu-plugin.h"

#include <string.h>

#define MIB (G_GUINT64_CONSTANT (1024) * 1024)
/* Linux hot-adds memory in 128 MiB blocks on x86-64. */
#define MEMORY_BLOCK_MIB 128

static gboolean
require_q35 (VcVm *vm, const char *what, GError **error)
{
  if (vm->machine == QEMU_MACHINE_Q35)
    return TRUE;
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
               "%s is not supported on the microvm machine (set machine = \"q35\")", what);
  return FALSE;
}

int
qemu_vm_free_port (VcVm *vm)
{
  for (int port = 0; port < QEMU_HOTPLUG_PORTS; port++)
    {
      gboolean used = FALSE;
      for (guint i = 0; i < vm->devices->len && !used; i++)
        used = ((QemuDevice *) g_ptr_array_index (vm->devices, i))->port == port;
      if (!used)
        return port;
    }
  return -1;
}

static void
blockdev_del (VcVm *vm, const char *node_name)
{
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "node-name", node_name);
  g_autoptr (GError) error = NULL;
  if (!qmp_client_run (vm->qmp, "blockdev-del", args, QEMU_QMP_TIMEOUT_MS, &error))
    g_warning ("hypervisor-qemu: %s: blockdev-del %s: %s", vm->sandbox_id, node_name, error->message);
}

/* A socket chardev connecting to virtiofsd's vhost-user socket. */
static gboolean
chardev_add (VcVm *vm, const char *id, const char *path, GError **error)
{
  JsonObject *unix_addr = json_object_new ();
  json_object_set_string_member (unix_addr, "path", path);
  JsonObject *addr = json_object_new ();
  json_object_set_string_member (addr, "type", "unix");
  json_object_set_object_member (addr, "data", unix_addr);
  JsonObject *socket = json_object_new ();
  json_object_set_object_member (socket, "addr", addr);
  json_object_set_boolean_member (socket, "server", FALSE);
  JsonObject *backend = json_object_new ();
  json_object_set_string_member (backend, "type", "socket");
  json_object_set_object_member (backend, "data", socket);
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "id", id);
  json_object_set_object_member (args, "backend", backend);
  return qmp_client_run (vm->qmp, "chardev-add", args, QEMU_QMP_TIMEOUT_MS, error);
}

/* Removes what a device was attached to: its block node or its chardev. */
static void
backend_del (VcVm *vm, QemuDevice *dev)
{
  if (dev->node_name != NULL)
    {
      blockdev_del (vm, dev->node_name);
      return;
    }
  if (dev->chardev_id == NULL)
    return;
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "id", dev->chardev_id);
  g_autoptr (GError) error = NULL;
  if (!qmp_client_run (vm->qmp, "chardev-remove", args, QEMU_QMP_TIMEOUT_MS, &error))
    g_warning ("hypervisor-qemu: %s: chardev-remove %s: %s", vm->sandbox_id, dev->chardev_id, error->message);
}

gboolean
qemu_hotplug_add (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  if (!qemu_vm_require_running (vm, error) || !require_q35 (vm, "hotplug", error))
    return FALSE;
  if (!qemu_device_validate (vm, device, error))
    return FALSE;
  /* vhost-user-fs too when the RAM is shareable (a VM restored from a template). */
  if (device->type != VC_DEVICE_BLOCK && !(device->type == VC_DEVICE_FS_VHOST_USER && vm->shared_memory))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': only block devices can be hotplugged; add file systems before start_vm",
                   device->id);
      return FALSE;
    }
  int port = qemu_vm_free_port (vm);
  if (port < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "device '%s': all %d hotplug ports of VM '%s' are in use", device->id,
                   QEMU_HOTPLUG_PORTS, vm->sandbox_id);
      return FALSE;
    }

  /* Node names must be unique in this QEMU, also across attaching processes. */
  QemuDevice *dev = g_new0 (QemuDevice, 1);
  dev->device = vc_device_new (device->type, device->id, device->host_path, device->tag);
  dev->device->readonly = device->readonly;
  dev->device->format = g_strdup (device->format);
  dev->qemu_id = g_strdup_printf ("vc-%s", device->id);
  dev->node_name = g_strdup_printf ("vc-hot%d-%" G_GINT64_FORMAT, port,
                                    g_get_real_time () % 1000000000);
  dev->port = port;
  dev->slot = QEMU_HOTPLUG_PORT_SLOT + (guint) port;

  if (device->type == VC_DEVICE_FS_VHOST_USER)
    {
      dev->device->queue_size = device->queue_size;
      g_clear_pointer (&dev->node_name, g_free);
      dev->chardev_id = g_strdup_printf ("vc-hchr%d-%" G_GINT64_FORMAT, port, g_get_real_time () % 1000000000);
      if (!chardev_add (vm, dev->chardev_id, device->host_path, error))
        {
          g_prefix_error (error, "device '%s': ", device->id);
          qemu_device_free (dev);
          return FALSE;
        }
    }
  else
    {
      g_autoptr (JsonObject) blockdev = qemu_blockdev_args (dev);
      if (!qmp_client_run (vm->qmp, "blockdev-add", blockdev, QEMU_QMP_TIMEOUT_MS, error))
        {
          g_prefix_error (error, "device '%s': ", device->id);
          qemu_device_free (dev);
          return FALSE;
        }
    }
  g_autoptr (JsonObject) args = qemu_device_args (vm, dev);
  if (!qmp_client_run (vm->qmp, "device_add", args, QEMU_QMP_TIMEOUT_MS, error))
    {
      g_prefix_error (error, "device '%s': ", device->id);
      backend_del (vm, dev);
      qemu_device_free (dev);
      return FALSE;
    }
  g_mutex_lock (&vm->lock);
  g_ptr_array_add (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  qemu_fill_guest_device (vm, dev, guest_out);
  return TRUE;
}

gboolean
qemu_hotplug_remove (VcVm *vm, const char *device_id, guint timeout_ms, GError **error)
{
  if (!qemu_vm_require_running (vm, error) || !require_q35 (vm, "hot unplug", error))
    return FALSE;
  QemuDevice *dev = device_id != NULL ? qemu_vm_find_device (vm, device_id) : NULL;
  if (dev == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "VM '%s' has no device '%s'", vm->sandbox_id,
                   device_id != NULL ? device_id : "(null)");
      return FALSE;
    }
  if (dev->port < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s' was cold-plugged on the root bus and cannot be unplugged", device_id);
      return FALSE;
    }

  if (!dev->removed)
    {
      g_autoptr (JsonObject) args = json_object_new ();
      json_object_set_string_member (args, "id", dev->qemu_id);
      if (!qmp_client_run (vm->qmp, "device_del", args, QEMU_QMP_TIMEOUT_MS, error))
        {
          g_prefix_error (error, "device '%s': ", device_id);
          return FALSE;
        }
    }
  /* The guest must release the device first (PCIe native hotplug makes it
   * wait 5 s after the attention button), then QEMU sends DEVICE_DELETED. */
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_mutex_lock (&vm->lock);
  while (!dev->removed && !vm->exited)
    if (!g_cond_wait_until (&vm->cond, &vm->lock, deadline))
      break;
  gboolean removed = dev->removed;
  g_mutex_unlock (&vm->lock);
  if (!removed)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                   "the guest did not release device '%s' within %u ms (QEMU may still remove it later)",
                   device_id, timeout_ms);
      return FALSE;
    }
  backend_del (vm, dev);
  g_mutex_lock (&vm->lock);
  g_ptr_array_remove (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * vCPUs. */

static JsonArray *
hotpluggable_cpus (VcVm *vm, JsonNode **holder, guint *plugged, GError **error)
{
  *holder = qmp_client_execute (vm->qmp, "query-hotpluggable-cpus", NULL, QEMU_QMP_TIMEOUT_MS, error);
  if (*holder == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (*holder))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL, "query-hotpluggable-cpus returned no array");
      g_clear_pointer (holder, json_node_unref);
      return NULL;
    }
  JsonArray *cpus = json_node_get_array (*holder);
  *plugged = 0;
  for (guint i = 0; i < json_array_get_length (cpus); i++)
    {
      JsonNode *n = json_array_get_element (cpus, i);
      if (JSON_NODE_HOLDS_OBJECT (n) && json_object_has_member (json_node_get_object (n), "qom-path"))
        (*plugged)++;
    }
  return cpus;
}

static char *
cpu_id (JsonObject *props)
{
  return g_strdup_printf ("vc-cpu-s%" G_GINT64_FORMAT "-c%" G_GINT64_FORMAT "-t%" G_GINT64_FORMAT,
                          json_object_has_member (props, "socket-id") ? json_object_get_int_member (props, "socket-id") : 0,
                          json_object_has_member (props, "core-id") ? json_object_get_int_member (props, "core-id") : 0,
                          json_object_has_member (props, "thread-id") ? json_object_get_int_member (props, "thread-id") : 0);
}

gboolean
qemu_resize_vcpus (VcVm *vm, guint vcpus, guint *actual, GError **error)
{
  if (!qemu_vm_require_running (vm, error) || !require_q35 (vm, "vCPU hotplug", error))
    return FALSE;
  if (vcpus == 0 || vcpus > vm->max_vcpus)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM '%s' can have 1 to %u vCPUs, not %u", vm->sandbox_id, vm->max_vcpus, vcpus);
      return FALSE;
    }
  g_autoptr (JsonNode) holder = NULL;
  guint plugged = 0;
  JsonArray *cpus = hotpluggable_cpus (vm, &holder, &plugged, error);
  if (cpus == NULL)
    return FALSE;

  /* Add the lowest free slots first; QEMU lists them highest first. */
  for (guint i = json_array_get_length (cpus); i > 0 && plugged < vcpus; i--)
    {
      JsonObject *cpu = json_array_get_object_element (cpus, i - 1);
      if (cpu == NULL || json_object_has_member (cpu, "qom-path") || !json_object_has_member (cpu, "props"))
        continue;
      JsonObject *props = json_object_get_object_member (cpu, "props");
      g_autoptr (JsonObject) args = json_object_new ();
      json_object_set_string_member (args, "driver", json_object_get_string_member (cpu, "type"));
      g_autofree char *id = cpu_id (props);
      json_object_set_string_member (args, "id", id);
      GList *keys = json_object_get_members (props);
      for (GList *k = keys; k != NULL; k = k->next)
        json_object_set_member (args, k->data, json_node_copy (json_object_get_member (props, k->data)));
      g_list_free (keys);
      if (!qmp_client_run (vm->qmp, "device_add", args, QEMU_QMP_TIMEOUT_MS, error))
        {
          g_prefix_error (error, "adding vCPU %u: ", plugged + 1);
          return FALSE;
        }
      plugged++;
    }

  /* Remove our own hot-added CPUs, the highest first; boot CPUs stay. */
  for (guint i = 0; i < json_array_get_length (cpus) && plugged > vcpus; i++)
    {
      JsonObject *cpu = json_array_get_object_element (cpus, i);
      if (cpu == NULL || !json_object_has_member (cpu, "qom-path"))
        continue;
      const char *path = json_object_get_string_member (cpu, "qom-path");
      if (path == NULL || !g_str_has_prefix (path, "/machine/peripheral/vc-cpu-"))
        continue;
      g_autoptr (JsonObject) args = json_object_new ();
      json_object_set_string_member (args, "id", path + strlen ("/machine/peripheral/"));
      if (!qmp_client_run (vm->qmp, "device_del", args, QEMU_QMP_TIMEOUT_MS, error))
        {
          g_prefix_error (error, "removing a vCPU: ");
          return FALSE;
        }
      plugged--;
    }

  /* Unplugging needs the guest's consent (ACPI eject): count what is there. */
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  for (;;)
    {
      g_autoptr (JsonNode) again = NULL;
      guint now = 0;
      if (hotpluggable_cpus (vm, &again, &now, error) == NULL)
        return FALSE;
      if (now <= vcpus || g_get_monotonic_time () >= deadline)
        {
          if (actual != NULL)
            *actual = now;
          return TRUE;
        }
      g_usleep (100 * 1000);
    }
}

/* ---------------------------------------------------------------------------
 * Memory: grows by whole 128 MiB blocks in pc-dimms; it never shrinks. */

gboolean
qemu_resize_memory (VcVm *vm, guint64 memory_mib, guint64 *actual_mib, GError **error)
{
  if (!qemu_vm_require_running (vm, error) || !require_q35 (vm, "memory hotplug", error))
    return FALSE;
  guint64 current = vm->memory_mib + vm->plugged_mib;
  if (memory_mib == current)
    {
      if (actual_mib != NULL)
        *actual_mib = current;
      return TRUE;
    }
  if (memory_mib < current)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "VM '%s' has %" G_GUINT64_FORMAT " MiB; memory cannot be taken away from a running guest",
                   vm->sandbox_id, current);
      return FALSE;
    }
  guint64 delta = (memory_mib - current + MEMORY_BLOCK_MIB - 1) / MEMORY_BLOCK_MIB * MEMORY_BLOCK_MIB;
  if (current + delta > vm->max_memory_mib || vm->dimms >= QEMU_MEMORY_SLOTS)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM '%s' cannot grow to %" G_GUINT64_FORMAT " MiB: the maximum is %" G_GUINT64_FORMAT
                   " MiB in %d slots (%u used)",
                   vm->sandbox_id, current + delta, vm->max_memory_mib, QEMU_MEMORY_SLOTS, vm->dimms);
      return FALSE;
    }

  g_autofree char *mem_id = g_strdup_printf ("vc-dimm-mem%u", vm->dimms);
  g_autofree char *dimm_id = g_strdup_printf ("vc-dimm%u", vm->dimms);
  g_autoptr (JsonObject) backend = json_object_new ();
  json_object_set_string_member (backend, "qom-type", vm->shared_memory ? "memory-backend-memfd" : "memory-backend-ram");
  json_object_set_string_member (backend, "id", mem_id);
  json_object_set_int_member (backend, "size", (gint64) (delta * MIB));
  if (vm->shared_memory)
    json_object_set_boolean_member (backend, "share", TRUE);
  if (!qmp_client_run (vm->qmp, "object-add", backend, QEMU_QMP_TIMEOUT_MS, error))
    return FALSE;

  g_autoptr (JsonObject) dimm = json_object_new ();
  json_object_set_string_member (dimm, "driver", "pc-dimm");
  json_object_set_string_member (dimm, "id", dimm_id);
  json_object_set_string_member (dimm, "memdev", mem_id);
  if (!qmp_client_run (vm->qmp, "device_add", dimm, QEMU_QMP_TIMEOUT_MS, error))
    {
      g_autoptr (JsonObject) del = json_object_new ();
      json_object_set_string_member (del, "id", mem_id);
      qmp_client_run (vm->qmp, "object-del", del, QEMU_QMP_TIMEOUT_MS, NULL);
      return FALSE;
    }
  vm->dimms++;
  vm->plugged_mib += delta;
  if (actual_mib != NULL)
    *actual_mib = current + delta;
  return TRUE;
}
