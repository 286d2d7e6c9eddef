/* hypervisor-qemu: network devices (VC_DEVICE_NET). The core opens a tap in
 * the sandbox's network namespace and hands its fd over; QEMU, in the host's
 * namespace, gets a dup of it at a fixed number through the spawn
 * (-netdev tap,fd=N) and a virtio-net NIC with the veth's MAC on it. Cold
 * plug only: hotplug would pass the fd over QMP (getfd), not done here. */
#include "config.h"

#include "qemu-plugin.h"
#include "../hv-common/net-device.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

gboolean
qemu_net_validate (VcVm *vm, const VcDevice *device, GError **error)
{
  return vc_net_device_check (device, TRUE, error);
}

/* Our own copy of the fields past 1.0, with a dup of the fd. */
gboolean
qemu_net_copy (VcDevice *dst, const VcDevice *src, GError **error)
{
  dst->net_fd = fcntl (src->net_fd, F_DUPFD_CLOEXEC, 3);
  if (dst->net_fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "device '%s': cannot dup the tap fd: %s",
                   src->id, g_strerror (saved));
      return FALSE;
    }
  dst->mac = g_strdup (src->mac);
  dst->mtu = src->mtu;
  dst->vnet_hdr = src->vnet_hdr;
  return TRUE;
}

/* The fd number QEMU finds net device `index` (among the VM's NET devices) at. */
static int
target_fd (guint index)
{
  return QEMU_NET_FIRST_FD + (int) index;
}

char *
qemu_net_netdev_arg (VcVm *vm, QemuDevice *dev)
{
  guint index = 0;
  for (guint i = 0; i < vm->devices->len; i++)
    {
      QemuDevice *other = g_ptr_array_index (vm->devices, i);
      if (other == dev)
        break;
      if (other->device->type == VC_DEVICE_NET)
        index++;
    }
  /* QEMU reads IFF_VNET_HDR off the fd itself (vnet_hdr= is refused with fd=). */
  return g_strdup_printf ("tap,id=%s,fd=%d", dev->node_name, target_fd (index));
}

void
qemu_net_device_args (VcVm *vm, QemuDevice *dev, JsonObject *args)
{
  gboolean mmio = vm->machine == QEMU_MACHINE_MICROVM;
  json_object_set_string_member (args, "driver", mmio ? "virtio-net-device" : "virtio-net-pci");
  json_object_set_string_member (args, "netdev", dev->node_name);
  json_object_set_string_member (args, "mac", dev->device->mac);
  if (dev->device->mtu != 0)
    json_object_set_int_member (args, "host_mtu", dev->device->mtu);
}

/* The spawn's fd mapping: our dups to QEMU_NET_FIRST_FD + n. */
void
qemu_net_spawn_fds (VcVm *vm, GArray *source_fds, GArray *target_fds)
{
  guint index = 0;
  for (guint i = 0; i < vm->devices->len; i++)
    {
      QemuDevice *dev = g_ptr_array_index (vm->devices, i);
      if (dev->device->type != VC_DEVICE_NET)
        continue;
      int target = target_fd (index++);
      if (dev->device->net_fd < 0)
        continue;
      g_array_append_val (source_fds, dev->device->net_fd);
      g_array_append_val (target_fds, target);
    }
}

/* Once QEMU holds them: a tap must go when QEMU goes. */
void
qemu_net_close_fds (VcVm *vm)
{
  for (guint i = 0; i < vm->devices->len; i++)
    {
      QemuDevice *dev = g_ptr_array_index (vm->devices, i);
      if (dev->device->type == VC_DEVICE_NET && dev->device->net_fd >= 0)
        {
          close (dev->device->net_fd);
          dev->device->net_fd = -1;
        }
    }
}
