/* hypervisor-libvirt: the connection to libvirtd, shared by an instance's VMs.
 *
 * libvirt's default event loop runs on a thread of its own (one per process,
 * started at the first instance): it carries keepalives, the close callback
 * and the domain lifecycle events, which reach the VM registered under the
 * domain's UUID within a second of libvirt seeing QEMU end. When libvirtd goes
 * away the close callback marks the connection lost; the next call, or the
 * watch thread while VMs are registered, opens a new one, registers the event
 * callback again and looks up every registered domain: one that vanished in
 * between is reported stopped. */
#include "config.h"

#include "libvirt-plugin.h"

#include <libvirt/virterror.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC (virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (virDomain, virDomainFree)

#define WATCH_INTERVAL_MS 500

/* ---------------------------------------------------------------------------
 * Errors. libvirt's default handler prints every error on stderr: silence it,
 * the caller gets the message in its GError. */

static void
quiet_error_handler (void *data, virErrorPtr err)
{
}

gboolean
lv_last_error_is (int code)
{
  virErrorPtr err = virGetLastError ();
  return err != NULL && err->code == code;
}

void
lv_set_error (GError **error, VcPluginInstance *self, const char *what)
{
  virErrorPtr err = virGetLastError ();
  const char *message = err != NULL && err->message != NULL ? err->message : "unknown libvirt error";
  int code = VC_ERROR_FAILED;
  if (err != NULL)
    switch (err->code)
      {
      case VIR_ERR_NO_DOMAIN:
        code = VC_ERROR_STOPPED;
        break;
      case VIR_ERR_OPERATION_INVALID:
        code = VC_ERROR_INVALID_STATE;
        break;
      case VIR_ERR_AUTH_FAILED:
      case VIR_ERR_AUTH_CANCELLED:
      case VIR_ERR_ACCESS_DENIED:
      case VIR_ERR_OPERATION_DENIED:
        code = VC_ERROR_ACCESS_DENIED;
        break;
      case VIR_ERR_NO_SUPPORT:
      case VIR_ERR_ARGUMENT_UNSUPPORTED:
      case VIR_ERR_CONFIG_UNSUPPORTED:
        code = VC_ERROR_NOT_SUPPORTED;
        break;
      case VIR_ERR_OPERATION_TIMEOUT:
        code = VC_ERROR_TIMEOUT;
        break;
      case VIR_ERR_SYSTEM_ERROR:
      case VIR_ERR_RPC:
      case VIR_ERR_NO_CONNECT:
      case VIR_ERR_INVALID_CONN:
        if (strstr (message, "ermission denied") != NULL)
          code = VC_ERROR_ACCESS_DENIED;
        break;
      default:
        break;
      }
  g_set_error (error, VC_ERROR, code, "%s: %s (libvirt at %s)", what, message, self->uri);
  virResetLastError ();
}

/* ---------------------------------------------------------------------------
 * The process-wide event loop. */

static gpointer
event_loop_thread (gpointer data)
{
  for (;;)
    if (virEventRunDefaultImpl () < 0)
      g_usleep (100 * 1000);
  return NULL;
}

static gpointer
event_loop_init (gpointer data)
{
  virSetErrorFunc (NULL, quiet_error_handler);
  if (virInitialize () < 0 || virEventRegisterDefaultImpl () < 0)
    return GINT_TO_POINTER (0);
  g_thread_unref (g_thread_new ("vc-libvirt-events", event_loop_thread, NULL));
  return GINT_TO_POINTER (1);
}

/* ---------------------------------------------------------------------------
 * VMs by UUID, and dispatching events to them. */

void
lv_vm_emit (VcVm *vm, VcVmEvent event, const char *detail)
{
  if (vm->event_func != NULL)
    vm->event_func (event, detail, vm->event_data);
}

/* Removes what only exists while QEMU runs, and reports STOPPED once. */
void
lv_vm_mark_exited (VcVm *vm, const char *reason)
{
  g_mutex_lock (&vm->lock);
  if (vm->exited)
    {
      g_mutex_unlock (&vm->lock);
      return;
    }
  vm->exited = TRUE;
  vm->agent_open = FALSE;
  vm->exit_reason = g_strdup (reason);
  g_cond_broadcast (&vm->cond);
  g_mutex_unlock (&vm->lock);
  lv_remove_runtime_files (vm);
  g_info ("hypervisor-libvirt: VM '%s' stopped: %s", vm->sandbox_id, reason);
  lv_vm_emit (vm, VC_VM_EVENT_STOPPED, reason);
}

void
lv_conn_register_vm (VcPluginInstance *self, VcVm *vm)
{
  g_mutex_lock (&self->conn_lock);
  g_hash_table_replace (self->vms, g_strdup (vm->uuid), vm);
  vm->registered = TRUE;
  g_cond_broadcast (&self->conn_cond);
  g_mutex_unlock (&self->conn_lock);
}

