/* hypervisor-qemu: a VM's life: configuration, cold plug, start, QMP events,
 * the monitor thread that notices QEMU's death, pause/resume, stop, queries. */
#include "config.h"

#include "qemu-plugin.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

/* ---------------------------------------------------------------------------
 * Devices. */

void
qemu_device_free (QemuDevice *dev)
{
  if (dev == NULL)
    return;
  if (dev->device != NULL && dev->device->type == VC_DEVICE_NET && dev->device->net_fd >= 0)
    close (dev->device->net_fd);
  vc_device_free (dev->device);
  g_free (dev->qemu_id);
  g_free (dev->node_name);
  g_free (dev->chardev_id);
  g_free (dev);
}

QemuDevice *
qemu_vm_find_device (VcVm *vm, const char *device_id)
{
  for (guint i = 0; i < vm->devices->len; i++)
    {
      QemuDevice *dev = g_ptr_array_index (vm->devices, i);
      if (g_str_equal (dev->device->id, device_id))
        return dev;
    }
  return NULL;
}

static VcDevice *
device_copy (const VcDevice *src)
{
  VcDevice *d = vc_device_new (src->type, src->id, src->host_path, src->tag);
  d->readonly = src->readonly;
  d->format = g_strdup (src->format);
  d->security_model = g_strdup (src->security_model);
  d->msize = src->msize;
  d->queue_size = src->queue_size;
  d->cache_size = src->cache_size;
  return d;
}

/* A QemuDevice for a validated VcDevice; QEMU-side names are short and
 * numbered because block node names may not exceed 31 characters. */
static QemuDevice *
device_entry_new (VcVm *vm, const VcDevice *device)
{
  static gint counter;
  guint n = (guint) g_atomic_int_add (&counter, 1);
  QemuDevice *dev = g_new0 (QemuDevice, 1);
  dev->device = device_copy (device);
  dev->qemu_id = g_strdup_printf ("vc-%s", device->id);
  dev->port = -1;
  if (device->type == VC_DEVICE_BLOCK || device->type == VC_DEVICE_FS_9P)
    dev->node_name = g_strdup_printf ("vc-node%u-%d", n, (int) getpid () % 100000);
  if (device->type == VC_DEVICE_FS_VHOST_USER)
    dev->chardev_id = g_strdup_printf ("vc-chr%u-%d", n, (int) getpid () % 100000);
  if (device->type == VC_DEVICE_NET)
    dev->node_name = g_strdup_printf ("vc-netdev%u-%d", n, (int) getpid () % 100000);
  return dev;
}

void
qemu_fill_guest_device (VcVm *vm, QemuDevice *dev, VcGuestDevice *out)
{
  if (out == NULL)
    return;
  vc_guest_device_clear (out);
  out->struct_size = sizeof (VcGuestDevice);
  out->id = g_strdup (dev->device->id);
  gboolean mmio = vm->machine == QEMU_MACHINE_MICROVM;
  switch (dev->device->type)
    {
    case VC_DEVICE_BLOCK:
      out->driver = g_strdup (mmio ? "mmioblk" : "blk");
      break;
    case VC_DEVICE_FS_9P:
      out->driver = g_strdup ("9p");
      break;
    case VC_DEVICE_FS_VHOST_USER:
      out->driver = g_strdup ("virtio-fs");
      break;
    default:
      break;
    }
  /* Kata's PCI path: the slot of each bridge on the way, then the device's. */
  if (!mmio)
    out->guest_address = dev->port >= 0 ? g_strdup_printf ("%02x/00", dev->slot)
                                        : g_strdup_printf ("%02x", dev->slot);
}

