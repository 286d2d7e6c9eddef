/* vcrun plugin ABI — the device-driver kind.
 *
 * A device driver turns an OCI linux.devices entry, or a block-backed mount,
 * into a hypervisor device (VcDevice, plugged with add_device or hotplug_add)
 * and tells the agent how to find it: after the hypervisor has plugged it and
 * filled a VcGuestDevice, the core hands that to the agent together with
 * VcDeviceRequest.container_path (Kata's grpc.Device: id, type = the
 * VcGuestDevice driver, vm_path = guest_address or guest_path, container_path).
 *
 * Mapping: a block device or image file -> VC_DEVICE_BLOCK with driver
 * "virtio-blk-pci" (QEMU, Cloud Hypervisor) or "blk" (libvirt); a PCI device
 * -> VC_DEVICE_VFIO.
 */
#pragma once

#include <vcrun/plugin.h>

G_BEGIN_DECLS

#define VC_DEVICE_OPS_VERSION 1

typedef enum {
  VC_DEVICE_REQUEST_OCI_DEVICE = 1,  /* an entry of linux.devices */
  VC_DEVICE_REQUEST_BLOCK_MOUNT,     /* an OCI mount whose source is a block device or image */
} VcDeviceRequestKind;

typedef struct {
  gsize               struct_size;
  VcDeviceRequestKind kind;
  const char         *container_id;
  const char         *host_path;       /* the device node or image on the host */
  const char         *container_path;  /* where the container sees it */
  char                type;            /* OCI_DEVICE: 'b', 'c', 'u', 'p' */
  gint64              major, minor;    /* OCI_DEVICE: -1 when unset */
  guint32             file_mode;       /* OCI_DEVICE: 0 when unset */
  guint32             uid, gid;        /* OCI_DEVICE */
  const char         *fstype;          /* BLOCK_MOUNT: filesystem inside, e.g. "ext4" */
  gboolean            readonly;
} VcDeviceRequest;

struct VcDeviceOps {
  guint32 version;   /* VC_DEVICE_OPS_VERSION */
  gsize   size;      /* sizeof (VcDeviceOps) */

  /* Whether this driver handles the request; the first driver that does gets it. */
  gboolean  (*supports) (VcPluginInstance *self, const VcDeviceRequest *request);
  /* The hypervisor device for the request; id unique within the sandbox. */
  VcDevice *(*attach)   (VcPluginInstance *self, const VcDeviceRequest *request, GError **error);
  /* Undo attach after the hypervisor removed the device (idempotent). */
  gboolean  (*detach)   (VcPluginInstance *self, const VcDeviceRequest *request,
                         const char *device_id, GError **error);
};

G_END_DECLS
