/* Tests of core/config.c: a good file, the defaults, and each kind of error
 * with the FILE:LINE it must name. */
#include <glib.h>
#include <glib/gstdio.h>
#include <vcrun/types.h>
#include "core/vc-config.h"
#include "test-util.h"

static const char good_config[] =
  "# a complete configuration\n"                                   /* 1 */
  "runtime: { state_dir = \"/tmp/vcrun-state\"; log_level = \"debug\";\n"
  "           plugin_dir = \"/a/plugins:/b/plugins\"; }\n"
  "plugins: (\n"
  "  { name = \"hypervisor-qemu\";\n"                              /* 5 */
  "    settings = { path = \"/usr/bin/qemu\"; accel = \"tcg\"; seccomp_sandbox = true; } },\n"
  "  { name = \"agent-kata\"; settings = { dial_timeout_ms = 30000; big = 8589934592L; } },\n"
  "  { name = \"fs-9p\" }\n"
  ");\n"
  "sandbox: { hypervisor = \"hypervisor-qemu\"; agent = \"agent-kata\"; fs = \"fs-9p\";\n" /* 10 */
  "           vcpus = 2; max_vcpus = 4; memory_mib = 512; max_memory_mib = 2048;\n"
  "           kernel = \"/boot/vmlinuz\"; initrd = \"/boot/initrd.img\";\n"
  "           kernel_params = \"quiet\"; }\n";

static char *tmpdir;

static const VcRawSetting *
raw_setting (const VcPluginEntry *entry, guint i)
{
  g_assert_cmpuint (i, <, entry->settings->len);
  return g_ptr_array_index (entry->settings, i);
}

static void
test_good (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = vc_test_write (tmpdir, "good.conf", good_config);
  g_autoptr(VcConfig) config = vc_config_load (path, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (config->file, ==, path);
  g_assert_cmpstr (config->state_dir, ==, "/tmp/vcrun-state");
  g_assert_cmpstr (config->log_level, ==, "debug");
  g_assert_cmpstr (config->plugin_dir, ==, "/a/plugins:/b/plugins");

  g_assert_cmpuint (config->plugins->len, ==, 3);
  VcPluginEntry *qemu = g_ptr_array_index (config->plugins, 0);
  g_assert_cmpstr (qemu->name, ==, "hypervisor-qemu");
  g_assert_cmpint (qemu->line, ==, 5);
  g_assert_cmpuint (qemu->settings->len, ==, 3);
  g_assert_cmpstr (raw_setting (qemu, 0)->key, ==, "path");
  g_assert_cmpstr (g_variant_get_string (raw_setting (qemu, 0)->value, NULL), ==, "/usr/bin/qemu");
  g_assert_cmpint (raw_setting (qemu, 0)->line, ==, 6);
  g_assert_true (g_variant_get_boolean (raw_setting (qemu, 2)->value));

  VcPluginEntry *kata = g_ptr_array_index (config->plugins, 1);
  g_assert_cmpint (kata->line, ==, 7);
  g_assert_cmpint (g_variant_get_int64 (raw_setting (kata, 0)->value), ==, 30000);
  g_assert_cmpint (g_variant_get_int64 (raw_setting (kata, 1)->value), ==, G_GINT64_CONSTANT (8589934592));

  VcPluginEntry *ninep = g_ptr_array_index (config->plugins, 2);
  g_assert_cmpstr (ninep->name, ==, "fs-9p");
  g_assert_cmpuint (ninep->settings->len, ==, 0);

  g_assert_cmpstr (config->sandbox.hypervisor, ==, "hypervisor-qemu");
  g_assert_cmpstr (config->sandbox.agent, ==, "agent-kata");
  g_assert_cmpstr (config->sandbox.fs, ==, "fs-9p");
  g_assert_cmpuint (config->sandbox.vcpus, ==, 2);
  g_assert_cmpuint (config->sandbox.max_vcpus, ==, 4);
  g_assert_cmpuint (config->sandbox.memory_mib, ==, 512);
  g_assert_cmpuint (config->sandbox.max_memory_mib, ==, 2048);
  g_assert_cmpstr (config->sandbox.kernel, ==, "/boot/vmlinuz");
  g_assert_cmpstr (config->sandbox.initrd, ==, "/boot/initrd.img");
  g_assert_cmpstr (config->sandbox.kernel_params, ==, "quiet");
}

static void
assert_defaults (const VcConfig *config)
{
  g_assert_cmpstr (config->state_dir, ==, "/run/vcrun");
  g_assert_cmpstr (config->log_level, ==, "info");
  g_assert_null (config->plugin_dir);
  g_assert_cmpuint (config->plugins->len, ==, 0);
  g_assert_null (config->sandbox.hypervisor);
  g_assert_null (config->sandbox.agent);
  g_assert_null (config->sandbox.fs);
  g_assert_cmpuint (config->sandbox.vcpus, ==, 1);
  g_assert_cmpuint (config->sandbox.max_vcpus, ==, 0);
  g_assert_cmpuint (config->sandbox.memory_mib, ==, 256);
  g_assert_cmpuint (config->sandbox.max_memory_mib, ==, 0);
  g_assert_cmpstr (config->sandbox.kernel, ==, VC_GUEST_DIR "/vmlinuz");
  g_assert_cmpstr (config->sandbox.initrd, ==, VC_GUEST_DIR "/initrd.img");
  g_assert_null (config->sandbox.kernel_params);
}

static void
test_defaults (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = vc_test_write (tmpdir, "empty.conf", "# nothing\n");
  g_autoptr(VcConfig) config = vc_config_load (path, &error);
  g_assert_no_error (error);
  assert_defaults (config);

  /* Groups present but empty mean the same. */
  g_autofree char *path2 = vc_test_write (tmpdir, "groups.conf",
                                          "runtime: { };\nplugins: ( );\nsandbox: { };\n");
  g_autoptr(VcConfig) config2 = vc_config_load (path2, &error);
  g_assert_no_error (error);
  assert_defaults (config2);

  g_autoptr(VcConfig) builtin = vc_config_new_default ();
  assert_defaults (builtin);
  g_assert_null (builtin->file);
}

static void
test_missing_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (tmpdir, "does-not-exist.conf", NULL);
  g_autoptr(VcConfig) config = vc_config_load (path, &error);
  g_assert_null (config);
  g_autofree char *prefix = g_strdup_printf ("%s: ", path);
  vc_test_assert_error (error, VC_ERROR_CONFIG, prefix, "No such file or directory", NULL);
}

