/* Sandbox and container lifecycle in one process, driven through the fake
 * plugins: the state machines (every refused transition names the state),
 * the plugin call order, rollback on a failure injected at every step, stdio
 * and exit statuses, and VM / fs-daemon death events. */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "container.h"
#include "lock.h"
#include "lifecycle-util.h"
#include "sandbox.h"
#include "state.h"

static gboolean
exists (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static VcSandbox *
create_ok (VcRuntime *rt, const char *id)
{
  g_autoptr(GError) error = NULL;
  VcSandbox *sb = vc_sandbox_create (rt, id, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (sb);
  return sb;
}

static VcContainer *
container_ok (VcSandbox *sb, const char *id, const char *bundle)
{
  g_autoptr(GError) error = NULL;
  VcContainer *c = vc_container_create (sb, id, bundle, &error);
  g_assert_no_error (error);
  g_assert_nonnull (c);
  return c;
}

/* The state on disk, as another process would see it. */
static VcSandboxRecord *
disk_record (LcWorld *w, const char *id)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (w->state_dir, id, NULL);
  VcSandboxRecord *r = vc_state_read (dir, &error);
  g_assert_no_error (error);
  return r;
}

/* ---- create, stop, delete ---------------------------------------------- */

static void
test_create_delete (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;

  g_autoptr(VcSandbox) sb = create_ok (rt, "sb1");
  g_autofree char *dir = g_build_filename (w->state_dir, "sb1", NULL);
  g_assert_cmpstr (vc_sandbox_get_dir (sb), ==, dir);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_READY);
  g_assert_null (vc_sandbox_dup_reason (sb));
  g_assert_false (vc_sandbox_is_being_created (sb));
  /* The names are copies: they outlive the record, which every operation
   * replaces (they used to point into it: a read after the refresh below was
   * a use after free under valgrind). */
  g_autofree char *hv_name = vc_sandbox_dup_hypervisor_name (sb);
  g_autofree char *agent_name = vc_sandbox_dup_agent_name (sb);
  g_autofree char *fs_name = vc_sandbox_dup_fs_name (sb);
  g_assert_true (vc_sandbox_refresh (sb, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (hv_name, ==, "fake-hypervisor");
  g_assert_cmpstr (agent_name, ==, "fake-agent");
  g_assert_cmpstr (fs_name, ==, "fake-fs");
  g_assert_cmpuint (vc_sandbox_get_vcpus (sb), ==, 1);
  g_assert_cmpuint (vc_sandbox_get_memory_mib (sb), ==, 256);
  g_assert_cmpuint (vc_sandbox_get_owner_uid (sb), ==, getuid ());
  g_assert_cmpint (vc_sandbox_get_owner_pid (sb), ==, getpid ());
  g_assert_cmpint (vc_sandbox_get_created (sb), >, 1600000000);
  g_autofree char *sock = vc_sandbox_get_owner_socket (sb);
  g_assert_true (g_str_has_suffix (sock, "/sb1/owner.sock"));

  /* The state dir is private; the VM runs. */
  GStatBuf st;
  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_true (exists (dir, "sandbox.json"));
  g_assert_true (exists (dir, "fake-vm.running"));
  g_autoptr(VcSandboxRecord) r = disk_record (w, "sb1");
  g_assert_cmpint (r->state, ==, VC_SANDBOX_READY);
  g_assert_nonnull (r->hypervisor_state);
  g_assert_nonnull (r->fs_state);

  /* The boot sequence, in order. */
  const char *order[] = {
    "fs prepare sb1", "fs get_devices", "hv create_vm sb1", "hv add_device fake-share",
    "hv start_vm", "hv wait_agent_channel", "hv get_agent_endpoint", "agent connect",
    "agent check", "fs get_sandbox_storage", "agent create_sandbox sb1 hostname=sb1 storages=1",
  };
  int last = -1;
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++)
    {
      int at = lc_log_index (w, order[i]);
      if (at <= last)
        g_error ("call \"%s\" missing or out of order (%d after %d)", order[i], at, last);
      last = at;
    }

  g_autoptr(GPtrArray) ids = vc_sandbox_list (rt, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ids->len, ==, 1);
  g_assert_cmpstr (ids->pdata[0], ==, "sb1");

  /* The same ID again. */
  g_autoptr(VcSandbox) dup = vc_sandbox_create (rt, "sb1", NULL, &error);
  g_assert_null (dup);
  lc_assert_error (error, VC_ERROR_EXISTS, "sandbox sb1 already exists", NULL);
  g_clear_error (&error);

  lc_log_clear (w);
  g_assert_true (vc_sandbox_stop (sb, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_STOPPED);
  g_autofree char *reason = vc_sandbox_dup_reason (sb);
  g_assert_cmpstr (reason, ==, "stopped by request");
  g_assert_false (exists (dir, "fake-vm.running"));
  g_assert_false (exists (dir, "fake-shared"));
  g_assert_cmpint (lc_log_index (w, "agent destroy_sandbox"), <, lc_log_index (w, "hv stop_vm"));
  g_assert_cmpint (lc_log_index (w, "hv stop_vm"), <, lc_log_index (w, "fs cleanup"));
  g_autoptr(VcSandboxRecord) r2 = disk_record (w, "sb1");
  g_assert_cmpint (r2->state, ==, VC_SANDBOX_STOPPED);
  g_assert_cmpstr (r2->reason, ==, "stopped by request");
  g_assert_null (r2->hypervisor_state);

  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_autoptr(GPtrArray) after = vc_sandbox_list (rt, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (after->len, ==, 0);

  /* The handle is still usable and says what happened. */
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_STOPPED);
  g_assert_false (vc_sandbox_start (sb, &error));
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "sandbox sb1 has been deleted", NULL);
  g_clear_error (&error);

  g_autoptr(VcSandbox) gone = vc_sandbox_load (rt, "sb1", &error);
  g_assert_null (gone);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "sandbox sb1 does not exist", NULL);
}