gboolean
qemu_add_device (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  if (vm->pid != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "VM '%s' is already started: cold plug is only possible before start_vm (use hotplug_add)",
                   vm->sandbox_id);
      return FALSE;
    }
  if (!qemu_device_validate (vm, device, error))
    return FALSE;
  g_autoptr (VcDevice) replacement = NULL;
  if (vm->template_mode != VC_VM_TEMPLATE_NONE)
    {
      g_autoptr (GError) local = NULL;
      if (!qemu_template_add_device (vm, device, &replacement, &local))
        {
          if (local == NULL)
            return TRUE;  /* deferred: hot-plugged after the restore */
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      if (replacement != NULL)
        device = replacement;
    }

  QemuDevice *dev = device_entry_new (vm, device);
  if (device->type == VC_DEVICE_NET && !qemu_net_copy (dev->device, device, error))
    {
      qemu_device_free (dev);
      return FALSE;
    }
  /* A disk goes behind a root port, as a hot-plugged one: a container's
   * volume cold-plugged at boot can then be unplugged when the container is
   * deleted (devices on pcie.0 itself cannot). */
  int port = vm->machine == QEMU_MACHINE_Q35 && device->type == VC_DEVICE_BLOCK
             && vm->template_mode == VC_VM_TEMPLATE_NONE ? qemu_vm_free_port (vm) : -1;
  if (port >= 0)
    {
      dev->port = port;
      dev->slot = QEMU_HOTPLUG_PORT_SLOT + (guint) port;
    }
  else if (vm->machine == QEMU_MACHINE_Q35)
    {
      guint used = 0;
      for (guint i = 0; i < vm->devices->len; i++)
        {
          QemuDevice *other = g_ptr_array_index (vm->devices, i);
          if (other->port < 0)
            used = MAX (used, other->slot);
        }
      dev->slot = used == 0 ? QEMU_FIRST_COLD_SLOT : used + 1;
      if (dev->slot > QEMU_LAST_COLD_SLOT)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                       "device '%s': no free PCI slot left for cold-plugged devices (%d at most)",
                       device->id, QEMU_LAST_COLD_SLOT - QEMU_FIRST_COLD_SLOT + 1);
          qemu_device_free (dev);
          return FALSE;
        }
    }
  if (device->type == VC_DEVICE_FS_VHOST_USER)
    vm->shared_memory = TRUE;
  g_mutex_lock (&vm->lock);
  g_ptr_array_add (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  qemu_fill_guest_device (vm, dev, guest_out);
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * Creating the handle. */

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

static gboolean
socket_path_fits (const char *path, GError **error)
{
  if (strlen (path) < sizeof (((struct sockaddr_un *) NULL)->sun_path))
    return TRUE;
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
               "socket path '%s' is too long for a Unix socket: choose a shorter state_dir", path);
  return FALSE;
}

/* Everything but the process: used by create_vm and attach_vm. */
VcVm *
qemu_vm_new (VcPluginInstance *self, const VcVmConfig *config, GError **error)
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
  VcAgentTransport transport = config->agent_transport;
  if (transport == VC_AGENT_TRANSPORT_NONE)
    transport = self->have_vhost_vsock ? VC_AGENT_TRANSPORT_VSOCK : VC_AGENT_TRANSPORT_SERIAL;
  if (transport == VC_AGENT_TRANSPORT_HYBRID_VSOCK
      || (transport == VC_AGENT_TRANSPORT_VSOCK && !self->have_vhost_vsock))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "VM config: agent transport %s is not available with QEMU here (%s)",
                   transport == VC_AGENT_TRANSPORT_VSOCK ? "vsock" : "hybrid vsock",
                   transport == VC_AGENT_TRANSPORT_VSOCK ? "no /dev/vhost-vsock" : "use serial or vsock");
      return NULL;
    }

  g_autofree char *qmp_path = g_build_filename (config->state_dir, "qmp.sock", NULL);
  g_autofree char *agent_path = g_build_filename (config->state_dir, "agent.sock", NULL);
  if (!socket_path_fits (qmp_path, error) || !socket_path_fits (agent_path, error))
    return NULL;

  VcVm *vm = g_new0 (VcVm, 1);
  vm->plugin = self;
  vm->machine = self->machine;
  vm->use_kvm = qemu_plugin_use_kvm (self);
  vm->sandbox_id = g_strdup (config->sandbox_id);
  vm->state_dir = g_strdup (config->state_dir);
  vm->vcpus = config->vcpus;
  vm->max_vcpus = max_vcpus;
  vm->memory_mib = config->memory_mib;
  vm->max_memory_mib = max_mem;
  vm->kernel = absolute (config->kernel);
  vm->initrd = absolute (config->initrd);
  vm->kernel_params = g_strdup (config->kernel_params);
  vm->agent_transport = transport;
  /* Guest CIDs are host-global; 3 is the first one free for guests. */
  vm->vsock_cid = 3 + g_str_hash (config->sandbox_id) % 0x7ffffff0u;
  vm->event_func = config->event_func;
  vm->event_data = config->event_data;
  vm->qmp_path = g_steal_pointer (&qmp_path);
  vm->agent_path = g_steal_pointer (&agent_path);
  vm->console_file = g_build_filename (config->state_dir, "console.log", NULL);
  vm->pid_file = g_build_filename (config->state_dir, "qemu.pid", NULL);
  vm->log_file = g_build_filename (config->state_dir, "qemu.log", NULL);
  vm->agent_open_file = qemu_agent_open_file (vm->agent_path);
  vm->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) qemu_device_free);
  vm->pidfd = -1;
  vm->monitor_wake[0] = vm->monitor_wake[1] = -1;
  g_mutex_init (&vm->lock);
  g_cond_init (&vm->cond);
  if (!qemu_template_configure (vm, config, error))
    {
      qemu_free_vm (vm);
      return NULL;
    }
  return vm;
}

