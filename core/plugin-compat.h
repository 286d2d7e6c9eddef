/* libvcrun: whether a sandbox's plugins can work together, checked from
 * their announced capabilities before anything is created. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* FALSE with VC_ERROR_CONFIG naming both plugins when the fs plugin needs a
 * device the hypervisor does not announce (fs-9p: VC_HV_CAP_FS_9P;
 * fs-virtiofs: VC_HV_CAP_FS_VHOST_USER or VC_HV_CAP_MANAGED_VIRTIOFS).
 * hv_caps 0 (a plugin without capabilities) and unknown fs plugins pass:
 * their prepare() decides. */
gboolean vc_plugin_compat_check (const char *hv_name, guint64 hv_caps, const char *fs_name,
                                 GError **error);

G_END_DECLS
