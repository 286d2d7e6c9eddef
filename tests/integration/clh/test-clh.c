/* hypervisor-clh against Cloud Hypervisor: a real binary where one runs
 * ($VCRUN_CLH_BINARY, with working KVM; $VCRUN_CLH_KERNEL names the vmlinux
 * it boots), else the stand-in
 * tests/clh-standin/cloud-hypervisor, which checks every request against the
 * OpenAPI document (../shared/clh/cloud-hypervisor.yaml) and realizes the VM
 * with QEMU. The guest is $(top_builddir)/guest (`make guest`); the agent is
 * reached through agent-kata over hybrid vsock.
 *
 * One VM boots to the agent for the tests that share it; the others start a
 * VM without waiting for its guest. The fault tests make the stand-in
 * misbehave (CLH_STANDIN_FAULT, CLH_STANDIN_VSOCK_ANSWER) and check for a
 * clear error and nothing left running. Figures are printed as "# figure:". */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "clh-test-util.h"
#include "runtime.h"
#include "sandbox.h"

typedef struct {
  GMutex  lock;
  GCond   cond;
  int     count[VC_VM_EVENT_AGENT_CHANNEL + 1];
  char   *stopped_detail;
  gint64  stopped_at;
} Events;

static struct {
  char                     *clh;        /* the binary under test */
  gboolean                  standin;
  char                     *skip;       /* why every test skips */
  char                     *no_guest;   /* why boot tests skip */
  char                     *kernel, *initrd;
  const VcPluginDescriptor *desc;
  VcPluginInstance         *self;
  const VcHypervisorOps    *ops;
  const VcPluginDescriptor *agent_desc;
  char                     *tmpdir;
  VcVm                     *vm;         /* the shared, booted VM */
  char                     *vm_dir;
  Events                    ev;
  GPid                      pid;
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

/* A failed assertion aborts the program: the VMMs it started must not
 * outlive it (they are detached on purpose), so SIGABRT kills them first. */
static volatile sig_atomic_t started_pids[16];

static void
remember_vm (VcVm *vm)
{
  g_autoptr (GArray) pids = T.ops->get_pids (vm, NULL);
  for (guint i = 0; pids != NULL && i < G_N_ELEMENTS (started_pids); i++)
    if (started_pids[i] == 0)
      {
        started_pids[i] = g_array_index (pids, gint, 0);
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

static gboolean
need (gboolean guest, gboolean vm, gboolean standin)
{
  const char *why = T.skip;
  if (why == NULL && guest)
    why = T.no_guest;
  if (why == NULL && vm && T.vm == NULL)
    why = "the shared VM did not boot (see the boot test)";
  if (why == NULL && standin && !T.standin)
    why = "faults are injected through the stand-in; a real cloud-hypervisor is under test";
  if (why != NULL)
    g_test_skip (why);
  return why == NULL;
}

static VcVmConfig
make_config (const char *id, const char *dir, const char *kernel, Events *ev)
{
  VcVmConfig c = {
    .struct_size = sizeof c, .sandbox_id = id, .state_dir = dir,
    .vcpus = 1, .max_vcpus = 2, .memory_mib = 256, .max_memory_mib = 512,
    .kernel = kernel, .initrd = T.initrd, .kernel_params = "loglevel=6",
    .agent_transport = VC_AGENT_TRANSPORT_NONE,
    .event_func = on_event, .event_data = ev,
  };
  return c;
}

/* The names in dir, sorted, joined by ' ' ("" when empty or absent). */
static char *
dir_listing (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* A failed or finished VM left nothing: no process, no file. */
static void
assert_nothing_left (const char *dir)
{
  g_assert_cmpuint (clh_test_wait_no_process (dir, 5000), ==, 0);
  g_autofree char *left = dir_listing (dir);
  g_assert_cmpstr (left, ==, "");
}

static void
test_capabilities (void)
{
  if (!need (FALSE, FALSE, FALSE))
    return;
  guint64 caps = T.ops->capabilities (T.self);
  g_assert_false (caps & VC_HV_CAP_FS_9P);
  g_assert_true (caps & VC_HV_CAP_FS_VHOST_USER);
  g_assert_true (caps & VC_HV_CAP_AGENT_HYBRID_VSOCK);
  g_assert_false (caps & (VC_HV_CAP_AGENT_SERIAL | VC_HV_CAP_AGENT_VSOCK));
  g_assert_true (caps & VC_HV_CAP_HOTPLUG_BLOCK);
  g_assert_true (caps & VC_HV_CAP_REATTACH);

  g_autoptr (GString) report = g_string_new ("");
  g_autoptr (GError) error = NULL;
  gboolean ok = T.ops->check (T.self, report, &error);
  g_test_message ("check: %s%s", report->str, error != NULL ? error->message : "");
  g_assert_nonnull (strstr (report->str, "cloud-hypervisor: ok"));
  g_assert_nonnull (strstr (report->str, "kvm: "));
  /* Cloud Hypervisor needs KVM: check fails exactly when the report says so. */
  g_assert_cmpint (ok, ==, strstr (report->str, "kvm: ok") != NULL);
  if (!ok)
    g_assert_nonnull (strstr (error->message, "KVM"));

  /* A binary that is not there. */
  g_autoptr (GError) local = NULL;
  VcPluginInstance *missing = clh_test_instance (T.desc, &local, "path",
                                                 g_variant_new_string ("/nonexistent/cloud-hypervisor"), NULL);
  g_assert_no_error (local);
  g_string_truncate (report, 0);
  g_assert_false (T.ops->check (missing, report, &local));
  g_assert_error (local, VC_ERROR, VC_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (report->str, "cloud-hypervisor: missing"));
  T.desc->destroy (missing);
}

static void
test_config_errors (void)
{
  if (!need (FALSE, FALSE, FALSE))
    return;
  g_autofree char *dir = g_build_filename (T.tmpdir, "config", NULL);
  Events ev = { 0 };
  VcVmConfig config = make_config ("config", dir, "/boot/vmlinuz", &ev);
  g_autoptr (GError) error = NULL;
  config.agent_transport = VC_AGENT_TRANSPORT_SERIAL;
  g_assert_null (T.ops->create_vm (T.self, &config, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "hybrid vsock"));
  g_clear_error (&error);

  config.agent_transport = VC_AGENT_TRANSPORT_HYBRID_VSOCK;
  VcVm *vm = T.ops->create_vm (T.self, &config, &error);
  g_assert_no_error (error);
  g_autoptr (VcDevice) p9 = vc_device_new (VC_DEVICE_FS_9P, "share", "/tmp", "share");
  g_assert_false (T.ops->add_device (vm, p9, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "9p"));
  g_clear_error (&error);
  g_autoptr (VcDevice) dax = vc_device_new (VC_DEVICE_FS_VHOST_USER, "fs", "/tmp/x.sock", "tag");
  dax->cache_size = 1 << 30;
  g_assert_false (T.ops->add_device (vm, dax, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_autoptr (VcDevice) bad = vc_device_new (VC_DEVICE_BLOCK, "bad id", "/tmp/disk", NULL);
  g_assert_false (T.ops->add_device (vm, bad, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (T.ops->get_status (vm, NULL), ==, VC_VM_STATUS_CREATED);
  T.ops->free_vm (vm);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));

  /* Settings are checked when the instance is made. */
  g_assert_null (clh_test_instance (T.desc, &error, "path", g_variant_new_string ("relative/clh"), NULL));
  g_assert_error (error, VC_ERROR, VC_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "path"));
}

static void
test_bad_kernel (void)
{
  if (!need (FALSE, FALSE, FALSE))
    return;
  g_autofree char *dir = g_build_filename (T.tmpdir, "bad", NULL);
  Events ev = { 0 };
  VcVmConfig config = make_config ("bad-kernel", dir, "/nonexistent/vmlinuz-missing", &ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = T.ops->create_vm (T.self, &config, &error);
  g_assert_no_error (error);
  g_assert_false (T.ops->start_vm (vm, 60000, &error));
  g_assert_nonnull (error);
  g_test_message ("bad kernel: %s", error->message);
  /* The API's error, with Cloud Hypervisor's own words about the kernel. */
  g_assert_nonnull (strstr (error->message, "vm.boot"));
  g_assert_nonnull (strstr (error->message, "HTTP 500"));
  g_assert_nonnull (strstr (error->message, "/nonexistent/vmlinuz-missing"));
  g_assert_cmpint (ev.count[VC_VM_EVENT_STOPPED], ==, 0);
  T.ops->free_vm (vm);
  assert_nothing_left (dir);
}

/* A 16 MiB raw disk image. */
static char *
make_disk (const char *name)
{
  g_autofree char *path = g_build_filename (T.tmpdir, name, NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, 16 << 20), ==, 0);
  close (fd);
  return g_steal_pointer (&path);
}

static VcAgentConn *
agent_connect (guint timeout_ms, GError **error)
{
  GError *local = NULL;
  VcPluginInstance *agent = clh_test_instance (T.agent_desc, &local, "transport",
                                               g_variant_new_string ("auto"), NULL);
  g_assert_no_error (local);
  VcAgentEndpoint ep = { .struct_size = sizeof ep };
  g_assert_true (T.ops->get_agent_endpoint (T.vm, &ep, NULL));
  VcAgentConn *conn = T.agent_desc->agent->connect (agent, &ep, timeout_ms, error);
  vc_agent_endpoint_clear (&ep);
  return conn;
}

static void
test_boot (void)
{
  if (!need (TRUE, FALSE, FALSE))
    return;
  T.vm_dir = g_build_filename (T.tmpdir, "vm1", NULL);
  VcVmConfig config = make_config ("vm1", T.vm_dir, T.kernel, &T.ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = T.ops->create_vm (T.self, &config, &error);
  g_assert_no_error (error);
  g_autofree char *disk = make_disk ("cold.img");
  g_autoptr (VcDevice) cold = vc_device_new (VC_DEVICE_BLOCK, "cold0", disk, NULL);
  VcGuestDevice guest = { .struct_size = sizeof guest };
  g_assert_true (T.ops->add_device (vm, cold, &guest, &error));
  g_assert_cmpstr (guest.driver, ==, "blk");
  vc_guest_device_clear (&guest);
  g_assert_false (T.ops->add_device (vm, cold, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_clear_error (&error);

  gint64 t0 = g_get_monotonic_time ();
  if (!T.ops->start_vm (vm, 120000, &error))
    {
      T.ops->free_vm (vm);
      g_assert_no_error (error);
    }
  gint64 t_started = g_get_monotonic_time ();
  T.vm = vm;
  remember_vm (vm);
  g_autoptr (GArray) pids = T.ops->get_pids (vm, &error);
  g_assert_no_error (error);
  T.pid = g_array_index (pids, gint, 0);
  g_assert_true (T.ops->wait_agent_channel (vm, 1000, &error));

  VcAgentEndpoint ep = { .struct_size = sizeof ep };
  g_assert_true (T.ops->get_agent_endpoint (vm, &ep, &error));
  g_assert_cmpint (ep.transport, ==, VC_AGENT_TRANSPORT_HYBRID_VSOCK);
  g_assert_cmpuint (ep.port, ==, 1024);
  g_assert_true (g_str_has_prefix (ep.socket_path, T.vm_dir));
  vc_agent_endpoint_clear (&ep);

  /* The real guest agent answers through the hybrid vsock. */
  VcAgentConn *conn = agent_connect (300000, &error);
  gint64 t_agent = g_get_monotonic_time ();
  if (conn == NULL)
    {
      g_autofree char *console = NULL;
      g_autofree char *path = T.ops->console_path (vm);
      g_file_get_contents (path, &console, NULL, NULL);
      g_test_message ("console:\n%s", console != NULL ? console : "(none)");
    }
  g_assert_no_error (error);
  g_assert_true (T.agent_desc->agent->check (conn, &error));
  g_assert_no_error (error);
  T.agent_desc->agent->disconnect (conn);
  printf ("# figure: %s: start_vm (spawn, vmm.ping, vm.create, vm.boot) %.0f ms; to the agent over hybrid vsock %.1f s\n",
          T.standin ? "stand-in" : "cloud-hypervisor", (t_started - t0) / 1000.0, (t_agent - t0) / 1e6);

  /* Every request the plugin made passed the stand-in's OpenAPI check. */
  if (T.standin)
    {
      g_autofree char *log_path = g_build_filename (T.vm_dir, "clh.log", NULL);
      g_autofree char *log = NULL;
      g_assert_true (g_file_get_contents (log_path, &log, NULL, NULL));
      g_assert_nonnull (strstr (log, "PUT /vm.create"));
      g_assert_null (strstr (log, "REFUSED"));
      /* Configured with the bzImage, the VM boots the vmlinux beside it (PVH). */
      if (g_str_has_suffix (T.kernel, "/vmlinuz"))
        {
          g_autofree char *dir = g_path_get_dirname (T.kernel);
          g_autofree char *want = g_strdup_printf ("\"kernel\": \"%s/vmlinux\"", dir);
          g_assert_nonnull (strstr (log, want));
        }
    }
}

/* A kernel file Cloud Hypervisor cannot boot is refused before any process
 * starts, saying what it is. */
static void
test_kernel_pick (void)
{
  if (!need (FALSE, FALSE, FALSE))
    return;
  g_autofree char *dir = g_build_filename (T.tmpdir, "kernels", NULL);
  g_autofree char *state = g_build_filename (T.tmpdir, "kernel-state", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_autofree char *bz = g_build_filename (dir, "vmlinuz", NULL);
  g_autofree char *elf = g_build_filename (dir, "vmlinux-nopvh", NULL);
  char bz_bytes[1024] = { 0 };
  memcpy (bz_bytes + 0x202, "HdrS", 4);    /* a bzImage's setup header magic */
  g_assert_true (g_file_set_contents (bz, bz_bytes, sizeof bz_bytes, NULL));
  /* An ELF64 x86-64 header without program headers: no PVH note. */
  guint8 eh[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
  eh[16] = 2;    /* ET_EXEC */
  eh[18] = 62;   /* EM_X86_64 */
  eh[54] = 56;   /* e_phentsize */
  g_assert_true (g_file_set_contents (elf, (const char *) eh, sizeof eh, NULL));

  const char *kernels[] = { bz, elf };
  const char *words[] = { "not an ELF vmlinux (a bzImage?)", "without a PVH entry note" };
  for (guint i = 0; i < G_N_ELEMENTS (kernels); i++)
    {
      Events ev = { 0 };
      VcVmConfig config = make_config ("kernel-pick", state, kernels[i], &ev);
      g_autoptr (GError) error = NULL;
      VcVm *vm = T.ops->create_vm (T.self, &config, &error);
      g_assert_no_error (error);
      g_assert_false (T.ops->start_vm (vm, 10000, &error));
      g_test_message ("kernel %s: %s", kernels[i], error->message);
      g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
      g_assert_nonnull (strstr (error->message, words[i]));
      g_assert_nonnull (strstr (error->message, kernels[i]));
      T.ops->free_vm (vm);
      assert_nothing_left (state);
    }
  /* The bzImage with a vmlinux beside it that has no note either. */
  g_autofree char *beside = g_build_filename (dir, "vmlinux", NULL);
  g_assert_true (g_file_set_contents (beside, (const char *) eh, sizeof eh, NULL));
  Events ev = { 0 };
  VcVmConfig config = make_config ("kernel-pick", state, bz, &ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = T.ops->create_vm (T.self, &config, &error);
  g_assert_false (T.ops->start_vm (vm, 10000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "has no PVH note either"));
  T.ops->free_vm (vm);
  assert_nothing_left (state);
}

static guint
open_fd_count (void)
{
  g_autoptr (GDir) d = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;
  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* NICs: what add_device takes, and that the plugin's dups of the tap fds
 * go with the handle. (The NIC in a running guest: tests/integration/net.) */
static void
test_net_devices (void)
{
  if (!need (FALSE, FALSE, FALSE))
    return;
  g_assert_true (T.ops->capabilities (T.self) & VC_HV_CAP_NET_TAP_FD);
  g_autofree char *dir = g_build_filename (T.tmpdir, "net", NULL);
  guint fds_before = open_fd_count ();
  int pipe_fds[2];
  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  Events ev = { 0 };
  VcVmConfig config = make_config ("net", dir, T.kernel, &ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = T.ops->create_vm (T.self, &config, &error);
  g_assert_no_error (error);

  struct { int fd; const char *mac; guint mtu; gboolean vnet_hdr; int code; const char *words; } cases[] = {
    { 999, "02:00:00:00:00:01", 0, TRUE, VC_ERROR_INVALID_ARGUMENT, "tap fd 999 is not open" },
    { pipe_fds[0], "02:00:00:00:00", 0, TRUE, VC_ERROR_INVALID_ARGUMENT, "MAC" },
    { pipe_fds[0], "02:00:00:00:00:01", 20, TRUE, VC_ERROR_INVALID_ARGUMENT, "MTU 20" },
    { pipe_fds[0], "02:00:00:00:00:01", 0, FALSE, VC_ERROR_NOT_SUPPORTED, "IFF_VNET_HDR" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (VcDevice) nic = vc_device_new (VC_DEVICE_NET, "net0", "vctap0", NULL);
      nic->net_fd = cases[i].fd;
      nic->mac = g_strdup (cases[i].mac);
      nic->mtu = cases[i].mtu;
      nic->vnet_hdr = cases[i].vnet_hdr;
      g_assert_false (T.ops->add_device (vm, nic, NULL, &error));
      g_test_message ("bad NIC %u: %s", i, error->message);
      g_assert_error (error, VC_ERROR, cases[i].code);
      g_assert_nonnull (strstr (error->message, cases[i].words));
      g_clear_error (&error);
    }
  g_autoptr (VcDevice) nic = vc_device_new (VC_DEVICE_NET, "net0", "vctap0", NULL);
  nic->net_fd = pipe_fds[0];
  nic->mac = g_strdup ("02:00:00:00:00:01");
  nic->mtu = 1400;
  nic->vnet_hdr = TRUE;
  g_assert_true (T.ops->add_device (vm, nic, NULL, &error));
  g_assert_no_error (error);
  /* The fd is borrowed: the caller may close its own at once. */
  close (pipe_fds[0]);
  g_assert_cmpuint (open_fd_count (), ==, fds_before + 2);
  /* A NIC cannot be hotplugged (the VM is not even running). */
  g_assert_false (T.ops->hotplug_add (vm, nic, NULL, &error));
  g_clear_error (&error);
  T.ops->free_vm (vm);
  close (pipe_fds[1]);
  g_assert_cmpuint (open_fd_count (), ==, fds_before);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

static void
test_pause_resume (void)
{
  if (!need (TRUE, TRUE, FALSE))
    return;
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (T.ops->get_status (T.vm, &error), ==, VC_VM_STATUS_RUNNING);
  /* Resuming a running VM: the API's 405, with Cloud Hypervisor's text. */
  g_assert_false (T.ops->resume_vm (T.vm, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_test_message ("resume while running: %s", error->message);
  g_assert_nonnull (strstr (error->message, "HTTP 405"));
  g_assert_nonnull (strstr (error->message, "vm.resume"));
  g_clear_error (&error);

  g_assert_true (T.ops->pause_vm (T.vm, &error));
  g_assert_no_error (error);
  g_assert_cmpint (T.ops->get_status (T.vm, &error), ==, VC_VM_STATUS_PAUSED);
  g_assert_true (T.ops->resume_vm (T.vm, &error));
  g_assert_cmpint (T.ops->get_status (T.vm, &error), ==, VC_VM_STATUS_RUNNING);
  g_assert_cmpint (T.ev.count[VC_VM_EVENT_PAUSED], ==, 1);
  g_assert_cmpint (T.ev.count[VC_VM_EVENT_RESUMED], ==, 1);
}

static void
test_vcpu_tids (void)
{
  if (!need (TRUE, TRUE, FALSE))
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) tids = T.ops->get_vcpu_tids (T.vm, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tids->len, >=, 1);
  g_autofree char *comm_path = g_strdup_printf ("/proc/%d/comm", g_array_index (tids, gint, 0));
  g_autofree char *comm = NULL;
  g_assert_true (g_file_get_contents (comm_path, &comm, NULL, NULL));
  g_test_message ("vCPU 0: thread %d '%s'", g_array_index (tids, gint, 0), g_strchomp (comm));
  g_assert_true (g_str_has_prefix (comm, "vcpu0") || g_str_has_prefix (comm, "CPU 0/"));
}

static void
test_hotplug_disk (void)
{
  if (!need (TRUE, TRUE, FALSE))
    return;
  g_autoptr (GError) error = NULL;
  g_autofree char *disk = make_disk ("hot.img");
  g_autoptr (VcDevice) hot = vc_device_new (VC_DEVICE_BLOCK, "hot0", disk, NULL);
  VcGuestDevice guest = { .struct_size = sizeof guest };
  g_assert_true (T.ops->hotplug_add (T.vm, hot, &guest, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (guest.driver, ==, "blk");
  vc_guest_device_clear (&guest);
  /* The same id again: refused by the plugin before the API sees it. */
  g_assert_false (T.ops->hotplug_add (T.vm, hot, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_EXISTS);
  g_clear_error (&error);
  /* A missing image: the API's error. */
  g_autoptr (VcDevice) missing = vc_device_new (VC_DEVICE_BLOCK, "missing", "/nonexistent/disk.img", NULL);
  g_assert_false (T.ops->hotplug_add (T.vm, missing, NULL, &error));
  g_test_message ("missing image: %s", error->message);
  g_assert_nonnull (strstr (error->message, "vm.add-disk"));
  g_clear_error (&error);

  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (T.ops->hotplug_remove (T.vm, "hot0", 30000, &error));
  g_assert_no_error (error);
  printf ("# figure: disk hot-unplug (vm.remove-device) %.2f s\n", (g_get_monotonic_time () - t0) / 1e6);
  g_assert_cmpint (T.ev.count[VC_VM_EVENT_DEVICE_REMOVED], ==, 1);
  g_assert_false (T.ops->hotplug_remove (T.vm, "hot0", 1000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_FOUND);
}

static void
test_resize (void)
{
  if (!need (TRUE, TRUE, FALSE))
    return;
  g_autoptr (GError) error = NULL;
  guint vcpus = 0;
  g_assert_true (T.ops->resize_vcpus (T.vm, 2, &vcpus, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (vcpus, ==, 2);
  g_assert_false (T.ops->resize_vcpus (T.vm, 3, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  guint64 mib = 0;
  g_assert_true (T.ops->resize_memory (T.vm, 300, &mib, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (mib, ==, 384);
  g_assert_false (T.ops->resize_memory (T.vm, 1024, NULL, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
}

static void
test_reattach (void)
{
  if (!need (TRUE, TRUE, FALSE))
    return;
  g_autoptr (GError) error = NULL;
  g_autofree char *saved = T.ops->save_state (T.vm, &error);
  g_assert_no_error (error);
  Events ev = { 0 };
  VcVmConfig config = make_config ("vm1", T.vm_dir, NULL, &ev);
  VcVm *again = T.ops->attach_vm (T.self, &config, saved, &error);
  g_assert_no_error (error);
  g_assert_cmpint (T.ops->get_status (again, &error), ==, VC_VM_STATUS_RUNNING);
  g_autoptr (GArray) pids = T.ops->get_pids (again, &error);
  g_assert_cmpint (g_array_index (pids, gint, 0), ==, T.pid);
  /* The hotplug state came along: the removed disk is not there. */
  g_assert_false (T.ops->hotplug_remove (again, "hot0", 1000, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_NOT_FOUND);
  g_clear_error (&error);
  T.ops->free_vm (again);

  /* A pid whose start time differs is not our VMM. */
  g_autoptr (GRegex) re = g_regex_new ("\"start_time\" : [0-9]+", 0, 0, NULL);
  g_autofree char *forged = g_regex_replace_literal (re, saved, -1, 0, "\"start_time\" : 1", 0, NULL);
  g_assert_null (T.ops->attach_vm (T.self, &config, forged, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  g_clear_error (&error);
  g_assert_null (T.ops->attach_vm (T.self, &config, "{ \"version\": 1 }", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
  /* The forged attach must not have removed the live VM's sockets. */
  g_autofree char *api = g_build_filename (T.vm_dir, "clh-api.sock", NULL);
  g_assert_true (g_file_test (api, G_FILE_TEST_EXISTS));
}

static void
test_stop (void)
{
  if (!need (TRUE, TRUE, FALSE))
    return;
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (T.ops->stop_vm (T.vm, 10000, &error));
  g_assert_no_error (error);
  printf ("# figure: stop_vm (vm.shutdown, vmm.shutdown) %.2f s\n", (g_get_monotonic_time () - t0) / 1e6);
  g_assert_true (wait_event (&T.ev, VC_VM_EVENT_STOPPED, 1, 5000));
  g_assert_cmpint (T.ops->get_status (T.vm, NULL), ==, VC_VM_STATUS_STOPPED);
  g_assert_false (T.ops->pause_vm (T.vm, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  T.ops->free_vm (T.vm);
  T.vm = NULL;
  assert_nothing_left (T.vm_dir);
}

/* A VM whose guest is not waited for. */
static VcVm *
start_quick (const char *id, Events *ev, char **dir_out, GError **error)
{
  *dir_out = g_build_filename (T.tmpdir, id, NULL);
  VcVmConfig config = make_config (id, *dir_out, T.kernel, ev);
  VcVm *vm = T.ops->create_vm (T.self, &config, error);
  g_assert_nonnull (vm);
  if (!T.ops->start_vm (vm, 60000, error))
    {
      T.ops->free_vm (vm);
      return NULL;
    }
  remember_vm (vm);
  return vm;
}

static void
test_vmm_killed (void)
{
  if (!need (TRUE, FALSE, FALSE))
    return;
  Events ev = { 0 };
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;
  VcVm *vm = start_quick ("killed", &ev, &dir, &error);
  g_assert_no_error (error);
  g_autoptr (GArray) pids = T.ops->get_pids (vm, &error);
  gint pid = g_array_index (pids, gint, 0);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_assert_true (wait_event (&ev, VC_VM_EVENT_STOPPED, 1, 1000));
  printf ("# figure: VMM death noticed in %.1f ms\n", (ev.stopped_at - t0) / 1000.0);
  g_assert_nonnull (strstr (ev.stopped_detail, "signal 9"));
  g_assert_cmpint (T.ops->get_status (vm, NULL), ==, VC_VM_STATUS_STOPPED);
  g_assert_false (T.ops->pause_vm (vm, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_STOPPED);
  g_clear_error (&error);
  g_assert_true (T.ops->stop_vm (vm, 1000, &error));
  T.ops->free_vm (vm);
  g_assert_cmpint (ev.count[VC_VM_EVENT_STOPPED], ==, 1);
  /* The stand-in's QEMU went with it; only the stand-in's own private
   * sockets may stay behind a SIGKILL, as Cloud Hypervisor's would. */
  g_assert_cmpuint (clh_test_wait_no_process (dir, 5000), ==, 0);
  g_autofree char *api = g_build_filename (dir, "clh-api.sock", NULL);
  g_assert_false (g_file_test (api, G_FILE_TEST_EXISTS));
}

/* Starts a VM with the stand-in told to misbehave; the start must fail with
 * code and every expected text, quickly, leaving nothing behind. */
static void
expect_start_failure_nic (const char *id, const char *fault, VcPluginInstance *self, gint code,
                          const char *const *texts, gboolean nic)
{
  g_autofree char *dir = g_build_filename (T.tmpdir, id, NULL);
  Events ev = { 0 };
  VcVmConfig config = make_config (id, dir, T.kernel, &ev);
  g_autoptr (GError) error = NULL;
  VcVm *vm = T.ops->create_vm (self, &config, &error);
  g_assert_no_error (error);
  /* A pipe stands in for the tap (the stand-in looks at it only at
   * vm.boot): once every copy of its read end is closed, writing fails. */
  int tap[2] = { -1, -1 };
  if (nic)
    {
      g_assert_cmpint (pipe (tap), ==, 0);
      g_autoptr (VcDevice) dev = vc_device_new (VC_DEVICE_NET, "net0", "vctap0", NULL);
      dev->net_fd = tap[0];
      dev->mac = g_strdup ("02:00:00:00:00:01");
      dev->vnet_hdr = TRUE;
      g_assert_true (T.ops->add_device (vm, dev, NULL, &error));
      close (tap[0]);
    }
  g_setenv ("CLH_STANDIN_FAULT", fault, TRUE);
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = T.ops->start_vm (vm, 60000, &error);
  g_unsetenv ("CLH_STANDIN_FAULT");
  g_assert_false (ok);
  g_test_message ("%s: %s (after %.1f s)", fault, error->message, (g_get_monotonic_time () - t0) / 1e6);
  g_assert_error (error, VC_ERROR, code);
  g_assert_cmpuint (strlen (error->message), <, 2048);
  for (guint i = 0; texts[i] != NULL; i++)
    g_assert_nonnull (strstr (error->message, texts[i]));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 30 * G_USEC_PER_SEC);
  T.ops->free_vm (vm);
  assert_nothing_left (dir);
  if (nic)
    {
      /* Nobody holds the tap any more: not the plugin, not a VMM. */
      signal (SIGPIPE, SIG_IGN);
      g_assert_cmpint (write (tap[1], "x", 1), ==, -1);
      g_assert_cmpint (errno, ==, EPIPE);
      close (tap[1]);
    }
}

static void
expect_start_failure (const char *id, const char *fault, VcPluginInstance *self, gint code,
                      const char *const *texts)
{
  expect_start_failure_nic (id, fault, self, code, texts, FALSE);
}

static void
test_fault_status (void)
{
  if (!need (TRUE, FALSE, TRUE))
    return;
  expect_start_failure ("f-400", "status:vm.create:400", T.self, VC_ERROR_FAILED,
                        (const char *const[]) { "vm.create", "HTTP 400", "injected fault", NULL });
  expect_start_failure ("f-500", "status:vm.boot:500", T.self, VC_ERROR_FAILED,
                        (const char *const[]) { "vm.boot", "HTTP 500", "injected fault", NULL });
  /* CLH's text is kept, but bounded. */
  expect_start_failure ("f-huge", "huge:vm.create", T.self, VC_ERROR_FAILED,
                        (const char *const[]) { "HTTP 500", "very long error text", "(262164 bytes)", NULL });
}

static void
test_fault_not_json (void)
{
  if (!need (TRUE, FALSE, TRUE))
    return;
  expect_start_failure ("f-json", "garbage:vmm.ping", T.self, VC_ERROR_PROTOCOL,
                        (const char *const[]) { "vmm.ping", "not JSON", "<html>", NULL });
}

static void
test_fault_hang (void)
{
  if (!need (TRUE, FALSE, TRUE))
    return;
  g_autoptr (GError) error = NULL;
  VcPluginInstance *quick = clh_test_instance (T.desc, &error, "path", g_variant_new_string (T.clh),
                                               "api_timeout_ms", g_variant_new_int64 (1000), NULL);
  g_assert_no_error (error);
  expect_start_failure ("f-hang", "hang:vmm.ping", quick, VC_ERROR_TIMEOUT,
                        (const char *const[]) { "vmm.ping", "no answer within 1000 ms", NULL });
  T.desc->destroy (quick);
}

/* vm.add-net, the request written by hand with the tap fd: CLH's error,
 * an answer that is not JSON, a bounded huge answer, no answer, and the VMM
 * dying on it; each a clear error, the tap held by nobody after. */
static void
test_fault_add_net (void)
{
  if (!need (TRUE, FALSE, TRUE))
    return;
  expect_start_failure_nic ("n-500", "status:vm.add-net:500", T.self, VC_ERROR_FAILED,
                            (const char *const[]) { "device 'net0' (tap vctap0)", "PUT vm.add-net",
                                                    "HTTP 500", "injected fault", NULL }, TRUE);
  expect_start_failure_nic ("n-json", "garbage:vm.add-net", T.self, VC_ERROR_PROTOCOL,
                            (const char *const[]) { "vm.add-net", "not JSON", "<html>", NULL }, TRUE);
  expect_start_failure_nic ("n-huge", "huge:vm.add-net", T.self, VC_ERROR_FAILED,
                            (const char *const[]) { "HTTP 500", "very long error text", " bytes)", NULL },
                            TRUE);
  expect_start_failure_nic ("n-exit", "exit:vm.add-net", T.self, VC_ERROR_FAILED,
                            (const char *const[]) { "exited with status 3", "during vm.add-net", NULL },
                            TRUE);
  g_autoptr (GError) error = NULL;
  VcPluginInstance *quick = clh_test_instance (T.desc, &error, "path", g_variant_new_string (T.clh),
                                               "api_timeout_ms", g_variant_new_int64 (1000), NULL);
  g_assert_no_error (error);
  expect_start_failure_nic ("n-hang", "hang:vm.add-net", quick, VC_ERROR_TIMEOUT,
                            (const char *const[]) { "vm.add-net (with 1 fds)", "no whole answer in time",
                                                    NULL }, TRUE);
  T.desc->destroy (quick);
}

static void
test_fault_exit_during_boot (void)
{
  if (!need (TRUE, FALSE, TRUE))
    return;
  expect_start_failure ("f-exit", "exit:vm.boot", T.self, VC_ERROR_FAILED,
                        (const char *const[]) { "exited with status 3", "during vm.boot", NULL });
}

static void
test_fault_vsock_answer (void)
{
  if (!need (TRUE, FALSE, TRUE))
    return;
  Events ev = { 0 };
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;
  g_setenv ("CLH_STANDIN_VSOCK_ANSWER", "ERROR no such port", TRUE);
  VcVm *vm = start_quick ("f-vsock", &ev, &dir, &error);
  g_unsetenv ("CLH_STANDIN_VSOCK_ANSWER");
  g_assert_no_error (error);
  VcVm *shared = T.vm;
  T.vm = vm;
  gint64 t0 = g_get_monotonic_time ();
  VcAgentConn *conn = agent_connect (30000, &error);
  T.vm = shared;
  g_assert_null (conn);
  g_test_message ("wrong answer: %s", error->message);
  /* A wrong answer is final: not retried until the dial timeout. */
  g_assert_error (error, VC_ERROR, VC_ERROR_PROTOCOL);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 15 * G_USEC_PER_SEC);
  g_assert_nonnull (strstr (error->message, "answered CONNECT 1024 with 'ERROR no such port'"));
  g_clear_error (&error);
  g_assert_true (T.ops->stop_vm (vm, 5000, &error));
  g_assert_no_error (error);
  T.ops->free_vm (vm);
  assert_nothing_left (dir);
}

/* Through libvcrun: fs-9p with this backend is refused when the sandbox is
 * created, naming both plugins, before anything is made. */
static void
test_sandbox_refuses_9p (gconstpointer data)
{
  if (!need (FALSE, FALSE, FALSE))
    return;
  const char *builddir = data;
  g_autofree char *fs9p = g_build_filename (builddir, "plugins", "fs-9p", ".libs", "fs-9p.so", NULL);
  if (!g_file_test (fs9p, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("fs-9p is not built");
      return;
    }
  g_autofree char *state = g_build_filename (T.tmpdir, "state", NULL);
  g_autofree char *conf = g_build_filename (T.tmpdir, "vcrun.conf", NULL);
  g_autofree char *text = g_strdup_printf (
      "runtime: { state_dir = \"%s\"; plugin_dir = \"%s/plugins/hypervisor-clh/.libs:%s/plugins/agent-kata/.libs:%s/plugins/fs-9p/.libs\"; };\n"
      "plugins: ( { name = \"hypervisor-clh\"; settings = { path = \"%s\"; }; },\n"
      "           { name = \"agent-kata\"; }, { name = \"fs-9p\"; } );\n"
      "sandbox: { hypervisor = \"hypervisor-clh\"; agent = \"agent-kata\"; fs = \"fs-9p\";\n"
      "           kernel = \"%s\"; initrd = \"%s\"; };\n",
      state, builddir, builddir, builddir, T.clh, T.kernel, T.initrd);
  g_assert_true (g_file_set_contents (conf, text, -1, NULL));
  g_autoptr (GError) error = NULL;
  g_autoptr (VcRuntime) runtime = vc_runtime_new (conf, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (VcSandbox) sb = vc_sandbox_create (runtime, "with-9p", NULL, &error);
  g_assert_null (sb);
  g_test_message ("%s", error->message);
  g_assert_error (error, VC_ERROR, VC_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, "fs-9p"));
  g_assert_nonnull (strstr (error->message, "hypervisor-clh"));
  g_autofree char *dir = g_build_filename (state, "with-9p", NULL);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (clh_test_wait_no_process (T.tmpdir, 0), ==, 0);
}

/* ------------------------------------------------------------------------- */

static gboolean
kvm_opens (void)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  close (fd);
  return TRUE;
}

static void
find_clh (const char *srcdir)
{
  const char *real = g_getenv ("VCRUN_CLH_BINARY");
  if (real != NULL && *real != '\0')
    {
      if (!g_file_test (real, G_FILE_TEST_IS_EXECUTABLE))
        T.skip = g_strdup_printf ("VCRUN_CLH_BINARY=%s is not an executable", real);
      else if (!kvm_opens ())
        T.skip = g_strdup_printf ("VCRUN_CLH_BINARY=%s needs KVM, and /dev/kvm does not open", real);
      T.clh = g_strdup (real);
      return;
    }
  T.standin = TRUE;
  T.clh = g_build_filename (srcdir, "tests", "clh-standin", "cloud-hypervisor", NULL);
  g_autofree char *top = g_canonicalize_filename (srcdir, NULL);
  g_autofree char *parent = g_path_get_dirname (top);
  const char *env_doc = g_getenv ("CLH_STANDIN_OPENAPI");
  g_autofree char *doc = env_doc != NULL ? g_strdup (env_doc)
                                         : g_build_filename (parent, "shared", "clh", "cloud-hypervisor.yaml", NULL);
  const char *qemu = g_getenv ("QEMU_SYSTEM");
  int status = -1;
  const char *argv[] = { "python3", "-c", "import yaml", NULL };
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL
                | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL);
  if (!g_file_test (doc, G_FILE_TEST_EXISTS))
    T.skip = g_strdup_printf ("no cloud-hypervisor here (set VCRUN_CLH_BINARY), and the stand-in needs "
                              "the OpenAPI document %s, which is absent", doc);
  else if (status != 0)
    T.skip = g_strdup ("the stand-in needs python3 with yaml (python3-yaml)");
  else if (qemu != NULL && *qemu != '\0' && !g_file_test (qemu, G_FILE_TEST_IS_EXECUTABLE))
    T.skip = g_strdup_printf ("the stand-in needs QEMU, and %s is missing", qemu);
  else
    g_setenv ("CLH_STANDIN_OPENAPI", doc, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *top_src = g_getenv ("VCRUN_TOP_SRCDIR");
  const char *top_build = g_getenv ("VCRUN_TOP_BUILDDIR");
  g_autofree char *srcdir = g_strdup (top_src != NULL ? top_src : "../../..");
  g_autofree char *builddir = g_strdup (top_build != NULL ? top_build : "../../..");
  find_clh (srcdir);

  g_autofree char *so = g_build_filename (builddir, "plugins", "hypervisor-clh", ".libs", "hypervisor-clh.so", NULL);
  g_autofree char *agent_so = g_build_filename (builddir, "plugins", "agent-kata", ".libs", "agent-kata.so", NULL);
  g_autoptr (GError) error = NULL;
  if (T.skip == NULL)
    {
      T.desc = clh_test_descriptor (so, &error);
      T.agent_desc = T.desc != NULL ? clh_test_descriptor (agent_so, &error) : NULL;
      if (T.agent_desc == NULL)
        T.skip = g_strdup_printf ("plugins not built: %s", error->message);
    }
  if (T.skip == NULL)
    {
      T.ops = T.desc->hypervisor;
      T.self = clh_test_instance (T.desc, &error, "path", g_variant_new_string (T.clh), NULL);
      g_assert_no_error (error);
    }
  /* A real Cloud Hypervisor boots an ELF vmlinux (PVH), not a bzImage. */
  const char *kernel = g_getenv ("VCRUN_CLH_KERNEL");
  T.kernel = kernel != NULL && *kernel != '\0' ? g_strdup (kernel)
                                               : g_build_filename (builddir, "guest", "vmlinuz", NULL);
  T.initrd = g_build_filename (builddir, "guest", "initrd.img", NULL);
  if (!g_file_test (T.kernel, G_FILE_TEST_EXISTS) || !g_file_test (T.initrd, G_FILE_TEST_EXISTS))
    T.no_guest = g_strdup_printf ("no guest image in %s/guest (run `make guest`)", builddir);
  /* Short: socket paths must fit in 108 bytes. */
  T.tmpdir = g_dir_make_tmp ("clh-XXXXXX", NULL);
  g_test_message ("testing %s%s", T.clh, T.standin ? " (the stand-in)" : "");

  g_test_add_func ("/clh/capabilities-check", test_capabilities);
  g_test_add_func ("/clh/config-errors", test_config_errors);
  g_test_add_data_func ("/clh/sandbox-refuses-9p", builddir, test_sandbox_refuses_9p);
  g_test_add_func ("/clh/bad-kernel", test_bad_kernel);
  g_test_add_func ("/clh/kernel-pick", test_kernel_pick);
  g_test_add_func ("/clh/net-devices", test_net_devices);
  g_test_add_func ("/clh/boot-to-agent", test_boot);
  g_test_add_func ("/clh/pause-resume", test_pause_resume);
  g_test_add_func ("/clh/vcpu-tids", test_vcpu_tids);
  g_test_add_func ("/clh/hotplug-disk", test_hotplug_disk);
  g_test_add_func ("/clh/resize", test_resize);
  g_test_add_func ("/clh/reattach", test_reattach);
  g_test_add_func ("/clh/stop", test_stop);
  g_test_add_func ("/clh/vmm-killed", test_vmm_killed);
  g_test_add_func ("/clh/fault/http-status", test_fault_status);
  g_test_add_func ("/clh/fault/not-json", test_fault_not_json);
  g_test_add_func ("/clh/fault/hung-socket", test_fault_hang);
  g_test_add_func ("/clh/fault/add-net", test_fault_add_net);
  g_test_add_func ("/clh/fault/exit-during-boot", test_fault_exit_during_boot);
  g_test_add_func ("/clh/fault/wrong-vsock-answer", test_fault_vsock_answer);
  signal (SIGABRT, on_abort);
  int status = g_test_run ();

  if (T.vm != NULL)
    {
      T.ops->stop_vm (T.vm, 1000, NULL);
      T.ops->free_vm (T.vm);
    }
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", T.tmpdir);
  if (system (cmd) != 0)
    g_warning ("could not remove %s", T.tmpdir);
  return status;
}
