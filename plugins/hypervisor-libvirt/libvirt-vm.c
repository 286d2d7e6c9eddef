/* hypervisor-libvirt: a VM's life. create_vm only collects the configuration;
 * start_vm creates a transient domain `vcrun-<sandbox-id>` from it (refusing a
 * domain of that name that is already there, which is left alone); from then
 * on the VM is known by its UUID. stop_vm asks the guest to power off, then
 * destroys the domain. */
#include "config.h"

#include "libvirt-plugin.h"

#include <errno.h>
#include <libvirt/virterror.h>
#include <linux/input-event-codes.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (virDomain, virDomainFree)

#define POLL_INTERVAL_MS 50

/* ---------------------------------------------------------------------------
 * Devices. */

void
lv_device_free (LvDevice *dev)
{
  if (dev == NULL)
    return;
  vc_device_free (dev->device);
  g_free (dev->alias);
  g_free (dev->target);
  g_free (dev);
}

LvDevice *
lv_vm_find_device (VcVm *vm, const char *device_id)
{
  for (guint i = 0; i < vm->devices->len; i++)
    {
      LvDevice *dev = g_ptr_array_index (vm->devices, i);
      if (g_str_equal (dev->device->id, device_id))
        return dev;
    }
  return NULL;
}

/* The first virtio disk name (vda, vdb, ...) no device of the VM uses. */
static char *
free_disk_target (VcVm *vm)
{
  for (char c = 'a'; c <= 'z'; c++)
    {
      g_autofree char *name = g_strdup_printf ("vd%c", c);
      gboolean used = FALSE;
      for (guint i = 0; i < vm->devices->len && !used; i++)
        {
          LvDevice *dev = g_ptr_array_index (vm->devices, i);
          used = dev->target != NULL && g_str_equal (dev->target, name);
        }
      if (!used)
        return g_steal_pointer (&name);
    }
  return NULL;
}

LvDevice *
lv_device_entry_new (VcVm *vm, const VcDevice *src)
{
  LvDevice *dev = g_new0 (LvDevice, 1);
  VcDevice *d = vc_device_new (src->type, src->id, src->host_path, src->tag);
  d->readonly = src->readonly;
  d->format = g_strdup (src->format);
  d->security_model = g_strdup (src->security_model);
  d->msize = src->msize;
  dev->device = d;
  /* libvirt's user aliases: "ua-" and [A-Za-z0-9_-]; device ids may hold more. */
  dev->alias = g_strdup_printf ("ua-vc%u", vm->next_alias++);
  dev->port = -1;
  if (src->type == VC_DEVICE_BLOCK)
    dev->target = free_disk_target (vm);
  return dev;
}

gboolean
lv_device_validate (VcVm *vm, const VcDevice *device, GError **error)
{
  if (device == NULL || device->struct_size < sizeof (VcDevice) || device->id == NULL
      || *device->id == '\0' || device->host_path == NULL || !g_path_is_absolute (device->host_path))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "device: needs an id and an absolute host path");
      return FALSE;
    }
  if (lv_vm_find_device (vm, device->id) != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_EXISTS, "device '%s': VM '%s' already has a device with that id",
                   device->id, vm->sandbox_id);
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
      return TRUE;
    case VC_DEVICE_FS_9P:
    case VC_DEVICE_FS_VIRTIOFS:
      if (device->tag == NULL || *device->tag == '\0' || strlen (device->tag) > 36)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "device '%s': a mount tag of 1 to 36 characters is needed", device->id);
          return FALSE;
        }
      return TRUE;
    case VC_DEVICE_FS_VHOST_USER:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': hypervisor-libvirt runs virtiofsd itself (VC_DEVICE_FS_VIRTIOFS), "
                   "it takes no vhost-user socket", device->id);
      return FALSE;
    default:
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "device '%s': type %d is not supported by hypervisor-libvirt", device->id,
                   (int) device->type);
      return FALSE;
    }
}

