/* The OCI lifecycle additions of the core, through the fake plugins:
 * prestart/createRuntime at create (a failure undoes the create), poststart
 * at start, poststop at delete with the state on stdin; host namespace
 * paths other than network warned about; and the host cgroup at
 * linux.cgroupsPath (real cgroupfs: needs root, else skipped). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <vcrun/types.h>

#include "container.h"
#include "host-cgroup.h"
#include "lifecycle-util.h"
#include "sandbox.h"

/* A hook appending "<kind> <its stdin>" to <tmp>/hooks.log. */
static char *
hook (LcWorld *w, const char *kind, int exit_status)
{
  return g_strdup_printf ("{ \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\","
                          " \"(echo %s; cat; echo) >> %s/hooks.log; exit %d\"] }",
                          kind, w->tmp, exit_status);
}

static char *
hooks_log (LcWorld *w)
{
  g_autofree char *path = g_build_filename (w->tmp, "hooks.log", NULL);
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

/* The state JSON the hook of kind got. */
static JsonObject *
hook_state (LcWorld *w, const char *kind)
{
  g_autofree char *log = hooks_log (w);
  g_auto(GStrv) lines = g_strsplit (log, "\n", -1);
  for (char **l = lines; *l && l[1]; l++)
    if (g_str_equal (*l, kind))
      {
        JsonNode *node = json_from_string (l[1], NULL);
        g_assert_nonnull (node);
        JsonObject *o = json_object_ref (json_node_get_object (node));
        json_node_unref (node);
        return o;
      }
  g_error ("no %s hook ran: %s", kind, log);
}

static void
test_hooks (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autofree char *pre = hook (w, "prestart", 0), *cr = hook (w, "createRuntime", 0);
  g_autofree char *post = hook (w, "poststart", 0), *stop = hook (w, "poststop", 0);
  g_autofree char *extra = g_strdup_printf (
      "\"annotations\": { \"k\": \"v\" }, \"hooks\": { \"prestart\": [ %s ], \"createRuntime\": [ %s ],"
      " \"poststart\": [ %s ], \"poststop\": [ %s ] }", pre, cr, post, stop);
  lc_write_bundle (w->bundle, "[\"true\"]", extra);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "h1", NULL, &error);
  g_assert_no_error (error);
  g_autoptr(VcContainer) c = vc_container_create (sb, "h1", w->bundle, &error);
  g_assert_no_error (error);

  g_autoptr(JsonObject) s = hook_state (w, "prestart");
  g_assert_cmpstr (json_object_get_string_member (s, "id"), ==, "h1");
  g_assert_cmpstr (json_object_get_string_member (s, "status"), ==, "created");
  g_assert_cmpint (json_object_get_int_member (s, "pid"), ==, getpid ());
  g_assert_cmpstr (json_object_get_string_member (s, "bundle"), ==, w->bundle);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (s, "annotations"), "k"), ==, "v");
  g_autoptr(JsonObject) s2 = hook_state (w, "createRuntime");
  g_assert_cmpstr (json_object_get_string_member (s2, "id"), ==, "h1");
  g_autofree char *log = hooks_log (w);
  g_assert_null (strstr (log, "poststart"));

  g_assert_true (vc_sandbox_start (sb, &error));
  g_assert_true (vc_container_start (c, &error));
  g_assert_no_error (error);
  g_autoptr(JsonObject) s3 = hook_state (w, "poststart");
  g_assert_cmpstr (json_object_get_string_member (s3, "status"), ==, "running");
  g_clear_pointer (&log, g_free);
  log = hooks_log (w);
  g_assert_null (strstr (log, "poststop"));

  g_assert_true (vc_container_delete (c, TRUE, &error));
  g_assert_no_error (error);
  g_autoptr(JsonObject) s4 = hook_state (w, "poststop");
  g_assert_cmpstr (json_object_get_string_member (s4, "status"), ==, "stopped");
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
  /* poststop ran once */
  g_clear_pointer (&log, g_free);
  log = hooks_log (w);
  g_assert_true (strstr (log, "poststop") == g_strrstr (log, "poststop"));
}

