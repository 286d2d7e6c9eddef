/* The guest's network, as Kata's agent sets it up: UpdateInterface finds
 * the NIC by its MAC (the host gave it the veth's), names it, sets its MTU
 * and addresses and brings it up; UpdateRoutes and AddARPNeighbors add what
 * the host's namespace had. Netlink through libnl-route, linked statically. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

/* virtio_net may still be probing when the first request comes. */
#define NIC_WAIT_MS 10000

static bool
nl_fail (AgentError *err, int code, int nlerr, const char *what, const char *name)
{
  return agent_error (err, code, "%s %s: %s", what, name ? name : "", nl_geterror (nlerr));
}

static struct nl_sock *
nl_open (AgentError *err)
{
  struct nl_sock *sk = nl_socket_alloc ();
  if (sk == NULL)
    {
      agent_error (err, VC_TTRPC_CODE_INTERNAL, "cannot allocate a netlink socket");
      return NULL;
    }
  int e = nl_connect (sk, NETLINK_ROUTE);
  if (e < 0)
    {
      nl_socket_free (sk);
      nl_fail (err, VC_TTRPC_CODE_INTERNAL, e, "netlink", "connect");
      return NULL;
    }
  return sk;
}

void
network_loopback_up (void)
{
  AgentError err = { 0 };
  struct nl_sock *sk = nl_open (&err);
  if (sk == NULL)
    {
      agent_log ("lo: %s", err.message);
      return;
    }
  struct rtnl_link *lo = NULL;
  int e = rtnl_link_get_kernel (sk, 0, "lo", &lo);
  if (e >= 0)
    {
      struct rtnl_link *change = rtnl_link_alloc ();
      rtnl_link_set_flags (change, IFF_UP);
      e = rtnl_link_change (sk, lo, change, 0);
      rtnl_link_put (change);
      rtnl_link_put (lo);
    }
  if (e < 0)
    agent_log ("cannot bring lo up: %s", nl_geterror (e));
  nl_socket_free (sk);
}

/* The link whose MAC is mac (a new reference), waiting for it a while. */
static struct rtnl_link *
link_by_mac (struct nl_sock *sk, const char *mac, AgentError *err)
{
  int64_t deadline = monotonic_ms () + NIC_WAIT_MS;
  for (;;)
    {
      struct nl_cache *cache = NULL;
      int e = rtnl_link_alloc_cache (sk, AF_UNSPEC, &cache);
      if (e < 0)
        {
          nl_fail (err, VC_TTRPC_CODE_INTERNAL, e, "cannot list links", NULL);
          return NULL;
        }
      for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
        {
          char buf[64];
          struct nl_addr *addr = rtnl_link_get_addr ((struct rtnl_link *) o);
          if (addr && nl_addr_get_len (addr) == 6
              && strcasecmp (nl_addr2str (addr, buf, sizeof buf), mac) == 0)
            {
              nl_object_get (o);
              nl_cache_free (cache);
              return (struct rtnl_link *) o;
            }
        }
      nl_cache_free (cache);
      if (monotonic_ms () >= deadline)
        {
          agent_error (err, VC_TTRPC_CODE_NOT_FOUND, "no network interface has MAC %s", mac);
          return NULL;
        }
      usleep (100 * 1000);
    }
}

static bool
valid_name (const char *name)
{
  size_t len = name ? strlen (name) : 0;
  if (len == 0 || len >= IFNAMSIZ || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return false;
  for (const char *p = name; *p; p++)
    if (*p == '/' || *p == ':' || *p <= ' ')
      return false;
  return true;
}

static struct nl_addr *
parse_address (const Types__IPAddress *ip, bool with_mask, AgentError *err)
{
  if (ip == NULL || ip->address == NULL)
    {
      agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "an address is missing");
      return NULL;
    }
  char text[128];
  int family = ip->family == TYPES__IPFAMILY__v6 ? AF_INET6 : AF_INET;
  if (with_mask && ip->mask && *ip->mask)
    snprintf (text, sizeof text, "%s/%s", ip->address, ip->mask);
  else
    snprintf (text, sizeof text, "%s", ip->address);
  struct nl_addr *addr = NULL;
  int e = nl_addr_parse (text, family, &addr);
  if (e < 0)
    {
      nl_fail (err, VC_TTRPC_CODE_INVALID_ARGUMENT, e, "bad address", text);
      return NULL;
    }
  return addr;
}

