/* hypervisor-libvirt: a VM's devices: validation, libvirt aliases and disk
 * names, PCI slots (cold-plugged devices sit on pcie.0, hotplugged disks on
 * spare root ports), what the guest agent needs to find them, cold plug.
 *
 * NICs (VC_HV_CAP_NET_TAP_NAME): libvirt's API takes no tap fd, so a
 * VC_DEVICE_NET names a persistent tap the core made in the host's
 * namespace (net_fd -1); <interface type='ethernet'> with <target
 * managed='no'> has libvirtd open that tap by name for QEMU and leave it as
 * it is; the core moves it into the sandbox's namespace after start_vm. */
#include "config.h"

#include "libvirt-plugin.h"
#include "../hv-common/net-device.h"

#include <string.h>

/* ---------------------------------------------------------------------------
 * Devices. */

void
lv_device_free (LvDevice *dev)
{
  if (dev == NULL)
    return;
  vc_device_free (dev->device);
  g_free (dev->alias);
  g_free (dev->target);
  g_free (dev);
}

LvDevice *
lv_vm_find_device (VcVm *vm, const char *device_id)
{
  for (guint i = 0; i < vm->devices->len; i++)
    {
      LvDevice *dev = g_ptr_array_index (vm->devices, i);
      if (g_str_equal (dev->device->id, device_id))
        return dev;
    }
  return NULL;
}

/* The first virtio disk name (vda, vdb, ...) no device of the VM uses. */
static char *
free_disk_target (VcVm *vm)
{
  for (char c = 'a'; c <= 'z'; c++)
    {
      g_autofree char *name = g_strdup_printf ("vd%c", c);
      gboolean used = FALSE;
      for (guint i = 0; i < vm->devices->len && !used; i++)
        {
          LvDevice *dev = g_ptr_array_index (vm->devices, i);
          used = dev->target != NULL && g_str_equal (dev->target, name);
        }
      if (!used)
        return g_steal_pointer (&name);
    }
  return NULL;
}

LvDevice *
lv_device_entry_new (VcVm *vm, const VcDevice *src)
{
  LvDevice *dev = g_new0 (LvDevice, 1);
  VcDevice *d = vc_device_new (src->type, src->id, src->host_path, src->tag);
  d->readonly = src->readonly;
  d->format = g_strdup (src->format);
  d->security_model = g_strdup (src->security_model);
  d->msize = src->msize;
  if (src->type == VC_DEVICE_NET)
    {
      d->net_fd = -1;
      d->mac = g_strdup (src->mac);
      d->mtu = src->mtu;
      d->vnet_hdr = src->vnet_hdr;
    }
  dev->device = d;
  /* libvirt's user aliases: "ua-" and [A-Za-z0-9_-]; device ids may hold more. */
  dev->alias = g_strdup_printf ("ua-vc%u", vm->next_alias++);
  dev->port = -1;
  if (src->type == VC_DEVICE_BLOCK)
    dev->target = free_disk_target (vm);
  return dev;
}

/* A NIC on a tap named by host_path (VC_HV_CAP_NET_TAP_NAME). */
static gboolean
net_validate (const VcDevice *device, GError **error)
{
  if (VC_DEVICE_HAS (device, vnet_hdr) && device->net_fd >= 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': hypervisor-libvirt takes no tap fd (libvirt's API cannot pass "
                   "one): give the tap's name in the host's namespace, net_fd -1", device->id);
      return FALSE;
    }
  return vc_net_device_check (device, FALSE, error);
}

