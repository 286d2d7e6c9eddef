/* hypervisor-libvirt: the plugin descriptor, its settings, the instance, the
 * host check and the domain type decision. See libvirt-plugin.h for the map. */
#include "config.h"

#include "libvirt-plugin.h"

#include <libvirt/virterror.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (virConnect, virConnectClose)

static const char *const domain_type_choices[] = { "auto", "kvm", "qemu", NULL };

static const VcSettingSpec libvirt_settings[] = {
  { "uri", VC_SETTING_STRING, "the libvirt connection URI", "qemu:///system", 0, 0, NULL },
  { "domain_type", VC_SETTING_ENUM,
    "auto: kvm where domain capabilities offer it and a probe domain runs, else qemu (TCG)",
    "auto", 0, 0, domain_type_choices },
  { "machine", VC_SETTING_STRING, "the machine type (q35 has disk hotplug ports)", "q35", 0, 0, NULL },
  { "virtiofsd", VC_SETTING_STRING, "the virtiofsd binary libvirt runs for virtio-fs shares",
    VC_VIRTIOFSD_PATH, 0, 0, NULL },
  { "kernel_params", VC_SETTING_STRING, "extra guest kernel parameters for every sandbox",
    NULL, 0, 0, NULL },
  { NULL, 0, NULL, NULL, 0, 0, NULL },
};

static const char *
setting_string (GVariant *settings, const char *key, const char *fallback)
{
  const char *value = NULL;
  if (settings == NULL || !g_variant_lookup (settings, key, "&s", &value))
    return fallback;
  return value;
}

/* ---------------------------------------------------------------------------
 * The domain type. */

static gpointer
decide_type (gpointer data)
{
  VcPluginInstance *self = data;
  const char *setting = self->domain_type_setting;
  if (!g_str_equal (setting, "auto"))
    {
      self->domain_type = g_strdup (setting);
      return NULL;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (virConnect) conn = lv_conn_get (self, &error);
  if (conn == NULL)
    self->type_why = g_strdup (error->message);
  else
    {
      char *caps = virConnectGetDomainCapabilities (conn, NULL, "x86_64", self->machine, "kvm", 0);
      if (caps == NULL)
        {
          self->type_why = g_strdup_printf ("libvirt offers no kvm domains: %s", virGetLastErrorMessage ());
          virResetLastError ();
        }
      else
        {
          free (caps);
          if (lv_kvm_probe (self, conn, &self->type_why))
            self->domain_type = g_strdup ("kvm");
        }
    }
  if (self->domain_type == NULL)
    {
      /* One line: QEMU's complaints quoted by libvirt span several. */
      g_strdelimit (self->type_why, "\r\n", ' ');
      self->domain_type = g_strdup ("qemu");
      g_message ("hypervisor-libvirt: domain_type auto: using qemu (TCG; kvm: %s)", self->type_why);
    }
  else
    g_message ("hypervisor-libvirt: domain_type auto: using kvm");
  return NULL;
}

const char *
lv_plugin_domain_type (VcPluginInstance *self)
{
  g_once (&self->type_once, decide_type, self);
  return self->domain_type;
}

/* ---------------------------------------------------------------------------
 * The instance. */

static void
libvirt_instance_free (VcPluginInstance *self)
{
  if (self == NULL)
    return;
  lv_conn_shutdown (self);
  g_free (self->uri);
  g_free (self->domain_type_setting);
  g_free (self->machine);
  g_free (self->virtiofsd);
  g_free (self->kernel_params);
  g_free (self->domain_type);
  g_free (self->type_why);
  g_free (self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcPluginInstance, libvirt_instance_free)

static VcPluginInstance *
libvirt_create (const VcPluginHost *host, GVariant *settings, GError **error)
{
  g_autoptr (VcPluginInstance) self = g_new0 (VcPluginInstance, 1);
  self->uri = g_strdup (setting_string (settings, "uri", "qemu:///system"));
  self->domain_type_setting = g_strdup (setting_string (settings, "domain_type", "auto"));
  self->machine = g_strdup (setting_string (settings, "machine", "q35"));
  self->virtiofsd = g_strdup (setting_string (settings, "virtiofsd", VC_VIRTIOFSD_PATH));
  const char *params = setting_string (settings, "kernel_params", NULL);

  if (*self->uri == '\0' || strpbrk (self->uri, " \n\r\t") != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "uri: '%s' is not a libvirt URI", self->uri);
      return NULL;
    }
  if (!g_strv_contains (domain_type_choices, self->domain_type_setting))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "domain_type: '%s' is not auto, kvm or qemu",
                   self->domain_type_setting);
      return NULL;
    }
  if (*self->machine == '\0' || strpbrk (self->machine, " \n\r\t") != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "machine: '%s' is not a machine type", self->machine);
      return NULL;
    }
  if (!g_path_is_absolute (self->virtiofsd))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_CONFIG, "virtiofsd: '%s' is not an absolute path",
                   self->virtiofsd);
      return NULL;
    }
  if (params != NULL && strpbrk (params, "\n\r") != NULL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_CONFIG, "kernel_params: must be one line");
      return NULL;
    }
  self->kernel_params = g_strdup (params);
  /* Connecting waits for the first VM or check: most commands boot none. */
  lv_conn_init (self);
  return g_steal_pointer (&self);
}

