/* config.json checks: what the core extracts from a good bundle, and an
 * error naming the field for each kind of bad one. */
#include <string.h>

#include <glib/gstdio.h>

#include "lifecycle-util.h"
#include "oci.h"

typedef struct {
  char *bundle;
} Fixture;

static void
setup (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  f->bundle = g_dir_make_tmp ("vcrun-oci-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *rootfs = g_build_filename (f->bundle, "rootfs", NULL);
  g_autofree char *data_dir = g_build_filename (f->bundle, "data", NULL);
  g_assert_cmpint (g_mkdir (rootfs, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (data_dir, 0755), ==, 0);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  (void) data;
  lc_rmtree (f->bundle);
  g_free (f->bundle);
}

static const char good_spec[] =
  "{ \"ociVersion\": \"1.0.2\",\n"
  "  \"hostname\": \"box\",\n"
  "  \"root\": { \"path\": \"rootfs\", \"readonly\": true },\n"
  "  \"process\": { \"terminal\": true, \"args\": [\"sh\", \"-c\", \"echo hi\"], \"cwd\": \"/\",\n"
  "               \"env\": [\"PATH=/bin\"], \"user\": { \"uid\": 1000, \"gid\": 100 } },\n"
  "  \"mounts\": [\n"
  "    { \"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\" },\n"
  "    { \"destination\": \"/data\", \"type\": \"bind\", \"source\": \"data\", \"options\": [\"rw\"] },\n"
  "    { \"destination\": \"/etc/hosts\", \"source\": \"/etc/hosts\", \"options\": [\"rbind\", \"ro\"] },\n"
  "    { \"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", \"options\": [\"nosuid\"] }\n"
  "  ] }\n";

static void
test_good (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (f->bundle, "config.json", NULL);
  g_file_set_contents (path, good_spec, -1, &error);
  g_assert_no_error (error);

  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (f->bundle, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (spec->oci_version, ==, "1.0.2");
  g_autofree char *rootfs = g_build_filename (f->bundle, "rootfs", NULL);
  g_assert_cmpstr (spec->root_path, ==, rootfs);
  g_assert_true (spec->root_readonly);
  g_assert_cmpstr (spec->args[0], ==, "sh");
  g_assert_cmpstr (spec->args[2], ==, "echo hi");
  g_assert_null (spec->args[3]);
  g_assert_cmpstr (spec->cwd, ==, "/");
  g_assert_true (spec->terminal);
  g_assert_cmpstr (spec->hostname, ==, "box");
  g_assert_cmpstr (spec->json, ==, good_spec);

  g_assert_cmpuint (spec->mounts->len, ==, 4);
  VcOciMount *m = spec->mounts->pdata[0];
  g_assert_false (m->bind);
  m = spec->mounts->pdata[1];
  g_autofree char *data_dir = g_build_filename (f->bundle, "data", NULL);
  g_assert_true (m->bind);
  g_assert_false (m->readonly);
  g_assert_cmpstr (m->source, ==, data_dir);   /* relative to the bundle */
  g_assert_cmpstr (m->destination, ==, "/data");
  m = spec->mounts->pdata[2];
  g_assert_true (m->bind);                     /* by option, no type */
  g_assert_true (m->readonly);
  m = spec->mounts->pdata[3];
  g_assert_false (m->bind);
}

/* Replaces `from` in the good spec by `to`. */
static char *
variant (const char *from, const char *to)
{
  const char *at = strstr (good_spec, from);
  g_assert_nonnull (at);
  return g_strdup_printf ("%.*s%s%s", (int) (at - good_spec), good_spec, to, at + strlen (from));
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  (void) data;
  static const struct { const char *from, *to, *expect; } cases[] = {
    { "\"ociVersion\": \"1.0.2\",", "", "ociVersion: missing" },
    { "\"ociVersion\": \"1.0.2\"", "\"ociVersion\": 1", "ociVersion: must be a non-empty string" },
    { "\"root\": {", "\"rooot\": {", "root: missing" },
    { "\"path\": \"rootfs\", ", "", "root.path: missing" },
    { "\"path\": \"rootfs\"", "\"path\": \"nothere\"", "root.path: " },
    { "\"readonly\": true", "\"readonly\": \"yes\"", "root.readonly: must be a boolean" },
    { "\"process\": {", "\"processes\": {", "process: missing" },
    { "[\"sh\", \"-c\", \"echo hi\"]", "[]", "process.args: must be a non-empty array of strings" },
    { "[\"sh\", \"-c\", \"echo hi\"]", "\"sh\"", "process.args: must be a non-empty array of strings" },
    { "[\"sh\", \"-c\", \"echo hi\"]", "[\"sh\", 5]", "process.args[1]: must be a string" },
    { "[\"sh\", \"-c\", \"echo hi\"]", "[\"\"]", "process.args: the first argument (the program) is empty" },
    { "\"cwd\": \"/\"", "\"cwd\": \"tmp\"", "process.cwd: must be an absolute path" },
    { "\"cwd\": \"/\",", "", "process.cwd: missing" },
    { "[\"PATH=/bin\"]", "\"PATH=/bin\"", "process.env: must be an array of strings" },
    { "\"terminal\": true", "\"terminal\": 1", "process.terminal: must be a boolean" },
    { "\"uid\": 1000", "\"uid\": -1", "process.user.uid: must be an integer" },
    { "\"uid\": 1000, ", "", "process.user.uid: missing" },
    { "\"hostname\": \"box\"", "\"hostname\": [1]", "hostname: must be a string" },
    { "\"mounts\": [", "\"mounts\": {\"a\": [", "not valid JSON" },
    { "\"destination\": \"/data\"", "\"destination\": \"data\"",
      "mounts[1].destination: must be an absolute path" },
    { "\"destination\": \"/proc\", ", "", "mounts[0].destination: missing" },
    { "\"source\": \"data\", ", "", "mounts[1].source: missing (a bind mount needs a source)" },
    { "\"source\": \"data\"", "\"source\": \"nowhere\"", "mounts[1].source: " },
    { "[\"rw\"]", "\"rw\"", "mounts[1].options: must be an array of strings" },
    { "\"type\": \"tmpfs\"", "\"type\": 7", "mounts[3].type: must be a string" },
    { "{ \"ociVersion\"", "[ \"ociVersion\"", "config.json: the text is not a JSON object" },
  };
  g_autofree char *path = g_build_filename (f->bundle, "config.json", NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *text = variant (cases[i].from, cases[i].to);
      g_file_set_contents (path, text, -1, &error);
      g_assert_no_error (error);
      g_autoptr(VcOciSpec) spec = vc_oci_spec_load (f->bundle, &error);
      g_assert_null (spec);
      lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, path, cases[i].expect, NULL);
    }

  /* A mounts member that is not an array. */
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *text = variant ("\"mounts\": [\n", "\"mounts\": 3, \"x\": [\n");
    g_file_set_contents (path, text, -1, &error);
    g_autoptr(VcOciSpec) spec = vc_oci_spec_load (f->bundle, &error);
    g_assert_null (spec);
    lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "mounts: must be an array", NULL);
  }
}