/* ---------------------------------------------------------------------------
 * Events. */

void
qemu_vm_emit (VcVm *vm, VcVmEvent event, const char *detail)
{
  if (vm->event_func != NULL)
    vm->event_func (event, detail, vm->event_data);
}

static const char *
json_string_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
json_bool_member (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;
  return json_node_get_boolean (node);
}

static char *
shutdown_reason (JsonObject *data)
{
  const char *reason = json_string_member (data, "reason");
  if (reason == NULL)
    return g_strdup ("qemu shut down");
  if (g_str_equal (reason, "guest-shutdown"))
    return g_strdup ("guest powered off");
  if (g_str_equal (reason, "guest-reset"))
    return g_strdup ("guest rebooted");
  if (g_str_equal (reason, "guest-panic"))
    return g_strdup ("guest panicked");
  if (g_str_equal (reason, "host-qmp-quit"))
    return g_strdup ("stopped by the host (QMP quit)");
  if (g_str_equal (reason, "host-signal"))
    return g_strdup ("qemu received a termination signal");
  return g_strdup_printf ("qemu shut down (%s)", reason);
}

/* On the QMP reader thread: must not issue QMP commands. */
static void
on_qmp_event (const char *event, JsonObject *data, gpointer user_data)
{
  VcVm *vm = user_data;
  if (g_str_equal (event, "SHUTDOWN"))
    {
      g_autofree char *reason = shutdown_reason (data);
      g_mutex_lock (&vm->lock);
      g_free (vm->shutdown_reason);
      vm->shutdown_reason = g_steal_pointer (&reason);
      g_mutex_unlock (&vm->lock);
    }
  else if (g_str_equal (event, "STOP"))
    qemu_vm_emit (vm, VC_VM_EVENT_PAUSED, NULL);
  else if (g_str_equal (event, "RESUME"))
    qemu_vm_emit (vm, VC_VM_EVENT_RESUMED, NULL);
  else if (g_str_equal (event, "GUEST_PANICKED"))
    qemu_vm_emit (vm, VC_VM_EVENT_GUEST_PANICKED, json_string_member (data, "action"));
  else if (g_str_equal (event, "DEVICE_DELETED"))
    {
      const char *qemu_id = json_string_member (data, "device");
      if (qemu_id == NULL)
        return;
      g_autofree char *removed = NULL;
      g_mutex_lock (&vm->lock);
      for (guint i = 0; i < vm->devices->len; i++)
        {
          QemuDevice *dev = g_ptr_array_index (vm->devices, i);
          if (g_str_equal (dev->qemu_id, qemu_id) && !dev->removed)
            {
              dev->removed = TRUE;
              removed = g_strdup (dev->device->id);
            }
        }
      g_cond_broadcast (&vm->cond);
      g_mutex_unlock (&vm->lock);
      if (removed != NULL)
        qemu_vm_emit (vm, VC_VM_EVENT_DEVICE_REMOVED, removed);
    }
  else if (g_str_equal (event, "VSERPORT_CHANGE"))
    {
      const char *id = json_string_member (data, "id");
      if (id == NULL || !g_str_equal (id, QEMU_AGENT_PORT_ID))
        return;
      gboolean open = json_bool_member (data, "open");
      if (open)
        {
          g_autoptr (GError) error = NULL;
          if (!g_file_set_contents (vm->agent_open_file, "", 0, &error))
            g_warning ("hypervisor-qemu: %s", error->message);
        }
      else
        g_unlink (vm->agent_open_file);
      g_mutex_lock (&vm->lock);
      vm->agent_open = open;
      g_cond_broadcast (&vm->cond);
      g_mutex_unlock (&vm->lock);
      qemu_vm_emit (vm, VC_VM_EVENT_AGENT_CHANNEL, open ? "open" : "closed");
    }
}