void
lv_fill_guest_device (LvDevice *dev, VcGuestDevice *out)
{
  if (out == NULL)
    return;
  vc_guest_device_clear (out);
  out->struct_size = sizeof (VcGuestDevice);
  out->id = g_strdup (dev->device->id);
  switch (dev->device->type)
    {
    case VC_DEVICE_BLOCK:
      out->driver = g_strdup ("blk");
      /* Kata's PCI path: the slot of each bridge on the way, then the device's. */
      out->guest_address = dev->port >= 0 ? g_strdup_printf ("%02x/00", dev->slot)
                                          : g_strdup_printf ("%02x", dev->slot);
      break;
    case VC_DEVICE_FS_9P:
      out->driver = g_strdup ("9p");
      break;
    case VC_DEVICE_FS_VIRTIOFS:
      out->driver = g_strdup ("virtio-fs");
      break;
    default:
      break;
    }
}

gboolean
lv_add_device (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  if (vm->started)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "VM '%s' is already started: cold plug is only possible before start_vm (use hotplug_add)",
                   vm->sandbox_id);
      return FALSE;
    }
  if (!lv_device_validate (vm, device, error))
    return FALSE;
  LvDevice *dev = lv_device_entry_new (vm, device);
  if (device->type == VC_DEVICE_BLOCK)
    {
      guint used = 0;
      for (guint i = 0; i < vm->devices->len; i++)
        {
          LvDevice *other = g_ptr_array_index (vm->devices, i);
          if (other->device->type == VC_DEVICE_BLOCK)
            used = MAX (used, other->slot);
        }
      dev->slot = used == 0 ? LV_FIRST_COLD_SLOT : used + 1;
      if (dev->slot > LV_LAST_COLD_SLOT || dev->target == NULL)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                       "device '%s': no free PCI slot left for cold-plugged disks (%d at most)",
                       device->id, LV_LAST_COLD_SLOT - LV_FIRST_COLD_SLOT + 1);
          lv_device_free (dev);
          return FALSE;
        }
    }
  if (device->type == VC_DEVICE_FS_VIRTIOFS)
    vm->shared_memory = TRUE;
  g_ptr_array_add (vm->devices, dev);
  lv_fill_guest_device (dev, guest_out);
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * The handle. */

static gboolean
id_is_valid (const char *id)
{
  if (id == NULL || !g_ascii_isalnum (id[0]) || strlen (id) > 128)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("_.+-", *p) == NULL)
      return FALSE;
  return TRUE;
}

static char *
absolute (const char *path)
{
  if (path == NULL)
    return NULL;
  if (g_path_is_absolute (path))
    return g_strdup (path);
  g_autofree char *cwd = g_get_current_dir ();
  return g_build_filename (cwd, path, NULL);
}

VcVm *
lv_vm_new (VcPluginInstance *self, const VcVmConfig *config, GError **error)
{
  if (config == NULL || config->struct_size < sizeof (VcVmConfig))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "VM config: NULL or too small (struct_size)");
      return NULL;
    }
  if (!id_is_valid (config->sandbox_id))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "VM config: sandbox id '%s' is invalid",
                   config->sandbox_id != NULL ? config->sandbox_id : "(null)");
      return NULL;
    }
  if (config->state_dir == NULL || !g_path_is_absolute (config->state_dir))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM config: state_dir '%s' is not an absolute path",
                   config->state_dir != NULL ? config->state_dir : "(null)");
      return NULL;
    }
  guint max_vcpus = config->max_vcpus != 0 ? config->max_vcpus : config->vcpus;
  if (config->vcpus == 0 || max_vcpus < config->vcpus || max_vcpus > 255)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM config: vcpus %u / max_vcpus %u must satisfy 1 <= vcpus <= max_vcpus <= 255",
                   config->vcpus, max_vcpus);
      return NULL;
    }
  guint64 max_mem = config->max_memory_mib != 0 ? config->max_memory_mib : config->memory_mib;
  if (config->memory_mib < 64 || max_mem < config->memory_mib || max_mem > 1024 * 1024)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM config: memory_mib %" G_GUINT64_FORMAT " / max_memory_mib %" G_GUINT64_FORMAT
                   " must satisfy 64 <= memory <= max <= 1 TiB",
                   config->memory_mib, max_mem);
      return NULL;
    }
  if (config->kernel == NULL || *config->kernel == '\0')
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "VM config: no kernel given");
      return NULL;
    }
  if (config->agent_transport != VC_AGENT_TRANSPORT_NONE
      && config->agent_transport != VC_AGENT_TRANSPORT_SERIAL)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                           "VM config: hypervisor-libvirt offers the agent over virtio-serial only");
      return NULL;
    }
  g_autofree char *agent_path = g_build_filename (config->state_dir, "agent.sock", NULL);
  if (strlen (agent_path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "socket path '%s' is too long for a Unix socket: choose a shorter state_dir", agent_path);
      return NULL;
    }

  VcVm *vm = g_new0 (VcVm, 1);
  vm->plugin = self;
  vm->sandbox_id = g_strdup (config->sandbox_id);
  vm->state_dir = g_strdup (config->state_dir);
  vm->name = g_strconcat (LV_DOMAIN_PREFIX, config->sandbox_id, NULL);
  vm->vcpus = config->vcpus;
  vm->max_vcpus = max_vcpus;
  vm->memory_mib = config->memory_mib;
  vm->max_memory_mib = max_mem;
  vm->kernel = absolute (config->kernel);
  vm->initrd = absolute (config->initrd);
  vm->kernel_params = g_strdup (config->kernel_params);
  vm->agent_path = g_steal_pointer (&agent_path);
  vm->console_file = g_build_filename (config->state_dir, "console.log", NULL);
  vm->event_func = config->event_func;
  vm->event_data = config->event_data;
  vm->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) lv_device_free);
  g_mutex_init (&vm->lock);
  g_cond_init (&vm->cond);
  return vm;
}

