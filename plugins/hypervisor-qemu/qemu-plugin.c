/* hypervisor-qemu: the plugin descriptor, its settings, the instance and the
 * host checks. The VM methods live in qemu-vm.c, qemu-hotplug.c, qemu-state.c. */
#include "config.h"

#include "qemu-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char *const accel_choices[] = { "auto", "kvm", "tcg", NULL };
static const char *const machine_choices[] = { "q35", "microvm", NULL };

static const VcSettingSpec qemu_settings[] = {
  { "path", VC_SETTING_STRING, "the qemu-system-x86_64 binary",
    "/usr/bin/qemu-system-x86_64", 0, 0, NULL },
  { "accel", VC_SETTING_ENUM, "auto: KVM when QEMU can use it here (probed at the first VM), else TCG",
    "auto", 0, 0, accel_choices },
  { "machine", VC_SETTING_ENUM, "q35 (PCIe, hotplug) or microvm (virtio-mmio, no hotplug)",
    "q35", 0, 0, machine_choices },
  { "seccomp_sandbox", VC_SETTING_BOOL, "run QEMU under its own seccomp filter (-sandbox on,...)",
    "true", 0, 0, NULL },
  { "kernel_params", VC_SETTING_STRING, "extra guest kernel parameters for every sandbox",
    NULL, 0, 0, NULL },
  { "pvh", VC_SETTING_BOOL, "boot the uncompressed vmlinux beside the configured bzImage through its PVH entry, when it has one",
    "true", 0, 0, NULL },
  { NULL, 0, NULL, NULL, 0, 0, NULL },
};

static const char *
setting_string (GVariant *settings, const char *key)
{
  const char *value = NULL;
  if (settings == NULL || !g_variant_lookup (settings, key, "&s", &value))
    return NULL;
  return value;
}

static gboolean
setting_bool (GVariant *settings, const char *key, gboolean fallback)
{
  gboolean value = fallback;
  if (settings != NULL)
    g_variant_lookup (settings, key, "b", &value);
  return value;
}

/* KVM is usable when /dev/kvm opens read-write; why not is left in *why. */
static gboolean
kvm_usable (char **why)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      *why = g_strdup_printf ("/dev/kvm: %s", g_strerror (errno));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

/* The host's TSC rate in kHz, 0 if unknown. Under TCG the guest's rdtsc
 * reads the host's TSC, and on a busy host the guest's calibration goes
 * wrong (microvm, with no HPET or ACPI PM timer, hangs early; q35 gets a
 * clock that runs fast), so TCG guests get tsc_early_khz. */
static guint64
host_tsc_khz (void)
{
  g_autofree char *text = NULL;
  if (g_file_get_contents ("/sys/devices/system/cpu/cpu0/tsc_freq_khz", &text, NULL, NULL))
    return g_ascii_strtoull (text, NULL, 10);
  g_clear_pointer (&text, g_free);
  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    return 0;
  const char *line = strstr (text, "\ncpu MHz");
  const char *colon = line != NULL ? strchr (line, ':') : NULL;
  if (colon == NULL)
    return 0;
  return (guint64) (g_ascii_strtod (colon + 1, NULL) * 1000.0);
}

static gpointer
decide_accel (gpointer data)
{
  VcPluginInstance *self = data;
  const char *machine = self->machine == QEMU_MACHINE_Q35 ? "q35" : "microvm";
  self->use_kvm = kvm_usable (&self->kvm_why)
                  && qemu_kvm_probe (self->qemu_path, machine, &self->kvm_why);
  if (self->use_kvm)
    g_message ("hypervisor-qemu: accel auto: using KVM");
  else
    g_message ("hypervisor-qemu: accel auto: using TCG (software emulation; KVM: %s)",
               self->kvm_why);
  return NULL;
}

gboolean
qemu_plugin_use_kvm (VcPluginInstance *self)
{
  if (self->accel_auto)
    g_once (&self->accel_once, decide_accel, self);
  return self->use_kvm;
}

static void
qemu_instance_free (VcPluginInstance *self)
{
  if (self == NULL)
    return;
  g_free (self->qemu_path);
  g_free (self->kernel_params);
  g_free (self->kvm_why);
  g_free (self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcPluginInstance, qemu_instance_free)

static VcPluginInstance *
qemu_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  g_autoptr (VcPluginInstance) self = g_new0 (VcPluginInstance, 1);

  const char *path = setting_string (settings, "path");
  self->qemu_path = g_strdup (path != NULL ? path : "/usr/bin/qemu-system-x86_64");
  if (!g_path_is_absolute (self->qemu_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "path: '%s' is not an absolute path",
                   self->qemu_path);
      return NULL;
    }

  const char *machine = setting_string (settings, "machine");
  if (machine == NULL || g_str_equal (machine, "q35"))
    self->machine = QEMU_MACHINE_Q35;
  else if (g_str_equal (machine, "microvm"))
    self->machine = QEMU_MACHINE_MICROVM;
  else
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "machine: '%s' is not q35 or microvm", machine);
      return NULL;
    }

  const char *accel = setting_string (settings, "accel");
  g_autofree char *why = NULL;
  if (accel == NULL || g_str_equal (accel, "auto"))
    self->accel_auto = TRUE;  /* probed at the first VM: most commands boot none */
  else if (g_str_equal (accel, "kvm"))
    {
      if (!kvm_usable (&why))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "accel: kvm is not usable here (%s)", why);
          return NULL;
        }
      self->use_kvm = TRUE;
    }
  else if (g_str_equal (accel, "tcg"))
    self->use_kvm = FALSE;
  else
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "accel: '%s' is not auto, kvm or tcg", accel);
      return NULL;
    }

  self->seccomp_sandbox = setting_bool (settings, "seccomp_sandbox", TRUE);
  const char *params = setting_string (settings, "kernel_params");
  if (params != NULL && strpbrk (params, "\n\r") != NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_CONFIG, "kernel_params: must be one line");
      return NULL;
    }
  self->kernel_params = g_strdup (params);
  self->pvh = setting_bool (settings, "pvh", TRUE);
  self->have_vhost_vsock = access ("/dev/vhost-vsock", R_OK | W_OK) == 0;
  /* Under TCG only: on a busy host the guest's own calibration goes wrong
   * (microvm: it hangs; q35: its clock runs fast, and a template would pass
   * the error on to every sandbox restored from it). */
  self->tsc_khz = host_tsc_khz ();
  return g_steal_pointer (&self);
}

