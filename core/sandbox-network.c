/* libvcrun: a sandbox's network, Kata's tc-filter model. For each veth of
 * the network namespace the caller prepared, a tap beside it in the same
 * namespace and tc redirects both ways (netlink-host.c); the VM gets a NIC on
 * the tap's fd with the veth's MAC (QEMU stays in the host's namespace: the
 * fd is opened by a thread that entered the namespace, netns.c); the agent
 * gives the guest NIC the veth's addresses, routes and neighbours. The
 * namespace is the caller's: delete removes the taps and filters and nothing
 * else. network.json (network.c) is written before anything changes, so a
 * delete after a crash cleans the same.
 *
 * A hypervisor whose API takes no fd but opens taps by name in its own (the
 * host's) namespace, libvirt's <interface type='ethernet'> with
 * managed='no', announces VC_HV_CAP_NET_TAP_NAME instead. Then each tap is
 * made persistent in the host's namespace under a name of this sandbox's
 * own (vct + a hash of its state dir + the index), the VMM opens it at
 * start_vm, and vc_sandbox_network_attach moves it into the sandbox's
 * namespace, renamed vctapN, and adds the redirects there: an open tap fd
 * keeps working across the move. The window: from the tap's creation to the
 * move (the VM's boot up to start_vm's return), the tap sits in the host's
 * namespace, link down, without an address and without any route or filter,
 * so the host's traffic cannot reach it nor the guest's the host; the
 * guest's NIC sees no carrier until the move. network.json names the host
 * name too, so a delete after a crash in that window removes it there. */
#include "config.h"

#include "sandbox-impl.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <vcrun/agent.h>
#include <vcrun/hypervisor.h>

#include "netns.h"
#include "network.h"

struct VcNetworkSetup {
  VcNetwork *plan;
  GArray    *fds;     /* int: the taps, open until the hypervisor has its copies */
  gboolean   by_name; /* VC_HV_CAP_NET_TAP_NAME: taps made in the host's namespace,
                         moved after start_vm */
  gboolean   moved;
};

static void
close_fds (GArray *fds)
{
  for (guint i = 0; fds && i < fds->len; i++)
    close (g_array_index (fds, int, i));
  if (fds)
    g_array_set_size (fds, 0);
}

void
vc_sandbox_network_close_fds (VcSandbox *sb)
{
  if (sb->net)
    close_fds (sb->net->fds);
}

void
vc_sandbox_network_free (VcSandbox *sb)
{
  if (sb->net)
    {
      close_fds (sb->net->fds);
      g_array_unref (sb->net->fds);
      vc_network_free (sb->net->plan);
      g_free (sb->net);
      sb->net = NULL;
    }
  g_clear_pointer (&sb->netns, g_free);
}

/* ---- setup ------------------------------------------------------------- */

typedef struct {
  VcSandbox *sb;
  guint64    dev, ino;
  gboolean   by_name;   /* only plan and record: the taps are made in the host's namespace */
  VcNetwork *plan;      /* out */
  GArray    *fds;       /* out */
} SetupJob;

/* The host-side name of interface i's tap: "vct", 8 hex digits of a hash of
 * the sandbox's state dir (unique on this host), i; at most 15 characters. */
static char *
host_tap_name (VcSandbox *sb, guint i)
{
  g_autofree char *sum = g_compute_checksum_for_string (G_CHECKSUM_SHA256, sb->dir, -1);
  return g_strdup_printf ("vct%.8s%u", sum, i);
}

/* Closes the taps (each goes with its last fd) and removes what was added:
 * the ingress qdiscs of the first n_veths veths, and the taps by name. */
static void
undo_in_netns (VcNl *nl, VcNetwork *plan, GArray *fds, guint n_veths)
{
  close_fds (fds);
  for (guint i = 0; i < plan->ifaces->len; i++)
    {
      VcNetIface *iface = plan->ifaces->pdata[i];
      g_autoptr(GError) ignored = NULL;
      if ((i < n_veths && !vc_nl_clear_ingress (nl, iface->name, &ignored))
          || !vc_nl_link_delete (nl, iface->tap, &ignored))
        g_warning ("network rollback: %s", ignored->message);
    }
}

