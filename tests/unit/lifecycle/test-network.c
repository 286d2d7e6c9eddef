/* The network plan (core/network.c), network.json, the bundle's network
 * namespace entry (core/bundle.c) and namespace paths (core/netns.c): no
 * root, no namespace changed. */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <vcrun/types.h>

#include "bundle.h"
#include "netns.h"
#include "network.h"

static VcNlLink *
link_new (int ifindex, const char *name, const char *kind, const char *mac, guint mtu,
          const char *address)
{
  VcNlLink *l = g_new0 (VcNlLink, 1);
  l->ifindex = ifindex;
  l->name = g_strdup (name);
  l->kind = g_strdup (kind);
  l->mac = g_strdup (mac);
  l->mtu = mtu;
  l->loopback = g_strcmp0 (name, "lo") == 0;
  l->addresses = g_ptr_array_new_with_free_func (g_free);
  if (address)
    g_ptr_array_add (l->addresses, g_strdup (address));
  return l;
}

static VcNlSnapshot *
snapshot_new (void)
{
  VcNlSnapshot *s = g_new0 (VcNlSnapshot, 1);
  s->links = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_link_free);
  s->routes = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_route_free);
  s->neighbors = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_nl_neighbor_free);
  g_ptr_array_add (s->links, link_new (1, "lo", NULL, NULL, 65536, "127.0.0.1/8"));
  g_ptr_array_add (s->links, link_new (2, "eth0", "veth", "02:00:00:00:02:02", 1400, "192.0.2.2/25"));
  VcNlRoute *r = g_new0 (VcNlRoute, 1);
  r->destination = g_strdup ("");
  r->gateway = g_strdup ("192.0.2.1");
  r->device = g_strdup ("eth0");
  g_ptr_array_add (s->routes, r);
  r = g_new0 (VcNlRoute, 1);
  r->destination = g_strdup ("192.0.2.200/32");
  r->device = g_strdup ("lo");   /* not a bridged interface: left out */
  g_ptr_array_add (s->routes, r);
  VcNlNeighbor *n = g_new0 (VcNlNeighbor, 1);
  n->address = g_strdup ("192.0.2.3");
  n->mac = g_strdup ("02:00:00:00:00:03");
  n->device = g_strdup ("eth0");
  n->state = 0x80;
  g_ptr_array_add (s->neighbors, n);
  return s;
}

