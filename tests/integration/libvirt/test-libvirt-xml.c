/* hypervisor-libvirt's XML (libvirt-xml.c, compiled in), no libvirtd needed:
 * values with XML's special characters come back unchanged when the domain
 * XML is parsed again; the domain has what the plugin relies on (agent
 * channel, console file, destroy on power-off, virtio-fs with shared memory,
 * 9p access modes, hotplug ports, metadata); the live XML queries. */
#include "config.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <string.h>

#include "libvirt-plugin.h"

static char *
xpath (const char *xml, const char *expr)
{
  xmlDocPtr doc = xmlReadMemory (xml, (int) strlen (xml), "t.xml", NULL, XML_PARSE_NONET);
  g_assert_nonnull (doc);
  xmlXPathContextPtr ctx = xmlXPathNewContext (doc);
  xmlXPathRegisterNs (ctx, BAD_CAST "vc", BAD_CAST LV_METADATA_NS);
  xmlXPathObjectPtr obj = xmlXPathEvalExpression (BAD_CAST expr, ctx);
  g_assert_nonnull (obj);
  xmlChar *value = xmlXPathCastToString (obj);
  char *result = g_strdup ((const char *) value);
  xmlFree (value);
  xmlXPathFreeObject (obj);
  xmlXPathFreeContext (ctx);
  xmlFreeDoc (doc);
  return result;
}

static LvDevice *
device (VcDeviceType type, const char *id, const char *path, const char *tag, guint slot)
{
  LvDevice *dev = g_new0 (LvDevice, 1);
  dev->device = vc_device_new (type, id, path, tag);
  dev->alias = g_strdup_printf ("ua-vc%u", slot);
  dev->slot = slot;
  dev->port = -1;
  if (type == VC_DEVICE_BLOCK)
    dev->target = g_strdup ("vda");
  return dev;
}

static void
free_dev (gpointer p)
{
  LvDevice *dev = p;
  vc_device_free (dev->device);
  g_free (dev->alias);
  g_free (dev->target);
  g_free (dev);
}

static const char *nasty = "/tmp/a'b\"c<d>&e f";

