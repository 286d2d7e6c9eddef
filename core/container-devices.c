/* libvcrun: a container's block volumes and host block devices
 * (container-devices.h). */
#include "config.h"

#include "container-devices.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <json-glib/json-glib.h>

#define UNPLUG_TIMEOUT_MS 15000
#define GUEST_VOLUME_DIR "/run/vcrun/volumes"


typedef struct {
  VcDeviceRequest request;
  char   *origin;       /* "mounts[2]" or "linux.devices[0]", for errors */
  char   *host_path;
  char   *container_path;
  char   *fstype;
  char  **options;      /* BLOCK_MOUNT: passed to the guest's mount */
  /* once resolved: the plugin that attached it (plugins are never unloaded) and its device */
  const char        *plugin_name;
  VcPluginInstance  *instance;
  const VcDeviceOps *ops;
  VcDevice          *device;
} Request;

static void
request_free (Request *r)
{
  g_free (r->origin);
  g_free (r->host_path);
  g_free (r->container_path);
  g_free (r->fstype);
  g_strfreev (r->options);
  g_clear_pointer (&r->device, vc_device_free);
  g_free (r);
}

void
vc_container_devices_free (VcContainerDevices *d)
{
  if (d == NULL)
    return;
  g_ptr_array_unref (d->storages);
  g_ptr_array_unref (d->mounts);
  g_ptr_array_unref (d->guest_devices);
  g_ptr_array_unref (d->container_paths);
  g_ptr_array_unref (d->records);
  g_ptr_array_unref (d->requests);
  g_free (d);
}

static void
guest_device_free (VcGuestDevice *gd)
{
  if (gd == NULL)
    return;
  vc_guest_device_clear (gd);
  g_free (gd);
}

static gint64
member_int (JsonObject *o, const char *name, gint64 fallback)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return fallback;
  return json_node_get_int (n);
}

static const char *
member_string (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

/* /dev/NAME of the host block device major:minor, from sysfs. */
static char *
host_block_device (gint64 major_nr, gint64 minor_nr)
{
  g_autofree char *uevent = g_strdup_printf ("/sys/dev/block/%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT "/uevent",
                                             major_nr, minor_nr);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (uevent, &text, NULL, NULL))
    return NULL;
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    if (g_str_has_prefix (*l, "DEVNAME=") && strchr (*l + 8, '/') == NULL && (*l)[8] != '\0'
        && strstr (*l + 8, "..") == NULL)
      return g_strdup_printf ("/dev/%s", *l + 8);
  return NULL;
}

static gboolean
collect_devices (JsonObject *root, const char *id, GPtrArray *out, GError **error)
{
  JsonNode *linux_node = json_object_get_member (root, "linux");
  if (linux_node == NULL || !JSON_NODE_HOLDS_OBJECT (linux_node))
    return TRUE;
  JsonNode *devs = json_object_get_member (json_node_get_object (linux_node), "devices");
  if (devs == NULL || !JSON_NODE_HOLDS_ARRAY (devs))
    return TRUE;
  JsonArray *a = json_node_get_array (devs);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_OBJECT (e))
        continue;
      JsonObject *o = json_node_get_object (e);
      if (g_strcmp0 (member_string (o, "type"), "b") != 0)
        continue;
      const char *path = member_string (o, "path");
      gint64 maj = member_int (o, "major", -1), min = member_int (o, "minor", -1);
      if (path == NULL || !g_path_is_absolute (path) || maj < 0 || min < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "container %s: linux.devices[%u]: a block device needs an absolute path, "
                       "a major and a minor", id, i);
          return FALSE;
        }
      Request *r = g_new0 (Request, 1);
      r->origin = g_strdup_printf ("linux.devices[%u] (%s, %" G_GINT64_FORMAT ":%" G_GINT64_FORMAT ")",
                                   i, path, maj, min);
      r->host_path = host_block_device (maj, min);
      r->container_path = g_strdup (path);
      r->request.kind = VC_DEVICE_REQUEST_OCI_DEVICE;
      r->request.type = 'b';
      r->request.major = maj;
      r->request.minor = min;
      r->request.file_mode = (guint32) member_int (o, "fileMode", 0);
      r->request.uid = (guint32) member_int (o, "uid", 0);
      r->request.gid = (guint32) member_int (o, "gid", 0);
      g_ptr_array_add (out, r);
    }
  return TRUE;
}