static void
on_qmp_closed (const char *reason, gpointer user_data)
{
  VcVm *vm = user_data;
  g_debug ("hypervisor-qemu: %s: QMP closed: %s", vm->sandbox_id, reason);
  /* Wake waiters so they look at the process (the monitor sees it exit). */
  g_mutex_lock (&vm->lock);
  g_cond_broadcast (&vm->cond);
  g_mutex_unlock (&vm->lock);
}

gboolean
qemu_vm_connect_qmp (VcVm *vm, guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_autoptr (QmpClient) client = NULL;
  for (;;)
    {
      g_autoptr (GError) local = NULL;
      if (!qemu_process_alive (vm))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "QEMU (pid %d) exited", (int) vm->pid);
          return FALSE;
        }
      client = qmp_client_connect (vm->qmp_path, 0, on_qmp_event, on_qmp_closed, vm, &local);
      if (client != NULL)
        break;
      if (!g_error_matches (local, VC_ERROR, VC_ERROR_TIMEOUT) || g_get_monotonic_time () >= deadline)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      g_usleep (20 * 1000);
    }
  gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
  if (!qmp_client_negotiate (client, (guint) CLAMP (left, 100, G_MAXINT), error))
    return FALSE;
  vm->qmp = g_steal_pointer (&client);
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * The monitor thread: notices QEMU's end within a second, cleans up, and
 * reports VC_VM_EVENT_STOPPED exactly once. */

static void
handle_exit (VcVm *vm)
{
  g_autofree char *reaped = qemu_process_reap (vm);
  qemu_remove_runtime_files (vm);
  g_mutex_lock (&vm->lock);
  char *reason;
  if (reaped != NULL && g_str_has_prefix (reaped, "qemu killed"))
    reason = g_strdup (reaped);
  else if (vm->shutdown_reason != NULL)
    reason = g_strdup (vm->shutdown_reason);
  else if (reaped != NULL)
    reason = g_strdup (reaped);
  else
    reason = g_strdup ("qemu exited unexpectedly");
  vm->exited = TRUE;
  vm->exit_reason = reason;
  vm->agent_open = FALSE;
  g_cond_broadcast (&vm->cond);
  g_mutex_unlock (&vm->lock);
  g_message ("hypervisor-qemu: VM '%s' stopped: %s", vm->sandbox_id, reason);
  qemu_vm_emit (vm, VC_VM_EVENT_STOPPED, reason);
}

static gpointer
monitor_thread (gpointer data)
{
  VcVm *vm = data;
  for (;;)
    {
      struct pollfd fds[2] = {
        { .fd = vm->monitor_wake[0], .events = POLLIN },
        { .fd = vm->pidfd, .events = POLLIN },
      };
      /* Without a pidfd, look at the process five times a second. */
      int r = poll (fds, vm->pidfd >= 0 ? 2 : 1, vm->pidfd >= 0 ? -1 : 200);
      if (r < 0 && errno == EINTR)
        continue;
      if (r > 0 && fds[0].revents != 0)
        return NULL;
      if ((vm->pidfd >= 0 && fds[1].revents != 0) || (vm->pidfd < 0 && !qemu_process_alive (vm)))
        {
          handle_exit (vm);
          return NULL;
        }
    }
}

