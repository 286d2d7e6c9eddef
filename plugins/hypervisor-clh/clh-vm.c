/* hypervisor-clh: a VM's life: configuration, cold plug, start (spawn,
 * vmm.ping, vm.create, vm.add-net per NIC, vm.boot), the monitor thread that notices the VMM's
 * death, pause/resume, stop, queries. */
#include "config.h"

#include "clh-plugin.h"

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
clh_device_free (ClhDevice *dev)
{
  if (dev == NULL)
    return;
  if (dev->device->type == VC_DEVICE_NET && dev->device->net_fd >= 0)
    close (dev->device->net_fd);
  vc_device_free (dev->device);
  g_free (dev->clh_id);
  g_free (dev->bdf);
  g_free (dev);
}

ClhDevice *
clh_device_new (const VcDevice *src)
{
  ClhDevice *dev = g_new0 (ClhDevice, 1);
  VcDevice *d = vc_device_new (src->type, src->id, src->host_path, src->tag);
  d->readonly = src->readonly;
  d->format = g_strdup (src->format);
  d->queue_size = src->queue_size;
  dev->device = d;
  dev->clh_id = g_strconcat (CLH_DISK_ID_PREFIX, src->id, NULL);
  return dev;
}

ClhDevice *
clh_vm_find_device (VcVm *vm, const char *device_id)
{
  for (guint i = 0; i < vm->devices->len; i++)
    {
      ClhDevice *dev = g_ptr_array_index (vm->devices, i);
      if (g_str_equal (dev->device->id, device_id))
        return dev;
    }
  return NULL;
}

void
clh_fill_guest_device (VcVm *vm, ClhDevice *dev, VcGuestDevice *out)
{
  if (out == NULL)
    return;
  vc_guest_device_clear (out);
  out->struct_size = sizeof (VcGuestDevice);
  out->id = g_strdup (dev->device->id);
  if (dev->device->type == VC_DEVICE_BLOCK)
    out->driver = g_strdup ("blk");
  else if (dev->device->type == VC_DEVICE_FS_VHOST_USER)
    out->driver = g_strdup ("virtio-fs");
  /* CLH answers hotplug with the device's BDF "0000:00:06.0": Kata's PCI
   * path on a flat root bus is the slot. */
  if (dev->bdf != NULL && strlen (dev->bdf) >= 10)
    out->guest_address = g_strndup (dev->bdf + 8, 2);
}

gboolean
clh_add_device (VcVm *vm, const VcDevice *device, VcGuestDevice *guest_out, GError **error)
{
  if (vm->pid != 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "VM '%s' is already started: cold plug is only possible before start_vm (use hotplug_add)",
                   vm->sandbox_id);
      return FALSE;
    }
  if (!clh_device_validate (vm, device, error))
    return FALSE;
  ClhDevice *dev = clh_device_new (device);
  if (device->type == VC_DEVICE_NET && !clh_net_copy (dev, device, error))
    {
      clh_device_free (dev);
      return FALSE;
    }
  if (device->type == VC_DEVICE_FS_VHOST_USER)
    vm->shared_memory = TRUE;
  g_mutex_lock (&vm->lock);
  g_ptr_array_add (vm->devices, dev);
  g_mutex_unlock (&vm->lock);
  clh_fill_guest_device (vm, dev, guest_out);
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
clh_vm_new (VcPluginInstance *self, const VcVmConfig *config, GError **error)
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
  if (config->vcpus == 0 || max_vcpus < config->vcpus || max_vcpus > 254)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM config: vcpus %u / max_vcpus %u must satisfy 1 <= vcpus <= max_vcpus <= 254",
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
      && config->agent_transport != VC_AGENT_TRANSPORT_HYBRID_VSOCK)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "VM config: Cloud Hypervisor offers the agent only over hybrid vsock "
                   "(set agent-kata's transport to auto or hybrid-vsock)");
      return NULL;
    }

  g_autofree char *api_path = g_build_filename (config->state_dir, "clh-api.sock", NULL);
  g_autofree char *vsock_path = g_build_filename (config->state_dir, "clh-vsock.sock", NULL);
  if (!socket_path_fits (api_path, error) || !socket_path_fits (vsock_path, error))
    return NULL;

  VcVm *vm = g_new0 (VcVm, 1);
  vm->plugin = self;
  vm->sandbox_id = g_strdup (config->sandbox_id);
  vm->state_dir = g_strdup (config->state_dir);
  vm->vcpus = vm->cur_vcpus = config->vcpus;
  vm->max_vcpus = max_vcpus;
  vm->memory_mib = vm->cur_memory_mib = config->memory_mib;
  vm->max_memory_mib = max_mem;
  vm->kernel = absolute (config->kernel);
  vm->initrd = absolute (config->initrd);
  vm->kernel_params = g_strdup (config->kernel_params);
  /* Hybrid vsock never reaches the host's vsock space, but CLH wants a CID. */
  vm->vsock_cid = 3;
  vm->event_func = config->event_func;
  vm->event_data = config->event_data;
  vm->api_path = g_steal_pointer (&api_path);
  vm->vsock_path = g_steal_pointer (&vsock_path);
  vm->console_file = g_build_filename (config->state_dir, "console.log", NULL);
  vm->log_file = g_build_filename (config->state_dir, "clh.log", NULL);
  vm->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) clh_device_free);
  vm->pidfd = -1;
  vm->monitor_wake[0] = vm->monitor_wake[1] = -1;
  g_mutex_init (&vm->lock);
  g_cond_init (&vm->cond);
  return vm;
}

