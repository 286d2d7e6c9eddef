/* fs-virtiofs: shares the sandbox's shared directory into the guest over
 * virtio-fs.
 *
 * get_devices starts virtiofsd on <state_dir>/virtiofsd.sock exporting
 * <state_dir>/shared (log in <state_dir>/virtiofsd.log) and returns the
 * vhost-user-fs device tagged "kataShared"; the agent mounts it at
 * /run/kata-containers/shared/containers (driver "virtio-fs", fstype
 * "virtiofs"). A hypervisor that runs virtiofsd itself
 * (VC_HV_CAP_MANAGED_VIRTIOFS, libvirt) gets a VC_DEVICE_FS_VIRTIOFS of the
 * directory instead and nothing is started here.
 *
 * Settings map onto Debian 12's C virtiofsd (QEMU 7.2): --socket-path,
 * -o source=, -o cache=auto|always|none, -o sandbox=namespace|chroot,
 * -o log_level=, --thread-pool-size=.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <vcrun/fs.h>
#include <vcrun/hypervisor.h>

#include "../fs-common/shared-dir.h"
#include "virtiofsd.h"

#ifndef VC_VIRTIOFSD_PATH
#define VC_VIRTIOFSD_PATH "/usr/lib/qemu/virtiofsd"
#endif

#define VIRTIOFS_DEVICE_ID "virtiofs-shared"
#define SOCKET_NAME "virtiofsd.sock"
#define LOG_NAME "virtiofsd.log"
#define STOP_TIMEOUT_MS 3000

struct VcPluginInstance {
  char  *daemon;
  char  *cache;
  char  *sandbox;
  char  *log_level;
  gint64 thread_pool_size;
  char **extra_args;
  guint  start_timeout_ms;
};

struct VcFsShare {
  VcPluginInstance *plugin;
  VcSharedDir      *dir;
  char             *socket_path;
  char             *log_path;
  gboolean          managed;       /* the hypervisor runs the daemon */
  VcVirtiofsd      *daemon;        /* NULL until get_devices */
  VcFsEventFunc     event_func;
  gpointer          event_data;
};

static const char *const cache_modes[] = { "auto", "always", "none", NULL };
static const char *const sandbox_modes[] = { "namespace", "chroot", NULL };
static const char *const log_levels[] = { "debug", "info", "warn", "err", NULL };

static const VcSettingSpec fs_virtiofs_settings[] = {
  { .name = "daemon", .type = VC_SETTING_STRING,
    .description = "path of virtiofsd", .default_value = VC_VIRTIOFSD_PATH },
  { .name = "cache", .type = VC_SETTING_ENUM,
    .description = "virtiofsd cache mode (-o cache=)", .default_value = "auto",
    .choices = cache_modes },
  { .name = "sandbox", .type = VC_SETTING_ENUM,
    .description = "how virtiofsd confines itself (-o sandbox=)", .default_value = "namespace",
    .choices = sandbox_modes },
  { .name = "log_level", .type = VC_SETTING_ENUM,
    .description = "virtiofsd log level (-o log_level=)", .default_value = "info",
    .choices = log_levels },
  { .name = "thread_pool_size", .type = VC_SETTING_INT,
    .description = "virtiofsd worker threads (--thread-pool-size=; 0: its default)",
    .default_value = "0", .min = 0, .max = 1024 },
  { .name = "extra_args", .type = VC_SETTING_STRING,
    .description = "more virtiofsd arguments, shell-quoted", .default_value = NULL },
  { .name = "start_timeout_ms", .type = VC_SETTING_INT,
    .description = "how long virtiofsd may take to listen on its socket",
    .default_value = "10000", .min = 100, .max = 600000 },
  { NULL }
};

static gboolean
check_choice (const char *key, const char *value, const char *const *choices, GError **error)
{
  if (g_strv_contains (choices, value))
    return TRUE;
  g_autofree char *list = g_strjoinv (", ", (char **) choices);
  g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "%s: '%s' is not one of %s", key, value, list);
  return FALSE;
}