void
qemu_vm_start_monitor (VcVm *vm)
{
  g_autoptr (GError) error = NULL;
  if (!g_unix_open_pipe (vm->monitor_wake, FD_CLOEXEC, &error))
    g_error ("hypervisor-qemu: cannot create a pipe: %s", error->message);
  vm->monitor = g_thread_new ("vc-qemu-monitor", monitor_thread, vm);
}

static void
stop_monitor (VcVm *vm)
{
  if (vm->monitor == NULL)
    return;
  char byte = 1;
  while (write (vm->monitor_wake[1], &byte, 1) < 0 && errno == EINTR)
    ;
  g_thread_join (vm->monitor);
  vm->monitor = NULL;
  close (vm->monitor_wake[0]);
  close (vm->monitor_wake[1]);
  vm->monitor_wake[0] = vm->monitor_wake[1] = -1;
}

/* Waits until the monitor has seen the process end. */
gboolean
qemu_vm_wait_exit (VcVm *vm, guint timeout_ms)
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
qemu_vm_require_running (VcVm *vm, GError **error)
{
  if (vm->pid == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "VM '%s' is not started", vm->sandbox_id);
      return FALSE;
    }
  g_mutex_lock (&vm->lock);
  gboolean exited = vm->exited;
  g_autofree char *reason = g_strdup (vm->exit_reason);
  g_mutex_unlock (&vm->lock);
  if (exited || vm->qmp == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "VM '%s' has stopped: %s", vm->sandbox_id,
                   reason != NULL ? reason : "no QMP connection");
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * Start. */

/* After a failed start: no process, no file. */
static void
abandon_start (VcVm *vm)
{
  stop_monitor (vm);
  g_clear_pointer (&vm->qmp, qmp_client_free);
  if (vm->pid > 0)
    {
      qemu_pidfd_signal (vm, SIGKILL);
      if (vm->is_child)
        {
          int status;
          while (waitpid (vm->pid, &status, 0) < 0 && errno == EINTR)
            ;
        }
    }
  if (vm->pidfd >= 0)
    close (vm->pidfd);
  vm->pidfd = -1;
  vm->pid = 0;
  vm->is_child = FALSE;
  qemu_remove_runtime_files (vm);
  qemu_remove_log_files (vm);
}

static gboolean
query_running (VcVm *vm, gboolean *running, char **status, GError **error)
{
  g_autoptr (JsonNode) ret = qmp_client_execute (vm->qmp, "query-status", NULL, QEMU_QMP_TIMEOUT_MS, error);
  if (ret == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (ret))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL, "query-status returned no object");
      return FALSE;
    }
  JsonObject *o = json_node_get_object (ret);
  *running = json_bool_member (o, "running");
  if (status != NULL)
    *status = g_strdup (json_string_member (o, "status"));
  return TRUE;
}