gboolean
lv_device_validate (VcVm *vm, const VcDevice *device, GError **error)
{
  /* A NIC's host_path is a tap's name, not a path. */
  if (device != NULL && device->type == VC_DEVICE_NET && device->id != NULL && *device->id != '\0')
    {
      if (lv_vm_find_device (vm, device->id) != NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                       "device '%s': VM '%s' already has a device with that id", device->id,
                       vm->sandbox_id);
          return FALSE;
        }
      return net_validate (device, error);
    }
  if (device == NULL || device->struct_size < sizeof (VcDevice) || device->id == NULL
      || *device->id == '\0' || device->host_path == NULL || !g_path_is_absolute (device->host_path))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "device: needs an id and an absolute host path");
      return FALSE;
    }
  if (lv_vm_find_device (vm, device->id) != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "device '%s': VM '%s' already has a device with that id",
                   device->id, vm->sandbox_id);
      return FALSE;
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
    case VC_DEVICE_FS_9P:
    case VC_DEVICE_FS_VIRTIOFS:
      if (device->tag == NULL || *device->tag == '\0' || strlen (device->tag) > 36)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device '%s': a mount tag of 1 to 36 characters is needed", device->id);
          return FALSE;
        }
      return TRUE;
    case VC_DEVICE_FS_VHOST_USER:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': hypervisor-libvirt runs virtiofsd itself (VC_DEVICE_FS_VIRTIOFS), "
                   "it takes no vhost-user socket", device->id);
      return FALSE;
    default:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': type %d is not supported by hypervisor-libvirt", device->id,
                   (int) device->type);
      return FALSE;
    }
}

void
lv_fill_guest_device (LvDevice *dev, VcGuestDevice *out)
{
  if (out == NULL)
    return;
  vc_guest_device_clear (out);
  out->struct_size = sizeof (VcGuestDevice);
  out->id = g_strdup (dev->device->id);
  switch (dev->device->type)
    {
    case VC_DEVICE_BLOCK:
      out->driver = g_strdup ("blk");
      /* Kata's PCI path: the slot of each bridge on the way, then the device's. */
      out->guest_address = dev->port >= 0 ? g_strdup_printf ("%02x/00", dev->slot)
                                          : g_strdup_printf ("%02x", dev->slot);
      break;
    case VC_DEVICE_FS_9P:
      out->driver = g_strdup ("9p");
      break;
    case VC_DEVICE_FS_VIRTIOFS:
      out->driver = g_strdup ("virtio-fs");
      break;
    case VC_DEVICE_NET:
      out->driver = g_strdup ("virtio-net");
      out->guest_address = g_strdup_printf ("%02x", dev->slot);
      break;
    default:
      break;
    }
}

gboolean
lv_add_device (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  if (vm->started)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "VM '%s' is already started: cold plug is only possible before start_vm (use hotplug_add)",
                   vm->sandbox_id);
      return FALSE;
    }
  if (!lv_device_validate (vm, device, error))
    return FALSE;
  /* Every cold-plugged device gets its own slot on pcie.0, so that libvirt
   * places none on the root ports kept free for hotplug; but a disk goes
   * on a root port of its own, as a hot-plugged one, so that a container's
   * volume plugged at boot can be detached when the container is deleted
   * (devices on pcie.0 itself cannot). */
  LvDevice *dev = lv_device_entry_new (vm, device);
  int port = device->type == VC_DEVICE_BLOCK ? lv_vm_free_port (vm) : -1;
  guint used = 0;
  for (guint i = 0; i < vm->devices->len; i++)
    {
      LvDevice *other = g_ptr_array_index (vm->devices, i);
      if (other->port < 0)
        used = MAX (used, other->slot);
    }
  if (port >= 0)
    {
      dev->port = port;
      dev->slot = LV_HOTPLUG_PORT_SLOT + (guint) port;
    }
  else
    dev->slot = used == 0 ? LV_FIRST_COLD_SLOT : used + 1;
  if ((port < 0 && dev->slot > LV_LAST_COLD_SLOT)
      || (device->type == VC_DEVICE_BLOCK && dev->target == NULL))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "device '%s': no free PCI slot left for cold-plugged devices (%d at most)",
                   device->id, LV_LAST_COLD_SLOT - LV_FIRST_COLD_SLOT + 1);
      lv_device_free (dev);
      return FALSE;
    }
  if (device->type == VC_DEVICE_FS_VIRTIOFS)
    vm->shared_memory = TRUE;
  g_ptr_array_add (vm->devices, dev);
  lv_fill_guest_device (dev, guest_out);
  return TRUE;
}