static void
test_plan (void)
{
  g_autoptr(VcNlSnapshot) snap = snapshot_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(VcNetwork) plan = vc_network_plan ("/run/netns/x", 7, 9, TRUE, snap, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (plan->ifaces->len, ==, 1);
  VcNetIface *iface = plan->ifaces->pdata[0];
  g_assert_cmpstr (iface->name, ==, "eth0");
  g_assert_cmpstr (iface->mac, ==, "02:00:00:00:02:02");
  g_assert_cmpstr (iface->tap, ==, "vctap0");
  g_assert_cmpuint (iface->mtu, ==, 1400);
  g_assert_cmpstr (iface->addresses->pdata[0], ==, "192.0.2.2/25");
  g_assert_cmpuint (plan->routes->len, ==, 1);
  g_assert_cmpuint (plan->neighbors->len, ==, 1);

  /* network.json round trip */
  g_autofree char *dir = g_dir_make_tmp ("vcrun-net-XXXXXX", NULL);
  g_assert_null (vc_network_read (dir, &error));
  g_assert_no_error (error);
  g_assert_true (vc_network_write (plan, dir, &error));
  g_autoptr(VcNetwork) back = vc_network_read (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->netns, ==, "/run/netns/x");
  g_assert_cmpuint (back->netns_dev, ==, 7);
  g_assert_cmpuint (back->netns_ino, ==, 9);
  g_assert_true (back->vnet_hdr);
  g_assert_cmpuint (back->ifaces->len, ==, 1);
  VcNetIface *b = back->ifaces->pdata[0];
  g_assert_cmpstr (b->tap, ==, "vctap0");
  g_assert_null (b->host_tap);
  g_assert_cmpstr (b->addresses->pdata[0], ==, "192.0.2.2/25");
  VcNlRoute *r = back->routes->pdata[0];
  g_assert_cmpstr (r->destination, ==, "");
  g_assert_cmpstr (r->gateway, ==, "192.0.2.1");
  g_assert_null (r->source);
  VcNlNeighbor *n = back->neighbors->pdata[0];
  g_assert_cmpstr (n->mac, ==, "02:00:00:00:00:03");
  g_assert_cmpint (n->state, ==, 0x80);

  /* A tap made by name in the host's namespace (VC_HV_CAP_NET_TAP_NAME) keeps
   * its host-side name, for a delete after a crash before the move. */
  ((VcNetIface *) plan->ifaces->pdata[0])->host_tap = g_strdup ("vct0123abcd0");
  g_assert_false (back->moved);
  plan->moved = TRUE;
  g_assert_true (vc_network_write (plan, dir, &error));
  g_autoptr(VcNetwork) back2 = vc_network_read (dir, &error);
  g_assert_no_error (error);
  g_assert_true (back2->moved);
  g_assert_cmpstr (((VcNetIface *) back2->ifaces->pdata[0])->host_tap, ==, "vct0123abcd0");
  g_assert_cmpstr (((VcNetIface *) back2->ifaces->pdata[0])->tap, ==, "vctap0");

  g_autofree char *path = g_build_filename (dir, VC_NETWORK_FILE, NULL);
  g_assert_true (g_file_set_contents (path, "[1, 2]", -1, NULL));
  g_assert_null (vc_network_read (dir, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "{\"netns\": 3}", -1, NULL));
  g_assert_null (vc_network_read (dir, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "'netns'"));
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_plan_refuses (void)
{
  g_autoptr(VcNlSnapshot) snap = snapshot_new ();
  g_ptr_array_add (snap->links, link_new (3, "t9", "tun", "02:00:00:00:09:09", 1500, NULL));
  g_autoptr(GError) error = NULL;
  g_assert_null (vc_network_plan ("/run/netns/x", 0, 0, TRUE, snap, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_assert_cmpstr (error->message, ==, "network namespace /run/netns/x: interface t9 is of type "
                                       "tun; vcrun bridges only veth interfaces to the VM");
  g_clear_error (&error);
  g_ptr_array_remove_index (snap->links, 2);
  g_ptr_array_add (snap->links, link_new (3, "eth9", NULL, "02:00:00:00:09:09", 1500, NULL));
  g_assert_null (vc_network_plan ("/run/netns/x", 0, 0, TRUE, snap, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "interface eth9 is a device without a type"));
}

static void
test_only_lo (void)
{
  g_autoptr(VcNlSnapshot) snap = snapshot_new ();
  g_ptr_array_remove_index (snap->links, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcNetwork) plan = vc_network_plan ("/run/netns/x", 0, 0, TRUE, snap, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (plan->ifaces->len, ==, 0);
  g_assert_cmpuint (plan->routes->len, ==, 0);
  g_assert_cmpuint (plan->neighbors->len, ==, 0);
}

static char *
bundle_with (const char *namespaces)
{
  char *dir = g_dir_make_tmp ("vcrun-net-bundle-XXXXXX", NULL);
  g_autofree char *rootfs = g_build_filename (dir, "rootfs", NULL);
  g_mkdir (rootfs, 0755);
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  g_autofree char *text = g_strdup_printf (
      "{\"ociVersion\": \"1.0.2\", \"process\": {\"args\": [\"true\"], \"cwd\": \"/\"},"
      " \"root\": {\"path\": \"rootfs\"}, \"linux\": {\"namespaces\": %s}}", namespaces);
  g_assert_true (g_file_set_contents (config, text, -1, NULL));
  return dir;
}

static void
remove_bundle (const char *dir)
{
  g_autofree char *rootfs = g_build_filename (dir, "rootfs", NULL);
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  g_unlink (config);
  g_rmdir (rootfs);
  g_rmdir (dir);
}

static void
test_bundle_netns (void)
{
  struct { const char *namespaces; const char *path; gboolean ok; } cases[] = {
    { "[{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": \"/run/netns/a\"}]", "/run/netns/a", TRUE },
    { "[{\"type\": \"network\"}]", NULL, TRUE },
    { "[{\"type\": \"network\", \"path\": \"\"}]", NULL, TRUE },
    { "[{\"type\": \"pid\"}]", NULL, TRUE },
    { "[{\"type\": \"network\", \"path\": \"run/netns/a\"}]", NULL, FALSE },
    { "[{\"type\": \"network\", \"path\": 3}]", NULL, FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = bundle_with (cases[i].namespaces);
      g_autofree char *path = NULL;
      g_autoptr(GError) error = NULL;
      gboolean ok = vc_bundle_network_namespace (dir, &path, &error);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (ok)
        g_assert_cmpstr (path, ==, cases[i].path);
      else
        {
          g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
          g_assert_nonnull (strstr (error->message, "linux.namespaces[0].path"));
        }
      remove_bundle (dir);
    }
}

static void
test_netns_open (void)
{
  g_autoptr(GError) error = NULL;
  g_assert_cmpint (vc_netns_open ("/nonexistent/netns", NULL, NULL, &error), <, 0);
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpint (vc_netns_open ("/etc/hostname", NULL, NULL, &error), <, 0);
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "is not a network namespace"));
  g_clear_error (&error);
  g_assert_cmpint (vc_netns_open ("/proc/self/ns/uts", NULL, NULL, &error), <, 0);
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (vc_netns_open ("relative", NULL, NULL, &error), <, 0);
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  guint64 dev = 0, ino = 0;
  int fd = vc_netns_open ("/proc/self/ns/net", &dev, &ino, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint (ino, !=, 0);
  close (fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/network/plan", test_plan);
  g_test_add_func ("/network/plan-refuses", test_plan_refuses);
  g_test_add_func ("/network/only-lo", test_only_lo);
  g_test_add_func ("/network/bundle-netns", test_bundle_netns);
  g_test_add_func ("/network/netns-open", test_netns_open);
  return g_test_run ();
}
