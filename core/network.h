/* libvcrun internal: a sandbox's network — which interfaces of its network
 * namespace it bridges to the VM, through which taps, with what addresses,
 * routes and neighbours — and <state_dir>/<id>/network.json, which keeps it:
 *
 *   { "netns": "/run/netns/x", "netns_dev": N, "netns_ino": N, "vnet_hdr": true,
 *     "interfaces": [ { "name": "eth0", "mac": "...", "mtu": 1500, "tap": "vctap0",
 *                       "host_tap": "vct1a2b3c4d0", "addresses": [ "192.0.2.2/24" ] } ],
 *     "routes": [ { "destination": "", "gateway": "192.0.2.1", "source": null,
 *                   "device": "eth0", "scope": 0, "ipv6": false } ],
 *     "neighbors": [ { "address": "...", "mac": "...", "device": "eth0",
 *                      "state": 128, "flags": 0 } ] }
 *
 * It is written before anything changes in the namespace, so that a delete
 * after a crash knows what to remove. "host_tap" is there only for a
 * hypervisor that opens taps by name (VC_HV_CAP_NET_TAP_NAME): the tap is
 * made under that name in the host's namespace and moved into the sandbox's,
 * renamed "tap", after the VM started; a delete looks for it in both.
 * "moved": true is written just before the first move: until then nothing
 * of vcrun's is in the sandbox's namespace, and a delete leaves it alone
 * (an ingress qdisc on a veth is the caller's). */
#pragma once

#include <glib.h>

#include "netlink-host.h"

G_BEGIN_DECLS

#define VC_NETWORK_FILE "network.json"
#define VC_NETWORK_TAP_PREFIX "vctap"

typedef struct {
  char      *name;        /* the veth's name, and the NIC's in the guest */
  char      *mac;
  guint      mtu;
  char      *tap;         /* its name in the sandbox's namespace */
  char      *host_tap;    /* its name in the host's before the move, or NULL */
  GPtrArray *addresses;   /* char* CIDR */
} VcNetIface;

typedef struct {
  char      *netns;
  guint64    netns_dev, netns_ino;
  gboolean   vnet_hdr;
  gboolean   moved;       /* host_tap: the taps are (being) moved into netns */
  GPtrArray *ifaces;      /* VcNetIface* */
  GPtrArray *routes;      /* VcNlRoute* (ifindex unused) */
  GPtrArray *neighbors;   /* VcNlNeighbor* (ifindex unused) */
} VcNetwork;

void       vc_network_free (VcNetwork *network);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcNetwork, vc_network_free)

/* The plan for a namespace as it is now: each interface but lo becomes a NIC;
 * one vcrun cannot bridge (not a veth) is VC_ERROR_NOT_SUPPORTED naming it. */
VcNetwork *vc_network_plan (const char *netns, guint64 dev, guint64 ino, gboolean vnet_hdr,
                            const VcNlSnapshot *snapshot, GError **error);

gboolean   vc_network_write (const VcNetwork *network, const char *dir, GError **error);
/* dir's network.json; NULL without error when there is none. */
VcNetwork *vc_network_read  (const char *dir, GError **error);

G_END_DECLS