static void
test_create_bad_input (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;

  const char *bad_ids[] = { "../x", "a/b", "", ".hidden" };
  for (gsize i = 0; i < G_N_ELEMENTS (bad_ids); i++)
    {
      g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, bad_ids[i], NULL, &error);
      g_assert_null (sb);
      lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "invalid sandbox ID", NULL);
      g_clear_error (&error);
      sb = vc_sandbox_load (rt, bad_ids[i], &error);
      g_assert_null (sb);
      lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "invalid sandbox ID", NULL);
      g_clear_error (&error);
    }

  VcSandboxOptions options = { .hypervisor = "no-such-plugin" };
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "sb1", &options, &error);
  g_assert_null (sb);
  g_assert_nonnull (error);
  g_test_message ("unknown plugin: %s", error->message);
  g_assert_nonnull (strstr (error->message, "no-such-plugin"));
  g_clear_error (&error);

  /* A plugin of the wrong kind. */
  options.hypervisor = "fake-agent";
  sb = vc_sandbox_create (rt, "sb1", &options, &error);
  g_assert_null (sb);
  g_assert_nonnull (error);
  g_test_message ("wrong kind: %s", error->message);
  g_clear_error (&error);

  /* Nothing was left behind, nothing was called. */
  g_assert_false (g_file_test (w->state_dir, G_FILE_TEST_EXISTS)
                  && exists (w->state_dir, "sb1"));
  g_assert_false (lc_log_has (w, "fs prepare"));
}

/* ---- state machines ---------------------------------------------------- */

static gint notify_sandbox, notify_container;

static void
on_changed (VcSandbox *sb, VcContainer *c, gpointer data)
{
  (void) sb;
  (void) data;
  /* Events notify from the plugins' threads. */
  if (c)
    g_atomic_int_inc (&notify_container);
  else
    g_atomic_int_inc (&notify_sandbox);
}

static void
expect_state_error (gboolean ok, GError **error, const char *message)
{
  g_assert_false (ok);
  lc_assert_error (*error, VC_ERROR_INVALID_STATE, message, NULL);
  g_clear_error (error);
}

static void
test_sandbox_states (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "sm");
  vc_sandbox_set_changed_func (sb, on_changed, NULL, NULL);
  notify_sandbox = 0;

  /* ready */
  expect_state_error (vc_sandbox_pause (sb, &error), &error, "sandbox sm is ready, expected running");
  expect_state_error (vc_sandbox_resume (sb, &error), &error, "sandbox sm is ready, expected paused");
  expect_state_error (vc_sandbox_delete (sb, FALSE, &error), &error,
                      "sandbox sm is ready, expected stopped");
  g_assert_true (vc_sandbox_start (sb, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_RUNNING);
  g_assert_cmpint (notify_sandbox, ==, 1);

  /* running */
  expect_state_error (vc_sandbox_start (sb, &error), &error, "sandbox sm is running, expected ready");
  expect_state_error (vc_sandbox_resume (sb, &error), &error, "sandbox sm is running, expected paused");
  expect_state_error (vc_sandbox_delete (sb, FALSE, &error), &error,
                      "sandbox sm is running, expected stopped");
  g_assert_true (vc_sandbox_pause (sb, &error));
  g_assert_no_error (error);
  g_assert_true (lc_log_has (w, "hv pause_vm sm"));

  /* paused */
  g_autoptr(VcSandboxRecord) r = disk_record (w, "sm");
  g_assert_cmpint (r->state, ==, VC_SANDBOX_PAUSED);
  expect_state_error (vc_sandbox_start (sb, &error), &error, "sandbox sm is paused, expected ready");
  expect_state_error (vc_sandbox_pause (sb, &error), &error, "sandbox sm is paused, expected running");
  expect_state_error (vc_sandbox_delete (sb, FALSE, &error), &error,
                      "sandbox sm is paused, expected stopped");
  g_assert_true (vc_sandbox_resume (sb, &error));
  g_assert_no_error (error);
  g_assert_true (lc_log_has (w, "hv resume_vm sm"));
  g_assert_true (vc_sandbox_pause (sb, &error));
  g_assert_no_error (error);

  /* paused -> stopped */
  g_assert_true (vc_sandbox_stop (sb, &error));
  g_assert_no_error (error);

  /* stopped */
  expect_state_error (vc_sandbox_start (sb, &error), &error, "sandbox sm is stopped, expected ready");
  expect_state_error (vc_sandbox_pause (sb, &error), &error, "sandbox sm is stopped, expected running");
  expect_state_error (vc_sandbox_resume (sb, &error), &error, "sandbox sm is stopped, expected paused");
  expect_state_error (vc_sandbox_stop (sb, &error), &error,
                      "sandbox sm is stopped, expected ready, running or paused");
  g_assert_cmpint (notify_sandbox, ==, 5);

  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (notify_sandbox, ==, 6);
}

/* A failing plugin call leaves the state as it was. */
static void
test_failed_transition (void)
{
  g_autoptr(LcWorld) w = lc_world_new ("fail_at = \"pause_vm,stop_vm\";", NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "ft");

  g_assert_true (vc_sandbox_start (sb, &error));
  g_assert_false (vc_sandbox_pause (sb, &error));
  lc_assert_error (error, VC_ERROR_FAILED, "sandbox ft: pause_vm: fake failure at pause_vm", NULL);
  g_clear_error (&error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_RUNNING);
  g_autoptr(VcSandboxRecord) r = disk_record (w, "ft");
  g_assert_cmpint (r->state, ==, VC_SANDBOX_RUNNING);

  g_assert_false (vc_sandbox_stop (sb, &error));
  lc_assert_error (error, VC_ERROR_FAILED, "stop_vm: fake failure at stop_vm", NULL);
  g_clear_error (&error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_RUNNING);
  g_assert_true (exists (vc_sandbox_get_dir (sb), "sandbox.json"));
}

