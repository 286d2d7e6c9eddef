/* Test-only fake fs-sharer: the share is the directory <sandbox dir>/fake-shared,
 * each shared path a marker file in it ("<cid>.rootfs", "<cid>.mount.N"), so
 * tests can see leftovers; die_after_ms makes the "daemon" die. */
#include "fake-common.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <vcrun/fs.h>

#define SHARED_DIR "fake-shared"
#define GUEST_SHARED "/run/kata-containers/shared/containers"

struct VcPluginInstance {
  FakeSettings *settings;
};

struct VcFsShare {
  VcPluginInstance *self;
  char          *sandbox_id;
  char          *shared;
  VcFsEventFunc  event_func;
  gpointer       event_data;
  GThread       *die_thread;
  FakeTimer      timer;
  guint          mounts;
};

static const VcSettingSpec settings_spec[] = {
  FAKE_COMMON_SETTINGS,
  { .name = NULL },
};

static VcPluginInstance *
fake_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  (void) host;
  (void) error;
  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->settings = fake_settings_new ("fs", settings);
  return self;
}

static void
fake_destroy (VcPluginInstance *self)
{
  fake_settings_free (self->settings);
  g_free (self);
}

static VcFsShare *
share_new (VcPluginInstance *self, const VcFsSandboxConfig *config)
{
  VcFsShare *share = g_new0 (VcFsShare, 1);
  share->self = self;
  share->sandbox_id = g_strdup (config->sandbox_id);
  share->shared = g_build_filename (config->state_dir, SHARED_DIR, NULL);
  share->event_func = config->event_func;
  share->event_data = config->event_data;
  fake_timer_init (&share->timer);
  return share;
}

static void
share_free (VcFsShare *share)
{
  fake_timer_cancel (&share->timer);
  if (share->die_thread)
    g_thread_join (share->die_thread);
  fake_timer_clear (&share->timer);
  g_free (share->sandbox_id);
  g_free (share->shared);
  g_free (share);
}

static VcFsShare *
fake_prepare (VcPluginInstance *self, const VcFsSandboxConfig *config, GError **error)
{
  fake_log (self->settings, "prepare", "%s", config->sandbox_id);
  if (!fake_enter (self->settings, "prepare", error))
    return NULL;
  VcFsShare *share = share_new (self, config);
  if (g_mkdir (share->shared, 0700) != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "fake: cannot create %s", share->shared);
      share_free (share);
      return NULL;
    }
  return share;
}

static gpointer
die_thread (gpointer data)
{
  VcFsShare *share = data;
  if (!fake_timer_sleep (&share->timer, share->self->settings->die_after_ms))
    return NULL;
  fake_log (share->self->settings, "event", "daemon-died");
  if (share->event_func)
    share->event_func (VC_FS_EVENT_DAEMON_DIED, "fake daemon exited with status 1",
                       share->event_data);
  return NULL;
}

static GPtrArray *
fake_get_devices (VcFsShare *share, GError **error)
{
  fake_log (share->self->settings, "get_devices", "%s", share->sandbox_id);
  if (!fake_enter (share->self->settings, "get_devices", error))
    return NULL;
  GPtrArray *devices = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_device_free);
  g_ptr_array_add (devices, vc_device_new (VC_DEVICE_FS_9P, "fake-share", share->shared,
                                           "kataShared"));
  if (share->self->settings->die_after_ms > 0 && share->die_thread == NULL)
    share->die_thread = g_thread_new ("fake-fs-die", die_thread, share);
  return devices;
}

static VcStorage *
fake_get_sandbox_storage (VcFsShare *share, GError **error)
{
  fake_log (share->self->settings, "get_sandbox_storage", "%s", share->sandbox_id);
  if (!fake_enter (share->self->settings, "get_sandbox_storage", error))
    return NULL;
  const char *options[] = { "trans=virtio", NULL };
  return vc_storage_new ("9p", "kataShared", "9p", options, GUEST_SHARED);
}

static gboolean
touch (const char *dir, const char *name, const char *contents, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return g_file_set_contents (path, contents, -1, error);
}