gboolean
lv_uri_is_local (const char *uri)
{
  /* driver[+transport]://[user@][host][:port]/path: no host, this host. */
  const char *sep = strstr (uri, "://");
  return sep != NULL && sep[3] == '/';
}

static guint64
libvirt_capabilities (VcPluginInstance *self)
{
  guint64 caps = VC_HV_CAP_PAUSE | VC_HV_CAP_FS_9P | VC_HV_CAP_MANAGED_VIRTIOFS
                 | VC_HV_CAP_AGENT_SERIAL | VC_HV_CAP_REATTACH;
  /* libvirt takes no tap fd: NICs on taps by name (libvirt-devices.c), which
   * the core makes on this host, so only for a libvirtd on this host. */
  if (lv_uri_is_local (self->uri))
    caps |= VC_HV_CAP_NET_TAP_NAME;
  if (strstr (self->machine, "q35") != NULL)
    caps |= VC_HV_CAP_HOTPLUG_BLOCK | VC_HV_CAP_HOTPLUG_VCPU | VC_HV_CAP_HOTPLUG_MEMORY
            | VC_HV_CAP_COLD_PLUG_BLOCK;  /* disks behind root ports: detachable */
  return caps;
}

static gboolean
libvirt_check (VcPluginInstance *self, GString *report, GError **error)
{
  g_autoptr (virConnect) conn = lv_conn_get (self, error);
  if (conn == NULL)
    {
      g_string_append_printf (report, "libvirtd: missing (%s)\n", (*error)->message);
      return FALSE;
    }
  unsigned long lib = 0, hv = 0;
  virConnectGetLibVersion (conn, &lib);
  virConnectGetVersion (conn, &hv);
  const char *driver = virConnectGetType (conn);
  virResetLastError ();
  g_string_append_printf (report, "libvirtd: ok (%s: libvirt %lu.%lu.%lu, %s %lu.%lu.%lu)\n", self->uri,
                          lib / 1000000, lib / 1000 % 1000, lib % 1000, driver != NULL ? driver : "?",
                          hv / 1000000, hv / 1000 % 1000, hv % 1000);
  const char *type = lv_plugin_domain_type (self);
  if (self->type_why != NULL)
    g_string_append_printf (report, "domain type: %s (kvm: %s)\n", type, self->type_why);
  else
    g_string_append_printf (report, "domain type: %s\n", type);
  g_string_append_printf (report, "machine: %s\n", self->machine);
  g_string_append_printf (report, "virtiofsd: %s (%s, run by libvirt)\n",
                          access (self->virtiofsd, X_OK) == 0 ? "ok" : "missing", self->virtiofsd);
  return TRUE;
}

static VcVm *
libvirt_create_vm (VcPluginInstance *self, const VcVmConfig *config, GError **error)
{
  VcVm *vm = lv_vm_new (self, config, error);
  if (vm != NULL)
    vm->domain_type = g_strdup (lv_plugin_domain_type (self));
  return vm;
}

static const VcHypervisorOps libvirt_hypervisor_ops = {
  .version = VC_HYPERVISOR_OPS_VERSION,
  .size = sizeof (VcHypervisorOps),
  .capabilities = libvirt_capabilities,
  .check = libvirt_check,
  .create_vm = libvirt_create_vm,
  .add_device = lv_add_device,
  .start_vm = lv_start_vm,
  .stop_vm = lv_stop_vm,
  .pause_vm = lv_pause_vm,
  .resume_vm = lv_resume_vm,
  .get_status = lv_get_status,
  .hotplug_add = lv_hotplug_add,
  .hotplug_remove = lv_hotplug_remove,
  .resize_vcpus = lv_resize_vcpus,
  .resize_memory = lv_resize_memory,
  .console_path = lv_console_path,
  .get_pids = lv_get_pids,
  .get_agent_endpoint = lv_get_agent_endpoint,
  .wait_agent_channel = lv_wait_agent_channel,
  .save_state = lv_save_state,
  .attach_vm = lv_attach_vm,
  .free_vm = lv_free_vm,
};

static const VcPluginDescriptor libvirt_descriptor = {
  .abi_major = VC_ABI_MAJOR,
  .abi_minor = VC_ABI_MINOR,
  .struct_size = sizeof (VcPluginDescriptor),
  .name = "hypervisor-libvirt",
  .version = PACKAGE_VERSION,
  .description = "VMs as transient libvirt domains (libvirt runs QEMU and virtiofsd)",
  .kinds = VC_PLUGIN_KIND_HYPERVISOR,
  .settings = libvirt_settings,
  .create = libvirt_create,
  .destroy = libvirt_instance_free,
  .hypervisor = &libvirt_hypervisor_ops,
};

VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

VC_PLUGIN_EXPORT const VcPluginDescriptor *
vc_plugin_descriptor (void)
{
  return &libvirt_descriptor;
}
