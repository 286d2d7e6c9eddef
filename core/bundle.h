/* libvcrun: checks of an OCI bundle made before anything boots. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Loads and validates bundle's config.json; *terminal (may be NULL) gets
 * process.terminal. */
gboolean vc_bundle_check (const char *bundle, gboolean *terminal, GError **error);

/* For a caller that is not root (vcrund runs as root and would otherwise
 * hand any file of the host to the caller's VM): the bundle, its
 * config.json, the rootfs, every bind mount source and every block volume
 * source (an image or device) must belong to uid, and linux.devices may name
 * no host block device.
 * VC_ERROR_ACCESS_DENIED names the first that does not. */
gboolean vc_bundle_check_owner (const char *bundle, guint uid, GError **error);

/* The network namespace the bundle's container joins: linux.namespaces'
 * {type: network, path: P} gives *path = P. No network entry, or one without
 * a path (a new, empty namespace), gives *path = NULL: the VM gets no NIC
 * and the guest has only lo. */
gboolean vc_bundle_network_namespace (const char *bundle, char **path, GError **error);

G_END_DECLS
