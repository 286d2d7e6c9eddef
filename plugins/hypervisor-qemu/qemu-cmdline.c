/* hypervisor-qemu: the QEMU command line, and the JSON arguments of the
 * devices it cold-plugs (the same ones hotplug sends over QMP). */
#include "config.h"

#include "qemu-plugin.h"

#include <string.h>
#include <sys/stat.h>

/* QEMU's option syntax splits on ','; a literal comma is written ",,". */
char *
qemu_escape_option (const char *value)
{
  GString *out = g_string_sized_new (strlen (value) + 8);
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == ',')
        g_string_append_c (out, ',');
      g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

static gboolean
id_is_safe (const char *id)
{
  if (id == NULL || *id == '\0' || strlen (id) > 96)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

gboolean
qemu_device_validate (VcVm *vm, const VcDevice *device, GError **error)
{
  if (device == NULL || device->struct_size < sizeof (VcDevice))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "device: NULL or a VcDevice from an older ABI without all 1.0 fields");
      return FALSE;
    }
  if (!id_is_safe (device->id))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "device id '%s' must be 1-96 characters of A-Z a-z 0-9 - _ .",
                   device->id != NULL ? device->id : "(null)");
      return FALSE;
    }
  if (qemu_vm_find_device (vm, device->id) != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "device '%s' already exists in VM '%s'",
                   device->id, vm->sandbox_id);
      return FALSE;
    }
  if (device->type == VC_DEVICE_NET)
    return qemu_net_validate (vm, device, error);
  if (device->host_path == NULL || !g_path_is_absolute (device->host_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "device '%s': host path '%s' is not absolute", device->id,
                   device->host_path != NULL ? device->host_path : "(null)");
      return FALSE;
    }
  switch (device->type)
    {
    case VC_DEVICE_BLOCK:
      if (device->format != NULL && !g_str_equal (device->format, "raw")
          && !g_str_equal (device->format, "qcow2"))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device '%s': format '%s' is not raw or qcow2", device->id, device->format);
          return FALSE;
        }
      if (!g_file_test (device->host_path, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "device '%s': '%s' does not exist",
                       device->id, device->host_path);
          return FALSE;
        }
      return TRUE;
    case VC_DEVICE_FS_9P:
      if (device->security_model != NULL && !g_str_equal (device->security_model, "mapped-xattr")
          && !g_str_equal (device->security_model, "passthrough")
          && !g_str_equal (device->security_model, "none")
          && !g_str_equal (device->security_model, "mapped-file"))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device '%s': 9p security model '%s' is unknown", device->id,
                       device->security_model);
          return FALSE;
        }
      if (!g_file_test (device->host_path, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "device '%s': '%s' is not a directory",
                       device->id, device->host_path);
          return FALSE;
        }
      G_GNUC_FALLTHROUGH; /* both file systems need a tag */
    case VC_DEVICE_FS_VHOST_USER:
      if (device->tag == NULL || *device->tag == '\0' || strlen (device->tag) > 31
          || strchr (device->tag, ',') != NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device '%s': mount tag '%s' must be 1-31 characters without ','",
                       device->id, device->tag != NULL ? device->tag : "(null)");
          return FALSE;
        }
      if (device->type == VC_DEVICE_FS_VHOST_USER && device->cache_size != 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                       "device '%s': this QEMU has no DAX window for vhost-user-fs (cache_size must be 0)",
                       device->id);
          return FALSE;
        }
      return TRUE;
    case VC_DEVICE_FS_VIRTIOFS:
    case VC_DEVICE_VFIO:
    default:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': type %d is not supported by hypervisor-qemu", device->id,
                   (int) device->type);
      return FALSE;
    }
}

/* blockdev-add arguments (and the -blockdev JSON): a format node over a file node. */
JsonObject *
qemu_blockdev_args (QemuDevice *dev)
{
  /* QEMU's "file" driver refuses a block device node: that is "host_device". */
  struct stat st;
  gboolean host_device = stat (dev->device->host_path, &st) == 0 && S_ISBLK (st.st_mode);
  JsonObject *file = json_object_new ();
  json_object_set_string_member (file, "driver", host_device ? "host_device" : "file");
  json_object_set_string_member (file, "filename", dev->device->host_path);
  json_object_set_boolean_member (file, "read-only", dev->device->readonly);

  JsonObject *args = json_object_new ();
  json_object_set_string_member (args, "driver",
                                 dev->device->format != NULL ? dev->device->format : "raw");
  json_object_set_string_member (args, "node-name", dev->node_name);
  json_object_set_boolean_member (args, "read-only", dev->device->readonly);
  json_object_set_object_member (args, "file", file);
  return args;
}