static guint64
qemu_capabilities (VcPluginInstance *self)
{
  guint64 caps = VC_HV_CAP_PAUSE | VC_HV_CAP_FS_9P | VC_HV_CAP_FS_VHOST_USER
                 | VC_HV_CAP_AGENT_SERIAL | VC_HV_CAP_REATTACH | VC_HV_CAP_TEMPLATE
                 | VC_HV_CAP_NET_TAP_FD;
  /* microvm has only virtio-mmio and no ACPI hotplug. */
  if (self->machine == QEMU_MACHINE_Q35)
    caps |= VC_HV_CAP_HOTPLUG_BLOCK | VC_HV_CAP_HOTPLUG_VCPU | VC_HV_CAP_HOTPLUG_MEMORY
            | VC_HV_CAP_COLD_PLUG_BLOCK;  /* disks behind root ports: unpluggable */
  if (self->have_vhost_vsock)
    caps |= VC_HV_CAP_AGENT_VSOCK;
  return caps;
}

static gboolean
qemu_check (VcPluginInstance *self, GString *report, GError **error)
{
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  const char *argv[] = { self->qemu_path, "--version", NULL };
  g_autoptr (GError) spawn_error = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                     &out, &err, &status, &spawn_error)
      || !g_spawn_check_wait_status (status, NULL))
    {
      const char *why = spawn_error != NULL ? spawn_error->message : (err != NULL ? g_strstrip (err) : "");
      g_string_append_printf (report, "qemu: missing (%s: %s)\n", self->qemu_path, why);
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "QEMU at '%s' cannot run: %s",
                   self->qemu_path, why);
      return FALSE;
    }
  char *nl = strchr (out, '\n');
  if (nl != NULL)
    *nl = '\0';
  g_string_append_printf (report, "qemu: ok (%s: %s)\n", self->qemu_path, out);

  g_autofree char *why = NULL;
  if (!kvm_usable (&why))
    g_string_append_printf (report, "kvm: missing (%s), using TCG software emulation\n", why);
  else if (!qemu_plugin_use_kvm (self))
    {
      if (self->accel_auto)
        g_string_append_printf (report, "kvm: does not work with QEMU here (%s), using TCG software emulation\n",
                                self->kvm_why);
      else
        g_string_append (report, "kvm: ok, not used (accel tcg)\n");
    }
  else
    g_string_append (report, "kvm: ok\n");
  g_string_append_printf (report, "vhost-vsock: %s\n",
                          self->have_vhost_vsock ? "ok" : "missing (/dev/vhost-vsock), agent uses virtio-serial");
  g_string_append_printf (report, "machine: %s\n",
                          self->machine == QEMU_MACHINE_Q35 ? "q35" : "microvm");
  g_string_append_printf (report, "confinement: %s\n", qemu_confinement (self));
  return TRUE;
}

static VcVm *
qemu_create_vm (VcPluginInstance *self, const VcVmConfig *config, GError **error)
{
  VcVm *vm = qemu_vm_new (self, config, error);
  if (vm == NULL)
    return NULL;
  char *kernel = qemu_kernel_pick (self, vm->kernel, error);
  if (kernel == NULL)
    {
      qemu_free_vm (vm);
      return NULL;
    }
  g_free (vm->kernel);
  vm->kernel = kernel;
  return vm;
}

static const VcHypervisorOps qemu_hypervisor_ops_table = {
  .version = VC_HYPERVISOR_OPS_VERSION,
  .size = sizeof (VcHypervisorOps),
  .capabilities = qemu_capabilities,
  .check = qemu_check,
  .create_vm = qemu_create_vm,
  .add_device = qemu_add_device,
  .start_vm = qemu_start_vm,
  .stop_vm = qemu_stop_vm,
  .pause_vm = qemu_pause_vm,
  .resume_vm = qemu_resume_vm,
  .get_status = qemu_get_status,
  .hotplug_add = qemu_hotplug_add,
  .hotplug_remove = qemu_hotplug_remove,
  .resize_vcpus = qemu_resize_vcpus,
  .resize_memory = qemu_resize_memory,
  .console_path = qemu_console_path,
  .get_pids = qemu_get_pids,
  .get_vcpu_tids = qemu_get_vcpu_tids,
  .get_agent_endpoint = qemu_get_agent_endpoint,
  .wait_agent_channel = qemu_wait_agent_channel,
  .save_state = qemu_save_state,
  .attach_vm = qemu_attach_vm,
  .free_vm = qemu_free_vm,
  .template_identity = qemu_template_identity,
  .save_template = qemu_save_template,
};

static const VcPluginDescriptor qemu_descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "hypervisor-qemu",
  .version = PACKAGE_VERSION,
  .description = "QEMU (KVM or TCG) driven over QMP",
  .kinds = VC_PLUGIN_KIND_HYPERVISOR,
  .settings = qemu_settings,
  .create = qemu_create,
  .destroy = qemu_instance_free,
  .hypervisor = &qemu_hypervisor_ops_table,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &qemu_descriptor;
}