static gboolean
collect_mounts (JsonObject *root, const char *id, GPtrArray *out, GError **error)
{
  JsonNode *mounts = json_object_get_member (root, "mounts");
  if (mounts == NULL || !JSON_NODE_HOLDS_ARRAY (mounts))
    return TRUE;
  JsonArray *a = json_node_get_array (mounts);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_OBJECT (e))
        continue;
      JsonObject *o = json_node_get_object (e);
      const char *type = member_string (o, "type"), *source = member_string (o, "source");
      const char *dest = member_string (o, "destination");
      if (!vc_oci_is_block_fstype (type) || source == NULL
          || !g_path_is_absolute (source) || dest == NULL)
        continue;
      struct stat st;
      if (stat (source, &st) != 0)
        {
          int saved = errno;
          g_set_error (error, VC_ERROR, saved == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
                       "container %s: mounts[%u].source: %s: %s", id, i, source, g_strerror (saved));
          return FALSE;
        }
      if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "container %s: mounts[%u].source: %s: not an image file or block device",
                       id, i, source);
          return FALSE;
        }
      Request *r = g_new0 (Request, 1);
      r->origin = g_strdup_printf ("mounts[%u] (%s on %s)", i, source, dest);
      r->host_path = g_strdup (source);
      r->container_path = g_strdup (dest);
      r->fstype = g_strdup (type);
      r->request.kind = VC_DEVICE_REQUEST_BLOCK_MOUNT;
      GPtrArray *opts = g_ptr_array_new ();
      JsonNode *on = json_object_get_member (o, "options");
      JsonArray *oa = on && JSON_NODE_HOLDS_ARRAY (on) ? json_node_get_array (on) : NULL;
      for (guint j = 0; oa && j < json_array_get_length (oa); j++)
        {
          const char *opt = json_array_get_string_element (oa, j);
          if (opt == NULL || strcmp (opt, "rw") == 0)
            continue;
          if (strcmp (opt, "ro") == 0)
            r->request.readonly = TRUE;
          g_ptr_array_add (opts, g_strdup (opt));
        }
      g_ptr_array_add (opts, NULL);
      r->options = (char **) g_ptr_array_free (opts, FALSE);
      g_ptr_array_add (out, r);
    }
  return TRUE;
}

static char *
plugin_names (GArray *plugins)
{
  if (plugins->len == 0)
    return g_strdup ("none is loaded");
  GString *s = g_string_new ("loaded: ");
  for (guint i = 0; i < plugins->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", g_array_index (plugins, VcDevicePluginRef, i).name);
  return g_string_free (s, FALSE);
}

static void
unplug (VcSandbox *sb, const char *id, const char *record)
{
  g_autofree char *plugin = g_strdup (record);
  char *colon = strchr (plugin, ':');
  if (colon == NULL)
    return;
  *colon = '\0';
  const char *device_id = colon + 1;
  g_autoptr(GError) error = NULL;
  if (!vc_sandbox_hotplug_remove (sb, device_id, UNPLUG_TIMEOUT_MS, &error))
    g_warning ("container %s: unplugging %s: %s", id, device_id, error->message);
  g_autoptr(GArray) plugins = vc_sandbox_device_plugins (sb);
  for (guint i = 0; i < plugins->len; i++)
    {
      VcDevicePluginRef *p = &g_array_index (plugins, VcDevicePluginRef, i);
      if (strcmp (p->name, plugin) != 0 || p->ops->detach == NULL)
        continue;
      VcDeviceRequest request = { .struct_size = sizeof (VcDeviceRequest), .container_id = id };
      g_clear_error (&error);
      if (!p->ops->detach (p->instance, &request, device_id, &error))
        g_warning ("container %s: %s detach %s: %s", id, plugin, device_id, error->message);
    }
}

void
vc_container_devices_release (VcSandbox *sb, const char *id, char *const *records)
{
  for (gsize i = 0; records && records[i]; i++)
    unplug (sb, id, records[i]);
}

/* Hands r to the first plugin that supports it: r->device is what to plug. */
static gboolean
resolve_one (const char *id, GArray *plugins, Request *r, GError **error)
{
  r->request.struct_size = sizeof (VcDeviceRequest);
  r->request.container_id = id;
  r->request.host_path = r->host_path;
  r->request.container_path = r->container_path;
  r->request.fstype = r->fstype;
  VcDevicePluginRef *chosen = NULL;
  for (guint i = 0; i < plugins->len && chosen == NULL; i++)
    {
      VcDevicePluginRef *p = &g_array_index (plugins, VcDevicePluginRef, i);
      if (p->ops->supports != NULL && p->ops->supports (p->instance, &r->request))
        chosen = p;
    }
  if (chosen == NULL || chosen->ops->attach == NULL)
    {
      g_autofree char *names = plugin_names (plugins);
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "container %s: %s: no device plugin handles it (%s)%s", id, r->origin, names,
                   r->host_path == NULL ? "; no such block device on the host" : "");
      return FALSE;
    }
  r->device = chosen->ops->attach (chosen->instance, &r->request, error);
  if (r->device == NULL)
    {
      g_prefix_error (error, "container %s: %s: %s: ", id, r->origin, chosen->name);
      return FALSE;
    }
  r->plugin_name = chosen->name;
  r->instance = chosen->instance;
  r->ops = chosen->ops;
  return TRUE;
}

