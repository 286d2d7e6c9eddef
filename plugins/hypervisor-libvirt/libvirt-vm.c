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
  vm->watch_wake[0] = vm->watch_wake[1] = -1;
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
  lv_vm_start_watch (vm);
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

/* Whether libvirt no longer has the domain (events may be late). */
static gboolean
domain_gone (VcVm *vm)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (virDomain) dom = lv_vm_domain (vm, &error);
  return dom == NULL && g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED);
}

gboolean
lv_stop_vm (VcVm *vm, guint graceful_timeout_ms, GError **error)
{
  if (!vm->started)
    {
      lv_remove_runtime_files (vm);
      g_unlink (vm->console_file);
      return TRUE;
    }
  g_autoptr (GError) local = NULL;
  g_autoptr (virDomain) dom = lv_vm_domain (vm, &local);
  if (dom == NULL && !g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED))
    {
      /* libvirtd unreachable: fine if QEMU is gone, libvirt tidies up later. */
      if (!lv_vm_wait_exit (vm, 0))
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local), "stopping VM '%s': ", vm->sandbox_id);
          return FALSE;
        }
    }
  else if (dom != NULL)
    {
      int state = VIR_DOMAIN_NOSTATE;
      if (!lv_vm_wait_exit (vm, 0) && graceful_timeout_ms > 0
          && virDomainGetState (dom, &state, NULL, 0) == 0 && state == VIR_DOMAIN_RUNNING)
        {
          ask_guest_to_power_off (dom);
          lv_vm_wait_exit (vm, graceful_timeout_ms);
        }
      if (virDomainIsActive (dom) == 1 && virDomainDestroy (dom) < 0
          && !lv_last_error_is (VIR_ERR_NO_DOMAIN) && !lv_last_error_is (VIR_ERR_OPERATION_INVALID))
        {
          g_autofree char *what = g_strdup_printf ("destroying domain '%s' of VM '%s'", vm->name,
                                                   vm->sandbox_id);
          lv_set_error (error, vm->plugin, what);
          return FALSE;
        }
      virResetLastError ();
      /* A transient domain is listed until libvirt has cleaned up after QEMU. */
      gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
      while (!domain_gone (vm))
        {
          if (g_get_monotonic_time () >= deadline)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                           "domain '%s' of VM '%s' is still there 10 s after virDomainDestroy", vm->name,
                           vm->sandbox_id);
              return FALSE;
            }
          g_usleep (50 * 1000);
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
  lv_vm_stop_watch (vm);
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
