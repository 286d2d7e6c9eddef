/* Cold plug of the first container's block volumes, through the fakes and
 * the real device-block plugin: a sandbox created with its first
 * container's bundle adds the volumes before start_vm and that container's
 * create hot-plugs nothing; deleting it unplugs them; a container with
 * another bundle, or another ID, gets hotplug; a bad volume fails the
 * sandbox's create before any VM exists and leaves nothing. */
#include "lifecycle-util.h"

#include <string.h>

#include <glib/gstdio.h>
#include <vcrun/types.h>

#include "sandbox.h"
#include "container.h"

typedef struct {
  LcWorld *w;
  char    *image_a, *image_b;
  char    *bundle_a, *bundle_b;
} Fixture;

static char *
device_block_dir (void)
{
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  if (top)
    return g_build_filename (top, "plugins", "device-block", ".libs", NULL);
  return g_test_build_filename (G_TEST_BUILT, "..", "..", "..", "plugins", "device-block", ".libs", NULL);
}

static char *
volume_bundle (LcWorld *w, const char *name, const char *image, const char *options)
{
  char *bundle = g_build_filename (w->tmp, name, NULL);
  g_autofree char *mounts = g_strdup_printf (
    "\"mounts\": [ { \"destination\": \"/data\", \"type\": \"ext4\", \"source\": \"%s\", "
    "\"options\": [\"%s\"] } ]", image, options);
  lc_write_bundle (bundle, "[\"true\"]", mounts);
  return bundle;
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  f->w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(GError) error = NULL;
  /* The world's configuration plus device-block. */
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (f->w->config, &text, NULL, &error));
  g_autofree char *fakes = lc_fake_plugin_dir ();
  g_autofree char *blockdir = device_block_dir ();
  g_autofree char *dirs = g_strdup_printf ("%s:%s", fakes, blockdir);
  g_autofree char *fake_dir_text = g_strdup_printf ("plugin_dir = \"%s\"", fakes);
  g_autofree char *both_dir_text = g_strdup_printf ("plugin_dir = \"%s\"", dirs);
  g_autoptr(GString) conf = g_string_new (text);
  g_assert_cmpint (g_string_replace (conf, fake_dir_text, both_dir_text, 1), ==, 1);
  g_assert_cmpint (g_string_replace (conf, "\n);\n", ",\n  { name = \"device-block\"; }\n);\n", 1), ==, 1);
  g_assert_true (g_file_set_contents (f->w->config, conf->str, -1, &error));
  f->image_a = g_build_filename (f->w->tmp, "a.img", NULL);
  f->image_b = g_build_filename (f->w->tmp, "b.img", NULL);
  g_assert_true (g_file_set_contents (f->image_a, "", 0, &error));
  g_assert_true (g_file_set_contents (f->image_b, "", 0, &error));
  f->bundle_a = volume_bundle (f->w, "bundle-a", f->image_a, "rw");
  f->bundle_b = volume_bundle (f->w, "bundle-b", f->image_b, "ro");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  g_free (f->image_a);
  g_free (f->image_b);
  g_free (f->bundle_a);
  g_free (f->bundle_b);
  lc_world_free (f->w);
}

static gboolean
device_block_built (void)
{
  g_autofree char *dir = device_block_dir ();
  g_autofree char *so = g_build_filename (dir, "device-block.so", NULL);
  if (g_file_test (so, G_FILE_TEST_EXISTS))
    return TRUE;
  g_test_skip ("device-block is not built");
  return FALSE;
}

static VcSandbox *
create_with_bundle (Fixture *f, const char *id, const char *bundle, const char *container_id,
                    GError **error)
{
  g_autoptr(VcRuntime) rt = lc_world_runtime (f->w);
  VcSandboxOptions options = { .bundle = bundle, .container_id = container_id };
  return vc_sandbox_create (rt, id, &options, error);
}

static char *
state_text (Fixture *f, const char *id)
{
  g_autofree char *path = g_build_filename (f->w->state_dir, id, "sandbox.json", NULL);
  char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return text;
}

/* Number of log lines starting with prefix. */
static guint
log_count (LcWorld *w, const char *prefix)
{
  g_autoptr(GPtrArray) lines = lc_log_lines (w);
  guint n = 0;
  for (guint i = 0; i < lines->len; i++)
    n += g_str_has_prefix (lines->pdata[i], prefix);
  return n;
}

