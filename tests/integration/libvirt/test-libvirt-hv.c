/* hypervisor-libvirt's VcHypervisorOps against a real libvirtd (given by
 * VCRUN_LIBVIRT_URI; hv.sh starts a private one) and the guest from `make
 * guest`, without the rest of vcrun: one VM with a virtio-fs share and room
 * to grow, then
 *   - the agent channel turns connected; get_pids: QEMU, then virtiofsd;
 *   - pause/resume (status and events); disk hotplug and removal at the PCI
 *     path announced; vCPU and memory resize;
 *   - save_state, attach_vm from a second instance; a saved state with
 *     another UUID is refused;
 *   - QEMU killed: VC_VM_EVENT_STOPPED with a reason within a second;
 *   - bad input: a device type libvirt cannot take, cold plug after start.
 * Skips without the URI, the plugin or the guest image. */
#include "config.h"

#include <gmodule.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <vcrun/hypervisor.h>

typedef struct {
  const VcHypervisorOps *ops;
  VcPluginInstance      *instance;
} Plugin;

typedef struct {
  GMutex   lock;
  GCond    cond;
  gboolean stopped;
  gint64   stopped_at;
  char    *reason;
  guint    paused, resumed;
} Events;

static char *uri, *kernel, *initrd, *so_path, *root;
static Plugin plugin, plugin2;
static Events events;
static VcVm *vm;

static void
on_event (VcVmEvent event, const char *detail, gpointer data)
{
  Events *ev = data;
  g_mutex_lock (&ev->lock);
  if (event == VC_VM_EVENT_STOPPED && !ev->stopped)
    {
      ev->stopped = TRUE;
      ev->stopped_at = g_get_monotonic_time ();
      ev->reason = g_strdup (detail);
    }
  else if (event == VC_VM_EVENT_PAUSED)
    ev->paused++;
  else if (event == VC_VM_EVENT_RESUMED)
    ev->resumed++;
  g_cond_broadcast (&ev->cond);
  g_mutex_unlock (&ev->lock);
}

static gboolean
load_plugin (Plugin *out, GError **error)
{
  GModule *module = g_module_open (so_path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "cannot load %s: %s", so_path, g_module_error ());
      return FALSE;
    }
  g_module_make_resident (module);
  VcPluginDescriptorFunc func = NULL;
  g_assert_true (g_module_symbol (module, VC_PLUGIN_DESCRIPTOR_SYMBOL, (gpointer *) &func));
  const VcPluginDescriptor *desc = func ();
  out->ops = desc->hypervisor;
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "uri", g_variant_new_string (uri));
  g_variant_builder_add (&b, "{sv}", "domain_type", g_variant_new_string ("qemu"));
  g_variant_builder_add (&b, "{sv}", "machine", g_variant_new_string ("q35"));
  g_variant_builder_add (&b, "{sv}", "virtiofsd",
                         g_variant_new_string (g_getenv ("VIRTIOFSD") ? g_getenv ("VIRTIOFSD")
                                                                     : "/usr/lib/qemu/virtiofsd"));
  g_autoptr (GVariant) settings = g_variant_ref_sink (g_variant_builder_end (&b));
  VcPluginHost host = { .struct_size = sizeof host, .abi_major = VC_ABI_MAJOR,
                        .abi_minor = VC_ABI_MINOR, .state_dir = root,
                        .plugin_name = "hypervisor-libvirt" };
  out->instance = desc->create (&host, settings, error);
  return out->instance != NULL;
}

static VcVmConfig
vm_config (const char *state_dir)
{
  VcVmConfig c = { .struct_size = sizeof c, .sandbox_id = "hv1", .state_dir = state_dir,
                   .vcpus = 1, .max_vcpus = 2, .memory_mib = 256, .max_memory_mib = 512,
                   .kernel = kernel, .initrd = initrd, .agent_transport = VC_AGENT_TRANSPORT_SERIAL,
                   .event_func = on_event, .event_data = &events };
  return c;
}

static char *
virsh (const char *args)
{
  g_autofree char *cmd = g_strdup_printf ("virsh -q -c '%s' %s", uri, args);
  g_autofree char *out = NULL;
  int status = 0;
  g_assert_true (g_spawn_command_line_sync (cmd, &out, NULL, &status, NULL));
  return g_strstrip (g_steal_pointer (&out));
}

static char *
cmdline_of (gint pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/cmdline", pid);
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL))
    return g_strdup ("");
  for (gsize i = 0; i + 1 < len; i++)
    if (data[i] == '\0')
      data[i] = ' ';
  return g_steal_pointer (&data);
}

/* ---------------------------------------------------------------------------
 * Cases, in order on one VM. */