/* ---------------------------------------------------------------------------
 * The API, and the monitor thread: notices the VMM's end within a second
 * (at once with a pidfd), cleans up, and reports VC_VM_EVENT_STOPPED once. */

gboolean
clh_vm_api (VcVm *vm, const char *method, const char *endpoint, JsonNode *body, JsonNode **reply,
            GError **error)
{
  if (!clh_vm_require_running (vm, error))
    return FALSE;
  return clh_api_request (vm->api_path, vm->plugin->api_timeout_ms, method, endpoint, body, reply,
                          error);
}

static void
emit (VcVm *vm, VcVmEvent event, const char *detail)
{
  if (vm->event_func != NULL)
    vm->event_func (event, detail, vm->event_data);
}

static void
handle_exit (VcVm *vm)
{
  g_autofree char *reason = clh_process_reap (vm);
  if (reason == NULL)
    reason = g_strdup ("cloud-hypervisor exited");
  clh_remove_runtime_files (vm);
  g_mutex_lock (&vm->lock);
  vm->exited = TRUE;
  vm->exit_reason = g_strdup (reason);
  g_cond_broadcast (&vm->cond);
  g_mutex_unlock (&vm->lock);
  g_info ("hypervisor-clh: VM '%s': %s", vm->sandbox_id, reason);
  emit (vm, VC_VM_EVENT_STOPPED, reason);
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
      if ((vm->pidfd >= 0 && fds[1].revents != 0) || (vm->pidfd < 0 && !clh_process_alive (vm)))
        {
          handle_exit (vm);
          return NULL;
        }
    }
}

void
clh_vm_start_monitor (VcVm *vm)
{
  g_autoptr (GError) error = NULL;
  if (!g_unix_open_pipe (vm->monitor_wake, FD_CLOEXEC, &error))
    g_error ("hypervisor-clh: cannot create a pipe: %s", error->message);
  vm->monitor = g_thread_new ("vc-clh-monitor", monitor_thread, vm);
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
static gboolean
wait_exit (VcVm *vm, guint timeout_ms)
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
clh_vm_require_running (VcVm *vm, GError **error)
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
  if (exited)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "VM '%s' has stopped: %s", vm->sandbox_id,
                   reason);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * Start. */

/* After a failed start: no process, no file. A VMM that still answers is
 * asked to go (it then removes what it made), else it is killed. */
