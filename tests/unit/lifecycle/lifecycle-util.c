/* Helpers shared by the lifecycle tests and their second-process helper. */
#include "lifecycle-util.h"

#include <stdarg.h>
#include <string.h>

#include <glib/gstdio.h>
#include <vcrun/types.h>

char *
lc_fake_plugin_dir (void)
{
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  if (top)
    return g_build_filename (top, "tests", "fake", ".libs", NULL);
  return g_test_build_filename (G_TEST_BUILT, "..", "..", "fake", ".libs", NULL);
}

void
lc_rmtree (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        lc_rmtree (path);
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

void
lc_write_bundle (const char *bundle, const char *args_json, const char *extra_members)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *rootfs = g_build_filename (bundle, "rootfs", NULL);
  g_mkdir_with_parents (rootfs, 0755);
  g_autofree char *json = g_strdup_printf (
    "{ \"ociVersion\": \"1.0.2\",\n"
    "  \"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
    "  \"process\": { \"args\": %s, \"cwd\": \"/\", \"env\": [\"PATH=/bin\"],\n"
    "               \"user\": { \"uid\": 0, \"gid\": 0 } }%s%s\n}\n",
    args_json, extra_members ? ",\n  " : "", extra_members ? extra_members : "");
  g_autofree char *path = g_build_filename (bundle, "config.json", NULL);
  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
}

LcWorld *
lc_world_new (const char *hv_extra, const char *agent_extra, const char *fs_extra)
{
  g_autoptr(GError) error = NULL;
  LcWorld *w = g_new0 (LcWorld, 1);
  w->tmp = g_dir_make_tmp ("vcrun-lifecycle-XXXXXX", &error);
  g_assert_no_error (error);
  w->state_dir = g_build_filename (w->tmp, "state", NULL);
  w->log = g_build_filename (w->tmp, "calls.log", NULL);
  w->config = g_build_filename (w->tmp, "vcrun.conf", NULL);
  w->bundle = g_build_filename (w->tmp, "bundle", NULL);
  g_autofree char *plugins = lc_fake_plugin_dir ();

  g_autofree char *text = g_strdup_printf (
    "runtime: { state_dir = \"%s\"; plugin_dir = \"%s\"; };\n"
    "plugins: (\n"
    "  { name = \"fake-hypervisor\"; settings = { log = \"%s\"; %s }; },\n"
    "  { name = \"fake-agent\"; settings = { log = \"%s\"; %s }; },\n"
    "  { name = \"fake-fs\"; settings = { log = \"%s\"; %s }; }\n"
    ");\n"
    "sandbox: { hypervisor = \"fake-hypervisor\"; agent = \"fake-agent\"; fs = \"fake-fs\";\n"
    "           kernel = \"/nonexistent/vmlinuz\"; initrd = \"/nonexistent/initrd.img\"; };\n",
    w->state_dir, plugins, w->log, hv_extra ? hv_extra : "", w->log,
    agent_extra ? agent_extra : "", w->log, fs_extra ? fs_extra : "");
  g_file_set_contents (w->config, text, -1, &error);
  g_assert_no_error (error);
  lc_write_bundle (w->bundle, "[\"sleep\", \"1000\"]", NULL);
  return w;
}

void
lc_world_free (LcWorld *w)
{
  if (w == NULL)
    return;
  lc_rmtree (w->tmp);
  g_free (w->tmp);
  g_free (w->state_dir);
  g_free (w->log);
  g_free (w->config);
  g_free (w->bundle);
  g_free (w);
}

VcRuntime *
lc_world_runtime (LcWorld *w)
{
  g_autoptr(GError) error = NULL;
  VcRuntime *rt = vc_runtime_new (w->config, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (rt);
  return rt;
}

GPtrArray *
lc_log_lines (LcWorld *w)
{
  g_autofree char *text = NULL;
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  if (!g_file_get_contents (w->log, &text, NULL, NULL))
    return lines;
  g_auto(GStrv) split = g_strsplit (text, "\n", -1);
  for (char **l = split; *l; l++)
    if (**l)
      g_ptr_array_add (lines, g_strdup (*l));
  return lines;
}

int
lc_log_index (LcWorld *w, const char *prefix)
{
  g_autoptr(GPtrArray) lines = lc_log_lines (w);
  for (guint i = 0; i < lines->len; i++)
    if (g_str_has_prefix (lines->pdata[i], prefix))
      return (int) i;
  return -1;
}

gboolean
lc_log_has (LcWorld *w, const char *prefix)
{
  return lc_log_index (w, prefix) >= 0;
}

void
lc_log_clear (LcWorld *w)
{
  g_unlink (w->log);
}

void
lc_assert_error (const GError *error, int code, ...)
{
  g_assert_nonnull (error);
  g_test_message ("error: %s", error->message);
  g_assert_error (error, VC_ERROR, code);
  va_list ap;
  va_start (ap, code);
  for (const char *s = va_arg (ap, const char *); s != NULL; s = va_arg (ap, const char *))
    if (strstr (error->message, s) == NULL)
      {
        g_test_message ("error message \"%s\" lacks \"%s\"", error->message, s);
        g_test_fail ();
      }
  va_end (ap);
}
