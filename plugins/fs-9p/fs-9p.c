/* fs-9p: shares the sandbox's shared directory into the guest over virtio-9p.
 *
 * The hypervisor exports <state_dir>/shared as one 9p device tagged
 * "kataShared"; the agent mounts it at /run/kata-containers/shared/containers
 * (driver "9p", fstype "9p", trans=virtio, 9p2000.L). Containers' rootfs and
 * bind mounts are bind-mounted below it on the host (shared-dir.h).
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <vcrun/fs.h>
#include <vcrun/hypervisor.h>

#include "../fs-common/shared-dir.h"

#define FS_9P_DEVICE_ID "fs9p-shared"

struct VcPluginInstance {
  char   *security_model;
  guint32 msize;
};

struct VcFsShare {
  VcPluginInstance *plugin;
  VcSharedDir      *dir;
};

static const char *const security_models[] = { "none", "passthrough", "mapped-xattr", NULL };

static const VcSettingSpec fs_9p_settings[] = {
  { .name = "security_model", .type = VC_SETTING_ENUM,
    .description = "how file ownership and modes created by the guest are stored on the host",
    .default_value = "none", .choices = security_models },
  /* Linux 6.1's virtio transport caps msize at 512 KiB; newer ones take more. */
  { .name = "msize", .type = VC_SETTING_INT,
    .description = "largest 9p message in bytes (bigger is faster; 4096..4194304)",
    .default_value = "512000", .min = 4096, .max = 4194304 },
  { NULL }
};

static VcPluginInstance *
fs_9p_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  const char *model = "none";
  gint64 msize = 512000;

  if (settings)
    {
      g_variant_lookup (settings, "security_model", "&s", &model);
      g_variant_lookup (settings, "msize", "x", &msize);
    }
  if (!g_strv_contains (security_models, model))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "security_model: '%s' is not one of none, passthrough, mapped-xattr", model);
      return NULL;
    }
  if (msize < 4096 || msize > 4194304)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "msize: %" G_GINT64_FORMAT " is outside 4096..4194304", msize);
      return NULL;
    }

  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->security_model = g_strdup (model);
  self->msize = (guint32) msize;
  return self;
}

static void
fs_9p_destroy (VcPluginInstance *self)
{
  if (self == NULL)
    return;
  g_free (self->security_model);
  g_free (self);
}

static VcFsShare *
share_new (VcPluginInstance *self, VcSharedDir *dir)
{
  VcFsShare *share = g_new0 (VcFsShare, 1);
  share->plugin = self;
  share->dir = dir;
  return share;
}

static gboolean
check_config (const VcFsSandboxConfig *config, GError **error)
{
  if (config == NULL || config->struct_size < sizeof (VcFsSandboxConfig)
      || !vc_shared_check_id (config->sandbox_id, "sandbox", error))
    {
      if (error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "fs-9p: invalid sandbox config");
      return FALSE;
    }
  return TRUE;
}

static VcFsShare *
fs_9p_prepare (VcPluginInstance *self, const VcFsSandboxConfig *config, GError **error)
{
  if (!check_config (config, error))
    return NULL;
  if (config->hypervisor_caps != 0 && !(config->hypervisor_caps & VC_HV_CAP_FS_9P))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "fs-9p: the sandbox's hypervisor has no virtio-9p; use fs-virtiofs");
      return NULL;
    }
  VcSharedDir *dir = vc_shared_dir_prepare (config->state_dir, error);
  return dir ? share_new (self, dir) : NULL;
}

static GPtrArray *
fs_9p_get_devices (VcFsShare *share, GError **error)
{
  GPtrArray *devices = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_device_free);
  VcDevice *dev = vc_device_new (VC_DEVICE_FS_9P, FS_9P_DEVICE_ID,
                                 vc_shared_dir_get_path (share->dir), VC_SHARED_MOUNT_TAG);
  dev->security_model = g_strdup (share->plugin->security_model);
  dev->msize = share->plugin->msize;
  g_ptr_array_add (devices, dev);
  return devices;
}

static VcStorage *
fs_9p_get_sandbox_storage (VcFsShare *share, GError **error)
{
  g_autofree char *msize = g_strdup_printf ("msize=%u", share->plugin->msize);
  /* cache=mmap: shared writable mmap works (Kata's choice too). */
  const char *options[] = { "trans=virtio", "version=9p2000.L", "cache=mmap", msize, NULL };
  return vc_storage_new ("9p", VC_SHARED_MOUNT_TAG, "9p", options, VC_SHARED_GUEST_DIR);
}

static VcSharedPath *
fs_9p_share_rootfs (VcFsShare *share, const char *container_id, const char *host_rootfs,
                    gboolean readonly, GError **error)
{
  return vc_shared_dir_share_rootfs (share->dir, container_id, host_rootfs, readonly, error);
}

static VcSharedPath *
fs_9p_share_mount (VcFsShare *share, const char *container_id, const char *host_source,
                   const char *destination, gboolean readonly, GError **error)
{
  return vc_shared_dir_share_mount (share->dir, container_id, host_source, readonly, error);
}

static gboolean
fs_9p_unshare_container (VcFsShare *share, const char *container_id, GError **error)
{
  return vc_shared_dir_unshare (share->dir, container_id, error);
}

static gboolean
fs_9p_cleanup (VcFsShare *share, GError **error)
{
  return vc_shared_dir_cleanup (share->dir, error);
}

/* Everything lives in the directory tree; the state only says which. */
static char *
fs_9p_save_state (VcFsShare *share, GError **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "shared_dir");
  json_builder_add_string_value (builder, vc_shared_dir_get_path (share->dir));
  json_builder_end_object (builder);
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

static VcFsShare *
fs_9p_attach (VcPluginInstance *self, const VcFsSandboxConfig *config, const char *saved_state,
              GError **error)
{
  if (!check_config (config, error))
    return NULL;
  VcSharedDir *dir = vc_shared_dir_open (config->state_dir, error);
  return dir ? share_new (self, dir) : NULL;
}

static void
fs_9p_free_share (VcFsShare *share)
{
  if (share == NULL)
    return;
  vc_shared_dir_free (share->dir);
  g_free (share);
}

static gboolean
fs_9p_check (VcPluginInstance *self, GString *report, GError **error)
{
  g_string_append (report, "9p: served by the hypervisor (virtio-9p), no daemon needed\n");
  return TRUE;
}

static const VcFsOps fs_9p_ops = {
  .version = VC_FS_OPS_VERSION,
  .size = sizeof (VcFsOps),
  .prepare = fs_9p_prepare,
  .get_devices = fs_9p_get_devices,
  .get_sandbox_storage = fs_9p_get_sandbox_storage,
  .share_rootfs = fs_9p_share_rootfs,
  .share_mount = fs_9p_share_mount,
  .unshare_container = fs_9p_unshare_container,
  .cleanup = fs_9p_cleanup,
  .save_state = fs_9p_save_state,
  .attach = fs_9p_attach,
  .free_share = fs_9p_free_share,
  .check = fs_9p_check,
};

static const VcPluginDescriptor descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "fs-9p",
  .version = PACKAGE_VERSION,
  .description = "shares container filesystems into the guest over virtio-9p",
  .kinds = VC_PLUGIN_KIND_FS,
  .settings = fs_9p_settings,
  .create = fs_9p_create,
  .destroy = fs_9p_destroy,
  .fs = &fs_9p_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &descriptor;
}
