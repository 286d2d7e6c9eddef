/* hypervisor-clh: network devices (VC_DEVICE_NET). The core opens a tap in
 * the sandbox's network namespace and lends its fd; the plugin keeps a dup
 * until Cloud Hypervisor holds its own: after vm.create and before vm.boot
 * (as Kata does), one `PUT vm.add-net` per NIC carries a NetConfig without a
 * tap name (the guest MAC = the veth's, the id; no MTU) and the tap fd as
 * SCM_RIGHTS (clh-api-fds.c). CLH answers 204 for such a cold add; the NIC
 * is then part of the VM's config and stays in the host's namespace with
 * the VMM. num_queues is 2 per fd (one RX and one TX queue). Cold plug only. */
#include "config.h"

#include "clh-plugin.h"
#include "../hv-common/net-device.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

gboolean
clh_net_validate (const VcDevice *device, GError **error)
{
  if (!vc_net_device_check (device, TRUE, error))
    return FALSE;
  /* CLH's virtio-net reads and writes a virtio-net header on the tap. */
  if (!device->vnet_hdr)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': Cloud Hypervisor needs a tap opened with IFF_VNET_HDR", device->id);
      return FALSE;
    }
  return TRUE;
}

/* Our own copy of the fields past 1.0, with a dup of the fd. */
gboolean
clh_net_copy (ClhDevice *dev, const VcDevice *src, GError **error)
{
  VcDevice *d = dev->device;
  d->net_fd = fcntl (src->net_fd, F_DUPFD_CLOEXEC, 3);
  if (d->net_fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "device '%s': cannot dup the tap fd: %s",
                   src->id, g_strerror (saved));
      return FALSE;
    }
  d->mac = g_strdup (src->mac);
  d->mtu = src->mtu;
  d->vnet_hdr = src->vnet_hdr;
  return TRUE;
}

static JsonNode *
net_config (ClhDevice *dev)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mac");
  json_builder_add_string_value (b, dev->device->mac);
  /* No "mtu": CLH would set it on the tap by name (SIOCSIFMTU) from its own
   * network namespace, where this tap is not (ENODEV, or another device of
   * that name). The tap was made with the veth's MTU and the agent sets the
   * guest NIC's (UpdateInterface). */
  json_builder_set_member_name (b, "num_queues");
  json_builder_add_int_value (b, 2);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, dev->clh_id);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
clh_net_add_all (VcVm *vm, guint timeout_ms, GError **error)
{
  for (guint i = 0; i < vm->devices->len; i++)
    {
      ClhDevice *dev = g_ptr_array_index (vm->devices, i);
      if (dev->device->type != VC_DEVICE_NET || dev->net_added)
        continue;
      if (dev->device->net_fd < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                       "device '%s': the tap fd of %s is no longer held", dev->device->id,
                       dev->device->host_path);
          return FALSE;
        }
      g_autoptr (JsonNode) body = net_config (dev);
      g_autoptr (JsonNode) reply = NULL;
      if (!clh_api_request_fds (vm->api_path, timeout_ms, "PUT", "vm.add-net", body,
                                &dev->device->net_fd, 1, &reply, error))
        {
          g_prefix_error (error, "device '%s' (tap %s): ", dev->device->id, dev->device->host_path);
          return FALSE;
        }
      /* 204 before boot; a 200 carries the PCI address. */
      if (reply != NULL)
        {
          g_autoptr (GError) local = NULL;
          g_free (dev->bdf);
          dev->bdf = clh_reply_pci_bdf (reply, "vm.add-net", &local);
          if (dev->bdf == NULL)
            g_warning ("hypervisor-clh: %s: %s", vm->sandbox_id, local->message);
        }
      dev->net_added = TRUE;
    }
  return TRUE;
}

/* Once CLH holds the taps (or failed to): a tap must go when CLH goes. */
void
clh_net_close_fds (VcVm *vm)
{
  for (guint i = 0; i < vm->devices->len; i++)
    {
      ClhDevice *dev = g_ptr_array_index (vm->devices, i);
      if (dev->device->type == VC_DEVICE_NET && dev->device->net_fd >= 0)
        {
          close (dev->device->net_fd);
          dev->device->net_fd = -1;
        }
    }
}
