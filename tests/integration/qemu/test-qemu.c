/* hypervisor-qemu against a real QEMU (TCG here) and the real guest image.
 *
 * The plugin is loaded straight from plugins/hypervisor-qemu/.libs. The guest
 * is $(top_builddir)/guest/{vmlinuz,initrd.img} (`make guest`), or
 * $VCRUN_TEST_KERNEL / $VCRUN_TEST_INITRD; without one the tests that boot
 * are skipped with the reason. $VCRUN_TEST_QEMU_MACHINE picks q35 (default)
 * or microvm. One VM is booted for the tests that do not disturb each other;
 * the reattach test boots a second one. Figures (boot time, RSS) are printed
 * as TAP comments. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "qemu-test-util.h"

typedef struct {
  GMutex  lock;
  GCond   cond;
  int     count[VC_VM_EVENT_AGENT_CHANNEL + 1];
  char   *stopped_detail;
  gint64  stopped_at;
  char   *removed_id;
} Events;

static struct {
  char          *plugin_so;
  char          *kernel, *initrd;
  const char    *machine;
  char          *no_guest;     /* why boot tests skip, or NULL */
  char          *no_qemu;      /* why every test skips, or NULL */
  QemuTestPlugin plugin;
  char          *tmpdir;
  /* The shared VM. */
  VcVm          *vm;
  char          *vm_dir;
  Events         ev;
  GPid           pid;
} T;

static void
on_event (VcVmEvent event, const char *detail, gpointer data)
{
  Events *ev = data;
  g_mutex_lock (&ev->lock);
  if (event >= 1 && event <= VC_VM_EVENT_AGENT_CHANNEL)
    ev->count[event]++;
  if (event == VC_VM_EVENT_STOPPED)
    {
      g_free (ev->stopped_detail);
      ev->stopped_detail = g_strdup (detail);
      ev->stopped_at = g_get_monotonic_time ();
    }
  if (event == VC_VM_EVENT_DEVICE_REMOVED)
    {
      g_free (ev->removed_id);
      ev->removed_id = g_strdup (detail);
    }
  g_cond_broadcast (&ev->cond);
  g_mutex_unlock (&ev->lock);
}

static gboolean
wait_event (Events *ev, VcVmEvent event, int count, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  g_mutex_lock (&ev->lock);
  while (ev->count[event] < count)
    if (!g_cond_wait_until (&ev->cond, &ev->lock, deadline))
      break;
  gboolean ok = ev->count[event] >= count;
  g_mutex_unlock (&ev->lock);
  return ok;
}

static int
event_count (Events *ev, VcVmEvent event)
{
  g_mutex_lock (&ev->lock);
  int n = ev->count[event];
  g_mutex_unlock (&ev->lock);
  return n;
}

static gboolean
need_qemu (void)
{
  if (T.no_qemu != NULL)
    {
      g_test_skip (T.no_qemu);
      return FALSE;
    }
  return TRUE;
}

static gboolean
need_vm (void)
{
  if (!need_qemu ())
    return FALSE;
  if (T.no_guest != NULL)
    {
      g_test_skip (T.no_guest);
      return FALSE;
    }
  if (T.vm == NULL)
    {
      g_test_skip ("the shared VM did not boot (see the boot test)");
      return FALSE;
    }
  return TRUE;
}

static gboolean
need_q35 (void)
{
  if (g_str_equal (T.machine, "q35"))
    return TRUE;
  g_test_skip ("hotplug and resize need machine q35");
  return FALSE;
}

