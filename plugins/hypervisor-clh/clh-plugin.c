/* hypervisor-clh: the plugin descriptor, its settings, the instance, the
 * capabilities and the host check. The VM methods live in clh-vm.c,
 * clh-hotplug.c and clh-state.c. */
#include "config.h"

#include "clh-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kvm.h>

static const VcSettingSpec clh_settings[] = {
  { "path", VC_SETTING_STRING, "the cloud-hypervisor binary",
    "/usr/bin/cloud-hypervisor", 0, 0, NULL },
  { "api_timeout_ms", VC_SETTING_INT, "deadline of one REST API request (vm.create and vm.boot get the boot timeout)",
    "10000", 100, 600000, NULL },
  { "kernel_params", VC_SETTING_STRING, "extra guest kernel parameters for every sandbox",
    NULL, 0, 0, NULL },
  { "seccomp", VC_SETTING_BOOL, "run Cloud Hypervisor under its own seccomp filters (--seccomp)",
    "true", 0, 0, NULL },
  { NULL, 0, NULL, NULL, 0, 0, NULL },
};

static void
clh_instance_free (VcPluginInstance *self)
{
  if (self == NULL)
    return;
  g_free (self->clh_path);
  g_free (self->kernel_params);
  g_free (self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcPluginInstance, clh_instance_free)

static VcPluginInstance *
clh_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  g_autoptr (VcPluginInstance) self = g_new0 (VcPluginInstance, 1);
  const char *path = NULL, *params = NULL;
  gint64 timeout = 10000;
  gboolean seccomp = TRUE;
  if (settings != NULL)
    {
      g_variant_lookup (settings, "path", "&s", &path);
      g_variant_lookup (settings, "kernel_params", "&s", &params);
      g_variant_lookup (settings, "api_timeout_ms", "x", &timeout);
      g_variant_lookup (settings, "seccomp", "b", &seccomp);
    }
  self->clh_path = g_strdup (path != NULL ? path : "/usr/bin/cloud-hypervisor");
  if (!g_path_is_absolute (self->clh_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "path: '%s' is not an absolute path",
                   self->clh_path);
      return NULL;
    }
  if (timeout < 100 || timeout > 600000)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG,
                   "api_timeout_ms: %" G_GINT64_FORMAT " is outside 100..600000", timeout);
      return NULL;
    }
  if (params != NULL && strpbrk (params, "\n\r") != NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_CONFIG, "kernel_params: must be one line");
      return NULL;
    }
  self->api_timeout_ms = (guint) timeout;
  self->kernel_params = g_strdup (params);
  self->seccomp = seccomp;
  clh_api_global_init ();
  return g_steal_pointer (&self);
}

static guint64
clh_capabilities (VcPluginInstance *self)
{
  /* No virtio-9p and no virtio-serial: file systems over vhost-user-fs,
   * the agent over hybrid vsock. NICs on tap fds through vm.add-net. */
  return VC_HV_CAP_PAUSE | VC_HV_CAP_HOTPLUG_BLOCK | VC_HV_CAP_HOTPLUG_VCPU
         | VC_HV_CAP_HOTPLUG_MEMORY | VC_HV_CAP_FS_VHOST_USER | VC_HV_CAP_AGENT_HYBRID_VSOCK
         | VC_HV_CAP_REATTACH | VC_HV_CAP_NET_TAP_FD;
}

/* In a child process (a VM belongs to the process that made it): a
 * one-vCPU VM in real mode runs "mov al, 0x42; out 0x10, al; hlt". Exits 0
 * when the vCPU reached the out, else a step number. Only system calls
 * between fork and _exit. */