static gboolean
setup_in_netns (gpointer data, GError **error)
{
  SetupJob *job = data;
  VcSandbox *sb = job->sb;
  g_autoptr(VcNl) nl = vc_nl_open (error);
  if (nl == NULL)
    return FALSE;
  g_autoptr(VcNlSnapshot) snap = vc_nl_snapshot (nl, error);
  if (snap == NULL)
    return FALSE;
  g_autoptr(VcNetwork) plan = vc_network_plan (sb->netns, job->dev, job->ino, TRUE, snap, error);
  if (plan == NULL)
    return FALSE;
  for (guint i = 0; job->by_name && i < plan->ifaces->len; i++)
    ((VcNetIface *) plan->ifaces->pdata[i])->host_tap = host_tap_name (sb, i);
  /* Recorded before the first change: a delete after a crash finds it. */
  if (!vc_network_write (plan, sb->dir, error))
    return FALSE;
  if (job->by_name)
    {
      job->plan = g_steal_pointer (&plan);
      job->fds = g_array_new (FALSE, FALSE, sizeof (int));
      return TRUE;
    }

  g_autoptr(GArray) fds = g_array_new (FALSE, FALSE, sizeof (int));
  for (guint i = 0; i < plan->ifaces->len; i++)
    {
      VcNetIface *iface = plan->ifaces->pdata[i];
      int veth = vc_nl_ifindex (nl, iface->name), tap = 0;
      int fd = veth > 0 ? vc_nl_tap_create (nl, iface->tap, iface->mtu, plan->vnet_hdr, &tap, error)
                        : -1;
      if (veth <= 0 && error && *error == NULL)
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "interface %s vanished", iface->name);
      if (fd >= 0)
        g_array_append_val (fds, fd);
      /* The veth's ingress qdisc is ours once its redirect is in: a qdisc
       * the caller had makes it fail, and stays. */
      gboolean veth_done = fd >= 0 && vc_nl_redirect (nl, veth, tap, error);
      if (!veth_done || !vc_nl_redirect (nl, tap, veth, error))
        {
          g_prefix_error (error, "%s: ", iface->name);
          undo_in_netns (nl, plan, fds, veth_done ? i + 1 : i);
          return FALSE;
        }
    }
  job->plan = g_steal_pointer (&plan);
  job->fds = g_steal_pointer (&fds);
  return TRUE;
}

/* In the calling thread's (the host's) namespace: the persistent taps of a
 * VC_HV_CAP_NET_TAP_NAME hypervisor, link down, no address. All or none. */
static gboolean
make_host_taps (VcNetwork *plan, GError **error)
{
  g_autoptr(VcNl) nl = vc_nl_open (error);
  if (nl == NULL)
    return FALSE;
  for (guint i = 0; i < plan->ifaces->len; i++)
    {
      VcNetIface *iface = plan->ifaces->pdata[i];
      if (vc_nl_tap_create_persistent (nl, iface->host_tap, iface->mtu, plan->vnet_hdr, error))
        continue;
      g_prefix_error (error, "%s: ", iface->name);
      for (guint k = 0; k < i; k++)
        {
          g_autoptr(GError) ignored = NULL;
          if (!vc_nl_link_delete (nl, ((VcNetIface *) plan->ifaces->pdata[k])->host_tap, &ignored))
            g_warning ("network rollback: %s", ignored->message);
        }
      return FALSE;
    }
  return TRUE;
}

/* Deletes the host-side taps still in the host's namespace; absent is success. */
static gboolean
delete_host_taps (VcNetwork *plan, GError **error)
{
  g_autoptr(VcNl) nl = NULL;
  for (guint i = 0; i < plan->ifaces->len; i++)
    {
      VcNetIface *iface = plan->ifaces->pdata[i];
      if (iface->host_tap == NULL)
        continue;
      if (nl == NULL && (nl = vc_nl_open (error)) == NULL)
        return FALSE;
      if (!vc_nl_link_delete (nl, iface->host_tap, error))
        return FALSE;
    }
  return TRUE;
}