static void
test_container_states (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "cs");
  vc_sandbox_set_changed_func (sb, on_changed, NULL, NULL);
  notify_container = 0;

  g_autoptr(VcContainer) c = container_ok (sb, "c1", w->bundle);
  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_CREATED);
  g_assert_cmpstr (vc_container_get_bundle (c), ==, w->bundle);
  g_assert_cmpint (vc_container_get_pid (c), ==, 0);
  g_assert_cmpint (vc_container_get_exit_status (c), ==, -1);
  g_assert_true (vc_container_get_sandbox (c) == sb);
  g_assert_cmpint (notify_container, ==, 1);

  g_autoptr(VcContainer) dup = vc_container_create (sb, "c1", w->bundle, &error);
  g_assert_null (dup);
  lc_assert_error (error, VC_ERROR_EXISTS, "container c1 already exists in sandbox cs", NULL);
  g_clear_error (&error);

  /* Start needs a running sandbox. */
  expect_state_error (vc_container_start (c, &error), &error, "sandbox cs is ready, expected running");
  g_assert_true (vc_sandbox_start (sb, &error));

  /* created */
  expect_state_error (vc_container_pause (c, &error), &error,
                      "container c1 is created, expected running");
  expect_state_error (vc_container_resume (c, &error), &error,
                      "container c1 is created, expected paused");
  /* OCI: a created container may be signalled; CONT does not end its init. */
  g_assert_true (vc_container_signal (c, NULL, SIGCONT, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_CREATED);
  expect_state_error (vc_container_exec (c, "e1", "{\"args\":[\"echo\"],\"cwd\":\"/\"}", &error),
                      &error, "container c1 is created, expected running");
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_RUNNING);
  g_assert_cmpint (vc_container_get_pid (c), ==, getpid ());

  /* running */
  expect_state_error (vc_container_start (c, &error), &error,
                      "container c1 is running, expected created");
  expect_state_error (vc_container_delete (c, FALSE, &error), &error,
                      "container c1 is running, expected created or stopped");
  g_assert_true (vc_container_pause (c, &error));
  g_assert_no_error (error);

  /* paused, in the container and in the file */
  g_autoptr(VcSandboxRecord) r = disk_record (w, "cs");
  g_assert_cmpint (((VcContainerRecord *) r->containers->pdata[0])->state, ==, VC_CONTAINER_PAUSED);
  expect_state_error (vc_container_pause (c, &error), &error, "container c1 is paused, expected running");
  expect_state_error (vc_container_start (c, &error), &error, "container c1 is paused, expected created");
  g_assert_true (vc_container_resume (c, &error));
  g_assert_no_error (error);

  /* The init process ends by a signal: the container stops with 128+N. */
  g_assert_true (vc_container_signal (c, NULL, SIGTERM, FALSE, &error));
  g_assert_no_error (error);
  int status = -1;
  g_assert_true (vc_container_wait (c, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 128 + SIGTERM);
  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_STOPPED);
  g_assert_cmpint (vc_container_get_exit_status (c), ==, 128 + SIGTERM);
  g_autoptr(VcSandboxRecord) r2 = disk_record (w, "cs");
  VcContainerRecord *cr = r2->containers->pdata[0];
  g_assert_cmpint (cr->state, ==, VC_CONTAINER_STOPPED);
  g_assert_cmpint (cr->exit_status, ==, 128 + SIGTERM);
  /* Waiting again answers from the record. */
  status = -1;
  g_assert_true (vc_container_wait (c, NULL, &status, &error));
  g_assert_cmpint (status, ==, 128 + SIGTERM);

  /* stopped */
  expect_state_error (vc_container_start (c, &error), &error, "container c1 is stopped, expected created");
  expect_state_error (vc_container_pause (c, &error), &error, "container c1 is stopped, expected running");
  expect_state_error (vc_container_resume (c, &error), &error, "container c1 is stopped, expected paused");
  expect_state_error (vc_container_signal (c, NULL, SIGTERM, FALSE, &error), &error,
                      "container c1 is stopped, expected created, running or paused");

  /* A paused sandbox refuses container changes. */
  g_assert_true (vc_sandbox_pause (sb, &error));
  expect_state_error (vc_container_delete (c, FALSE, &error), &error,
                      "sandbox cs is paused, expected ready, running or stopped");
  g_autoptr(VcContainer) c2 = vc_container_create (sb, "c2", w->bundle, &error);
  g_assert_null (c2);
  lc_assert_error (error, VC_ERROR_INVALID_STATE, "sandbox cs is paused, expected ready or running",
                   NULL);
  g_clear_error (&error);
  g_assert_true (vc_sandbox_resume (sb, &error));

  lc_log_clear (w);
  g_assert_true (vc_container_delete (c, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (lc_log_has (w, "agent remove_container c1"));
  g_assert_true (lc_log_has (w, "fs unshare_container c1"));
  g_assert_cmpint (lc_log_index (w, "agent remove_container c1"), <,
                   lc_log_index (w, "fs unshare_container c1"));
  g_autoptr(VcContainer) gone = vc_sandbox_get_container (sb, "c1", &error);
  g_assert_null (gone);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "sandbox cs has no container c1", NULL);
  g_clear_error (&error);
  g_autoptr(VcSandboxRecord) r3 = disk_record (w, "cs");
  g_assert_cmpuint (r3->containers->len, ==, 0);
  /* The handle outlives the record. */
  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_STOPPED);
  g_assert_false (vc_container_start (c, &error));
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "has no container c1", NULL);
  g_clear_error (&error);

  /* Stopping the sandbox stops its containers. */
  g_autoptr(VcContainer) c3 = container_ok (sb, "c3", w->bundle);
  g_assert_true (vc_container_start (c3, &error));
  g_autoptr(VcContainer) c4 = container_ok (sb, "c4", w->bundle);
  g_assert_true (vc_sandbox_stop (sb, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vc_container_get_state (c3), ==, VC_CONTAINER_STOPPED);
  g_assert_cmpint (vc_container_get_state (c4), ==, VC_CONTAINER_STOPPED);
  g_assert_cmpint (vc_container_get_exit_status (c3), ==, -1);
  status = 0;
  g_assert_false (vc_container_wait (c3, NULL, &status, &error));
  lc_assert_error (error, VC_ERROR_STOPPED, "stopped without an exit status", NULL);
  g_clear_error (&error);
  g_autoptr(VcContainer) c5 = vc_container_create (sb, "c5", w->bundle, &error);
  g_assert_null (c5);
  lc_assert_error (error, VC_ERROR_INVALID_STATE, "sandbox cs is stopped, expected ready or running",
                   NULL);
  g_clear_error (&error);

  /* Containers of a stopped sandbox are deleted without the agent. */
  lc_log_clear (w);
  g_assert_true (vc_container_delete (c4, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (lc_log_has (w, "agent remove_container"));
  g_autoptr(GPtrArray) list = vc_sandbox_list_containers (sb);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpstr (vc_container_get_id (list->pdata[0]), ==, "c3");
  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
}

/* ---- containers: bundle, shares, stdio --------------------------------- */

static char *
read_all_len (VcContainer *c, const char *exec_id, gboolean err_stream, gsize *length)
{
  GString *out = g_string_new (NULL);
  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) data = err_stream ? vc_container_read_stderr (c, exec_id, 4096, &error)
                                          : vc_container_read_stdout (c, exec_id, 4096, &error);
      g_assert_no_error (error);
      gsize len;
      const char *p = g_bytes_get_data (data, &len);
      g_assert_cmpuint (len, <=, 4096);
      if (len == 0)
        break;
      g_string_append_len (out, p, (gssize) len);
    }
  *length = out->len;
  return g_string_free (out, FALSE);
}

