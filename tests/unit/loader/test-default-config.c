/* The shipped configurations (etc/vcrun.conf and etc/vcrun-uninstalled.conf,
 * as generated in the build tree) parse, and load the plugins built in this
 * tree: a setting a plugin does not declare would make every vcrun command
 * fail, so it must fail here first. */
#include <glib.h>
#include <vcrun/plugin.h>
#include "core/vc-config.h"
#include "core/registry.h"

static const char *const shipped_plugins[] = {
  "hypervisor-qemu", "agent-kata", "fs-virtiofs", "fs-9p", "device-block", NULL
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

/* The build tree's plugin directories, ':'-separated. Plugins that were not
 * built (disabled by configure) are dropped from config with a message, so
 * the settings of those that were are still checked. */
static char *
built_plugin_path (VcConfig *config)
{
  g_autoptr(GString) dirs = g_string_new (NULL);
  for (const char *const *name = shipped_plugins; *name != NULL; name++)
    {
      g_autofree char *rel = g_strdup_printf ("plugins/%s/.libs", *name);
      g_autofree char *dir = built_file (rel);
      g_string_append_printf (dirs, "%s%s", dirs->len ? ":" : "", dir);
    }
  for (guint i = config->plugins->len; i > 0; i--)
    {
      VcPluginEntry *entry = g_ptr_array_index (config->plugins, i - 1);
      g_autofree char *rel = g_strdup_printf ("plugins/%s/.libs/%s.so", entry->name, entry->name);
      g_autofree char *so = built_file (rel);
      if (g_file_test (so, G_FILE_TEST_EXISTS))
        continue;
      g_test_message ("%s is not built: its settings are not checked", so);
      if (g_strcmp0 (config->sandbox.hypervisor, entry->name) == 0)
        g_clear_pointer (&config->sandbox.hypervisor, g_free);
      if (g_strcmp0 (config->sandbox.agent, entry->name) == 0)
        g_clear_pointer (&config->sandbox.agent, g_free);
      if (g_strcmp0 (config->sandbox.fs, entry->name) == 0)
        g_clear_pointer (&config->sandbox.fs, g_free);
      g_ptr_array_remove_index (config->plugins, i - 1);
    }
  return g_string_free (g_steal_pointer (&dirs), FALSE);
}

static void
check_loads (VcConfig *config)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcRegistry) registry = vc_registry_load (config, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vc_registry_list (registry)->len, ==, config->plugins->len);
  static const struct { gsize offset; VcPluginKind kind; } refs[] = {
    { G_STRUCT_OFFSET (VcConfig, sandbox.hypervisor), VC_PLUGIN_KIND_HYPERVISOR },
    { G_STRUCT_OFFSET (VcConfig, sandbox.agent), VC_PLUGIN_KIND_AGENT },
    { G_STRUCT_OFFSET (VcConfig, sandbox.fs), VC_PLUGIN_KIND_FS },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (refs); i++)
    {
      const char *name = G_STRUCT_MEMBER (const char *, config, refs[i].offset);
      if (name != NULL)
        g_assert_nonnull (vc_registry_lookup (registry, name, refs[i].kind, &error));
      g_assert_no_error (error);
    }
}

static void
test_installed (void)
{
  g_autoptr(VcConfig) config = load_shipped ("etc/vcrun.conf");
  g_assert_cmpstr (config->state_dir, ==, "/run/vcrun");
  g_assert_null (config->plugin_dir);
  g_assert_true (g_str_has_suffix (config->sandbox.kernel, "/guest/vmlinuz"));
  g_assert_true (g_str_has_suffix (config->sandbox.initrd, "/guest/initrd.img"));

  g_autofree char *path = built_plugin_path (config);
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

  g_autofree char *path = built_plugin_path (config);
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