static void
test_missing (Fixture *f, gconstpointer data)
{
  (void) data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VcOciSpec) spec = vc_oci_spec_load (f->bundle, &error);
  g_assert_null (spec);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, f->bundle, "config.json", NULL);
  g_clear_error (&error);

  g_autofree char *nowhere = g_build_filename (f->bundle, "nowhere", NULL);
  spec = vc_oci_spec_load (nowhere, &error);
  g_assert_null (spec);
  lc_assert_error (error, VC_ERROR_NOT_FOUND, "bundle", "no such directory", NULL);
}

static void
test_process (void)
{
  g_autoptr(GError) error = NULL;
  g_assert_true (vc_oci_process_check ("{\"args\":[\"ls\"],\"cwd\":\"/\"}", "exec e1", &error));
  g_assert_no_error (error);
  g_assert_false (vc_oci_process_check ("{\"args\":[],\"cwd\":\"/\"}", "exec e1", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "exec e1: process.args", NULL);
  g_clear_error (&error);
  g_assert_false (vc_oci_process_check ("{\"args\":[\"ls\"]}", "exec e1", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "exec e1: process.cwd: missing", NULL);
  g_clear_error (&error);
  g_assert_false (vc_oci_process_check ("[1]", "exec e1", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "exec e1: the text is not a JSON object", NULL);
  g_clear_error (&error);
  /* json-glib would take the first object and drop the rest. */
  g_assert_false (vc_oci_process_check ("{\"args\":[\"ls\"],\"cwd\":\"/\"} {}", "exec e1", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "exec e1: the text has more than one JSON value", NULL);
  g_clear_error (&error);
  g_assert_false (vc_oci_process_check ("{", "exec e1", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "not valid JSON", NULL);
  g_clear_error (&error);
  g_assert_false (vc_oci_process_check (NULL, "exec e1", &error));
  lc_assert_error (error, VC_ERROR_INVALID_ARGUMENT, "no process given", NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/oci/good", Fixture, NULL, setup, test_good, teardown);
  g_test_add ("/oci/errors", Fixture, NULL, setup, test_errors, teardown);
  g_test_add ("/oci/missing", Fixture, NULL, setup, test_missing, teardown);
  g_test_add_func ("/oci/process", test_process);
  return g_test_run ();
}