/* Undoes resolve_one (the device is not, or no longer, plugged). */
static void
unresolve_one (Request *r)
{
  if (r->device == NULL)
    return;
  g_autoptr(GError) ignored = NULL;
  if (r->ops->detach)
    r->ops->detach (r->instance, &r->request, r->device->id, &ignored);
  g_clear_pointer (&r->device, vc_device_free);
}

/* After r->device was plugged and gd filled: what the agent needs. */
static void
record_plugged (Request *r, VcGuestDevice *gd, guint index, VcContainerDevices *out)
{
  g_ptr_array_add (out->records, g_strdup_printf ("%s:%s", r->plugin_name, r->device->id));
  if (gd->driver == NULL)
    gd->driver = g_strdup ("blk");
  if (gd->id == NULL)
    gd->id = g_strdup (r->device->id);
  if (r->request.kind == VC_DEVICE_REQUEST_OCI_DEVICE)
    {
      g_ptr_array_add (out->guest_devices, gd);
      g_ptr_array_add (out->container_paths, g_strdup (r->container_path));
      return;
    }
  g_autofree char *mount_point = g_strdup_printf ("%s/%s-%u", GUEST_VOLUME_DIR, r->device->id, index);
  const char *source = gd->guest_address ? gd->guest_address : gd->guest_path;
  VcStorage *st = vc_storage_new (gd->driver, source, r->fstype, (const char *const *) r->options,
                                  mount_point);
  g_ptr_array_add (out->storages, st);
  VcAgentMount *am = g_new0 (VcAgentMount, 1);
  am->struct_size = sizeof (VcAgentMount);
  am->destination = r->container_path;  /* r outlives the create call */
  am->guest_source = st->mount_point;
  am->readonly = r->request.readonly;
  g_ptr_array_add (out->mounts, am);
  guest_device_free (gd);
}

/* Plugs a resolved request into the VM: cold (add_device, before start_vm)
 * or hot (hotplug_add). On failure the plugin's attach is undone. */
static gboolean
plug_one (VcSandbox *sb, const char *id, Request *r, guint index, gboolean cold,
          VcContainerDevices *out, GError **error)
{
  VcGuestDevice *gd = g_new0 (VcGuestDevice, 1);
  gd->struct_size = sizeof (VcGuestDevice);
  gboolean ok = cold ? vc_sandbox_cold_plug (sb, r->device, gd, error)
                     : vc_sandbox_hotplug_add (sb, r->device, gd, error);
  if (!ok)
    {
      guest_device_free (gd);
      g_prefix_error (error, "container %s: %s: ", id, r->origin);
      unresolve_one (r);
      return FALSE;
    }
  if (!cold)
    g_info ("container %s: %s hot-plugged as %s", id, r->origin, r->device->id);
  record_plugged (r, gd, index, out);
  return TRUE;
}

static VcContainerDevices *
devices_new (GPtrArray *requests)
{
  VcContainerDevices *out = g_new0 (VcContainerDevices, 1);
  out->storages = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_storage_free);
  out->mounts = g_ptr_array_new_with_free_func (g_free);
  out->guest_devices = g_ptr_array_new_with_free_func ((GDestroyNotify) guest_device_free);
  out->container_paths = g_ptr_array_new_with_free_func (g_free);
  out->records = g_ptr_array_new_with_free_func (g_free);
  out->requests = requests;
  return out;
}

static GPtrArray *
collect (const char *id, const VcOciSpec *spec, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, spec->json, -1, error))
    return NULL;
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  g_autoptr(GPtrArray) requests = g_ptr_array_new_with_free_func ((GDestroyNotify) request_free);
  if (!collect_devices (root, id, requests, error) || !collect_mounts (root, id, requests, error))
    return NULL;
  return g_steal_pointer (&requests);
}