/* device_add arguments (and the -device JSON) of a block or file-system device. */
JsonObject *
qemu_device_args (VcVm *vm, QemuDevice *dev)
{
  gboolean mmio = vm->machine == QEMU_MACHINE_MICROVM;
  JsonObject *args = json_object_new ();
  switch (dev->device->type)
    {
    case VC_DEVICE_BLOCK:
      json_object_set_string_member (args, "driver", mmio ? "virtio-blk-device" : "virtio-blk-pci");
      json_object_set_string_member (args, "drive", dev->node_name);
      break;
    case VC_DEVICE_FS_9P:
      json_object_set_string_member (args, "driver", mmio ? "virtio-9p-device" : "virtio-9p-pci");
      json_object_set_string_member (args, "fsdev", dev->node_name);
      json_object_set_string_member (args, "mount_tag", dev->device->tag);
      break;
    case VC_DEVICE_FS_VHOST_USER:
      json_object_set_string_member (args, "driver", mmio ? "vhost-user-fs-device" : "vhost-user-fs-pci");
      json_object_set_string_member (args, "chardev", dev->chardev_id);
      json_object_set_string_member (args, "tag", dev->device->tag);
      if (dev->device->queue_size != 0)
        json_object_set_int_member (args, "queue-size", dev->device->queue_size);
      break;
    case VC_DEVICE_NET:
      qemu_net_device_args (vm, dev, args);
      break;
    default:
      g_assert_not_reached ();
    }
  json_object_set_string_member (args, "id", dev->qemu_id);
  if (!mmio)
    {
      if (dev->port >= 0)
        {
          g_autofree char *bus = g_strdup_printf ("vc-rp%d", dev->port);
          json_object_set_string_member (args, "bus", bus);
          json_object_set_string_member (args, "addr", "0x0");
        }
      else
        {
          g_autofree char *addr = g_strdup_printf ("0x%x", dev->slot);
          json_object_set_string_member (args, "bus", "pcie.0");
          json_object_set_string_member (args, "addr", addr);
        }
    }
  return args;
}

static char *
json_text (JsonObject *object)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, object);
  return json_to_string (node, FALSE);
}

static void
add (GPtrArray *argv, const char *option, char *value)
{
  g_ptr_array_add (argv, g_strdup (option));
  if (value != NULL)
    g_ptr_array_add (argv, value);
}

static char *
kernel_cmdline (VcVm *vm)
{
  GString *s = g_string_new ("console=ttyS0 panic=1 quiet reboot=k");
  /* Kata's defaults: skip slow probes of hardware a sandbox does not have. */
  g_string_append (s, " i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1"
                      " cryptomgr.notests tsc=reliable no_timer_check");
  if (!vm->use_kvm && vm->plugin->tsc_khz > 0)
    g_string_append_printf (s, " tsc_early_khz=%" G_GUINT64_FORMAT, vm->plugin->tsc_khz);
  if (vm->plugin->kernel_params != NULL && *vm->plugin->kernel_params != '\0')
    g_string_append_printf (s, " %s", vm->plugin->kernel_params);
  if (vm->kernel_params != NULL && *vm->kernel_params != '\0')
    g_string_append_printf (s, " %s", vm->kernel_params);
  return g_string_free (s, FALSE);
}