/* After it returns no event callback runs on vm any more. */
void
lv_conn_unregister_vm (VcPluginInstance *self, VcVm *vm)
{
  g_mutex_lock (&self->conn_lock);
  if (vm->registered && g_hash_table_lookup (self->vms, vm->uuid) == vm)
    g_hash_table_remove (self->vms, vm->uuid);
  vm->registered = FALSE;
  while (vm->dispatching > 0)
    g_cond_wait (&self->conn_cond, &self->conn_lock);
  g_mutex_unlock (&self->conn_lock);
}

/* The VM registered under uuid, held until vm_release. */
static VcVm *
vm_hold (VcPluginInstance *self, const char *uuid)
{
  g_mutex_lock (&self->conn_lock);
  VcVm *vm = g_hash_table_lookup (self->vms, uuid);
  if (vm != NULL)
    vm->dispatching++;
  g_mutex_unlock (&self->conn_lock);
  return vm;
}

static void
vm_release (VcPluginInstance *self, VcVm *vm)
{
  g_mutex_lock (&self->conn_lock);
  vm->dispatching--;
  g_cond_broadcast (&self->conn_cond);
  g_mutex_unlock (&self->conn_lock);
}

static const char *
stopped_reason (int detail)
{
  switch (detail)
    {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
      return "guest powered off";
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
      return "destroyed through libvirt";
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
      return "guest crashed";
    case VIR_DOMAIN_EVENT_STOPPED_FAILED:
      return "QEMU ended unexpectedly (killed or crashed; libvirt reports failed)";
    case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
      return "migrated away";
    case VIR_DOMAIN_EVENT_STOPPED_SAVED:
      return "saved to a file";
    default:
      return "stopped";
    }
}

/* On the event loop thread. */
static int
on_lifecycle (virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
  VcPluginInstance *self = opaque;
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString (dom, uuid) < 0)
    return 0;
  VcVm *vm = vm_hold (self, uuid);
  if (vm == NULL)
    return 0;
  switch (event)
    {
    case VIR_DOMAIN_EVENT_STOPPED:
      lv_vm_mark_exited (vm, stopped_reason (detail));
      break;
    case VIR_DOMAIN_EVENT_SUSPENDED:
      lv_vm_emit (vm, VC_VM_EVENT_PAUSED, NULL);
      break;
    case VIR_DOMAIN_EVENT_RESUMED:
      lv_vm_emit (vm, VC_VM_EVENT_RESUMED, NULL);
      break;
    case VIR_DOMAIN_EVENT_CRASHED:
      lv_vm_emit (vm, VC_VM_EVENT_GUEST_PANICKED, "crashed");
      break;
    default:
      break;
    }
  vm_release (self, vm);
  return 0;
}

/* Takes no lock: libvirt may hold its own while it calls this, and a thread
 * holding conn_lock may be waiting for those. The watch thread reconnects. */
static void
on_close (virConnectPtr conn, int reason, void *opaque)
{
  VcPluginInstance *self = opaque;
  if (g_atomic_pointer_get (&self->conn) == conn)
    g_atomic_int_set (&self->conn_lost, TRUE);
  g_message ("hypervisor-libvirt: lost the connection to libvirt at %s (%s); reconnecting",
             self->uri,
             reason == VIR_CONNECT_CLOSE_REASON_EOF ? "libvirtd closed it"
             : reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out"
             : "error");
}

/* ---------------------------------------------------------------------------
 * Opening, dropping, reconnecting. */

static void
drop_conn_locked (VcPluginInstance *self)
{
  if (self->conn == NULL)
    return;
  if (self->lifecycle_id >= 0)
    virConnectDomainEventDeregisterAny (self->conn, self->lifecycle_id);
  virConnectUnregisterCloseCallback (self->conn, on_close);
  virConnectClose (self->conn);
  virResetLastError ();
  g_atomic_pointer_set (&self->conn, NULL);
  self->lifecycle_id = -1;
  g_atomic_int_set (&self->conn_lost, FALSE);
}

static gboolean
open_locked (VcPluginInstance *self, GError **error)
{
  virConnectPtr conn = virConnectOpen (self->uri);
  if (conn == NULL)
    {
      lv_set_error (error, self, "cannot connect to libvirt");
      return FALSE;
    }
  /* Notices a libvirtd that hangs; one that dies closes the socket at once. */
  virConnectSetKeepAlive (conn, 2, 3);
  if (virConnectRegisterCloseCallback (conn, on_close, self, NULL) < 0)
    virResetLastError ();
  int id = virConnectDomainEventRegisterAny (conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                             VIR_DOMAIN_EVENT_CALLBACK (on_lifecycle), self, NULL);
  if (id < 0)
    {
      lv_set_error (error, self, "cannot register for libvirt domain events");
      virConnectUnregisterCloseCallback (conn, on_close);
      virConnectClose (conn);
      return FALSE;
    }
  g_atomic_pointer_set (&self->conn, conn);
  self->lifecycle_id = id;
  g_atomic_int_set (&self->conn_lost, FALSE);
  return TRUE;
}

