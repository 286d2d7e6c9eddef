/* End to end through libvcrun: hypervisor-qemu + agent-kata + an fs plugin,
 * with the real guest image, once per fs plugin (fs-9p, fs-virtiofs). One
 * sandbox per fs plugin is booted at the start of its suite and shared by the
 * container cases, which do not interfere; the last case deletes it and
 * checks that nothing is left: no qemu or virtiofsd process, socket, mount or
 * state directory.
 *
 * The containers run a busybox rootfs made from the host's static busybox.
 * Figures (create to first output byte, stdout throughput) are printed as TAP
 * comments ("# figure: ...").
 *
 * Skips when the guest image, the plugins, QEMU, a static busybox or root
 * (bind mounts) are missing. Environment: VCRUN_TOP_BUILDDIR (set by make
 * check); VCRUN_GUEST_DIR overrides where vmlinuz and initrd.img are;
 * VCRUN_E2E_FS limits the run to one fs plugin.
 */
#include "config.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "runtime.h"
#include "sandbox.h"

#define BIG_OUTPUT_BYTES (10 * 1024 * 1024)
#define READ_CHUNK (256 * 1024)
#define SUITE_WATCHDOG_S 1500

typedef struct {
  const char *fs;          /* plugin name */
  char       *root;        /* scratch dir: everything of this suite is below it */
  char       *state_dir;
  char       *rootfs;      /* the busybox rootfs all containers share */
  char       *rw_dir;      /* bind-mounted read-write */
  char       *ro_dir;      /* bind-mounted read-only */
  char       *config_file;
  char       *big_sha256;  /* of rootfs/big.bin */
  VcRuntime  *runtime;
  VcSandbox  *sandbox;
  gboolean    broken;      /* boot failed: later cases fail at once */
  guint       n_containers;
  gint64      boot_started;
} Suite;

static const char *skip_reason;
static char *top_builddir;
static char *kernel_path, *initrd_path;

/* ---------------------------------------------------------------------------
 * Environment checks
 */

/* A static executable has no PT_INTERP program header. */
static gboolean
is_static_elf (const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents (path, &data, &len, NULL) || len < sizeof (Elf64_Ehdr))
    return FALSE;
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *) data;
  if (memcmp (eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64
      || eh->e_phoff + (guint64) eh->e_phnum * sizeof (Elf64_Phdr) > len)
    return FALSE;
  const Elf64_Phdr *ph = (const Elf64_Phdr *) (data + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++)
    if (ph[i].p_type == PT_INTERP)
      return FALSE;
  return TRUE;
}

static char *
plugin_path (const char *name)
{
  return g_strdup_printf ("%s/plugins/%s/.libs/%s.so", top_builddir, name, name);
}

/* The hypervisor plugin under test: VCRUN_E2E_HYPERVISOR (default
 * hypervisor-qemu), with VCRUN_E2E_HV_SETTINGS as the body of its libconfig
 * settings group (default: QEMU_SYSTEM's path, accel auto). */
static const char *
e2e_hypervisor (void)
{
  const char *hv = g_getenv ("VCRUN_E2E_HYPERVISOR");
  return hv != NULL && *hv != '\0' ? hv : "hypervisor-qemu";
}

static char *
e2e_hypervisor_settings (void)
{
  const char *settings = g_getenv ("VCRUN_E2E_HV_SETTINGS");
  if (settings != NULL && *settings != '\0')
    return g_strdup (settings);
  const char *qemu = g_getenv ("QEMU_SYSTEM");
  return g_strdup_printf ("path = \"%s\"; accel = \"auto\";",
                          qemu && *qemu ? qemu : "/usr/bin/qemu-system-x86_64");
}

