/* Integration test of vcrun-agent: boots guest/vmlinuz + guest/initrd.img
 * under QEMU (TCG) once, with the agent's virtio-serial port on a Unix socket
 * and a busybox rootfs shared over virtio-9p, and drives the agent as the
 * host would. Skips when the image, QEMU or busybox is missing.
 *
 * An ext4 disk (virtio-blk) and a virtio-fs share are added when mke2fs and
 * virtiofsd are there. VCRUN_TEST_KERNEL / VCRUN_TEST_INITRD override the
 * image paths,
 * VCRUN_TEST_DEBUG=1 boots with vcrun.debug and keeps the work directory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-client.h"

#define GUEST_SHARE "/run/kata-containers/shared/containers/"
#define GUEST_ROOTFS GUEST_SHARE "bb/rootfs"
#define BOOT_TIMEOUT_S 180

typedef struct {
  char *skip_reason;
  char *workdir;
  char *console_log;
  char *socket_path;
  GPid qemu;
  int fd;
  int qmp_fd;
  GString *qmp_in;      /* everything QMP sent */
  gsize qmp_seen;       /* how far qmp_wait_port has looked */
  AgentClient client;
  double boot_seconds;  /* QEMU start to the agent's ready line, seen by the test */
  double guest_ready;   /* the ready line's own figure: seconds after kernel start */
  gboolean have_disk;   /* disk.img made: a virtio-blk disk at PCI slot 05 */
  GPid virtiofsd;       /* serving vfs-share as tag vfsShared, if installed */
  char *vfs_share;
} Fixture;

static Fixture fx = { .fd = -1, .qmp_fd = -1 };

/* ---- the VM -------------------------------------------------------------------- */

static gboolean
make_busybox_rootfs (const char *rootfs, GError **error)
{
  static const char *const dirs[] = { "bin", "proc", "sys", "dev", "tmp", "etc", "root" };
  static const char *const applets[] = { "sh", "echo", "cat", "mkdir", "ls", "sleep", "true", "false",
                                         "id", "env", "test", "[", "head", "rmdir", "wc", "yes", "pwd",
                                         "hostname", "grep", "tail", "stat", "touch" };
  for (size_t i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *d = g_build_filename (rootfs, dirs[i], NULL);
      if (g_mkdir_with_parents (d, 0755) < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "mkdir %s: %s", d, g_strerror (errno));
          return FALSE;
        }
    }
  g_autofree char *busybox = g_build_filename (rootfs, "bin", "busybox", NULL);
  g_autoptr (GFile) src = g_file_new_for_path ("/bin/busybox");
  g_autoptr (GFile) dst = g_file_new_for_path (busybox);
  if (!g_file_copy (src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, error))
    return FALSE;
  g_chmod (busybox, 0755);
  for (size_t i = 0; i < G_N_ELEMENTS (applets); i++)
    {
      g_autofree char *link = g_build_filename (rootfs, "bin", applets[i], NULL);
      if (symlink ("busybox", link) < 0 && errno != EEXIST)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "symlink %s: %s", link, g_strerror (errno));
          return FALSE;
        }
    }
  return TRUE;
}

