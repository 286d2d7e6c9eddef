/* libvcrun: checks of an OCI bundle made before anything boots (bundle.h). */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>

#include "bundle-private.h"
#include "oci.h"

gboolean
vc_bundle_check (const char *bundle, gboolean *terminal, GError **error)
{
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (bundle, error);
  if (spec == NULL)
    return FALSE;
  if (terminal)
    *terminal = spec->terminal;
  return TRUE;
}

static gboolean
check_path_owner (const char *path, const char *what, guint uid, GError **error)
{
  struct stat st;
  if (stat (path, &st) != 0)
    {
      int e = errno;
      g_set_error (error, VC_ERROR, e == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
                   "%s %s: %s", what, path, g_strerror (e));
      return FALSE;
    }
  if (st.st_uid != uid)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED,
                   "%s %s belongs to uid %u, not to the caller (uid %u)", what, path,
                   (guint) st.st_uid, uid);
      return FALSE;
    }
  return TRUE;
}

/* linux.devices entries of type b pass a host disk into the VM: for root only. */
static gboolean
check_no_host_block_devices (const VcOciSpec *spec, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, spec->json, -1, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  JsonObject *o = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *lx = o ? json_object_get_member (o, "linux") : NULL;
  JsonNode *devs = lx && JSON_NODE_HOLDS_OBJECT (lx)
                   ? json_object_get_member (json_node_get_object (lx), "devices") : NULL;
  JsonArray *a = devs && JSON_NODE_HOLDS_ARRAY (devs) ? json_node_get_array (devs) : NULL;
  for (guint i = 0; a && i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      JsonObject *d = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      if (d && g_strcmp0 (json_object_get_string_member_with_default (d, "type", ""), "b") == 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED,
                       "linux.devices[%u] (%s): only root may pass a host block device into a sandbox",
                       i, json_object_get_string_member_with_default (d, "path", "?"));
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
vc_bundle_check_spec_owner (const char *bundle, const VcOciSpec *spec, guint uid, GError **error)
{
  g_autofree char *config = g_build_filename (bundle, "config.json", NULL);
  if (!check_path_owner (bundle, "bundle", uid, error)
      || !check_path_owner (config, "bundle file", uid, error)
      || !check_path_owner (spec->root_path, "rootfs", uid, error))
    return FALSE;
  for (guint i = 0; i < spec->mounts->len; i++)
    {
      VcOciMount *mount = spec->mounts->pdata[i];
      if (mount->bind && !check_path_owner (mount->source, "bind mount source", uid, error))
        return FALSE;
      /* a block volume: vcrund's VMM would open the image or device as root */
      if (!mount->bind && vc_oci_is_block_fstype (mount->type) && mount->source != NULL
          && g_path_is_absolute (mount->source)
          && !check_path_owner (mount->source, "block volume source", uid, error))
        return FALSE;
    }
  return check_no_host_block_devices (spec, error);
}

gboolean
vc_bundle_check_owner (const char *bundle, guint uid, GError **error)
{
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (bundle, error);
  return spec != NULL && vc_bundle_check_spec_owner (bundle, spec, uid, error);
}

gboolean
vc_bundle_network_namespace (const char *bundle, char **path, GError **error)
{
  *path = NULL;
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (bundle, error);
  if (spec == NULL)
    return FALSE;
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, spec->json, -1, error))
    return FALSE;
  JsonNode *root = json_parser_get_root (parser);
  JsonNode *linux_node = JSON_NODE_HOLDS_OBJECT (root)
                         ? json_object_get_member (json_node_get_object (root), "linux") : NULL;
  JsonObject *linux_obj = linux_node && JSON_NODE_HOLDS_OBJECT (linux_node)
                          ? json_node_get_object (linux_node) : NULL;
  JsonNode *ns_node = linux_obj ? json_object_get_member (linux_obj, "namespaces") : NULL;
  if (ns_node == NULL || JSON_NODE_HOLDS_NULL (ns_node))
    return TRUE;
  g_autofree char *origin = g_build_filename (bundle, "config.json", NULL);
  if (!JSON_NODE_HOLDS_ARRAY (ns_node))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "%s: linux.namespaces: must be an array", origin);
      return FALSE;
    }
  JsonArray *namespaces = json_node_get_array (ns_node);
  for (guint i = 0; i < json_array_get_length (namespaces); i++)
    {
      JsonNode *e = json_array_get_element (namespaces, i);
      JsonObject *ns = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      const char *type = ns ? json_object_get_string_member_with_default (ns, "type", NULL) : NULL;
      if (type == NULL || !g_str_equal (type, "network"))
        continue;
      JsonNode *p = json_object_get_member (ns, "path");
      if (p == NULL || JSON_NODE_HOLDS_NULL (p))
        return TRUE;
      if (!JSON_NODE_HOLDS_VALUE (p) || json_node_get_value_type (p) != G_TYPE_STRING
          || (*json_node_get_string (p) != '\0' && !g_path_is_absolute (json_node_get_string (p))))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "%s: linux.namespaces[%u].path: must be an absolute path", origin, i);
          return FALSE;
        }
      if (*json_node_get_string (p) != '\0')
        *path = g_strdup (json_node_get_string (p));
      return TRUE;
    }
  return TRUE;
}
