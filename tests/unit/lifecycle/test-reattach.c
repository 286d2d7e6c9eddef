/* State shared between processes: a second process reads, stops and deletes
 * a sandbox another made (reattaching to its VM); a creator that exits
 * leaves a sandbox others can use; the lock makes a second writer wait or
 * fail with BUSY; a writer killed between writes leaves a readable file. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "container.h"
#include "lifecycle-util.h"
#include "lock.h"
#include "sandbox.h"
#include "state.h"

static char *
helper_path (void)
{
  return g_test_build_filename (G_TEST_BUILT, "lifecycle-helper", NULL);
}

/* Runs the helper to completion; returns its exit status, output in *out. */
static int
run_helper (LcWorld *w, const char *command, const char *id, char **out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *helper = helper_path ();
  const char *argv[] = { helper, w->config, command, id, NULL };
  g_autofree char *err = NULL;
  int status = -1;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, &err, &status,
                &error);
  g_assert_no_error (error);
  if (err && *err)
    g_test_message ("helper %s %s: %s", command, id, err);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* Starts the helper in the background and waits for its first line. */
static GPid
start_helper (LcWorld *w, const char *command, const char *id, const char *arg,
              const char *expect_line)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *helper = helper_path ();
  const char *argv[] = { helper, w->config, command, id, arg, NULL };
  GPid pid;
  int out_fd;
  g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &pid, NULL, &out_fd, NULL, &error);
  g_assert_no_error (error);
  char line[64] = "";
  gsize got = 0;
  while (got < sizeof line - 1 && strchr (line, '\n') == NULL)
    {
      ssize_t n = read (out_fd, line + got, sizeof line - 1 - got);
      if (n <= 0)
        break;
      got += (gsize) n;
      line[got] = '\0';
    }
  close (out_fd);
  g_assert_true (g_str_has_prefix (line, expect_line));
  return pid;
}

static int
reap (GPid pid)
{
  int status = -1;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_spawn_close_pid (pid);
  return status;
}

static gboolean
exists (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* ---- a second process reads, stops, deletes ----------------------------- */

static void
test_second_process (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "two", NULL, &error);
  g_assert_no_error (error);
  g_autoptr(VcContainer) c = vc_container_create (sb, "c1", w->bundle, &error);
  g_assert_no_error (error);
  g_assert_true (vc_sandbox_start (sb, &error));
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);

  g_autofree char *out = NULL;
  g_assert_cmpint (run_helper (w, "state", "two", &out), ==, 0);
  g_assert_cmpstr (out, ==, "running - c1=running\n");

  lc_log_clear (w);
  g_assert_cmpint (run_helper (w, "stop", "two", NULL), ==, 0);
  /* The helper reattached to the VM and the share, and did not take over
   * the agent channel. */
  g_assert_true (lc_log_has (w, "hv attach_vm two"));
  g_assert_true (lc_log_has (w, "hv stop_vm two"));
  g_assert_true (lc_log_has (w, "fs attach two"));
  g_assert_true (lc_log_has (w, "fs cleanup two"));
  g_assert_false (lc_log_has (w, "agent connect"));
  g_assert_false (exists (vc_sandbox_get_dir (sb), "fake-vm.running"));

  /* This process sees it on its next look. */
  g_assert_true (vc_sandbox_refresh (sb, &error));
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_STOPPED);
  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_STOPPED);
  g_autofree char *reason = vc_sandbox_dup_reason (sb);
  g_assert_cmpstr (reason, ==, "stopped by request");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_helper (w, "state", "two", &out), ==, 0);
  g_assert_cmpstr (out, ==, "stopped stopped by request c1=stopped\n");

  g_assert_cmpint (run_helper (w, "delete", "two", NULL), ==, 0);
  g_assert_false (g_file_test (vc_sandbox_get_dir (sb), G_FILE_TEST_EXISTS));
  g_assert_false (vc_sandbox_pause (sb, &error));
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "sandbox two does not exist", NULL);
  g_clear_error (&error);
  g_assert_cmpint (run_helper (w, "state", "two", NULL), ==, 1);
}

/* The creating process exits; the VM keeps running; another process picks
 * the sandbox up, connects to its agent lazily, and cleans it all up. */
static void
test_creator_exits (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_cmpint (run_helper (w, "create", "orphan", NULL), ==, 0);

  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GPtrArray) ids = vc_sandbox_list (rt, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 1);
  g_autoptr(VcSandbox) sb = vc_sandbox_load (rt, "orphan", &error);
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_READY);
  g_assert_cmpint (vc_sandbox_get_owner_pid (sb), !=, getpid ());
  g_assert_true (vc_sandbox_claim_ownership (sb, &error));
  g_assert_no_error (error);
  g_autoptr(VcSandboxRecord) claimed = vc_state_read (vc_sandbox_get_dir (sb), &error);
  g_assert_no_error (error);
  g_assert_cmpint (claimed->owner_pid, ==, getpid ());
  g_assert_true (exists (vc_sandbox_get_dir (sb), "fake-vm.running"));

  lc_log_clear (w);
  g_assert_true (vc_sandbox_start (sb, &error));
  g_assert_no_error (error);
  /* Nothing touched the VM for a state change. */
  g_assert_false (lc_log_has (w, "hv attach_vm"));

  g_autoptr(VcContainer) c = vc_container_create (sb, "c1", w->bundle, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lc_log_index (w, "hv attach_vm orphan"), <, lc_log_index (w, "agent connect"));
  g_assert_true (lc_log_has (w, "fs attach orphan"));
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);
  g_autoptr(GArray) pids = vc_sandbox_get_pids (sb, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pids->len, ==, 1);

  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (vc_sandbox_get_dir (sb), G_FILE_TEST_EXISTS));
  g_assert_true (lc_log_has (w, "agent destroy_sandbox"));
}