static const char *
find_missing (void)
{
  static char reason[512];
  const char *guest_dir_env = g_getenv ("VCRUN_GUEST_DIR");
  g_autofree char *guest_dir = guest_dir_env ? g_strdup (guest_dir_env)
                                             : g_build_filename (top_builddir, "guest", NULL);
  kernel_path = g_build_filename (guest_dir, "vmlinuz", NULL);
  initrd_path = g_build_filename (guest_dir, "initrd.img", NULL);
  const char *qemu = g_getenv ("QEMU_SYSTEM");

  if (geteuid () != 0)
    return "needs root (bind mounts, QEMU)";
  if (!g_file_test (kernel_path, G_FILE_TEST_EXISTS) || !g_file_test (initrd_path, G_FILE_TEST_EXISTS))
    {
      g_snprintf (reason, sizeof reason, "no guest image in %s (run `make guest`)", guest_dir);
      return reason;
    }
  const char *plugins[] = { e2e_hypervisor (), "agent-kata" };
  for (gsize i = 0; i < G_N_ELEMENTS (plugins); i++)
    {
      g_autofree char *p = plugin_path (plugins[i]);
      if (!g_file_test (p, G_FILE_TEST_EXISTS))
        {
          g_snprintf (reason, sizeof reason, "plugin %s is not built (%s)", plugins[i], p);
          return reason;
        }
    }
  if (qemu && *qemu && !g_file_test (qemu, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_snprintf (reason, sizeof reason, "no QEMU at %s", qemu);
      return reason;
    }
  if (!is_static_elf ("/bin/busybox"))
    return "no static /bin/busybox (install busybox-static)";
  return NULL;
}

/* ---------------------------------------------------------------------------
 * The bundle
 */

static void
write_text (const char *path, const char *text)
{
  g_autoptr(GError) error = NULL;
  if (!g_file_set_contents (path, text, -1, &error))
    g_error ("writing %s: %s", path, error->message);
}

static void
make_rootfs (Suite *s)
{
  const char *dirs[] = { "bin", "proc", "dev", "tmp", "etc", "work", "mnt/rw", "mnt/ro" };
  const char *applets[] = { "sh", "echo", "cat", "id", "pwd", "ls", "touch", "kill", "dd",
                            "sleep", "printf", "head", "true", "false", "env" };

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *d = g_build_filename (s->rootfs, dirs[i], NULL);
      g_assert_cmpint (g_mkdir_with_parents (d, 0755), ==, 0);
    }
  g_autofree char *work = g_build_filename (s->rootfs, "work", NULL);
  g_assert_cmpint (chown (work, 1000, 1000), ==, 0);

  g_autofree char *busybox = g_build_filename (s->rootfs, "bin", "busybox", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents ("/bin/busybox", &data, &len, NULL));
  g_assert_true (g_file_set_contents (busybox, data, (gssize) len, NULL));
  g_assert_cmpint (chmod (busybox, 0755), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (applets); i++)
    {
      g_autofree char *link = g_build_filename (s->rootfs, "bin", applets[i], NULL);
      g_assert_cmpint (symlink ("busybox", link), ==, 0);
    }
  g_autofree char *passwd = g_build_filename (s->rootfs, "etc", "passwd", NULL);
  write_text (passwd, "root:x:0:0:root:/:/bin/sh\nuser:x:1000:1000:user:/work:/bin/sh\n");
  g_autofree char *group = g_build_filename (s->rootfs, "etc", "group", NULL);
  write_text (group, "root:x:0:\nuser:x:1000:\n");

  /* 10 MiB of pseudo-random bytes, for the big-output case. */
  g_autofree guint8 *big = g_malloc (BIG_OUTPUT_BYTES);
  GRand *rand = g_rand_new_with_seed (20261125);
  for (gsize i = 0; i < BIG_OUTPUT_BYTES / 4; i++)
    ((guint32 *) big)[i] = g_rand_int (rand);
  g_rand_free (rand);
  g_autofree char *big_path = g_build_filename (s->rootfs, "big.bin", NULL);
  g_assert_true (g_file_set_contents (big_path, (char *) big, BIG_OUTPUT_BYTES, NULL));
  s->big_sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, big, BIG_OUTPUT_BYTES);
}

/* A bundle directory for one container: config.json whose root.path is the
 * suite's rootfs. args_json is a JSON array; identity_json (user, env, cwd
 * members) replaces the default root / PATH=/bin / "/"; mounts_json is added
 * to the mounts. */