gboolean
qemu_start_vm (VcVm *vm, guint timeout_ms, GError **error)
{
  if (vm->pid != 0)
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
  g_autoptr (GPtrArray) argv = qemu_cmdline_build (vm, error);
  if (argv == NULL)
    return FALSE;
  g_autofree char *cmdline = g_strjoinv (" ", (char **) argv->pdata);
  g_debug ("hypervisor-qemu: %s: %s", vm->sandbox_id, cmdline);

  if (vm->template_mode == VC_VM_TEMPLATE_RESTORE && !qemu_template_check_files (vm, error))
    return FALSE;

  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + (gint64) timeout_ms * 1000;
  qemu_remove_runtime_files (vm);
  gboolean spawned = qemu_process_spawn (vm, (char **) argv->pdata, error);
  /* QEMU has its taps, or failed: either way ours must not keep them alive. */
  qemu_net_close_fds (vm);
  if (!spawned)
    return FALSE;

  g_autoptr (GError) local = NULL;
  if (!qemu_vm_connect_qmp (vm, timeout_ms, &local))
    goto failed;
  if (vm->template_mode == VC_VM_TEMPLATE_RESTORE && !qemu_template_restore (vm, deadline, &local))
    goto failed;
  for (;;)
    {
      gboolean running = FALSE;
      g_autofree char *status = NULL;
      if (!query_running (vm, &running, &status, &local))
        goto failed;
      if (running)
        break;
      /* A restored guest comes back paused, as it was saved. */
      if (vm->template_mode == VC_VM_TEMPLATE_RESTORE && g_strcmp0 (status, "paused") == 0)
        {
          if (!qmp_client_run (vm->qmp, "cont", NULL, QEMU_QMP_TIMEOUT_MS, &local))
            goto failed;
          continue;
        }
      if (g_get_monotonic_time () >= deadline)
        {
          g_set_error (&local, VC_ERROR, VC_ERROR_TIMEOUT, "the VM is '%s', not running, after %u ms",
                       status != NULL ? status : "?", timeout_ms);
          goto failed;
        }
      g_usleep (vm->template_mode == VC_VM_TEMPLATE_RESTORE ? 5 * 1000 : 50 * 1000);
    }
  if (vm->template_mode == VC_VM_TEMPLATE_RESTORE && !qemu_template_finish (vm, &local))
    goto failed;
  /* From here on its death is an event, no longer a failed start. */
  qemu_vm_start_monitor (vm);
  g_info ("hypervisor-qemu: VM '%s' %s (pid %d, %s, %s) in %" G_GINT64_FORMAT " ms", vm->sandbox_id,
          vm->template_mode == VC_VM_TEMPLATE_RESTORE ? "restored from its template" : "started",
          (int) vm->pid, vm->machine == QEMU_MACHINE_Q35 ? "q35" : "microvm",
          vm->use_kvm ? "KVM" : "TCG", (g_get_monotonic_time () - start) / 1000);
  return TRUE;

failed:
  {
    /* QEMU's own words explain most failures (a missing kernel, a bad option). */
    /* QMP closing first means QEMU is on its way out: give it a moment. */
    gint64 exit_deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
    while (g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED) && qemu_process_alive (vm)
           && g_get_monotonic_time () < exit_deadline)
      g_usleep (10 * 1000);
    gboolean died = !qemu_process_alive (vm);
    g_autofree char *log = qemu_read_log_tail (vm->log_file, 2048);
    g_autofree char *reaped = died ? qemu_process_reap (vm) : NULL;
    if (died)
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "QEMU failed to start VM '%s' (%s): %s",
                   vm->sandbox_id, reaped != NULL ? reaped : "exited", log);
    else
      g_set_error (error, local->domain, local->code, "QEMU did not start VM '%s': %s (QEMU log: %s)",
                   vm->sandbox_id, local->message, log);
    abandon_start (vm);
    return FALSE;
  }
}

/* ---------------------------------------------------------------------------
 * Stop, pause, resume, status. */

/* The ACPI power button, for guests with an ACPI daemon, and Ctrl-Alt-Del,
 * which the kernel turns into SIGINT to init (the vcrun agent powers off on
 * it). Either may be ignored: stop_vm goes on to quit and SIGKILL. */
static void
ask_guest_to_power_off (VcVm *vm)
{
  g_autoptr (GError) error = NULL;
  if (!qmp_client_run (vm->qmp, "system_powerdown", NULL, QEMU_QMP_TIMEOUT_MS, &error))
    g_debug ("hypervisor-qemu: system_powerdown: %s", error->message);
  g_clear_error (&error);

  g_autoptr (JsonArray) keys = json_array_new ();
  const char *const qcodes[] = { "ctrl", "alt", "delete" };
  for (guint i = 0; i < G_N_ELEMENTS (qcodes); i++)
    {
      JsonObject *key = json_object_new ();
      json_object_set_string_member (key, "type", "qcode");
      json_object_set_string_member (key, "data", qcodes[i]);
      json_array_add_object_element (keys, key);
    }
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_array_member (args, "keys", json_array_ref (keys));
  if (!qmp_client_run (vm->qmp, "send-key", args, QEMU_QMP_TIMEOUT_MS, &error))
    g_debug ("hypervisor-qemu: send-key ctrl-alt-delete: %s", error->message);
}

