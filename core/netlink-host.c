/* libvcrun: netlink in a sandbox's network namespace, through libnl-route:
 * reading links, addresses, routes and neighbours, making the tap, and the
 * tc ingress qdisc + u32/mirred filters that join it to a veth. */
#include "config.h"

#include "netlink-host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>

#include <vcrun/types.h>

struct VcNl {
  struct nl_sock *sock;
};

static gboolean
nl_failed (GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
nl_failed (GError **error, int err, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: %s", what, nl_geterror (err));
  return FALSE;
}

void
vc_nl_link_free (VcNlLink *link)
{
  if (link == NULL)
    return;
  g_free (link->name);
  g_free (link->kind);
  g_free (link->mac);
  g_ptr_array_unref (link->addresses);
  g_free (link);
}

void
vc_nl_route_free (VcNlRoute *route)
{
  if (route == NULL)
    return;
  g_free (route->destination);
  g_free (route->gateway);
  g_free (route->source);
  g_free (route->device);
  g_free (route);
}

void
vc_nl_neighbor_free (VcNlNeighbor *neighbor)
{
  if (neighbor == NULL)
    return;
  g_free (neighbor->address);
  g_free (neighbor->mac);
  g_free (neighbor->device);
  g_free (neighbor);
}

void
vc_nl_snapshot_free (VcNlSnapshot *snapshot)
{
  if (snapshot == NULL)
    return;
  g_ptr_array_unref (snapshot->links);
  g_ptr_array_unref (snapshot->routes);
  g_ptr_array_unref (snapshot->neighbors);
  g_free (snapshot);
}

VcNl *
vc_nl_open (GError **error)
{
  struct nl_sock *sock = nl_socket_alloc ();
  if (sock == NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_FAILED, "cannot allocate a netlink socket");
      return NULL;
    }
  int err = nl_connect (sock, NETLINK_ROUTE);
  if (err < 0)
    {
      nl_socket_free (sock);
      nl_failed (error, err, "cannot open a route netlink socket");
      return NULL;
    }
  VcNl *nl = g_new0 (VcNl, 1);
  nl->sock = sock;
  return nl;
}

void
vc_nl_close (VcNl *nl)
{
  if (nl == NULL)
    return;
  nl_socket_free (nl->sock);
  g_free (nl);
}

/* "192.0.2.2" or, with the prefix, "192.0.2.2/24"; "" for a zero-length
 * (default) address; NULL for what is not IPv4 or IPv6. */
static char *
addr_text (struct nl_addr *addr, gboolean with_prefix)
{
  char buf[INET6_ADDRSTRLEN];
  if (addr == NULL)
    return NULL;
  int family = nl_addr_get_family (addr);
  if (family != AF_INET && family != AF_INET6)
    return NULL;
  if (nl_addr_get_len (addr) == 0)
    return g_strdup ("");
  if (inet_ntop (family, nl_addr_get_binary_addr (addr), buf, sizeof buf) == NULL)
    return NULL;
  return with_prefix ? g_strdup_printf ("%s/%u", buf, nl_addr_get_prefixlen (addr)) : g_strdup (buf);
}

static char *
mac_text (struct nl_addr *addr)
{
  char buf[64];
  if (addr == NULL || nl_addr_get_len (addr) != 6)
    return NULL;
  return g_strdup (nl_addr2str (addr, buf, sizeof buf));
}

static VcNlLink *
find_link (GPtrArray *links, int ifindex)
{
  for (guint i = 0; i < links->len; i++)
    if (((VcNlLink *) links->pdata[i])->ifindex == ifindex)
      return links->pdata[i];
  return NULL;
}

static gboolean
read_links (VcNl *nl, VcNlSnapshot *snap, GError **error)
{
  struct nl_cache *cache = NULL;
  int err = rtnl_link_alloc_cache (nl->sock, AF_UNSPEC, &cache);
  if (err < 0)
    return nl_failed (error, err, "cannot list network interfaces");
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_link *l = (struct rtnl_link *) o;
      VcNlLink *link = g_new0 (VcNlLink, 1);
      link->ifindex = rtnl_link_get_ifindex (l);
      link->name = g_strdup (rtnl_link_get_name (l));
      link->kind = g_strdup (rtnl_link_get_type (l));
      link->mac = mac_text (rtnl_link_get_addr (l));
      link->mtu = rtnl_link_get_mtu (l);
      link->loopback = (rtnl_link_get_flags (l) & IFF_LOOPBACK) != 0;
      link->addresses = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (snap->links, link);
    }
  nl_cache_free (cache);

  err = rtnl_addr_alloc_cache (nl->sock, &cache);
  if (err < 0)
    return nl_failed (error, err, "cannot list addresses");
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_addr *a = (struct rtnl_addr *) o;
      VcNlLink *link = find_link (snap->links, rtnl_addr_get_ifindex (a));
      if (link == NULL || rtnl_addr_get_scope (a) == RT_SCOPE_LINK
          || rtnl_addr_get_scope (a) == RT_SCOPE_HOST)
        continue;
      char *text = addr_text (rtnl_addr_get_local (a), TRUE);
      if (text && *text)
        g_ptr_array_add (link->addresses, text);
      else
        g_free (text);
    }
  nl_cache_free (cache);
  return TRUE;
}