void
lv_remove_runtime_files (VcVm *vm)
{
  if (g_unlink (vm->agent_path) < 0 && errno != ENOENT)
    g_debug ("hypervisor-libvirt: removing %s: %s", vm->agent_path, g_strerror (errno));
}

gboolean
lv_vm_wait_exit (VcVm *vm, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_mutex_lock (&vm->lock);
  while (!vm->exited)
    if (!g_cond_wait_until (&vm->cond, &vm->lock, deadline))
      break;
  gboolean exited = vm->exited;
  g_mutex_unlock (&vm->lock);
  return exited;
}

gboolean
lv_vm_require_running (VcVm *vm, GError **error)
{
  if (!vm->started)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "VM '%s' is not started", vm->sandbox_id);
      return FALSE;
    }
  g_mutex_lock (&vm->lock);
  gboolean exited = vm->exited;
  g_autofree char *reason = g_strdup (vm->exit_reason);
  g_mutex_unlock (&vm->lock);
  if (exited)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "VM '%s' has stopped: %s", vm->sandbox_id, reason);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * Start. */

/* A domain named like ours that we did not make: refuse, touch nothing. */
static gboolean
refuse_existing (VcVm *vm, virConnectPtr conn, GError **error)
{
  g_autoptr (virDomain) other = virDomainLookupByName (conn, vm->name);
  if (other == NULL)
    {
      if (lv_last_error_is (VIR_ERR_NO_DOMAIN))
        {
          virResetLastError ();
          return TRUE;
        }
      g_autofree char *what = g_strdup_printf ("looking for an existing domain '%s'", vm->name);
      lv_set_error (error, vm->plugin, what);
      return FALSE;
    }
  char uuid[VIR_UUID_STRING_BUFLEN] = "?";
  virDomainGetUUIDString (other, uuid);
  g_autofree char *xml = virDomainGetXMLDesc (other, 0);
  g_autofree char *owner = lv_xml_sandbox_id (xml);
  g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
               "a libvirt domain named '%s' already exists (UUID %s, %s) at %s: it is not this "
               "sandbox's, so vcrun leaves it alone; remove it or choose another sandbox id",
               vm->name, uuid,
               owner != NULL ? "made by an earlier vcrun sandbox of that id" : "not made by vcrun",
               vm->plugin->uri);
  return FALSE;
}

/* libvirtd went away while it created our domain: it may have started QEMU
 * and find it again when it comes back. Waits a little for libvirtd and
 * destroys a domain of our name that carries our sandbox id and state dir. */