/* Whether the container's requests are the ones prepared at boot (its
 * create may name another bundle than the sandbox was created with). */
static gboolean
same_requests (GPtrArray *a, GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    {
      Request *x = a->pdata[i], *y = b->pdata[i];
      g_autofree char *ox = x->options ? g_strjoinv (",", x->options) : NULL;
      g_autofree char *oy = y->options ? g_strjoinv (",", y->options) : NULL;
      if (g_strcmp0 (x->origin, y->origin) != 0 || g_strcmp0 (x->host_path, y->host_path) != 0
          || g_strcmp0 (x->fstype, y->fstype) != 0 || g_strcmp0 (ox, oy) != 0
          || x->request.readonly != y->request.readonly || x->request.file_mode != y->request.file_mode
          || x->request.uid != y->request.uid || x->request.gid != y->request.gid)
        return FALSE;
    }
  return TRUE;
}

VcContainerDevices *
vc_container_devices_prepare (VcSandbox *sb, const char *id, const VcOciSpec *spec, GError **error)
{
  g_autoptr(GPtrArray) requests = collect (id, spec, error);
  if (requests == NULL)
    return NULL;
  g_autoptr(VcContainerDevices) out = devices_new (g_steal_pointer (&requests));
  out->cold = TRUE;
  if (out->requests->len == 0)
    return g_steal_pointer (&out);
  g_autoptr(GArray) plugins = vc_sandbox_device_plugins (sb);
  for (guint i = 0; i < out->requests->len; i++)
    if (!resolve_one (id, plugins, out->requests->pdata[i], error))
      {
        vc_container_devices_unprepare (out);
        return NULL;
      }
  return g_steal_pointer (&out);
}

gboolean
vc_container_devices_cold_plug (VcSandbox *sb, const char *id, VcContainerDevices *d, GError **error)
{
  for (guint i = 0; i < d->requests->len; i++)
    if (!plug_one (sb, id, d->requests->pdata[i], i, TRUE, d, error))
      return FALSE;
  return TRUE;
}

void
vc_container_devices_unprepare (VcContainerDevices *d)
{
  for (guint i = 0; d && i < d->requests->len; i++)
    unresolve_one (d->requests->pdata[i]);
}

VcContainerDevices *
vc_container_devices_attach (VcSandbox *sb, const char *id, const VcOciSpec *spec, GError **error)
{
  g_autoptr(GPtrArray) requests = collect (id, spec, error);
  if (requests == NULL)
    return NULL;
  g_auto(GStrv) noted = vc_sandbox_take_cold_records (sb, id);
  g_autoptr(VcContainerDevices) cold = vc_sandbox_steal_cold_devices (sb, id);
  if (cold == NULL && noted != NULL)
    {
      /* Plugged at boot by a process that is gone (vcrund restarted): where
       * the guest sees them went with it. Plug them again. */
      g_info ("container %s: unplugging the devices cold-plugged at boot by another process, "
              "hot-plugging its own", id);
      vc_container_devices_release (sb, id, noted);
    }
  if (cold != NULL)
    {
      if (same_requests (cold->requests, requests))
        {
          g_info ("container %s: %u device(s) cold-plugged at boot, none hot-plugged", id,
                     cold->records->len);
          return g_steal_pointer (&cold);
        }
      /* Another bundle than the sandbox was created with: plug this one's. */
      g_info ("container %s: its devices differ from those cold-plugged at boot: unplugging "
                 "those, hot-plugging its own", id);
      g_ptr_array_add (cold->records, NULL);
      vc_container_devices_release (sb, id, (char *const *) cold->records->pdata);
    }

  VcContainerDevices *out = devices_new (g_steal_pointer (&requests));
  if (out->requests->len == 0)
    return out;
  g_autoptr(GArray) plugins = vc_sandbox_device_plugins (sb);
  for (guint i = 0; i < out->requests->len; i++)
    if (!resolve_one (id, plugins, out->requests->pdata[i], error)
        || !plug_one (sb, id, out->requests->pdata[i], i, FALSE, out, error))
      {
        g_ptr_array_add (out->records, NULL);
        vc_container_devices_release (sb, id, (char *const *) out->records->pdata);
        vc_container_devices_free (out);
        return NULL;
      }
  return out;
}