bool
network_update_interface (const Types__Interface *iface, AgentError *err)
{
  if (iface == NULL || !valid_name (iface->name) || iface->hwaddr == NULL || !*iface->hwaddr)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT,
                        "UpdateInterface needs a valid name and a MAC");
  if (iface->mtu != 0 && (iface->mtu < 68 || iface->mtu > 65535))
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "MTU %llu is out of range",
                        (unsigned long long) iface->mtu);
  modules_require ("virtio_net");
  struct nl_sock *sk = nl_open (err);
  if (sk == NULL)
    return false;
  bool ok = false;
  struct rtnl_link *link = link_by_mac (sk, iface->hwaddr, err);
  if (link == NULL)
    goto out;
  int ifindex = rtnl_link_get_ifindex (link);

  /* A rename needs the link down: name and MTU first, then up. */
  struct rtnl_link *change = rtnl_link_alloc ();
  if (strcmp (rtnl_link_get_name (link), iface->name) != 0)
    rtnl_link_set_name (change, iface->name);
  if (iface->mtu != 0)
    rtnl_link_set_mtu (change, (unsigned) iface->mtu);
  int e = rtnl_link_change (sk, link, change, 0);
  rtnl_link_put (change);
  if (e < 0)
    {
      nl_fail (err, VC_TTRPC_CODE_INTERNAL, e, "cannot name and size", iface->name);
      goto out;
    }
  for (size_t i = 0; i < iface->n_ipaddresses; i++)
    {
      struct nl_addr *local = parse_address (iface->ipaddresses[i], true, err);
      if (local == NULL)
        goto out;
      struct rtnl_addr *addr = rtnl_addr_alloc ();
      rtnl_addr_set_ifindex (addr, ifindex);
      rtnl_addr_set_local (addr, local);
      e = rtnl_addr_add (sk, addr, 0);
      rtnl_addr_put (addr);
      nl_addr_put (local);
      if (e < 0 && e != -NLE_EXIST)
        {
          nl_fail (err, VC_TTRPC_CODE_INTERNAL, e, "cannot add an address to", iface->name);
          goto out;
        }
    }
  struct rtnl_link *current = NULL;
  e = rtnl_link_get_kernel (sk, ifindex, NULL, &current);
  if (e >= 0)
    {
      change = rtnl_link_alloc ();
      rtnl_link_set_flags (change, IFF_UP);
      e = rtnl_link_change (sk, current, change, 0);
      rtnl_link_put (change);
      rtnl_link_put (current);
    }
  if (e < 0)
    {
      nl_fail (err, VC_TTRPC_CODE_INTERNAL, e, "cannot bring up", iface->name);
      goto out;
    }
  agent_log ("interface %s (%s) configured", iface->name, iface->hwaddr);
  ok = true;
out:
  if (link)
    rtnl_link_put (link);
  nl_socket_free (sk);
  return ok;
}

static int
ifindex_of (struct nl_sock *sk, const char *name, AgentError *err)
{
  struct rtnl_link *link = NULL;
  if (!valid_name (name) || rtnl_link_get_kernel (sk, 0, name, &link) < 0)
    {
      agent_error (err, VC_TTRPC_CODE_NOT_FOUND, "no interface named '%s'", name ? name : "");
      return 0;
    }
  int ifindex = rtnl_link_get_ifindex (link);
  rtnl_link_put (link);
  return ifindex;
}

