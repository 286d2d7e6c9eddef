/* hypervisor-qemu: VM templates. A template is a guest booted to the point
 * where its agent opened its channel, then paused and saved with QEMU's
 * migration into a directory the core chose:
 *
 *   state    the migration stream (devices, CPU; the RAM too when "shared")
 *   memory   the guest RAM ("private" flavour only)
 *
 * Two flavours, by what the VM's devices allow:
 *  - private: no vhost-user device. The template VM's RAM is a file
 *    (memory-backend-file, share=on) and the stream leaves it out
 *    (x-ignore-shared). A restored VM maps that file private (share=off):
 *    sandboxes share the pages they have not written.
 *  - shared: a vhost-user-fs device needs RAM that virtiofsd can map (a
 *    shared memfd), which a private file mapping is not. The stream holds
 *    the RAM and each restore reads it into a fresh memfd. vhost-user-fs
 *    cannot be migrated, so the template has none: it is hot-plugged after
 *    the restore, on a free pcie-root-port.
 * A 9p device is in the template with the same id and tag but an empty
 * placeholder directory: the guest has not mounted it, so its state is just
 * the virtio device's, and the restore points it at the sandbox's directory.
 * The RNG of each restored guest is reseeded through a vmgenid device whose
 * generation ID differs at every QEMU start (q35 only: microvm has none). */
#include "config.h"

#include "qemu-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define TEMPLATE_STATE_FILE  "state"
#define TEMPLATE_MEMORY_FILE "memory"
#define TEMPLATE_EMPTY_DIR   "empty"
#define MIGRATE_SOCKET       "migrate.sock"
#define MIB (G_GUINT64_CONSTANT (1024) * 1024)

/* ---------------------------------------------------------------------------
 * Configuration, devices and the command line. */

gboolean
qemu_template_configure (VcVm *vm, const VcVmConfig *config, GError **error)
{
  if (config->struct_size < G_STRUCT_OFFSET (VcVmConfig, template_dir) + sizeof (config->template_dir)
      || config->template_mode == VC_VM_TEMPLATE_NONE)
    return TRUE;
  if (config->template_mode != VC_VM_TEMPLATE_CREATE && config->template_mode != VC_VM_TEMPLATE_RESTORE)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "VM config: template mode %d is unknown",
                   (int) config->template_mode);
      return FALSE;
    }
  if (config->template_dir == NULL || !g_path_is_absolute (config->template_dir))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "VM config: template_dir '%s' is not an absolute path",
                   config->template_dir != NULL ? config->template_dir : "(null)");
      return FALSE;
    }
  vm->template_mode = config->template_mode;
  vm->template_dir = g_strdup (config->template_dir);
  if (vm->template_mode == VC_VM_TEMPLATE_CREATE)
    {
      /* The vcrun agent then loads all its modules before opening its
       * channel, so that restored guests need not load them again. */
      char *params = g_strconcat (vm->kernel_params != NULL ? vm->kernel_params : "",
                                  vm->kernel_params != NULL ? " " : "", "vcrun.template", NULL);
      g_free (vm->kernel_params);
      vm->kernel_params = params;
    }
  vm->deferred = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_device_free);
  return TRUE;
}

/* add_device of a VM made for or from a template. Returns FALSE with *error
 * set on failure, FALSE without an error when the device was taken here
 * (deferred), TRUE to go on with *replacement (may stay NULL) added instead. */
gboolean
qemu_template_add_device (VcVm *vm, const VcDevice *device, VcDevice **replacement, GError **error)
{
  *replacement = NULL;
  if (device->type == VC_DEVICE_FS_VHOST_USER)
    {
      if (vm->machine != QEMU_MACHINE_Q35)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                       "device '%s': a template VM with a vhost-user device needs q35 (hotplug)", device->id);
          return FALSE;
        }
      vm->shared_memory = TRUE;
      if (vm->template_mode == VC_VM_TEMPLATE_RESTORE)
        {
          VcDevice *copy = vc_device_new (device->type, device->id, device->host_path, device->tag);
          copy->queue_size = device->queue_size;
          g_ptr_array_add (vm->deferred, copy);
        }
      return FALSE;
    }
  if (device->type == VC_DEVICE_FS_9P && vm->template_mode == VC_VM_TEMPLATE_CREATE)
    {
      g_autofree char *empty = g_build_filename (vm->template_dir, TEMPLATE_EMPTY_DIR, NULL);
      if (g_mkdir_with_parents (empty, 0700) < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create '%s': %s", empty, g_strerror (errno));
          return FALSE;
        }
      VcDevice *copy = vc_device_new (device->type, device->id, empty, device->tag);
      copy->readonly = device->readonly;
      copy->security_model = g_strdup (device->security_model);
      copy->msize = device->msize;
      *replacement = copy;
    }
  return TRUE;
}