static char *
make_bundle (Suite *s, const char *name, const char *args_json, const char *identity_json,
             const char *mounts_json)
{
  g_autofree char *dir = g_build_filename (s->root, "bundles", name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autofree char *config = g_strdup_printf (
      "{\n"
      "  \"ociVersion\": \"1.0.2\",\n"
      "  \"process\": {\n"
      "    \"terminal\": false,\n"
      "    \"args\": %s,\n"
      "    %s\n"
      "  },\n"
      "  \"root\": { \"path\": \"%s\", \"readonly\": false },\n"
      "  \"hostname\": \"e2e\",\n"
      "  \"mounts\": [\n"
      "    { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
      "    { \"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\",\n"
      "      \"options\": [ \"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\" ] },\n"
      "    { \"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\" }%s%s\n"
      "  ],\n"
      "  \"linux\": { \"namespaces\": [ { \"type\": \"pid\" }, { \"type\": \"mount\" },\n"
      "                               { \"type\": \"ipc\" }, { \"type\": \"uts\" } ] }\n"
      "}\n",
      args_json,
      identity_json ? identity_json
                    : "\"user\": { \"uid\": 0, \"gid\": 0 }, \"env\": [ \"PATH=/bin\" ], \"cwd\": \"/\"",
      s->rootfs,
      mounts_json ? ",\n    " : "", mounts_json ? mounts_json : "");
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  write_text (path, config);
  return g_steal_pointer (&dir);
}

/* VCRUN_E2E_TEMPLATE=1: the sandbox starts from a template (built first);
 * otherwise it boots cold (template = false), the path a template is built by
 * and every fallback takes. */
static gboolean
e2e_template (void)
{
  return g_strcmp0 (g_getenv ("VCRUN_E2E_TEMPLATE"), "1") == 0;
}

static void
write_config (Suite *s)
{
  const char *hv = e2e_hypervisor ();
  g_autofree char *hv_settings = e2e_hypervisor_settings ();
  g_autofree char *plugin_dirs = g_strdup_printf (
      "%s/plugins/%s/.libs:%s/plugins/agent-kata/.libs:%s/plugins/%s/.libs",
      top_builddir, hv, top_builddir, top_builddir, s->fs);
  const char *virtiofsd = g_getenv ("VIRTIOFSD");
  g_autofree char *fs_settings = g_strcmp0 (s->fs, "fs-virtiofs") == 0
      ? g_strdup_printf ("settings = { daemon = \"%s\"; cache = \"auto\"; };",
                         virtiofsd && *virtiofsd ? virtiofsd : "/usr/lib/qemu/virtiofsd")
      : g_strdup ("");
  g_autofree char *text = g_strdup_printf (
      "runtime: { state_dir = \"%s\"; log_level = \"info\"; plugin_dir = \"%s\"; };\n"
      "plugins: (\n"
      "  { name = \"%s\"; settings = { %s }; },\n"
      "  { name = \"agent-kata\"; settings = { transport = \"auto\"; dial_timeout_ms = 60000; }; },\n"
      "  { name = \"%s\"; %s }\n"
      ");\n"
      "sandbox: { hypervisor = \"%s\"; agent = \"agent-kata\"; fs = \"%s\";\n"
      "           vcpus = 1; memory_mib = 256; kernel = \"%s\"; initrd = \"%s\";%s };\n",
      s->state_dir, plugin_dirs, hv, hv_settings, s->fs, fs_settings, hv, s->fs, kernel_path,
      initrd_path, e2e_template () ? " template = true;" : " template = false;");
  s->config_file = g_build_filename (s->root, "vcrun.conf", NULL);
  write_text (s->config_file, text);
}

/* ---------------------------------------------------------------------------
 * What is left behind: processes, mounts, sockets under the suite's root
 */

/* Pids of processes whose command line mentions path. */
static GArray *
processes_mentioning (const char *path)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (gint));
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  while (proc && (name = g_dir_read_name (proc)) != NULL)
    {
      char *end = NULL;
      gint pid = (gint) g_ascii_strtoll (name, &end, 10);
      if (*end != '\0' || pid <= 0 || pid == getpid ())
        continue;
      g_autofree char *cmdline_path = g_strdup_printf ("/proc/%d/cmdline", pid);
      g_autofree char *cmdline = NULL;
      gsize len = 0;
      if (!g_file_get_contents (cmdline_path, &cmdline, &len, NULL) || len == 0)
        continue;
      for (gsize i = 0; i + 1 < len; i++)
        if (cmdline[i] == '\0')
          cmdline[i] = ' ';
      if (strstr (cmdline, path))
        g_array_append_val (pids, pid);
    }
  return pids;
}

static guint
mounts_below (const char *path)
{
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &text, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;
  for (char **l = lines; *l; l++)
    {
      g_auto(GStrv) f = g_strsplit (*l, " ", 6);
      if (g_strv_length (f) >= 5 && g_str_has_prefix (f[4], path))
        n++;
    }
  return n;
}

/* Sockets below dir (recursively), as paths. */
static void
find_sockets (const char *dir, GPtrArray *out)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;
      if (lstat (path, &st) < 0)
        continue;
      if (S_ISSOCK (st.st_mode))
        g_ptr_array_add (out, g_steal_pointer (&path));
      else if (S_ISDIR (st.st_mode))
        find_sockets (path, out);
    }
}

/* The last resort when a case fails an assertion or hangs: what the suites
 * started dies and their mounts go, so no VM outlives the test. */
static Suite *all_suites[2];

