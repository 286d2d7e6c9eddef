/* libvcrun: a sandbox's network plan and its network.json. */
#include "config.h"

#include "network.h"

#include <errno.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>

#include "state.h"

static void
iface_free (VcNetIface *iface)
{
  if (iface == NULL)
    return;
  g_free (iface->name);
  g_free (iface->mac);
  g_free (iface->tap);
  g_free (iface->host_tap);
  g_ptr_array_unref (iface->addresses);
  g_free (iface);
}

static VcNetwork *
network_new (const char *netns)
{
  VcNetwork *n = g_new0 (VcNetwork, 1);
  n->netns = g_strdup (netns);
  n->ifaces = g_ptr_array_new_with_free_func ((GDestroyNotify) iface_free);
  n->routes = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_route_free);
  n->neighbors = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_neighbor_free);
  return n;
}

void
vc_network_free (VcNetwork *network)
{
  if (network == NULL)
    return;
  g_free (network->netns);
  g_ptr_array_unref (network->ifaces);
  g_ptr_array_unref (network->routes);
  g_ptr_array_unref (network->neighbors);
  g_free (network);
}

static VcNetIface *
find_iface (const VcNetwork *n, const char *name)
{
  for (guint i = 0; name && i < n->ifaces->len; i++)
    {
      VcNetIface *iface = n->ifaces->pdata[i];
      if (g_str_equal (iface->name, name))
        return iface;
    }
  return NULL;
}

VcNetwork *
vc_network_plan (const char *netns, guint64 dev, guint64 ino, gboolean vnet_hdr,
                 const VcNlSnapshot *snapshot, GError **error)
{
  g_autoptr(VcNetwork) n = network_new (netns);
  n->netns_dev = dev;
  n->netns_ino = ino;
  n->vnet_hdr = vnet_hdr;
  for (guint i = 0; i < snapshot->links->len; i++)
    {
      const VcNlLink *link = snapshot->links->pdata[i];
      if (link->loopback)
        continue;
      if (link->kind == NULL || !g_str_equal (link->kind, "veth") || link->mac == NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                       "network namespace %s: interface %s is %s%s; vcrun bridges only veth "
                       "interfaces to the VM", netns, link->name,
                       link->kind ? "of type " : "a device without a type",
                       link->kind ? link->kind : "");
          return NULL;
        }
      VcNetIface *iface = g_new0 (VcNetIface, 1);
      iface->name = g_strdup (link->name);
      iface->mac = g_strdup (link->mac);
      iface->mtu = link->mtu;
      iface->tap = g_strdup_printf (VC_NETWORK_TAP_PREFIX "%u", n->ifaces->len);
      iface->addresses = g_ptr_array_new_with_free_func (g_free);
      for (guint a = 0; a < link->addresses->len; a++)
        g_ptr_array_add (iface->addresses, g_strdup (link->addresses->pdata[a]));
      g_ptr_array_add (n->ifaces, iface);
    }
  for (guint i = 0; i < snapshot->routes->len; i++)
    {
      const VcNlRoute *r = snapshot->routes->pdata[i];
      if (find_iface (n, r->device) == NULL)
        continue;
      VcNlRoute *copy = g_new0 (VcNlRoute, 1);
      copy->destination = g_strdup (r->destination);
      copy->gateway = g_strdup (r->gateway);
      copy->source = g_strdup (r->source);
      copy->device = g_strdup (r->device);
      copy->scope = r->scope;
      copy->ipv6 = r->ipv6;
      g_ptr_array_add (n->routes, copy);
    }
  for (guint i = 0; i < snapshot->neighbors->len; i++)
    {
      const VcNlNeighbor *nb = snapshot->neighbors->pdata[i];
      if (find_iface (n, nb->device) == NULL)
        continue;
      VcNlNeighbor *copy = g_new0 (VcNlNeighbor, 1);
      copy->address = g_strdup (nb->address);
      copy->mac = g_strdup (nb->mac);
      copy->device = g_strdup (nb->device);
      copy->state = nb->state;
      copy->flags = nb->flags;
      g_ptr_array_add (n->neighbors, copy);
    }
  return g_steal_pointer (&n);
}

/* ---- network.json ------------------------------------------------------ */

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