static void
add_arg (GPtrArray *argv, const char *option, char *value)
{
  g_ptr_array_add (argv, g_strdup (option));
  g_ptr_array_add (argv, value);
}

/* The RAM backend, the vmgenid device and -incoming. */
void
qemu_template_args (VcVm *vm, GPtrArray *argv)
{
  if (vm->shared_memory)
    add_arg (argv, "-object", g_strdup_printf ("memory-backend-memfd,id=vc-mem0,size=%" G_GUINT64_FORMAT "M,share=on",
                                               vm->memory_mib));
  else
    {
      g_autofree char *file = g_build_filename (vm->template_dir, TEMPLATE_MEMORY_FILE, NULL);
      g_autofree char *escaped = qemu_escape_option (file);
      add_arg (argv, "-object",
               g_strdup_printf ("memory-backend-file,id=vc-mem0,size=%" G_GUINT64_FORMAT "M,mem-path=%s,share=%s",
                                vm->memory_mib, escaped,
                                vm->template_mode == VC_VM_TEMPLATE_CREATE ? "on" : "off"));
    }
  add_arg (argv, "-numa", g_strdup ("node,memdev=vc-mem0"));
  if (vm->machine == QEMU_MACHINE_Q35)
    add_arg (argv, "-device", g_strdup ("vmgenid,id=vc-vmgenid,guid=auto"));
  if (vm->template_mode == VC_VM_TEMPLATE_RESTORE)
    add_arg (argv, "-incoming", g_strdup ("defer"));
}

/* ---------------------------------------------------------------------------
 * Migration over a Unix socket: QEMU 7.2 has no file: URI, and exec: would
 * need a shell that -sandbox spawn=deny forbids. */

static gboolean
set_ignore_shared (VcVm *vm, GError **error)
{
  if (vm->shared_memory)
    return TRUE;
  g_autoptr (JsonObject) cap = json_object_new ();
  json_object_set_string_member (cap, "capability", "x-ignore-shared");
  json_object_set_boolean_member (cap, "state", TRUE);
  JsonArray *caps = json_array_new ();
  json_array_add_object_element (caps, json_object_ref (cap));
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_array_member (args, "capabilities", caps);
  return qmp_client_run (vm->qmp, "migrate-set-capabilities", args, QEMU_QMP_TIMEOUT_MS, error);
}

static gboolean
fill_address (struct sockaddr_un *addr, const char *path, GError **error)
{
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen (path) >= sizeof addr->sun_path)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "socket path '%s' is too long", path);
      return FALSE;
    }
  strcpy (addr->sun_path, path);
  return TRUE;
}

static guint
ms_left (gint64 deadline)
{
  gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
  return left <= 0 ? 0 : (guint) MIN (left, G_MAXINT);
}

/* Polls query-migrate until the outgoing migration completed. */
static gboolean
wait_migration (VcVm *vm, gint64 deadline, GError **error)
{
  for (;;)
    {
      g_autoptr (JsonNode) ret = qmp_client_execute (vm->qmp, "query-migrate", NULL, QEMU_QMP_TIMEOUT_MS, error);
      if (ret == NULL)
        return FALSE;
      const char *status = NULL;
      if (JSON_NODE_HOLDS_OBJECT (ret))
        status = json_object_get_string_member_with_default (json_node_get_object (ret), "status", NULL);
      if (status != NULL && g_str_equal (status, "completed"))
        return TRUE;
      if (status != NULL && (g_str_equal (status, "failed") || g_str_equal (status, "cancelled")))
        {
          const char *why = json_object_get_string_member_with_default (json_node_get_object (ret),
                                                                         "error-desc", "no reason given");
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "QEMU's migration to the template %s: %s", status, why);
          return FALSE;
        }
      if (g_get_monotonic_time () >= deadline)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "saving the template did not complete in time (%s)",
                       status != NULL ? status : "no status");
          return FALSE;
        }
      g_usleep (10 * 1000);
    }
}