static void
emergency_cleanup (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (all_suites); i++)
    {
      Suite *s = all_suites[i];
      if (s == NULL || s->root == NULL)
        continue;
      g_autoptr(GArray) pids = processes_mentioning (s->root);
      for (guint j = 0; j < pids->len; j++)
        kill (g_array_index (pids, gint, j), SIGKILL);
      g_autofree char *cmd = g_strdup_printf (
          "umount -R -l %s/state/*/shared %s/state/*/.shared-staging 2>/dev/null", s->root, s->root);
      (void) !system (cmd);
    }
}

static void
on_abort (int signum)
{
  emergency_cleanup ();
  signal (signum, SIG_DFL);
  raise (signum);
}

static gpointer
watchdog_thread (gpointer data)
{
  g_usleep ((gulong) SUITE_WATCHDOG_S * G_USEC_PER_SEC);
  printf ("Bail out! watchdog: the end-to-end tests took longer than %d s\n", SUITE_WATCHDOG_S);
  fflush (stdout);
  emergency_cleanup ();
  _exit (1);
}

/* ---------------------------------------------------------------------------
 * Running one container and collecting its output
 */

typedef struct {
  VcContainer *container;
  gboolean     err_stream;
  GByteArray  *data;
  gint64       first_byte;   /* monotonic µs, 0 before any */
  gint64       eof;
  GError      *error;
} Reader;

static gpointer
reader_thread (gpointer p)
{
  Reader *r = p;
  for (;;)
    {
      GBytes *b = r->err_stream ? vc_container_read_stderr (r->container, NULL, READ_CHUNK, &r->error)
                                : vc_container_read_stdout (r->container, NULL, READ_CHUNK, &r->error);
      if (b == NULL)
        break;
      gsize len = 0;
      const guint8 *d = g_bytes_get_data (b, &len);
      if (len == 0)
        {
          g_bytes_unref (b);
          r->eof = g_get_monotonic_time ();
          break;
        }
      if (r->first_byte == 0)
        r->first_byte = g_get_monotonic_time ();
      g_byte_array_append (r->data, d, (guint) len);
      g_bytes_unref (b);
    }
  return NULL;
}

typedef struct {
  GByteArray *out;
  GByteArray *err;
  int         status;
  gint64      created;      /* vc_container_create called */
  gint64      first_out;    /* first stdout byte */
  gint64      out_eof;
} Result;

static void
result_clear (Result *r)
{
  g_clear_pointer (&r->out, g_byte_array_unref);
  g_clear_pointer (&r->err, g_byte_array_unref);
}

static char *
as_text (GByteArray *b)
{
  return b->len ? g_strndup ((const char *) b->data, b->len) : g_strdup ("");
}

static gboolean
boot (Suite *s, GError **error)
{
  s->boot_started = g_get_monotonic_time ();
  s->runtime = vc_runtime_new (s->config_file, NULL, error);
  if (s->runtime == NULL)
    return FALSE;
  g_autofree char *id = g_strdup_printf ("e2e-%s", s->fs);
  s->sandbox = vc_sandbox_create (s->runtime, id, NULL, error);
  if (s->sandbox == NULL || !vc_sandbox_start (s->sandbox, error))
    return FALSE;
  if (e2e_template () && vc_sandbox_get_template_dir (s->sandbox) == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED,
                   "VCRUN_E2E_TEMPLATE=1 but the sandbox booted cold (see the warning above)");
      return FALSE;
    }
  printf ("# figure: %s: sandbox create+start (VM boot, agent, shared fs): %.2f s\n", s->fs,
          (g_get_monotonic_time () - s->boot_started) / 1e6);
  return TRUE;
}

/* Creates, starts and waits for a container of bundle, feeding stdin (may be
 * NULL: stdin closed at once), collecting stdout and stderr separately. With
 * kill_signal, the init process gets it from the host once it has started. */