gboolean
qemu_stop_vm (VcVm *vm, guint graceful_timeout_ms, GError **error)
{
  if (vm->pid == 0)
    {
      qemu_remove_runtime_files (vm);
      qemu_remove_log_files (vm);
      return TRUE;
    }
  gboolean connected = vm->qmp != NULL && !qmp_client_is_closed (vm->qmp);
  if (connected && !qemu_vm_wait_exit (vm, 0))
    {
      gboolean running = FALSE;
      /* A paused guest cannot answer the power button; microvm has neither an
       * i8042 keyboard for Ctrl-Alt-Del nor a guest that acts on its ACPI
       * button, so waiting would only lose time. */
      if (vm->machine == QEMU_MACHINE_Q35 && graceful_timeout_ms > 0
          && query_running (vm, &running, NULL, NULL) && running)
        {
          ask_guest_to_power_off (vm);
          qemu_vm_wait_exit (vm, graceful_timeout_ms);
        }
      if (!qemu_vm_wait_exit (vm, 0))
        {
          g_autoptr (GError) local = NULL;
          if (!qmp_client_run (vm->qmp, "quit", NULL, QEMU_QMP_TIMEOUT_MS, &local))
            g_debug ("hypervisor-qemu: quit: %s", local->message);
          qemu_vm_wait_exit (vm, 3000);
        }
    }
  if (!qemu_vm_wait_exit (vm, 0))
    {
      qemu_pidfd_signal (vm, SIGKILL);
      if (!qemu_vm_wait_exit (vm, 3000))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                       "QEMU (pid %d) of VM '%s' did not exit even after SIGKILL", (int) vm->pid,
                       vm->sandbox_id);
          return FALSE;
        }
    }
  qemu_remove_runtime_files (vm);
  qemu_remove_log_files (vm);
  return TRUE;
}

static gboolean
pause_or_resume (VcVm *vm, gboolean pause, GError **error)
{
  if (!qemu_vm_require_running (vm, error))
    return FALSE;
  if (!qmp_client_run (vm->qmp, pause ? "stop" : "cont", NULL, QEMU_QMP_TIMEOUT_MS, error))
    return FALSE;
  gboolean running = FALSE;
  g_autofree char *status = NULL;
  if (!query_running (vm, &running, &status, error))
    return FALSE;
  if (running == pause)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "VM '%s' is '%s' after %s", vm->sandbox_id,
                   status != NULL ? status : "?", pause ? "stop" : "cont");
      return FALSE;
    }
  return TRUE;
}

gboolean
qemu_pause_vm (VcVm *vm, GError **error)
{
  return pause_or_resume (vm, TRUE, error);
}

gboolean
qemu_resume_vm (VcVm *vm, GError **error)
{
  return pause_or_resume (vm, FALSE, error);
}

VcVmStatus
qemu_get_status (VcVm *vm, GError **error)
{
  if (vm->pid == 0)
    return VC_VM_STATUS_CREATED;
  if (qemu_vm_wait_exit (vm, 0) || !qemu_process_alive (vm))
    return VC_VM_STATUS_STOPPED;
  if (!qemu_vm_require_running (vm, error))
    return VC_VM_STATUS_UNKNOWN;
  gboolean running = FALSE;
  g_autofree char *status = NULL;
  if (!query_running (vm, &running, &status, error))
    return VC_VM_STATUS_UNKNOWN;
  if (running)
    return VC_VM_STATUS_RUNNING;
  if (status != NULL && (g_str_equal (status, "shutdown") || g_str_equal (status, "guest-panicked")
                         || g_str_equal (status, "internal-error")))
    return VC_VM_STATUS_STOPPED;
  return VC_VM_STATUS_PAUSED;
}

/* ---------------------------------------------------------------------------
 * Queries. */

char *
qemu_console_path (VcVm *vm)
{
  return g_strdup (vm->console_file);
}

GArray *
qemu_get_pids (VcVm *vm, GError **error)
{
  if (!qemu_vm_require_running (vm, error))
    return NULL;
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (gint));
  gint pid = (gint) vm->pid;
  g_array_append_val (pids, pid);
  return pids;
}