static void
fs_virtiofs_destroy (VcPluginInstance *self)
{
  if (self == NULL)
    return;
  g_free (self->daemon);
  g_free (self->cache);
  g_free (self->sandbox);
  g_free (self->log_level);
  g_strfreev (self->extra_args);
  g_free (self);
}

static VcPluginInstance *
fs_virtiofs_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  const char *daemon = VC_VIRTIOFSD_PATH, *cache = "auto", *sandbox = "namespace";
  const char *log_level = "info", *extra = NULL;
  gint64 pool = 0, start_timeout = 10000;

  if (settings)
    {
      g_variant_lookup (settings, "daemon", "&s", &daemon);
      g_variant_lookup (settings, "cache", "&s", &cache);
      g_variant_lookup (settings, "sandbox", "&s", &sandbox);
      g_variant_lookup (settings, "log_level", "&s", &log_level);
      g_variant_lookup (settings, "thread_pool_size", "x", &pool);
      g_variant_lookup (settings, "extra_args", "&s", &extra);
      g_variant_lookup (settings, "start_timeout_ms", "x", &start_timeout);
    }
  if (!g_path_is_absolute (daemon))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "daemon: '%s' is not an absolute path", daemon);
      return NULL;
    }
  if (!check_choice ("cache", cache, cache_modes, error)
      || !check_choice ("sandbox", sandbox, sandbox_modes, error)
      || !check_choice ("log_level", log_level, log_levels, error))
    return NULL;
  if (pool < 0 || pool > 1024)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "thread_pool_size: %" G_GINT64_FORMAT " is outside 0..1024", pool);
      return NULL;
    }
  if (start_timeout < 100 || start_timeout > 600000)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "start_timeout_ms: %" G_GINT64_FORMAT " is outside 100..600000", start_timeout);
      return NULL;
    }
  g_auto(GStrv) extra_args = NULL;
  if (extra && *extra)
    {
      g_autoptr(GError) local = NULL;
      if (!g_shell_parse_argv (extra, NULL, &extra_args, &local))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "extra_args: %s", local->message);
          return NULL;
        }
    }

  VcPluginInstance *self = g_new0 (VcPluginInstance, 1);
  self->daemon = g_strdup (daemon);
  self->cache = g_strdup (cache);
  self->sandbox = g_strdup (sandbox);
  self->log_level = g_strdup (log_level);
  self->thread_pool_size = pool;
  self->extra_args = g_steal_pointer (&extra_args);
  self->start_timeout_ms = (guint) start_timeout;
  return self;
}

static gboolean
check_config (const VcFsSandboxConfig *config, GError **error)
{
  if (config == NULL || config->struct_size < sizeof (VcFsSandboxConfig))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "fs-virtiofs: invalid sandbox config");
      return FALSE;
    }
  return vc_shared_check_id (config->sandbox_id, "sandbox", error);
}

static VcFsShare *
share_new (VcPluginInstance *self, const VcFsSandboxConfig *config, VcSharedDir *dir,
           GError **error)
{
  g_autofree char *socket_path = g_build_filename (config->state_dir, SOCKET_NAME, NULL);
  if (strlen (socket_path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "virtiofsd socket path %s is longer than a Unix socket path may be (%zu bytes)",
                   socket_path, sizeof (((struct sockaddr_un *) NULL)->sun_path) - 1);
      vc_shared_dir_free (dir);
      return NULL;
    }
  VcFsShare *share = g_new0 (VcFsShare, 1);
  share->plugin = self;
  share->dir = dir;
  share->socket_path = g_steal_pointer (&socket_path);
  share->log_path = g_build_filename (config->state_dir, LOG_NAME, NULL);
  share->managed = (config->hypervisor_caps & VC_HV_CAP_MANAGED_VIRTIOFS) != 0;
  share->event_func = config->event_func;
  share->event_data = config->event_data;
  return share;
}