static void
test_include_error (void)
{
  /* An error inside an @include'd file names that file and its line. */
  g_autoptr(GError) error = NULL;
  g_autofree char *sub = vc_test_write (tmpdir, "sub.conf", "\nsandbox: { vcpus = 0; };\n");
  g_autofree char *path = vc_test_write (tmpdir, "main.conf", "@include \"sub.conf\"\n");
  g_autoptr(VcConfig) config = vc_config_load (path, &error);
  g_assert_null (config);
  g_autofree char *where = g_strdup_printf ("%s:2: ", sub);
  vc_test_assert_error (error, VC_ERROR_CONFIG, where, "sandbox.vcpus", NULL);
}

static void
test_default_path (void)
{
  g_unsetenv ("VCRUN_CONFIG");
  g_assert_cmpstr (vc_config_default_path (NULL), ==, VC_SYSCONF_DIR "/vcrun/vcrun.conf");
  g_assert_cmpstr (vc_config_default_path (""), ==, VC_SYSCONF_DIR "/vcrun/vcrun.conf");
  g_assert_cmpstr (vc_config_default_path ("/x/explicit.conf"), ==, "/x/explicit.conf");
  g_setenv ("VCRUN_CONFIG", "/y/env.conf", TRUE);
  g_assert_cmpstr (vc_config_default_path (NULL), ==, "/y/env.conf");
  g_assert_cmpstr (vc_config_default_path ("/x/explicit.conf"), ==, "/x/explicit.conf");
  g_unsetenv ("VCRUN_CONFIG");
}

static void
test_plugin_names (void)
{
  static const char *const good[] = { "fs-9p", "a", "0x", "hypervisor_qemu.v2", NULL };
  static const char *const bad[] = { "", "a/b", "..", "a..b", "/abs", "Upper", "-dash", ".hidden",
                                     "sp ace", "t\xc3\xa9", NULL };
  for (const char *const *n = good; *n; n++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_true (vc_plugin_name_check (*n, &error));
      g_assert_no_error (error);
    }
  for (const char *const *n = bad; *n; n++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (vc_plugin_name_check (*n, &error));
      vc_test_assert_error (error, VC_ERROR_CONFIG, NULL);
    }
  g_autofree char *longname = g_strnfill (VC_PLUGIN_NAME_MAX + 1, 'a');
  g_assert_false (vc_plugin_name_check (longname, NULL));
  longname[VC_PLUGIN_NAME_MAX] = '\0';
  g_assert_true (vc_plugin_name_check (longname, NULL));
}

