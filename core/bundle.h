/* libvcrun: checks of an OCI bundle made before anything boots. */
#pragma once

#include <glib.h>

#include "oci.h"

G_BEGIN_DECLS

/* Loads and validates bundle's config.json; *terminal (may be NULL) gets
 * process.terminal. */
gboolean vc_bundle_check (const char *bundle, gboolean *terminal, GError **error);

/* For a caller that is not root (vcrund runs as root and would otherwise
 * hand any file of the host to the caller's VM): the bundle, its
 * config.json, spec's rootfs, every bind mount source, every block volume's
 * image (or device) and every linux.devices block device node must belong
 * to uid. spec is <bundle>/config.json as loaded once: what is checked is
 * what is then used (vc_container_create_as). Paths are resolved as the
 * kernel does (symlinks, ".."): what is checked is the file that would be
 * used. VC_ERROR_ACCESS_DENIED names the first that does not belong to uid. */
gboolean vc_bundle_check_spec_owner (const char *bundle, const VcOciSpec *spec, guint uid,
                                     GError **error);

/* Whether the file path resolves to belongs to uid; what names it in the
 * error (VC_ERROR_ACCESS_DENIED, or NOT_FOUND when there is none). */
gboolean vc_path_check_owner (const char *path, const char *what, guint uid, GError **error);

/* The network namespace the bundle's container joins: linux.namespaces'
 * {type: network, path: P} gives *path = P. No network entry, or one without
 * a path (a new, empty namespace), gives *path = NULL: the VM gets no NIC
 * and the guest has only lo. */
gboolean vc_bundle_network_namespace (const char *bundle, char **path, GError **error);

G_END_DECLS
