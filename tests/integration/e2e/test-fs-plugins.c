/* fs-9p and fs-virtiofs on the host, without a VM: the shared-directory
 * layout, read-only binds, cleanup that leaves nothing, and virtiofsd's life
 * (start, death noticed, stop, adoption from saved state).
 *
 * Loads the built plugins from $VCRUN_TOP_BUILDDIR/plugins/<name>/.libs.
 * Needs root (bind mounts); skips otherwise.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vcrun/fs.h>
#include <vcrun/hypervisor.h>

typedef struct {
  const VcPluginDescriptor *desc;
  VcPluginInstance         *instance;
} Plugin;

static Plugin *
load_plugin (const char *name, GVariant *settings)
{
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  g_autofree char *path = g_strdup_printf ("%s/plugins/%s/.libs/%s.so", top ? top : "../../..",
                                           name, name);
  GModule *module = g_module_open (path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    g_error ("loading %s: %s", path, g_module_error ());
  VcPluginDescriptorFunc func = NULL;
  g_assert_true (g_module_symbol (module, VC_PLUGIN_DESCRIPTOR_SYMBOL, (gpointer *) &func));
  Plugin *p = g_new0 (Plugin, 1);
  p->desc = func ();
  g_assert_cmpstr (p->desc->name, ==, name);
  g_assert_nonnull (p->desc->fs);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) empty = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  p->instance = p->desc->create (NULL, settings ? settings : empty, &error);
  g_assert_no_error (error);
  return p;
}

static void
plugin_free (Plugin *p)
{
  p->desc->destroy (p->instance);
  g_free (p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Plugin, plugin_free)

/* Counts the mounts at or below path in /proc/self/mountinfo. */
static guint
mounts_below (const char *path)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &text, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;
  for (char **l = lines; *l; l++)
    {
      g_auto(GStrv) f = g_strsplit (*l, " ", 6);
      if (g_strv_length (f) >= 5 && g_str_has_prefix (f[4], path))
        n++;
    }
  return n;
}

typedef struct {
  char *dir;        /* scratch: state/, rootfs/, src-rw/, src-ro/, file */
  char *state_dir;
  GMutex lock;
  GCond cond;
  int events;
  char *last_detail;
} Fixture;

static void
on_event (VcFsEvent event, const char *detail, gpointer data)
{
  Fixture *fx = data;
  g_mutex_lock (&fx->lock);
  g_assert_cmpint (event, ==, VC_FS_EVENT_DAEMON_DIED);
  fx->events++;
  g_free (fx->last_detail);
  fx->last_detail = g_strdup (detail);
  g_cond_broadcast (&fx->cond);
  g_mutex_unlock (&fx->lock);
}

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->dir = g_dir_make_tmp ("vcrun-fs-XXXXXX", NULL);
  g_assert_nonnull (fx->dir);
  fx->state_dir = g_build_filename (fx->dir, "state", NULL);
  g_assert_cmpint (g_mkdir (fx->state_dir, 0700), ==, 0);
  const char *dirs[] = { "rootfs", "src-rw", "src-ro" };
  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *d = g_build_filename (fx->dir, dirs[i], NULL);
      g_assert_cmpint (g_mkdir (d, 0755), ==, 0);
      write_file (d, "hello", dirs[i]);
    }
  write_file (fx->dir, "file", "a file");
  g_mutex_init (&fx->lock);
  g_cond_init (&fx->cond);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  /* Whatever a failed test left: no mount may outlive it. */
  g_autofree char *cmd = g_strdup_printf ("umount -R -l %s/state/shared 2>/dev/null; rm -rf %s",
                                          fx->dir, fx->dir);
  guint left = mounts_below (fx->dir);
  (void) !system (cmd);
  g_assert_cmpuint (left, ==, 0);
  g_free (fx->dir);
  g_free (fx->state_dir);
  g_free (fx->last_detail);
  g_mutex_clear (&fx->lock);
  g_cond_clear (&fx->cond);
}