/* ------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *text;
  int         line;       /* the line the message must name */
  const char *expect[3];  /* substrings the message must hold */
} BadCase;

static const BadCase bad_cases[] = {
  { "syntax", "runtime: {\n  state_dir = \"/x\";\n  log_level = ;\n};\n", 3, { "syntax error" } },
  { "unknown-top", "runtime: { };\n\nbogus = 1;\n", 3, { "unknown key 'bogus'", "runtime, plugins, sandbox" } },
  { "unknown-runtime", "runtime: {\n  state_dri = \"/x\";\n};\n", 2, { "unknown key 'runtime.state_dri'", "state_dir" } },
  { "unknown-sandbox", "sandbox: {\n vcpus = 1;\n  memory = 5;\n};\n", 3, { "unknown key 'sandbox.memory'" } },
  { "unknown-plugin-key", "plugins: (\n  { name = \"fs-9p\";\n    setings = { }; }\n);\n", 3,
    { "unknown key 'plugins[0].setings'", "name, settings" } },
  { "runtime-not-group", "runtime = \"x\";\n", 1, { "'runtime' must be a group", "not a string" } },
  { "state-dir-type", "runtime: {\n  state_dir = 5;\n};\n", 2, { "'runtime.state_dir' must be a string", "not an integer" } },
  { "state-dir-relative", "runtime: {\n\n  state_dir = \"run/vcrun\";\n};\n", 3, { "'runtime.state_dir' must be an absolute path" } },
  { "state-dir-empty", "runtime: { state_dir = \"\"; };\n", 1, { "'runtime.state_dir' must not be empty" } },
  /* libconfig 1.5 would exit() on these (found by tests/fuzz/fuzz-config). */
  { "include-dir", "runtime: { };\n@include \".\"\n", 2, { "@include \".\": not a file" } },
  { "include-empty", "\n\n@include \"\"\n", 3, { "@include needs a file name in double quotes" } },
  { "non-utf8", "sandbox: {\n  kernel = \"/k\xff\";\n};\n", 2, { "'sandbox.kernel' is not valid UTF-8" } },
  { "log-level", "runtime: {\n  log_level = \"verbose\";\n};\n", 2, { "'runtime.log_level' is 'verbose'", "error|warning|info|debug" } },
  { "log-level-type", "runtime: {\n  log_level = true;\n};\n", 2, { "'runtime.log_level' must be a string", "not a boolean" } },
  { "plugin-dir-relative", "runtime: {\n  plugin_dir = \"/ok:rel/dir\";\n};\n", 2, { "'runtime.plugin_dir' holds 'rel/dir'" } },
  { "plugins-not-list", "plugins = { name = \"x\"; };\n", 1, { "'plugins' must be a list", "not a group" } },
  { "plugins-entry-not-group", "plugins = (\n  \"fs-9p\",\n  { name = \"a\"; }\n);\n", 2, { "plugins entry 1 must be a group", "not a string" } },
  { "plugins-entry-no-name", "plugins = (\n  { name = \"a\"; },\n  { settings = { }; }\n);\n", 3, { "plugins entry 2 has no 'name'" } },
  { "plugins-name-type", "plugins = (\n  { name = 7; }\n);\n", 2, { "'plugins[0].name' must be a string", "not an integer" } },
  { "plugins-name-slash", "plugins = (\n  { name = \"../evil\"; }\n);\n", 2, { "'../evil' contains '/'" } },
  { "plugins-name-dotdot", "plugins = (\n  { name = \"a..b\"; }\n);\n", 2, { "'a..b' contains '..'" } },
  { "plugins-name-upper", "plugins = (\n  { name = \"FS\"; }\n);\n", 2, { "'FS' is invalid", "[a-z0-9]" } },
  { "plugins-duplicate", "plugins = (\n  { name = \"fs-9p\"; },\n  { name = \"fs-9p\"; }\n);\n", 3,
    { "plugin 'fs-9p' is listed twice", "first at line 2" } },
  { "settings-not-group", "plugins = (\n  { name = \"fs-9p\";\n    settings = ( 1 ); }\n);\n", 3, { "'plugins[0].settings' must be a group" } },
  { "settings-float", "plugins = (\n  { name = \"fs-9p\"; settings = {\n    msize = 1.5; }; }\n);\n", 3,
    { "plugin 'fs-9p': setting 'msize' must be a boolean, an integer or a string", "not a float" } },
  { "settings-array", "plugins = (\n  { name = \"fs-9p\"; settings = {\n\n    msize = [ 1, 2 ]; }; }\n);\n", 4,
    { "setting 'msize'", "not an array" } },
  { "vcpus-type", "sandbox: {\n  vcpus = \"2\";\n};\n", 2, { "'sandbox.vcpus' must be an integer", "not a string" } },
  { "vcpus-float", "sandbox: {\n  vcpus = 2.0;\n};\n", 2, { "'sandbox.vcpus' must be an integer", "not a float" } },
  { "vcpus-zero", "sandbox: {\n  vcpus = 0;\n};\n", 2, { "'sandbox.vcpus' is 0, expected 1..256" } },
  { "vcpus-big", "sandbox: {\n  vcpus = 257;\n};\n", 2, { "'sandbox.vcpus' is 257, expected 1..256" } },
  { "vcpus-huge", "sandbox: {\n  vcpus = 4294967297L;\n};\n", 2, { "'sandbox.vcpus' is 4294967297, expected 1..256" } },
  { "max-vcpus-small", "sandbox: {\n  vcpus = 4;\n  max_vcpus = 2;\n};\n", 3, { "'sandbox.max_vcpus' is 2, expected at least vcpus (4)" } },
  { "memory-small", "sandbox: {\n  memory_mib = 63;\n};\n", 2, { "'sandbox.memory_mib' is 63, expected 64..1048576" } },
  { "memory-big", "sandbox: {\n  memory_mib = 1048577;\n};\n", 2, { "'sandbox.memory_mib' is 1048577" } },
  { "max-memory-small", "sandbox: {\n  max_memory_mib = 128;\n};\n", 2, { "'sandbox.max_memory_mib' is 128, expected at least memory_mib (256)" } },
  { "kernel-relative", "sandbox: {\n  kernel = \"vmlinuz\";\n};\n", 2, { "'sandbox.kernel' must be an absolute path" } },
  { "initrd-type", "sandbox: {\n  initrd = false;\n};\n", 2, { "'sandbox.initrd' must be a string" } },
  { "kernel-params-type", "sandbox: {\n  kernel_params = 3;\n};\n", 2, { "'sandbox.kernel_params' must be a string" } },
  { "hypervisor-not-listed", "plugins = ( { name = \"fs-9p\"; } );\nsandbox: {\n  hypervisor = \"hypervisor-qemu\";\n};\n", 3,
    { "'sandbox.hypervisor' names plugin 'hypervisor-qemu', which is not in the plugins list (fs-9p)" } },
  { "agent-not-listed", "sandbox: {\n  agent = \"agent-kata\";\n};\n", 2, { "'sandbox.agent' names plugin 'agent-kata'", "(empty)" } },
  { "fs-type", "plugins = ( { name = \"fs-9p\"; } );\nsandbox: {\n  fs = [ \"fs-9p\" ];\n};\n", 3, { "'sandbox.fs' must be a string", "not an array" } },
};

static void
test_bad (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *file = g_strdup_printf ("%s.conf", c->name);
  g_autofree char *path = vc_test_write (tmpdir, file, c->text);
  g_autoptr(VcConfig) config = vc_config_load (path, &error);
  g_assert_null (config);
  g_autofree char *where = g_strdup_printf ("%s:%d: ", path, c->line);
  if (error != NULL && !g_str_has_prefix (error->message, where))
    {
      g_test_message ("\"%s\" does not start with \"%s\"", error->message, where);
      g_test_fail ();
    }
  vc_test_assert_error (error, VC_ERROR_CONFIG, where, c->expect[0], c->expect[1], c->expect[2], NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = vc_test_tmpdir ();

  g_test_add_func ("/config/good", test_good);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/missing-file", test_missing_file);
  g_test_add_func ("/config/include-error", test_include_error);
  g_test_add_func ("/config/default-path", test_default_path);
  g_test_add_func ("/config/plugin-names", test_plugin_names);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/config/bad/%s", bad_cases[i].name);
      g_test_add_data_func (name, &bad_cases[i], test_bad);
    }

  int status = g_test_run ();
  vc_test_rmtree (tmpdir);
  g_free (tmpdir);
  return status;
}