GPtrArray *
qemu_cmdline_build (VcVm *vm, GError **error)
{
  gboolean q35 = vm->machine == QEMU_MACHINE_Q35;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup (vm->plugin->qemu_path));

  add (argv, "-name", g_strdup_printf ("vcrun-%s,debug-threads=on", vm->sandbox_id));
  add (argv, "-nodefaults", NULL);
  add (argv, "-no-user-config", NULL);
  add (argv, "-display", g_strdup ("none"));
  add (argv, "-no-reboot", NULL);
  add (argv, "-msg", g_strdup ("timestamp=on"));
  if (q35)
    add (argv, "-machine", g_strdup ("q35,sata=off,smbus=off,vmport=off"));
  else
    add (argv, "-machine", g_strdup ("microvm,rtc=on"));
  add (argv, "-accel", g_strdup (vm->use_kvm ? "kvm" : "tcg"));
  add (argv, "-cpu", g_strdup (vm->use_kvm ? "host" : "max"));
  add (argv, "-smp", g_strdup_printf ("%u,maxcpus=%u", vm->vcpus, vm->max_vcpus));

  if (q35 && vm->max_memory_mib > vm->memory_mib)
    add (argv, "-m", g_strdup_printf ("%" G_GUINT64_FORMAT "M,slots=%d,maxmem=%" G_GUINT64_FORMAT "M",
                                      vm->memory_mib, QEMU_MEMORY_SLOTS, vm->max_memory_mib));
  else
    add (argv, "-m", g_strdup_printf ("%" G_GUINT64_FORMAT "M", vm->memory_mib));
  if (vm->template_mode != VC_VM_TEMPLATE_NONE)
    qemu_template_args (vm, argv);  /* RAM, vmgenid, -incoming */
  else if (vm->shared_memory)
    {
      /* vhost-user back ends map guest memory: it must be a shareable file. */
      add (argv, "-object", g_strdup_printf ("memory-backend-memfd,id=vc-mem0,size=%" G_GUINT64_FORMAT "M,share=on",
                                             vm->memory_mib));
      add (argv, "-numa", g_strdup ("node,memdev=vc-mem0"));
    }

  add (argv, "-kernel", g_strdup (vm->kernel));
  if (vm->initrd != NULL)
    add (argv, "-initrd", g_strdup (vm->initrd));
  add (argv, "-append", kernel_cmdline (vm));

  g_autofree char *console = qemu_escape_option (vm->console_file);
  add (argv, "-chardev", g_strdup_printf ("file,id=vc-console,path=%s", console));
  add (argv, "-serial", g_strdup ("chardev:vc-console"));

  g_autofree char *qmp = qemu_escape_option (vm->qmp_path);
  add (argv, "-chardev", g_strdup_printf ("socket,id=vc-qmp,path=%s,server=on,wait=off", qmp));
  add (argv, "-mon", g_strdup ("chardev=vc-qmp,mode=control"));
  add (argv, "-pidfile", g_strdup (vm->pid_file));

  /* The agent's virtio-serial port. */
  if (q35)
    add (argv, "-device", g_strdup ("virtio-serial-pci,id=vc-serial,bus=pcie.0,addr=0x1"));
  else
    add (argv, "-device", g_strdup ("virtio-serial-device,id=vc-serial"));
  g_autofree char *agent = qemu_escape_option (vm->agent_path);
  add (argv, "-chardev", g_strdup_printf ("socket,id=vc-agent,path=%s,server=on,wait=off", agent));
  add (argv, "-device", g_strdup ("virtserialport,bus=vc-serial.0,chardev=vc-agent,name="
                                  QEMU_AGENT_PORT_NAME ",id=" QEMU_AGENT_PORT_ID));
  if (vm->agent_transport == VC_AGENT_TRANSPORT_VSOCK)
    add (argv, "-device", g_strdup_printf (q35 ? "vhost-vsock-pci,id=vc-vsock,guest-cid=%u,bus=pcie.0,addr=0x2"
                                               : "vhost-vsock-device,id=vc-vsock,guest-cid=%u",
                                           vm->vsock_cid));

  /* q35: the root ports where disks go (cold-plugged ones first, the rest
   * stay empty for hotplug); before the devices that name them. */
  if (q35)
    for (int i = 0; i < QEMU_HOTPLUG_PORTS; i++)
      add (argv, "-device", g_strdup_printf ("pcie-root-port,id=vc-rp%d,bus=pcie.0,chassis=%d,addr=0x%x",
                                             i, i + 1, QEMU_HOTPLUG_PORT_SLOT + i));

  /* Cold-plugged devices, in the order they were added. */
  for (guint i = 0; i < vm->devices->len; i++)
    {
      QemuDevice *dev = g_ptr_array_index (vm->devices, i);
      g_autofree char *path = qemu_escape_option (dev->device->host_path);
      switch (dev->device->type)
        {
        case VC_DEVICE_BLOCK:
          add (argv, "-blockdev", json_text (qemu_blockdev_args (dev)));
          break;
        case VC_DEVICE_FS_9P:
          add (argv, "-fsdev", g_strdup_printf ("local,id=%s,path=%s,security_model=%s%s", dev->node_name,
                                                path,
                                                dev->device->security_model != NULL ? dev->device->security_model : "none",
                                                dev->device->readonly ? ",readonly=on" : ""));
          break;
        case VC_DEVICE_FS_VHOST_USER:
          add (argv, "-chardev", g_strdup_printf ("socket,id=%s,path=%s", dev->chardev_id, path));
          break;
        case VC_DEVICE_NET:
          add (argv, "-netdev", qemu_net_netdev_arg (vm, dev));
          break;
        default:
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "device '%s': unsupported type",
                       dev->device->id);
          return NULL;
        }
      add (argv, "-device", json_text (qemu_device_args (vm, dev)));
    }

  if (vm->plugin->seccomp_sandbox)
    add (argv, "-sandbox", g_strdup (QEMU_SANDBOX_OPTIONS));

  g_ptr_array_add (argv, NULL);
  return g_steal_pointer (&argv);
}

const char *
qemu_confinement (const VcPluginInstance *plugin)
{
  return plugin->seccomp_sandbox ? "seccomp (-sandbox " QEMU_SANDBOX_OPTIONS ")"
                                 : "none (seccomp_sandbox = false)";
}
