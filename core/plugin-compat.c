/* libvcrun: plugin compatibility (plugin-compat.h). */
#include "config.h"

#include "plugin-compat.h"

#include <vcrun/hypervisor.h>

static const struct {
  const char *fs;
  guint64     any_of;   /* the hypervisor must announce one of these */
  const char *what;
  const char *instead;
} needs[] = {
  { "fs-9p", VC_HV_CAP_FS_9P, "virtio-9p", "fs-virtiofs" },
  { "fs-virtiofs", VC_HV_CAP_FS_VHOST_USER | VC_HV_CAP_MANAGED_VIRTIOFS, "virtio-fs", "fs-9p" },
};

gboolean
vc_plugin_compat_check (const char *hv_name, guint64 hv_caps, const char *fs_name, GError **error)
{
  if (hv_caps == 0 || fs_name == NULL)
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (needs); i++)
    if (g_str_equal (fs_name, needs[i].fs) && (hv_caps & needs[i].any_of) == 0)
      {
        g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                     "fs plugin %s needs %s, which hypervisor plugin %s does not offer: "
                     "choose fs = \"%s\" or another hypervisor",
                     fs_name, needs[i].what, hv_name, needs[i].instead);
        return FALSE;
      }
  return TRUE;
}