static VcFsShare *
fs_virtiofs_prepare (VcPluginInstance *self, const VcFsSandboxConfig *config, GError **error)
{
  if (!check_config (config, error))
    return NULL;
  if (config->hypervisor_caps != 0
      && !(config->hypervisor_caps & (VC_HV_CAP_FS_VHOST_USER | VC_HV_CAP_MANAGED_VIRTIOFS)))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "fs-virtiofs: the sandbox's hypervisor has no virtio-fs; use fs-9p");
      return NULL;
    }
  /* Check the socket path before touching anything. */
  g_autofree char *socket_path = g_build_filename (config->state_dir ? config->state_dir : "",
                                                   SOCKET_NAME, NULL);
  if (strlen (socket_path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "virtiofsd socket path %s is too long for a Unix socket", socket_path);
      return NULL;
    }
  VcSharedDir *dir = vc_shared_dir_prepare (config->state_dir, error);
  return dir ? share_new (self, config, dir, error) : NULL;
}

/* fuse option values are split at commas; a backslash escapes. */
static char *
escape_option_value (const char *value)
{
  GString *s = g_string_new (NULL);
  for (const char *p = value; *p; p++)
    {
      if (*p == ',' || *p == '\\')
        g_string_append_c (s, '\\');
      g_string_append_c (s, *p);
    }
  return g_string_free (s, FALSE);
}

static GStrv
daemon_argv (VcFsShare *share)
{
  VcPluginInstance *self = share->plugin;
  GPtrArray *argv = g_ptr_array_new ();
  g_autofree char *source = escape_option_value (vc_shared_dir_get_path (share->dir));

  g_ptr_array_add (argv, g_strdup (self->daemon));
  g_ptr_array_add (argv, g_strdup_printf ("--socket-path=%s", share->socket_path));
  g_ptr_array_add (argv, g_strdup ("-o"));
  g_ptr_array_add (argv, g_strdup_printf ("source=%s", source));
  g_ptr_array_add (argv, g_strdup ("-o"));
  g_ptr_array_add (argv, g_strdup_printf ("cache=%s", self->cache));
  g_ptr_array_add (argv, g_strdup ("-o"));
  g_ptr_array_add (argv, g_strdup_printf ("sandbox=%s", self->sandbox));
  g_ptr_array_add (argv, g_strdup ("-o"));
  g_ptr_array_add (argv, g_strdup_printf ("log_level=%s", self->log_level));
  if (self->thread_pool_size > 0)
    g_ptr_array_add (argv, g_strdup_printf ("--thread-pool-size=%" G_GINT64_FORMAT,
                                            self->thread_pool_size));
  for (char **arg = self->extra_args; arg && *arg; arg++)
    g_ptr_array_add (argv, g_strdup (*arg));
  g_ptr_array_add (argv, NULL);
  return (GStrv) g_ptr_array_free (argv, FALSE);
}

static GPtrArray *
fs_virtiofs_get_devices (VcFsShare *share, GError **error)
{
  g_autoptr(GPtrArray) devices = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_device_free);

  if (share->managed)
    {
      g_ptr_array_add (devices, vc_device_new (VC_DEVICE_FS_VIRTIOFS, VIRTIOFS_DEVICE_ID,
                                               vc_shared_dir_get_path (share->dir),
                                               VC_SHARED_MOUNT_TAG));
      return g_steal_pointer (&devices);
    }

  if (share->daemon && !vc_virtiofsd_is_running (share->daemon))
    g_clear_pointer (&share->daemon, vc_virtiofsd_free);
  if (share->daemon == NULL)
    {
      g_auto(GStrv) argv = daemon_argv (share);
      share->daemon = vc_virtiofsd_spawn (argv, share->log_path, share->socket_path,
                                          share->plugin->start_timeout_ms, share->event_func,
                                          share->event_data, error);
      if (share->daemon == NULL)
        return NULL;
    }
  g_ptr_array_add (devices, vc_device_new (VC_DEVICE_FS_VHOST_USER, VIRTIOFS_DEVICE_ID,
                                           share->socket_path, VC_SHARED_MOUNT_TAG));
  return g_steal_pointer (&devices);
}