static void
abandon_start (VcVm *vm, gboolean ask_first)
{
  stop_monitor (vm);
  clh_net_close_fds (vm);
  g_autoptr (GError) local = NULL;
  if (ask_first && clh_process_alive (vm)
      && clh_api_request (vm->api_path, 1000, "PUT", "vmm.shutdown", NULL, NULL, &local))
    clh_process_wait (vm, 2000);
  clh_process_kill_and_reap (vm);
  if (vm->pidfd >= 0)
    close (vm->pidfd);
  vm->pidfd = -1;
  vm->pid = 0;
  vm->is_child = FALSE;
  clh_remove_runtime_files (vm);
  clh_remove_log_files (vm);
}

static GPtrArray *
command_line (VcVm *vm)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup (vm->plugin->clh_path));
  g_ptr_array_add (argv, g_strdup ("--api-socket"));
  g_ptr_array_add (argv, g_strdup_printf ("path=%s", vm->api_path));
  g_ptr_array_add (argv, g_strdup ("--seccomp"));
  g_ptr_array_add (argv, g_strdup (vm->plugin->seccomp ? "true" : "false"));
  g_ptr_array_add (argv, g_strdup ("-v"));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static guint
ms_left (gint64 deadline)
{
  gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
  return (guint) CLAMP (left, 1, G_MAXINT);
}

/* Waits for the API to answer vmm.ping: the socket appears once the VMM is up. */
static gboolean
wait_ping (VcVm *vm, gint64 deadline, GError **error)
{
  for (;;)
    {
      g_autoptr (GError) local = NULL;
      g_autoptr (JsonNode) reply = NULL;
      if (!clh_process_alive (vm))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "Cloud Hypervisor (pid %d) exited",
                       (int) vm->pid);
          return FALSE;
        }
      if (g_file_test (vm->api_path, G_FILE_TEST_EXISTS)
          && clh_api_request (vm->api_path, MIN (ms_left (deadline), vm->plugin->api_timeout_ms),
                              "GET", "vmm.ping", NULL, &reply, &local))
        {
          g_autofree char *version = clh_reply_ping_version (reply, error);
          if (version == NULL)
            return FALSE;
          g_debug ("hypervisor-clh: %s: VMM version %s", vm->sandbox_id, version);
          return TRUE;
        }
      /* Not listening yet is retried; any other answer is final. */
      if (local != NULL && !g_error_matches (local, VC_ERROR, VC_ERROR_STOPPED))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      if (g_get_monotonic_time () >= deadline)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                       "Cloud Hypervisor's API socket %s did not answer in time%s%s", vm->api_path,
                       local != NULL ? ": " : "", local != NULL ? local->message : "");
          return FALSE;
        }
      g_usleep (20 * 1000);
    }
}

gboolean
clh_start_vm (VcVm *vm, guint timeout_ms, GError **error)
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
  /* Before anything runs: what CLH can boot. */
  g_autofree char *kernel = clh_kernel_pick (vm->kernel, error);
  if (kernel == NULL)
    return FALSE;
  g_free (vm->kernel);
  vm->kernel = g_steal_pointer (&kernel);
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + (gint64) timeout_ms * 1000;
  g_autoptr (GPtrArray) argv = command_line (vm);
  clh_remove_runtime_files (vm);
  if (!clh_process_spawn (vm, (char **) argv->pdata, error))
    return FALSE;

  g_autoptr (GError) local = NULL;
  g_autoptr (JsonNode) config = NULL;
  const char *step = "vmm.ping";
  if (!wait_ping (vm, deadline, &local))
    goto failed;
  step = "vm.create";
  config = clh_vm_config (vm);
  if (!clh_api_request (vm->api_path, ms_left (deadline), "PUT", "vm.create", config, NULL, &local))
    goto failed;
  /* The NICs join the created VM's config with their tap fds (CLH cannot
   * take fds in vm.create's VmConfig); then CLH holds the taps. */
  step = "vm.add-net";
  gboolean nets_added = clh_net_add_all (vm, MIN (ms_left (deadline), vm->plugin->api_timeout_ms), &local);
  clh_net_close_fds (vm);
  if (!nets_added)
    goto failed;
  step = "vm.boot";
  if (!clh_api_request (vm->api_path, ms_left (deadline), "PUT", "vm.boot", NULL, NULL, &local))
    goto failed;
  /* From here on its death is an event, no longer a failed start. */
  clh_vm_start_monitor (vm);
  g_info ("hypervisor-clh: VM '%s' started (pid %d) in %" G_GINT64_FORMAT " ms", vm->sandbox_id,
          (int) vm->pid, (g_get_monotonic_time () - start) / 1000);
  return TRUE;