typedef struct {
  VcNetwork *plan;
  guint      n_veths;   /* out: the veths whose ingress qdisc is ours */
} ConnectJob;

/* In the sandbox's namespace, the moved taps: up, and the redirects. */
static gboolean
connect_in_netns (gpointer data, GError **error)
{
  ConnectJob *job = data;
  g_autoptr(VcNl) nl = vc_nl_open (error);
  if (nl == NULL)
    return FALSE;
  for (guint i = 0; i < job->plan->ifaces->len; i++)
    {
      VcNetIface *iface = job->plan->ifaces->pdata[i];
      int veth = vc_nl_ifindex (nl, iface->name), tap = 0;
      if (veth <= 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "%s: interface vanished", iface->name);
          return FALSE;
        }
      if (!vc_nl_link_up (nl, iface->tap, &tap, error) || !vc_nl_redirect (nl, veth, tap, error))
        {
          g_prefix_error (error, "%s: ", iface->name);
          return FALSE;
        }
      job->n_veths = i + 1;
      if (!vc_nl_redirect (nl, tap, veth, error))
        {
          g_prefix_error (error, "%s: ", iface->name);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
undo_connect_in_netns (gpointer data, GError **error)
{
  ConnectJob *job = data;
  g_autoptr(VcNl) nl = vc_nl_open (error);
  if (nl == NULL)
    return FALSE;
  undo_in_netns (nl, job->plan, NULL, job->n_veths);
  return TRUE;
}

gboolean
vc_sandbox_network_attach (VcSandbox *sb, GError **error)
{
  if (sb->net == NULL || !sb->net->by_name || sb->net->moved)
    return TRUE;
  VcNetwork *plan = sb->net->plan;
  guint64 dev = 0, ino = 0;
  int ns_fd = vc_netns_open (plan->netns, &dev, &ino, error);
  if (ns_fd < 0)
    return FALSE;
  if (dev != plan->netns_dev || ino != plan->netns_ino)
    {
      close (ns_fd);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "network namespace %s was replaced by another while the VM booted", plan->netns);
      return FALSE;
    }
  /* Recorded before the first move: from now on a delete looks in the
   * sandbox's namespace too. */
  plan->moved = TRUE;
  g_autoptr(VcNl) nl = vc_nl_open (error);
  gboolean ok = nl != NULL && vc_network_write (plan, sb->dir, error);
  for (guint i = 0; ok && i < plan->ifaces->len; i++)
    {
      VcNetIface *iface = plan->ifaces->pdata[i];
      ok = vc_nl_link_move (nl, iface->host_tap, ns_fd, iface->tap, error);
    }
  ConnectJob job = { .plan = plan };
  ok = ok && vc_netns_run (ns_fd, connect_in_netns, &job, error);
  if (!ok)
    {
      /* As a failed setup: what vcrun added goes now (a caller's ingress
       * qdisc stays), and network.json with it, so the rollback's cleanup
       * finds nothing more to remove. */
      g_prefix_error (error, "network namespace %s: ", plan->netns);
      g_autoptr(GError) ignored = NULL;
      if (!vc_netns_run (ns_fd, undo_connect_in_netns, &job, &ignored)
          || !delete_host_taps (plan, &ignored))
        g_warning ("network rollback: %s", ignored->message);
      else
        {
          g_autofree char *path = g_build_filename (sb->dir, VC_NETWORK_FILE, NULL);
          unlink (path);
          close_fds (sb->net->fds);
          g_array_unref (sb->net->fds);
          vc_network_free (sb->net->plan);
          g_clear_pointer (&sb->net, g_free);
        }
      close (ns_fd);
      return FALSE;
    }
  close (ns_fd);
  sb->net->moved = TRUE;
  return TRUE;
}

static gboolean
unsupported (VcSandbox *sb, const char *kind, const char *plugin, const char *what, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
               "sandbox %s: network namespace %s: %s plugin %s %s: not supported by this backend",
               sb->id, sb->netns, kind, plugin, what);
  return FALSE;
}

