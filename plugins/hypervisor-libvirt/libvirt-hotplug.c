/* hypervisor-libvirt: disks attached and detached live (each on a spare
 * pcie-root-port of the domain, so its PCI path is known before the guest
 * sees it), vCPUs through virDomainSetVcpusFlags, memory as DIMMs. */
#include "config.h"

#include "libvirt-plugin.h"

#include <libvirt/virterror.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (virDomain, virDomainFree)

int
lv_vm_free_port (VcVm *vm)
{
  for (int port = 0; port < LV_HOTPLUG_PORTS; port++)
    {
      gboolean used = FALSE;
      for (guint i = 0; i < vm->devices->len && !used; i++)
        used = ((LvDevice *) g_ptr_array_index (vm->devices, i))->port == port;
      if (!used)
        return port;
    }
  return -1;
}

gboolean
lv_hotplug_add (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  if (!lv_vm_require_running (vm, error) || !lv_device_validate (vm, device, error))
    return FALSE;
  if (device->type != VC_DEVICE_BLOCK)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': hypervisor-libvirt hotplugs disks only (shared directories are cold-plugged)",
                   device->id);
      return FALSE;
    }
  int port = lv_vm_free_port (vm);
  if (port < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "device '%s': all %d hotplug ports of VM '%s' are taken", device->id,
                   LV_HOTPLUG_PORTS, vm->sandbox_id);
      return FALSE;
    }
  g_autoptr (virDomain) dom = lv_vm_domain (vm, error);
  if (dom == NULL)
    return FALSE;
  LvDevice *dev = lv_device_entry_new (vm, device);
  dev->port = port;
  dev->slot = LV_HOTPLUG_PORT_SLOT + (guint) port;
  if (dev->target == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "device '%s': no free disk name left", device->id);
      lv_device_free (dev);
      return FALSE;
    }
  g_autofree char *xml = lv_device_xml (vm, dev, error);
  if (xml == NULL)
    {
      lv_device_free (dev);
      return FALSE;
    }
  if (virDomainAttachDeviceFlags (dom, xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
    {
      g_autofree char *what = g_strdup_printf ("attaching disk '%s' (%s) to VM '%s'", device->id,
                                               device->host_path, vm->sandbox_id);
      lv_set_error (error, vm->plugin, what);
      lv_device_free (dev);
      return FALSE;
    }
  g_mutex_lock (&vm->lock);
  g_ptr_array_add (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  lv_fill_guest_device (dev, guest_out);
  return TRUE;
}

gboolean
lv_hotplug_remove (VcVm *vm, const char *device_id, guint timeout_ms, GError **error)
{
  if (!lv_vm_require_running (vm, error))
    return FALSE;
  LvDevice *dev = device_id != NULL ? lv_vm_find_device (vm, device_id) : NULL;
  if (dev == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "VM '%s' has no device '%s'", vm->sandbox_id,
                   device_id != NULL ? device_id : "(null)");
      return FALSE;
    }
  if (dev->device->type != VC_DEVICE_BLOCK)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': hypervisor-libvirt hot-removes disks only", device_id);
      return FALSE;
    }
  g_autoptr (virDomain) dom = lv_vm_domain (vm, error);
  if (dom == NULL)
    return FALSE;
  if (virDomainDetachDeviceAlias (dom, dev->alias, VIR_DOMAIN_AFFECT_LIVE) < 0)
    {
      g_autofree char *what = g_strdup_printf ("detaching disk '%s' from VM '%s'", device_id, vm->sandbox_id);
      lv_set_error (error, vm->plugin, what);
      return FALSE;
    }
  /* The guest must let go of it: wait until the live XML no longer has it. */
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      g_autofree char *xml = virDomainGetXMLDesc (dom, 0);
      if (xml == NULL)
        {
          lv_set_error (error, vm->plugin, "reading the live domain XML");
          return FALSE;
        }
      if (!lv_xml_has_alias (xml, dev->alias))
        break;
      if (g_get_monotonic_time () >= deadline)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                       "the guest of VM '%s' did not release disk '%s' within %u ms", vm->sandbox_id,
                       device_id, timeout_ms);
          return FALSE;
        }
      g_usleep (50 * 1000);
    }
  g_autofree char *removed = g_strdup (device_id);
  g_mutex_lock (&vm->lock);
  g_ptr_array_remove (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  lv_vm_emit (vm, VC_VM_EVENT_DEVICE_REMOVED, removed);
  return TRUE;
}

gboolean
lv_resize_vcpus (VcVm *vm, guint vcpus, guint *actual, GError **error)
{
  if (!lv_vm_require_running (vm, error))
    return FALSE;
  if (vcpus == 0 || vcpus > vm->max_vcpus)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM '%s': %u vCPUs is outside 1..%u (max_vcpus)", vm->sandbox_id, vcpus, vm->max_vcpus);
      return FALSE;
    }
  g_autoptr (virDomain) dom = lv_vm_domain (vm, error);
  if (dom == NULL)
    return FALSE;
  if (vcpus != vm->vcpus && virDomainSetVcpusFlags (dom, vcpus, VIR_DOMAIN_AFFECT_LIVE) < 0)
    {
      g_autofree char *what = g_strdup_printf ("setting VM '%s' to %u vCPUs", vm->sandbox_id, vcpus);
      lv_set_error (error, vm->plugin, what);
      return FALSE;
    }
  int now = virDomainGetVcpusFlags (dom, VIR_DOMAIN_AFFECT_LIVE);
  vm->vcpus = now > 0 ? (guint) now : vcpus;
  if (actual != NULL)
    *actual = vm->vcpus;
  return TRUE;
}

/* Memory only grows, by one DIMM of the difference (the guest onlines it). */
gboolean
lv_resize_memory (VcVm *vm, guint64 memory_mib, guint64 *actual_mib, GError **error)
{
  if (!lv_vm_require_running (vm, error))
    return FALSE;
  guint64 current = vm->memory_mib + vm->plugged_mib;
  if (memory_mib > vm->max_memory_mib)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM '%s': %" G_GUINT64_FORMAT " MiB is more than max_memory_mib %" G_GUINT64_FORMAT,
                   vm->sandbox_id, memory_mib, vm->max_memory_mib);
      return FALSE;
    }
  if (memory_mib > current)
    {
      /* DIMMs are whole 128 MiB blocks for the guest's memory hotplug. */
      guint64 add = ((memory_mib - current) + 127) / 128 * 128;
      if (current + add > vm->max_memory_mib || vm->dimms >= LV_MEMORY_SLOTS)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                       "VM '%s': cannot add %" G_GUINT64_FORMAT " MiB (max_memory_mib %" G_GUINT64_FORMAT
                       ", %u of %d memory slots used)",
                       vm->sandbox_id, add, vm->max_memory_mib, vm->dimms, LV_MEMORY_SLOTS);
          return FALSE;
        }
      g_autoptr (virDomain) dom = lv_vm_domain (vm, error);
      if (dom == NULL)
        return FALSE;
      g_autofree char *xml = lv_memory_dimm_xml (add);
      if (xml == NULL || virDomainAttachDeviceFlags (dom, xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
        {
          g_autofree char *what = g_strdup_printf ("adding %" G_GUINT64_FORMAT " MiB to VM '%s'", add,
                                                   vm->sandbox_id);
          lv_set_error (error, vm->plugin, what);
          return FALSE;
        }
      vm->plugged_mib += add;
      vm->dimms++;
    }
  if (actual_mib != NULL)
    *actual_mib = vm->memory_mib + vm->plugged_mib;
  return TRUE;
}
