/* fs-skeleton: a minimal out-of-tree vcrun plugin, a starting point for your
 * own. It is an fs-sharer that exports each sandbox's shared directory to
 * the guest over virtio-9p, and shows the parts every plugin has:
 *
 *   - a settings spec: the core checks the `settings` group of the plugin's
 *     entry in vcrun.conf against it and hands create() an a{sv} with the
 *     defaults filled in;
 *   - create/destroy of the plugin instance;
 *   - one vtable per kind it implements (here: fs), each method optional
 *     (NULL means "not supported", which the core reports as an error);
 *   - the exported vc_plugin_descriptor() function.
 *
 * Build it with the Makefile next to this file (pkg-config vcrun-plugin),
 * copy fs-skeleton.so into the plugin directory (or point VCRUN_PLUGIN_PATH
 * at this directory) and list it in vcrun.conf:
 *
 *   plugins: ( ..., { name = "fs-skeleton"; settings = { msize = 262144; }; } );
 *   sandbox: { ... fs = "fs-skeleton"; ... };
 *
 * Only <vcrun/...> headers and GLib are used: no libvcrun sources needed.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <vcrun/plugin.h>
#include <vcrun/fs.h>

#define GUEST_SHARED_DIR "/run/kata-containers/shared/containers"

/* The plugin instance: whatever create() makes of the settings. */
struct VcPluginInstance {
  char   *tag;
  gint64  msize;
};

/* One sandbox's share. */
struct VcFsShare {
  VcPluginInstance *plugin;
  char             *sandbox_id;
  char             *shared_dir;   /* <sandbox state dir>/shared, exported to the guest */
};

static const VcSettingSpec skeleton_settings[] = {
  { .name = "tag", .type = VC_SETTING_STRING,
    .description = "9p mount tag of the shared directory", .default_value = "kataShared" },
  { .name = "msize", .type = VC_SETTING_INT,
    .description = "largest 9p message in bytes", .default_value = "65536",
    .min = 4096, .max = 4194304 },
  { NULL }
};

static VcPluginInstance *
skeleton_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  /* Both keys have defaults, so the core always passes them. */
  g_variant_lookup (settings, "tag", "s", &self->tag);
  g_variant_lookup (settings, "msize", "x", &self->msize);
  if (self->tag == NULL || self->tag[0] == '\0')
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "tag: must not be empty");
      g_free (self->tag);
      g_free (self);
      return NULL;
    }
  return self;
}

static void
skeleton_destroy (VcPluginInstance *self)
{
  g_free (self->tag);
  g_free (self);
}

static VcFsShare *
skeleton_prepare (VcPluginInstance *self, const VcFsSandboxConfig *config, GError **error)
{
  g_autofree char *dir = g_build_filename (config->state_dir, "shared", NULL);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create %s: %s", dir, g_strerror (saved));
      return NULL;
    }
  VcFsShare *share = g_new0 (VcFsShare, 1);
  share->plugin = self;
  share->sandbox_id = g_strdup (config->sandbox_id);
  share->shared_dir = g_steal_pointer (&dir);
  return share;
}

static GPtrArray *
skeleton_get_devices (VcFsShare *share, GError **error)
{
  GPtrArray *devices = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_device_free);
  VcDevice *dev = vc_device_new (VC_DEVICE_FS_9P, "fs-skeleton", share->shared_dir, share->plugin->tag);
  dev->msize = (guint32) share->plugin->msize;
  g_ptr_array_add (devices, dev);
  return devices;
}

static VcStorage *
skeleton_get_sandbox_storage (VcFsShare *share, GError **error)
{
  g_autofree char *msize = g_strdup_printf ("msize=%" G_GINT64_FORMAT, share->plugin->msize);
  const char *options[] = { "trans=virtio", "version=9p2000.L", msize, NULL };
  return vc_storage_new ("9p", share->plugin->tag, "9p", options, GUEST_SHARED_DIR);
}

/* A real sharer bind-mounts host_rootfs into the shared directory; the
 * skeleton only says where the guest would find it. */
static VcSharedPath *
skeleton_share_rootfs (VcFsShare *share, const char *container_id, const char *host_rootfs,
                       gboolean readonly, GError **error)
{
  VcSharedPath *path = g_new0 (VcSharedPath, 1);
  path->struct_size = sizeof *path;
  path->guest_path = g_build_filename (GUEST_SHARED_DIR, container_id, "rootfs", NULL);
  return path;
}

static gboolean
skeleton_cleanup (VcFsShare *share, GError **error)
{
  /* Idempotent: a missing or non-empty directory is left as it is. */
  g_rmdir (share->shared_dir);
  return TRUE;
}

static void
skeleton_free_share (VcFsShare *share)
{
  g_free (share->sandbox_id);
  g_free (share->shared_dir);
  g_free (share);
}

/* Methods left NULL (share_mount, unshare_container, save_state, attach)
 * are reported by the core as "not supported". */
static const VcFsOps skeleton_fs_ops = {
  .version = VC_FS_OPS_VERSION,
  .size = sizeof (VcFsOps),
  .prepare = skeleton_prepare,
  .get_devices = skeleton_get_devices,
  .get_sandbox_storage = skeleton_get_sandbox_storage,
  .share_rootfs = skeleton_share_rootfs,
  .cleanup = skeleton_cleanup,
  .free_share = skeleton_free_share,
};

static const VcPluginDescriptor skeleton_descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "fs-skeleton",            /* must match the file name fs-skeleton.so */
  .version = "0.1",
  .description = "example fs-sharer: the sandbox's shared directory over virtio-9p",
  .kinds = VC_PLUGIN_KIND_FS,
  .settings = skeleton_settings,
  .create = skeleton_create,
  .destroy = skeleton_destroy,
  .fs = &skeleton_fs_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &skeleton_descriptor;
}