/* Copies everything from fd until EOF into path (0600), then renames it in. */
static gboolean
receive_to_file (int fd, const char *path, gint64 deadline, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".tmp", NULL);
  int out = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot create '%s': %s", tmp, g_strerror (errno));
      return FALSE;
    }
  char buf[64 * 1024];
  gboolean ok = TRUE;
  for (;;)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int r = poll (&pfd, 1, (int) MIN (ms_left (deadline), 1000));
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0)
        {
          if (g_get_monotonic_time () < deadline)
            continue;
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "QEMU stopped sending the template's state");
          ok = FALSE;
          break;
        }
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (n < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "reading the migration stream: %s", g_strerror (errno));
          ok = FALSE;
          break;
        }
      if (n == 0)
        break;
      for (ssize_t done = 0; done < n;)
        {
          ssize_t w = write (out, buf + done, (size_t) (n - done));
          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "writing '%s': %s", tmp, g_strerror (errno));
              ok = FALSE;
              break;
            }
          done += w;
        }
      if (!ok)
        break;
    }
  if (ok && fsync (out) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "fsync '%s': %s", tmp, g_strerror (errno));
      ok = FALSE;
    }
  close (out);
  if (ok && rename (tmp, path) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot rename '%s': %s", tmp, g_strerror (errno));
      ok = FALSE;
    }
  if (!ok)
    g_unlink (tmp);
  return ok;
}

gboolean
qemu_save_template (VcVm *vm, guint timeout_ms, GError **error)
{
  if (vm->template_mode != VC_VM_TEMPLATE_CREATE)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "VM '%s' was not created as a template (VC_VM_TEMPLATE_CREATE)", vm->sandbox_id);
      return FALSE;
    }
  if (!qemu_vm_require_running (vm, error))
    return FALSE;
  g_mutex_lock (&vm->lock);
  gboolean open = vm->agent_open;
  g_mutex_unlock (&vm->lock);
  if (vm->agent_transport == VC_AGENT_TRANSPORT_SERIAL && !open)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE,
                   "VM '%s': the guest has not opened its agent channel yet: nothing to save", vm->sandbox_id);
      return FALSE;
    }
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + (gint64) timeout_ms * 1000;
  g_autofree char *sock_path = g_build_filename (vm->template_dir, MIGRATE_SOCKET, NULL);
  g_autofree char *state = g_build_filename (vm->template_dir, TEMPLATE_STATE_FILE, NULL);
  struct sockaddr_un addr;
  if (!fill_address (&addr, sock_path, error))
    return FALSE;

  if (!qmp_client_run (vm->qmp, "stop", NULL, QEMU_QMP_TIMEOUT_MS, error) || !set_ignore_shared (vm, error))
    return FALSE;
  int lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  g_unlink (sock_path);
  if (lfd < 0 || bind (lfd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (lfd, 1) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot listen on '%s': %s", sock_path, g_strerror (errno));
      if (lfd >= 0)
        close (lfd);
      return FALSE;
    }
  gboolean ok = FALSE;
  int cfd = -1;
  g_autofree char *uri = g_strconcat ("unix:", sock_path, NULL);
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "uri", uri);
  if (!qmp_client_run (vm->qmp, "migrate", args, QEMU_QMP_TIMEOUT_MS, error))
    goto out;
  struct pollfd pfd = { .fd = lfd, .events = POLLIN };
  int r;
  while ((r = poll (&pfd, 1, (int) ms_left (deadline))) < 0 && errno == EINTR)
    ;
  cfd = r > 0 ? accept4 (lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
  if (cfd < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "QEMU did not connect to '%s' to save the template",
                   sock_path);
      goto out;
    }
  ok = receive_to_file (cfd, state, deadline, error) && wait_migration (vm, deadline, error);

out:
  if (cfd >= 0)
    close (cfd);
  close (lfd);
  g_unlink (sock_path);
  if (!ok)
    return FALSE;
  g_autofree char *memory = g_build_filename (vm->template_dir, TEMPLATE_MEMORY_FILE, NULL);
  if (!vm->shared_memory && g_chmod (memory, 0600) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot chmod '%s': %s", memory, g_strerror (errno));
      return FALSE;
    }
  g_info ("hypervisor-qemu: template of VM '%s' saved (%s) in %" G_GINT64_FORMAT " ms", vm->sandbox_id,
          vm->shared_memory ? "shared memory: RAM in the stream" : "private memory file",
          (g_get_monotonic_time () - start) / 1000);
  return qemu_stop_vm (vm, 0, error);
}

/* ---------------------------------------------------------------------------
 * Restoring. */

static gboolean
check_file (const char *path, goffset expected, GError **error)
{
  GStatBuf st;
  if (g_stat (path, &st) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "template file '%s': %s", path, g_strerror (errno));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode) || (expected > 0 && st.st_size != expected) || (expected == 0 && st.st_size == 0))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL,
                   "template file '%s' is %" G_GOFFSET_FORMAT " bytes, expected %s%" G_GOFFSET_FORMAT
                   ": truncated or not a template", path, (goffset) st.st_size,
                   expected > 0 ? "" : "more than ", expected);
      return FALSE;
    }
  return TRUE;
}