/* A creator killed half way leaves "stopped, being created" with the VM
 * maybe running; delete finds the VM and stops it. */
static void
test_interrupted_create (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_cmpint (run_helper (w, "create", "half", NULL), ==, 0);
  g_autofree char *dir = g_build_filename (w->state_dir, "half", NULL);
  g_autoptr(VcSandboxRecord) r = vc_state_read (dir, &error);
  g_assert_no_error (error);
  r->state = VC_SANDBOX_STOPPED;
  r->reason = g_strdup ("being created by process 1");
  g_assert_true (vc_state_write (dir, r, &error));
  g_assert_true (exists (dir, "fake-vm.running"));

  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(VcSandbox) sb = vc_sandbox_load (rt, "half", &error);
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_STOPPED);
  /* Process 1 is alive; a creator that died is not "creating". */
  g_assert_true (vc_sandbox_is_being_created (sb));
  g_clear_pointer (&r->reason, g_free);
  r->reason = g_strdup ("being created by process 999999999");
  g_assert_true (vc_state_write (dir, r, &error));
  g_assert_true (vc_sandbox_refresh (sb, &error));
  g_assert_false (vc_sandbox_is_being_created (sb));
  lc_log_clear (w);
  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (lc_log_has (w, "hv stop_vm half"));
  g_assert_true (lc_log_has (w, "fs cleanup half"));
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

/* ---- the lock ----------------------------------------------------------- */

static void
test_lock_contention (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "lk", NULL, &error);
  g_assert_no_error (error);

  GPid holder = start_helper (w, "hold-lock", "lk", "1500", "locked");

  /* Short timeout: BUSY, nothing changed. */
  vc_runtime_set_lock_timeout (rt, 100);
  g_assert_cmpuint (vc_runtime_get_lock_timeout (rt), ==, 100);
  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (vc_sandbox_start (sb, &error));
  gint64 waited_ms = (g_get_monotonic_time () - t0) / 1000;
  lc_assert_error (error, VC_ERROR_BUSY, "sandbox lk is locked by another operation", NULL);
  g_clear_error (&error);
  g_assert_cmpint (waited_ms, >=, 100);
  g_assert_cmpint (waited_ms, <, 1400);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_READY);

  /* Readers need no lock. */
  g_autoptr(VcSandbox) reader = vc_sandbox_load (rt, "lk", &error);
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (reader), ==, VC_SANDBOX_READY);

  /* Longer timeout: waits for the holder, then proceeds. */
  vc_runtime_set_lock_timeout (rt, 10000);
  g_assert_true (vc_sandbox_start (sb, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_RUNNING);
  int status = reap (holder);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);

  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

/* ---- killed between writes ---------------------------------------------- */

static void
test_killed_writer (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "churn", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vc_sandbox_start (sb, &error));
  g_autofree char *dir = g_build_filename (w->state_dir, "churn", NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  guint reads = 0;

  for (int round = 0; round < 8; round++)
    {
      GPid pid = start_helper (w, "churn", "churn", NULL, "churning");
      /* Read while it writes, then kill it at a random point. */
      gint64 until = g_get_monotonic_time () + g_rand_int_range (rand, 5, 60) * 1000;
      while (g_get_monotonic_time () < until)
        {
          g_autoptr(VcSandboxRecord) r = vc_state_read (dir, &error);
          g_assert_no_error (error);
          g_assert_true (r->state == VC_SANDBOX_RUNNING || r->state == VC_SANDBOX_PAUSED);
          reads++;
        }
      kill (pid, SIGKILL);
      int status = reap (pid);
      g_assert_true (WIFSIGNALED (status));

      g_autoptr(VcSandboxRecord) r = vc_state_read (dir, &error);
      g_assert_no_error (error);
      g_assert_true (r->state == VC_SANDBOX_RUNNING || r->state == VC_SANDBOX_PAUSED);
      g_assert_cmpstr (r->id, ==, "churn");
      g_assert_nonnull (r->hypervisor_state);

      /* The dead writer's lock is free; its state is usable. */
      vc_runtime_set_lock_timeout (rt, 0);
      g_assert_true (vc_sandbox_refresh (sb, &error));
      if (vc_sandbox_get_state (sb) == VC_SANDBOX_PAUSED)
        g_assert_true (vc_sandbox_resume (sb, &error));
      g_assert_no_error (error);
      g_autoptr(GPtrArray) ids = vc_sandbox_list (rt, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ids->len, ==, 1);
    }
  g_test_message ("%u concurrent reads, all complete", reads);

  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/reattach/second-process", test_second_process);
  g_test_add_func ("/reattach/creator-exits", test_creator_exits);
  g_test_add_func ("/reattach/interrupted-create", test_interrupted_create);
  g_test_add_func ("/reattach/lock-contention", test_lock_contention);
  g_test_add_func ("/reattach/killed-writer", test_killed_writer);
  return g_test_run ();
}