static VcVmConfig
make_config (const char *id, const char *dir, const char *kernel, Events *ev)
{
  VcVmConfig c = {
    .struct_size = sizeof c, .sandbox_id = id, .state_dir = dir,
    .vcpus = 1, .max_vcpus = 2, .memory_mib = 256, .max_memory_mib = 512,
    .kernel = kernel, .initrd = T.initrd,
    /* Notices too, so the console shows a hotplugged disk ("[vda] ..."). */
    .kernel_params = "loglevel=6",
    .agent_transport = VC_AGENT_TRANSPORT_SERIAL,
    .event_func = on_event, .event_data = ev,
  };
  return c;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

/* Names of the entries of dir, sorted, joined by ' ' ("" when empty). */
static char *
dir_listing (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  if (d == NULL)
    return g_strdup ("");
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static gboolean
process_gone (GPid pid, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      g_autofree char *stat_path = g_strdup_printf ("/proc/%d/stat", (int) pid);
      g_autofree char *stat = NULL;
      if (!g_file_get_contents (stat_path, &stat, NULL, NULL))
        return TRUE;
      const char *p = strrchr (stat, ')');
      if (p != NULL && (p[2] == 'Z' || p[2] == 'X'))
        return TRUE; /* dead; its parent reaps it */
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_usleep (20 * 1000);
    }
}

static char *
rss_of (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *status = NULL;
  if (!g_file_get_contents (path, &status, NULL, NULL))
    return g_strdup ("?");
  const char *line = strstr (status, "VmRSS:");
  if (line == NULL)
    return g_strdup ("?");
  line += strlen ("VmRSS:");
  return g_strstrip (g_strndup (line, strcspn (line, "\n")));
}

/* A failed assertion aborts the program: the VMs it started must not outlive
 * it (they are detached on purpose), so SIGABRT kills them first. */
static volatile sig_atomic_t started_pids[8];

static void
remember_pid (GPid pid)
{
  for (guint i = 0; i < G_N_ELEMENTS (started_pids); i++)
    if (started_pids[i] == 0)
      {
        started_pids[i] = pid;
        return;
      }
}

static void
on_abort (int signo)
{
  for (guint i = 0; i < G_N_ELEMENTS (started_pids); i++)
    if (started_pids[i] > 0)
      kill (started_pids[i], SIGKILL);
  signal (signo, SIG_DFL);
  raise (signo);
}

/* ------------------------------------------------------------------------- */

static void
test_capabilities (void)
{
  if (!need_qemu ())
    return;
  const VcHypervisorOps *ops = T.plugin.ops;
  guint64 caps = ops->capabilities (T.plugin.instance);
  g_assert_true (caps & VC_HV_CAP_PAUSE);
  g_assert_true (caps & VC_HV_CAP_REATTACH);
  g_assert_true (caps & VC_HV_CAP_AGENT_SERIAL);
  g_assert_true (caps & VC_HV_CAP_FS_9P);
  g_assert_true (caps & VC_HV_CAP_FS_VHOST_USER);
  g_assert_false (caps & VC_HV_CAP_MANAGED_VIRTIOFS);
  g_assert_cmpint (!!(caps & VC_HV_CAP_AGENT_VSOCK), ==, g_file_test ("/dev/vhost-vsock", G_FILE_TEST_EXISTS));
  if (g_str_equal (T.machine, "q35"))
    g_assert_true (caps & VC_HV_CAP_HOTPLUG_BLOCK);
  else
    g_assert_false (caps & VC_HV_CAP_HOTPLUG_BLOCK);

  g_autoptr (GString) report = g_string_new ("");
  g_autoptr (GError) error = NULL;
  g_assert_true (ops->check (T.plugin.instance, report, &error));
  g_assert_no_error (error);
  g_assert_nonnull (strstr (report->str, "qemu: ok"));
  g_assert_nonnull (strstr (report->str, "kvm: "));
}

static void
test_bad_kernel (void)
{
  if (!need_qemu ())
    return;
  g_autofree char *dir = g_build_filename (T.tmpdir, "bad", NULL);
  Events ev = { 0 };
  VcVmConfig config = make_config ("bad-kernel", dir, "/nonexistent/vmlinuz-missing", &ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = T.plugin.ops->create_vm (T.plugin.instance, &config, &error);
  g_assert_no_error (error);
  g_assert_false (T.plugin.ops->start_vm (vm, 30000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_test_message ("bad kernel: %s", error->message);
  /* QEMU's own words. */
  g_assert_nonnull (strstr (error->message, "could not open kernel file"));
  g_assert_nonnull (strstr (error->message, "/nonexistent/vmlinuz-missing"));
  g_autofree char *left = dir_listing (dir);
  g_assert_cmpstr (left, ==, "");
  g_assert_cmpint (event_count (&ev, VC_VM_EVENT_STOPPED), ==, 0);
  T.plugin.ops->free_vm (vm);
}

static void
test_boot (void)
{
  if (!need_qemu ())
    return;
  if (T.no_guest != NULL)
    {
      g_test_skip (T.no_guest);
      return;
    }
  const VcHypervisorOps *ops = T.plugin.ops;
  T.vm_dir = g_build_filename (T.tmpdir, "vm1", NULL);
  g_autofree char *share = g_build_filename (T.tmpdir, "share", NULL);
  g_mkdir_with_parents (share, 0700);

  VcVmConfig config = make_config ("vm1", T.vm_dir, T.kernel, &T.ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = ops->create_vm (T.plugin.instance, &config, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ops->get_status (vm, NULL), ==, VC_VM_STATUS_CREATED);

  /* A cold-plugged 9p share, and a device id that cannot go on a command line. */
  g_autoptr (VcDevice) fs = vc_device_new (VC_DEVICE_FS_9P, "share0", share, "vcshare");
  fs->security_model = g_strdup ("none");
  VcGuestDevice guest = { .struct_size = sizeof guest };
  g_assert_true (ops->add_device (vm, fs, &guest, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (guest.driver, ==, "9p");
  vc_guest_device_clear (&guest);
  g_autoptr (VcDevice) bad = vc_device_new (VC_DEVICE_FS_9P, "bad,id", share, "x");
  g_assert_false (ops->add_device (vm, bad, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  gint64 t0 = g_get_monotonic_time ();
  if (!ops->start_vm (vm, 60000, &error))
    {
      g_test_message ("start_vm: %s", error->message);
      ops->free_vm (vm);
      g_assert_no_error (error);
    }
  gint64 t_started = g_get_monotonic_time ();
  T.vm = vm;
  GArray *pids = ops->get_pids (vm, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pids->len, >=, 1);
  T.pid = g_array_index (pids, gint, 0);
  remember_pid (T.pid);
  g_array_unref (pids);

  gboolean ready = ops->wait_agent_channel (vm, 180000, &error);
  gint64 t_ready = g_get_monotonic_time ();
  if (!ready)
    {
      g_autofree char *console_path = ops->console_path (vm);
      g_autofree char *console = NULL;
      g_file_get_contents (console_path, &console, NULL, NULL);
      g_test_message ("console:\n%s", console != NULL ? console : "(none)");
    }
  g_assert_no_error (error);
  g_assert_true (ready);
  /* The event comes from the QMP thread just after the state waiters see. */
  g_assert_true (wait_event (&T.ev, VC_VM_EVENT_AGENT_CHANNEL, 1, 5000));
  /* Asking again once open returns at once. */
  g_assert_true (ops->wait_agent_channel (vm, 0, &error));

  g_autofree char *rss = rss_of (T.pid);
  g_test_message ("figures: machine %s: start_vm %" G_GINT64_FORMAT " ms, boot to agent channel %"
                  G_GINT64_FORMAT " ms, QEMU RSS %s for a 256 MiB guest",
                  T.machine, (t_started - t0) / 1000, (t_ready - t0) / 1000, rss);

  VcAgentEndpoint ep = { .struct_size = sizeof ep };
  g_assert_true (ops->get_agent_endpoint (vm, &ep, &error));
  g_assert_cmpint (ep.transport, ==, VC_AGENT_TRANSPORT_SERIAL);
  g_assert_true (g_str_has_prefix (ep.socket_path, T.vm_dir));
  g_assert_true (g_file_test (ep.socket_path, G_FILE_TEST_EXISTS));
  vc_agent_endpoint_clear (&ep);
}

static void
test_pause_resume (void)
{
  if (!need_vm ())
    return;
  const VcHypervisorOps *ops = T.plugin.ops;
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (ops->get_status (T.vm, &error), ==, VC_VM_STATUS_RUNNING);
  g_assert_true (ops->pause_vm (T.vm, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ops->get_status (T.vm, &error), ==, VC_VM_STATUS_PAUSED);
  g_assert_true (wait_event (&T.ev, VC_VM_EVENT_PAUSED, 1, 2000));
  g_assert_true (ops->resume_vm (T.vm, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ops->get_status (T.vm, &error), ==, VC_VM_STATUS_RUNNING);
  g_assert_true (wait_event (&T.ev, VC_VM_EVENT_RESUMED, 1, 2000));
}

static void
test_vcpu_tids (void)
{
  if (!need_vm ())
    return;
  g_autoptr (GError) error = NULL;
  GArray *tids = T.plugin.ops->get_vcpu_tids (T.vm, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tids->len, ==, 1);
  g_autofree char *task = g_strdup_printf ("/proc/%d/task/%d", (int) T.pid, g_array_index (tids, gint, 0));
  g_assert_true (g_file_test (task, G_FILE_TEST_IS_DIR));
  g_array_unref (tids);
}

static gboolean
console_mentions (const char *needle, guint timeout_ms)
{
  g_autofree char *path = T.plugin.ops->console_path (T.vm);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      g_autofree char *text = NULL;
      if (g_file_get_contents (path, &text, NULL, NULL) && strstr (text, needle) != NULL)
        return TRUE;
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_usleep (200 * 1000);
    }
}

static void
test_hotplug_block (void)
{
  if (!need_vm () || !need_q35 ())
    return;
  const VcHypervisorOps *ops = T.plugin.ops;
  g_autofree char *image = g_build_filename (T.tmpdir, "disk1.img", NULL);
  g_autofree char *qemu_img = g_find_program_in_path ("qemu-img");
  g_autoptr (GError) error = NULL;
  if (qemu_img != NULL)
    {
      const char *argv[] = { qemu_img, "create", "-q", "-f", "raw", image, "16M", NULL };
      int status = 0;
      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, NULL, NULL, &status, &error));
      g_assert_true (g_spawn_check_wait_status (status, NULL));
    }
  else
    g_assert_true (g_file_set_contents (image, "", 0, &error) && truncate (image, 16 << 20) == 0);

  g_autoptr (VcDevice) disk = vc_device_new (VC_DEVICE_BLOCK, "disk1", image, NULL);
  VcGuestDevice guest = { .struct_size = sizeof guest };
  g_assert_true (ops->hotplug_add (T.vm, disk, &guest, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (guest.id, ==, "disk1");
  g_assert_cmpstr (guest.driver, ==, "blk");
  g_assert_cmpstr (guest.guest_address, ==, "10/00");
  vc_guest_device_clear (&guest);

  /* The same id twice is refused. */
  g_assert_false (ops->hotplug_add (T.vm, disk, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_clear_error (&error);

  /* The guest kernel sees a 16 MiB virtio disk: 32768 512-byte blocks. */
  gboolean seen = console_mentions ("[vda] 32768 512-byte logical blocks", 60000);
  if (!seen)
    {
      g_autofree char *path = ops->console_path (T.vm);
      g_autofree char *text = NULL;
      g_file_get_contents (path, &text, NULL, NULL);
      g_test_message ("console:\n%s", text != NULL ? text : "");
    }
  g_assert_true (seen);

  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (ops->hotplug_remove (T.vm, "disk1", 30000, &error));
  g_assert_no_error (error);
  g_test_message ("figures: hot unplug took %" G_GINT64_FORMAT " ms", (g_get_monotonic_time () - t0) / 1000);
  g_assert_true (wait_event (&T.ev, VC_VM_EVENT_DEVICE_REMOVED, 1, 1000));
  g_mutex_lock (&T.ev.lock);
  g_assert_cmpstr (T.ev.removed_id, ==, "disk1");
  g_mutex_unlock (&T.ev.lock);
  g_assert_false (ops->hotplug_remove (T.vm, "disk1", 1000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_FOUND);
}

static void
test_resize (void)
{
  if (!need_vm () || !need_q35 ())
    return;
  const VcHypervisorOps *ops = T.plugin.ops;
  g_autoptr (GError) error = NULL;
  guint vcpus = 0;
  g_assert_true (ops->resize_vcpus (T.vm, 2, &vcpus, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (vcpus, ==, 2);
  GArray *tids = ops->get_vcpu_tids (T.vm, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tids->len, ==, 2);
  g_array_unref (tids);
  g_assert_false (ops->resize_vcpus (T.vm, 3, &vcpus, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  guint64 mib = 0;
  g_assert_true (ops->resize_memory (T.vm, 300, &mib, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mib, ==, 384); /* rounded up to a 128 MiB block */
  g_assert_false (ops->resize_memory (T.vm, 1024, &mib, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (ops->resize_memory (T.vm, 256, &mib, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
}

static void
test_kill9 (void)
{
  if (!need_vm ())
    return;
  const VcHypervisorOps *ops = T.plugin.ops;
  g_assert_cmpint (event_count (&T.ev, VC_VM_EVENT_STOPPED), ==, 0);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_cmpint (kill (T.pid, SIGKILL), ==, 0);
  g_assert_true (wait_event (&T.ev, VC_VM_EVENT_STOPPED, 1, 5000));
  g_mutex_lock (&T.ev.lock);
  gint64 noticed_ms = (T.ev.stopped_at - t0) / 1000;
  g_autofree char *detail = g_strdup (T.ev.stopped_detail);
  g_mutex_unlock (&T.ev.lock);
  g_test_message ("figures: kill -9 noticed after %" G_GINT64_FORMAT " ms: %s", noticed_ms, detail);
  g_assert_cmpint (noticed_ms, <, 1000);
  g_assert_nonnull (strstr (detail, "signal 9"));

  /* Sockets and pid file are gone; the logs stay for a post-mortem. */
  g_autofree char *left = dir_listing (T.vm_dir);
  g_assert_cmpstr (left, ==, "console.log qemu.log");
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (ops->get_status (T.vm, &error), ==, VC_VM_STATUS_STOPPED);
  g_assert_false (ops->pause_vm (T.vm, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  g_clear_error (&error);
  /* Stopping a VM that is gone succeeds and removes the rest. */
  g_assert_true (ops->stop_vm (T.vm, 1000, &error));
  g_assert_no_error (error);
  g_autofree char *after = dir_listing (T.vm_dir);
  g_assert_cmpstr (after, ==, "");
  g_usleep (300 * 1000);
  g_assert_cmpint (event_count (&T.ev, VC_VM_EVENT_STOPPED), ==, 1);
  ops->free_vm (T.vm);
  T.vm = NULL;
  g_assert_true (process_gone (T.pid, 1000));
}

static void
test_reattach (void)
{
  if (!need_qemu ())
    return;
  if (T.no_guest != NULL)
    {
      g_test_skip (T.no_guest);
      return;
    }
  const VcHypervisorOps *ops = T.plugin.ops;
  g_autofree char *dir = g_build_filename (T.tmpdir, "vm2", NULL);
  Events ev = { 0 };
  VcVmConfig config = make_config ("vm2", dir, T.kernel, &ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = ops->create_vm (T.plugin.instance, &config, &error);
  g_assert_no_error (error);
  g_assert_true (ops->start_vm (vm, 60000, &error));
  g_assert_no_error (error);
  GArray *pids = ops->get_pids (vm, &error);
  g_assert_no_error (error);
  GPid pid = g_array_index (pids, gint, 0);
  remember_pid (pid);
  g_array_unref (pids);
  /* Saved before the guest is up, as the core does right after start_vm. */
  g_autofree char *saved = ops->save_state (vm, &error);
  g_assert_no_error (error);
  g_assert_true (ops->wait_agent_channel (vm, 180000, &error));
  g_assert_no_error (error);
  g_autofree char *state_file = g_build_filename (T.tmpdir, "vm2.json", NULL);
  g_assert_true (g_file_set_contents (state_file, saved, -1, &error));

  /* The handle goes, the VM stays; QMP is free for the next process. */
  ops->free_vm (vm);
  g_assert_false (process_gone (pid, 0));
  g_assert_cmpint (event_count (&ev, VC_VM_EVENT_STOPPED), ==, 0);

  /* Garbage state is refused with a reason. */
  g_assert_null (ops->attach_vm (T.plugin.instance, &config, "{\"version\": 1}", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_autofree char *helper = g_build_filename (g_getenv ("G_TEST_BUILDDIR"), "qemu-attach-helper", NULL);
  const char *argv[] = { helper, T.plugin_so, T.machine, "vm2", dir, state_file, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
  g_test_message ("helper: %s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "agent channel: open"));
  /* q35: graceful, the guest powered off on Ctrl-Alt-Del; microvm has no
   * way to ask it, so QEMU is told to quit at once. */
  if (g_str_equal (T.machine, "q35"))
    g_assert_nonnull (strstr (out, "stopped: guest powered off"));
  else
    g_assert_nonnull (strstr (out, "stopped: stopped by the host (QMP quit)"));
  g_assert_true (process_gone (pid, 3000));
  g_autofree char *left = dir_listing (dir);
  g_assert_cmpstr (left, ==, "");

  /* Now there is nothing to attach to. */
  g_assert_null (ops->attach_vm (T.plugin.instance, &config, saved, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
}

/* ------------------------------------------------------------------------- */

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  if (d != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
    }
  g_remove (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  signal (SIGABRT, on_abort);
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  if (top == NULL)
    top = "../../..";
  T.plugin_so = g_build_filename (top, "plugins", "hypervisor-qemu", ".libs", "hypervisor-qemu.so", NULL);
  T.machine = g_getenv ("VCRUN_TEST_QEMU_MACHINE") != NULL ? g_getenv ("VCRUN_TEST_QEMU_MACHINE") : "q35";
  T.kernel = g_strdup (g_getenv ("VCRUN_TEST_KERNEL"));
  if (T.kernel == NULL)
    T.kernel = g_build_filename (top, "guest", "vmlinuz", NULL);
  T.initrd = g_strdup (g_getenv ("VCRUN_TEST_INITRD"));
  if (T.initrd == NULL)
    T.initrd = g_build_filename (top, "guest", "initrd.img", NULL);
  if (!g_file_test (T.kernel, G_FILE_TEST_EXISTS) || !g_file_test (T.initrd, G_FILE_TEST_EXISTS))
    T.no_guest = g_strdup_printf ("no guest image (%s, %s): run 'make guest'", T.kernel, T.initrd);

  const char *qemu = g_getenv ("QEMU_SYSTEM");
  g_autoptr (GError) error = NULL;
  if (qemu == NULL || *qemu == '\0')
    qemu = "/usr/bin/qemu-system-x86_64";
  if (!g_file_test (qemu, G_FILE_TEST_IS_EXECUTABLE))
    T.no_qemu = g_strdup_printf ("no QEMU at %s", qemu);
  else if (!qemu_test_load_plugin (T.plugin_so, T.machine, &T.plugin, &error))
    T.no_qemu = g_strdup_printf ("plugin unusable: %s", error->message);
  T.tmpdir = g_dir_make_tmp ("vcrun-qemu-XXXXXX", NULL);

  g_test_add_func ("/qemu/capabilities", test_capabilities);
  g_test_add_func ("/qemu/bad-kernel", test_bad_kernel);
  g_test_add_func ("/qemu/boot-to-agent-channel", test_boot);
  g_test_add_func ("/qemu/pause-resume", test_pause_resume);
  g_test_add_func ("/qemu/vcpu-tids", test_vcpu_tids);
  g_test_add_func ("/qemu/hotplug-block", test_hotplug_block);
  g_test_add_func ("/qemu/resize", test_resize);
  g_test_add_func ("/qemu/kill9", test_kill9);
  g_test_add_func ("/qemu/reattach", test_reattach);
  int rc = g_test_run ();

  /* Whatever failed, leave no VM behind. */
  if (T.vm != NULL)
    {
      T.plugin.ops->stop_vm (T.vm, 0, NULL);
      T.plugin.ops->free_vm (T.vm);
    }
  if (T.plugin.instance != NULL)
    T.plugin.desc->destroy (T.plugin.instance);
  if (T.tmpdir != NULL)
    remove_tree (T.tmpdir);
  return rc;
}
