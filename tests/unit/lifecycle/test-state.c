/* The state store: sandbox.json round trip, parse errors naming the field,
 * atomic writes (stray temp files ignored and swept), ID checks, and the
 * state-dir removal that refuses to cross mount points. */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "lifecycle-util.h"
#include "lock.h"
#include "state.h"

static VcSandboxRecord *
sample_record (void)
{
  VcSandboxRecord *r = vc_sandbox_record_new ("sb-1");
  r->state = VC_SANDBOX_PAUSED;
  r->created = 1700000000;
  r->owner_uid = 1000;
  r->owner_pid = 4242;
  r->hypervisor = g_strdup ("hypervisor-qemu");
  r->agent = g_strdup ("agent-kata");
  r->fs = g_strdup ("fs-9p");
  r->vcpus = 2;
  r->max_vcpus = 4;
  r->memory_mib = 512;
  r->max_memory_mib = 1024;
  r->kernel = g_strdup ("/k");
  r->initrd = g_strdup ("/i");
  r->hostname = g_strdup ("host");
  r->hypervisor_state = g_strdup ("{\"pid\":12,\"qmp\":\"/run/x\"}");
  r->fs_state = g_strdup ("not json at all");
  VcContainerRecord *c = vc_container_record_new ("c1");
  c->state = VC_CONTAINER_STOPPED;
  c->bundle = g_strdup ("/b");
  c->rootfs = g_strdup ("/b/rootfs");
  c->terminal = TRUE;
  c->created = 1700000001;
  c->pid = 77;
  c->exit_status = 3;
  g_ptr_array_add (r->containers, c);
  g_ptr_array_add (r->containers, vc_container_record_new ("c2"));
  return r;
}

static void
test_roundtrip (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandboxRecord) r = sample_record ();
  g_autofree char *json = vc_state_to_json (r);
  g_autoptr(VcSandboxRecord) back = vc_state_from_json (json, -1, "test", &error);
  g_assert_no_error (error);

  g_assert_cmpstr (back->id, ==, "sb-1");
  g_assert_cmpint (back->state, ==, VC_SANDBOX_PAUSED);
  g_assert_null (back->reason);
  g_assert_cmpint (back->created, ==, 1700000000);
  g_assert_cmpuint (back->owner_uid, ==, 1000);
  g_assert_cmpint (back->owner_pid, ==, 4242);
  g_assert_cmpstr (back->fs, ==, "fs-9p");
  g_assert_cmpuint (back->max_vcpus, ==, 4);
  g_assert_cmpuint (back->max_memory_mib, ==, 1024);
  g_assert_cmpstr (back->hostname, ==, "host");
  /* A JSON plugin state is embedded as an object, anything else as a string. */
  g_assert_nonnull (strstr (json, "\"qmp\" : \"/run/x\""));
  g_assert_cmpstr (back->hypervisor_state, ==, "{\"pid\":12,\"qmp\":\"/run/x\"}");
  g_assert_cmpstr (back->fs_state, ==, "not json at all");
  g_assert_cmpuint (back->containers->len, ==, 2);
  VcContainerRecord *c = back->containers->pdata[0];
  g_assert_cmpstr (c->id, ==, "c1");
  g_assert_cmpint (c->state, ==, VC_CONTAINER_STOPPED);
  g_assert_true (c->terminal);
  g_assert_cmpint (c->pid, ==, 77);
  g_assert_cmpint (c->exit_status, ==, 3);
  c = back->containers->pdata[1];
  g_assert_cmpint (c->state, ==, VC_CONTAINER_CREATED);
  g_assert_cmpint (c->exit_status, ==, -1);
}

