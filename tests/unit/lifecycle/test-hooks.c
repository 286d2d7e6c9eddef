/* OCI hooks on the host (core/hooks.c): parsing with errors naming the
 * field, running real hooks (/bin/sh) with the state on stdin, exactly the
 * given args and env, failure and timeout errors, the guest's share of the
 * hooks, and poststart/poststop kept across processes. */
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <vcrun/types.h>

#include "lifecycle-util.h"
#include "hooks.h"

static VcHooks *
parse (const char *json, GError **error)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  g_assert_nonnull (node);
  return vc_hooks_parse (node, "/b/config.json", error);
}

static void
test_parse (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcHooks) hooks = parse ("{ \"prestart\": [ { \"path\": \"/bin/true\" },"
                                    "  { \"path\": \"/bin/sh\", \"args\": [\"sh\"], \"timeout\": 3 } ],"
                                    "  \"poststop\": [ { \"path\": \"/bin/false\", \"env\": [\"A=1\"] } ] }",
                                    &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vc_hooks_count (hooks, VC_HOOK_PRESTART), ==, 2);
  g_assert_cmpuint (vc_hooks_count (hooks, VC_HOOK_POSTSTOP), ==, 1);
  g_assert_cmpuint (vc_hooks_count (hooks, VC_HOOK_POSTSTART), ==, 0);
  g_assert_cmpuint (vc_hooks_count (hooks, VC_HOOK_START_CONTAINER), ==, 0);

  static const struct { const char *json, *message; } bad[] = {
    { "[]", "/b/config.json: hooks: must be an object" },
    { "{ \"prestart\": {} }", "/b/config.json: hooks.prestart: must be an array" },
    { "{ \"poststart\": [ { \"path\": \"bin/true\" } ] }", "/b/config.json: hooks.poststart[0].path: must be an absolute path" },
    { "{ \"poststop\": [ { \"path\": \"/x\", \"args\": [1] } ] }", "/b/config.json: hooks.poststop[0].args: must be an array of strings" },
    { "{ \"createRuntime\": [ { \"path\": \"/x\", \"timeout\": 0 } ] }", "/b/config.json: hooks.createRuntime[0].timeout: must be a positive integer (seconds)" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) e = NULL;
      g_autoptr(VcHooks) h = parse (bad[i].json, &e);
      g_assert_null (h);
      g_assert_error (e, VC_ERROR, VC_ERROR_INVALID_ARGUMENT);
      g_assert_cmpstr (e->message, ==, bad[i].message);
    }
  /* no hooks at all */
  g_autoptr(VcHooks) none = vc_hooks_parse (NULL, "/b/config.json", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vc_hooks_count (none, VC_HOOK_PRESTART), ==, 0);
}

static void
test_state_json (void)
{
  g_autofree char *s = vc_hook_state_json ("1.0.2", "c1", "created", 42, "/b", "{\"k\":\"v\"}");
  g_autoptr(JsonNode) node = json_from_string (s, NULL);
  JsonObject *o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "id"), ==, "c1");
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "created");
  g_assert_cmpint (json_object_get_int_member (o, "pid"), ==, 42);
  g_assert_cmpstr (json_object_get_string_member (o, "bundle"), ==, "/b");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "annotations"), "k"), ==, "v");
}