static void
test_prestart_fails (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autofree char *bad = hook (w, "prestart", 4);
  g_autofree char *stop = hook (w, "poststop", 0);
  g_autofree char *extra = g_strdup_printf ("\"hooks\": { \"prestart\": [ %s ], \"poststop\": [ %s ] }",
                                            bad, stop);
  lc_write_bundle (w->bundle, "[\"true\"]", extra);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "h2", NULL, &error);
  g_assert_no_error (error);
  lc_log_clear (w);
  g_autoptr(VcContainer) c = vc_container_create (sb, "h2", w->bundle, &error);
  g_assert_null (c);
  lc_assert_error (error, VC_ERROR_FAILED, "container h2: prestart hook 0 (/bin/sh) exited with status 4",
                   NULL);
  /* undone: the agent's container removed, the ID free again, no poststop kept */
  g_assert_true (lc_log_has (w, "agent remove_container h2"));
  g_autofree char *saved = g_build_filename (w->state_dir, "h2", "h2.hooks.json", NULL);
  g_assert_false (g_file_test (saved, G_FILE_TEST_EXISTS));
  g_clear_error (&error);
  lc_write_bundle (w->bundle, "[\"true\"]", NULL);
  g_autoptr(VcContainer) again = vc_container_create (sb, "h2", w->bundle, &error);
  g_assert_no_error (error);
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
}

static void
test_host_namespace_paths (void)
{
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  lc_write_bundle (w->bundle, "[\"true\"]",
                   "\"linux\": { \"namespaces\": [ { \"type\": \"pid\", \"path\": \"/proc/self/ns/pid\" },"
                   " { \"type\": \"network\", \"path\": \"/var/run/netns/x\" }, { \"type\": \"mount\" } ] }");
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, "n1", NULL, &error);
  g_assert_no_error (error);
  /* one warning: the pid namespace path; the network one is the caller's to give */
  g_test_expect_message ("vcrun", G_LOG_LEVEL_WARNING,
                         "container n1: linux.namespaces: ignoring the host namespace 'pid /proc/self/ns/pid'*");
  g_autoptr(VcContainer) c = vc_container_create (sb, "n1", w->bundle, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  /* a path of the wrong type is an error even though it would be ignored */
  lc_write_bundle (w->bundle, "[\"true\"]",
                   "\"linux\": { \"namespaces\": [ { \"type\": \"pid\", \"path\": \"/proc/self/ns/ipc\" } ] }");
  g_autoptr(VcContainer) bad = vc_container_create (sb, "n2", w->bundle, &error);
  g_assert_null (bad);
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "linux.namespaces[0].path: /proc/self/ns/ipc is not a pid namespace", NULL);
  g_clear_error (&error);
  g_assert_true (vc_sandbox_delete (sb, TRUE, &error));
}

/* ---- host cgroup --------------------------------------------------------- */

static char *
pids_dir (const char *path)
{
  /* v1: the pids hierarchy; v2: the unified tree */
  if (g_file_test ("/sys/fs/cgroup/pids", G_FILE_TEST_IS_DIR))
    return g_build_filename ("/sys/fs/cgroup/pids", path, NULL);
  return g_build_filename ("/sys/fs/cgroup", path, NULL);
}

