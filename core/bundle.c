/* libvcrun: checks of an OCI bundle made before anything boots (bundle.h). */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>

#include "bundle.h"
#include "container-devices.h"
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

gboolean
vc_path_check_owner (const char *path, const char *what, guint uid, GError **error)
{
  struct stat st;
  /* stat follows every symlink and ".." as the later open will: the owner
   * of what is reached is what counts, not that of the name. */
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

gboolean
vc_bundle_check_spec_owner (const char *bundle, const VcOciSpec *spec, guint uid, GError **error)
{
  g_autofree char *config = g_build_filename (bundle, "config.json", NULL);
  if (!vc_path_check_owner (bundle, "bundle", uid, error)
      || !vc_path_check_owner (config, "bundle file", uid, error)
      || !vc_path_check_owner (spec->root_path, "rootfs", uid, error))
    return FALSE;
  for (guint i = 0; i < spec->mounts->len; i++)
    {
      VcOciMount *mount = spec->mounts->pdata[i];
      if (mount->bind && !vc_path_check_owner (mount->source, "bind mount source", uid, error))
        return FALSE;
    }
  /* Block volumes and block devices reach the VM as disks. */
  return vc_container_devices_check_owner (spec, uid, error);
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