static void
run_container_full (Suite *s, const char *bundle, const char *stdin_text, int kill_signal,
                    Result *res)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *id = g_strdup_printf ("c%u", ++s->n_containers);

  memset (res, 0, sizeof *res);
  res->created = g_get_monotonic_time ();
  g_autoptr(VcContainer) c = vc_container_create (s->sandbox, id, bundle, &error);
  g_assert_no_error (error);
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);

  Reader out = { c, FALSE, g_byte_array_new () }, err = { c, TRUE, g_byte_array_new () };
  GThread *tout = g_thread_new ("stdout", reader_thread, &out);
  GThread *terr = g_thread_new ("stderr", reader_thread, &err);

  if (stdin_text)
    {
      gsize done = 0, len = strlen (stdin_text);
      while (done < len)
        {
          gsize n = 0;
          g_assert_true (vc_container_write_stdin (c, NULL, (const guint8 *) stdin_text + done,
                                                   len - done, &n, &error));
          g_assert_no_error (error);
          done += n;
        }
    }
  g_assert_true (vc_container_close_stdin (c, NULL, &error));
  g_assert_no_error (error);
  if (kill_signal)
    {
      g_assert_true (vc_container_signal (c, NULL, kill_signal, FALSE, &error));
      g_assert_no_error (error);
    }

  g_assert_true (vc_container_wait (c, NULL, &res->status, &error));
  g_assert_no_error (error);
  g_thread_join (tout);
  g_thread_join (terr);
  g_assert_no_error (out.error);
  g_assert_no_error (err.error);
  res->out = out.data;
  res->err = err.data;
  res->first_out = out.first_byte;
  res->out_eof = out.eof;

  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_STOPPED);
  g_assert_true (vc_container_delete (c, FALSE, &error));
  g_assert_no_error (error);
}

static void
run_container (Suite *s, const char *bundle, const char *stdin_text, Result *res)
{
  run_container_full (s, bundle, stdin_text, 0, res);
}

/* Asserts the exit status, showing the process's stderr if it is wrong. */
static void
assert_status (Result *r, int expected)
{
  if (r->status != expected)
    {
      g_autofree char *err = as_text (r->err);
      g_test_message ("exit status %d, expected %d; stderr: %s", r->status, expected, err);
    }
  g_assert_cmpint (r->status, ==, expected);
}