static void
test_boot (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *state_dir = g_build_filename (root, "hv1", NULL);
  g_autofree char *share = g_build_filename (root, "share", NULL);
  g_assert_cmpint (g_mkdir_with_parents (share, 0755), ==, 0);
  VcVmConfig config = vm_config (state_dir);
  vm = plugin.ops->create_vm (plugin.instance, &config, &error);
  g_assert_no_error (error);
  g_autoptr (VcDevice) fs = vc_device_new (VC_DEVICE_FS_VIRTIOFS, "share", share, "vcshare");
  fs->struct_size = sizeof (VcDevice);
  VcGuestDevice guest = { 0 };
  g_assert_true (plugin.ops->add_device (vm, fs, &guest, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (guest.driver, ==, "virtio-fs");
  vc_guest_device_clear (&guest);
  g_autoptr (VcDevice) vhost = vc_device_new (VC_DEVICE_FS_VHOST_USER, "vu", "/tmp/x.sock", "t");
  g_assert_false (plugin.ops->add_device (vm, vhost, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  g_assert_true (plugin.ops->start_vm (vm, 60000, &error));
  g_assert_no_error (error);
  g_assert_cmpint (plugin.ops->get_status (vm, NULL), ==, VC_VM_STATUS_RUNNING);
  g_autofree char *state = virsh ("domstate vcrun-hv1");
  g_assert_cmpstr (state, ==, "running");
  g_assert_true (plugin.ops->wait_agent_channel (vm, 240000, &error));
  g_assert_no_error (error);
  g_autofree char *console = plugin.ops->console_path (vm);
  g_assert_true (g_str_has_prefix (console, state_dir));
  g_assert_true (g_file_test (console, G_FILE_TEST_EXISTS));

  g_autoptr (GArray) pids = plugin.ops->get_pids (vm, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pids->len, >=, 2);
  g_autofree char *uuid = virsh ("domuuid vcrun-hv1");
  g_autofree char *qemu = cmdline_of (g_array_index (pids, gint, 0));
  g_autofree char *uuid_arg = g_strdup_printf ("-uuid %s", uuid);
  g_assert_nonnull (strstr (qemu, uuid_arg));
  g_autofree char *helper = cmdline_of (g_array_index (pids, gint, 1));
  g_assert_nonnull (strstr (helper, "virtiofsd"));
  g_assert_nonnull (strstr (helper, share));
}

static void
test_pause_resume (void)
{
  g_autoptr (GError) error = NULL;
  /* libvirt starts QEMU paused and continues it: the RESUMED event of that
   * start may come as late as now, so resumes are counted as at least one. */
  g_mutex_lock (&events.lock);
  events.paused = events.resumed = 0;
  g_mutex_unlock (&events.lock);
  g_assert_true (plugin.ops->pause_vm (vm, &error));
  g_assert_no_error (error);
  g_assert_cmpint (plugin.ops->get_status (vm, NULL), ==, VC_VM_STATUS_PAUSED);
  g_assert_true (plugin.ops->resume_vm (vm, &error));
  g_assert_no_error (error);
  g_assert_cmpint (plugin.ops->get_status (vm, NULL), ==, VC_VM_STATUS_RUNNING);
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  g_mutex_lock (&events.lock);
  while ((events.paused == 0 || events.resumed == 0)
         && g_cond_wait_until (&events.cond, &events.lock, deadline))
    ;
  g_assert_cmpuint (events.paused, ==, 1);
  g_assert_cmpuint (events.resumed, >=, 1);
  g_mutex_unlock (&events.lock);
}

static void
test_hotplug (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *image = g_build_filename (root, "disk.img", NULL);
  g_assert_true (g_file_set_contents (image, "", 0, NULL));
  g_assert_cmpint (truncate (image, 16 << 20), ==, 0);
  g_autoptr (VcDevice) disk = vc_device_new (VC_DEVICE_BLOCK, "d1", image, NULL);
  VcGuestDevice guest = { 0 };
  gboolean added = plugin.ops->hotplug_add (vm, disk, &guest, &error);
  g_assert_no_error (error);
  g_assert_true (added);
  g_assert_cmpstr (guest.driver, ==, "blk");
  g_assert_cmpstr (guest.guest_address, ==, "10/00");
  vc_guest_device_clear (&guest);
  g_autofree char *blk = virsh ("domblklist vcrun-hv1");
  g_assert_nonnull (strstr (blk, image));
  g_assert_false (plugin.ops->hotplug_add (vm, disk, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (plugin.ops->hotplug_remove (vm, "d1", 30000, &error));
  g_assert_no_error (error);
  g_autofree char *after = virsh ("domblklist vcrun-hv1");
  g_assert_null (strstr (after, image));
  g_assert_false (plugin.ops->add_device (vm, disk, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_STATE);
}

static void
test_resize (void)
{
  g_autoptr (GError) error = NULL;
  guint vcpus = 0;
  g_assert_true (plugin.ops->resize_vcpus (vm, 2, &vcpus, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (vcpus, ==, 2);
  g_autofree char *count = virsh ("vcpucount vcrun-hv1 --live --active");
  g_assert_cmpstr (count, ==, "2");
  g_assert_false (plugin.ops->resize_vcpus (vm, 3, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  guint64 mib = 0;
  g_assert_true (plugin.ops->resize_memory (vm, 384, &mib, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mib, ==, 384);
  g_autofree char *xml = virsh ("dumpxml vcrun-hv1");
  g_assert_nonnull (strstr (xml, "<memory model='dimm'"));
}

static void
test_reattach (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *saved = plugin.ops->save_state (vm, &error);
  g_assert_no_error (error);
  g_assert_true (load_plugin (&plugin2, &error));
  g_autofree char *state_dir = g_build_filename (root, "hv1", NULL);
  VcVmConfig config = vm_config (state_dir);
  config.event_func = NULL;
  VcVm *other = plugin2.ops->attach_vm (plugin2.instance, &config, saved, &error);
  g_assert_no_error (error);
  g_assert_cmpint (plugin2.ops->get_status (other, NULL), ==, VC_VM_STATUS_RUNNING);
  g_autoptr (GArray) pids = plugin2.ops->get_pids (other, &error);
  g_assert_no_error (error);
  plugin2.ops->free_vm (other);

  /* Same name, another UUID: not ours. */
  g_autofree char *uuid = virsh ("domuuid vcrun-hv1");
  g_autoptr (GString) forged = g_string_new (saved);
  g_string_replace (forged, uuid, "00000000-0000-4000-8000-000000000000", 1);
  other = plugin2.ops->attach_vm (plugin2.instance, &config, forged->str, &error);
  g_assert_null (other);
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "refusing"));
  g_autofree char *state = virsh ("domstate vcrun-hv1");
  g_assert_cmpstr (state, ==, "running");
}

static void
test_qemu_killed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) pids = plugin.ops->get_pids (vm, &error);
  g_assert_no_error (error);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_cmpint (kill (g_array_index (pids, gint, 0), SIGKILL), ==, 0);
  gint64 deadline = t0 + 10 * G_USEC_PER_SEC;
  g_mutex_lock (&events.lock);
  while (!events.stopped && g_cond_wait_until (&events.cond, &events.lock, deadline))
    ;
  g_assert_true (events.stopped);
  gint64 ms = (events.stopped_at - t0) / 1000;
  g_test_message ("figure: QEMU killed -> VC_VM_EVENT_STOPPED in %" G_GINT64_FORMAT " ms (%s)", ms,
                  events.reason);
  g_assert_cmpint (ms, <, 1000);
  g_assert_nonnull (strstr (events.reason, "killed"));
  g_mutex_unlock (&events.lock);
  g_assert_cmpint (plugin.ops->get_status (vm, NULL), ==, VC_VM_STATUS_STOPPED);
  g_assert_false (plugin.ops->pause_vm (vm, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  g_clear_error (&error);
  g_assert_true (plugin.ops->stop_vm (vm, 1000, &error));
  g_assert_no_error (error);
  plugin.ops->free_vm (vm);
  vm = NULL;
  g_autofree char *left = virsh ("list --all --name");
  g_assert_cmpstr (left, ==, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *build = g_getenv ("VCRUN_TOP_BUILDDIR");
  uri = g_strdup (g_getenv ("VCRUN_LIBVIRT_URI"));
  const char *skip = NULL;
  if (build == NULL || uri == NULL)
    skip = "needs VCRUN_TOP_BUILDDIR and VCRUN_LIBVIRT_URI (run hv.sh)";
  else
    {
      so_path = g_build_filename (build, "plugins/hypervisor-libvirt/.libs/hypervisor-libvirt.so", NULL);
      kernel = g_build_filename (build, "guest/vmlinuz", NULL);
      initrd = g_build_filename (build, "guest/initrd.img", NULL);
      if (!g_file_test (so_path, G_FILE_TEST_EXISTS))
        skip = "plugin hypervisor-libvirt is not built";
      else if (!g_file_test (kernel, G_FILE_TEST_EXISTS))
        skip = "no guest image (make guest)";
    }
  if (skip != NULL)
    {
      printf ("1..0 # SKIP %s\n", skip);
      return 0;
    }
  g_mutex_init (&events.lock);
  g_cond_init (&events.cond);
  root = g_dir_make_tmp ("vcrun-hv-XXXXXX", NULL);
  g_autoptr (GError) error = NULL;
  if (!load_plugin (&plugin, &error))
    g_error ("%s", error->message);
  g_test_add_func ("/libvirt-hv/boot", test_boot);
  g_test_add_func ("/libvirt-hv/pause-resume", test_pause_resume);
  g_test_add_func ("/libvirt-hv/hotplug", test_hotplug);
  g_test_add_func ("/libvirt-hv/resize", test_resize);
  g_test_add_func ("/libvirt-hv/reattach", test_reattach);
  g_test_add_func ("/libvirt-hv/qemu-killed", test_qemu_killed);
  int rc = g_test_run ();
  if (vm != NULL)
    {
      plugin.ops->stop_vm (vm, 0, NULL);
      plugin.ops->free_vm (vm);
    }
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);
  (void) !system (cmd);
  return rc;
}
