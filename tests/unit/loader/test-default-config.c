/* The shipped configurations (etc/vcrun.conf and etc/vcrun-uninstalled.conf,
 * as generated in the build tree) parse, and load the plugins built in this
 * tree: a setting a plugin does not declare would make every vcrun command
 * fail, so it must fail here first. */
#include <glib.h>
#include <vcrun/plugin.h>
#include "core/config.h"
#include "core/registry.h"

static const char *const shipped_plugins[] = {
  "hypervisor-qemu", "agent-kata", "fs-virtiofs", "fs-9p", NULL
};

static char *
built_file (const char *relative)
{
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  g_assert_nonnull (top);
  return g_build_filename (top, relative, NULL);
}

static VcConfig *
load_shipped (const char *relative)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = built_file (relative);
  VcConfig *config = vc_config_load (path, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (config->plugins->len, ==, g_strv_length ((char **) shipped_plugins));
  for (guint i = 0; i < config->plugins->len; i++)
    g_assert_cmpstr (((VcPluginEntry *) g_ptr_array_index (config->plugins, i))->name, ==,
                     shipped_plugins[i]);
  g_assert_cmpstr (config->sandbox.hypervisor, ==, "hypervisor-qemu");
  g_assert_cmpstr (config->sandbox.agent, ==, "agent-kata");
  g_assert_cmpstr (config->sandbox.fs, ==, "fs-virtiofs");
  g_assert_cmpuint (config->sandbox.vcpus, ==, 1);
  g_assert_cmpuint (config->sandbox.memory_mib, ==, 256);
  return config;
}

/* The build tree's plugin directories, or NULL (with a skip) when one of the
 * shipped plugins was not built (disabled by configure). */
static char *
built_plugin_path (void)
{
  g_autoptr(GStrvBuilder) dirs = g_strv_builder_new ();
  for (const char *const *name = shipped_plugins; *name != NULL; name++)
    {
      g_autofree char *rel = g_strdup_printf ("plugins/%s/.libs/%s.so", *name, *name);
      g_autofree char *so = built_file (rel);
      if (!g_file_test (so, G_FILE_TEST_EXISTS))
        {
          g_autofree char *msg = g_strdup_printf ("%s is not built", so);
          g_test_skip (msg);
          return NULL;
        }
      g_autofree char *dir = g_path_get_dirname (so);
      g_strv_builder_add (dirs, dir);
    }
  g_auto(GStrv) list = g_strv_builder_end (dirs);
  return g_strjoinv (":", list);
}

static void
check_loads (VcConfig *config)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcRegistry) registry = vc_registry_load (config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (vc_registry_lookup (registry, config->sandbox.hypervisor, VC_PLUGIN_KIND_HYPERVISOR, &error));
  g_assert_nonnull (vc_registry_lookup (registry, config->sandbox.agent, VC_PLUGIN_KIND_AGENT, &error));
  g_assert_nonnull (vc_registry_lookup (registry, config->sandbox.fs, VC_PLUGIN_KIND_FS, &error));
  g_assert_nonnull (vc_registry_lookup (registry, "fs-9p", VC_PLUGIN_KIND_FS, &error));
  g_assert_no_error (error);
}

static void
test_installed (void)
{
  g_autoptr(VcConfig) config = load_shipped ("etc/vcrun.conf");
  g_assert_cmpstr (config->state_dir, ==, "/run/vcrun");
  g_assert_null (config->plugin_dir);
  g_assert_true (g_str_has_suffix (config->sandbox.kernel, "/guest/vmlinuz"));
  g_assert_true (g_str_has_suffix (config->sandbox.initrd, "/guest/initrd.img"));

  g_autofree char *path = built_plugin_path ();
  if (path == NULL)
    return;
  g_setenv ("VCRUN_PLUGIN_PATH", path, TRUE);
  check_loads (config);
  g_unsetenv ("VCRUN_PLUGIN_PATH");
}

static void
test_uninstalled (void)
{
  g_autoptr(VcConfig) config = load_shipped ("etc/vcrun-uninstalled.conf");
  g_assert_cmpstr (config->state_dir, ==, "/run/vcrun-dev");
  g_autofree char *kernel = built_file ("guest/vmlinuz");
  g_autofree char *initrd = built_file ("guest/initrd.img");
  g_assert_cmpstr (config->sandbox.kernel, ==, kernel);
  g_assert_cmpstr (config->sandbox.initrd, ==, initrd);

  g_autofree char *path = built_plugin_path ();
  if (path == NULL)
    return;
  g_assert_cmpstr (config->plugin_dir, ==, path);
  g_unsetenv ("VCRUN_PLUGIN_PATH");   /* runtime.plugin_dir must be enough */
  check_loads (config);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/default-config/installed", test_installed);
  g_test_add_func ("/default-config/uninstalled", test_uninstalled);
  return g_test_run ();
}
