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

typedef struct {
  GPtrArray *storages;         /* VcStorage*: what the agent mounts first */
  GPtrArray *mounts;           /* VcAgentMount*: OCI mounts bound from those storages */
  GPtrArray *guest_devices;    /* VcGuestDevice*: linux.devices entries to map */
  GPtrArray *container_paths;  /* char*, parallel to guest_devices */
  GPtrArray *records;          /* char* "plugin:device-id", what was plugged */
  GPtrArray *requests;         /* private: owns the strings the mounts borrow */
} VcContainerDevices;

/* Attaches and hot-plugs every block request of spec (inside an op); on
 * failure what was plugged is unplugged again and NULL returned. */
VcContainerDevices *vc_container_devices_attach (VcSandbox *sandbox, const char *id,
                                                 const VcOciSpec *spec, GError **error);
/* For a caller that is not root: every block volume's source and every
 * linux.devices block device's host node (found by its major:minor) must
 * belong to uid (vc_path_check_owner, bundle.h); a device with no node on the host is
 * refused too. Found as vc_container_devices_attach finds them. */
gboolean vc_container_devices_check_owner (const VcOciSpec *spec, guint uid, GError **error);
/* Unplugs and detaches records ("plugin:device-id"); failures are logged. */
void vc_container_devices_release (VcSandbox *sandbox, const char *id, char *const *records);
void vc_container_devices_free    (VcContainerDevices *devices);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcContainerDevices, vc_container_devices_free)

G_END_DECLS
