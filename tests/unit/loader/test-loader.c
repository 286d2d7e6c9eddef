/* Tests of core/registry.c, the plugin loader, with the fixture plugins built
 * next to this program (fixture-plugin.c): a good multi-kind plugin, a good
 * agent plugin, and one broken plugin per failure the loader must report. */
#include <dlfcn.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <vcrun/plugin.h>
#include <vcrun/hypervisor.h>
#include <vcrun/agent.h>
#include <vcrun/fs.h>
#include <vcrun/device.h>
#include "core/vc-config.h"
#include "core/registry.h"
#include "test-util.h"

static char *tmpdir;
static char *fixture_dir;   /* .libs next to this test */

/* Live instances of a fixture, through the counter it exports; 0 when the
 * fixture was never loaded. */
static int
live_instances (const char *name)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.so", fixture_dir, name);
  void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (handle == NULL)
    return 0;
  int (*count) (void) = (int (*) (void)) dlsym (handle, "fixture_live_instances");
  g_assert_nonnull (count);
  int n = count ();
  dlclose (handle);   /* drops only the reference NOLOAD took */
  return n;
}

static const char *
last_settings (const char *name)
{
  g_autofree char *path = g_strdup_printf ("%s/%s.so", fixture_dir, name);
  void *handle = dlopen (path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  g_assert_nonnull (handle);
  const char *(*get) (void) = (const char *(*) (void)) dlsym (handle, "fixture_last_settings");
  g_assert_nonnull (get);
  const char *text = get ();
  dlclose (handle);
  return text;
}

/* Loads text as a config file named name; *path_out receives its path. */
static VcRegistry *
load_text (const char *name, const char *text, char **path_out, GError **error)
{
  g_autofree char *file = g_strdup_printf ("%s.conf", name);
  char *path = vc_test_write (tmpdir, file, text);
  *path_out = path;
  g_autoptr(GError) config_error = NULL;
  g_autoptr(VcConfig) config = vc_config_load (path, &config_error);
  g_assert_no_error (config_error);
  return vc_registry_load (config, error);
}

static void
test_good (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(VcRegistry) registry = load_text ("good",
    "plugins = (\n"
    "  { name = \"good-multi\"; settings = { count = 5; label = \"x\"; }; },\n"
    "  { name = \"good-agent\"; }\n"
    ");\n", &path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (live_instances ("good-multi"), ==, 1);
  g_assert_cmpint (live_instances ("good-agent"), ==, 1);

  GPtrArray *list = vc_registry_list (registry);
  g_assert_cmpuint (list->len, ==, 2);
  VcPlugin *multi = g_ptr_array_index (list, 0);
  g_assert_cmpstr (multi->name, ==, "good-multi");
  g_autofree char *expected_path = g_build_filename (fixture_dir, "good-multi.so", NULL);
  g_assert_cmpstr (multi->path, ==, expected_path);
  g_assert_cmpint (multi->line, ==, 2);
  g_assert_nonnull (multi->instance);
  g_assert_cmpstr (multi->desc->name, ==, "good-multi");
  g_assert_cmpstr (multi->desc->version, ==, "1.2.3");
  g_assert_cmpuint (multi->desc->kinds, ==, VC_PLUGIN_KIND_HYPERVISOR | VC_PLUGIN_KIND_FS);

  /* create() got the values from the file with the defaults filled in. */
  const char *want = "{'flag': <false>, 'count': <int64 5>, 'label': <'x'>, 'mode': <'fast'>}";
  g_assert_cmpstr (last_settings ("good-agent"), ==,
                   "{'flag': <false>, 'count': <int64 10>, 'mode': <'fast'>}");
  g_autofree char *kept = g_variant_print (multi->settings, FALSE);
  g_assert_cmpstr (kept, ==, want);

  /* Lookups by kind, and the vtables behind them. */
  VcPlugin *hv = vc_registry_lookup (registry, "good-multi", VC_PLUGIN_KIND_HYPERVISOR, &error);
  g_assert_no_error (error);
  g_assert_true (hv == multi);
  const VcHypervisorOps *hv_ops = vc_plugin_hypervisor (hv);
  g_assert_nonnull (hv_ops);
  g_assert_cmpuint (hv_ops->version, ==, VC_HYPERVISOR_OPS_VERSION);
  g_assert_nonnull (hv_ops->capabilities);
  g_assert_cmpuint (hv_ops->capabilities (hv->instance), ==, VC_HV_CAP_PAUSE | VC_HV_CAP_FS_9P);
  g_assert_nonnull (hv_ops->start_vm);   /* required: checked at load */
  g_assert_null (hv_ops->pause_vm);      /* absent: "not supported" */
  g_assert_true (multi->desc->hypervisor == hv_ops);

  VcPlugin *fs = vc_registry_lookup (registry, "good-multi", VC_PLUGIN_KIND_FS, &error);
  g_assert_no_error (error);
  const VcFsOps *fs_ops = vc_plugin_fs (fs);
  g_assert_nonnull (fs_ops);
  VcFsSandboxConfig sb = { .struct_size = sizeof sb, .sandbox_id = "s1" };
  g_assert_null (fs_ops->prepare (fs->instance, &sb, &error));
  vc_test_assert_error (error, VC_ERROR_NOT_SUPPORTED, "prepare is not supported", NULL);
  g_clear_error (&error);
  g_assert_nonnull (fs_ops->check);
  g_autoptr(GString) report = g_string_new (NULL);
  g_assert_true (fs_ops->check (fs->instance, report, &error));
  g_assert_cmpstr (report->str, ==, "fixture: ok\n");
  g_assert_null (vc_plugin_agent (multi));
  g_assert_null (vc_plugin_device (multi));

  VcPlugin *agent = vc_registry_lookup (registry, "good-agent", VC_PLUGIN_KIND_AGENT, &error);
  g_assert_no_error (error);
  g_assert_nonnull (vc_plugin_agent (agent));
  g_assert_true (vc_plugin_agent (agent)->check (NULL, NULL));
  g_assert_null (vc_plugin_hypervisor (agent));

  g_clear_pointer (&registry, vc_registry_free);
  g_assert_cmpint (live_instances ("good-multi"), ==, 0);
  g_assert_cmpint (live_instances ("good-agent"), ==, 0);
}

/* A plugin built against ABI 1.0 (fs vtable version 1, without check) loads
 * into this 1.x libvcrun; the method it lacks reads as NULL. */
static void
test_abi_1_0_plugin (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(VcRegistry) registry = load_text ("abi10", "plugins = ( { name = \"good-abi10\"; } );\n",
                                              &path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (registry);
  VcPlugin *plugin = vc_registry_lookup (registry, "good-abi10", VC_PLUGIN_KIND_FS, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (plugin->desc->abi_minor, ==, 0);
  const VcFsOps *fs_ops = vc_plugin_fs (plugin);
  g_assert_cmpuint (fs_ops->version, ==, 1);
  g_assert_nonnull (fs_ops->free_share);
  g_assert_null (fs_ops->check);
}

static void
test_lookup_errors (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(VcRegistry) registry = load_text ("lookup",
    "plugins = (\n  { name = \"good-multi\"; },\n  { name = \"good-agent\"; }\n);\n", &path, &error);
  g_assert_no_error (error);

  g_autofree char *where = g_strdup_printf ("%s:3: plugin 'good-agent': ", path);
  g_assert_null (vc_registry_lookup (registry, "good-agent", VC_PLUGIN_KIND_HYPERVISOR, &error));
  vc_test_assert_error (error, VC_ERROR_CONFIG, where, "is used as a hypervisor plugin but implements: agent", NULL);
  g_clear_error (&error);

  g_assert_null (vc_registry_lookup (registry, "good-multi", VC_PLUGIN_KIND_AGENT, &error));
  vc_test_assert_error (error, VC_ERROR_CONFIG, "plugin 'good-multi'", "implements: hypervisor,fs", NULL);
  g_clear_error (&error);

  g_assert_null (vc_registry_lookup (registry, "fs-9p", VC_PLUGIN_KIND_FS, &error));
  vc_test_assert_error (error, VC_ERROR_NOT_FOUND, "plugin 'fs-9p' is not loaded",
                        "loaded: good-multi, good-agent", NULL);
  g_clear_error (&error);

  g_assert_null (vc_registry_lookup (registry, NULL, VC_PLUGIN_KIND_HYPERVISOR, &error));
  g_autofree char *set = g_strdup_printf ("set sandbox.hypervisor in %s", path);
  vc_test_assert_error (error, VC_ERROR_CONFIG, "no hypervisor plugin is configured", set, NULL);
  g_clear_error (&error);

  g_assert_nonnull (vc_registry_lookup (registry, "good-multi", VC_PLUGIN_KIND_HYPERVISOR | VC_PLUGIN_KIND_FS, &error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------------- */

typedef struct {
  const char *plugin;
  int         code;
  const char *expect[2];
} BadPlugin;

/* The messages name this tree's ABI version, whatever it is now. */
#define ABI_NOW G_STRINGIFY (VC_ABI_MAJOR) "." G_STRINGIFY (VC_ABI_MINOR)

static const BadPlugin bad_plugins[] = {
  { "not-there",        VC_ERROR_NOT_FOUND, { "not-there.so not found; searched: " } },
  { "bad-undefined",    VC_ERROR_FAILED,    { "cannot load ", "vc_fixture_symbol_nobody_defines" } },
  { "bad-nosymbol",     VC_ERROR_ABI,       { "does not export vc_plugin_descriptor()" } },
  { "bad-nulldesc",     VC_ERROR_ABI,       { "vc_plugin_descriptor() in ", "returned NULL" } },
  { "bad-major",        VC_ERROR_ABI,       { "was built for plugin ABI 2." G_STRINGIFY (VC_ABI_MINOR)
                                                ", this libvcrun implements " ABI_NOW, "major versions differ" } },
  { "bad-minor",        VC_ERROR_ABI,       { ", newer than this libvcrun's " ABI_NOW } },
  { "bad-short",        VC_ERROR_ABI,       { "descriptor struct_size is 24 bytes, at least" } },
  { "bad-name",         VC_ERROR_ABI,       { "calls itself 'someone-else'" } },
  { "bad-nokinds",      VC_ERROR_ABI,       { "implements no kind" } },
  { "bad-nullvtable",   VC_ERROR_ABI,       { "announces the fs kind but its fs vtable is NULL" } },
  { "bad-shortvtable",  VC_ERROR_ABI,       { "its hypervisor vtable is 16 bytes, at least" } },
  { "bad-create-error", VC_ERROR_CONFIG,    { "fixture create failed: 'label' is bad" } },
  { "bad-create-null",  VC_ERROR_FAILED,    { "create failed without saying why" } },
  { "bad-default",      VC_ERROR_ABI,       { "default 'ten' of setting 'count' is not a valid int", "plugin bug" } },
  { "bad-nomethod",     VC_ERROR_ABI,       { "its hypervisor vtable lacks start_vm, which every hypervisor plugin must implement" } },
};

/* A good plugin first, the broken one second: the load fails naming the
 * broken one at its line, and the good one's instance is destroyed again. */
static void
test_bad_plugin (gconstpointer data)
{
  const BadPlugin *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = g_strdup_printf ("plugins = (\n  { name = \"good-multi\"; },\n"
                                           "  { name = \"%s\"; }\n);\n", c->plugin);
  g_autoptr(VcRegistry) registry = load_text (c->plugin, text, &path, &error);
  g_assert_null (registry);
  g_autofree char *where = g_strdup_printf ("%s:3: plugin '%s': ", path, c->plugin);
  vc_test_assert_error (error, c->code, where, c->expect[0], c->expect[1], NULL);
  g_assert_true (g_str_has_prefix (error->message, where));
  g_assert_cmpint (live_instances ("good-multi"), ==, 0);
  g_assert_cmpint (live_instances (c->plugin), ==, 0);
}

static void
test_not_found_lists_dirs (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *missing = g_build_filename (tmpdir, "no-such-dir", NULL);
  g_autofree char *search = g_strdup_printf ("%s::%s", missing, fixture_dir);
  g_setenv ("VCRUN_PLUGIN_PATH", search, TRUE);
  g_autoptr(VcRegistry) registry = load_text ("notfound",
    "plugins = (\n  { name = \"good-multi\"; },\n  { name = \"nowhere\"; }\n);\n", &path, &error);
  g_setenv ("VCRUN_PLUGIN_PATH", fixture_dir, TRUE);
  g_assert_null (registry);
  g_autofree char *searched = g_strdup_printf ("nowhere.so not found; searched: %s, %s (", missing, fixture_dir);
  vc_test_assert_error (error, VC_ERROR_NOT_FOUND, "plugin 'nowhere'", searched, NULL);
}

/* Without VCRUN_PLUGIN_PATH the config's runtime.plugin_dir is searched. */
static void
test_plugin_dir (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_unsetenv ("VCRUN_PLUGIN_PATH");
  g_autofree char *text = g_strdup_printf ("runtime: { plugin_dir = \"%s/empty:%s\"; };\n"
                                           "plugins = ( { name = \"good-agent\"; } );\n",
                                           tmpdir, fixture_dir);
  g_autoptr(VcRegistry) registry = load_text ("plugindir", text, &path, &error);
  g_setenv ("VCRUN_PLUGIN_PATH", fixture_dir, TRUE);
  g_assert_no_error (error);
  g_assert_cmpuint (vc_registry_list (registry)->len, ==, 1);
}

static void
test_not_elf (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *dir = g_build_filename (tmpdir, "junk", NULL);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  g_autofree char *so = vc_test_write (dir, "junk.so", "this is not an ELF file\n");
  g_autofree char *search = g_strdup_printf ("%s:%s", dir, fixture_dir);
  g_setenv ("VCRUN_PLUGIN_PATH", search, TRUE);
  g_autoptr(VcRegistry) registry = load_text ("junk",
    "plugins = (\n  { name = \"good-agent\"; },\n  { name = \"junk\"; }\n);\n", &path, &error);
  g_setenv ("VCRUN_PLUGIN_PATH", fixture_dir, TRUE);
  g_assert_null (registry);
  g_autofree char *cause = g_strdup_printf ("cannot load %s: ", so);
  g_autofree char *where = g_strdup_printf ("%s:3: plugin 'junk': ", path);
  vc_test_assert_error (error, VC_ERROR_FAILED, where, cause, NULL);
  g_assert_cmpint (live_instances ("good-agent"), ==, 0);
}

typedef struct {
  const char *name;
  const char *settings;   /* the settings group's body, on line 3 */
  const char *expect;
} BadSetting;

static const BadSetting bad_settings[] = {
  { "unknown", "colour = \"red\";", "unknown setting 'colour' (expected one of: flag, count, label, mode, any)" },
  { "type", "flag = 1;", "setting 'flag' must be a boolean" },
  { "range", "count = 500;", "setting 'count' is 500, expected 1..100" },
  { "choice", "mode = \"medium\";", "setting 'mode' is 'medium', expected one of fast|slow" },
};

static void
test_bad_setting (gconstpointer data)
{
  const BadSetting *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = g_strdup_printf ("plugins = (\n  { name = \"good-agent\"; },\n"
                                           "  { name = \"good-multi\"; settings = {\n"
                                           "      label = \"l\";\n      %s\n  }; }\n);\n", c->settings);
  g_autofree char *file = g_strdup_printf ("setting-%s", c->name);
  g_autoptr(VcRegistry) registry = load_text (file, text, &path, &error);
  g_assert_null (registry);
  g_autofree char *where = g_strdup_printf ("%s:5: plugin 'good-multi': ", path);
  vc_test_assert_error (error, VC_ERROR_CONFIG, where, c->expect, NULL);
  g_assert_cmpint (live_instances ("good-agent"), ==, 0);
  g_assert_cmpint (live_instances ("good-multi"), ==, 0);
}

/* The parser refuses bad and duplicate names; a config built in code reaches
 * the loader, which refuses them too. */
static void
add_entry (VcConfig *config, const char *name, int line)
{
  VcPluginEntry *entry = g_new0 (VcPluginEntry, 1);
  entry->name = g_strdup (name);
  entry->line = line;
  entry->settings = g_ptr_array_new ();
  g_ptr_array_add (config->plugins, entry);
}

static void
test_names_in_code (void)
{
  static const struct { const char *name; const char *expect; } cases[] = {
    { "../good-multi", "contains '/'" },
    { "good..multi", "contains '..'" },
    { "Good-Multi", "is invalid" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VcConfig) config = vc_config_new_default ();
      add_entry (config, "good-agent", 0);
      add_entry (config, cases[i].name, 0);
      g_autoptr(VcRegistry) registry = vc_registry_load (config, &error);
      g_assert_null (registry);
      g_autofree char *who = g_strdup_printf ("plugin '%s': ", cases[i].name);
      vc_test_assert_error (error, VC_ERROR_CONFIG, who, cases[i].expect, NULL);
      g_assert_cmpint (live_instances ("good-agent"), ==, 0);
    }

  g_autoptr(GError) error = NULL;
  g_autoptr(VcConfig) config = vc_config_new_default ();
  add_entry (config, "good-agent", 2);
  add_entry (config, "good-multi", 3);
  add_entry (config, "good-agent", 4);
  g_autoptr(VcRegistry) registry = vc_registry_load (config, &error);
  g_assert_null (registry);
  vc_test_assert_error (error, VC_ERROR_CONFIG, "plugin 'good-agent': listed twice (first at line 2)", NULL);
  g_assert_cmpint (live_instances ("good-agent"), ==, 0);
  g_assert_cmpint (live_instances ("good-multi"), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = vc_test_tmpdir ();
  fixture_dir = g_test_build_filename (G_TEST_BUILT, ".libs", NULL);
  g_setenv ("VCRUN_PLUGIN_PATH", fixture_dir, TRUE);

  g_test_add_func ("/loader/good", test_good);
  g_test_add_func ("/loader/abi-1.0-plugin", test_abi_1_0_plugin);
  g_test_add_func ("/loader/lookup-errors", test_lookup_errors);
  g_test_add_func ("/loader/not-found-lists-dirs", test_not_found_lists_dirs);
  g_test_add_func ("/loader/plugin-dir", test_plugin_dir);
  g_test_add_func ("/loader/not-elf", test_not_elf);
  g_test_add_func ("/loader/names-in-code", test_names_in_code);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_plugins); i++)
    {
      g_autofree char *name = g_strdup_printf ("/loader/bad/%s", bad_plugins[i].plugin);
      g_test_add_data_func (name, &bad_plugins[i], test_bad_plugin);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad_settings); i++)
    {
      g_autofree char *name = g_strdup_printf ("/loader/bad-setting/%s", bad_settings[i].name);
      g_test_add_data_func (name, &bad_settings[i], test_bad_setting);
    }

  int status = g_test_run ();
  vc_test_rmtree (tmpdir);
  g_free (tmpdir);
  g_free (fixture_dir);
  return status;
}