failed:
  {
    /* A VMM on its way out (a failed request is often the first sign)
     * gets a moment, so that its own words explain the failure. */
    gint64 exit_deadline = g_get_monotonic_time () + G_USEC_PER_SEC;
    while (!g_error_matches (local, VC_ERROR, VC_ERROR_FAILED) && clh_process_alive (vm)
           && g_get_monotonic_time () < exit_deadline)
      g_usleep (10 * 1000);
    gboolean died = !clh_process_alive (vm);
    g_autofree char *log = clh_read_log_tail (vm->log_file, 1024);
    g_autofree char *reaped = died ? clh_process_reap (vm) : NULL;
    if (died)
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "Cloud Hypervisor failed to start VM '%s': %s during %s (%s); its log: %s",
                   vm->sandbox_id, reaped != NULL ? reaped : "exited", step, local->message, log);
    else
      g_set_error (error, local->domain, local->code, "Cloud Hypervisor did not start VM '%s': %s",
                   vm->sandbox_id, local->message);
    abandon_start (vm, !died && !g_error_matches (local, VC_ERROR, VC_ERROR_TIMEOUT));
    return FALSE;
  }
}

/* ---------------------------------------------------------------------------
 * Stop, pause, resume, status. */

gboolean
clh_stop_vm (VcVm *vm, guint graceful_timeout_ms, GError **error)
{
  if (vm->pid == 0)
    {
      clh_remove_runtime_files (vm);
      clh_remove_log_files (vm);
      return TRUE;
    }
  if (!wait_exit (vm, 0))
    {
      /* The VM first, then the VMM: each request bounded by its timeout. */
      guint timeout = MAX (MIN (graceful_timeout_ms, vm->plugin->api_timeout_ms), 1000);
      g_autoptr (GError) local = NULL;
      if (!clh_api_request (vm->api_path, timeout, "PUT", "vm.shutdown", NULL, NULL, &local))
        g_debug ("hypervisor-clh: %s: vm.shutdown: %s", vm->sandbox_id, local->message);
      g_clear_error (&local);
      if (!wait_exit (vm, 0)
          && !clh_api_request (vm->api_path, timeout, "PUT", "vmm.shutdown", NULL, NULL, &local))
        g_debug ("hypervisor-clh: %s: vmm.shutdown: %s", vm->sandbox_id, local->message);
      wait_exit (vm, 3000);
    }
  if (!wait_exit (vm, 0))
    {
      clh_pidfd_signal (vm, SIGKILL);
      if (!wait_exit (vm, 3000))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                       "Cloud Hypervisor (pid %d) of VM '%s' did not exit even after SIGKILL",
                       (int) vm->pid, vm->sandbox_id);
          return FALSE;
        }
    }
  clh_remove_runtime_files (vm);
  clh_remove_log_files (vm);
  return TRUE;
}

/* The VM's state from vm.info: "Created", "Running", "Paused", ... */
static char *
vm_state (VcVm *vm, GError **error)
{
  g_autoptr (JsonNode) info = NULL;
  if (!clh_vm_api (vm, "GET", "vm.info", NULL, &info, error))
    return NULL;
  return clh_reply_vm_state (info, error);
}