/* Each broken file is refused with the field named. */
static void
test_parse_errors (void)
{
  static const struct { const char *from, *to, *expect; } cases[] = {
    { "\"state\" : \"paused\"", "\"state\" : \"dancing\"", "field state: unknown sandbox state" },
    { "\"id\" : \"sb-1\"", "\"id\" : \"../etc\"", "field id: not a valid sandbox ID" },
    { "\"id\" : \"sb-1\"", "\"id\" : 5", "field id: must be a string" },
    { "\"version\" : 1", "\"version\" : 9", "version 9 is not supported" },
    { "\"vcpus\" : 2", "\"vcpus\" : \"two\"", "field vm.vcpus: must be an integer" },
    { "\"vcpus\" : 2", "\"vcpus\" : -2", "field vm.vcpus: out of range" },
    { "\"agent\" : \"agent-kata\",", "", "field plugins.agent: missing" },
    { "\"id\" : \"c2\"", "\"id\" : \"c1\"", "container c1 appears twice" },
    { "\"state\" : \"stopped\"", "\"state\" : \"zombie\"",
      "field containers[0].state: unknown container state" },
    { "\"exit_status\" : 3", "\"exit_status\" : 300", "field containers[0].exit_status: out of range" },
    { "\"terminal\" : true", "\"terminal\" : 1", "field containers[0].terminal: must be a boolean" },
    { "\"containers\" : [", "\"containers\" : 5, \"junk\" : [", "field containers: must be an array" },
    { "\"id\"", "\"id", "not valid JSON" },
  };
  g_autoptr(VcSandboxRecord) r = sample_record ();
  g_autofree char *json = vc_state_to_json (r);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      const char *at = strstr (json, cases[i].from);
      g_assert_nonnull (at);
      g_autofree char *broken = g_strdup_printf ("%.*s%s%s", (int) (at - json), json, cases[i].to,
                                                 at + strlen (cases[i].from));
      g_autoptr(VcSandboxRecord) back = vc_state_from_json (broken, -1, "/x/sandbox.json", &error);
      g_assert_null (back);
      lc_assert_error (error, VC_ERROR_FAILED, "/x/sandbox.json", cases[i].expect, NULL);
    }

  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandboxRecord) array = vc_state_from_json ("[1]", -1, "/x/sandbox.json", &error);
  g_assert_null (array);
  lc_assert_error (error, VC_ERROR_FAILED, "/x/sandbox.json: not a JSON object", NULL);
}

static void
test_ids (void)
{
  g_autofree char *longest = g_strnfill (128, 'a');
  g_autofree char *too_long = g_strnfill (129, 'a');
  const char *good[] = { "a", "Z", "0", "a-b_c.d+e", "1.2.3", longest };
  const char *bad[] = { "", "-a", ".a", "_a", "+a", "a/b", "..", "a b", "a\nb", "é", "a:b",
                        too_long };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_true (vc_id_validate (good[i], "sandbox", &error));
      g_assert_no_error (error);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (vc_id_validate (bad[i], "container", &error));
      lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "invalid container ID", NULL);
    }
  g_autoptr(GError) error = NULL;
  g_assert_false (vc_id_validate (NULL, "sandbox", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "is empty", NULL);
}

static guint
count_temps (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, ".sandbox.json."))
      n++;
  return n;
}

/* A process killed between writing the temp file and renaming it leaves a
 * stray temp: readers ignore it, the next write sweeps it. */