static VcFsSandboxConfig
sandbox_config (Fixture *fx, guint64 caps)
{
  VcFsSandboxConfig c = {
    .struct_size = sizeof c, .sandbox_id = "sb1", .state_dir = fx->state_dir,
    .hypervisor_caps = caps, .event_func = on_event, .event_data = fx,
  };
  return c;
}

static char *
host_path (Fixture *fx, const char *guest_path)
{
  const char *prefix = "/run/kata-containers/shared/containers/";
  g_assert_true (g_str_has_prefix (guest_path, prefix));
  return g_build_filename (fx->state_dir, "shared", guest_path + strlen (prefix), NULL);
}

static gboolean
exists (const char *path)
{
  struct stat st;
  return lstat (path, &st) == 0;
}

/* The layout common to both plugins. */
static void
check_layout (Fixture *fx, const char *plugin_name, guint64 caps)
{
  g_autoptr(Plugin) p = load_plugin (plugin_name, NULL);
  const VcFsOps *ops = p->desc->fs;
  g_autoptr(GError) error = NULL;
  VcFsSandboxConfig config = sandbox_config (fx, caps);
  g_autofree char *shared = g_build_filename (fx->state_dir, "shared", NULL);
  g_autofree char *rootfs = g_build_filename (fx->dir, "rootfs", NULL);
  g_autofree char *src_rw = g_build_filename (fx->dir, "src-rw", NULL);
  g_autofree char *src_ro = g_build_filename (fx->dir, "src-ro", NULL);
  g_autofree char *file = g_build_filename (fx->dir, "file", NULL);

  VcFsShare *share = ops->prepare (p->instance, &config, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_test (shared, G_FILE_TEST_IS_DIR));
  g_assert_cmpuint (mounts_below (shared), ==, 1);

  /* A second prepare of the same sandbox is refused and changes nothing. */
  g_assert_null (ops->prepare (p->instance, &config, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_cmpuint (mounts_below (shared), ==, 1);

  g_autoptr(VcStorage) storage = ops->get_sandbox_storage (share, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (storage->source, ==, "kataShared");
  g_assert_cmpstr (storage->mount_point, ==, "/run/kata-containers/shared/containers");

  g_autoptr(VcSharedPath) root = ops->share_rootfs (share, "c1", rootfs, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (root->guest_path, ==, "/run/kata-containers/shared/containers/c1/rootfs");
  g_assert_null (root->storage);
  g_autofree char *root_host = host_path (fx, root->guest_path);
  g_autofree char *root_hello = g_build_filename (root_host, "hello", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (root_hello, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "rootfs");

  /* Sharing the same rootfs twice is an error. */
  g_assert_null (ops->share_rootfs (share, "c1", rootfs, FALSE, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_clear_error (&error);

  g_autoptr(VcSharedPath) rw = ops->share_mount (share, "c1", src_rw, "/data", FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (rw->guest_path, ==, "/run/kata-containers/shared/containers/c1/mounts/0-src-rw");
  g_autoptr(VcSharedPath) ro = ops->share_mount (share, "c1", src_ro, "/ro", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ro->guest_path, ==, "/run/kata-containers/shared/containers/c1/mounts/1-src-ro");
  g_autoptr(VcSharedPath) fm = ops->share_mount (share, "c1", file, "/etc/file", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (fm->guest_path, ==, "/run/kata-containers/shared/containers/c1/mounts/2-file");

  /* Writes through the rw share reach the source; the ro share refuses. */
  g_autofree char *rw_host = host_path (fx, rw->guest_path);
  write_file (rw_host, "written", "from the guest side");
  g_autofree char *src_written = g_build_filename (src_rw, "written", NULL);
  g_assert_true (exists (src_written));
  g_autofree char *ro_host = host_path (fx, ro->guest_path);
  g_autofree char *ro_new = g_build_filename (ro_host, "new", NULL);
  int fd = open (ro_new, O_WRONLY | O_CREAT, 0644);
  g_assert_cmpint (fd, ==, -1);
  g_assert_cmpint (errno, ==, EROFS);
  g_autofree char *fm_host = host_path (fx, fm->guest_path);
  g_clear_pointer (&text, g_free);
  g_assert_true (g_file_get_contents (fm_host, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "a file");
  g_assert_cmpint (open (fm_host, O_WRONLY), ==, -1);
  g_assert_cmpint (errno, ==, EROFS);

  /* A read-only rootfs for another container. */
  g_autoptr(VcSharedPath) root2 = ops->share_rootfs (share, "c2", rootfs, TRUE, &error);
  g_assert_no_error (error);
  g_autofree char *root2_host = host_path (fx, root2->guest_path);
  g_autofree char *root2_new = g_build_filename (root2_host, "new", NULL);
  g_assert_cmpint (open (root2_new, O_WRONLY | O_CREAT, 0644), ==, -1);
  g_assert_cmpint (errno, ==, EROFS);

  /* A bad source fails and leaves nothing for a fresh container. */
  g_assert_null (ops->share_mount (share, "c3", "/nonexistent/x", "/x", FALSE, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_autofree char *c3 = g_build_filename (shared, "c3", NULL);
  g_assert_false (exists (c3));
  g_assert_null (ops->share_mount (share, "../evil", src_rw, "/x", FALSE, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* The guest may write junk into the shared dir itself; it goes on cleanup. */
  g_autofree char *c1 = g_build_filename (shared, "c1", NULL);
  write_file (c1, "junk", "guest junk");
  g_autofree char *c1_link = g_build_filename (c1, "link", NULL);
  g_assert_cmpint (symlink (src_rw, c1_link), ==, 0);

  g_assert_true (ops->unshare_container (share, "c1", &error));
  g_assert_no_error (error);
  g_assert_false (exists (c1));
  g_assert_cmpuint (mounts_below (c1), ==, 0);
  /* ... and the sources are untouched (the symlink was not followed). */
  g_assert_true (exists (src_written));
  g_autofree char *src_hello = g_build_filename (src_rw, "hello", NULL);
  g_assert_true (exists (src_hello));
  g_assert_true (exists (file));
  g_assert_true (ops->unshare_container (share, "c1", &error));
  g_assert_no_error (error);

  g_assert_true (ops->cleanup (share, &error));
  g_assert_no_error (error);
  g_assert_false (exists (shared));
  g_assert_cmpuint (mounts_below (fx->state_dir), ==, 0);
  g_assert_true (exists (root_hello) == FALSE);
  g_autofree char *rootfs_hello = g_build_filename (rootfs, "hello", NULL);
  g_assert_true (exists (rootfs_hello));
  g_assert_true (ops->cleanup (share, &error));
  g_assert_no_error (error);
  ops->free_share (share);

  /* Only the state dir's own files may remain (virtiofsd.log). */
  g_autoptr(GDir) d = g_dir_open (fx->state_dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_assert_cmpstr (name, ==, "virtiofsd.log");
}

static void
test_9p_layout (Fixture *fx, gconstpointer data)
{
  check_layout (fx, "fs-9p", VC_HV_CAP_FS_9P);
}

static void
test_9p_device (Fixture *fx, gconstpointer data)
{
  g_autoptr(GVariant) settings = g_variant_ref_sink (g_variant_new_parsed (
      "{'security_model': <'mapped-xattr'>, 'msize': <int64 65536>}"));
  g_autoptr(Plugin) p = load_plugin ("fs-9p", settings);
  const VcFsOps *ops = p->desc->fs;
  g_autoptr(GError) error = NULL;
  VcFsSandboxConfig config = sandbox_config (fx, VC_HV_CAP_FS_VHOST_USER);

  /* A hypervisor without 9p is refused before anything is made. */
  g_assert_null (ops->prepare (p->instance, &config, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  config.hypervisor_caps = VC_HV_CAP_FS_9P;
  VcFsShare *share = ops->prepare (p->instance, &config, &error);
  g_assert_no_error (error);
  g_autoptr(GPtrArray) devices = ops->get_devices (share, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (devices->len, ==, 1);
  VcDevice *dev = g_ptr_array_index (devices, 0);
  g_assert_cmpint (dev->type, ==, VC_DEVICE_FS_9P);
  g_assert_cmpstr (dev->tag, ==, "kataShared");
  g_assert_cmpstr (dev->security_model, ==, "mapped-xattr");
  g_assert_cmpuint (dev->msize, ==, 65536);
  g_assert_true (g_str_has_suffix (dev->host_path, "/state/shared"));
  g_autoptr(VcStorage) storage = ops->get_sandbox_storage (share, &error);
  g_assert_cmpstr (storage->driver, ==, "9p");
  g_assert_cmpstr (storage->fstype, ==, "9p");
  g_assert_true (g_strv_contains ((const char *const *) storage->options, "trans=virtio"));
  g_assert_true (g_strv_contains ((const char *const *) storage->options, "version=9p2000.L"));
  g_assert_true (g_strv_contains ((const char *const *) storage->options, "msize=65536"));

  /* Another process attaches from the saved state and cleans up. */
  g_autofree char *state = ops->save_state (share, &error);
  g_assert_no_error (error);
  ops->free_share (share);
  VcFsShare *again = ops->attach (p->instance, &config, state, &error);
  g_assert_no_error (error);
  g_assert_true (ops->cleanup (again, &error));
  g_assert_no_error (error);
  ops->free_share (again);
  g_assert_cmpuint (mounts_below (fx->state_dir), ==, 0);
}

static void
test_9p_bad_settings (void)
{
  g_autoptr(GVariant) settings = g_variant_ref_sink (g_variant_new_parsed (
      "{'security_model': <'bogus'>}"));
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  g_autofree char *path = g_strdup_printf ("%s/plugins/fs-9p/.libs/fs-9p.so", top ? top : "../../..");
  GModule *module = g_module_open (path, G_MODULE_BIND_LOCAL);
  g_assert_nonnull (module);
  VcPluginDescriptorFunc func = NULL;
  g_assert_true (g_module_symbol (module, VC_PLUGIN_DESCRIPTOR_SYMBOL, (gpointer *) &func));
  g_autoptr(GError) error = NULL;
  g_assert_null (func ()->create (NULL, settings, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "security_model"));
}

static gboolean
virtiofsd_available (void)
{
  const char *daemon = g_getenv ("VIRTIOFSD");
  return g_file_test (daemon && *daemon ? daemon : "/usr/lib/qemu/virtiofsd", G_FILE_TEST_IS_EXECUTABLE);
}

static GVariant *
virtiofs_settings (const char *daemon)
{
  const char *env = g_getenv ("VIRTIOFSD");
  if (daemon == NULL)
    daemon = env && *env ? env : "/usr/lib/qemu/virtiofsd";
  return g_variant_ref_sink (g_variant_new_parsed ("{'daemon': <%s>, 'cache': <'none'>}", daemon));
}

static void
test_virtiofs_layout (Fixture *fx, gconstpointer data)
{
  check_layout (fx, "fs-virtiofs", VC_HV_CAP_FS_VHOST_USER);
}

static gboolean
pid_alive (gint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return FALSE;
  const char *p = strrchr (text, ')');
  return p && p[2] != 'Z';
}

static gint
state_pid (const char *state)
{
  const char *p = strstr (state, "\"daemon_pid\":");
  g_assert_nonnull (p);
  return (gint) g_ascii_strtoll (p + strlen ("\"daemon_pid\":"), NULL, 10);
}

static void
test_virtiofs_daemon (Fixture *fx, gconstpointer data)
{
  if (!virtiofsd_available ())
    {
      g_test_skip ("no virtiofsd");
      return;
    }
  g_autoptr(GVariant) settings = virtiofs_settings (NULL);
  g_autoptr(Plugin) p = load_plugin ("fs-virtiofs", settings);
  const VcFsOps *ops = p->desc->fs;
  g_autoptr(GError) error = NULL;
  VcFsSandboxConfig config = sandbox_config (fx, VC_HV_CAP_FS_VHOST_USER);
  g_autofree char *socket = g_build_filename (fx->state_dir, "virtiofsd.sock", NULL);
  g_autofree char *log = g_build_filename (fx->state_dir, "virtiofsd.log", NULL);

  VcFsShare *share = ops->prepare (p->instance, &config, &error);
  g_assert_no_error (error);
  g_autoptr(GPtrArray) devices = ops->get_devices (share, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (devices->len, ==, 1);
  VcDevice *dev = g_ptr_array_index (devices, 0);
  g_assert_cmpint (dev->type, ==, VC_DEVICE_FS_VHOST_USER);
  g_assert_cmpstr (dev->host_path, ==, socket);
  g_assert_cmpstr (dev->tag, ==, "kataShared");
  g_assert_true (g_file_test (socket, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (log, G_FILE_TEST_EXISTS));
  g_autoptr(VcStorage) storage = ops->get_sandbox_storage (share, &error);
  g_assert_cmpstr (storage->driver, ==, "virtio-fs");
  g_assert_cmpstr (storage->fstype, ==, "virtiofs");

  g_autofree char *state = ops->save_state (share, &error);
  g_assert_no_error (error);
  gint pid = state_pid (state);
  g_assert_cmpint (pid, >, 0);
  g_assert_true (pid_alive (pid));

  /* Another process adopts the daemon from the saved state and stops it. */
  ops->free_share (share);
  g_assert_true (pid_alive (pid));
  VcFsShare *again = ops->attach (p->instance, &config, state, &error);
  g_assert_no_error (error);
  g_assert_true (ops->cleanup (again, &error));
  g_assert_no_error (error);
  g_assert_false (pid_alive (pid));
  g_assert_false (g_file_test (socket, G_FILE_TEST_EXISTS));
  g_autofree char *pidfile_name = g_strdelimit (g_strdup (socket), "/", '.');
  g_autofree char *pidfile = g_strdup_printf ("/run/virtiofsd/%s.pid", pidfile_name);
  g_assert_false (g_file_test (pidfile, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (mounts_below (fx->state_dir), ==, 0);
  ops->free_share (again);
  /* A deliberate stop is not a death. */
  g_assert_cmpint (fx->events, ==, 0);
}

static void
test_virtiofs_death (Fixture *fx, gconstpointer data)
{
  if (!virtiofsd_available ())
    {
      g_test_skip ("no virtiofsd");
      return;
    }
  g_autoptr(GVariant) settings = virtiofs_settings (NULL);
  g_autoptr(Plugin) p = load_plugin ("fs-virtiofs", settings);
  const VcFsOps *ops = p->desc->fs;
  g_autoptr(GError) error = NULL;
  VcFsSandboxConfig config = sandbox_config (fx, VC_HV_CAP_FS_VHOST_USER);

  VcFsShare *share = ops->prepare (p->instance, &config, &error);
  g_assert_no_error (error);
  g_autoptr(GPtrArray) devices = ops->get_devices (share, &error);
  g_assert_no_error (error);
  g_autofree char *state = ops->save_state (share, &error);
  gint pid = state_pid (state);

  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&fx->lock);
  while (fx->events == 0)
    if (!g_cond_wait_until (&fx->cond, &fx->lock, deadline))
      break;
  g_mutex_unlock (&fx->lock);
  g_assert_cmpint (fx->events, ==, 1);
  g_assert_nonnull (strstr (fx->last_detail, "killed by signal 9"));
  g_assert_false (pid_alive (pid));

  g_assert_true (ops->cleanup (share, &error));
  g_assert_no_error (error);
  ops->free_share (share);
  g_assert_cmpint (fx->events, ==, 1);
  g_assert_cmpuint (mounts_below (fx->state_dir), ==, 0);
}

static void
test_virtiofs_bad_daemon (Fixture *fx, gconstpointer data)
{
  /* /bin/false exits at once: get_devices fails, quoting nothing useful but
   * naming the daemon; nothing is left running or listening. */
  g_autoptr(GVariant) settings = virtiofs_settings ("/bin/false");
  g_autoptr(Plugin) p = load_plugin ("fs-virtiofs", settings);
  const VcFsOps *ops = p->desc->fs;
  g_autoptr(GError) error = NULL;
  VcFsSandboxConfig config = sandbox_config (fx, VC_HV_CAP_FS_VHOST_USER);
  g_autofree char *socket = g_build_filename (fx->state_dir, "virtiofsd.sock", NULL);

  VcFsShare *share = ops->prepare (p->instance, &config, &error);
  g_assert_no_error (error);
  g_assert_null (ops->get_devices (share, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "/bin/false exited at start"));
  g_clear_error (&error);
  g_assert_false (g_file_test (socket, G_FILE_TEST_EXISTS));
  g_assert_true (ops->cleanup (share, &error));
  g_assert_no_error (error);
  ops->free_share (share);
  g_assert_cmpint (fx->events, ==, 0);
  g_assert_cmpuint (mounts_below (fx->state_dir), ==, 0);
}

static void
test_virtiofs_managed (Fixture *fx, gconstpointer data)
{
  g_autoptr(GVariant) settings = virtiofs_settings ("/bin/false");
  g_autoptr(Plugin) p = load_plugin ("fs-virtiofs", settings);
  const VcFsOps *ops = p->desc->fs;
  g_autoptr(GError) error = NULL;
  VcFsSandboxConfig config = sandbox_config (fx, VC_HV_CAP_MANAGED_VIRTIOFS);
  g_autofree char *socket = g_build_filename (fx->state_dir, "virtiofsd.sock", NULL);

  VcFsShare *share = ops->prepare (p->instance, &config, &error);
  g_assert_no_error (error);
  g_autoptr(GPtrArray) devices = ops->get_devices (share, &error);
  g_assert_no_error (error);
  VcDevice *dev = g_ptr_array_index (devices, 0);
  g_assert_cmpint (dev->type, ==, VC_DEVICE_FS_VIRTIOFS);
  g_assert_true (g_str_has_suffix (dev->host_path, "/state/shared"));
  g_assert_false (g_file_test (socket, G_FILE_TEST_EXISTS));
  g_assert_true (ops->cleanup (share, &error));
  g_assert_no_error (error);
  ops->free_share (share);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (geteuid () != 0)
    {
      g_test_skip ("needs root for bind mounts");
      return g_test_run ();
    }
  g_test_add ("/fs-9p/layout", Fixture, NULL, fixture_setup, test_9p_layout, fixture_teardown);
  g_test_add ("/fs-9p/device", Fixture, NULL, fixture_setup, test_9p_device, fixture_teardown);
  g_test_add_func ("/fs-9p/bad-settings", test_9p_bad_settings);
  g_test_add ("/fs-virtiofs/layout", Fixture, NULL, fixture_setup, test_virtiofs_layout,
              fixture_teardown);
  g_test_add ("/fs-virtiofs/daemon", Fixture, NULL, fixture_setup, test_virtiofs_daemon,
              fixture_teardown);
  g_test_add ("/fs-virtiofs/daemon-death", Fixture, NULL, fixture_setup, test_virtiofs_death,
              fixture_teardown);
  g_test_add ("/fs-virtiofs/bad-daemon", Fixture, NULL, fixture_setup, test_virtiofs_bad_daemon,
              fixture_teardown);
  g_test_add ("/fs-virtiofs/managed", Fixture, NULL, fixture_setup, test_virtiofs_managed,
              fixture_teardown);
  return g_test_run ();
}
