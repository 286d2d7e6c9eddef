/* libvcrun internal: a container's block volumes and host block devices,
 * found in its config.json, handed to the first device-driver plugin that
 * supports each, and hot-plugged into the sandbox's VM (container-devices.c).
 *
 * A mount is a block volume when its type names a block filesystem (ext2,
 * ext3, ext4, xfs, btrfs, vfat) and its source is an absolute path: a raw
 * image file or a host block device. A linux.devices entry of type "b" is
 * passed through by its major:minor. */
#pragma once

#include "sandbox-private.h"
#include "oci.h"

G_BEGIN_DECLS

typedef struct VcContainerDevices {
  GPtrArray *storages;         /* VcStorage*: what the agent mounts first */
  GPtrArray *mounts;           /* VcAgentMount*: OCI mounts bound from those storages */
  GPtrArray *guest_devices;    /* VcGuestDevice*: linux.devices entries to map */
  GPtrArray *container_paths;  /* char*, parallel to guest_devices */
  GPtrArray *records;          /* char* "plugin:device-id", what was plugged */
  GPtrArray *requests;         /* private: owns the strings the mounts borrow */
  gboolean   cold;             /* plugged at boot (vc_container_devices_prepare) */
} VcContainerDevices;

/* Attaches and hot-plugs every block request of spec (inside an op); on
 * failure what was plugged is unplugged again and NULL returned. When the
 * sandbox cold-plugged this container's devices at boot (the same requests),
 * those are returned instead, without a hotplug. */
VcContainerDevices *vc_container_devices_attach (VcSandbox *sandbox, const char *id,
                                                 const VcOciSpec *spec, GError **error);
/* Cold plug, for the first container of a sandbox being created: prepare
 * resolves every block request of spec through the device plugins (attach)
 * before the VM exists; cold_plug adds them to the created, not yet started
 * VM (add_device) and fills what the agent needs; unprepare undoes the
 * plugins' attach when the boot fails. The sandbox keeps the result until
 * vc_container_devices_attach of that container claims it. */
VcContainerDevices *vc_container_devices_prepare (VcSandbox *sandbox, const char *id,
                                                  const VcOciSpec *spec, GError **error);
gboolean vc_container_devices_cold_plug (VcSandbox *sandbox, const char *id,
                                         VcContainerDevices *devices, GError **error);
void     vc_container_devices_unprepare (VcContainerDevices *devices);

/* Unplugs and detaches records ("plugin:device-id"); failures are logged. */
void vc_container_devices_release (VcSandbox *sandbox, const char *id, char *const *records);
void vc_container_devices_free    (VcContainerDevices *devices);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcContainerDevices, vc_container_devices_free)

G_END_DECLS