static void
test_domain (void)
{
  VcPluginInstance plugin = { .machine = (char *) "q35", .virtiofsd = (char *) "/usr/lib/qemu/virtiofsd",
                              .kernel_params = (char *) "x=1" };
  VcVm vm = { .plugin = &plugin, .sandbox_id = (char *) "s1", .state_dir = (char *) nasty,
              .name = (char *) "vcrun-s1", .domain_type = (char *) "qemu", .vcpus = 1, .max_vcpus = 2,
              .memory_mib = 256, .max_memory_mib = 512, .kernel = (char *) "/k/vmlinuz&",
              .initrd = (char *) "/k/initrd.img", .kernel_params = (char *) "y=<2>" };
  g_autofree char *agent = g_build_filename (nasty, "agent.sock", NULL);
  g_autofree char *console = g_build_filename (nasty, "console.log", NULL);
  vm.agent_path = agent;
  vm.console_file = console;
  vm.devices = g_ptr_array_new_with_free_func (free_dev);
  g_ptr_array_add (vm.devices, device (VC_DEVICE_FS_VIRTIOFS, "fs", nasty, "vcshare", 3));
  LvDevice *p9 = device (VC_DEVICE_FS_9P, "9p", "/srv/9p", "tag9", 4);
  p9->device->security_model = g_strdup ("mapped-xattr");
  p9->device->readonly = TRUE;
  g_ptr_array_add (vm.devices, p9);
  g_ptr_array_add (vm.devices, device (VC_DEVICE_BLOCK, "d", "/img/disk.raw", NULL, 5));
  LvDevice *nic = device (VC_DEVICE_NET, "net0", "vct0123abcd0", NULL, 6);
  nic->device->mac = g_strdup ("02:00:00:00:02:02");
  nic->device->mtu = 1400;
  g_ptr_array_add (vm.devices, nic);
  vm.shared_memory = TRUE;

  g_autoptr (GError) error = NULL;
  g_autofree char *xml = lv_domain_xml (&vm, &error);
  g_assert_no_error (error);
  g_assert_nonnull (xml);
#define EXPECT(expr, value) do { g_autofree char *v_ = xpath (xml, expr); g_assert_cmpstr (v_, ==, value); } while (0)
  EXPECT ("string(/domain/@type)", "qemu");
  EXPECT ("string(/domain/name)", "vcrun-s1");
  EXPECT ("string(/domain/metadata/vc:sandbox/@id)", "s1");
  EXPECT ("string(/domain/metadata/vc:sandbox/@state-dir)", nasty);
  EXPECT ("string(/domain/os/kernel)", "/k/vmlinuz&");
  EXPECT ("string(/domain/on_poweroff)", "destroy");
  EXPECT ("string(/domain/vcpu/@current)", "1");
  EXPECT ("string(/domain/vcpu)", "2");
  EXPECT ("string(/domain/maxMemory)", "512");
  EXPECT ("string(/domain/memoryBacking/access/@mode)", "shared");
  EXPECT ("string(/domain/cpu/numa/cell/@memAccess)", "shared");
  EXPECT ("string(/domain/devices/channel/target[@name='agent.channel.0']/../source/@path)", agent);
  EXPECT ("string(/domain/devices/serial[@type='file']/source/@path)", console);
  EXPECT ("string(/domain/devices/filesystem[driver/@type='virtiofs']/source/@dir)", nasty);
  EXPECT ("string(/domain/devices/filesystem[driver/@type='virtiofs']/binary/@path)", "/usr/lib/qemu/virtiofsd");
  EXPECT ("string(/domain/devices/filesystem[target/@dir='tag9']/@accessmode)", "mapped");
  EXPECT ("string(count(/domain/devices/filesystem[target/@dir='tag9']/readonly))", "1");
  EXPECT ("string(/domain/devices/disk/address/@slot)", "0x05");
  /* A NIC on an existing tap, opened by name, which libvirt leaves alone. */
  EXPECT ("string(/domain/devices/interface[@type='ethernet']/target/@dev)", "vct0123abcd0");
  EXPECT ("string(/domain/devices/interface/target/@managed)", "no");
  EXPECT ("string(/domain/devices/interface/mac/@address)", "02:00:00:00:02:02");
  EXPECT ("string(/domain/devices/interface/model/@type)", "virtio");
  EXPECT ("string(/domain/devices/interface/mtu/@size)", "1400");
  EXPECT ("string(/domain/devices/interface/address/@slot)", "0x06");
  EXPECT ("string(count(/domain/devices/controller[@model='pcie-root-port']))", "4");
  EXPECT ("string(/domain/devices/controller[@type='virtio-serial']/address/@slot)", "0x02");
  g_autofree char *cmdline = xpath (xml, "string(/domain/os/cmdline)");
  g_assert_true (g_str_has_prefix (cmdline, "console=ttyS0"));
  g_assert_true (g_str_has_suffix (cmdline, " x=1 y=<2>"));
  g_autofree char *owner = lv_xml_sandbox_id (xml);
  g_assert_cmpstr (owner, ==, "s1");
  g_autofree char *dir = lv_xml_sandbox_state_dir (xml);
  g_assert_cmpstr (dir, ==, nasty);

  /* A hotplugged disk on the second spare root port. */
  LvDevice *hot = device (VC_DEVICE_BLOCK, "h", "/img/hot.qcow2", NULL, LV_HOTPLUG_PORT_SLOT + 1);
  hot->port = 1;
  hot->device->format = g_strdup ("qcow2");
  g_autofree char *dev_xml = lv_device_xml (&vm, hot, &error);
  g_assert_no_error (error);
  g_autofree char *bus = xpath (dev_xml, "string(/disk/address/@bus)");
  g_assert_cmpstr (bus, ==, "0x02");
  g_autofree char *format = xpath (dev_xml, "string(/disk/driver/@type)");
  g_assert_cmpstr (format, ==, "qcow2");
  free_dev (hot);

  /* Not UTF-8: an error, not broken XML. */
  vm.kernel = (char *) "/k/\xff\xfe";
  g_autofree char *bad = lv_domain_xml (&vm, &error);
  g_assert_null (bad);
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_ptr_array_unref (vm.devices);
}