static void
test_host_cgroup (void)
{
  if (getuid () != 0 || !g_file_test ("/sys/fs/cgroup", G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("needs root and cgroupfs");
      return;
    }
  g_autoptr(LcWorld) w = lc_world_new (NULL, NULL, NULL);
  g_autoptr(VcRuntime) rt = lc_world_runtime (w);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("vcrun-unit-%d", (int) getpid ());
  g_autofree char *extra = NULL;

  /* a memory limit the VM cannot live within: an error, nothing made */
  extra = g_strdup_printf ("\"linux\": { \"cgroupsPath\": \"/%s\", \"resources\": {"
                           " \"memory\": { \"limit\": 1048576 } } }", name);
  lc_write_bundle (w->bundle, "[\"true\"]", extra);
  g_assert_false (vc_runtime_enter_host_cgroup (rt, w->bundle, &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "linux.resources.memory.limit: 1048576 bytes",
                   "below the VM's own memory", NULL);
  g_clear_error (&error);
  g_autofree char *dir = pids_dir (name);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));

  /* what the host cgroup does not apply is refused */
  g_clear_pointer (&extra, g_free);
  extra = g_strdup_printf ("\"linux\": { \"cgroupsPath\": \"/%s\", \"resources\": {"
                           " \"blockIO\": { \"weight\": 500 } } }", name);
  lc_write_bundle (w->bundle, "[\"true\"]", extra);
  g_assert_false (vc_runtime_enter_host_cgroup (rt, w->bundle, &error));
  lc_assert_error (error, VC_ERROR_NOT_SUPPORTED, "linux.resources.blockIO: not supported", NULL);
  g_clear_error (&error);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));

  /* a pids limit: the cgroup made, the limit written, this process in it */
  g_clear_pointer (&extra, g_free);
  extra = g_strdup_printf ("\"linux\": { \"cgroupsPath\": \"/%s\", \"resources\": {"
                           " \"pids\": { \"limit\": 777 },"
                           " \"cpu\": { \"period\": 100000, \"quota\": 50000 } } }", name);
  lc_write_bundle (w->bundle, "[\"true\"]", extra);
  g_assert_true (vc_runtime_enter_host_cgroup (rt, w->bundle, &error));
  g_assert_no_error (error);
  g_autofree char *max_path = g_build_filename (dir, "pids.max", NULL);
  g_autofree char *max = NULL;
  g_assert_true (g_file_get_contents (max_path, &max, NULL, NULL));
  g_assert_cmpstr (g_strstrip (max), ==, "777");
  g_autofree char *own = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/cgroup", &own, NULL, NULL));
  g_assert_nonnull (strstr (own, name));
  /* the CPU quota waits for the VM's boot (v1: the cpu hierarchy) */
  g_autofree char *cpu_dir = g_build_filename ("/sys/fs/cgroup/cpu", name, NULL);
  if (g_file_test (cpu_dir, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *quota_path = g_build_filename (cpu_dir, "cpu.cfs_quota_us", NULL);
      g_autofree char *quota = NULL;
      g_assert_true (g_file_get_contents (quota_path, &quota, NULL, NULL));
      g_assert_cmpstr (g_strstrip (quota), ==, "-1");
      g_assert_true (vc_host_cgroup_finish (&error));
      g_assert_no_error (error);
      g_clear_pointer (&quota, g_free);
      g_assert_true (g_file_get_contents (quota_path, &quota, NULL, NULL));
      g_assert_cmpstr (g_strstrip (quota), ==, "50000");
    }
  /* one at a time */
  g_assert_false (vc_runtime_enter_host_cgroup (rt, w->bundle, &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_BUSY);
  g_clear_error (&error);

  vc_host_cgroup_release ();
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_clear_pointer (&own, g_free);
  g_assert_true (g_file_get_contents ("/proc/self/cgroup", &own, NULL, NULL));
  g_assert_null (strstr (own, name));

  /* systemd's form, through cgroupfs; a bad slice name is an error */
  g_clear_pointer (&extra, g_free);
  extra = g_strdup_printf ("\"linux\": { \"cgroupsPath\": \"vcrunx-u%d.slice:vc:x\" }", (int) getpid ());
  lc_write_bundle (w->bundle, "[\"true\"]", extra);
  g_assert_true (vc_runtime_enter_host_cgroup (rt, w->bundle, &error));
  g_assert_no_error (error);
  g_autofree char *scope_rel = g_strdup_printf ("vcrunx.slice/vcrunx-u%d.slice/vc-x.scope", (int) getpid ());
  g_autofree char *scope = pids_dir (scope_rel);
  g_assert_true (g_file_test (scope, G_FILE_TEST_IS_DIR));
  vc_host_cgroup_release ();
  g_assert_false (g_file_test (scope, G_FILE_TEST_EXISTS));
  lc_write_bundle (w->bundle, "[\"true\"]", "\"linux\": { \"cgroupsPath\": \"bad:vc:x\" }");
  g_assert_false (vc_runtime_enter_host_cgroup (rt, w->bundle, &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "'bad' is not a systemd slice name", NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/oci-lifecycle/hooks", test_hooks);
  g_test_add_func ("/oci-lifecycle/prestart-fails", test_prestart_fails);
  g_test_add_func ("/oci-lifecycle/host-namespace-paths", test_host_namespace_paths);
  g_test_add_func ("/oci-lifecycle/host-cgroup", test_host_cgroup);
  return g_test_run ();
}