gboolean
vc_sandbox_network_setup (VcSandbox *sb, GPtrArray *devices, GError **error)
{
  if (sb->netns == NULL)
    return TRUE;
  guint64 caps = sb->hv->capabilities ? sb->hv->capabilities (sb->hv_plugin->instance) : 0;
  gboolean by_name = (caps & VC_HV_CAP_NET_TAP_FD) == 0 && (caps & VC_HV_CAP_NET_TAP_NAME) != 0;
  if ((caps & (VC_HV_CAP_NET_TAP_FD | VC_HV_CAP_NET_TAP_NAME)) == 0 || sb->hv->add_device == NULL)
    return unsupported (sb, "hypervisor", sb->hv_plugin->name,
                        "cannot give the VM a NIC on a tap fd (no VC_HV_CAP_NET_TAP_FD) "
                        "nor by tap name (no VC_HV_CAP_NET_TAP_NAME)", error);
  if (!VC_AGENT_OPS_HAS (sb->agent_ops, update_interface)
      || !VC_AGENT_OPS_HAS (sb->agent_ops, update_routes))
    return unsupported (sb, "agent", sb->agent_plugin->name,
                        "cannot configure the guest's interfaces and routes", error);

  guint64 dev = 0, ino = 0;
  int ns_fd = vc_netns_open (sb->netns, &dev, &ino, error);
  if (ns_fd < 0)
    return FALSE;
  SetupJob job = { .sb = sb, .dev = dev, .ino = ino, .by_name = by_name };
  gboolean ok = vc_netns_run (ns_fd, setup_in_netns, &job, error);
  close (ns_fd);
  if (ok && by_name && !make_host_taps (job.plan, error))
    {
      g_clear_pointer (&job.plan, vc_network_free);
      g_clear_pointer (&job.fds, g_array_unref);
      ok = FALSE;
    }
  if (!ok)
    {
      g_prefix_error (error, "network namespace %s: ", sb->netns);
      g_autofree char *path = g_build_filename (sb->dir, VC_NETWORK_FILE, NULL);
      unlink (path);
      return FALSE;
    }

  sb->net = g_new0 (struct VcNetworkSetup, 1);
  sb->net->plan = job.plan;
  sb->net->fds = job.fds;
  sb->net->by_name = by_name;
  for (guint i = 0; i < job.plan->ifaces->len; i++)
    {
      VcNetIface *iface = job.plan->ifaces->pdata[i];
      g_autofree char *id = g_strdup_printf ("net%u", i);
      VcDevice *d = vc_device_new (VC_DEVICE_NET, id, by_name ? iface->host_tap : iface->tap, NULL);
      d->net_fd = by_name ? -1 : g_array_index (job.fds, int, i);
      d->mac = g_strdup (iface->mac);
      d->mtu = iface->mtu;
      d->vnet_hdr = job.plan->vnet_hdr;
      g_ptr_array_add (devices, d);
    }
  return TRUE;
}

/* ---- the guest side ---------------------------------------------------- */