GArray *
qemu_get_vcpu_tids (VcVm *vm, GError **error)
{
  if (!qemu_vm_require_running (vm, error))
    return NULL;
  g_autoptr (JsonNode) ret = qmp_client_execute (vm->qmp, "query-cpus-fast", NULL, QEMU_QMP_TIMEOUT_MS, error);
  if (ret == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (ret))
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL, "query-cpus-fast returned no array");
      return NULL;
    }
  JsonArray *cpus = json_node_get_array (ret);
  GArray *tids = g_array_new (FALSE, TRUE, sizeof (gint));
  for (guint i = 0; i < json_array_get_length (cpus); i++)
    {
      JsonNode *node = json_array_get_element (cpus, i);
      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      JsonObject *cpu = json_node_get_object (node);
      if (!json_object_has_member (cpu, "cpu-index") || !json_object_has_member (cpu, "thread-id"))
        continue;
      gint64 index = json_object_get_int_member (cpu, "cpu-index");
      gint tid = (gint) json_object_get_int_member (cpu, "thread-id");
      if (index < 0 || index >= 256)
        continue;
      if ((guint) index >= tids->len)
        g_array_set_size (tids, (guint) index + 1);
      g_array_index (tids, gint, index) = tid;
    }
  return tids;
}

gboolean
qemu_get_agent_endpoint (VcVm *vm, VcAgentEndpoint *out, GError **error)
{
  vc_agent_endpoint_clear (out);
  out->struct_size = sizeof (VcAgentEndpoint);
  out->transport = vm->agent_transport;
  if (vm->agent_transport == VC_AGENT_TRANSPORT_VSOCK)
    {
      out->cid = vm->vsock_cid;
      out->port = 1024;
    }
  else
    out->socket_path = g_strdup (vm->agent_path);
  return TRUE;
}

gboolean
qemu_wait_agent_channel (VcVm *vm, guint timeout_ms, GError **error)
{
  if (!qemu_vm_require_running (vm, error))
    return FALSE;
  if (vm->agent_transport == VC_AGENT_TRANSPORT_VSOCK)
    return TRUE;
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_mutex_lock (&vm->lock);
  while (!vm->agent_open && !vm->exited)
    if (!g_cond_wait_until (&vm->cond, &vm->lock, deadline))
      break;
  gboolean open = vm->agent_open, exited = vm->exited;
  g_autofree char *reason = g_strdup (vm->exit_reason);
  g_mutex_unlock (&vm->lock);
  if (open)
    return TRUE;
  if (exited)
    g_set_error (error, VC_ERROR, VC_ERROR_STOPPED,
                 "VM '%s' stopped before the guest opened the agent channel: %s", vm->sandbox_id, reason);
  else
    g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                 "the guest of VM '%s' did not open the agent channel '%s' within %u ms (see %s)",
                 vm->sandbox_id, QEMU_AGENT_PORT_NAME, timeout_ms, vm->console_file);
  return FALSE;
}

/* The process outlives the handle; reap it when it ends if it is our child,
 * so that it does not stay a zombie in a long-running caller. */
static gpointer
reaper_thread (gpointer data)
{
  pid_t pid = GPOINTER_TO_INT (data);
  int status;
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  return NULL;
}

void
qemu_free_vm (VcVm *vm)
{
  if (vm == NULL)
    return;
  stop_monitor (vm);
  /* Closing QMP lets another process attach (QMP takes one client). */
  g_clear_pointer (&vm->qmp, qmp_client_free);
  if (vm->is_child && vm->pid > 0)
    {
      g_autofree char *reaped = qemu_process_reap (vm);
      if (reaped == NULL)
        g_thread_unref (g_thread_new ("vc-qemu-reaper", reaper_thread, GINT_TO_POINTER (vm->pid)));
    }
  if (vm->pidfd >= 0)
    close (vm->pidfd);
  g_ptr_array_unref (vm->devices);
  g_free (vm->sandbox_id);
  g_free (vm->state_dir);
  g_free (vm->kernel);
  g_free (vm->initrd);
  g_free (vm->kernel_params);
  g_free (vm->qmp_path);
  g_free (vm->agent_path);
  g_free (vm->console_file);
  g_free (vm->pid_file);
  g_free (vm->log_file);
  g_free (vm->agent_open_file);
  g_free (vm->exit_reason);
  g_free (vm->shutdown_reason);
  g_free (vm->template_dir);
  if (vm->deferred != NULL)
    g_ptr_array_unref (vm->deferred);
  g_mutex_clear (&vm->lock);
  g_cond_clear (&vm->cond);
  g_free (vm);
}