static void
test_first_container (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!device_block_built ())
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_with_bundle (f, "cp1", f->bundle_a, NULL, &error);
  g_assert_no_error (error);
  /* The disk is added before the VM starts. */
  int added = lc_log_index (f->w, "hv add_device blk");
  int started = lc_log_index (f->w, "hv start_vm");
  g_assert_cmpint (added, >=, 0);
  g_assert_cmpint (added, <, started);
  g_assert_cmpuint (log_count (f->w, "hv add_device blk"), ==, 1);

  /* Its create takes it: no hotplug. */
  g_autoptr(VcContainer) c = vc_container_create (sb, "cp1", f->bundle_a, &error);
  g_assert_no_error (error);
  g_assert_false (lc_log_has (f->w, "hv hotplug_add"));
  /* sandbox.json no longer notes them as waiting for their container */
  g_autofree char *text = state_text (f, "cp1");
  g_assert_null (strstr (text, "\"cold_plugged\""));
  /* Deleting the container unplugs it from the running VM. */
  g_assert_true (vc_container_delete (c, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (log_count (f->w, "hv hotplug_remove blk"), ==, 1);

  /* A second container (another ID) with the same bundle hot-plugs. */
  g_autoptr(VcContainer) c2 = vc_container_create (sb, "cp1-second", f->bundle_a, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (log_count (f->w, "hv hotplug_add blk"), ==, 1);
  g_assert_true (vc_container_delete (c2, TRUE, &error));
  g_assert_cmpuint (log_count (f->w, "hv hotplug_remove blk"), ==, 2);
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

/* The container announced at boot comes with another bundle: the disks of
 * boot are unplugged and its own hot-plugged. */
static void
test_other_bundle (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!device_block_built ())
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_with_bundle (f, "cp2", f->bundle_a, "c0", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (log_count (f->w, "hv add_device blk"), ==, 1);
  g_autoptr(VcContainer) c = vc_container_create (sb, "c0", f->bundle_b, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (log_count (f->w, "hv hotplug_remove blk"), ==, 1);
  g_assert_cmpuint (log_count (f->w, "hv hotplug_add blk"), ==, 1);
  g_assert_true (lc_log_has (f->w, "hv hotplug_add blk") && log_count (f->w, "hv hotplug_add") == 1);
  g_autoptr(GPtrArray) lines = lc_log_lines (f->w);
  gboolean ro = FALSE;
  for (guint i = 0; i < lines->len; i++)
    ro |= g_str_has_prefix (lines->pdata[i], "hv hotplug_add blk") && g_str_has_suffix (lines->pdata[i], " ro");
  g_assert_true (ro);  /* bundle-b's volume is read-only */
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

/* A missing image fails the sandbox's create before any VM, leaving nothing. */
static void
test_missing_image (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!device_block_built ())
    return;
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = g_build_filename (f->w->tmp, "no-such.img", NULL);
  g_autofree char *bundle = volume_bundle (f->w, "bundle-missing", missing, "rw");
  g_autoptr(VcSandbox) sb = create_with_bundle (f, "cp3", bundle, NULL, &error);
  g_assert_null (sb);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "container cp3: mounts[0].source: ", missing,
                   "No such file", NULL);
  g_assert_false (lc_log_has (f->w, "hv create_vm"));
  g_assert_false (lc_log_has (f->w, "fs prepare"));
  g_autofree char *dir = g_build_filename (f->w->state_dir, "cp3", NULL);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

/* start_vm fails after the cold plug: the create is undone, nothing is left. */
static void
test_boot_fails (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!device_block_built ())
    return;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (f->w->config, &text, NULL, &error));
  g_autoptr(GString) conf = g_string_new (text);
  g_autofree char *hv_log = g_strdup_printf ("{ log = \"%s\"; ", f->w->log);
  g_autofree char *hv_fail = g_strdup_printf ("{ log = \"%s\"; fail_at = \"start_vm\"; ", f->w->log);
  g_assert_cmpint (g_string_replace (conf, hv_log, hv_fail, 1), ==, 1);
  g_assert_true (g_file_set_contents (f->w->config, conf->str, -1, &error));
  g_autoptr(VcSandbox) sb = create_with_bundle (f, "cp4", f->bundle_a, NULL, &error);
  g_assert_null (sb);
  lc_assert_error (error, VC_ERROR_FAILED, "start_vm", NULL);
  g_assert_true (lc_log_has (f->w, "hv add_device blk"));
  g_autofree char *dir = g_build_filename (f->w->state_dir, "cp4", NULL);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

/* Another process (a restarted vcrund) creates the container: the devices
 * plugged at boot, noted in sandbox.json, are unplugged and plugged again. */
static void
test_reattached (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!device_block_built ())
    return;
  g_autoptr(GError) error = NULL;
  VcSandbox *first = create_with_bundle (f, "cp6", f->bundle_a, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *before = state_text (f, "cp6");
  g_assert_nonnull (strstr (before, "\"cold_plugged\""));
  g_assert_nonnull (strstr (before, "device-block:blk"));
  vc_sandbox_unref (first);  /* the VM keeps running */

  g_autoptr(VcRuntime) rt = lc_world_runtime (f->w);
  g_autoptr(VcSandbox) sb = vc_sandbox_load (rt, "cp6", &error);
  g_assert_no_error (error);
  g_autoptr(VcContainer) c = vc_container_create (sb, "cp6", f->bundle_a, &error);
  g_assert_no_error (error);
  int removed = lc_log_index (f->w, "hv hotplug_remove blk");
  int added = lc_log_index (f->w, "hv hotplug_add blk");
  g_assert_cmpint (removed, >=, 0);
  g_assert_cmpint (removed, <, added);
  g_autofree char *after = state_text (f, "cp6");
  g_assert_null (strstr (after, "\"cold_plugged\""));
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

/* Without a bundle nothing is cold-plugged, and the container hot-plugs. */
static void
test_no_bundle (Fixture *f, gconstpointer data)
{
  (void) data;
  if (!device_block_built ())
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_with_bundle (f, "cp5", NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (lc_log_has (f->w, "hv add_device blk"));
  g_autoptr(VcContainer) c = vc_container_create (sb, "cp5", f->bundle_a, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (log_count (f->w, "hv hotplug_add blk"), ==, 1);
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/cold-plug/" path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("first-container", test_first_container);
  ADD ("other-bundle", test_other_bundle);
  ADD ("missing-image", test_missing_image);
  ADD ("boot-fails", test_boot_fails);
  ADD ("no-bundle", test_no_bundle);
  ADD ("reattached", test_reattached);
  return g_test_run ();
}
