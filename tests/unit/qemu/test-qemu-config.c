/* hypervisor-qemu without running QEMU: settings, VM config and device
 * validation, the command line it would run, and the states that refuse
 * operations. Links the plugin's sources directly. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "qemu-plugin.h"

extern const VcPluginDescriptor *vc_plugin_descriptor (void);

static char *tmpdir;

static VcPluginInstance *
make_instance (const char *machine, gboolean seccomp, const char *params, GError **error)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "path", g_variant_new_string ("/usr/bin/qemu-system-x86_64"));
  g_variant_builder_add (&b, "{sv}", "accel", g_variant_new_string ("tcg"));
  g_variant_builder_add (&b, "{sv}", "machine", g_variant_new_string (machine));
  g_variant_builder_add (&b, "{sv}", "seccomp_sandbox", g_variant_new_boolean (seccomp));
  if (params != NULL)
    g_variant_builder_add (&b, "{sv}", "kernel_params", g_variant_new_string (params));
  g_autoptr (GVariant) settings = g_variant_ref_sink (g_variant_builder_end (&b));
  VcPluginHost host = { .struct_size = sizeof host, .abi_major = VC_ABI_MAJOR, .abi_minor = VC_ABI_MINOR };
  return vc_plugin_descriptor ()->create (&host, settings, error);
}

static VcVmConfig
make_config (const char *state_dir)
{
  VcVmConfig c = {
    .struct_size = sizeof c, .sandbox_id = "sb1", .state_dir = state_dir,
    .vcpus = 1, .max_vcpus = 4, .memory_mib = 256, .max_memory_mib = 1024,
    .kernel = "/boot/vmlinuz", .initrd = "/boot/initrd.img", .kernel_params = "sb=param",
    .agent_transport = VC_AGENT_TRANSPORT_SERIAL,
  };
  return c;
}

static char *
cmdline_of (VcVm *vm)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = qemu_cmdline_build (vm, &error);
  g_assert_no_error (error);
  return g_strjoinv ("\n", (char **) argv->pdata);
}

static void
test_settings (void)
{
  const VcPluginDescriptor *desc = vc_plugin_descriptor ();
  g_assert_cmpstr (desc->name, ==, "hypervisor-qemu");
  g_assert_cmpuint (desc->kinds, ==, VC_PLUGIN_KIND_HYPERVISOR);
  gboolean saw_machine = FALSE;
  for (const VcSettingSpec *s = desc->settings; s->name != NULL; s++)
    if (g_str_equal (s->name, "machine"))
      {
        saw_machine = TRUE;
        g_assert_cmpstr (s->default_value, ==, "q35");
      }
  g_assert_true (saw_machine);

  g_autoptr (GError) error = NULL;
  VcPluginInstance *self = make_instance ("q35", FALSE, "bad\nparams", &error);
  g_assert_null (self);
  g_assert_error (error, VC_ERROR, VC_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "kernel_params"));
  g_clear_error (&error);

  self = make_instance ("microvm", FALSE, NULL, &error);
  g_assert_no_error (error);
  guint64 caps = desc->hypervisor->capabilities (self);
  g_assert_false (caps & VC_HV_CAP_HOTPLUG_BLOCK);
  g_assert_true (caps & VC_HV_CAP_PAUSE);
  desc->destroy (self);
}

static void
test_q35_cmdline (void)
{
  g_autoptr (GError) error = NULL;
  VcPluginInstance *self = make_instance ("q35", TRUE, "plugin=param", &error);
  g_assert_no_error (error);
  /* A comma in the state directory must be doubled in QEMU options. */
  g_autofree char *dir = g_build_filename (tmpdir, "a,b", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  VcVmConfig config = make_config (dir);
  VcVm *vm = qemu_vm_new (self, &config, &error);
  g_assert_no_error (error);

  g_autofree char *image = g_build_filename (dir, "disk.img", NULL);
  g_assert_true (g_file_set_contents (image, "", 0, NULL));
  g_autoptr (VcDevice) blk = vc_device_new (VC_DEVICE_BLOCK, "d1", image, NULL);
  blk->readonly = TRUE;
  VcGuestDevice guest = { .struct_size = sizeof guest };
  g_assert_true (qemu_add_device (vm, blk, &guest, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (guest.driver, ==, "blk");
  /* A disk given before start goes behind a spare root port (vc-rp0 at
   * 0x10), so that it can be unplugged later like a hot-plugged one. */
  g_assert_cmpstr (guest.guest_address, ==, "10/00");
  vc_guest_device_clear (&guest);

  g_autoptr (VcDevice) p9 = vc_device_new (VC_DEVICE_FS_9P, "fs1", dir, "tag9");
  p9->security_model = g_strdup ("mapped-xattr");
  g_assert_true (qemu_add_device (vm, p9, &guest, &error));
  g_assert_cmpstr (guest.guest_address, ==, "03");
  vc_guest_device_clear (&guest);

  g_autoptr (VcDevice) vu = vc_device_new (VC_DEVICE_FS_VHOST_USER, "vfs", "/run/v,fs.sock", "tagfs");
  vu->queue_size = 1024;
  g_assert_true (qemu_add_device (vm, vu, NULL, &error));
  g_assert_no_error (error);

  g_autofree char *cmd = cmdline_of (vm);
  g_autofree char *qmp = g_strdup_printf ("socket,id=vc-qmp,path=%s/a,,b/qmp.sock,server=on,wait=off", tmpdir);
  g_assert_nonnull (strstr (cmd, qmp));
  g_assert_nonnull (strstr (cmd, "\n-nodefaults\n-no-user-config\n"));
  g_assert_nonnull (strstr (cmd, "\n-accel\ntcg\n-cpu\nmax\n"));
  g_assert_nonnull (strstr (cmd, "\n-smp\n1,maxcpus=4\n"));
  g_assert_nonnull (strstr (cmd, "\n-m\n256M,slots=8,maxmem=1024M\n"));
  g_assert_nonnull (strstr (cmd, "memory-backend-memfd,id=vc-mem0,size=256M,share=on"));
  g_assert_nonnull (strstr (cmd, "\n-numa\nnode,memdev=vc-mem0\n"));
  g_assert_nonnull (strstr (cmd, "console=ttyS0 panic=1"));
  g_assert_nonnull (strstr (cmd, " plugin=param sb=param\n"));
  g_assert_nonnull (strstr (cmd, "name=agent.channel.0,id=vc-agent-port"));
  g_assert_nonnull (strstr (cmd, "\"driver\":\"virtio-blk-pci\""));
  g_assert_nonnull (strstr (cmd, "\"read-only\":true"));
  g_assert_nonnull (strstr (cmd, "security_model=mapped-xattr"));
  g_assert_nonnull (strstr (cmd, "\"mount_tag\":\"tag9\""));
  g_assert_nonnull (strstr (cmd, "path=/run/v,,fs.sock"));
  g_assert_nonnull (strstr (cmd, "\"driver\":\"vhost-user-fs-pci\""));
  g_assert_nonnull (strstr (cmd, "\"queue-size\":1024"));
  g_assert_nonnull (strstr (cmd, "pcie-root-port,id=vc-rp0,bus=pcie.0,chassis=1,addr=0x10"));
  g_assert_nonnull (strstr (cmd, "\n-sandbox\non,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));

  /* Not started: what may and may not be done. */
  g_assert_cmpint (qemu_get_status (vm, &error), ==, VC_VM_STATUS_CREATED);
  g_assert_false (qemu_pause_vm (vm, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_null (qemu_save_state (vm, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_false (qemu_hotplug_add (vm, blk, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_STATE);
  g_clear_error (&error);
  g_assert_true (qemu_stop_vm (vm, 0, &error));
  g_assert_no_error (error);
  qemu_free_vm (vm);
  vc_plugin_descriptor ()->destroy (self);
}

static void
test_microvm_cmdline (void)
{
  g_autoptr (GError) error = NULL;
  VcPluginInstance *self = make_instance ("microvm", FALSE, NULL, &error);
  g_assert_no_error (error);
  VcVmConfig config = make_config (tmpdir);
  VcVm *vm = qemu_vm_new (self, &config, &error);
  g_assert_no_error (error);
  g_autoptr (VcDevice) p9 = vc_device_new (VC_DEVICE_FS_9P, "fs1", tmpdir, "tag9");
  VcGuestDevice guest = { .struct_size = sizeof guest };
  g_assert_true (qemu_add_device (vm, p9, &guest, &error));
  g_assert_null (guest.guest_address);
  vc_guest_device_clear (&guest);
  g_autofree char *cmd = cmdline_of (vm);
  g_assert_nonnull (strstr (cmd, "\n-machine\nmicrovm"));
  g_assert_nonnull (strstr (cmd, "virtio-serial-device,id=vc-serial"));
  g_assert_nonnull (strstr (cmd, "\"driver\":\"virtio-9p-device\""));
  g_assert_null (strstr (cmd, "pcie-root-port"));
  g_assert_null (strstr (cmd, "slots="));
  g_assert_null (strstr (cmd, "-sandbox"));
  if (self->tsc_khz > 0)
    g_assert_nonnull (strstr (cmd, "tsc_early_khz="));
  g_assert_false (qemu_resize_vcpus (vm, 2, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_STATE);
  qemu_free_vm (vm);
  vc_plugin_descriptor ()->destroy (self);
}

static void
test_bad_configs (void)
{
  g_autoptr (GError) error = NULL;
  VcPluginInstance *self = make_instance ("q35", FALSE, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *long_dir = g_strnfill (120, 'x');
  g_autofree char *long_path = g_build_filename ("/tmp", long_dir, NULL);
  struct { const char *what; VcVmConfig config; int code; } cases[] = {
    { "bad id", make_config (tmpdir), VC_ERROR_INVALID_ARGUMENT },
    { "relative state dir", make_config ("relative/dir"), VC_ERROR_INVALID_ARGUMENT },
    { "no vcpus", make_config (tmpdir), VC_ERROR_INVALID_ARGUMENT },
    { "max below vcpus", make_config (tmpdir), VC_ERROR_INVALID_ARGUMENT },
    { "tiny memory", make_config (tmpdir), VC_ERROR_INVALID_ARGUMENT },
    { "no kernel", make_config (tmpdir), VC_ERROR_INVALID_ARGUMENT },
    { "hybrid vsock", make_config (tmpdir), VC_ERROR_NOT_SUPPORTED },
    { "socket path too long", make_config (long_path), VC_ERROR_INVALID_ARGUMENT },
  };
  cases[0].config.sandbox_id = "../escape";
  cases[2].config.vcpus = 0;
  cases[3].config.vcpus = 8;
  cases[4].config.memory_mib = 16;
  cases[5].config.kernel = NULL;
  cases[6].config.agent_transport = VC_AGENT_TRANSPORT_HYBRID_VSOCK;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      VcVm *vm = qemu_vm_new (self, &cases[i].config, &error);
      if (vm != NULL)
        g_error ("%s: accepted", cases[i].what);
      g_assert_error (error, VC_ERROR, cases[i].code);
      g_clear_error (&error);
    }

  VcVmConfig config = make_config (tmpdir);
  VcVm *vm = qemu_vm_new (self, &config, &error);
  g_assert_no_error (error);
  g_autofree char *missing = g_build_filename (tmpdir, "missing.img", NULL);
  struct { const char *what; VcDevice *dev; int code; } devs[] = {
    { "relative path", vc_device_new (VC_DEVICE_BLOCK, "d", "disk.img", NULL), VC_ERROR_INVALID_ARGUMENT },
    { "missing image", vc_device_new (VC_DEVICE_BLOCK, "d", missing, NULL), VC_ERROR_NOT_FOUND },
    { "bad format", vc_device_new (VC_DEVICE_BLOCK, "d", "/etc/hostname", NULL), VC_ERROR_INVALID_ARGUMENT },
    { "comma in id", vc_device_new (VC_DEVICE_BLOCK, "d,x", "/etc/hostname", NULL), VC_ERROR_INVALID_ARGUMENT },
    { "9p without tag", vc_device_new (VC_DEVICE_FS_9P, "f", tmpdir, NULL), VC_ERROR_INVALID_ARGUMENT },
    { "9p of a file", vc_device_new (VC_DEVICE_FS_9P, "f", "/etc/hostname", "t"), VC_ERROR_NOT_FOUND },
    { "DAX window", vc_device_new (VC_DEVICE_FS_VHOST_USER, "v", "/run/x.sock", "t"), VC_ERROR_NOT_SUPPORTED },
    { "managed virtiofs", vc_device_new (VC_DEVICE_FS_VIRTIOFS, "v", tmpdir, "t"), VC_ERROR_NOT_SUPPORTED },
  };
  devs[2].dev->format = g_strdup ("vmdk");
  devs[6].dev->cache_size = 1 << 30;
  for (guint i = 0; i < G_N_ELEMENTS (devs); i++)
    {
      if (qemu_add_device (vm, devs[i].dev, NULL, &error))
        g_error ("%s: accepted", devs[i].what);
      g_assert_error (error, VC_ERROR, devs[i].code);
      g_clear_error (&error);
      vc_device_free (devs[i].dev);
    }
  g_autoptr (VcDevice) ok = vc_device_new (VC_DEVICE_BLOCK, "d", "/etc/hostname", NULL);
  g_assert_true (qemu_add_device (vm, ok, NULL, &error));
  g_assert_false (qemu_add_device (vm, ok, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_clear_error (&error);
  qemu_free_vm (vm);
  vc_plugin_descriptor ()->destroy (self);
}

static void
test_attach_refusals (void)
{
  g_autoptr (GError) error = NULL;
  VcPluginInstance *self = make_instance ("q35", FALSE, NULL, &error);
  g_assert_no_error (error);
  VcVmConfig config = make_config (tmpdir);
  const char *garbage[] = { "", "not json", "[]", "{\"version\": 2}", "{\"version\": 1, \"pid\": \"x\"}" };
  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_assert_null (qemu_attach_vm (self, &config, garbage[i], &error));
      g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }
  /* A well-formed state whose pid is alive but started at another time:
   * pid reuse, not our QEMU. */
  g_autofree char *state = g_strdup_printf (
      "{\"version\": 1, \"machine\": \"q35\", \"kvm\": false, \"pid\": %d, \"start_time\": 1,"
      " \"qmp_socket\": \"%s/qmp.sock\", \"agent_socket\": \"%s/agent.sock\","
      " \"console\": \"%s/console.log\", \"pid_file\": \"%s/qemu.pid\", \"log\": \"%s/qemu.log\","
      " \"agent_transport\": \"serial\", \"vsock_cid\": 3, \"agent_open\": false, \"vcpus\": 1,"
      " \"max_vcpus\": 1, \"memory_mib\": 256, \"max_memory_mib\": 256, \"plugged_mib\": 0,"
      " \"dimms\": 0, \"shared_memory\": false, \"devices\": []}",
      (int) getpid (), tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
  g_assert_null (qemu_attach_vm (self, &config, state, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  g_assert_nonnull (strstr (error->message, "no longer running"));
  vc_plugin_descriptor ()->destroy (self);
}

/* A fake qemu-system-x86_64: a shell script with body. */
static char *
fake_qemu (const char *name, const char *body)
{
  g_autofree char *text = g_strdup_printf ("#!/bin/sh\n%s\n", body);
  char *path = g_build_filename (tmpdir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  g_assert_cmpint (g_chmod (path, 0755), ==, 0);
  return path;
}

/* The KVM probe of accel auto (qemu-kvm-probe.c) believes QEMU's exit. */
static void
test_kvm_probe (void)
{
  g_autofree char *why = NULL;
  /* Runs the probe firmware: its reset vector (the last 16 bytes of the
   * -bios file) writes 0x31 to the isa-debug-exit port, so QEMU exits 99. */
  g_autofree char *good = fake_qemu ("qemu-good",
      "case \"$*\" in *'-accel kvm -cpu host -machine q35'*'isa-debug-exit,iobase=0xf4'*) ;; *) exit 4 ;; esac\n"
      "while [ $# -gt 0 ] && [ \"$1\" != -bios ]; do shift; done\n"
      "[ \"$(tail -c 16 \"$2\" | od -An -tx1 -N4 | tr -d ' ')\" = b031e6f4 ] || exit 5\n"
      "exit 99");
  g_assert_true (qemu_kvm_probe (good, "q35", &why));
  g_assert_null (why);
  /* A vCPU that never makes progress (a guest that hangs under KVM). */
  g_autofree char *hang = fake_qemu ("qemu-hang", "exec sleep 30");
  g_assert_false (qemu_kvm_probe (hang, "q35", &why));
  g_assert_cmpstr (why, ==, "a KVM vCPU made no progress within 5000 ms");
  g_clear_pointer (&why, g_free);
  /* Aborts as a nested KVM does on -cpu host. */
  g_autofree char *msr = fake_qemu ("qemu-msr",
      "echo 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' >&2\nkill -ABRT $$");
  g_assert_false (qemu_kvm_probe (msr, "q35", &why));
  g_assert_cmpstr (why, ==, "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69");
  g_clear_pointer (&why, g_free);
  /* Dies silently: the status says why. */
  g_autofree char *silent = fake_qemu ("qemu-silent", "exec 2>&-; exit 7");
  g_assert_false (qemu_kvm_probe (silent, "q35", &why));
  g_assert_cmpstr (why, ==, "QEMU exited with status 7, not the probe's 99");
  g_clear_pointer (&why, g_free);
  /* Missing. */
  g_autofree char *missing = g_build_filename (tmpdir, "no-such-qemu", NULL);
  g_assert_false (qemu_kvm_probe (missing, "q35", &why));
  g_assert_nonnull (why);
  g_test_message ("missing QEMU: %s", why);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("vcrun-qemu-unit-XXXXXX", NULL);
  g_test_add_func ("/qemu-config/settings", test_settings);
  g_test_add_func ("/qemu-config/q35-cmdline", test_q35_cmdline);
  g_test_add_func ("/qemu-config/microvm-cmdline", test_microvm_cmdline);
  g_test_add_func ("/qemu-config/bad-configs", test_bad_configs);
  g_test_add_func ("/qemu-config/attach-refusals", test_attach_refusals);
  g_test_add_func ("/qemu-config/kvm-probe", test_kvm_probe);
  int rc = g_test_run ();
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmpdir);
  (void) !system (cmd);
  g_free (tmpdir);
  return rc;
}