static bool
add_route (struct nl_sock *sk, const Types__Route *r, AgentError *err)
{
  int family = r->family == TYPES__IPFAMILY__v6 ? AF_INET6 : AF_INET;
  int ifindex = ifindex_of (sk, r->device, err);
  if (ifindex == 0)
    return false;
  const char *dest_text = r->dest && *r->dest ? r->dest : family == AF_INET6 ? "::/0" : "0.0.0.0/0";
  struct nl_addr *dest = NULL, *gateway = NULL, *source = NULL;
  int e = nl_addr_parse (dest_text, family, &dest);
  if (e >= 0 && r->gateway && *r->gateway)
    e = nl_addr_parse (r->gateway, family, &gateway);
  if (e >= 0 && r->source && *r->source)
    e = nl_addr_parse (r->source, family, &source);
  if (e < 0)
    {
      if (dest)
        nl_addr_put (dest);
      if (gateway)
        nl_addr_put (gateway);
      return nl_fail (err, VC_TTRPC_CODE_INVALID_ARGUMENT, e, "bad route to", dest_text);
    }
  struct rtnl_route *route = rtnl_route_alloc ();
  rtnl_route_set_family (route, (uint8_t) family);
  rtnl_route_set_table (route, RT_TABLE_MAIN);
  rtnl_route_set_protocol (route, RTPROT_BOOT);
  rtnl_route_set_type (route, RTN_UNICAST);
  rtnl_route_set_scope (route, (uint8_t) (r->scope <= 255 ? r->scope : RT_SCOPE_UNIVERSE));
  rtnl_route_set_dst (route, dest);
  if (source)
    rtnl_route_set_pref_src (route, source);
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc ();
  rtnl_route_nh_set_ifindex (nh, ifindex);
  if (gateway)
    rtnl_route_nh_set_gateway (nh, gateway);
  rtnl_route_add_nexthop (route, nh);
  e = rtnl_route_add (sk, route, NLM_F_CREATE | NLM_F_REPLACE);
  rtnl_route_put (route);
  nl_addr_put (dest);
  if (gateway)
    nl_addr_put (gateway);
  if (source)
    nl_addr_put (source);
  if (e < 0)
    return nl_fail (err, VC_TTRPC_CODE_INTERNAL, e, "cannot add the route to", dest_text);
  return true;
}

bool
network_update_routes (const Grpc__Routes *routes, AgentError *err)
{
  if (routes == NULL)
    return true;
  modules_require ("virtio_net");
  struct nl_sock *sk = nl_open (err);
  if (sk == NULL)
    return false;
  bool ok = true;
  for (size_t i = 0; ok && i < routes->n_routes; i++)
    ok = add_route (sk, routes->routes[i], err);
  nl_socket_free (sk);
  return ok;
}

bool
network_add_neighbors (const Grpc__ARPNeighbors *neighbors, AgentError *err)
{
  if (neighbors == NULL)
    return true;
  struct nl_sock *sk = nl_open (err);
  if (sk == NULL)
    return false;
  bool ok = true;
  for (size_t i = 0; ok && i < neighbors->n_arpneighbors; i++)
    {
      const Types__ARPNeighbor *n = neighbors->arpneighbors[i];
      int ifindex = ifindex_of (sk, n->device, err);
      struct nl_addr *dst = ifindex ? parse_address (n->toipaddress, false, err) : NULL;
      struct nl_addr *lladdr = NULL;
      if (dst == NULL)
        {
          ok = false;
          break;
        }
      int e = nl_addr_parse (n->lladdr ? n->lladdr : "", AF_LLC, &lladdr);
      if (e >= 0)
        {
          struct rtnl_neigh *neigh = rtnl_neigh_alloc ();
          rtnl_neigh_set_ifindex (neigh, ifindex);
          rtnl_neigh_set_dst (neigh, dst);
          rtnl_neigh_set_lladdr (neigh, lladdr);
          rtnl_neigh_set_state (neigh, n->state ? n->state : NUD_PERMANENT);
          rtnl_neigh_set_flags (neigh, (unsigned) n->flags);
          e = rtnl_neigh_add (sk, neigh, NLM_F_CREATE | NLM_F_REPLACE);
          rtnl_neigh_put (neigh);
          nl_addr_put (lladdr);
        }
      nl_addr_put (dst);
      if (e < 0)
        ok = nl_fail (err, VC_TTRPC_CODE_INTERNAL, e, "cannot add the neighbour on", n->device);
    }
  nl_socket_free (sk);
  return ok;
}