static char *
read_all (VcContainer *c, const char *exec_id, gboolean err_stream)
{
  gsize length;
  return read_all_len (c, exec_id, err_stream, &length);
}

static int
run_bundle (LcWorld *w, VcSandbox *sb, const char *id, const char *args_json, char **out,
            char **err, gsize *out_len)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *bundle = g_build_filename (w->tmp, id, NULL);
  lc_write_bundle (bundle, args_json, NULL);
  g_autoptr(VcContainer) c = container_ok (sb, id, bundle);
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);
  gsize len;
  *out = read_all_len (c, NULL, FALSE, out_len ? out_len : &len);
  *err = read_all (c, NULL, TRUE);
  int status = -1;
  g_assert_true (vc_container_wait (c, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (vc_container_delete (c, FALSE, &error));
  g_assert_no_error (error);
  return status;
}

static void
test_container_io (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "io");
  g_assert_true (vc_sandbox_start (sb, &error));

  char *out, *err;
  g_assert_cmpint (run_bundle (w, sb, "c-echo", "[\"echo\", \"hello\", \"world\"]", &out, &err, NULL), ==, 0);
  g_assert_cmpstr (out, ==, "hello world\n");
  g_assert_cmpstr (err, ==, "");
  g_free (out);
  g_free (err);
  g_assert_cmpint (run_bundle (w, sb, "c-err", "[\"echo-err\", \"oops\"]", &out, &err, NULL), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_assert_cmpstr (err, ==, "oops\n");
  g_free (out);
  g_free (err);
  g_assert_cmpint (run_bundle (w, sb, "c-exit", "[\"exit\", \"7\"]", &out, &err, NULL), ==, 7);
  g_free (out);
  g_free (err);
  gsize big_len = 0;
  g_assert_cmpint (run_bundle (w, sb, "c-big", "[\"big\", \"1000000\"]", &out, &err, &big_len), ==, 0);
  g_assert_cmpuint (big_len, ==, 1000000);
  for (gsize i = 0; i < big_len; i++)
    if ((guint8) out[i] != i % 251)
      g_error ("byte %" G_GSIZE_FORMAT " of the output is wrong", i);
  g_free (out);
  g_free (err);

  /* stdin reaches the process; closing it ends it. */
  g_autofree char *cat_bundle = g_build_filename (w->tmp, "c-cat", NULL);
  lc_write_bundle (cat_bundle, "[\"cat\"]", NULL);
  g_autoptr(VcContainer) cat = container_ok (sb, "c-cat", cat_bundle);
  g_assert_true (vc_container_start (cat, &error));
  gsize written = 0;
  g_assert_true (vc_container_write_stdin (cat, NULL, (const guint8 *) "ping\n", 5, &written, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 5);
  g_autoptr(GBytes) echo = vc_container_read_stdout (cat, NULL, 100, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (echo, NULL), g_bytes_get_size (echo), "ping\n", 5);
  g_assert_true (vc_container_resize_tty (cat, NULL, 24, 80, &error));
  g_assert_true (lc_log_has (w, "agent tty_win_resize c-cat c-cat 24x80"));
  g_assert_true (vc_container_close_stdin (cat, NULL, &error));
  g_assert_no_error (error);
  int status = -1;
  g_assert_true (vc_container_wait (cat, NULL, &status, &error));
  g_assert_cmpint (status, ==, 0);

  /* exec in a running container */
  g_autoptr(VcContainer) sleeper = container_ok (sb, "c-exec", w->bundle);
  g_assert_true (vc_container_start (sleeper, &error));
  g_assert_false (vc_container_exec (sleeper, "e1", "{\"args\":[],\"cwd\":\"/\"}", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "exec e1: process.args", NULL);
  g_clear_error (&error);
  g_assert_false (vc_container_exec (sleeper, "../e", "{\"args\":[\"x\"],\"cwd\":\"/\"}", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "invalid exec ID", NULL);
  g_clear_error (&error);
  g_assert_false (vc_container_exec (sleeper, NULL, "{}", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "no exec ID", NULL);
  g_clear_error (&error);
  g_assert_true (vc_container_exec (sleeper, "e1",
                                    "{\"args\":[\"echo\",\"from\",\"exec\"],\"cwd\":\"/\"}", &error));
  g_assert_no_error (error);
  g_autofree char *exec_out = read_all (sleeper, "e1", FALSE);
  g_assert_cmpstr (exec_out, ==, "from exec\n");
  g_assert_true (vc_container_wait (sleeper, "e1", &status, &error));
  g_assert_cmpint (status, ==, 0);
  /* The exec's exit does not stop the container. */
  g_assert_cmpint (vc_container_get_state (sleeper), ==, VC_CONTAINER_RUNNING);
  g_assert_false (vc_container_signal (sleeper, NULL, 0, FALSE, &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "invalid signal number 0", NULL);
  g_clear_error (&error);

  /* force delete of a running container kills it first */
  lc_log_clear (w);
  g_assert_true (vc_container_delete (sleeper, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (lc_log_has (w, "agent signal_process c-exec c-exec 9 all=1"));
  g_assert_cmpint (lc_log_index (w, "agent signal_process"), <,
                   lc_log_index (w, "agent remove_container c-exec"));

  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

typedef struct {
  VcContainer *container;
  GString     *out;
  GError      *error;
} Reader;

static gpointer
reader_thread (gpointer data)
{
  Reader *r = data;
  for (;;)
    {
      g_autoptr(GBytes) chunk = vc_container_read_stdout (r->container, NULL, 7, &r->error);
      if (chunk == NULL || g_bytes_get_size (chunk) == 0)
        break;
      g_string_append_len (r->out, g_bytes_get_data (chunk, NULL),
                           (gssize) g_bytes_get_size (chunk));
    }
  return NULL;
}

/* Blocking stdio and wait calls run next to state changes of the same
 * sandbox without blocking them, and vice versa. */
static void
test_container_concurrency (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "cc");
  g_assert_true (vc_sandbox_start (sb, &error));
  lc_write_bundle (w->bundle, "[\"cat\"]", NULL);
  g_autoptr(VcContainer) c = container_ok (sb, "c1", w->bundle);
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);

  g_autofree char *b2 = g_build_filename (w->tmp, "b2", NULL);
  lc_write_bundle (b2, "[\"sleep\"]", NULL);
  Reader reader = { .container = c, .out = g_string_new (NULL) };
  GThread *thread = g_thread_new ("reader", reader_thread, &reader);
  GString *expect = g_string_new (NULL);
  for (int i = 0; i < 50; i++)
    {
      g_autofree char *line = g_strdup_printf ("line %d\n", i);
      gsize written = 0;
      g_assert_true (vc_container_write_stdin (c, NULL, (const guint8 *) line, strlen (line),
                                               &written, &error));
      g_assert_no_error (error);
      g_string_append (expect, line);
      /* State changes while the reader is blocked. */
      if (i % 10 == 0)
        {
          g_assert_true (vc_container_pause (c, &error));
          g_assert_true (vc_container_resume (c, &error));
          g_autoptr(VcContainer) other = container_ok (sb, "c2", b2);
          g_assert_true (vc_container_delete (other, FALSE, &error));
          g_assert_no_error (error);
        }
    }
  g_assert_true (vc_container_close_stdin (c, NULL, &error));
  g_thread_join (thread);
  g_assert_no_error (reader.error);
  g_assert_cmpstr (reader.out->str, ==, expect->str);
  int status = -1;
  g_assert_true (vc_container_wait (c, NULL, &status, &error));
  g_assert_cmpint (status, ==, 0);
  g_string_free (reader.out, TRUE);
  g_string_free (expect, TRUE);
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

/* The rootfs and each bind mount go through the fs plugin, read-only as
 * config.json says; other mounts stay in the spec for the agent. */
static void
test_container_shares (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "sh");

  g_autofree char *data = g_build_filename (w->bundle, "data", NULL);
  g_mkdir (data, 0755);
  lc_write_bundle (w->bundle, "[\"sleep\"]",
                   "\"mounts\": ["
                   " { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },"
                   " { \"destination\": \"/data\", \"type\": \"bind\", \"source\": \"data\" },"
                   " { \"destination\": \"/etc/hosts\", \"source\": \"/etc/hosts\","
                   "   \"options\": [\"rbind\", \"ro\"] } ]");
  g_autoptr(VcContainer) c = container_ok (sb, "c1", w->bundle);
  g_autofree char *rootfs = g_build_filename (w->bundle, "rootfs", NULL);
  g_autofree char *line = g_strdup_printf ("fs share_rootfs c1 %s ro=1", rootfs);
  g_assert_true (lc_log_has (w, line));
  g_autofree char *line2 = g_strdup_printf ("fs share_mount c1 %s /data ro=0", data);
  g_assert_true (lc_log_has (w, line2));
  g_assert_true (lc_log_has (w, "fs share_mount c1 /etc/hosts /etc/hosts ro=1"));
  g_assert_false (lc_log_has (w, "fs share_mount c1 proc"));
  g_assert_true (lc_log_has (w, "agent mount c1 /data /run/kata-containers/shared/containers/c1.mount.0 ro=0"));
  g_assert_true (lc_log_has (w, "agent mount c1 /etc/hosts /run/kata-containers/shared/containers/c1.mount.1 ro=1"));
  g_assert_true (lc_log_has (w, "agent create_container c1 rootfs=/run/kata-containers/shared/containers/c1/rootfs storages=0 mounts=2"));
  g_autofree char *shared = g_build_filename (vc_sandbox_get_dir (sb), "fake-shared", NULL);
  g_assert_true (exists (shared, "c1.rootfs"));
  g_assert_true (exists (shared, "c1.mount.1"));

  g_autoptr(VcSandboxRecord) r = disk_record (w, "sh");
  VcContainerRecord *cr = r->containers->pdata[0];
  g_assert_cmpstr (cr->bundle, ==, w->bundle);
  g_assert_cmpstr (cr->rootfs, ==, rootfs);

  g_assert_true (vc_container_delete (c, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (exists (shared, "c1.rootfs"));
  g_assert_false (exists (shared, "c1.mount.0"));
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

/* A bad config.json changes nothing: no share, no record. */
static void
test_container_bad_bundle (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "bb");

  lc_write_bundle (w->bundle, "[]", NULL);
  g_autoptr(VcContainer) c = vc_container_create (sb, "c1", w->bundle, &error);
  g_assert_null (c);
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "config.json: process.args", NULL);
  g_clear_error (&error);

  g_autofree char *nowhere = g_build_filename (w->tmp, "nowhere", NULL);
  c = vc_container_create (sb, "c1", nowhere, &error);
  g_assert_null (c);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "no such directory", NULL);
  g_clear_error (&error);

  c = vc_container_create (sb, "bad/id", w->bundle, &error);
  g_assert_null (c);
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "invalid container ID", NULL);
  g_clear_error (&error);

  g_assert_false (lc_log_has (w, "fs share_rootfs"));
  g_autoptr(VcSandboxRecord) r = disk_record (w, "bb");
  g_assert_cmpuint (r->containers->len, ==, 0);
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
}

/* ---- rollback ---------------------------------------------------------- */

typedef struct {
  const char *kind;        /* which fake fails: "hv", "agent", "fs" */
  const char *method;
  const char *message;     /* the step named in the error */
  gboolean    vm_created;
  gboolean    vm_started;
  gboolean    agent_connected;
} RollbackCase;

static const RollbackCase rollback_cases[] = {
  { "fs", "prepare", "fs prepare", FALSE, FALSE, FALSE },
  { "fs", "get_devices", "fs get_devices", FALSE, FALSE, FALSE },
  { "fs", "save_state", "fs save_state", FALSE, FALSE, FALSE },
  { "hv", "create_vm", "create_vm", FALSE, FALSE, FALSE },
  { "hv", "add_device", "add_device fake-share", TRUE, FALSE, FALSE },
  { "hv", "start_vm", "start_vm", TRUE, FALSE, FALSE },
  { "hv", "save_state", "save_state", TRUE, TRUE, FALSE },
  { "hv", "wait_agent_channel", "wait_agent_channel", TRUE, TRUE, FALSE },
  { "hv", "get_agent_endpoint", "get_agent_endpoint", TRUE, TRUE, FALSE },
  { "agent", "connect", "agent connect", TRUE, TRUE, FALSE },
  { "agent", "check", "agent check", TRUE, TRUE, TRUE },
  { "fs", "get_sandbox_storage", "fs get_sandbox_storage", TRUE, TRUE, TRUE },
  { "agent", "create_sandbox", "agent create_sandbox", TRUE, TRUE, TRUE },
};

static void
test_rollback (gconstpointer data)
{
  const RollbackCase *rc = data;
  g_autofree char *fail = g_strdup_printf ("fail_at = \"%s\";", rc->method);
  g_autoptr(LcWorld) w = lc_world_new (g_str_equal (rc->kind, "hv") ? fail : NULL,
                                       g_str_equal (rc->kind, "agent") ? fail : NULL,
                                       g_str_equal (rc->kind, "fs") ? fail : NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;

  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "rb", NULL, &error);
  g_assert_null (sb);
  g_autofree char *expect = g_strdup_printf ("sandbox rb: %s: fake failure at %s", rc->message,
                                             rc->method);
  lc_assert_error (error, VC_ERROR_FAILED, expect, NULL);

  /* No state, no VM, no share left. */
  g_autofree char *dir = g_build_filename (w->state_dir, "rb", NULL);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_autoptr(GPtrArray) ids = vc_sandbox_list (rt, NULL);
  g_assert_cmpuint (ids->len, ==, 0);

  /* The undo calls were made, in reverse order. */
  g_assert_cmpint (lc_log_has (w, "hv free_vm"), ==, rc->vm_created);
  g_assert_cmpint (lc_log_has (w, "hv stop_vm"), ==, rc->vm_created);
  g_assert_cmpint (lc_log_has (w, "agent disconnect"), ==, rc->agent_connected);
  gboolean prepared = !g_str_equal (rc->method, "prepare");
  g_assert_cmpint (lc_log_has (w, "fs cleanup"), ==, prepared);
  g_assert_cmpint (lc_log_has (w, "fs free_share"), ==, prepared);
  if (rc->vm_created)
    g_assert_cmpint (lc_log_index (w, "hv stop_vm"), <, lc_log_index (w, "fs cleanup"));
  if (rc->agent_connected)
    g_assert_cmpint (lc_log_index (w, "agent disconnect"), <, lc_log_index (w, "hv stop_vm"));
  g_assert_cmpint (lc_log_has (w, "hv start_vm"), ==,
                   rc->vm_started || g_str_equal (rc->method, "start_vm"));

  /* And the ID is free again. */
  g_assert_false (lc_log_has (w, "agent create_sandbox rb") && !g_str_equal (rc->method, "create_sandbox"));
}

typedef struct {
  const char *kind;
  const char *method;
  const char *message;
} ContainerRollbackCase;

static const ContainerRollbackCase container_rollback_cases[] = {
  { "fs", "share_rootfs", "container c1: share_rootfs: fake failure at share_rootfs" },
  { "fs", "share_mount", "container c1: share_mount /data: fake failure at share_mount" },
  { "agent", "create_container", "container c1: agent create_container: fake failure" },
};

static void
test_container_rollback (gconstpointer data)
{
  const ContainerRollbackCase *rc = data;
  g_autofree char *fail = g_strdup_printf ("fail_at = \"%s\";", rc->method);
  g_autoptr(LcWorld) w = lc_world_new (NULL, g_str_equal (rc->kind, "agent") ? fail : NULL,
                                       g_str_equal (rc->kind, "fs") ? fail : NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "crb");

  g_autofree char *data_dir = g_build_filename (w->bundle, "data", NULL);
  g_mkdir (data_dir, 0755);
  lc_write_bundle (w->bundle, "[\"sleep\"]",
                   "\"mounts\": [ { \"destination\": \"/data\", \"type\": \"bind\","
                   " \"source\": \"data\" } ]");
  lc_log_clear (w);
  g_autoptr(VcContainer) c = vc_container_create (sb, "c1", w->bundle, &error);
  g_assert_null (c);
  lc_assert_error (error, VC_ERROR_FAILED, rc->message, NULL);
  g_clear_error (&error);

  g_assert_true (lc_log_has (w, "fs unshare_container c1"));
  g_autofree char *shared = g_build_filename (vc_sandbox_get_dir (sb), "fake-shared", NULL);
  g_assert_false (exists (shared, "c1.rootfs"));
  g_assert_false (exists (shared, "c1.mount.0"));
  g_autoptr(VcSandboxRecord) r = disk_record (w, "crb");
  g_assert_cmpuint (r->containers->len, ==, 0);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_READY);
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  g_assert_no_error (error);
}

/* ---- events ------------------------------------------------------------ */

static gboolean
wait_for_state (VcSandbox *sb, VcSandboxState state)
{
  for (int i = 0; i < 500; i++)
    {
      if (vc_sandbox_get_state (sb) == state)
        return TRUE;
      g_usleep (10000);
    }
  return FALSE;
}

/* The state on disk once it reaches state (events persist from their own
 * threads, a moment after the in-memory change). */
static VcSandboxRecord *
wait_disk_state (LcWorld *w, const char *id, VcSandboxState state)
{
  VcSandboxRecord *r = NULL;
  for (int i = 0; i < 500; i++)
    {
      g_clear_pointer (&r, vc_sandbox_record_free);
      r = disk_record (w, id);
      if (r->state == state)
        break;
      g_usleep (10000);
    }
  return r;
}

/* The VM powering off marks the sandbox and its containers stopped, with
 * the reason, on disk too; a blocked wait returns an error. */
static void
test_vm_stopped_event (void)
{
  g_autoptr(LcWorld) w = lc_world_new ("die_after_ms = 1000;", NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "ev");
  vc_sandbox_set_changed_func (sb, on_changed, NULL, NULL);
  notify_sandbox = notify_container = 0;
  g_assert_true (vc_sandbox_start (sb, &error));
  g_autoptr(VcContainer) c = container_ok (sb, "c1", w->bundle);
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);

  int status = -1;
  g_assert_false (vc_container_wait (c, NULL, &status, &error));
  lc_assert_error (error, VC_ERROR_STOPPED, "the VM is gone", NULL);
  g_clear_error (&error);

  g_assert_true (wait_for_state (sb, VC_SANDBOX_STOPPED));
  g_autofree char *reason = vc_sandbox_dup_reason (sb);
  g_assert_cmpstr (reason, ==, "the VM stopped: fake guest powered off");
  g_assert_cmpint (vc_container_get_state (c), ==, VC_CONTAINER_STOPPED);

  g_autoptr(VcSandboxRecord) r = wait_disk_state (w, "ev", VC_SANDBOX_STOPPED);
  g_assert_cmpint (r->state, ==, VC_SANDBOX_STOPPED);
  g_assert_cmpstr (r->reason, ==, "the VM stopped: fake guest powered off");
  g_assert_cmpint (((VcContainerRecord *) r->containers->pdata[0])->state, ==, VC_CONTAINER_STOPPED);
  g_assert_null (r->hypervisor_state);
  /* Notified after the write: start, then the stop; the container's
   * create, start and stop. */
  for (int i = 0; i < 200 && g_atomic_int_get (&notify_container) < 3; i++)
    g_usleep (10000);
  g_assert_cmpint (g_atomic_int_get (&notify_sandbox), >=, 2);
  g_assert_cmpint (g_atomic_int_get (&notify_container), >=, 3);

  expect_state_error (vc_sandbox_pause (sb, &error), &error, "sandbox ev is stopped");
  lc_log_clear (w);
  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (lc_log_has (w, "fs cleanup"));
  g_assert_false (g_file_test (vc_sandbox_get_dir (sb), G_FILE_TEST_EXISTS));
}

/* The fs daemon dying stops the sandbox: the VM is stopped too. */
static void
test_fs_died_event (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, "die_after_ms = 1000;");
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "fsd");
  g_assert_true (vc_sandbox_start (sb, &error));

  g_assert_true (wait_for_state (sb, VC_SANDBOX_STOPPED));
  g_autofree char *reason = vc_sandbox_dup_reason (sb);
  g_assert_cmpstr (reason, ==, "the file sharing daemon died: fake daemon exited with status 1");
  for (int i = 0; i < 200 && exists (vc_sandbox_get_dir (sb), "fake-vm.running"); i++)
    g_usleep (10000);
  g_assert_false (exists (vc_sandbox_get_dir (sb), "fake-vm.running"));
  g_assert_true (lc_log_has (w, "hv stop_vm fsd"));
  g_autoptr(VcSandboxRecord) r = wait_disk_state (w, "fsd", VC_SANDBOX_STOPPED);
  g_assert_cmpint (r->state, ==, VC_SANDBOX_STOPPED);
  g_assert_cmpstr (r->reason, ==, reason);
  /* Once the VM is down, its saved state goes (written second). */
  for (int i = 0; i < 200 && r->hypervisor_state != NULL; i++)
    {
      g_usleep (10000);
      g_clear_pointer (&r, vc_sandbox_record_free);
      r = disk_record (w, "fsd");
    }
  g_assert_null (r->hypervisor_state);

  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (vc_sandbox_get_dir (sb), G_FILE_TEST_EXISTS));
}

/* Events arriving while an operation holds the sandbox are applied when it
 * ends: here the VM dies while a start waits for the lock. */
static void
test_event_during_operation (void)
{
  g_autoptr(LcWorld) w = lc_world_new ("die_after_ms = 1000;", NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "evop");

  /* Hold the lock from outside the sandbox object, across the event. */
  g_autofree char *lock_path = g_build_filename (vc_sandbox_get_dir (sb), "lock", NULL);
  g_autoptr(VcLock) lock = vc_lock_acquire (lock_path, "test", 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_READY);
  g_usleep (1500000);
  /* In memory at once; on disk not yet (the event could not lock). */
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_STOPPED);
  g_autoptr(VcSandboxRecord) r = disk_record (w, "evop");
  g_assert_cmpint (r->state, ==, VC_SANDBOX_READY);
  g_clear_pointer (&lock, vc_lock_release);

  /* The next operation persists it, and sees it. */
  expect_state_error (vc_sandbox_start (sb, &error), &error, "sandbox evop is stopped, expected ready");
  g_autoptr(VcSandboxRecord) r2 = disk_record (w, "evop");
  g_assert_cmpint (r2->state, ==, VC_SANDBOX_STOPPED);
  g_assert_cmpstr (r2->reason, ==, "the VM stopped: fake guest powered off");
  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
}