static void
test_stray_temp (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vcrun-state-XXXXXX", &error);
  g_assert_no_error (error);
  g_autoptr(VcSandboxRecord) r = sample_record ();

  g_assert_true (vc_state_write (dir, r, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_temps (dir), ==, 0);

  /* Half a newer file, as a killed writer would leave it. */
  g_autofree char *stray = g_build_filename (dir, ".sandbox.json.A1b2C3", NULL);
  g_file_set_contents (stray, "{ \"version\": 1, \"id\": \"sb-1\", \"sta", -1, &error);
  g_assert_no_error (error);

  g_autoptr(VcSandboxRecord) read1 = vc_state_read (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read1->state, ==, VC_SANDBOX_PAUSED);

  r->state = VC_SANDBOX_RUNNING;
  g_assert_true (vc_state_write (dir, r, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_temps (dir), ==, 0);
  g_autoptr(VcSandboxRecord) read2 = vc_state_read (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read2->state, ==, VC_SANDBOX_RUNNING);

  /* The file is private to its owner. */
  g_autofree char *file = g_build_filename (dir, "sandbox.json", NULL);
  GStatBuf st;
  g_assert_cmpint (g_stat (file, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_assert_true (vc_state_remove_dir (dir, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

static void
test_read_missing (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandboxRecord) r = vc_state_read ("/nonexistent/vcrun-test", &error);
  g_assert_null (r);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "no state at /nonexistent/vcrun-test/sandbox.json",
                   NULL);
}

/* Removal deletes nested files and directories, does not follow symlinks,
 * and refuses a mount point instead of emptying what it shows. */
static void
test_remove_dir (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("vcrun-state-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *dir = g_build_filename (tmp, "sb", NULL);
  g_autofree char *nested = g_build_filename (dir, "a", "b", NULL);
  g_autofree char *outside = g_build_filename (tmp, "precious", NULL);
  g_autofree char *outside_file = g_build_filename (outside, "keep", NULL);
  g_autofree char *link = g_build_filename (dir, "link", NULL);
  g_assert_cmpint (g_mkdir_with_parents (nested, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (outside, 0700), ==, 0);
  g_file_set_contents (outside_file, "x", -1, &error);
  g_assert_no_error (error);
  g_autofree char *f = g_build_filename (nested, "f", NULL);
  g_file_set_contents (f, "x", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (symlink (outside, link), ==, 0);

  g_autofree char *mnt = g_build_filename (dir, "mnt", NULL);
  gboolean mounted = FALSE;
  if (getuid () == 0)
    {
      g_assert_cmpint (g_mkdir (mnt, 0700), ==, 0);
      mounted = mount (outside, mnt, "none", MS_BIND, NULL) == 0;
      if (!mounted)
        g_test_message ("bind mount not possible here (%s); mount point case skipped",
                        g_strerror (errno));
    }
  if (mounted)
    {
      g_assert_false (vc_state_remove_dir (dir, &error));
      lc_assert_error (error, VC_ERROR_FAILED, "is a mount point", NULL);
      g_clear_error (&error);
      g_assert_true (g_file_test (outside_file, G_FILE_TEST_EXISTS));
      g_assert_cmpint (umount (mnt), ==, 0);
    }

  g_assert_true (vc_state_remove_dir (dir, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (outside_file, G_FILE_TEST_EXISTS));
  /* Absent is fine. */
  g_assert_true (vc_state_remove_dir (dir, &error));
  g_assert_no_error (error);
  lc_rmtree (tmp);
}

static void
test_state_names (void)
{
  VcSandboxState s;
  VcContainerState c;
  g_assert_cmpstr (vc_sandbox_state_to_string (VC_SANDBOX_READY), ==, "ready");
  g_assert_cmpstr (vc_sandbox_state_to_string (VC_SANDBOX_STOPPED), ==, "stopped");
  g_assert_cmpstr (vc_sandbox_state_to_string (0), ==, "unknown");
  g_assert_cmpstr (vc_container_state_to_string (VC_CONTAINER_CREATED), ==, "created");
  g_assert_true (vc_sandbox_state_from_string ("paused", &s));
  g_assert_cmpint (s, ==, VC_SANDBOX_PAUSED);
  g_assert_false (vc_sandbox_state_from_string ("created", &s));
  g_assert_true (vc_container_state_from_string ("created", &c));
  g_assert_cmpint (c, ==, VC_CONTAINER_CREATED);
  g_assert_false (vc_container_state_from_string ("ready", &c));
}

typedef struct {
  char   *path;
  GError *error;
  VcLock *lock;
} LockWaiter;

static gpointer
lock_waiter (gpointer data)
{
  LockWaiter *w = data;
  w->lock = vc_lock_acquire (w->path, "sandbox lw", 5000, &w->error);
  return NULL;
}

/* The lock: BUSY after the timeout; a waiter whose sandbox was deleted
 * meanwhile gets NOT_FOUND instead of a lock on a dead file. */
static void
test_lock (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("vcrun-lock-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *dir = g_build_filename (tmp, "lw", NULL);
  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  g_autofree char *path = g_build_filename (dir, "lock", NULL);

  VcLock *held = vc_lock_acquire (path, "sandbox lw", 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (held);
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  VcLock *second = vc_lock_acquire (path, "sandbox lw", 0, &error);
  g_assert_null (second);
  lc_assert_error (error, VC_ERROR_BUSY, "sandbox lw is locked by another operation", NULL);
  g_clear_error (&error);

  LockWaiter waiter = { .path = path };
  GThread *thread = g_thread_new ("waiter", lock_waiter, &waiter);
  g_usleep (100000);
  g_assert_true (vc_state_remove_dir (dir, &error));
  g_assert_no_error (error);
  vc_lock_release (held);
  g_thread_join (thread);
  g_assert_null (waiter.lock);
  lc_assert_error (waiter.error, VC_ERROR_NOT_FOUND, "cannot open lock", NULL);
  g_clear_error (&waiter.error);

  /* Absent directory: NOT_FOUND at once. */
  VcLock *none = vc_lock_acquire (path, "sandbox lw", 0, &error);
  g_assert_null (none);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, NULL);
  lc_rmtree (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/state/roundtrip", test_roundtrip);
  g_test_add_func ("/state/parse-errors", test_parse_errors);
  g_test_add_func ("/state/ids", test_ids);
  g_test_add_func ("/state/stray-temp", test_stray_temp);
  g_test_add_func ("/state/read-missing", test_read_missing);
  g_test_add_func ("/state/remove-dir", test_remove_dir);
  g_test_add_func ("/state/names", test_state_names);
  g_test_add_func ("/state/lock", test_lock);
  return g_test_run ();
}