static VcStorage *
fs_virtiofs_get_sandbox_storage (VcFsShare *share, GError **error)
{
  return vc_storage_new ("virtio-fs", VC_SHARED_MOUNT_TAG, "virtiofs", NULL, VC_SHARED_GUEST_DIR);
}

static VcSharedPath *
fs_virtiofs_share_rootfs (VcFsShare *share, const char *container_id, const char *host_rootfs,
                          gboolean readonly, GError **error)
{
  return vc_shared_dir_share_rootfs (share->dir, container_id, host_rootfs, readonly, error);
}

static VcSharedPath *
fs_virtiofs_share_mount (VcFsShare *share, const char *container_id, const char *host_source,
                         const char *destination, gboolean readonly, GError **error)
{
  return vc_shared_dir_share_mount (share->dir, container_id, host_source, readonly, error);
}

static gboolean
fs_virtiofs_unshare_container (VcFsShare *share, const char *container_id, GError **error)
{
  return vc_shared_dir_unshare (share->dir, container_id, error);
}

/* C virtiofsd locks its socket with /var/run/virtiofsd/<path, '/' -> '.'>.pid
 * and does not remove it when killed. Removed only if it names our daemon. */
static void
remove_daemon_pid_file (const char *socket_path, gint pid)
{
  g_autofree char *name = g_strdelimit (g_strdup (socket_path), "/", '.');
  const char *dirs[] = { "/var/run/virtiofsd", "/run/virtiofsd" };

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s.pid", dirs[i], name);
      g_autofree char *text = NULL;
      if (g_file_get_contents (path, &text, NULL, NULL)
          && g_ascii_strtoll (g_strstrip (text), NULL, 10) == pid)
        unlink (path);
    }
}

static gboolean
fs_virtiofs_cleanup (VcFsShare *share, GError **error)
{
  if (share->daemon)
    {
      gint pid = vc_virtiofsd_get_pid (share->daemon);
      if (!vc_virtiofsd_stop (share->daemon, STOP_TIMEOUT_MS, error))
        return FALSE;
      g_clear_pointer (&share->daemon, vc_virtiofsd_free);
      remove_daemon_pid_file (share->socket_path, pid);
    }
  if (unlink (share->socket_path) < 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "removing %s: %s", share->socket_path,
                   g_strerror (saved));
      return FALSE;
    }
  return vc_shared_dir_cleanup (share->dir, error);
}

/* virtiofsd, while it runs; nothing when the hypervisor manages it. */
static GArray *
fs_virtiofs_get_pids (VcFsShare *share, GError **error)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (gint));
  if (share->daemon && vc_virtiofsd_is_running (share->daemon))
    {
      gint pid = vc_virtiofsd_get_pid (share->daemon);
      g_array_append_val (pids, pid);
    }
  return pids;
}