/* After a reconnect: registered domains that went away meanwhile stopped. */
static void
resync (VcPluginInstance *self, virConnectPtr conn)
{
  g_autoptr (GPtrArray) held = g_ptr_array_new ();
  g_mutex_lock (&self->conn_lock);
  GHashTableIter iter;
  gpointer value;
  g_hash_table_iter_init (&iter, self->vms);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      VcVm *vm = value;
      vm->dispatching++;
      g_ptr_array_add (held, vm);
    }
  g_mutex_unlock (&self->conn_lock);
  for (guint i = 0; i < held->len; i++)
    {
      VcVm *vm = g_ptr_array_index (held, i);
      g_autoptr (virDomain) dom = virDomainLookupByUUIDString (conn, vm->uuid);
      int state = VIR_DOMAIN_NOSTATE;
      if (dom == NULL && lv_last_error_is (VIR_ERR_NO_DOMAIN))
        lv_vm_mark_exited (vm, "the domain went away while libvirtd was unreachable");
      else if (dom != NULL && virDomainGetState (dom, &state, NULL, 0) == 0
               && (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED))
        lv_vm_mark_exited (vm, "the domain stopped while libvirtd was unreachable");
      virResetLastError ();
      vm_release (self, vm);
    }
}

virConnectPtr
lv_conn_get (VcPluginInstance *self, GError **error)
{
  g_mutex_lock (&self->conn_lock);
  if (self->conn != NULL && (g_atomic_int_get (&self->conn_lost) || virConnectIsAlive (self->conn) != 1))
    drop_conn_locked (self);
  gboolean reopened = FALSE;
  if (self->conn == NULL)
    {
      if (!open_locked (self, error))
        {
          g_mutex_unlock (&self->conn_lock);
          return NULL;
        }
      reopened = g_hash_table_size (self->vms) > 0;
    }
  virConnectPtr conn = self->conn;
  virConnectRef (conn);
  g_mutex_unlock (&self->conn_lock);
  if (reopened)
    resync (self, conn);
  return conn;
}

/* Reconnects while VMs are registered, so that their events keep coming. */
static gpointer
watch_thread (gpointer data)
{
  VcPluginInstance *self = data;
  g_mutex_lock (&self->conn_lock);
  while (self->watch_thread != NULL)
    {
      gboolean want = g_hash_table_size (self->vms) > 0 && (self->conn == NULL || g_atomic_int_get (&self->conn_lost));
      if (want)
        {
          g_mutex_unlock (&self->conn_lock);
          g_autoptr (GError) error = NULL;
          virConnectPtr conn = lv_conn_get (self, &error);
          if (conn != NULL)
            {
              g_message ("hypervisor-libvirt: reconnected to libvirt at %s", self->uri);
              virConnectClose (conn);
            }
          g_mutex_lock (&self->conn_lock);
        }
      gint64 deadline = g_get_monotonic_time () + WATCH_INTERVAL_MS * 1000;
      g_cond_wait_until (&self->conn_cond, &self->conn_lock, deadline);
    }
  g_mutex_unlock (&self->conn_lock);
  return NULL;
}

void
lv_conn_init (VcPluginInstance *self)
{
  static GOnce loop_once = G_ONCE_INIT;
  g_once (&loop_once, event_loop_init, NULL);
  g_mutex_init (&self->conn_lock);
  g_cond_init (&self->conn_cond);
  self->lifecycle_id = -1;
  self->vms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->watch_thread = g_thread_new ("vc-libvirt-watch", watch_thread, self);
}

void
lv_conn_shutdown (VcPluginInstance *self)
{
  if (self->vms == NULL)
    return;
  g_mutex_lock (&self->conn_lock);
  GThread *thread = g_steal_pointer (&self->watch_thread);
  g_cond_broadcast (&self->conn_cond);
  g_mutex_unlock (&self->conn_lock);
  if (thread != NULL)
    g_thread_join (thread);
  g_mutex_lock (&self->conn_lock);
  drop_conn_locked (self);
  g_mutex_unlock (&self->conn_lock);
  g_clear_pointer (&self->vms, g_hash_table_unref);
  g_mutex_clear (&self->conn_lock);
  g_cond_clear (&self->conn_cond);
}

/* The VM's domain, looked up by UUID (a domain of the same name but another
 * UUID is not ours). A domain that is gone marks the VM stopped. */
virDomainPtr
lv_vm_domain (VcVm *vm, GError **error)
{
  g_autoptr (virConnect) conn = lv_conn_get (vm->plugin, error);
  if (conn == NULL)
    return NULL;
  virDomainPtr dom = virDomainLookupByUUIDString (conn, vm->uuid);
  if (dom != NULL)
    return dom;
  if (lv_last_error_is (VIR_ERR_NO_DOMAIN))
    {
      virResetLastError ();
      lv_vm_mark_exited (vm, "the domain no longer exists");
      g_mutex_lock (&vm->lock);
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "VM '%s' has stopped: %s", vm->sandbox_id,
                   vm->exit_reason);
      g_mutex_unlock (&vm->lock);
      return NULL;
    }
  g_autofree char *what = g_strdup_printf ("looking up domain '%s'", vm->name);
  lv_set_error (error, vm->plugin, what);
  return NULL;
}