gboolean
vc_sandbox_network_configure (VcSandbox *sb, GError **error)
{
  if (sb->net == NULL || sb->net->plan->ifaces->len == 0)
    return TRUE;
  VcNetwork *plan = sb->net->plan;
  g_mutex_lock (&sb->state_mutex);
  g_autoptr(VcAgentRef) ref = sb->agent ? vc_agent_ref_acquire (sb->agent) : NULL;
  g_mutex_unlock (&sb->state_mutex);
  if (ref == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sandbox %s: no agent connection", sb->id);
      return FALSE;
    }

  for (guint i = 0; i < plan->ifaces->len; i++)
    {
      VcNetIface *iface = plan->ifaces->pdata[i];
      g_ptr_array_add (iface->addresses, NULL);
      VcNetInterface ni = {
        .struct_size = sizeof (VcNetInterface), .name = iface->name, .mac = iface->mac,
        .mtu = iface->mtu, .addresses = (const char *const *) iface->addresses->pdata,
      };
      gboolean ok = ref->ops->update_interface (ref->conn, &ni, error);
      g_ptr_array_remove_index (iface->addresses, iface->addresses->len - 1);
      if (!ok)
        {
          g_prefix_error (error, "sandbox %s: agent update_interface %s: ", sb->id, iface->name);
          return FALSE;
        }
    }

  /* Directly reachable destinations first: a gateway must be reachable
   * when its route is added. */
  g_autofree VcNetRoute *routes = g_new0 (VcNetRoute, plan->routes->len);
  g_autofree const VcNetRoute **route_ptrs = g_new0 (const VcNetRoute *, plan->routes->len + 1);
  guint n = 0;
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < plan->routes->len; i++)
      {
        VcNlRoute *r = plan->routes->pdata[i];
        if ((r->gateway != NULL) != (pass == 1))
          continue;
        routes[n] = (VcNetRoute) {
          .struct_size = sizeof (VcNetRoute), .destination = r->destination,
          .gateway = r->gateway, .device = r->device, .source = r->source,
          .scope = r->scope, .ipv6 = r->ipv6,
        };
        route_ptrs[n] = &routes[n];
        n++;
      }
  if (n > 0 && !ref->ops->update_routes (ref->conn, route_ptrs, error))
    {
      g_prefix_error (error, "sandbox %s: agent update_routes: ", sb->id);
      return FALSE;
    }

  if (plan->neighbors->len == 0)
    return TRUE;
  if (!VC_AGENT_OPS_HAS (ref->ops, add_arp_neighbors))
    return unsupported (sb, "agent", sb->agent_plugin->name,
                        "cannot add the namespace's permanent neighbours", error);
  g_autofree VcNetNeighbor *neighbors = g_new0 (VcNetNeighbor, plan->neighbors->len);
  g_autofree const VcNetNeighbor **neighbor_ptrs = g_new0 (const VcNetNeighbor *,
                                                           plan->neighbors->len + 1);
  for (guint i = 0; i < plan->neighbors->len; i++)
    {
      VcNlNeighbor *nb = plan->neighbors->pdata[i];
      neighbors[i] = (VcNetNeighbor) {
        .struct_size = sizeof (VcNetNeighbor), .address = nb->address, .device = nb->device,
        .mac = nb->mac, .state = nb->state, .flags = nb->flags,
      };
      neighbor_ptrs[i] = &neighbors[i];
    }
  if (!ref->ops->add_arp_neighbors (ref->conn, neighbor_ptrs, error))
    {
      g_prefix_error (error, "sandbox %s: agent add_arp_neighbors: ", sb->id);
      return FALSE;
    }
  return TRUE;
}

/* ---- cleanup ----------------------------------------------------------- */

