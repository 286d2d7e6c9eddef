/* Mount points made in a read-only rootfs on the host (core/mountpoints.c):
 * what is missing is made, what exists is left alone, what lies inside an
 * earlier mount is left to the guest, and a rootfs's symlinks cannot make it
 * write outside the rootfs. */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <vcrun/types.h>

#include "lifecycle-util.h"
#include "mountpoints.h"

typedef struct {
  char *bundle;
  char *rootfs;
  char *outside;   /* a directory beside the rootfs that links point at */
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  f->bundle = g_dir_make_tmp ("vcrun-mountpoints-XXXXXX", &error);
  g_assert_no_error (error);
  f->rootfs = g_build_filename (f->bundle, "rootfs", NULL);
  f->outside = g_build_filename (f->bundle, "outside", NULL);
  g_assert_cmpint (g_mkdir (f->rootfs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (f->outside, 0755), ==, 0);
  g_autofree char *data_dir = g_build_filename (f->bundle, "data", NULL);
  g_assert_cmpint (g_mkdir (data_dir, 0755), ==, 0);
  g_autofree char *file = g_build_filename (f->bundle, "config.txt", NULL);
  g_file_set_contents (file, "x", -1, &error);
  g_assert_no_error (error);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  lc_rmtree (f->bundle);
  g_free (f->bundle);
  g_free (f->rootfs);
  g_free (f->outside);
}

static VcOciSpec *
load_or_fail (Fixture *f, const char *mounts_json, GError **error)
{
  g_autofree char *json = g_strdup_printf (
      "{ \"ociVersion\": \"1.0.2\", \"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
      "  \"process\": { \"args\": [\"true\"], \"cwd\": \"/\" },\n"
      "  \"mounts\": %s }\n", mounts_json);
  g_autofree char *path = g_build_filename (f->bundle, "config.json", NULL);
  g_assert_true (g_file_set_contents (path, json, -1, NULL));
  return vc_oci_spec_load (f->bundle, error);
}

static VcOciSpec *
load (Fixture *f, const char *mounts_json)
{
  g_autoptr(GError) error = NULL;
  VcOciSpec *spec = load_or_fail (f, mounts_json, &error);
  g_assert_no_error (error);
  return spec;
}

static gboolean
is_type (const char *rootfs, const char *rel, mode_t type)
{
  g_autofree char *path = g_build_filename (rootfs, rel, NULL);
  struct stat st;
  return lstat (path, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

static void
test_missing_made (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  g_autofree char *etc = g_build_filename (f->rootfs, "etc", NULL);
  g_assert_cmpint (g_mkdir (etc, 0700), ==, 0);
  g_autoptr(VcOciSpec) spec = load (f,
      "[ { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
      "  { \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\" },\n"
      "  { \"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\" },\n"
      "  { \"destination\": \"/srv/data/vol/\", \"type\": \"bind\", \"source\": \"data\" },\n"
      "  { \"destination\": \"/etc/app/config.txt\", \"source\": \"config.txt\", \"options\": [\"bind\"] } ]");
  g_assert_true (vc_rootfs_make_mountpoints (spec, &error));
  g_assert_no_error (error);
  g_assert_true (is_type (f->rootfs, "proc", S_IFDIR));
  g_assert_true (is_type (f->rootfs, "dev", S_IFDIR));
  /* Inside the tmpfs the guest mounts on /dev: not made on the host. */
  g_assert_false (is_type (f->rootfs, "dev/pts", S_IFDIR));
  g_assert_true (is_type (f->rootfs, "srv/data/vol", S_IFDIR));
  g_assert_true (is_type (f->rootfs, "etc/app", S_IFDIR));
  g_assert_true (is_type (f->rootfs, "etc/app/config.txt", S_IFREG));
  /* What existed is left as it was. */
  struct stat st;
  g_assert_cmpint (stat (etc, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  /* Again: nothing to do, no error. */
  g_assert_true (vc_rootfs_make_mountpoints (spec, &error));
  g_assert_no_error (error);
}

static void
test_links_stay_inside (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  /* An absolute link to the host's directory, and a relative one climbing out. */
  g_autofree char *abs_link = g_build_filename (f->rootfs, "abs", NULL);
  g_autofree char *rel_link = g_build_filename (f->rootfs, "rel", NULL);
  g_assert_cmpint (symlink (f->outside, abs_link), ==, 0);
  g_assert_cmpint (symlink ("../../outside", rel_link), ==, 0);
  g_autoptr(VcOciSpec) spec = load (f,
      "[ { \"destination\": \"/abs/x\", \"type\": \"tmpfs\", \"source\": \"tmpfs\" },\n"
      "  { \"destination\": \"/rel/y\", \"type\": \"tmpfs\", \"source\": \"tmpfs\" } ]");
  gboolean ok = vc_rootfs_make_mountpoints (spec, &error);
  g_test_message ("links: %s", ok ? "made inside the rootfs" : error->message);
  g_clear_error (&error);
  /* Whether it fails or resolves the links inside the rootfs, nothing is
   * made outside. */
  g_autofree char *x = g_build_filename (f->outside, "x", NULL);
  g_autofree char *y = g_build_filename (f->outside, "y", NULL);
  g_assert_false (g_file_test (x, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (y, G_FILE_TEST_EXISTS));
}

static void
test_dotdot_refused (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VcOciSpec) spec = load_or_fail (f,
      "[ { \"destination\": \"/a/../../escape\", \"type\": \"tmpfs\", \"source\": \"tmpfs\" } ]",
      &error);
  if (spec == NULL)
    {
      g_test_message ("the loader refuses it: %s", error->message);
      return;
    }
  g_assert_false (vc_rootfs_make_mountpoints (spec, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "/a/../../escape"));
  g_autofree char *escape = g_build_filename (f->bundle, "escape", NULL);
  g_assert_false (g_file_test (escape, G_FILE_TEST_EXISTS));
}

static void
test_unwritable (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  /* A rootfs the host cannot write: read-only file system for root, a mode
   * 0555 directory for anyone else. */
  gboolean mounted = FALSE;
  if (geteuid () == 0)
    {
      if (mount ("tmpfs", f->rootfs, "tmpfs", MS_RDONLY, "size=64k") < 0)
        {
          g_autofree char *why = g_strdup_printf ("cannot mount a read-only tmpfs: %s",
                                                  g_strerror (errno));
          g_test_skip (why);
          return;
        }
      mounted = TRUE;
    }
  else
    g_assert_cmpint (chmod (f->rootfs, 0555), ==, 0);
  g_autoptr(VcOciSpec) spec = load (f,
      "[ { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" } ]");
  gboolean ok = vc_rootfs_make_mountpoints (spec, &error);
  if (mounted)
    umount (f->rootfs);
  else
    chmod (f->rootfs, 0755);
  g_assert_false (ok);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "cannot create the mount point /proc"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/mountpoints/missing-made", Fixture, NULL, setup, test_missing_made, teardown);
  g_test_add ("/mountpoints/links-stay-inside", Fixture, NULL, setup, test_links_stay_inside, teardown);
  g_test_add ("/mountpoints/dotdot-refused", Fixture, NULL, setup, test_dotdot_refused, teardown);
  g_test_add ("/mountpoints/unwritable", Fixture, NULL, setup, test_unwritable, teardown);
  return g_test_run ();
}