static char *
fs_virtiofs_save_state (VcFsShare *share, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "shared_dir");
  json_builder_add_string_value (b, vc_shared_dir_get_path (share->dir));
  json_builder_set_member_name (b, "socket");
  json_builder_add_string_value (b, share->socket_path);
  json_builder_set_member_name (b, "managed");
  json_builder_add_boolean_value (b, share->managed);
  if (share->daemon)
    {
      json_builder_set_member_name (b, "daemon_pid");
      json_builder_add_int_value (b, vc_virtiofsd_get_pid (share->daemon));
      /* As a string: a JSON reader may hold numbers in doubles. */
      json_builder_set_member_name (b, "daemon_start_time");
      g_autofree char *start = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                vc_virtiofsd_get_start_time (share->daemon));
      json_builder_add_string_value (b, start);
    }
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static VcFsShare *
fs_virtiofs_attach (VcPluginInstance *self, const VcFsSandboxConfig *config,
                    const char *saved_state, GError **error)
{
  if (!check_config (config, error))
    return NULL;

  gint64 pid = 0;
  guint64 start_time = 0;
  if (saved_state && *saved_state)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) local = NULL;
      if (!json_parser_load_from_data (parser, saved_state, -1, &local))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "fs-virtiofs: saved state is not JSON: %s", local->message);
          return NULL;
        }
      JsonNode *root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "fs-virtiofs: saved state is not a JSON object");
          return NULL;
        }
      JsonObject *obj = json_node_get_object (root);
      JsonNode *pid_node = json_object_get_member (obj, "daemon_pid");
      JsonNode *start_node = json_object_get_member (obj, "daemon_start_time");
      if (pid_node && JSON_NODE_HOLDS_VALUE (pid_node)
          && json_node_get_value_type (pid_node) == G_TYPE_INT64)
        pid = json_node_get_int (pid_node);
      if (start_node && JSON_NODE_HOLDS_VALUE (start_node)
          && json_node_get_value_type (start_node) == G_TYPE_STRING)
        start_time = g_ascii_strtoull (json_node_get_string (start_node), NULL, 10);
      if (pid < 0 || pid > G_MAXINT || (pid > 0 && start_time == 0))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "fs-virtiofs: saved state: bad daemon_pid %" G_GINT64_FORMAT, pid);
          return NULL;
        }
    }

  VcSharedDir *dir = vc_shared_dir_open (config->state_dir, error);
  if (dir == NULL)
    return NULL;
  VcFsShare *share = share_new (self, config, dir, error);
  if (share == NULL)
    return NULL;
  if (pid > 0 && !share->managed)
    {
      share->daemon = vc_virtiofsd_adopt ((gint) pid, start_time, share->event_func,
                                          share->event_data, error);
      if (share->daemon == NULL)
        {
          vc_shared_dir_free (share->dir);
          g_free (share->socket_path);
          g_free (share->log_path);
          g_free (share);
          return NULL;
        }
    }
  return share;
}

static void
fs_virtiofs_free_share (VcFsShare *share)
{
  if (share == NULL)
    return;
  g_clear_pointer (&share->daemon, vc_virtiofsd_free);
  vc_shared_dir_free (share->dir);
  g_free (share->socket_path);
  g_free (share->log_path);
  g_free (share);
}

/* vcrun check: the daemon this plugin would start (when the hypervisor
 * does not run its own). */
static gboolean
fs_virtiofs_check (VcPluginInstance *self, GString *report, GError **error)
{
  if (access (self->daemon, X_OK) != 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "virtiofsd: %s: %s", self->daemon,
                   g_strerror (saved));
      return FALSE;
    }
  g_string_append_printf (report, "virtiofsd: %s (cache=%s, sandbox=%s)\n", self->daemon,
                          self->cache, self->sandbox);
  return TRUE;
}

static const VcFsOps fs_virtiofs_ops = {
  .version = VC_FS_OPS_VERSION,
  .size = sizeof (VcFsOps),
  .prepare = fs_virtiofs_prepare,
  .get_devices = fs_virtiofs_get_devices,
  .get_sandbox_storage = fs_virtiofs_get_sandbox_storage,
  .share_rootfs = fs_virtiofs_share_rootfs,
  .share_mount = fs_virtiofs_share_mount,
  .unshare_container = fs_virtiofs_unshare_container,
  .cleanup = fs_virtiofs_cleanup,
  .save_state = fs_virtiofs_save_state,
  .attach = fs_virtiofs_attach,
  .free_share = fs_virtiofs_free_share,
  .check = fs_virtiofs_check,
  .get_pids = fs_virtiofs_get_pids,
};

static const VcPluginDescriptor descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "fs-virtiofs",
  .version = PACKAGE_VERSION,
  .description = "shares container filesystems into the guest over virtio-fs (virtiofsd)",
  .kinds = VC_PLUGIN_KIND_FS,
  .settings = fs_virtiofs_settings,
  .create = fs_virtiofs_create,
  .destroy = fs_virtiofs_destroy,
  .fs = &fs_virtiofs_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &descriptor;
}
