/* The core's fs/hypervisor compatibility check (core/plugin-compat.c). */
#include "config.h"

#include <string.h>
#include <vcrun/hypervisor.h>

#include "plugin-compat.h"

static void
test_9p_needs_9p (void)
{
  g_autoptr (GError) error = NULL;
  guint64 clh = VC_HV_CAP_FS_VHOST_USER | VC_HV_CAP_AGENT_HYBRID_VSOCK;
  g_assert_false (vc_plugin_compat_check ("hypervisor-clh", clh, "fs-9p", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_CONFIG);
  /* Both plugins are named, and what to do instead. */
  g_assert_nonnull (strstr (error->message, "fs-9p"));
  g_assert_nonnull (strstr (error->message, "hypervisor-clh"));
  g_assert_nonnull (strstr (error->message, "fs-virtiofs"));
  g_clear_error (&error);
  g_assert_true (vc_plugin_compat_check ("hypervisor-clh", clh, "fs-virtiofs", &error));
  g_assert_no_error (error);
}

static void
test_virtiofs_needs_vhost_user_or_managed (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (vc_plugin_compat_check ("hv", VC_HV_CAP_FS_9P, "fs-virtiofs", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_CONFIG);
  g_clear_error (&error);
  g_assert_true (vc_plugin_compat_check ("hv", VC_HV_CAP_MANAGED_VIRTIOFS, "fs-virtiofs", &error));
  g_assert_true (vc_plugin_compat_check ("hv", VC_HV_CAP_FS_9P | VC_HV_CAP_FS_VHOST_USER, "fs-9p", &error));
  g_assert_no_error (error);
}

static void
test_unknown_passes (void)
{
  /* No capabilities announced, or an fs plugin the core does not know:
   * the plugins' own checks decide. */
  g_assert_true (vc_plugin_compat_check ("hv", 0, "fs-9p", NULL));
  g_assert_true (vc_plugin_compat_check ("hv", VC_HV_CAP_PAUSE, "fake-fs", NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plugin-compat/9p-needs-9p", test_9p_needs_9p);
  g_test_add_func ("/plugin-compat/virtiofs", test_virtiofs_needs_vhost_user_or_managed);
  g_test_add_func ("/plugin-compat/unknown-passes", test_unknown_passes);
  return g_test_run ();
}