static gboolean
suite_ready (Suite *s)
{
  if (skip_reason)
    {
      g_test_skip (skip_reason);
      return FALSE;
    }
  if (s->broken)
    {
      g_test_fail_printf ("the %s sandbox did not boot", s->fs);
      return FALSE;
    }
  if (s->sandbox == NULL)
    {
      g_autoptr(GError) error = NULL;
      if (!boot (s, &error))
        {
          s->broken = TRUE;
          g_test_fail_printf ("booting the %s sandbox: %s", s->fs, error->message);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---------------------------------------------------------------------------
 * The cases
 */

/* A sandbox whose VM cannot start: the core rolls back, and the fs plugin
 * must leave no daemon, mount, socket or directory. Needs no boot. */
static void
test_failed_start (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (skip_reason)
    {
      g_test_skip (skip_reason);
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(VcRuntime) runtime = vc_runtime_new (s->config_file, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *bad_kernel = g_build_filename (s->root, "not-a-kernel", NULL);
  write_text (bad_kernel, "this is not a kernel\n");
  /* No template: it would fail first, with a (fatal here) warning. */
  VcSandboxOptions options = { .kernel = bad_kernel, .boot_timeout_ms = 60000, .use_template = -1 };
  g_autoptr(VcSandbox) sandbox = vc_sandbox_create (runtime, "e2e-bad", &options, &error);
  g_assert_null (sandbox);
  g_assert_nonnull (error);
  g_test_message ("failed as expected: %s", error->message);

  g_autofree char *dir = g_build_filename (s->state_dir, "e2e-bad", NULL);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (mounts_below (s->root), ==, 0);
  g_autoptr(GArray) left = NULL;
  for (int i = 0; i < 50; i++)
    {
      g_clear_pointer (&left, g_array_unref);
      left = processes_mentioning (s->root);
      if (left->len == 0)
        break;
      g_usleep (100 * 1000);
    }
  g_assert_cmpuint (left->len, ==, 0);
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_free);
  find_sockets (s->root, sockets);
  g_assert_cmpuint (sockets->len, ==, 0);
  g_autofree char *socket = g_build_filename (dir, "virtiofsd.sock", NULL);
  g_autofree char *pidfile_name = g_strdelimit (g_strdup (socket), "/", '.');
  g_autofree char *pidfile = g_strdup_printf ("/run/virtiofsd/%s.pid", pidfile_name);
  g_assert_false (g_file_test (pidfile, G_FILE_TEST_EXISTS));
}

static void
test_stdio (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (!suite_ready (s))
    return;
  g_autofree char *bundle = make_bundle (
      s, "stdio",
      "[\"sh\", \"-c\", \"for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done\"]", NULL, NULL);
  Result r;
  run_container (s, bundle, NULL, &r);
  g_autofree char *out = as_text (r.out), *err = as_text (r.err);
  g_assert_cmpstr (out, ==, "out1\nout2\nout3\nout4\nout5\n");
  g_assert_cmpstr (err, ==, "err1\nerr2\nerr3\nerr4\nerr5\n");
  assert_status (&r, 0);
  g_assert_cmpint (r.first_out, >, 0);
  printf ("# figure: %s: container create to first stdout byte (sandbox running): %.3f s\n",
          s->fs, (r.first_out - r.created) / 1e6);
  if (s->n_containers == 1)
    printf ("# figure: %s: sandbox create to first stdout byte of its first container: %.2f s\n",
            s->fs, (r.first_out - s->boot_started) / 1e6);
  result_clear (&r);
}

static void
test_exit_status (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (!suite_ready (s))
    return;
  struct {
    const char *name, *args;
    int kill_signal;
    int status;
  } cases[] = {
    { "exit0", "[\"true\"]", 0, 0 },
    { "exit42", "[\"sh\", \"-c\", \"exit 42\"]", 0, 42 },
    /* A signal from the host ends it: 128 + 9. */
    { "killed", "[\"sleep\", \"1000\"]", SIGKILL, 137 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *bundle = make_bundle (s, cases[i].name, cases[i].args, NULL, NULL);
      Result r;
      run_container_full (s, bundle, NULL, cases[i].kill_signal, &r);
      assert_status (&r, cases[i].status);
      result_clear (&r);
    }
}

static void
test_stdin (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (!suite_ready (s))
    return;
  g_autofree char *bundle = make_bundle (
      s, "stdin", "[\"sh\", \"-c\", \"read first; echo got:$first; cat\"]", NULL, NULL);
  Result r;
  run_container (s, bundle, "line one\nline two\nline three\n", &r);
  g_autofree char *out = as_text (r.out);
  g_assert_cmpstr (out, ==, "got:line one\nline two\nline three\n");
  assert_status (&r, 0);
  result_clear (&r);
}

static void
test_env_cwd_user (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (!suite_ready (s))
    return;
  g_autofree char *bundle = make_bundle (
      s, "identity", "[\"sh\", \"-c\", \"echo $GREETING; pwd; id -u; id -g; id -G; touch mine && ls -n mine\"]",
      "\"env\": [ \"PATH=/bin\", \"GREETING=hello from config.json\" ],\n"
      "    \"cwd\": \"/work\",\n"
      "    \"user\": { \"uid\": 1000, \"gid\": 1000, \"additionalGids\": [ 1000, 27 ] }",
      NULL);
  Result r;
  run_container (s, bundle, NULL, &r);
  g_autofree char *out = as_text (r.out), *err = as_text (r.err);
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), >=, 6);
  g_assert_cmpstr (lines[0], ==, "hello from config.json");
  g_assert_cmpstr (lines[1], ==, "/work");
  g_assert_cmpstr (lines[2], ==, "1000");
  g_assert_cmpstr (lines[3], ==, "1000");
  g_assert_nonnull (strstr (lines[4], "27"));
  /* The file the process made belongs to 1000:1000, in the guest and on the host. */
  g_assert_nonnull (strstr (lines[5], " 1000 "));
  g_autofree char *mine = g_build_filename (s->rootfs, "work", "mine", NULL);
  struct stat st;
  g_assert_cmpint (stat (mine, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 1000);
  g_assert_cmpuint (st.st_gid, ==, 1000);
  assert_status (&r, 0);
  g_assert_cmpstr (err, ==, "");
  result_clear (&r);
}

static void
test_bind_mounts (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (!suite_ready (s))
    return;
  g_autofree char *ro_file = g_build_filename (s->ro_dir, "from-host", NULL);
  write_text (ro_file, "host data\n");
  g_autofree char *mounts = g_strdup_printf (
      "{ \"destination\": \"/mnt/rw\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [ \"rbind\", \"rw\" ] },\n"
      "    { \"destination\": \"/mnt/ro\", \"type\": \"bind\", \"source\": \"%s\", \"options\": [ \"rbind\", \"ro\" ] }",
      s->rw_dir, s->ro_dir);
  g_autofree char *bundle = make_bundle (
      s, "mounts",
      "[\"sh\", \"-c\", \"echo written in the guest > /mnt/rw/from-guest; cat /mnt/ro/from-host;"
      " if touch /mnt/ro/nope; then echo ro-writable; exit 1; fi; exit 0\"]",
      NULL, mounts);
  Result r;
  run_container (s, bundle, NULL, &r);
  g_autofree char *out = as_text (r.out), *err = as_text (r.err);
  g_assert_cmpstr (out, ==, "host data\n");
  g_assert_nonnull (strstr (err, "Read-only file system"));
  assert_status (&r, 0);

  g_autofree char *from_guest = g_build_filename (s->rw_dir, "from-guest", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (from_guest, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "written in the guest\n");
  g_autofree char *nope = g_build_filename (s->ro_dir, "nope", NULL);
  g_assert_false (g_file_test (nope, G_FILE_TEST_EXISTS));

  /* The container's share is gone with it; the sandbox's stays. */
  g_autofree char *shared = g_build_filename (vc_sandbox_get_dir (s->sandbox), "shared", NULL);
  g_assert_cmpuint (mounts_below (shared), ==, 1);
  result_clear (&r);
}

static void
test_big_output (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (!suite_ready (s))
    return;
  g_autofree char *bundle = make_bundle (s, "big", "[\"cat\", \"/big.bin\"]", NULL, NULL);
  Result r;
  run_container (s, bundle, NULL, &r);
  assert_status (&r, 0);
  g_assert_cmpuint (r.out->len, ==, BIG_OUTPUT_BYTES);
  g_autofree char *sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, r.out->data, r.out->len);
  g_assert_cmpstr (sum, ==, s->big_sha256);
  double secs = (r.out_eof - r.first_out) / 1e6;
  printf ("# figure: %s: stdout throughput, 10 MiB file read from the share: %.2f MiB/s (%.2f s)\n",
          s->fs, 10.0 / secs, secs);
  result_clear (&r);

  /* The same amount made in the guest: the stdout path alone. */
  g_autofree char *bundle2 = make_bundle (
      s, "zeros", "[\"dd\", \"if=/dev/zero\", \"bs=65536\", \"count=160\"]", NULL, NULL);
  run_container (s, bundle2, NULL, &r);
  assert_status (&r, 0);
  g_assert_cmpuint (r.out->len, ==, BIG_OUTPUT_BYTES);
  for (guint i = 0; i < r.out->len; i++)
    if (r.out->data[i] != 0)
      g_error ("byte %u of the zeros is %u", i, r.out->data[i]);
  secs = (r.out_eof - r.first_out) / 1e6;
  printf ("# figure: %s: stdout throughput, 10 MiB generated in the guest: %.2f MiB/s (%.2f s)\n",
          s->fs, 10.0 / secs, secs);
  result_clear (&r);
}

static void
test_delete_leaves_nothing (gconstpointer data)
{
  Suite *s = (Suite *) data;
  if (skip_reason)
    {
      g_test_skip (skip_reason);
      return;
    }
  if (s->sandbox == NULL)
    {
      g_test_fail_printf ("no %s sandbox to delete", s->fs);
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_strdup (vc_sandbox_get_dir (s->sandbox));
  g_autofree char *socket = g_build_filename (dir, "virtiofsd.sock", NULL);

  /* While it runs, the processes are there to be found. */
  g_autoptr(GArray) before = processes_mentioning (s->root);
  g_assert_cmpuint (before->len, >=, g_strcmp0 (s->fs, "fs-virtiofs") == 0 ? 2 : 1);

  gint64 start = g_get_monotonic_time ();
  g_assert_true (vc_sandbox_stop (s->sandbox, &error));
  g_assert_no_error (error);
  g_assert_true (vc_sandbox_delete (s->sandbox, FALSE, &error));
  g_assert_no_error (error);
  printf ("# figure: %s: sandbox stop+delete: %.2f s\n", s->fs,
          (g_get_monotonic_time () - start) / 1e6);
  g_clear_pointer (&s->sandbox, vc_sandbox_unref);

  /* Processes may take a moment to be reaped by whoever started them. */
  g_autoptr(GArray) left = NULL;
  for (int i = 0; i < 50; i++)
    {
      g_clear_pointer (&left, g_array_unref);
      left = processes_mentioning (s->root);
      if (left->len == 0)
        break;
      g_usleep (100 * 1000);
    }
  for (guint i = 0; i < left->len; i++)
    {
      gint pid = g_array_index (left, gint, i);
      g_autofree char *p = g_strdup_printf ("/proc/%d/cmdline", pid);
      g_autofree char *cmd = NULL;
      g_file_get_contents (p, &cmd, NULL, NULL);
      printf ("# left running: pid %d %s\n", pid, cmd ? cmd : "?");
    }
  g_assert_cmpuint (left->len, ==, 0);
  g_assert_cmpuint (mounts_below (s->root), ==, 0);
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_free);
  find_sockets (s->root, sockets);
  for (guint i = 0; i < sockets->len; i++)
    printf ("# socket left: %s\n", (char *) g_ptr_array_index (sockets, i));
  g_assert_cmpuint (sockets->len, ==, 0);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_autofree char *pidfile_name = g_strdelimit (g_strdup (socket), "/", '.');
  g_autofree char *pidfile = g_strdup_printf ("/run/virtiofsd/%s.pid", pidfile_name);
  g_assert_false (g_file_test (pidfile, G_FILE_TEST_EXISTS));

  /* The host directories given to the containers are intact. */
  g_assert_true (g_file_test (s->rw_dir, G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test (s->ro_dir, G_FILE_TEST_IS_DIR));
  g_autofree char *busybox = g_build_filename (s->rootfs, "bin", "busybox", NULL);
  g_assert_true (g_file_test (busybox, G_FILE_TEST_EXISTS));
}

/* ---------------------------------------------------------------------------
 * Suites
 */

static Suite *
suite_new (const char *fs)
{
  Suite *s = g_new0 (Suite, 1);
  s->fs = fs;
  /* Short: QEMU's and virtiofsd's socket paths must fit in 108 bytes. */
  s->root = g_dir_make_tmp ("e2e-XXXXXX", NULL);
  g_assert_nonnull (s->root);
  s->state_dir = g_build_filename (s->root, "state", NULL);
  s->rootfs = g_build_filename (s->root, "rootfs", NULL);
  s->rw_dir = g_build_filename (s->root, "host-rw", NULL);
  s->ro_dir = g_build_filename (s->root, "host-ro", NULL);
  g_assert_cmpint (g_mkdir_with_parents (s->rw_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (s->ro_dir, 0755), ==, 0);
  make_rootfs (s);
  write_config (s);
  return s;
}

static void
suite_free (Suite *s)
{
  g_autoptr(GError) error = NULL;
  if (s->sandbox)
    {
      /* A case failed half-way (with -k): take the sandbox down anyway. */
      if (!vc_sandbox_delete (s->sandbox, TRUE, &error))
        printf ("# cleanup: %s\n", error->message);
      vc_sandbox_unref (s->sandbox);
    }
  if (s->runtime)
    vc_runtime_unref (s->runtime);
  if (mounts_below (s->root) == 0)
    {
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", s->root);
      (void) !system (cmd);
    }
  g_free (s->root);
  g_free (s->state_dir);
  g_free (s->rootfs);
  g_free (s->rw_dir);
  g_free (s->ro_dir);
  g_free (s->config_file);
  g_free (s->big_sha256);
  g_free (s);
}

static void
skip_not_built (gconstpointer data)
{
  g_autofree char *msg = g_strdup_printf ("plugin %s is not built", (const char *) data);
  g_test_skip (msg);
}

static void
add_suite (Suite *s)
{
  struct {
    const char *name;
    GTestDataFunc func;
  } cases[] = {
    { "failed-start", test_failed_start },
    { "stdio", test_stdio },
    { "exit-status", test_exit_status },
    { "stdin", test_stdin },
    { "env-cwd-user", test_env_cwd_user },
    { "bind-mounts", test_bind_mounts },
    { "big-output", test_big_output },
    { "delete-leaves-nothing", test_delete_leaves_nothing },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/e2e/%s/%zu-%s", s->fs, i, cases[i].name);
      g_test_add_data_func (path, s, cases[i].func);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *top = g_getenv ("VCRUN_TOP_BUILDDIR");
  top_builddir = g_canonicalize_filename (top ? top : "../../..", NULL);
  skip_reason = find_missing ();

  const char *only = g_getenv ("VCRUN_E2E_FS");
  const char *all[] = { "fs-9p", "fs-virtiofs" };
  Suite *suites[G_N_ELEMENTS (all)] = { NULL };
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    {
      if (only && *only && strcmp (only, all[i]) != 0)
        continue;
      g_autofree char *p = plugin_path (all[i]);
      if (!skip_reason && !g_file_test (p, G_FILE_TEST_EXISTS))
        {
          g_autofree char *path = g_strdup_printf ("/e2e/%s/not-built", all[i]);
          g_test_add_data_func (path, all[i], skip_not_built);
          continue;
        }
      suites[i] = skip_reason ? g_new0 (Suite, 1) : suite_new (all[i]);
      suites[i]->fs = all[i];
      all_suites[i] = suites[i];
      add_suite (suites[i]);
    }

  signal (SIGABRT, on_abort);
  g_thread_unref (g_thread_new ("watchdog", watchdog_thread, NULL));
  int status = g_test_run ();
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    if (suites[i])
      {
        if (skip_reason)
          g_free (suites[i]);
        else
          suite_free (suites[i]);
      }
  return status;
}