static VcSharedPath *
fake_share_rootfs (VcFsShare *share, const char *cid, const char *host_rootfs, gboolean ro,
                   GError **error)
{
  fake_log (share->self->settings, "share_rootfs", "%s %s ro=%d", cid, host_rootfs, ro);
  if (!fake_enter (share->self->settings, "share_rootfs", error))
    return NULL;
  g_autofree char *name = g_strdup_printf ("%s.rootfs", cid);
  if (!touch (share->shared, name, host_rootfs, error))
    return NULL;
  VcSharedPath *p = g_new0 (VcSharedPath, 1);
  p->struct_size = sizeof (VcSharedPath);
  p->guest_path = g_strdup_printf (GUEST_SHARED "/%s/rootfs", cid);
  return p;
}

static VcSharedPath *
fake_share_mount (VcFsShare *share, const char *cid, const char *source, const char *destination,
                  gboolean ro, GError **error)
{
  fake_log (share->self->settings, "share_mount", "%s %s %s ro=%d", cid, source, destination, ro);
  if (!fake_enter (share->self->settings, "share_mount", error))
    return NULL;
  g_autofree char *name = g_strdup_printf ("%s.mount.%u", cid, share->mounts++);
  if (!touch (share->shared, name, source, error))
    return NULL;
  VcSharedPath *p = g_new0 (VcSharedPath, 1);
  p->struct_size = sizeof (VcSharedPath);
  p->guest_path = g_strdup_printf (GUEST_SHARED "/%s", name);
  return p;
}

static gboolean
fake_unshare_container (VcFsShare *share, const char *cid, GError **error)
{
  fake_log (share->self->settings, "unshare_container", "%s", cid);
  if (!fake_enter (share->self->settings, "unshare_container", error))
    return FALSE;
  g_autoptr(GDir) dir = g_dir_open (share->shared, 0, NULL);
  g_autofree char *prefix = g_strdup_printf ("%s.", cid);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, prefix))
      {
        g_autofree char *path = g_build_filename (share->shared, name, NULL);
        g_unlink (path);
      }
  return TRUE;
}

static gboolean
fake_cleanup (VcFsShare *share, GError **error)
{
  fake_log (share->self->settings, "cleanup", "%s", share->sandbox_id);
  if (!fake_enter (share->self->settings, "cleanup", error))
    return FALSE;
  fake_timer_cancel (&share->timer);
  fake_rmtree (share->shared);
  return TRUE;
}

static char *
fake_save_state (VcFsShare *share, GError **error)
{
  if (!fake_enter (share->self->settings, "save_state", error))
    return NULL;
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "fake_share");
  json_builder_add_string_value (b, share->shared);
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static VcFsShare *
fake_attach (VcPluginInstance *self, const VcFsSandboxConfig *config, const char *saved,
             GError **error)
{
  fake_log (self->settings, "attach", "%s", config->sandbox_id);
  if (!fake_enter (self->settings, "attach", error))
    return NULL;
  VcFsShare *share = share_new (self, config);
  g_autoptr(JsonNode) node = json_from_string (saved, NULL);
  JsonObject *o = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  if (o == NULL || g_strcmp0 (json_object_get_string_member_with_default (o, "fake_share", NULL),
                              share->shared) != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "fake: bad saved state: %s", saved);
      share_free (share);
      return NULL;
    }
  return share;
}

static void
fake_free_share (VcFsShare *share)
{
  fake_log (share->self->settings, "free_share", "%s", share->sandbox_id);
  share_free (share);
}

static const VcFsOps fake_ops = {
  .version = VC_FS_OPS_VERSION,
  .size = sizeof (VcFsOps),
  .prepare = fake_prepare,
  .get_devices = fake_get_devices,
  .get_sandbox_storage = fake_get_sandbox_storage,
  .share_rootfs = fake_share_rootfs,
  .share_mount = fake_share_mount,
  .unshare_container = fake_unshare_container,
  .cleanup = fake_cleanup,
  .save_state = fake_save_state,
  .attach = fake_attach,
  .free_share = fake_free_share,
};

static const VcPluginDescriptor descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "fake-fs",
  .version = "1.0",
  .description = "test-only fake filesystem sharer",
  .kinds = VC_PLUGIN_KIND_FS,
  .settings = settings_spec,
  .create = fake_create,
  .destroy = fake_destroy,
  .fs = &fake_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &descriptor;
}
