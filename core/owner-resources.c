/* libvcrun: the owner's resource requests (owner-resources.h). */
#include "config.h"

#include "owner-resources.h"

#include <vcrun/types.h>

JsonObject *
vc_owner_resources_request (VcContainer *container, const char *op, JsonObject *request,
                            GError **error)
{
  g_autoptr(JsonObject) reply = json_object_new ();
  json_object_set_boolean_member (reply, "ok", TRUE);
  if (g_str_equal (op, "stats"))
    {
      JsonObject *data = vc_container_stats (container, error);
      if (data == NULL)
        return NULL;
      json_object_set_object_member (reply, "data", data);
      return g_steal_pointer (&reply);
    }
  JsonNode *node = json_object_get_member (request, "resources");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "request: resources must be a string (an OCI LinuxResources JSON object)");
      return NULL;
    }
  g_autofree char *notes = NULL;
  if (!vc_container_update (container, json_node_get_string (node), &notes, error))
    return NULL;
  if (notes != NULL)
    json_object_set_string_member (reply, "notes", notes);
  return g_steal_pointer (&reply);
}
