/* libvcrun: checks of an OCI bundle made before anything boots (bundle.h). */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>

#include <vcrun/types.h>

#include "bundle.h"
#include "oci.h"

gboolean
vc_bundle_check (const char *bundle, gboolean *terminal, GError **error)
{
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (bundle, error);
  if (spec == NULL)
    return FALSE;
  if (terminal)
    *terminal = spec->terminal;
  return TRUE;
}

static gboolean
check_path_owner (const char *path, const char *what, guint uid, GError **error)
{
  struct stat st;
  if (stat (path, &st) != 0)
    {
      int e = errno;
      g_set_error (error, VC_ERROR, e == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
                   "%s %s: %s", what, path, g_strerror (e));
      return FALSE;
    }
  if (st.st_uid != uid)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED,
                   "%s %s belongs to uid %u, not to the caller (uid %u)", what, path,
                   (guint) st.st_uid, uid);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_bundle_check_owner (const char *bundle, guint uid, GError **error)
{
  g_autofree char *config = g_build_filename (bundle, "config.json", NULL);
  if (!check_path_owner (bundle, "bundle", uid, error)
      || !check_path_owner (config, "bundle file", uid, error))
    return FALSE;
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (bundle, error);
  if (spec == NULL)
    return FALSE;
  if (!check_path_owner (spec->root_path, "rootfs", uid, error))
    return FALSE;
  for (guint i = 0; i < spec->mounts->len; i++)
    {
      VcOciMount *mount = spec->mounts->pdata[i];
      if (mount->bind && !check_path_owner (mount->source, "bind mount source", uid, error))
        return FALSE;
    }
  return TRUE;
}