static int
vcpu_probe_child (int kvm)
{
  static const guint8 code[] = { 0xb0, 0x42, 0xe6, 0x10, 0xf4 };
  int vm = ioctl (kvm, KVM_CREATE_VM, 0);
  if (vm < 0)
    return 9;
  guint8 *mem = mmap (NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    return 10;
  memcpy (mem, code, sizeof code);
  struct kvm_userspace_memory_region region = {
    .slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000, .userspace_addr = (guint64) (gsize) mem,
  };
  if (ioctl (vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    return 11;
  int vcpu = ioctl (vm, KVM_CREATE_VCPU, 0);
  int run_size = ioctl (kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (vcpu < 0 || run_size <= 0)
    return 12;
  struct kvm_run *run = mmap (NULL, (size_t) run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  struct kvm_sregs sregs;
  if (run == MAP_FAILED || ioctl (vcpu, KVM_GET_SREGS, &sregs) < 0)
    return 13;
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  struct kvm_regs regs = { .rip = 0x1000, .rflags = 0x2 };
  if (ioctl (vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl (vcpu, KVM_SET_REGS, &regs) < 0)
    return 14;
  if (ioctl (vcpu, KVM_RUN, 0) < 0)
    return 15;
  if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x10
      || ((guint8 *) run)[run->io.data_offset] != 0x42)
    return 16;
  return 0;
}

/* Runs vcpu_probe_child with a deadline: a host where KVM makes VMs but
 * vCPUs hang or fail (nested set-ups) does not run Cloud Hypervisor. */
static gboolean
vcpu_runs (int kvm, char **why)
{
  pid_t pid = fork ();
  if (pid < 0)
    {
      *why = g_strdup_printf ("cannot fork the vCPU probe: %s", g_strerror (errno));
      return FALSE;
    }
  if (pid == 0)
    _exit (vcpu_probe_child (kvm));
  int status = 0;
  pid_t r = 0;
  for (int i = 0; i < 300 && (r = waitpid (pid, &status, WNOHANG)) == 0; i++)
    g_usleep (10 * 1000);
  if (r == 0)
    {
      kill (pid, SIGKILL);
      waitpid (pid, &status, 0);
      *why = g_strdup ("/dev/kvm makes VMs, but a vCPU did not run within 3 s");
      return FALSE;
    }
  if (r < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      *why = g_strdup_printf ("/dev/kvm makes VMs, but a vCPU does not run (probe step %d)",
                              r > 0 && WIFEXITED (status) ? WEXITSTATUS (status) : -1);
      return FALSE;
    }
  return TRUE;
}

/* Whether KVM works well enough for Cloud Hypervisor: /dev/kvm opens, has
 * the stable API, makes a VM and runs a vCPU. Why not in *why. */
static gboolean
kvm_works (char **why)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      *why = g_strdup_printf ("/dev/kvm: %s", g_strerror (errno));
      return FALSE;
    }
  int api = ioctl (fd, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION)
    {
      *why = g_strdup_printf ("/dev/kvm: API version %d, not %d", api, KVM_API_VERSION);
      close (fd);
      return FALSE;
    }
  int vm = ioctl (fd, KVM_CREATE_VM, 0);
  if (vm < 0)
    {
      *why = g_strdup_printf ("/dev/kvm: cannot create a VM: %s", g_strerror (errno));
      close (fd);
      return FALSE;
    }
  close (vm);
  gboolean runs = vcpu_runs (fd, why);
  close (fd);
  return runs;
}

static gboolean
clh_check (VcPluginInstance *self, GString *report, GError **error)
{
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  const char *argv[] = { self->clh_path, "--version", NULL };
  g_autoptr (GError) spawn_error = NULL;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL,
                     &out, &err, &status, &spawn_error)
      || !g_spawn_check_wait_status (status, NULL))
    {
      const char *why = spawn_error != NULL ? spawn_error->message : (err != NULL ? g_strstrip (err) : "");
      g_string_append_printf (report, "cloud-hypervisor: missing (%s: %s)\n", self->clh_path, why);
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "Cloud Hypervisor at '%s' cannot run: %s",
                   self->clh_path, why);
      return FALSE;
    }
  char *nl = strchr (out, '\n');
  if (nl != NULL)
    *nl = '\0';
  g_string_append_printf (report, "cloud-hypervisor: ok (%s: %s)\n", self->clh_path, g_strstrip (out));
  g_string_append (report, "agent: hybrid vsock; file systems: virtio-fs only (no 9p)\n");

  g_autofree char *why = NULL;
  if (!kvm_works (&why))
    {
      g_string_append_printf (report, "kvm: missing (%s): Cloud Hypervisor needs KVM\n", why);
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "Cloud Hypervisor needs KVM, which does not work here (%s)", why);
      return FALSE;
    }
  g_string_append (report, "kvm: ok\n");
  return TRUE;
}

static VcVm *
clh_create_vm (VcPluginInstance *self, const VcVmConfig *config, GError **error)
{
  return clh_vm_new (self, config, error);
}

static const VcHypervisorOps clh_hypervisor_ops_table = {
  .version = VC_HYPERVISOR_OPS_VERSION,
  .size = sizeof (VcHypervisorOps),
  .capabilities = clh_capabilities,
  .check = clh_check,
  .create_vm = clh_create_vm,
  .add_device = clh_add_device,
  .start_vm = clh_start_vm,
  .stop_vm = clh_stop_vm,
  .pause_vm = clh_pause_vm,
  .resume_vm = clh_resume_vm,
  .get_status = clh_get_status,
  .hotplug_add = clh_hotplug_add,
  .hotplug_remove = clh_hotplug_remove,
  .resize_vcpus = clh_resize_vcpus,
  .resize_memory = clh_resize_memory,
  .console_path = clh_console_path,
  .get_pids = clh_get_pids,
  .get_vcpu_tids = clh_get_vcpu_tids,
  .get_agent_endpoint = clh_get_agent_endpoint,
  .wait_agent_channel = clh_wait_agent_channel,
  .save_state = clh_save_state,
  .attach_vm = clh_attach_vm,
  .free_vm = clh_free_vm,
};

static const VcPluginDescriptor clh_descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "hypervisor-clh",
  .version = PACKAGE_VERSION,
  .description = "Cloud Hypervisor driven over its REST API",
  .kinds = VC_PLUGIN_KIND_HYPERVISOR,
  .settings = clh_settings,
  .create = clh_create,
  .destroy = clh_instance_free,
  .hypervisor = &clh_hypervisor_ops_table,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &clh_descriptor;
}