static void
destroy_half_started (VcVm *vm)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (virConnect) conn = lv_conn_get (vm->plugin, &error);
      if (conn == NULL)
        {
          g_usleep (250 * 1000);
          continue;
        }
      g_autoptr (virDomain) dom = virDomainLookupByName (conn, vm->name);
      if (dom != NULL)
        {
          g_autofree char *xml = virDomainGetXMLDesc (dom, 0);
          g_autofree char *owner = lv_xml_sandbox_id (xml);
          g_autofree char *dir = lv_xml_sandbox_state_dir (xml);
          if (owner != NULL && g_str_equal (owner, vm->sandbox_id) && dir != NULL
              && g_str_equal (dir, vm->state_dir))
            {
              g_message ("hypervisor-libvirt: destroying domain '%s', half started when libvirt went away",
                         vm->name);
              virDomainDestroy (dom);
            }
        }
      virResetLastError ();
      return;
    }
  g_warning ("hypervisor-libvirt: libvirt at %s did not come back: domain '%s' may be left behind",
             vm->plugin->uri, vm->name);
}

gboolean
lv_start_vm (VcVm *vm, guint timeout_ms, GError **error)
{
  if (vm->started)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "VM '%s' was already started", vm->sandbox_id);
      return FALSE;
    }
  if (g_mkdir_with_parents (vm->state_dir, 0700) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create '%s': %s", vm->state_dir,
                   g_strerror (errno));
      return FALSE;
    }
  g_autoptr (virConnect) conn = lv_conn_get (vm->plugin, error);
  if (conn == NULL)
    return FALSE;
  if (!refuse_existing (vm, conn, error))
    return FALSE;
  g_autofree char *xml = lv_domain_xml (vm, error);
  if (xml == NULL)
    return FALSE;
  g_debug ("hypervisor-libvirt: %s: domain XML:\n%s", vm->sandbox_id, xml);

  gint64 start = g_get_monotonic_time ();
  lv_remove_runtime_files (vm);
  g_unlink (vm->console_file);
  g_autoptr (virDomain) dom = virDomainCreateXML (conn, xml, VIR_DOMAIN_NONE);
  if (dom == NULL)
    {
      g_autofree char *what = g_strdup_printf ("libvirt could not start domain '%s' for VM '%s'",
                                               vm->name, vm->sandbox_id);
      gboolean lost = lv_last_error_is (VIR_ERR_SYSTEM_ERROR) || lv_last_error_is (VIR_ERR_RPC)
                      || lv_last_error_is (VIR_ERR_NO_CONNECT) || lv_last_error_is (VIR_ERR_INVALID_CONN);
      lv_set_error (error, vm->plugin, what);
      if (lost)
        destroy_half_started (vm);
      lv_remove_runtime_files (vm);
      g_unlink (vm->console_file);
      return FALSE;
    }
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString (dom, uuid) < 0)
    {
      lv_set_error (error, vm->plugin, "reading the new domain's UUID");
      virDomainDestroy (dom);
      return FALSE;
    }
  vm->uuid = g_strdup (uuid);
  vm->started = TRUE;
  lv_conn_register_vm (vm->plugin, vm);
  /* Its death before we registered sent no event to us: look once. */
  int state = VIR_DOMAIN_NOSTATE;
  if (virDomainGetState (dom, &state, NULL, 0) < 0 || state == VIR_DOMAIN_SHUTOFF)
    {
      virResetLastError ();
      g_autoptr (virDomain) again = virDomainLookupByUUIDString (conn, vm->uuid);
      if (again == NULL)
        lv_vm_mark_exited (vm, "the domain stopped right after it started");
      virResetLastError ();
    }
  g_info ("hypervisor-libvirt: VM '%s' started as domain %s (%s, type %s) in %" G_GINT64_FORMAT " ms",
          vm->sandbox_id, vm->name, vm->uuid, vm->domain_type, (g_get_monotonic_time () - start) / 1000);
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * Stop, pause, resume, status. */

/* The ACPI power button and Ctrl-Alt-Del (the vcrun agent powers off on it);
 * either may be ignored: stop_vm destroys the domain after the timeout. */
