/* libvcrun internal: bundle checks on a config.json already loaded. */
#pragma once

#include "bundle.h"
#include "oci.h"

G_BEGIN_DECLS

/* vc_bundle_check_owner's checks on spec, <bundle>/config.json as loaded
 * once: what is checked is what is then used (vc_container_create_as).
 * Paths resolve as the kernel resolves them (symlinks, ".."): the owner of
 * the file reached counts. */
gboolean vc_bundle_check_spec_owner (const char *bundle, const VcOciSpec *spec, guint uid,
                                     GError **error);

G_END_DECLS
