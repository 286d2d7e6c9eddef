/* agent-kata: Kata's network requests from <vcrun/agent.h>'s VcNet* structs. */
#include "config.h"

#include "network-request.h"

#include <arpa/inet.h>
#include <string.h>

static char *
str (VcArena *arena, const char *s)
{
  return vc_arena_strdup (arena, s ? s : "");
}

static gboolean
bad (GError **error, const char *what, const char *value)
{
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "agent-kata: %s '%s' is not valid",
               what, value ? value : "(null)");
  return FALSE;
}

/* "192.0.2.2" or "2001:db8::2", with "/len" when with_prefix. */
static Types__IPAddress *
ip_address (VcArena *arena, const char *text, gboolean with_prefix, GError **error)
{
  if (text == NULL)
    return bad (error, "address", text), NULL;
  g_autofree char *addr = g_strdup (text);
  char *slash = strchr (addr, '/');
  const char *mask = "";
  if (slash)
    {
      *slash = '\0';
      mask = slash + 1;
    }
  guint8 buf[16];
  gboolean v6 = strchr (addr, ':') != NULL;
  if (inet_pton (v6 ? AF_INET6 : AF_INET, addr, buf) != 1 || (with_prefix != (slash != NULL)))
    return bad (error, "address", text), NULL;
  if (slash)
    {
      guint64 len = 0;
      if (!g_ascii_string_to_unsigned (mask, 10, 0, v6 ? 128 : 32, &len, NULL))
        return bad (error, "address", text), NULL;
    }
  Types__IPAddress *ip = vc_arena_message (arena, &types__ipaddress__descriptor);
  ip->family = v6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
  ip->address = str (arena, addr);
  ip->mask = str (arena, mask);
  return ip;
}

Grpc__UpdateInterfaceRequest *
vc_kata_update_interface_request (VcArena *arena, const VcNetInterface *iface, GError **error)
{
  if (iface == NULL || iface->struct_size < sizeof (VcNetInterface) || iface->name == NULL
      || *iface->name == '\0' || iface->mac == NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "agent-kata: an interface needs a name and a MAC");
      return NULL;
    }
  Types__Interface *i = vc_arena_message (arena, &types__interface__descriptor);
  i->device = str (arena, iface->name);
  i->name = str (arena, iface->name);
  i->hwaddr = str (arena, iface->mac);
  i->mtu = iface->mtu;
  size_t n = 0;
  while (iface->addresses && iface->addresses[n])
    n++;
  i->n_ipaddresses = n;
  i->ipaddresses = vc_arena_alloc (arena, (n + 1) * sizeof (Types__IPAddress *));
  for (size_t k = 0; k < n; k++)
    if ((i->ipaddresses[k] = ip_address (arena, iface->addresses[k], TRUE, error)) == NULL)
      return NULL;
  Grpc__UpdateInterfaceRequest *req = vc_arena_message (arena, &grpc__update_interface_request__descriptor);
  req->interface = i;
  return req;
}

Grpc__UpdateRoutesRequest *
vc_kata_update_routes_request (VcArena *arena, const VcNetRoute *const *routes, GError **error)
{
  size_t n = 0;
  while (routes && routes[n])
    n++;
  Grpc__Routes *list = vc_arena_message (arena, &grpc__routes__descriptor);
  list->n_routes = n;
  list->routes = vc_arena_alloc (arena, (n + 1) * sizeof (Types__Route *));
  for (size_t k = 0; k < n; k++)
    {
      const VcNetRoute *r = routes[k];
      if (r->struct_size < sizeof (VcNetRoute) || r->device == NULL || *r->device == '\0')
        {
          g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                               "agent-kata: a route needs a device");
          return NULL;
        }
      if ((r->destination && *r->destination && !ip_address (arena, r->destination, TRUE, error))
          || (r->gateway && !ip_address (arena, r->gateway, FALSE, error))
          || (r->source && !ip_address (arena, r->source, FALSE, error)))
        return NULL;
      Types__Route *route = vc_arena_message (arena, &types__route__descriptor);
      route->dest = str (arena, r->destination);
      route->gateway = str (arena, r->gateway);
      route->device = str (arena, r->device);
      route->source = str (arena, r->source);
      route->scope = r->scope;
      route->family = r->ipv6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
      list->routes[k] = route;
    }
  Grpc__UpdateRoutesRequest *req = vc_arena_message (arena, &grpc__update_routes_request__descriptor);
  req->routes = list;
  return req;
}

Grpc__AddARPNeighborsRequest *
vc_kata_add_arp_neighbors_request (VcArena *arena, const VcNetNeighbor *const *neighbors,
                                   GError **error)
{
  size_t n = 0;
  while (neighbors && neighbors[n])
    n++;
  Grpc__ARPNeighbors *list = vc_arena_message (arena, &grpc__arpneighbors__descriptor);
  list->n_arpneighbors = n;
  list->arpneighbors = vc_arena_alloc (arena, (n + 1) * sizeof (Types__ARPNeighbor *));
  for (size_t k = 0; k < n; k++)
    {
      const VcNetNeighbor *nb = neighbors[k];
      if (nb->struct_size < sizeof (VcNetNeighbor) || nb->device == NULL || nb->mac == NULL)
        {
          g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                               "agent-kata: a neighbour needs a device and a MAC");
          return NULL;
        }
      Types__ARPNeighbor *e = vc_arena_message (arena, &types__arpneighbor__descriptor);
      if ((e->toipaddress = ip_address (arena, nb->address, FALSE, error)) == NULL)
        return NULL;
      e->device = str (arena, nb->device);
      e->lladdr = str (arena, nb->mac);
      e->state = nb->state;
      e->flags = nb->flags;
      list->arpneighbors[k] = e;
    }
  Grpc__AddARPNeighborsRequest *req = vc_arena_message (arena, &grpc__add_arpneighbors_request__descriptor);
  req->neighbors = list;
  return req;
}