static gboolean
pause_or_resume (VcVm *vm, gboolean pause, GError **error)
{
  if (!clh_vm_api (vm, "PUT", pause ? "vm.pause" : "vm.resume", NULL, NULL, error))
    return FALSE;
  g_autofree char *state = vm_state (vm, error);
  if (state == NULL)
    return FALSE;
  if (!g_str_equal (state, pause ? "Paused" : "Running"))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "VM '%s' is '%s' after %s", vm->sandbox_id,
                   state, pause ? "vm.pause" : "vm.resume");
      return FALSE;
    }
  emit (vm, pause ? VC_VM_EVENT_PAUSED : VC_VM_EVENT_RESUMED, NULL);
  return TRUE;
}

gboolean
clh_pause_vm (VcVm *vm, GError **error)
{
  return pause_or_resume (vm, TRUE, error);
}

gboolean
clh_resume_vm (VcVm *vm, GError **error)
{
  return pause_or_resume (vm, FALSE, error);
}

VcVmStatus
clh_get_status (VcVm *vm, GError **error)
{
  if (vm->pid == 0)
    return VC_VM_STATUS_CREATED;
  if (wait_exit (vm, 0) || !clh_process_alive (vm))
    return VC_VM_STATUS_STOPPED;
  g_autofree char *state = vm_state (vm, error);
  if (state == NULL)
    return VC_VM_STATUS_UNKNOWN;
  if (g_str_equal (state, "Running"))
    return VC_VM_STATUS_RUNNING;
  if (g_str_equal (state, "Paused") || g_str_equal (state, "BreakPoint"))
    return VC_VM_STATUS_PAUSED;
  /* "Shutdown", or "Created" again after vm.shutdown: no guest runs. */
  return VC_VM_STATUS_STOPPED;
}

/* ---------------------------------------------------------------------------
 * Queries. */

char *
clh_console_path (VcVm *vm)
{
  return g_strdup (vm->console_file);
}

GArray *
clh_get_pids (VcVm *vm, GError **error)
{
  if (!clh_vm_require_running (vm, error))
    return NULL;
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (gint));
  gint pid = (gint) vm->pid;
  g_array_append_val (pids, pid);
  return pids;
}

GArray *
clh_get_vcpu_tids (VcVm *vm, GError **error)
{
  if (!clh_vm_require_running (vm, error))
    return NULL;
  return clh_find_vcpu_threads (vm->pid, error);
}

gboolean
clh_get_agent_endpoint (VcVm *vm, VcAgentEndpoint *out, GError **error)
{
  vc_agent_endpoint_clear (out);
  out->struct_size = sizeof (VcAgentEndpoint);
  out->transport = VC_AGENT_TRANSPORT_HYBRID_VSOCK;
  out->socket_path = g_strdup (vm->vsock_path);
  out->port = CLH_AGENT_VSOCK_PORT;
  return TRUE;
}

/* Hybrid vsock needs no wait: a CONNECT before the guest listens is refused
 * and the agent plugin dials again. */
gboolean
clh_wait_agent_channel (VcVm *vm, guint timeout_ms, GError **error)
{
  return clh_vm_require_running (vm, error);
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
clh_free_vm (VcVm *vm)
{
  if (vm == NULL)
    return;
  stop_monitor (vm);
  if (vm->is_child && vm->pid > 0)
    {
      g_autofree char *reaped = clh_process_reap (vm);
      if (reaped == NULL)
        g_thread_unref (g_thread_new ("vc-clh-reaper", reaper_thread, GINT_TO_POINTER (vm->pid)));
    }
  if (vm->pidfd >= 0)
    close (vm->pidfd);
  g_ptr_array_unref (vm->devices);
  g_free (vm->sandbox_id);
  g_free (vm->state_dir);
  g_free (vm->kernel);
  g_free (vm->initrd);
  g_free (vm->kernel_params);
  g_free (vm->api_path);
  g_free (vm->vsock_path);
  g_free (vm->console_file);
  g_free (vm->log_file);
  g_free (vm->exit_reason);
  g_mutex_clear (&vm->lock);
  g_cond_clear (&vm->cond);
  g_free (vm);
}