gboolean
vc_network_write (const VcNetwork *n, const char *dir, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_string (b, "netns", n->netns);
  add_int (b, "netns_dev", (gint64) n->netns_dev);
  add_int (b, "netns_ino", (gint64) n->netns_ino);
  json_builder_set_member_name (b, "vnet_hdr");
  json_builder_add_boolean_value (b, n->vnet_hdr);
  if (n->moved)
    {
      json_builder_set_member_name (b, "moved");
      json_builder_add_boolean_value (b, TRUE);
    }
  json_builder_set_member_name (b, "interfaces");
  json_builder_begin_array (b);
  for (guint i = 0; i < n->ifaces->len; i++)
    {
      const VcNetIface *iface = n->ifaces->pdata[i];
      json_builder_begin_object (b);
      add_string (b, "name", iface->name);
      add_string (b, "mac", iface->mac);
      add_int (b, "mtu", iface->mtu);
      add_string (b, "tap", iface->tap);
      if (iface->host_tap)
        add_string (b, "host_tap", iface->host_tap);
      json_builder_set_member_name (b, "addresses");
      json_builder_begin_array (b);
      for (guint a = 0; a < iface->addresses->len; a++)
        json_builder_add_string_value (b, iface->addresses->pdata[a]);
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "routes");
  json_builder_begin_array (b);
  for (guint i = 0; i < n->routes->len; i++)
    {
      const VcNlRoute *r = n->routes->pdata[i];
      json_builder_begin_object (b);
      add_string (b, "destination", r->destination);
      add_string (b, "gateway", r->gateway);
      add_string (b, "source", r->source);
      add_string (b, "device", r->device);
      add_int (b, "scope", r->scope);
      json_builder_set_member_name (b, "ipv6");
      json_builder_add_boolean_value (b, r->ipv6);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "neighbors");
  json_builder_begin_array (b);
  for (guint i = 0; i < n->neighbors->len; i++)
    {
      const VcNlNeighbor *nb = n->neighbors->pdata[i];
      json_builder_begin_object (b);
      add_string (b, "address", nb->address);
      add_string (b, "mac", nb->mac);
      add_string (b, "device", nb->device);
      add_int (b, "state", nb->state);
      add_int (b, "flags", nb->flags);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr(JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, TRUE);
  return vc_state_write_file_atomic (dir, VC_NETWORK_FILE, text, strlen (text), error);
}

/* A string member or NULL; a member of another type is an error. */
static gboolean
get_string (JsonObject *o, const char *name, gboolean required, char **out, const char *origin,
            GError **error)
{
  JsonNode *node = json_object_get_member (o, name);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!required)
        return TRUE;
    }
  else if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      *out = g_strdup (json_node_get_string (node));
      return TRUE;
    }
  g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: '%s' is missing or not a string", origin,
               name);
  return FALSE;
}

static JsonArray *
get_array (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);
  return node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static JsonObject *
element_object (JsonArray *a, guint i)
{
  JsonNode *node = json_array_get_element (a, i);
  return JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static gint64
get_int (JsonObject *o, const char *name)
{
  JsonNode *node = json_object_get_member (o, name);
  return node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64
         ? json_node_get_int (node) : 0;
}

static gboolean
parse (VcNetwork *n, JsonObject *root, const char *origin, GError **error)
{
  if (!get_string (root, "netns", TRUE, &n->netns, origin, error))
    return FALSE;
  n->netns_dev = (guint64) get_int (root, "netns_dev");
  n->netns_ino = (guint64) get_int (root, "netns_ino");
  n->vnet_hdr = json_object_get_boolean_member_with_default (root, "vnet_hdr", FALSE);
  n->moved = json_object_get_boolean_member_with_default (root, "moved", FALSE);
  JsonArray *a = get_array (root, "interfaces");
  for (guint i = 0; a && i < json_array_get_length (a); i++)
    {
      JsonObject *o = element_object (a, i);
      if (o == NULL)
        continue;
      VcNetIface *iface = g_new0 (VcNetIface, 1);
      iface->addresses = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (n->ifaces, iface);
      if (!get_string (o, "name", TRUE, &iface->name, origin, error)
          || !get_string (o, "tap", TRUE, &iface->tap, origin, error)
          || !get_string (o, "mac", FALSE, &iface->mac, origin, error)
          || !get_string (o, "host_tap", FALSE, &iface->host_tap, origin, error))
        return FALSE;
      iface->mtu = (guint) get_int (o, "mtu");
      JsonArray *addrs = get_array (o, "addresses");
      for (guint k = 0; addrs && k < json_array_get_length (addrs); k++)
        {
          JsonNode *e = json_array_get_element (addrs, k);
          if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
            g_ptr_array_add (iface->addresses, g_strdup (json_node_get_string (e)));
        }
    }
  a = get_array (root, "routes");
  for (guint i = 0; a && i < json_array_get_length (a); i++)
    {
      JsonObject *o = element_object (a, i);
      if (o == NULL)
        continue;
      VcNlRoute *r = g_new0 (VcNlRoute, 1);
      g_ptr_array_add (n->routes, r);
      if (!get_string (o, "destination", FALSE, &r->destination, origin, error)
          || !get_string (o, "gateway", FALSE, &r->gateway, origin, error)
          || !get_string (o, "source", FALSE, &r->source, origin, error)
          || !get_string (o, "device", TRUE, &r->device, origin, error))
        return FALSE;
      r->scope = (guint) get_int (o, "scope");
      r->ipv6 = json_object_get_boolean_member_with_default (o, "ipv6", FALSE);
    }
  a = get_array (root, "neighbors");
  for (guint i = 0; a && i < json_array_get_length (a); i++)
    {
      JsonObject *o = element_object (a, i);
      if (o == NULL)
        continue;
      VcNlNeighbor *nb = g_new0 (VcNlNeighbor, 1);
      g_ptr_array_add (n->neighbors, nb);
      if (!get_string (o, "address", TRUE, &nb->address, origin, error)
          || !get_string (o, "mac", TRUE, &nb->mac, origin, error)
          || !get_string (o, "device", TRUE, &nb->device, origin, error))
        return FALSE;
      nb->state = (int) get_int (o, "state");
      nb->flags = (int) get_int (o, "flags");
    }
  return TRUE;
}

VcNetwork *
vc_network_read (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, VC_NETWORK_FILE, NULL);
  g_autofree char *text = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!g_file_get_contents (path, &text, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return NULL;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s", local->message);
      return NULL;
    }
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: not a JSON object%s%s", path,
                   local ? ": " : "", local ? local->message : "");
      return NULL;
    }
  g_autoptr(VcNetwork) n = network_new (NULL);
  if (!parse (n, json_node_get_object (json_parser_get_root (parser)), path, error))
    return NULL;
  return g_steal_pointer (&n);
}
