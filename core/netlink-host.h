/* libvcrun internal: what vcrun reads and changes in a network namespace,
 * through libnl-route (never by running ip or tc). Every call works in the
 * namespace of the calling thread at vc_nl_open (see netns.h). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct VcNl VcNl;

typedef struct {
  int        ifindex;
  char      *name;
  char      *kind;        /* rtnetlink's IFLA_INFO_KIND: "veth", "tun", "dummy"...; NULL for lo */
  char      *mac;         /* "aa:bb:cc:dd:ee:ff", NULL without one */
  guint      mtu;
  gboolean   loopback;
  GPtrArray *addresses;   /* char*: "192.0.2.2/24" (link-scope addresses left out) */
} VcNlLink;

typedef struct {
  char     *destination;  /* CIDR, "" for the default route */
  char     *gateway;      /* NULL when directly reachable */
  char     *source;       /* preferred source, or NULL */
  int       ifindex;
  char     *device;       /* the name of ifindex */
  guint     scope;
  gboolean  ipv6;
} VcNlRoute;

typedef struct {
  char     *address;
  char     *mac;
  int       ifindex;
  char     *device;       /* the name of ifindex */
  int       state;
  int       flags;
} VcNlNeighbor;

typedef struct {
  GPtrArray *links;       /* VcNlLink* */
  GPtrArray *routes;      /* VcNlRoute*: main table, not the kernel's own subnet routes */
  GPtrArray *neighbors;   /* VcNlNeighbor*: permanent IPv4/IPv6 entries */
} VcNlSnapshot;

void          vc_nl_link_free     (VcNlLink *link);
void          vc_nl_route_free    (VcNlRoute *route);
void          vc_nl_neighbor_free (VcNlNeighbor *neighbor);
void          vc_nl_snapshot_free (VcNlSnapshot *snapshot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcNlSnapshot, vc_nl_snapshot_free)

VcNl         *vc_nl_open          (GError **error);
void          vc_nl_close         (VcNl *nl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcNl, vc_nl_close)

VcNlSnapshot *vc_nl_snapshot      (VcNl *nl, GError **error);
/* The interface's index, 0 when there is none of that name. */
int           vc_nl_ifindex       (VcNl *nl, const char *name);
/* Creates tap `name` (IFF_TAP | IFF_NO_PI, and IFF_VNET_HDR if vnet_hdr) by
 * opening /dev/net/tun, sets its MTU and brings it up. Returns the fd: the
 * tap lives as long as an fd of it is open. */
int           vc_nl_tap_create    (VcNl *nl, const char *name, guint mtu, gboolean vnet_hdr,
                                   int *ifindex, GError **error);
/* For a VMM that opens taps by name (VC_HV_CAP_NET_TAP_NAME): creates tap
 * `name` (IFF_TAP | IFF_NO_PI, IFF_VNET_HDR if vnet_hdr, single queue) made
 * persistent, so that it outlives our fd, with that MTU, link down and no
 * address. Fails (EBUSY) when an interface of that name exists: never
 * someone else's tap. */
gboolean      vc_nl_tap_create_persistent (VcNl *nl, const char *name, guint mtu,
                                           gboolean vnet_hdr, GError **error);
/* Moves interface `name` into the network namespace ns_fd, renamed new_name
 * there (one RTM_NEWLINK with IFLA_NET_NS_FD and IFLA_IFNAME). */
gboolean      vc_nl_link_move     (VcNl *nl, const char *name, int ns_fd, const char *new_name,
                                   GError **error);
/* Brings interface `name` up; ifindex (may be NULL) gets its index. */
gboolean      vc_nl_link_up       (VcNl *nl, const char *name, int *ifindex, GError **error);
/* An ingress qdisc on from_ifindex with a match-all u32 filter whose mirred
 * action redirects every packet to to_ifindex's egress. Fails (EEXIST) when
 * from has an ingress qdisc already. */
gboolean      vc_nl_redirect      (VcNl *nl, int from_ifindex, int to_ifindex, GError **error);
/* Removes the ingress qdisc of `name` and with it its filters. An absent
 * interface or qdisc is success. */
gboolean      vc_nl_clear_ingress (VcNl *nl, const char *name, GError **error);
/* Deletes interface `name`; absent is success. */
gboolean      vc_nl_link_delete   (VcNl *nl, const char *name, GError **error);

G_END_DECLS