/* A hook writing its stdin, argv and environment into dir. */
static void
test_run (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vcrun-hooks-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *json = g_strdup_printf (
      "{ \"prestart\": [ { \"path\": \"/bin/sh\", \"args\": [\"hook-argv0\", \"-c\","
      "  \"cat > %s/stdin; echo \\\"$0 $1 $FOO\\\" > %s/args; env | grep -c . > %s/nenv\", \"zero\", \"one\"],"
      "  \"env\": [\"FOO=bar\"] } ] }", dir, dir, dir);
  g_autoptr(VcHooks) hooks = parse (json, &error);
  g_assert_no_error (error);
  g_autofree char *state = vc_hook_state_json ("1.0.2", "c1", "created", 7, "/b", NULL);
  g_assert_true (vc_hooks_run (hooks, VC_HOOK_PRESTART, state, &error));
  g_assert_no_error (error);

  g_autofree char *in = g_build_filename (dir, "stdin", NULL);
  g_autofree char *args = g_build_filename (dir, "args", NULL);
  g_autofree char *nenv = g_build_filename (dir, "nenv", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (in, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, state);
  g_clear_pointer (&text, g_free);
  g_assert_true (g_file_get_contents (args, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, "zero one bar\n");
  g_clear_pointer (&text, g_free);
  /* only the env given (sh may add PWD, SHLVL, _) */
  g_assert_true (g_file_get_contents (nenv, &text, NULL, NULL));
  g_assert_cmpint (atoi (text), <=, 4);
  lc_rmtree (dir);
}

static void
test_failures (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcHooks) hooks = parse (
      "{ \"prestart\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo broken >&2; exit 3\"] } ],"
      "  \"createRuntime\": [ { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"sleep 30\"], \"timeout\": 1 } ],"
      "  \"poststart\": [ { \"path\": \"/nonexistent/hook\" } ] }", &error);
  g_assert_no_error (error);
  g_assert_false (vc_hooks_run (hooks, VC_HOOK_PRESTART, "{}", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "prestart hook 0 (/bin/sh) exited with status 3: broken");
  g_clear_error (&error);

  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (vc_hooks_run (hooks, VC_HOOK_CREATE_RUNTIME, "{}", &error));
  g_assert_error (error, VC_ERROR, VC_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 10 * G_USEC_PER_SEC);
  g_assert_nonnull (strstr (error->message, "createRuntime hook 0 (/bin/sh) timed out after 1 s"));
  g_clear_error (&error);

  g_assert_false (vc_hooks_run (hooks, VC_HOOK_POSTSTART, "{}", &error));
  g_assert_nonnull (strstr (error->message, "poststart hook 0 (/nonexistent/hook)"));
}

static void
test_guest_json (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = vc_hooks_guest_json (
      "{ \"hooks\": { \"prestart\": [ { \"path\": \"/x\" } ],"
      "  \"createContainer\": [ { \"path\": \"/b/rootfs/bin/sh\" }, { \"path\": \"/usr/bin/true\" } ],"
      "  \"startContainer\": [ { \"path\": \"/b/rootfsX/bin/sh\" } ] } }", "/b/rootfs/", &error);
  g_assert_no_error (error);
  g_autoptr(JsonNode) node = json_from_string (out, NULL);
  JsonObject *hooks = json_object_get_object_member (json_node_get_object (node), "hooks");
  g_assert_false (json_object_has_member (hooks, "prestart"));
  JsonArray *cc = json_object_get_array_member (hooks, "createContainer");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (cc, 0), "path"), ==, "/bin/sh");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (cc, 1), "path"), ==, "/usr/bin/true");
  JsonArray *sc = json_object_get_array_member (hooks, "startContainer");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (sc, 0), "path"), ==, "/b/rootfsX/bin/sh");
  /* no hooks: the spec goes as it is */
  g_assert_null (vc_hooks_guest_json ("{ \"ociVersion\": \"1.0.2\" }", "/b/rootfs", &error));
  g_assert_no_error (error);
}

/* poststop saved at create, run once at delete with the state fields */
static void
test_saved (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vcrun-hooks-XXXXXX", &error);
  g_autofree char *json = g_strdup_printf (
      "{ \"ociVersion\": \"1.0.2\", \"annotations\": { \"a\": \"b\" }, \"hooks\": {"
      "  \"poststop\": [ { \"path\": \"/bin/false\" },"
      "                  { \"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat >> %s/out\"] } ] } }", dir);
  g_assert_true (vc_hooks_save (dir, "c1", json, "/bundle", &error));
  g_assert_no_error (error);
  /* a poststart run finds none and keeps the file */
  vc_hooks_run_saved (dir, "c1", VC_HOOK_POSTSTART, "running", 5, FALSE);
  g_autofree char *saved = g_build_filename (dir, "c1.hooks.json", NULL);
  g_assert_true (g_file_test (saved, G_FILE_TEST_EXISTS));
  /* the failing first hook is a warning; the second still runs */
  g_test_expect_message ("vcrun", G_LOG_LEVEL_WARNING, "poststop hook 0 (/bin/false) exited with status 1");
  vc_hooks_run_saved (dir, "c1", VC_HOOK_POSTSTOP, "stopped", 0, TRUE);
  g_test_assert_expected_messages ();
  g_assert_false (g_file_test (saved, G_FILE_TEST_EXISTS));
  g_autofree char *out = g_build_filename (dir, "out", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (out, &text, NULL, NULL));
  g_autoptr(JsonNode) node = json_from_string (text, NULL);
  JsonObject *o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "stopped");
  g_assert_cmpstr (json_object_get_string_member (o, "bundle"), ==, "/bundle");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "annotations"), "a"), ==, "b");
  /* run again: nothing left to run */
  vc_hooks_run_saved (dir, "c1", VC_HOOK_POSTSTOP, "stopped", 0, TRUE);
  /* no poststart/poststop: no file */
  g_assert_true (vc_hooks_save (dir, "c2", "{ \"hooks\": { \"prestart\": [] } }", "/b", &error));
  g_autofree char *none = g_build_filename (dir, "c2.hooks.json", NULL);
  g_assert_false (g_file_test (none, G_FILE_TEST_EXISTS));
  lc_rmtree (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hooks/parse", test_parse);
  g_test_add_func ("/hooks/state-json", test_state_json);
  g_test_add_func ("/hooks/run", test_run);
  g_test_add_func ("/hooks/failures", test_failures);
  g_test_add_func ("/hooks/guest-json", test_guest_json);
  g_test_add_func ("/hooks/saved", test_saved);
  return g_test_run ();
}