/* Before QEMU starts: the files are there and whole. */
gboolean
qemu_template_check_files (VcVm *vm, GError **error)
{
  g_autofree char *state = g_build_filename (vm->template_dir, TEMPLATE_STATE_FILE, NULL);
  if (!check_file (state, 0, error))
    return FALSE;
  if (vm->shared_memory)
    return TRUE;
  g_autofree char *memory = g_build_filename (vm->template_dir, TEMPLATE_MEMORY_FILE, NULL);
  return check_file (memory, (goffset) (vm->memory_mib * MIB), error);
}

static gboolean
send_file (int sock, const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "cannot open '%s': %s", path, g_strerror (errno));
      return FALSE;
    }
  gboolean ok = TRUE;
  for (;;)
    {
      ssize_t n = sendfile (sock, fd, NULL, 1 << 20);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sending '%s' to QEMU: %s", path, g_strerror (errno));
          ok = FALSE;
        }
      if (n <= 0)
        break;
    }
  close (fd);
  return ok;
}

/* QEMU is up with -incoming defer: feed it the saved state. It runs the
 * guest on its own once the stream is loaded, and exits if it cannot. */
gboolean
qemu_template_restore (VcVm *vm, gint64 deadline, GError **error)
{
  g_autofree char *state = g_build_filename (vm->template_dir, TEMPLATE_STATE_FILE, NULL);
  g_autofree char *sock_path = g_build_filename (vm->state_dir, MIGRATE_SOCKET, NULL);
  struct sockaddr_un addr;
  if (!fill_address (&addr, sock_path, error) || !set_ignore_shared (vm, error))
    return FALSE;
  g_unlink (sock_path);
  g_autofree char *uri = g_strconcat ("unix:", sock_path, NULL);
  g_autoptr (JsonObject) args = json_object_new ();
  json_object_set_string_member (args, "uri", uri);
  if (!qmp_client_run (vm->qmp, "migrate-incoming", args, QEMU_QMP_TIMEOUT_MS, error))
    return FALSE;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean ok = fd >= 0;
  while (ok && connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      if ((errno != ENOENT && errno != ECONNREFUSED && errno != EINTR) || g_get_monotonic_time () >= deadline)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot connect to QEMU's '%s': %s", sock_path,
                       g_strerror (errno));
          ok = FALSE;
        }
      else
        g_usleep (5 * 1000);
    }
  if (fd < 0)
    g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "socket: %s", g_strerror (errno));
  if (ok)
    ok = send_file (fd, state, error);
  if (fd >= 0)
    close (fd);
  g_unlink (sock_path);
  return ok;
}

/* The guest runs: add what the template could not hold. The guest had its
 * agent channel open when it was saved, so it has now. */
gboolean
qemu_template_finish (VcVm *vm, GError **error)
{
  for (guint i = 0; i < vm->deferred->len; i++)
    {
      const VcDevice *device = g_ptr_array_index (vm->deferred, i);
      if (!qemu_hotplug_add (vm, device, NULL, error))
        {
          g_prefix_error (error, "hot-plugging after the restore: ");
          return FALSE;
        }
    }
  g_ptr_array_set_size (vm->deferred, 0);
  g_autoptr (GError) local = NULL;
  if (!g_file_set_contents (vm->agent_open_file, "", 0, &local))
    g_warning ("hypervisor-qemu: %s", local->message);
  g_mutex_lock (&vm->lock);
  vm->agent_open = TRUE;
  g_cond_broadcast (&vm->cond);
  g_mutex_unlock (&vm->lock);
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * What else a template depends on. */

char *
qemu_template_identity (VcPluginInstance *self, GError **error)
{
  GStatBuf st;
  if (g_stat (self->qemu_path, &st) < 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "QEMU '%s': %s", self->qemu_path, g_strerror (errno));
      return NULL;
    }
  return g_strdup_printf ("hypervisor-qemu %s; qemu %s dev %" G_GUINT64_FORMAT " ino %" G_GUINT64_FORMAT
                          " size %" G_GINT64_FORMAT " mtime %" G_GINT64_FORMAT "; machine %s; accel %s; "
                          "pvh %d; tsc_khz %" G_GUINT64_FORMAT "; kernel_params %s",
                          PACKAGE_VERSION, self->qemu_path, (guint64) st.st_dev, (guint64) st.st_ino,
                          (gint64) st.st_size, (gint64) st.st_mtime,
                          self->machine == QEMU_MACHINE_Q35 ? "q35" : "microvm",
                          qemu_plugin_use_kvm (self) ? "kvm" : "tcg", self->pvh, self->tsc_khz,
                          self->kernel_params != NULL ? self->kernel_params : "");
}