static gboolean
read_routes (VcNl *nl, VcNlSnapshot *snap, GError **error)
{
  struct nl_cache *cache = NULL;
  int err = rtnl_route_alloc_cache (nl->sock, AF_UNSPEC, 0, &cache);
  if (err < 0)
    return nl_failed (error, err, "cannot list routes");
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_route *r = (struct rtnl_route *) o;
      int family = rtnl_route_get_family (r);
      if ((family != AF_INET && family != AF_INET6) || rtnl_route_get_table (r) != RT_TABLE_MAIN
          || rtnl_route_get_type (r) != RTN_UNICAST || rtnl_route_get_protocol (r) == RTPROT_KERNEL
          || rtnl_route_get_nnexthops (r) != 1)
        continue;
      struct rtnl_nexthop *nh = rtnl_route_nexthop_n (r, 0);
      char *dest = addr_text (rtnl_route_get_dst (r), TRUE);
      if (dest == NULL)
        continue;
      VcNlRoute *route = g_new0 (VcNlRoute, 1);
      route->destination = dest;
      if (g_str_has_suffix (dest, "/0"))
        route->destination[0] = '\0';
      route->gateway = addr_text (rtnl_route_nh_get_gateway (nh), FALSE);
      route->source = addr_text (rtnl_route_get_pref_src (r), FALSE);
      route->ifindex = rtnl_route_nh_get_ifindex (nh);
      VcNlLink *link = find_link (snap->links, route->ifindex);
      route->device = g_strdup (link ? link->name : NULL);
      route->scope = rtnl_route_get_scope (r);
      route->ipv6 = family == AF_INET6;
      g_ptr_array_add (snap->routes, route);
    }
  nl_cache_free (cache);
  return TRUE;
}

static gboolean
read_neighbors (VcNl *nl, VcNlSnapshot *snap, GError **error)
{
  struct nl_cache *cache = NULL;
  int err = rtnl_neigh_alloc_cache (nl->sock, &cache);
  if (err < 0)
    return nl_failed (error, err, "cannot list neighbours");
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_neigh *n = (struct rtnl_neigh *) o;
      int family = rtnl_neigh_get_family (n);
      if ((family != AF_INET && family != AF_INET6)
          || (rtnl_neigh_get_state (n) & NUD_PERMANENT) == 0)
        continue;
      char *address = addr_text (rtnl_neigh_get_dst (n), FALSE);
      char *mac = mac_text (rtnl_neigh_get_lladdr (n));
      if (address == NULL || mac == NULL)
        {
          g_free (address);
          g_free (mac);
          continue;
        }
      VcNlNeighbor *neighbor = g_new0 (VcNlNeighbor, 1);
      neighbor->address = address;
      neighbor->mac = mac;
      neighbor->ifindex = rtnl_neigh_get_ifindex (n);
      VcNlLink *link = find_link (snap->links, neighbor->ifindex);
      neighbor->device = g_strdup (link ? link->name : NULL);
      neighbor->state = rtnl_neigh_get_state (n);
      neighbor->flags = (int) rtnl_neigh_get_flags (n);
      g_ptr_array_add (snap->neighbors, neighbor);
    }
  nl_cache_free (cache);
  return TRUE;
}

VcNlSnapshot *
vc_nl_snapshot (VcNl *nl, GError **error)
{
  g_autoptr(VcNlSnapshot) snap = g_new0 (VcNlSnapshot, 1);
  snap->links = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_link_free);
  snap->routes = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_route_free);
  snap->neighbors = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_neighbor_free);
  if (!read_links (nl, snap, error) || !read_routes (nl, snap, error)
      || !read_neighbors (nl, snap, error))
    return NULL;
  return g_steal_pointer (&snap);
}