static void
ask_guest_to_power_off (virDomainPtr dom)
{
  if (virDomainShutdownFlags (dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) < 0)
    g_debug ("hypervisor-libvirt: ACPI shutdown: %s", virGetLastErrorMessage ());
  unsigned int keys[] = { KEY_LEFTCTRL, KEY_LEFTALT, KEY_DELETE };
  if (virDomainSendKey (dom, VIR_KEYCODE_SET_LINUX, 0, keys, G_N_ELEMENTS (keys), 0) < 0)
    g_debug ("hypervisor-libvirt: send-key ctrl-alt-delete: %s", virGetLastErrorMessage ());
  virResetLastError ();
}

/* Whether the domain is gone, asking libvirt (events may be late). */
static gboolean
domain_gone (VcVm *vm)
{
  if (lv_vm_wait_exit (vm, 0))
    return TRUE;
  g_autoptr (GError) error = NULL;
  g_autoptr (virDomain) dom = lv_vm_domain (vm, &error);
  return dom == NULL && g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED);
}

gboolean
lv_stop_vm (VcVm *vm, guint graceful_timeout_ms, GError **error)
{
  if (!vm->started || lv_vm_wait_exit (vm, 0))
    {
      lv_remove_runtime_files (vm);
      g_unlink (vm->console_file);
      return TRUE;
    }
  g_autoptr (GError) local = NULL;
  g_autoptr (virDomain) dom = lv_vm_domain (vm, &local);
  if (dom == NULL)
    {
      if (!g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED))
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local), "stopping VM '%s': ", vm->sandbox_id);
          return FALSE;
        }
    }
  else
    {
      int state = VIR_DOMAIN_NOSTATE;
      if (graceful_timeout_ms > 0 && virDomainGetState (dom, &state, NULL, 0) == 0
          && state == VIR_DOMAIN_RUNNING)
        {
          ask_guest_to_power_off (dom);
          lv_vm_wait_exit (vm, graceful_timeout_ms);
        }
      if (!lv_vm_wait_exit (vm, 0) && virDomainDestroy (dom) < 0
          && !lv_last_error_is (VIR_ERR_NO_DOMAIN) && !lv_last_error_is (VIR_ERR_OPERATION_INVALID))
        {
          g_autofree char *what = g_strdup_printf ("destroying domain '%s' of VM '%s'", vm->name,
                                                   vm->sandbox_id);
          lv_set_error (error, vm->plugin, what);
          return FALSE;
        }
      virResetLastError ();
      gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
      while (!lv_vm_wait_exit (vm, 200) && !domain_gone (vm))
        if (g_get_monotonic_time () >= deadline)
          {
            g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                         "domain '%s' of VM '%s' is still there 5 s after virDomainDestroy", vm->name,
                         vm->sandbox_id);
            return FALSE;
          }
    }
  lv_vm_mark_exited (vm, "stopped by vcrun");
  lv_remove_runtime_files (vm);
  g_unlink (vm->console_file);
  return TRUE;
}

static gboolean
pause_or_resume (VcVm *vm, gboolean pause, GError **error)
{
  if (!lv_vm_require_running (vm, error))
    return FALSE;
  g_autoptr (virDomain) dom = lv_vm_domain (vm, error);
  if (dom == NULL)
    return FALSE;
  if ((pause ? virDomainSuspend (dom) : virDomainResume (dom)) < 0)
    {
      g_autofree char *what = g_strdup_printf ("%s VM '%s'", pause ? "pausing" : "resuming", vm->sandbox_id);
      lv_set_error (error, vm->plugin, what);
      return FALSE;
    }
  int state = VIR_DOMAIN_NOSTATE;
  if (virDomainGetState (dom, &state, NULL, 0) < 0)
    {
      lv_set_error (error, vm->plugin, "reading the domain state");
      return FALSE;
    }
  if ((state == VIR_DOMAIN_PAUSED) != pause)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "VM '%s' is in libvirt state %d after %s",
                   vm->sandbox_id, state, pause ? "virDomainSuspend" : "virDomainResume");
      return FALSE;
    }
  return TRUE;
}

gboolean
lv_pause_vm (VcVm *vm, GError **error)
{
  return pause_or_resume (vm, TRUE, error);
}