/* A NIC comes by tap name (VC_HV_CAP_NET_TAP_NAME): a fd, a name that is no
 * interface name, a bad MAC or MTU are refused, saying which. */
static void
test_net_validate (void)
{
  VcPluginInstance plugin = { .machine = (char *) "q35" };
  VcVm vm = { .plugin = &plugin, .sandbox_id = (char *) "s1" };
  vm.devices = g_ptr_array_new_with_free_func (free_dev);
  g_autoptr (GError) error = NULL;
  VcDevice *d = vc_device_new (VC_DEVICE_NET, "net0", "vct0123abcd0", NULL);
  d->mac = g_strdup ("02:00:00:00:02:02");
  g_assert_true (lv_device_validate (&vm, d, &error));
  g_assert_no_error (error);

  d->net_fd = 0;
  g_assert_false (lv_device_validate (&vm, d, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "takes no tap fd"));
  g_clear_error (&error);
  d->net_fd = -1;

  const char *bad_names[] = { "", "a-name-of-16-chr", "tap/0", "ta p" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_names); i++)
    {
      g_free (d->host_path);
      d->host_path = g_strdup (bad_names[i]);
      g_assert_false (lv_device_validate (&vm, d, &error));
      g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "tap's name"));
      g_clear_error (&error);
    }
  g_free (d->host_path);
  d->host_path = g_strdup ("vct0123abcd0");
  g_free (d->mac);
  d->mac = g_strdup ("02:00:00:00:02");
  g_assert_false (lv_device_validate (&vm, d, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_free (d->mac);
  d->mac = g_strdup ("02:00:00:00:02:02");
  d->mtu = 20;
  g_assert_false (lv_device_validate (&vm, d, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  vc_device_free (d);
  g_ptr_array_unref (vm.devices);

  /* The taps are made on this host: NICs only for a libvirtd here. */
  g_assert_true (lv_uri_is_local ("qemu:///system"));
  g_assert_true (lv_uri_is_local ("qemu+unix:///system?socket=/tmp/s"));
  g_assert_false (lv_uri_is_local ("qemu+ssh://root@other/system"));
  g_assert_false (lv_uri_is_local ("qemu+tcp://other:16509/system"));
  g_assert_false (lv_uri_is_local ("test"));
}

static void
test_live_queries (void)
{
  const char *live =
      "<domain><devices>"
      "<channel type='unix'><target type='virtio' name='other' state='connected'/></channel>"
      "<channel type='unix'><target type='virtio' name='agent.channel.0' state='disconnected'/>"
      "<alias name='channel0'/></channel>"
      "<disk><alias name='ua-vc3'/></disk><memory model='dimm'/><memory model='dimm'/>"
      "</devices></domain>";
  g_autofree char *state = lv_xml_channel_state (live, "agent.channel.0");
  g_assert_cmpstr (state, ==, "disconnected");
  g_autofree char *none = lv_xml_channel_state ("<domain/>", "agent.channel.0");
  g_assert_null (none);
  g_autofree char *garbage = lv_xml_channel_state ("<not xml", "agent.channel.0");
  g_assert_null (garbage);
  g_assert_true (lv_xml_has_alias (live, "ua-vc3"));
  g_assert_false (lv_xml_has_alias (live, "ua-vc4"));
  g_assert_cmpuint (lv_xml_count_dimms (live), ==, 2);
  g_autofree char *foreign = lv_xml_sandbox_id (live);
  g_assert_null (foreign);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/libvirt-xml/domain", test_domain);
  g_test_add_func ("/libvirt-xml/live-queries", test_live_queries);
  g_test_add_func ("/libvirt-xml/net-validate", test_net_validate);
  return g_test_run ();
}