int
vc_nl_ifindex (VcNl *nl, const char *name)
{
  struct rtnl_link *link = NULL;
  if (rtnl_link_get_kernel (nl->sock, 0, name, &link) < 0)
    return 0;
  int ifindex = rtnl_link_get_ifindex (link);
  rtnl_link_put (link);
  return ifindex;
}

/* /dev/net/tun opened and attached to the tap `name` (created if need be)
 * with flags; -1 with error. where ("" or " in the host's namespace") goes
 * into the message. */
static int
tap_attach (const char *name, short flags, const char *where, GError **error)
{
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot open /dev/net/tun: %s",
                   g_strerror (saved));
      return -1;
    }
  struct ifreq ifr = { 0 };
  ifr.ifr_flags = flags;
  g_strlcpy (ifr.ifr_name, name, sizeof ifr.ifr_name);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0)
    {
      int saved = errno;
      gboolean exists = saved == EBUSY && (flags & IFF_TUN_EXCL);
      g_set_error (error, VC_ERROR, exists ? VC_ERROR_EXISTS : VC_ERROR_FAILED,
                   "cannot create tap %s%s: %s", name, where,
                   exists ? "an interface of that name exists" : g_strerror (saved));
      close (fd);
      return -1;
    }
  return fd;
}

int
vc_nl_tap_create (VcNl *nl, const char *name, guint mtu, gboolean vnet_hdr, int *ifindex,
                  GError **error)
{
  int fd = tap_attach (name, IFF_TAP | IFF_NO_PI | (vnet_hdr ? IFF_VNET_HDR : 0), "", error);
  if (fd < 0)
    return -1;

  struct rtnl_link *link = NULL;
  int err = rtnl_link_get_kernel (nl->sock, 0, name, &link);
  if (err < 0)
    {
      nl_failed (error, err, "tap %s", name);
      close (fd);
      return -1;
    }
  struct rtnl_link *change = rtnl_link_alloc ();
  if (mtu > 0)
    rtnl_link_set_mtu (change, mtu);
  rtnl_link_set_flags (change, IFF_UP);
  err = rtnl_link_change (nl->sock, link, change, 0);
  *ifindex = rtnl_link_get_ifindex (link);
  rtnl_link_put (change);
  rtnl_link_put (link);
  if (err < 0)
    {
      nl_failed (error, err, "cannot set MTU %u and bring up tap %s", mtu, name);
      close (fd);
      return -1;
    }
  return fd;
}