gboolean
lv_resume_vm (VcVm *vm, GError **error)
{
  return pause_or_resume (vm, FALSE, error);
}

VcVmStatus
lv_get_status (VcVm *vm, GError **error)
{
  if (!vm->started)
    return VC_VM_STATUS_CREATED;
  if (lv_vm_wait_exit (vm, 0))
    return VC_VM_STATUS_STOPPED;
  g_autoptr (GError) local = NULL;
  g_autoptr (virDomain) dom = lv_vm_domain (vm, &local);
  if (dom == NULL)
    {
      if (g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED))
        return VC_VM_STATUS_STOPPED;
      g_propagate_error (error, g_steal_pointer (&local));
      return VC_VM_STATUS_UNKNOWN;
    }
  int state = VIR_DOMAIN_NOSTATE;
  if (virDomainGetState (dom, &state, NULL, 0) < 0)
    {
      lv_set_error (error, vm->plugin, "reading the domain state");
      return VC_VM_STATUS_UNKNOWN;
    }
  switch (state)
    {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
      return VC_VM_STATUS_RUNNING;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
      return VC_VM_STATUS_PAUSED;
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_CRASHED:
      lv_vm_mark_exited (vm, "the domain is shut off");
      return VC_VM_STATUS_STOPPED;
    default:
      return VC_VM_STATUS_UNKNOWN;
    }
}

/* ---------------------------------------------------------------------------
 * Queries. */

char *
lv_console_path (VcVm *vm)
{
  return g_strdup (vm->console_file);
}

/* /proc/<pid>/cmdline as a vector, NULL when unreadable. */
static GStrv
read_cmdline (const char *pid)
{
  g_autofree char *path = g_build_filename ("/proc", pid, "cmdline", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL) || len == 0)
    return NULL;
  GPtrArray *args = g_ptr_array_new ();
  for (gsize i = 0; i < len; i += strlen (data + i) + 1)
    g_ptr_array_add (args, g_strdup (data + i));
  g_ptr_array_add (args, NULL);
  return (GStrv) g_ptr_array_free (args, FALSE);
}

static gboolean
is_our_qemu (VcVm *vm, GStrv argv)
{
  for (guint i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++)
    if (g_str_equal (argv[i], "-uuid") && g_str_equal (argv[i + 1], vm->uuid))
      return TRUE;
  return FALSE;
}

/* A virtiofsd libvirt started for one of our shared directories: it has
 * "-o source=DIR[,...]" (QEMU's virtiofsd) or "--shared-dir DIR" (Rust's). */
static gboolean
is_our_virtiofsd (VcVm *vm, GStrv argv)
{
  g_autofree char *base = g_path_get_basename (argv[0]);
  if (strstr (base, "virtiofsd") == NULL)
    return FALSE;
  for (guint d = 0; d < vm->devices->len; d++)
    {
      LvDevice *dev = g_ptr_array_index (vm->devices, d);
      if (dev->device->type != VC_DEVICE_FS_VIRTIOFS)
        continue;
      g_autofree char *source = g_strdup_printf ("source=%s", dev->device->host_path);
      gsize n = strlen (source);
      for (guint i = 0; argv[i] != NULL; i++)
        {
          const char *hit = strstr (argv[i], source);
          if (hit != NULL && (hit[n] == '\0' || hit[n] == ',')
              && (hit == argv[i] || hit[-1] == ','))
            return TRUE;
          if (g_str_equal (argv[i], "--shared-dir") && argv[i + 1] != NULL
              && g_str_equal (argv[i + 1], dev->device->host_path))
            return TRUE;
        }
    }
  return FALSE;
}

/* QEMU first, then the virtiofsd processes libvirt runs for it. Only for a
 * libvirtd on this host (the processes are looked up in /proc). */
