/* libvcrun: mount points in a rootfs that is shared read-only.
 *
 * The guest makes a missing mount point in the container's rootfs before
 * mounting on it; a rootfs shared read-only (root.readonly) cannot take it.
 * runc makes them in the host rootfs, then remounts it read-only; vcrun does
 * the same before sharing, so the guest never needs to write there. */
#pragma once

#include <glib.h>

#include "oci.h"

G_BEGIN_DECLS

/* Creates, beneath spec->root_path (symlinks resolved inside it), the mount
 * points of spec's mounts that are missing: directories, or an empty file
 * for a bind mount of a file. A destination inside an earlier mount (e.g.
 * /dev/pts under a tmpfs /dev) is left to the guest. */
gboolean vc_rootfs_make_mountpoints (const VcOciSpec *spec, GError **error);

G_END_DECLS