gboolean
vc_nl_tap_create_persistent (VcNl *nl, const char *name, guint mtu, gboolean vnet_hdr,
                             GError **error)
{
  /* IFF_TUN_EXCL: an existing device of that name is an error, not attached to. */
  int fd = tap_attach (name, IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL | (vnet_hdr ? IFF_VNET_HDR : 0),
                       " in the host's namespace", error);
  if (fd < 0)
    return FALSE;
  if (ioctl (fd, TUNSETPERSIST, 1) < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot make tap %s persistent: %s", name,
                   g_strerror (saved));
      close (fd);   /* not persistent: it goes with the fd */
      return FALSE;
    }
  close (fd);

  struct rtnl_link *link = NULL;
  int err = rtnl_link_get_kernel (nl->sock, 0, name, &link);
  if (err >= 0 && mtu > 0)
    {
      struct rtnl_link *change = rtnl_link_alloc ();
      rtnl_link_set_mtu (change, mtu);
      err = rtnl_link_change (nl->sock, link, change, 0);
      rtnl_link_put (change);
    }
  if (link)
    rtnl_link_put (link);
  if (err < 0)
    {
      nl_failed (error, err, "cannot set MTU %u on tap %s", mtu, name);
      g_autoptr(GError) ignored = NULL;
      if (!vc_nl_link_delete (nl, name, &ignored))
        g_warning ("%s", ignored->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_nl_link_move (VcNl *nl, const char *name, int ns_fd, const char *new_name, GError **error)
{
  struct rtnl_link *link = NULL;
  int err = rtnl_link_get_kernel (nl->sock, 0, name, &link);
  if (err < 0)
    return nl_failed (error, err, "interface %s", name);
  struct rtnl_link *change = rtnl_link_alloc ();
  rtnl_link_set_ns_fd (change, ns_fd);
  rtnl_link_set_name (change, new_name);
  err = rtnl_link_change (nl->sock, link, change, 0);
  rtnl_link_put (change);
  rtnl_link_put (link);
  if (err < 0)
    return nl_failed (error, err, "cannot move interface %s into the sandbox's namespace as %s",
                      name, new_name);
  return TRUE;
}

gboolean
vc_nl_link_up (VcNl *nl, const char *name, int *ifindex, GError **error)
{
  struct rtnl_link *link = NULL;
  int err = rtnl_link_get_kernel (nl->sock, 0, name, &link);
  if (err < 0)
    return nl_failed (error, err, "interface %s", name);
  struct rtnl_link *change = rtnl_link_alloc ();
  rtnl_link_set_flags (change, IFF_UP);
  err = rtnl_link_change (nl->sock, link, change, 0);
  if (ifindex)
    *ifindex = rtnl_link_get_ifindex (link);
  rtnl_link_put (change);
  rtnl_link_put (link);
  if (err < 0)
    return nl_failed (error, err, "cannot bring up interface %s", name);
  return TRUE;
}

gboolean
vc_nl_redirect (VcNl *nl, int from_ifindex, int to_ifindex, GError **error)
{
  struct rtnl_qdisc *qdisc = rtnl_qdisc_alloc ();
  rtnl_tc_set_ifindex (TC_CAST (qdisc), from_ifindex);
  rtnl_tc_set_parent (TC_CAST (qdisc), TC_H_INGRESS);
  rtnl_tc_set_handle (TC_CAST (qdisc), TC_HANDLE (0xffff, 0));
  int err = rtnl_tc_set_kind (TC_CAST (qdisc), "ingress");
  if (err >= 0)
    err = rtnl_qdisc_add (nl->sock, qdisc, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_qdisc_put (qdisc);
  if (err < 0)
    return nl_failed (error, err, "cannot add an ingress qdisc to interface %d", from_ifindex);

  struct rtnl_act *act = rtnl_act_alloc ();
  struct rtnl_cls *cls = rtnl_cls_alloc ();
  rtnl_tc_set_kind (TC_CAST (act), "mirred");
  rtnl_mirred_set_action (act, TCA_EGRESS_REDIR);
  rtnl_mirred_set_policy (act, TC_ACT_STOLEN);
  rtnl_mirred_set_ifindex (act, (uint32_t) to_ifindex);
  rtnl_tc_set_ifindex (TC_CAST (cls), from_ifindex);
  rtnl_tc_set_parent (TC_CAST (cls), TC_HANDLE (0xffff, 0));
  /* u32 matching every packet (Kata's filter; not every kernel has matchall). */
  err = rtnl_tc_set_kind (TC_CAST (cls), "u32");
  rtnl_cls_set_protocol (cls, ETH_P_ALL);
  rtnl_cls_set_prio (cls, 1);
  if (err >= 0)
    err = rtnl_u32_add_key_uint32 (cls, 0, 0, 0, 0);
  if (err >= 0)
    err = rtnl_u32_set_cls_terminal (cls);
  if (err >= 0)
    err = rtnl_u32_add_action (cls, act);
  if (err >= 0)
    err = rtnl_cls_add (nl->sock, cls, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_act_put (act);
  rtnl_cls_put (cls);
  if (err < 0)
    return nl_failed (error, err, "cannot add a redirect filter from interface %d to %d",
                      from_ifindex, to_ifindex);
  return TRUE;
}

static gboolean
gone (int err)
{
  return err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV || err == -NLE_INVAL;
}

gboolean
vc_nl_clear_ingress (VcNl *nl, const char *name, GError **error)
{
  int ifindex = vc_nl_ifindex (nl, name);
  if (ifindex == 0)
    return TRUE;
  struct rtnl_qdisc *qdisc = rtnl_qdisc_alloc ();
  rtnl_tc_set_ifindex (TC_CAST (qdisc), ifindex);
  rtnl_tc_set_parent (TC_CAST (qdisc), TC_H_INGRESS);
  rtnl_tc_set_handle (TC_CAST (qdisc), TC_HANDLE (0xffff, 0));
  int err = rtnl_tc_set_kind (TC_CAST (qdisc), "ingress");
  if (err >= 0)
    err = rtnl_qdisc_delete (nl->sock, qdisc);
  rtnl_qdisc_put (qdisc);
  if (err < 0 && !gone (err))
    return nl_failed (error, err, "cannot remove the ingress qdisc of %s", name);
  return TRUE;
}

gboolean
vc_nl_link_delete (VcNl *nl, const char *name, GError **error)
{
  struct rtnl_link *link = NULL;
  int err = rtnl_link_get_kernel (nl->sock, 0, name, &link);
  if (err < 0)
    return gone (err) ? TRUE : nl_failed (error, err, "interface %s", name);
  err = rtnl_link_delete (nl->sock, link);
  rtnl_link_put (link);
  if (err < 0 && !gone (err))
    return nl_failed (error, err, "cannot delete interface %s", name);
  return TRUE;
}