GArray *
lv_get_pids (VcVm *vm, GError **error)
{
  if (!lv_vm_require_running (vm, error))
    return NULL;
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, error);
  if (dir == NULL)
    return NULL;
  g_autoptr (GArray) pids = g_array_new (FALSE, FALSE, sizeof (gint));
  g_autoptr (GArray) helpers = g_array_new (FALSE, FALSE, sizeof (gint));
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      g_auto (GStrv) argv = read_cmdline (name);
      if (argv == NULL)
        continue;
      gint pid = (gint) g_ascii_strtoll (name, NULL, 10);
      if (pids->len == 0 && is_our_qemu (vm, argv))
        g_array_append_val (pids, pid);
      else if (is_our_virtiofsd (vm, argv))
        g_array_append_val (helpers, pid);
    }
  if (pids->len == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND,
                   "no QEMU process with UUID %s of VM '%s' on this host (is libvirt at %s remote?)",
                   vm->uuid, vm->sandbox_id, vm->plugin->uri);
      return NULL;
    }
  g_array_append_vals (pids, helpers->data, helpers->len);
  return g_steal_pointer (&pids);
}

gboolean
lv_get_agent_endpoint (VcVm *vm, VcAgentEndpoint *out, GError **error)
{
  vc_agent_endpoint_clear (out);
  out->struct_size = sizeof (VcAgentEndpoint);
  out->transport = VC_AGENT_TRANSPORT_SERIAL;
  out->socket_path = g_strdup (vm->agent_path);
  return TRUE;
}

/* libvirt follows QEMU's VSERPORT_CHANGE for named channels and shows it as
 * the state attribute of the channel's target in the live XML. */
gboolean
lv_wait_agent_channel (VcVm *vm, guint timeout_ms, GError **error)
{
  if (!lv_vm_require_running (vm, error))
    return FALSE;
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      /* libvirtd restarting meanwhile (killed, upgraded) is waited out. */
      g_autoptr (GError) local = NULL;
      g_autoptr (virDomain) dom = lv_vm_domain (vm, &local);
      g_autofree char *xml = NULL;
      if (dom != NULL && (xml = virDomainGetXMLDesc (dom, 0)) == NULL)
        lv_set_error (&local, vm->plugin, "reading the live domain XML");
      if (xml == NULL)
        {
          if (g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED) || g_get_monotonic_time () >= deadline)
            {
              g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                          "waiting for the agent channel of VM '%s': ", vm->sandbox_id);
              return FALSE;
            }
          g_usleep (200 * 1000);
          continue;
        }
      g_autofree char *state = lv_xml_channel_state (xml, LV_AGENT_PORT_NAME);
      if (state != NULL && g_str_equal (state, "connected"))
        {
          g_mutex_lock (&vm->lock);
          gboolean was_open = vm->agent_open;
          vm->agent_open = TRUE;
          g_mutex_unlock (&vm->lock);
          if (!was_open)
            lv_vm_emit (vm, VC_VM_EVENT_AGENT_CHANNEL, "open");
          return TRUE;
        }
      if (lv_vm_wait_exit (vm, POLL_INTERVAL_MS))
        {
          g_mutex_lock (&vm->lock);
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                       "VM '%s' stopped before the guest opened the agent channel: %s", vm->sandbox_id,
                       vm->exit_reason);
          g_mutex_unlock (&vm->lock);
          return FALSE;
        }
      if (g_get_monotonic_time () >= deadline)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                       "the guest of VM '%s' did not open the agent channel '%s' within %u ms "
                       "(libvirt shows it %s; see %s)",
                       vm->sandbox_id, LV_AGENT_PORT_NAME, timeout_ms, state != NULL ? state : "without a state",
                       vm->console_file);
          return FALSE;
        }
    }
}

void
lv_free_vm (VcVm *vm)
{
  if (vm == NULL)
    return;
  lv_conn_unregister_vm (vm->plugin, vm);
  g_ptr_array_unref (vm->devices);
  g_free (vm->sandbox_id);
  g_free (vm->state_dir);
  g_free (vm->name);
  g_free (vm->uuid);
  g_free (vm->domain_type);
  g_free (vm->kernel);
  g_free (vm->initrd);
  g_free (vm->kernel_params);
  g_free (vm->agent_path);
  g_free (vm->console_file);
  g_free (vm->exit_reason);
  g_mutex_clear (&vm->lock);
  g_cond_clear (&vm->cond);
  g_free (vm);
}