static void
qemu_child_setup (gpointer data)
{
  /* never outlive the test */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
qemu_alive (void)
{
  int status;
  if (fx.qemu <= 0)
    return FALSE;
  if (waitpid (fx.qemu, &status, WNOHANG) == fx.qemu)
    {
      fx.qemu = 0;
      return FALSE;
    }
  return TRUE;
}

static int
connect_unix (const char *path, int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  while (g_get_monotonic_time () < deadline && qemu_alive ())
    {
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
        return fd;
      close (fd);
      g_usleep (20000);
    }
  return -1;
}

/* Reads what QMP has sent, waiting up to timeout_ms for something. */
static void
qmp_read (int timeout_ms)
{
  struct pollfd pfd = { .fd = fx.qmp_fd, .events = POLLIN };
  if (poll (&pfd, 1, timeout_ms) <= 0)
    return;
  char buf[4096];
  ssize_t n = read (fx.qmp_fd, buf, sizeof buf);
  if (n > 0)
    g_string_append_len (fx.qmp_in, buf, n);
}

static void
qmp_connect (const char *path)
{
  fx.qmp_fd = connect_unix (path, 10000);
  if (fx.qmp_fd < 0)
    g_error ("cannot connect to QMP at %s", path);
  fx.qmp_in = g_string_new (NULL);
  while (!strstr (fx.qmp_in->str, "\"QMP\""))
    qmp_read (1000);
  const char *caps = "{\"execute\": \"qmp_capabilities\"}\n";
  g_assert_true (write (fx.qmp_fd, caps, strlen (caps)) == (ssize_t) strlen (caps));
  while (!strstr (fx.qmp_in->str, "\"return\""))
    qmp_read (1000);
}

/* Waits for QEMU to report the guest opening (or closing) the agent port:
 * the host may send only once the guest has the port open. */
static gboolean
qmp_wait_port (gboolean open, int timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  const char *want = open ? "\"open\": true" : "\"open\": false";
  for (;;)
    {
      for (;;)
        {
          const char *start = fx.qmp_in->str + fx.qmp_seen;
          const char *end = strstr (start, "\r\n");
          if (!end)
            break;
          g_autofree char *line = g_strndup (start, (gsize) (end - start));
          fx.qmp_seen += (gsize) (end - start) + 2;
          if (strstr (line, "VSERPORT_CHANGE") && strstr (line, "agentport") && strstr (line, want))
            return TRUE;
        }
      if (g_get_monotonic_time () > deadline || !qemu_alive ())
        return FALSE;
      qmp_read (100);
    }
}

static gboolean
console_has (const char *needle)
{
  g_autofree char *text = NULL;
  return g_file_get_contents (fx.console_log, &text, NULL, NULL) && strstr (text, needle);
}

static void
boot_vm (void)
{
  g_autoptr (GError) error = NULL;
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  g_autofree char *kernel = g_strdup (g_getenv ("VCRUN_TEST_KERNEL"));
  g_autofree char *initrd = g_strdup (g_getenv ("VCRUN_TEST_INITRD"));
  const char *qemu = g_getenv ("QEMU_SYSTEM");
  if (!qemu || !*qemu)
    qemu = QEMU_SYSTEM;
  if (!kernel)
    kernel = g_build_filename (top ? top : "../../..", "guest", "vmlinuz", NULL);
  if (!initrd)
    initrd = g_build_filename (top ? top : "../../..", "guest", "initrd.img", NULL);

  if (!g_file_test (kernel, G_FILE_TEST_EXISTS) || !g_file_test (initrd, G_FILE_TEST_EXISTS))
    {
      fx.skip_reason = g_strdup_printf ("no guest image (%s, %s): run `make guest` first", kernel, initrd);
      return;
    }
  if (!g_file_test (qemu, G_FILE_TEST_IS_EXECUTABLE))
    {
      fx.skip_reason = g_strdup_printf ("QEMU (%s) is not installed", qemu);
      return;
    }
  if (!g_file_test ("/bin/busybox", G_FILE_TEST_IS_EXECUTABLE))
    {
      fx.skip_reason = g_strdup ("no /bin/busybox (busybox-static) for the container rootfs");
      return;
    }

  fx.workdir = g_dir_make_tmp ("vcrun-guest-test-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *share = g_build_filename (fx.workdir, "share", NULL);
  g_autofree char *rootfs = g_build_filename (share, "bb", "rootfs", NULL);
  if (!make_busybox_rootfs (rootfs, &error))
    g_error ("cannot build the busybox rootfs: %s", error->message);

  /* a small ext4 disk with one file, for the block-device storage case
   * (skipped when mke2fs is missing) */
  g_autofree char *disk = g_build_filename (fx.workdir, "disk.img", NULL);
  g_autofree char *disk_dir = g_build_filename (fx.workdir, "disk-content", NULL);
  g_autofree char *disk_file = g_build_filename (disk_dir, "hello.txt", NULL);
  g_mkdir_with_parents (disk_dir, 0755);
  g_file_set_contents (disk_file, "hello from a block device\n", -1, NULL);
  g_autofree char *mke2fs = g_find_program_in_path ("mke2fs");
  if (!mke2fs && g_file_test ("/usr/sbin/mke2fs", G_FILE_TEST_IS_EXECUTABLE))
    mke2fs = g_strdup ("/usr/sbin/mke2fs");
  if (mke2fs)
    {
      const char *mkfs_argv[] = { mke2fs, "-q", "-F", "-t", "ext4", "-d", disk_dir, disk, "8M", NULL };
      int status = 0;
      if (g_spawn_sync (NULL, (char **) mkfs_argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, NULL,
                        &status, NULL) && g_spawn_check_wait_status (status, NULL))
        fx.have_disk = TRUE;
    }
  g_autofree char *drive = g_strdup_printf ("file=%s,if=none,id=disk0,format=raw", disk);

  /* virtio-fs, when virtiofsd is installed */
  const char *virtiofsd = g_getenv ("VIRTIOFSD");
  if (!virtiofsd || !*virtiofsd)
    virtiofsd = "/usr/lib/qemu/virtiofsd";
  g_autofree char *vfs_socket = g_build_filename (fx.workdir, "virtiofsd.sock", NULL);
  if (g_file_test (virtiofsd, G_FILE_TEST_IS_EXECUTABLE) && getuid () == 0)
    {
      fx.vfs_share = g_build_filename (fx.workdir, "vfs-share", NULL);
      g_mkdir_with_parents (fx.vfs_share, 0755);
      g_autofree char *vfs_file = g_build_filename (fx.vfs_share, "from-host.txt", NULL);
      g_file_set_contents (vfs_file, "shared over virtio-fs\n", -1, NULL);
      g_autofree char *source_opt = g_strdup_printf ("source=%s", fx.vfs_share);
      g_autofree char *socket_opt = g_strdup_printf ("--socket-path=%s", vfs_socket);
      g_autofree char *vfs_log = g_build_filename (fx.workdir, "virtiofsd.log", NULL);
      const char *vfs_argv[] = { virtiofsd, socket_opt, "-o", source_opt, "-o", "cache=none",
                                 "-o", "sandbox=chroot", NULL };
      int vfs_log_fd = open (vfs_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (g_spawn_async_with_fds (NULL, (char **) vfs_argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, qemu_child_setup,
                                  NULL, &fx.virtiofsd, -1, vfs_log_fd, vfs_log_fd, NULL))
        {
          for (int i = 0; i < 200 && !g_file_test (vfs_socket, G_FILE_TEST_EXISTS); i++)
            g_usleep (20000);
          if (!g_file_test (vfs_socket, G_FILE_TEST_EXISTS))
            {
              kill (fx.virtiofsd, SIGKILL);
              waitpid (fx.virtiofsd, NULL, 0);
              fx.virtiofsd = 0;
            }
        }
      close (vfs_log_fd);
    }
  g_autofree char *vfs_chardev = g_strdup_printf ("socket,id=vfs,path=%s", vfs_socket);

  fx.console_log = g_build_filename (fx.workdir, "console.log", NULL);
  fx.socket_path = g_build_filename (fx.workdir, "agent.sock", NULL);
  const char *socket_path = fx.socket_path;
  g_autofree char *qmp_path = g_build_filename (fx.workdir, "qmp.sock", NULL);
  g_autofree char *qmp = g_strdup_printf ("unix:%s,server=on,wait=off", qmp_path);
  g_autofree char *qemu_log = g_build_filename (fx.workdir, "qemu.log", NULL);
  gboolean debug = g_getenv ("VCRUN_TEST_DEBUG") != NULL;
  g_autofree char *append = g_strdup_printf ("console=ttyS0 quiet panic=-1%s", debug ? " vcrun.debug" : "");
  g_autofree char *serial = g_strdup_printf ("file:%s", fx.console_log);
  g_autofree char *chardev = g_strdup_printf ("socket,id=agent,path=%s,server=on,wait=off", socket_path);
  g_autofree char *fsdev = g_strdup_printf ("local,id=shared,path=%s,security_model=none", share);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *fixed[] = {
    qemu, "-accel", "tcg", "-nodefaults", "-no-user-config", "-machine", "q35", "-m", "256", "-smp", "1",
    "-display", "none", "-no-reboot",
    "-kernel", kernel, "-initrd", initrd, "-append", append,
    "-serial", serial,
    "-qmp", qmp,
    "-device", "virtio-serial-pci,id=vser0",
    "-chardev", chardev,
    "-device", "virtserialport,bus=vser0.0,chardev=agent,name=agent.channel.0,id=agentport",
    "-fsdev", fsdev,
    "-device", "virtio-9p-pci,fsdev=shared,mount_tag=kataShared",
  };
  for (size_t i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (argv, (gpointer) fixed[i]);
  if (fx.have_disk)
    {
      /* at PCI slot 0x05: the PCI path the block storage names */
      g_ptr_array_add (argv, "-drive");
      g_ptr_array_add (argv, drive);
      g_ptr_array_add (argv, "-device");
      g_ptr_array_add (argv, "virtio-blk-pci,drive=disk0,addr=0x05");
    }
  if (fx.virtiofsd > 0)
    {
      /* vhost-user needs the guest memory shared with virtiofsd */
      g_ptr_array_add (argv, "-object");
      g_ptr_array_add (argv, "memory-backend-memfd,id=mem,size=256M,share=on");
      g_ptr_array_add (argv, "-machine");
      g_ptr_array_add (argv, "memory-backend=mem");
      g_ptr_array_add (argv, "-chardev");
      g_ptr_array_add (argv, vfs_chardev);
      g_ptr_array_add (argv, "-device");
      g_ptr_array_add (argv, "vhost-user-fs-pci,chardev=vfs,tag=vfsShared");
    }
  g_ptr_array_add (argv, NULL);
  int log_fd = open (qemu_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  gint64 start = g_get_monotonic_time ();
  if (!g_spawn_async_with_fds (NULL, (char **) argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, qemu_child_setup, NULL,
                               &fx.qemu, -1, log_fd, log_fd, &error))
    g_error ("cannot start %s: %s", qemu, error->message);
  close (log_fd);

  /* Connect first, then wait for the guest to open its port (QMP
   * VSERPORT_CHANGE): only then may the host send. */
  qmp_connect (qmp_path);
  fx.fd = connect_unix (socket_path, 10000);
  if (fx.fd < 0)
    g_error ("cannot connect to the agent socket %s (see %s)", socket_path, qemu_log);
  if (!qmp_wait_port (TRUE, BOOT_TIMEOUT_S * 1000))
    g_error ("the guest did not open the agent port in %d s (see %s)", BOOT_TIMEOUT_S, fx.console_log);
  while (!console_has ("vcrun-agent: ready"))
    {
      if (!qemu_alive ())
        g_error ("QEMU exited before the agent was ready (see %s)", fx.console_log);
      if (g_get_monotonic_time () - start > (gint64) BOOT_TIMEOUT_S * G_USEC_PER_SEC)
        g_error ("the agent was not ready after %d s (see %s)", BOOT_TIMEOUT_S, fx.console_log);
      g_usleep (20000);
    }
  fx.boot_seconds = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
  g_autofree char *console = NULL;
  if (g_file_get_contents (fx.console_log, &console, NULL, NULL))
    {
      const char *line = strstr (console, "vcrun-agent: ready (");
      if (line)
        fx.guest_ready = g_ascii_strtod (line + strlen ("vcrun-agent: ready ("), NULL);
    }
  agent_client_init (&fx.client, fx.fd, 60000);
}

static void
shutdown_vm (void)
{
  if (fx.fd >= 0)
    close (fx.fd);
  if (fx.qmp_fd >= 0)
    close (fx.qmp_fd);
  if (fx.qemu > 0)
    {
      kill (fx.qemu, SIGTERM);
      for (int i = 0; i < 100 && qemu_alive (); i++)
        g_usleep (50000);
      if (qemu_alive ())
        {
          kill (fx.qemu, SIGKILL);
          waitpid (fx.qemu, NULL, 0);
        }
    }
  if (fx.virtiofsd > 0)
    {
      kill (fx.virtiofsd, SIGTERM);
      waitpid (fx.virtiofsd, NULL, 0);
    }
  if (fx.workdir && !g_getenv ("VCRUN_TEST_DEBUG"))
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", fx.workdir);
      (void) !system (cmd);
    }
}

#define SKIP_IF_NO_VM()                    \
  do {                                     \
    if (fx.skip_reason)                    \
      {                                    \
        g_test_skip (fx.skip_reason);      \
        return;                            \
      }                                    \
  } while (0)

/* ---- calls ----------------------------------------------------------------------------- */

/* Calls a method and asserts the status code; returns the reply. */
static ProtobufCMessage *
call (const char *service, const char *method, const ProtobufCMessage *req,
      const ProtobufCMessageDescriptor *reply_desc, int expected_code)
{
  g_autoptr (GError) error = NULL;
  AgentResult res;
  if (!agent_client_call (&fx.client, service, method, req, reply_desc, &res, &error))
    g_error ("%s: %s", method, error->message);
  if (res.code != expected_code)
    g_error ("%s: expected status %s, got %s: %s", method, vc_ttrpc_code_to_string (expected_code),
             vc_ttrpc_code_to_string (res.code), res.message);
  ProtobufCMessage *reply = res.reply;
  res.reply = NULL;
  agent_result_clear (&res);
  return reply;
}

static void
call_ok (const char *method, const ProtobufCMessage *req)
{
  call (VC_KATA_AGENT_SERVICE, method, req, NULL, VC_TTRPC_CODE_OK);
}

/* An OCI spec for a container on the shared busybox rootfs. */
typedef struct {
  Grpc__Spec spec;
  Grpc__Process process;
  Grpc__Root root;
  Grpc__User user;
  Grpc__Linux linux_;
  Grpc__Mount mounts[3];
  Grpc__Mount *mount_list[3];
  char *env[2];
  char *tmp_options[2];
} Spec;

static void
spec_init (Spec *s, char **args)
{
  memset (s, 0, sizeof *s);
  grpc__spec__init (&s->spec);
  grpc__process__init (&s->process);
  grpc__root__init (&s->root);
  grpc__user__init (&s->user);
  grpc__linux__init (&s->linux_);
  s->env[0] = "PATH=/bin";
  s->env[1] = "HOME=/root";
  s->process.args = args;
  s->process.n_args = g_strv_length (args);
  s->process.env = s->env;
  s->process.n_env = 2;
  s->process.cwd = "/";
  s->process.user = &s->user;
  s->root.path = GUEST_ROOTFS;
  s->spec.process = &s->process;
  s->spec.root = &s->root;
  s->spec.hostname = "vcrun-test";
  s->spec.linux = &s->linux_;
  const struct { const char *dest, *type, *source; } m[] = {
    { "/proc", "proc", "proc" }, { "/dev", "tmpfs", "tmpfs" }, { "/tmp", "tmpfs", "tmpfs" },
  };
  s->tmp_options[0] = "nosuid";
  s->tmp_options[1] = "mode=1777";
  for (size_t i = 0; i < 3; i++)
    {
      grpc__mount__init (&s->mounts[i]);
      s->mounts[i].destination = (char *) m[i].dest;
      s->mounts[i].type = (char *) m[i].type;
      s->mounts[i].source = (char *) m[i].source;
      if (i > 0)
        {
          s->mounts[i].options = s->tmp_options;
          s->mounts[i].n_options = 2;
        }
      s->mount_list[i] = &s->mounts[i];
    }
  s->spec.mounts = s->mount_list;
  s->spec.n_mounts = 3;
}

static void
create_container (const char *id, Spec *s, int expected_code)
{
  Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  req.container_id = (char *) id;
  req.exec_id = (char *) id;
  req.oci = &s->spec;
  call (VC_KATA_AGENT_SERVICE, "CreateContainer", &req.base, NULL, expected_code);
}

static void
start_container (const char *id)
{
  Grpc__StartContainerRequest req = GRPC__START_CONTAINER_REQUEST__INIT;
  req.container_id = (char *) id;
  call_ok ("StartContainer", &req.base);
}

static void
run_container (const char *id, Spec *s)
{
  create_container (id, s, VC_TTRPC_CODE_OK);
  start_container (id);
}

/* Reads stdout or stderr to end of file. */
static char *
read_all (const char *id, const char *exec_id, gboolean err_stream)
{
  GString *out = g_string_new (NULL);
  for (;;)
    {
      Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
      req.container_id = (char *) id;
      req.exec_id = (char *) exec_id;
      req.len = 1024 * 1024;
      Grpc__ReadStreamResponse *resp = (Grpc__ReadStreamResponse *)
        call (VC_KATA_AGENT_SERVICE, err_stream ? "ReadStderr" : "ReadStdout", &req.base,
              &grpc__read_stream_response__descriptor, VC_TTRPC_CODE_OK);
      size_t n = resp->data.len;
      g_string_append_len (out, (const char *) resp->data.data, (gssize) n);
      protobuf_c_message_free_unpacked (&resp->base, NULL);
      if (n == 0)
        break;
    }
  return g_string_free (out, FALSE);
}

static int
wait_process (const char *id, const char *exec_id)
{
  Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
  req.container_id = (char *) id;
  req.exec_id = (char *) exec_id;
  Grpc__WaitProcessResponse *resp = (Grpc__WaitProcessResponse *)
    call (VC_KATA_AGENT_SERVICE, "WaitProcess", &req.base, &grpc__wait_process_response__descriptor,
          VC_TTRPC_CODE_OK);
  int status = resp->status;
  protobuf_c_message_free_unpacked (&resp->base, NULL);
  return status;
}

static void
remove_container (const char *id)
{
  Grpc__RemoveContainerRequest req = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
  req.container_id = (char *) id;
  req.timeout = 10;
  call_ok ("RemoveContainer", &req.base);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_health (void)
{
  SKIP_IF_NO_VM ();
  g_test_message ("boot to agent ready: %.2f s from QEMU start, %.2f s after kernel start (guest clock)",
                  fx.boot_seconds, fx.guest_ready);
  Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *h = (Grpc__HealthCheckResponse *)
    call (VC_KATA_HEALTH_SERVICE, "Check", &req.base, &grpc__health_check_response__descriptor, VC_TTRPC_CODE_OK);
  g_assert_cmpint (h->status, ==, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  protobuf_c_message_free_unpacked (&h->base, NULL);
  Grpc__VersionCheckResponse *v = (Grpc__VersionCheckResponse *)
    call (VC_KATA_HEALTH_SERVICE, "Version", &req.base, &grpc__version_check_response__descriptor,
          VC_TTRPC_CODE_OK);
  g_assert_cmpstr (v->agent_version, ==, PACKAGE_VERSION);
  protobuf_c_message_free_unpacked (&v->base, NULL);
}

static void
test_sandbox (void)
{
  SKIP_IF_NO_VM ();
  Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;
  Grpc__Storage st = GRPC__STORAGE__INIT;
  Grpc__Storage *storages[] = { &st };
  char *options[] = { "trans=virtio", "version=9p2000.L", "nodev" };
  st.driver = "9p";
  st.source = "kataShared";
  st.fstype = "9p";
  st.options = options;
  st.n_options = G_N_ELEMENTS (options);
  st.mount_point = GUEST_SHARE;
  req.storages = storages;
  req.n_storages = 1;
  req.sandbox_id = "test-sandbox";
  req.hostname = "vcrun-guest";
  call_ok ("CreateSandbox", &req.base);
  /* a second sandbox is refused */
  call (VC_KATA_AGENT_SERVICE, "CreateSandbox", &req.base, NULL, VC_TTRPC_CODE_ALREADY_EXISTS);

  Grpc__GuestDetailsRequest dreq = GRPC__GUEST_DETAILS_REQUEST__INIT;
  dreq.mem_block_size = TRUE;
  Grpc__GuestDetailsResponse *d = (Grpc__GuestDetailsResponse *)
    call (VC_KATA_AGENT_SERVICE, "GetGuestDetails", &dreq.base, &grpc__guest_details_response__descriptor,
          VC_TTRPC_CODE_OK);
  g_assert_nonnull (d->agent_details);
  g_assert_true (d->agent_details->init_daemon);
  g_assert_true (d->agent_details->supports_seccomp);
  protobuf_c_message_free_unpacked (&d->base, NULL);
}

static void
test_echo (void)
{
  SKIP_IF_NO_VM ();
  char *args[] = { "echo", "hello from the guest", NULL };
  Spec s;
  spec_init (&s, args);
  run_container ("echo", &s);
  g_autofree char *out = read_all ("echo", "echo", FALSE);
  g_autofree char *err = read_all ("echo", "echo", TRUE);
  g_assert_cmpstr (out, ==, "hello from the guest\n");
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpint (wait_process ("echo", "echo"), ==, 0);
  remove_container ("echo");
}

/* Nothing of the agent's is open in a container process: only stdio (and
 * the directory ls itself is reading), and the agent is not in its pid
 * namespace. */
static void
test_no_agent_fds (void)
{
  SKIP_IF_NO_VM ();
  /* The processes are listed by the shell's builtins alone (no fork that
   * might or might not be running yet): only sh itself, pid 1, is seen. */
  char *args[] = { "sh", "-c",
                   "ls /proc/self/fd; for p in /proc/[0-9]*; do read c < $p/comm; echo \"${p#/proc/} $c\"; done",
                   NULL };
  Spec s;
  spec_init (&s, args);
  run_container ("fds", &s);
  g_autofree char *out = read_all ("fds", "fds", FALSE);
  g_assert_cmpstr (out, ==, "0\n1\n2\n3\n1 sh\n");
  g_assert_cmpint (wait_process ("fds", "fds"), ==, 0);
  remove_container ("fds");
}

static void
test_exit_code (void)
{
  SKIP_IF_NO_VM ();
  char *args[] = { "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3", NULL };
  Spec s;
  spec_init (&s, args);
  run_container ("fail", &s);
  g_autofree char *out = read_all ("fail", "fail", FALSE);
  g_autofree char *err = read_all ("fail", "fail", TRUE);
  g_assert_cmpstr (out, ==, "to-stdout\n");
  g_assert_cmpstr (err, ==, "to-stderr\n");
  g_assert_cmpint (wait_process ("fail", "fail"), ==, 3);
  remove_container ("fail");
}

static void
test_stdin_cat (void)
{
  SKIP_IF_NO_VM ();
  char *args[] = { "cat", NULL };
  Spec s;
  spec_init (&s, args);
  run_container ("cat", &s);
  Grpc__WriteStreamRequest w = GRPC__WRITE_STREAM_REQUEST__INIT;
  w.container_id = "cat";
  w.exec_id = "cat";
  w.data.data = (guint8 *) "ping through stdin\n";
  w.data.len = strlen ((char *) w.data.data);
  Grpc__WriteStreamResponse *wr = (Grpc__WriteStreamResponse *)
    call (VC_KATA_AGENT_SERVICE, "WriteStdin", &w.base, &grpc__write_stream_response__descriptor,
          VC_TTRPC_CODE_OK);
  g_assert_cmpuint (wr->len, ==, w.data.len);
  protobuf_c_message_free_unpacked (&wr->base, NULL);
  Grpc__CloseStdinRequest c = GRPC__CLOSE_STDIN_REQUEST__INIT;
  c.container_id = "cat";
  c.exec_id = "cat";
  call_ok ("CloseStdin", &c.base);
  g_autofree char *out = read_all ("cat", "cat", FALSE);
  g_assert_cmpstr (out, ==, "ping through stdin\n");
  g_assert_cmpint (wait_process ("cat", "cat"), ==, 0);
  remove_container ("cat");
}

static void
run_mkdir (const char *id, gboolean with_seccomp, char **out, char **err)
{
  char *args[] = { "sh", "-c", "mkdir /tmp/made; echo mkdir-rc=$?", NULL };
  Spec s;
  spec_init (&s, args);
  Grpc__LinuxSeccomp sc = GRPC__LINUX_SECCOMP__INIT;
  Grpc__LinuxSyscall deny = GRPC__LINUX_SYSCALL__INIT;
  Grpc__LinuxSyscall *syscalls[] = { &deny };
  char *names[] = { "mkdir", "mkdirat" };
  char *arches[] = { "SCMP_ARCH_X86_64" };
  sc.defaultaction = "SCMP_ACT_ALLOW";
  sc.architectures = arches;
  sc.n_architectures = 1;
  deny.names = names;
  deny.n_names = 2;
  deny.action = "SCMP_ACT_ERRNO";
  deny.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
  deny.errnoret = EPERM;
  sc.syscalls = syscalls;
  sc.n_syscalls = 1;
  if (with_seccomp)
    s.linux_.seccomp = &sc;
  s.process.nonewprivileges = TRUE;
  run_container (id, &s);
  *out = read_all (id, id, FALSE);
  *err = read_all (id, id, TRUE);
  g_assert_cmpint (wait_process (id, id), ==, 0);
  remove_container (id);
}

static void
test_seccomp (void)
{
  SKIP_IF_NO_VM ();
  g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
  run_mkdir ("mkdir-allowed", FALSE, &out, &err);
  g_assert_cmpstr (out, ==, "mkdir-rc=0\n");
  run_mkdir ("mkdir-denied", TRUE, &out2, &err2);
  g_assert_cmpstr (out2, ==, "mkdir-rc=1\n");
  g_assert_nonnull (strstr (err2, "Operation not permitted"));
}

static void
test_exec_signal_pause (void)
{
  SKIP_IF_NO_VM ();
  char *args[] = { "sleep", "600", NULL };
  Spec s;
  spec_init (&s, args);
  run_container ("sleeper", &s);

  char *exec_args[] = { "sh", "-c", "echo exec sees pid1=$(cat /proc/1/comm); exit 5", NULL };
  Spec es;
  spec_init (&es, exec_args);
  Grpc__ExecProcessRequest ex = GRPC__EXEC_PROCESS_REQUEST__INIT;
  ex.container_id = "sleeper";
  ex.exec_id = "e1";
  ex.process = &es.process;
  call_ok ("ExecProcess", &ex.base);
  g_autofree char *out = read_all ("sleeper", "e1", FALSE);
  g_assert_cmpstr (out, ==, "exec sees pid1=sleep\n");
  g_assert_cmpint (wait_process ("sleeper", "e1"), ==, 5);

  Grpc__PauseContainerRequest p = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
  p.container_id = "sleeper";
  call_ok ("PauseContainer", &p.base);
  Grpc__StatsContainerRequest st = GRPC__STATS_CONTAINER_REQUEST__INIT;
  st.container_id = "sleeper";
  Grpc__StatsContainerResponse *stats = (Grpc__StatsContainerResponse *)
    call (VC_KATA_AGENT_SERVICE, "StatsContainer", &st.base, &grpc__stats_container_response__descriptor,
          VC_TTRPC_CODE_OK);
  g_assert_nonnull (stats->cgroup_stats);
  g_assert_cmpuint (stats->cgroup_stats->pids_stats->current, >=, 1);
  g_assert_cmpuint (stats->cgroup_stats->memory_stats->usage->usage, >, 0);
  protobuf_c_message_free_unpacked (&stats->base, NULL);
  Grpc__ResumeContainerRequest r = GRPC__RESUME_CONTAINER_REQUEST__INIT;
  r.container_id = "sleeper";
  call_ok ("ResumeContainer", &r.base);

  /* UpdateContainer changes the memory limit that StatsContainer reports */
  Grpc__UpdateContainerRequest up = GRPC__UPDATE_CONTAINER_REQUEST__INIT;
  Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
  Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
  mem.limit = 64 * 1024 * 1024;
  res.memory = &mem;
  up.container_id = "sleeper";
  up.resources = &res;
  call_ok ("UpdateContainer", &up.base);
  stats = (Grpc__StatsContainerResponse *)
    call (VC_KATA_AGENT_SERVICE, "StatsContainer", &st.base, &grpc__stats_container_response__descriptor,
          VC_TTRPC_CODE_OK);
  g_assert_cmpuint (stats->cgroup_stats->memory_stats->usage->limit, ==, 64 * 1024 * 1024);
  protobuf_c_message_free_unpacked (&stats->base, NULL);

  Grpc__SignalProcessRequest sig = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
  sig.container_id = "sleeper";
  sig.exec_id = "sleeper";
  sig.signal = SIGKILL;
  call_ok ("SignalProcess", &sig.base);
  g_assert_cmpint (wait_process ("sleeper", "sleeper"), ==, 128 + SIGKILL);
  remove_container ("sleeper");
}

static void
test_terminal (void)
{
  SKIP_IF_NO_VM ();
  char *args[] = { "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo on-a-tty", NULL };
  Spec s;
  spec_init (&s, args);
  s.process.terminal = TRUE;
  run_container ("tty", &s);
  g_autofree char *out = read_all ("tty", "tty", FALSE);
  g_assert_cmpstr (out, ==, "on-a-tty\r\n");
  g_assert_cmpint (wait_process ("tty", "tty"), ==, 0);
  remove_container ("tty");
}

/* Requests in flight at once: a ReadStdout that blocks until the process
 * writes, and the WriteStdin that makes it write. */
static void
test_concurrent (void)
{
  SKIP_IF_NO_VM ();
  g_autoptr (GError) error = NULL;
  char *args[] = { "sh", "-c", "read line; echo got $line", NULL };
  Spec s;
  spec_init (&s, args);
  run_container ("reader", &s);

  Grpc__ReadStreamRequest rd = GRPC__READ_STREAM_REQUEST__INIT;
  rd.container_id = "reader";
  rd.exec_id = "reader";
  rd.len = 4096;
  guint32 read_stream = agent_client_send (&fx.client, VC_KATA_AGENT_SERVICE, "ReadStdout", &rd.base, &error);
  g_assert_no_error (error);

  Grpc__WriteStreamRequest w = GRPC__WRITE_STREAM_REQUEST__INIT;
  w.container_id = "reader";
  w.exec_id = "reader";
  w.data.data = (guint8 *) "concurrently\n";
  w.data.len = strlen ((char *) w.data.data);
  call (VC_KATA_AGENT_SERVICE, "WriteStdin", &w.base, &grpc__write_stream_response__descriptor, VC_TTRPC_CODE_OK);

  AgentResult res;
  g_assert_true (agent_client_wait (&fx.client, read_stream, &grpc__read_stream_response__descriptor, &res, &error));
  g_assert_no_error (error);
  g_assert_cmpint (res.code, ==, VC_TTRPC_CODE_OK);
  Grpc__ReadStreamResponse *r = (Grpc__ReadStreamResponse *) res.reply;
  g_autofree char *first = g_strndup ((const char *) r->data.data, r->data.len);
  agent_result_clear (&res);
  g_autofree char *rest = read_all ("reader", "reader", FALSE);
  g_autofree char *all = g_strconcat (first, rest, NULL);
  g_assert_cmpstr (all, ==, "got concurrently\n");
  g_assert_cmpint (wait_process ("reader", "reader"), ==, 0);
  remove_container ("reader");
}

/* A few MiB of output arrive intact (the agent's buffer is bounded, so the
 * writer is paced by the reads). */
static void
test_big_output (void)
{
  SKIP_IF_NO_VM ();
  const gsize size = 4 * 1024 * 1024;
  g_autofree char *script = g_strdup_printf ("yes 0123456789abcdef | head -c %" G_GSIZE_FORMAT, size);
  char *args[] = { "sh", "-c", script, NULL };
  Spec s;
  spec_init (&s, args);
  gint64 start = g_get_monotonic_time ();
  run_container ("big", &s);
  g_autofree char *out = read_all ("big", "big", FALSE);
  double secs = (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
  g_assert_cmpuint (strlen (out), ==, size);
  for (gsize i = 0; i < size; i++)
    if (out[i] != "0123456789abcdef\n"[i % 17])
      g_error ("output differs at byte %" G_GSIZE_FORMAT, i);
  g_assert_cmpint (wait_process ("big", "big"), ==, 0);
  remove_container ("big");
  g_test_message ("stdout throughput: %.1f MiB in %.2f s = %.2f MiB/s", size / 1048576.0, secs,
                  size / 1048576.0 / secs);
}

/* env, cwd, uid/gid/additional gids, hostname, rlimits, capabilities and
 * no_new_privileges reach the process. */
static void
test_process_settings (void)
{
  SKIP_IF_NO_VM ();
  char *args[] = { "sh", "-c",
                   "echo foo=$FOO; echo cwd=$(pwd); echo uid=$(id -u) gid=$(id -g) groups=\"$(id -G)\"; "
                   "echo host=$(hostname); echo nofile=$(ulimit -n); "
                   "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status", NULL };
  Spec s;
  spec_init (&s, args);
  char *env[] = { "PATH=/bin", "FOO=bar" };
  s.process.env = env;
  s.process.n_env = 2;
  s.process.cwd = "/tmp";
  s.user.uid = 1000;
  s.user.gid = 1000;
  uint32_t gids[] = { 1001, 1002 };
  s.user.additionalgids = gids;
  s.user.n_additionalgids = 2;
  Grpc__POSIXRlimit nofile = GRPC__POSIXRLIMIT__INIT;
  Grpc__POSIXRlimit *rlimits[] = { &nofile };
  nofile.type = "RLIMIT_NOFILE";
  nofile.hard = 512;
  nofile.soft = 256;
  s.process.rlimits = rlimits;
  s.process.n_rlimits = 1;
  Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
  char *kill_cap[] = { "CAP_KILL" };
  char *bounding[] = { "CAP_KILL", "CAP_CHOWN" };
  caps.bounding = bounding;
  caps.n_bounding = 2;
  caps.effective = caps.permitted = caps.inheritable = caps.ambient = kill_cap;
  caps.n_effective = caps.n_permitted = caps.n_inheritable = caps.n_ambient = 1;
  s.process.capabilities = &caps;
  s.process.nonewprivileges = TRUE;
  run_container ("settings", &s);
  g_autofree char *out = read_all ("settings", "settings", FALSE);
  g_autofree char *err = read_all ("settings", "settings", TRUE);
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpstr (out, ==,
                   "foo=bar\ncwd=/tmp\nuid=1000 gid=1000 groups=1000 1001 1002\nhost=vcrun-test\nnofile=256\n"
                   "CapEff:\t0000000000000020\nCapBnd:\t0000000000000021\nNoNewPrivs:\t1\n");
  g_assert_cmpint (wait_process ("settings", "settings"), ==, 0);
  remove_container ("settings");
}

/* Storages of a container: an ext4 virtio-blk disk named by its PCI path
 * and a tmpfs, bind-mounted into the container (one read-only). */
static void
test_block_storage (void)
{
  SKIP_IF_NO_VM ();
  if (!fx.have_disk)
    {
      g_test_skip ("mke2fs is not installed: no disk image");
      return;
    }
  Grpc__Storage disk = GRPC__STORAGE__INIT, eph = GRPC__STORAGE__INIT;
  Grpc__Storage *storages[] = { &disk, &eph };
  disk.driver = "blk";
  disk.source = "05";
  disk.fstype = "ext4";
  disk.mount_point = "/run/vcrun-test/disk";
  eph.driver = "ephemeral";
  eph.source = "tmpfs";
  eph.fstype = "tmpfs";
  eph.mount_point = "/run/vcrun-test/scratch";

  char *args[] = { "sh", "-c", "cat /data/hello.txt; echo w > /scratch/f && cat /scratch/f; "
                   "echo x > /data/new 2>/dev/null || echo data-is-ro", NULL };
  Spec s;
  spec_init (&s, args);
  Grpc__Mount binds[2];
  char *ro_opts[] = { "rbind", "ro" };
  char *rw_opts[] = { "rbind", "rw" };
  grpc__mount__init (&binds[0]);
  binds[0].destination = "/data";
  binds[0].source = "/run/vcrun-test/disk";
  binds[0].type = "bind";
  binds[0].options = ro_opts;
  binds[0].n_options = 2;
  grpc__mount__init (&binds[1]);
  binds[1].destination = "/scratch";
  binds[1].source = "/run/vcrun-test/scratch";
  binds[1].type = "bind";
  binds[1].options = rw_opts;
  binds[1].n_options = 2;
  Grpc__Mount *mounts[] = { s.mount_list[0], s.mount_list[1], s.mount_list[2], &binds[0], &binds[1] };
  s.spec.mounts = mounts;
  s.spec.n_mounts = G_N_ELEMENTS (mounts);

  Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  req.container_id = "storage";
  req.exec_id = "storage";
  req.oci = &s.spec;
  req.storages = storages;
  req.n_storages = 2;
  call_ok ("CreateContainer", &req.base);
  start_container ("storage");
  g_autofree char *out = read_all ("storage", "storage", FALSE);
  g_assert_cmpstr (out, ==, "hello from a block device\nw\ndata-is-ro\n");
  g_assert_cmpint (wait_process ("storage", "storage"), ==, 0);
  remove_container ("storage");
}

/* A virtio-fs share mounted as a storage and bind-mounted read-write:
 * the container reads the host's file and its write shows up on the host. */
static void
test_virtiofs_storage (void)
{
  SKIP_IF_NO_VM ();
  if (fx.virtiofsd <= 0)
    {
      g_test_skip ("virtiofsd is not installed (or not root): no virtio-fs share");
      return;
    }
  Grpc__Storage vfs = GRPC__STORAGE__INIT;
  Grpc__Storage *storages[] = { &vfs };
  vfs.driver = "virtio-fs";
  vfs.source = "vfsShared";
  vfs.fstype = "virtiofs";
  vfs.mount_point = "/run/vcrun-test/vfs";
  char *args[] = { "sh", "-c", "cat /vfs/from-host.txt; echo written-in-guest > /vfs/from-guest.txt", NULL };
  Spec s;
  spec_init (&s, args);
  Grpc__Mount bind = GRPC__MOUNT__INIT;
  char *opts[] = { "rbind", "rw" };
  bind.destination = "/vfs";
  bind.source = "/run/vcrun-test/vfs";
  bind.type = "bind";
  bind.options = opts;
  bind.n_options = 2;
  Grpc__Mount *mounts[] = { s.mount_list[0], s.mount_list[1], s.mount_list[2], &bind };
  s.spec.mounts = mounts;
  s.spec.n_mounts = G_N_ELEMENTS (mounts);
  Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  req.container_id = "vfs";
  req.exec_id = "vfs";
  req.oci = &s.spec;
  req.storages = storages;
  req.n_storages = 1;
  call_ok ("CreateContainer", &req.base);
  start_container ("vfs");
  g_autofree char *out = read_all ("vfs", "vfs", FALSE);
  g_assert_cmpstr (out, ==, "shared over virtio-fs\n");
  g_assert_cmpint (wait_process ("vfs", "vfs"), ==, 0);
  remove_container ("vfs");
  g_autofree char *host_path = g_build_filename (fx.vfs_share, "from-guest.txt", NULL);
  g_autofree char *written = NULL;
  g_assert_true (g_file_get_contents (host_path, &written, NULL, NULL));
  g_assert_cmpstr (written, ==, "written-in-guest\n");
}

/* A container over its memory limit is OOM-killed and GetOOMEvent, already
 * waiting, names it. */
static void
test_oom_event (void)
{
  SKIP_IF_NO_VM ();
  g_autoptr (GError) error = NULL;
  Grpc__GetOOMEventRequest oreq = GRPC__GET_OOMEVENT_REQUEST__INIT;
  guint32 oom_stream = agent_client_send (&fx.client, VC_KATA_AGENT_SERVICE, "GetOOMEvent", &oreq.base, &error);
  g_assert_no_error (error);

  /* a string that doubles until the cgroup's limit kills the shell */
  char *args[] = { "sh", "-c", "a=a; while true; do a=$a$a; done", NULL };
  Spec s;
  spec_init (&s, args);
  Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
  Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
  mem.limit = 16 * 1024 * 1024;
  res.memory = &mem;
  s.linux_.resources = &res;
  run_container ("oom", &s);
  g_autofree char *err = read_all ("oom", "oom", TRUE);
  g_assert_cmpint (wait_process ("oom", "oom"), ==, 128 + SIGKILL);

  AgentResult r;
  g_assert_true (agent_client_wait (&fx.client, oom_stream, &grpc__oomevent__descriptor, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.code, ==, VC_TTRPC_CODE_OK);
  g_assert_cmpstr (((Grpc__OOMEvent *) r.reply)->container_id, ==, "oom");
  agent_result_clear (&r);
  remove_container ("oom");
}

/* OCI mounts as podman and runc write them, one container per row: the
 * mount, then a script that looks at it from inside (/proc/self/mountinfo
 * and what the options forbid). A row with an error expects CreateContainer
 * to fail with that text. */
typedef struct {
  const char *name;
  const char *type;
  const char *source;       /* under the shared rootfs when relative */
  const char *dest;
  const char *options[8];   /* NULL-terminated */
  const char *script;
  const char *expected;     /* the script's output, or the error's text */
  gboolean    fails;
} MountCase;

#define MI(dest) "grep ' " dest " ' /proc/self/mountinfo | tail -n 1"

static const MountCase mount_cases[] = {
  /* podman's /etc/hosts: bind + rprivate (propagation is a second call) */
  { "file-bind-rprivate", "bind", "bin/busybox", "/etc/hosts", { "bind", "rprivate", NULL },
    "test -s /etc/hosts && echo bound", "bound\n" },
  { "rbind-rslave", "bind", "bin", "/m", { "rbind", "rslave", NULL },
    "ls /m/busybox", "/m/busybox\n" },
  { "bind-ro", "bind", "bin", "/m", { "bind", "ro", "rprivate", NULL },
    "touch /m/x 2>/dev/null && echo writable || echo read-only; " MI ("/m") " | grep -o ' ro,'",
    "read-only\n ro,\n" },
  { "bind-nosuid-nodev-noexec", "bind", "bin", "/m", { "rbind", "nosuid", "nodev", "noexec", NULL },
    "/m/busybox true 2>/dev/null && echo ran || echo noexec; " MI ("/m") " | grep -o 'nosuid,nodev,noexec'",
    "noexec\nnosuid,nodev,noexec\n" },
  { "bind-rshared", "bind", "bin", "/m", { "bind", "rshared", NULL },
    MI ("/m") " | grep -o ' shared:'", " shared:\n" },
  { "bind-unbindable", "bind", "bin", "/m", { "bind", "unbindable", NULL },
    MI ("/m") " | grep -o ' unbindable'", " unbindable\n" },
  { "bind-nosymfollow", "bind", "bin", "/m", { "bind", "nosymfollow", NULL },
    "cat /m/sh >/dev/null 2>&1 && echo followed || echo not-followed", "not-followed\n" },
  { "tmpfs-mode-size-strictatime", "tmpfs", "tmpfs", "/m",
    { "nosuid", "strictatime", "mode=700", "size=1024k", "rprivate", NULL },
    "stat -c %a /m; " MI ("/m") " | grep -o 'size=1024k'; " MI ("/m") " | grep -q relatime || echo strictatime",
    "700\nsize=1024k\nstrictatime\n" },
  /* podman's /run: a tmpfs that starts with what the image had there */
  { "tmpfs-tmpcopyup", "tmpfs", "tmpfs", "/bin", { "tmpcopyup", "mode=755", "rprivate", NULL },
    "ls /bin/sh /bin/true; " MI ("/bin") " | grep -o ' - tmpfs'", "/bin/sh\n/bin/true\n - tmpfs\n" },
  /* podman's /sys/fs/cgroup: a filesystem with propagation and ro */
  { "cgroup-ro-rprivate", "cgroup", "cgroup", "/m",
    { "rprivate", "nosuid", "noexec", "nodev", "relatime", "ro", NULL },
    MI ("/m") " | grep -o ' ro,nosuid,nodev,noexec,relatime.* - cgroup2'",
    " ro,nosuid,nodev,noexec,relatime - cgroup2\n" },
  { "tmpcopyup-on-bind", "bind", "bin", "/m", { "bind", "tmpcopyup", NULL },
    "true", "tmpcopyup applies to a tmpfs, not to a bind mount", TRUE },
};

static void
test_mount_options (void)
{
  SKIP_IF_NO_VM ();
  for (gsize i = 0; i < G_N_ELEMENTS (mount_cases); i++)
    {
      const MountCase *c = &mount_cases[i];
      g_autofree char *id = g_strdup_printf ("mnt%zu", i);
      g_autofree char *source = c->source[0] == '/' || !g_str_equal (c->type, "bind")
                                ? g_strdup (c->source) : g_build_filename (GUEST_ROOTFS, c->source, NULL);
      g_test_message ("mount case %s", c->name);
      char *args[] = { "sh", "-c", (char *) c->script, NULL };
      Spec s;
      spec_init (&s, args);
      Grpc__Mount m = GRPC__MOUNT__INIT;
      m.destination = (char *) c->dest;
      m.type = (char *) c->type;
      m.source = source;
      m.options = (char **) c->options;
      m.n_options = g_strv_length ((char **) c->options);
      Grpc__Mount *mounts[] = { s.mount_list[0], s.mount_list[1], s.mount_list[2], &m };
      s.spec.mounts = mounts;
      s.spec.n_mounts = G_N_ELEMENTS (mounts);
      if (c->fails)
        {
          g_autoptr (GError) error = NULL;
          AgentResult res;
          Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
          req.container_id = id;
          req.exec_id = id;
          req.oci = &s.spec;
          g_assert_true (agent_client_call (&fx.client, VC_KATA_AGENT_SERVICE, "CreateContainer",
                                            &req.base, NULL, &res, &error));
          g_assert_no_error (error);
          g_assert_cmpint (res.code, !=, VC_TTRPC_CODE_OK);
          if (strstr (res.message ? res.message : "", c->expected) == NULL)
            g_error ("%s: expected an error with '%s', got '%s'", c->name, c->expected, res.message);
          agent_result_clear (&res);
          continue;
        }
      run_container (id, &s);
      g_autofree char *out = read_all (id, id, FALSE);
      g_autofree char *err = read_all (id, id, TRUE);
      int status = wait_process (id, id);
      if (g_strcmp0 (out, c->expected) != 0)
        g_error ("%s: expected '%s', got '%s' (stderr '%s', status %d)", c->name, c->expected, out,
                 err, status);
      remove_container (id);
    }
}

/* CopyFile puts a file below /run that a container can bind-mount;
 * SetGuestDateTime and OnlineCPUMem answer. */
static void
test_guest_requests (void)
{
  SKIP_IF_NO_VM ();
  const char *content = "copied by CopyFile\n";
  Grpc__CopyFileRequest cp = GRPC__COPY_FILE_REQUEST__INIT;
  cp.path = "/run/vcrun-test/copy/file.txt";
  cp.file_size = (int64_t) strlen (content);
  cp.file_mode = 0100644;
  cp.dir_mode = 0755;
  /* in two pieces, as a host sends large files */
  cp.data.data = (guint8 *) content;
  cp.data.len = 7;
  call_ok ("CopyFile", &cp.base);
  cp.offset = 7;
  cp.data.data = (guint8 *) content + 7;
  cp.data.len = strlen (content) - 7;
  call_ok ("CopyFile", &cp.base);
  /* outside /run, or not canonical: refused */
  cp.path = "/etc/passwd";
  call (VC_KATA_AGENT_SERVICE, "CopyFile", &cp.base, NULL, VC_TTRPC_CODE_INVALID_ARGUMENT);
  cp.path = "/run/../etc/passwd";
  call (VC_KATA_AGENT_SERVICE, "CopyFile", &cp.base, NULL, VC_TTRPC_CODE_INVALID_ARGUMENT);

  char *args[] = { "cat", "/copied.txt", NULL };
  Spec s;
  spec_init (&s, args);
  Grpc__Mount bind = GRPC__MOUNT__INIT;
  char *opts[] = { "bind", "ro" };
  bind.destination = "/copied.txt";
  bind.source = "/run/vcrun-test/copy/file.txt";
  bind.type = "bind";
  bind.options = opts;
  bind.n_options = 2;
  Grpc__Mount *mounts[] = { s.mount_list[0], s.mount_list[1], s.mount_list[2], &bind };
  s.spec.mounts = mounts;
  s.spec.n_mounts = G_N_ELEMENTS (mounts);
  run_container ("copy", &s);
  g_autofree char *out = read_all ("copy", "copy", FALSE);
  g_assert_cmpstr (out, ==, content);
  g_assert_cmpint (wait_process ("copy", "copy"), ==, 0);
  remove_container ("copy");

  Grpc__SetGuestDateTimeRequest t = GRPC__SET_GUEST_DATE_TIME_REQUEST__INIT;
  gint64 now = g_get_real_time ();
  t.sec = now / G_USEC_PER_SEC;
  t.usec = now % G_USEC_PER_SEC;
  call_ok ("SetGuestDateTime", &t.base);
  Grpc__OnlineCPUMemRequest on = GRPC__ONLINE_CPUMEM_REQUEST__INIT;
  on.wait = TRUE;
  on.nb_cpus = 1;
  call_ok ("OnlineCPUMem", &on.base);
}

static void
test_bad_requests (void)
{
  SKIP_IF_NO_VM ();
  g_autoptr (GError) error = NULL;
  AgentResult res;

  /* not a ttrpc.Request at all */
  const guint8 garbage[] = { 0x0f, 0x00, 0xff };
  g_assert_true (agent_client_call_raw (&fx.client, garbage, sizeof garbage, &res, &error));
  g_assert_no_error (error);
  g_assert_cmpint (res.code, ==, VC_TTRPC_CODE_INVALID_ARGUMENT);
  agent_result_clear (&res);

  /* a ttrpc.Request whose payload is not a CreateContainerRequest */
  guint8 *req = NULL;
  size_t req_len = 0;
  g_assert_cmpint (vc_ttrpc_request_pack (VC_KATA_AGENT_SERVICE, "CreateContainer", NULL, 0, &req, &req_len), ==,
                   VC_TTRPC_OK);
  g_autofree guint8 *with_payload = g_malloc (req_len + 4);
  memcpy (with_payload, req, req_len);
  /* field 3 (payload), 2 bytes: an invalid wire type inside */
  const guint8 bad_payload[] = { 0x1a, 0x02, 0x0f, 0x01 };
  memcpy (with_payload + req_len, bad_payload, sizeof bad_payload);
  g_assert_true (agent_client_call_raw (&fx.client, with_payload, req_len + 4, &res, &error));
  g_assert_cmpint (res.code, ==, VC_TTRPC_CODE_INVALID_ARGUMENT);
  agent_result_clear (&res);
  free (req);

  /* a frame over 4 MiB: refused, its body skipped */
  gsize big_len = VC_TTRPC_MAX_DATA + 1;
  g_autofree guint8 *big = g_malloc0 (big_len);
  guint32 stream_id = fx.client.next_stream;
  fx.client.next_stream += 2;
  guint8 header[VC_TTRPC_HEADER_SIZE];
  vc_ttrpc_header_encode (&(VcTtrpcHeader) { .length = (guint32) big_len, .stream_id = stream_id, .type = 1 }, header);
  g_assert_true (write (fx.fd, header, sizeof header) == sizeof header);
  for (gsize done = 0; done < big_len; )
    {
      ssize_t n = write (fx.fd, big + done, big_len - done);
      g_assert_cmpint (n, >, 0);
      done += (gsize) n;
    }
  g_assert_true (agent_client_wait (&fx.client, stream_id, NULL, &res, &error));
  g_assert_no_error (error);
  g_assert_cmpint (res.code, ==, VC_TTRPC_CODE_RESOURCE_EXHAUSTED);
  agent_result_clear (&res);

  /* unknown method, unknown container, unknown process */
  Grpc__StartContainerRequest start = GRPC__START_CONTAINER_REQUEST__INIT;
  start.container_id = "no-such-container";
  call (VC_KATA_AGENT_SERVICE, "ListInterfaces", &start.base, NULL, VC_TTRPC_CODE_UNIMPLEMENTED);
  call (VC_KATA_AGENT_SERVICE, "StartContainer", &start.base, NULL, VC_TTRPC_CODE_NOT_FOUND);
  Grpc__WaitProcessRequest wait = GRPC__WAIT_PROCESS_REQUEST__INIT;
  wait.container_id = "no-such-container";
  wait.exec_id = "x";
  call (VC_KATA_AGENT_SERVICE, "WaitProcess", &wait.base, NULL, VC_TTRPC_CODE_NOT_FOUND);
  /* a rootfs that does not exist */
  char *args[] = { "true", NULL };
  Spec s;
  spec_init (&s, args);
  s.root.path = GUEST_SHARE "missing/rootfs";
  create_container ("no-rootfs", &s, VC_TTRPC_CODE_NOT_FOUND);

  /* and the agent still serves */
  Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *h = (Grpc__HealthCheckResponse *)
    call (VC_KATA_HEALTH_SERVICE, "Check", &check.base, &grpc__health_check_response__descriptor,
          VC_TTRPC_CODE_OK);
  g_assert_cmpint (h->status, ==, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  protobuf_c_message_free_unpacked (&h->base, NULL);
}

/* The host goes away and comes back: the agent reopens its port and serves
 * the new connection. */
static void
test_reconnect (void)
{
  SKIP_IF_NO_VM ();
  close (fx.fd);
  fx.fd = -1;
  g_assert_true (qmp_wait_port (FALSE, 30000));
  g_assert_true (qmp_wait_port (TRUE, 30000));
  fx.fd = connect_unix (fx.socket_path, 10000);
  g_assert_cmpint (fx.fd, >=, 0);
  agent_client_init (&fx.client, fx.fd, 60000);
  Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *h = (Grpc__HealthCheckResponse *)
    call (VC_KATA_HEALTH_SERVICE, "Check", &check.base, &grpc__health_check_response__descriptor,
          VC_TTRPC_CODE_OK);
  g_assert_cmpint (h->status, ==, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  protobuf_c_message_free_unpacked (&h->base, NULL);
}

static void
test_destroy_sandbox (void)
{
  SKIP_IF_NO_VM ();
  Grpc__DestroySandboxRequest req = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
  call_ok ("DestroySandbox", &req.base);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  signal (SIGPIPE, SIG_IGN);
  boot_vm ();

  /* order matters: one VM, one sandbox */
  g_test_add_func ("/guest-agent/1-health", test_health);
  g_test_add_func ("/guest-agent/2-create-sandbox", test_sandbox);
  g_test_add_func ("/guest-agent/3-echo", test_echo);
  g_test_add_func ("/guest-agent/4-exit-code", test_exit_code);
  g_test_add_func ("/guest-agent/5-stdin-cat", test_stdin_cat);
  g_test_add_func ("/guest-agent/6-seccomp-mkdir", test_seccomp);
  g_test_add_func ("/guest-agent/7-exec-signal-pause", test_exec_signal_pause);
  g_test_add_func ("/guest-agent/8-terminal", test_terminal);
  g_test_add_func ("/guest-agent/9-bad-requests", test_bad_requests);
  g_test_add_func ("/guest-agent/10-concurrent-requests", test_concurrent);
  g_test_add_func ("/guest-agent/11-big-output", test_big_output);
  g_test_add_func ("/guest-agent/12-process-settings", test_process_settings);
  g_test_add_func ("/guest-agent/13-block-storage", test_block_storage);
  g_test_add_func ("/guest-agent/14-oom-event", test_oom_event);
  g_test_add_func ("/guest-agent/15-virtiofs-storage", test_virtiofs_storage);
  g_test_add_func ("/guest-agent/16-guest-requests", test_guest_requests);
  g_test_add_func ("/guest-agent/17-no-agent-fds", test_no_agent_fds);
  g_test_add_func ("/guest-agent/18-mount-options", test_mount_options);
  g_test_add_func ("/guest-agent/91-reconnect", test_reconnect);
  g_test_add_func ("/guest-agent/99-destroy-sandbox", test_destroy_sandbox);
  int ret = g_test_run ();
  shutdown_vm ();
  return ret;
}