static gboolean
cleanup_in_netns (gpointer data, GError **error)
{
  VcNetwork *plan = data;
  g_autoptr(VcNl) nl = vc_nl_open (error);
  if (nl == NULL)
    return FALSE;
  for (guint i = 0; i < plan->ifaces->len; i++)
    {
      VcNetIface *iface = plan->ifaces->pdata[i];
      if (!vc_nl_clear_ingress (nl, iface->name, error) || !vc_nl_link_delete (nl, iface->tap, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
vc_sandbox_network_cleanup (VcSandbox *sb, GError **error)
{
  g_autoptr(VcNetwork) read = NULL;
  VcNetwork *plan = sb->net ? sb->net->plan : NULL;
  vc_sandbox_network_close_fds (sb);
  if (plan == NULL)
    {
      g_autoptr(GError) local = NULL;
      read = vc_network_read (sb->dir, &local);
      if (read == NULL && local)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local), "sandbox %s: ", sb->id);
          return FALSE;
        }
      plan = read;
    }
  if (plan == NULL)
    return TRUE;

  guint64 dev = 0, ino = 0;
  g_autoptr(GError) open_error = NULL;
  gboolean by_name = plan->ifaces->len > 0 && ((VcNetIface *) plan->ifaces->pdata[0])->host_tap;
  int ns_fd = -1;
  if (by_name && !plan->moved)
    /* Taps made by name and never moved: nothing of ours is in the namespace. */
    g_debug ("sandbox %s: taps not moved into %s: only the host's namespace to clean",
             sb->id, plan->netns);
  else
    ns_fd = vc_netns_open (plan->netns, &dev, &ino, &open_error);
  if (ns_fd < 0 && open_error)
    /* The namespace is gone, and its taps and filters with it. */
    g_debug ("sandbox %s: %s: nothing to clean up", sb->id, open_error->message);
  else if (ns_fd >= 0 && (dev != plan->netns_dev || ino != plan->netns_ino))
    g_debug ("sandbox %s: %s is another namespace now: left alone", sb->id, plan->netns);
  else if (ns_fd >= 0 && !vc_netns_run (ns_fd, cleanup_in_netns, plan, error))
    {
      close (ns_fd);
      g_prefix_error (error, "sandbox %s: network namespace %s: ", sb->id, plan->netns);
      return FALSE;
    }
  if (ns_fd >= 0)
    close (ns_fd);
  /* A tap made by name and not moved yet (a crash or a failure before the
   * move) is still in the host's namespace. */
  if (!delete_host_taps (plan, error))
    {
      g_prefix_error (error, "sandbox %s: host network namespace: ", sb->id);
      return FALSE;
    }
  g_autofree char *path = g_build_filename (sb->dir, VC_NETWORK_FILE, NULL);
  if (unlink (path) < 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot remove %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* ---- visibility -------------------------------------------------------- */

void
vc_sandbox_interface_free (VcSandboxInterface *iface)
{
  if (iface == NULL)
    return;
  g_free (iface->name);
  g_free (iface->mac);
  g_free (iface->tap);
  g_strfreev (iface->addresses);
  g_free (iface);
}

GPtrArray *
vc_sandbox_list_interfaces (VcSandbox *sb, char **netns)
{
  GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_sandbox_interface_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcNetwork) plan = vc_network_read (sb->dir, &error);
  if (netns)
    *netns = plan ? g_strdup (plan->netns) : NULL;
  if (plan == NULL)
    {
      if (error)
        g_debug ("sandbox %s: %s", sb->id, error->message);
      return list;
    }
  for (guint i = 0; i < plan->ifaces->len; i++)
    {
      VcNetIface *src = plan->ifaces->pdata[i];
      VcSandboxInterface *iface = g_new0 (VcSandboxInterface, 1);
      iface->name = g_strdup (src->name);
      iface->mac = g_strdup (src->mac);
      iface->mtu = src->mtu;
      iface->tap = g_strdup (src->tap);
      iface->addresses = g_new0 (char *, src->addresses->len + 1);
      for (guint a = 0; a < src->addresses->len; a++)
        iface->addresses[a] = g_strdup (src->addresses->pdata[a]);
      g_ptr_array_add (list, iface);
    }
  return list;
}

GVariant *
vc_sandbox_interfaces_variant (VcSandbox *sb, char **netns)
{
  g_autoptr(GPtrArray) list = vc_sandbox_list_interfaces (sb, netns);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sssuas)"));
  for (guint i = 0; i < list->len; i++)
    {
      VcSandboxInterface *iface = list->pdata[i];
      g_variant_builder_add (&b, "(sssu^as)", iface->name, iface->mac ? iface->mac : "",
                             iface->tap, iface->mtu, iface->addresses);
    }
  return g_variant_builder_end (&b);
}