/* The VM dies during the boot: the event arrives while create holds the
 * sandbox; create fails and leaves nothing. */
static void
test_event_during_create (void)
{
  g_autoptr(LcWorld) w = lc_world_new ("die_at = \"wait_agent_channel\";", NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "evc", NULL, &error);
  g_assert_null (sb);
  g_assert_nonnull (error);
  g_test_message ("create: %s", error->message);
  g_assert_true (lc_log_has (w, "hv event stopped"));
  g_autofree char *dir = g_build_filename (w->state_dir, "evc", NULL);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_true (lc_log_has (w, "fs cleanup evc"));
}

/* The VM dies inside an operation's own plugin call (the event comes while
 * the operation holds the sandbox from the same process): the operation
 * finishes, then the stop is applied and persisted. */
static void
test_event_inside_call (void)
{
  g_autoptr(LcWorld) w = lc_world_new ("die_at = \"pause_vm\";", NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = create_ok (rt, "evi");
  g_assert_true (vc_sandbox_start (sb, &error));
  g_assert_true (vc_sandbox_pause (sb, &error));
  g_assert_no_error (error);
  g_assert_cmpint (vc_sandbox_get_state (sb), ==, VC_SANDBOX_STOPPED);
  g_autoptr(VcSandboxRecord) r = disk_record (w, "evi");
  g_assert_cmpint (r->state, ==, VC_SANDBOX_STOPPED);
  g_assert_cmpstr (r->reason, ==, "the VM stopped: fake guest powered off");
  g_assert_null (r->hypervisor_state);
  g_assert_true (vc_sandbox_delete (sb, FALSE, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lifecycle/create-delete", test_create_delete);
  g_test_add_func ("/lifecycle/create-bad-input", test_create_bad_input);
  g_test_add_func ("/lifecycle/states/sandbox", test_sandbox_states);
  g_test_add_func ("/lifecycle/states/failed-transition", test_failed_transition);
  g_test_add_func ("/lifecycle/states/container", test_container_states);
  g_test_add_func ("/lifecycle/container/io", test_container_io);
  g_test_add_func ("/lifecycle/container/shares", test_container_shares);
  g_test_add_func ("/lifecycle/container/concurrency", test_container_concurrency);
  g_test_add_func ("/lifecycle/container/bad-bundle", test_container_bad_bundle);
  for (gsize i = 0; i < G_N_ELEMENTS (rollback_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/lifecycle/rollback/%s-%s", rollback_cases[i].kind,
                                               rollback_cases[i].method);
      g_test_add_data_func (path, &rollback_cases[i], test_rollback);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (container_rollback_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/lifecycle/rollback/container-%s",
                                               container_rollback_cases[i].method);
      g_test_add_data_func (path, &container_rollback_cases[i], test_container_rollback);
    }
  g_test_add_func ("/lifecycle/events/vm-stopped", test_vm_stopped_event);
  g_test_add_func ("/lifecycle/events/fs-daemon-died", test_fs_died_event);
  g_test_add_func ("/lifecycle/events/during-operation", test_event_during_operation);
  g_test_add_func ("/lifecycle/events/during-create", test_event_during_create);
  g_test_add_func ("/lifecycle/events/inside-call", test_event_inside_call);
  return g_test_run ();
}
