/* libvcrun internal: checking an OCI bundle's config.json. */
#include "config.h"

#include "oci.h"
#include "json-text.h"

/* Deeper OCI documents are refused before json-glib's recursive parser. */
#define OCI_MAX_DEPTH 64

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <string.h>
#include <sys/stat.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>

static gboolean
field_error (const char *origin, const char *field, const char *what, GError **error)
{
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: %s: %s", origin, field, what);
  return FALSE;
}

static gboolean
is_string (JsonNode *n)
{
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING;
}

static gboolean
is_bool (JsonNode *n)
{
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN;
}

static gboolean
is_absent (JsonNode *n)
{
  return n == NULL || JSON_NODE_HOLDS_NULL (n);
}

/* An array of strings as a NULL-terminated vector; NULL with an error. */
static char **
string_array (JsonNode *n, const char *origin, const char *field, gboolean non_empty,
              GError **error)
{
  const char *what = non_empty ? "must be a non-empty array of strings"
                               : "must be an array of strings";
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    {
      field_error (origin, field, what, error);
      return NULL;
    }
  JsonArray *a = json_node_get_array (n);
  guint len = json_array_get_length (a);
  if (non_empty && len == 0)
    {
      field_error (origin, field, what, error);
      return NULL;
    }
  g_autoptr(GPtrArray) b = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!is_string (e))
        {
          g_autofree char *f = g_strdup_printf ("%s[%u]", field, i);
          field_error (origin, f, "must be a string", error);
          return NULL;
        }
      g_ptr_array_add (b, g_strdup (json_node_get_string (e)));
    }
  g_ptr_array_add (b, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&b), FALSE);
}

static gboolean
check_uint32 (JsonObject *o, const char *origin, const char *field, const char *member,
              gboolean required, GError **error)
{
  JsonNode *n = json_object_get_member (o, member);
  g_autofree char *f = g_strdup_printf ("%s.%s", field, member);
  if (is_absent (n))
    return required ? field_error (origin, f, "missing", error) : TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < 0 || json_node_get_int (n) > G_MAXUINT32)
    return field_error (origin, f, "must be an integer from 0 to 4294967295", error);
  return TRUE;
}

/* Checks an OCI Process object; fills the optional outputs. */
static gboolean
check_process (JsonNode *node, const char *origin, const char *field, char ***args_out,
               char **cwd_out, gboolean *terminal_out, GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return field_error (origin, field, node == NULL ? "missing" : "must be an object", error);
  JsonObject *o = json_node_get_object (node);
  g_autofree char *f_args = g_strdup_printf ("%s.args", field);
  g_autofree char *f_cwd = g_strdup_printf ("%s.cwd", field);
  g_autofree char *f_env = g_strdup_printf ("%s.env", field);
  g_autofree char *f_term = g_strdup_printf ("%s.terminal", field);
  g_autofree char *f_user = g_strdup_printf ("%s.user", field);

  g_auto(GStrv) args = string_array (json_object_get_member (o, "args"), origin, f_args, TRUE,
                                     error);
  if (args == NULL)
    return FALSE;
  if (args[0][0] == '\0')
    return field_error (origin, f_args, "the first argument (the program) is empty", error);

  JsonNode *cwd = json_object_get_member (o, "cwd");
  if (!is_string (cwd))
    return field_error (origin, f_cwd, is_absent (cwd) ? "missing" : "must be a string", error);
  if (!g_path_is_absolute (json_node_get_string (cwd)))
    return field_error (origin, f_cwd, "must be an absolute path", error);

  JsonNode *env = json_object_get_member (o, "env");
  if (!is_absent (env))
    {
      g_auto(GStrv) e = string_array (env, origin, f_env, FALSE, error);
      if (e == NULL)
        return FALSE;
    }

  JsonNode *terminal = json_object_get_member (o, "terminal");
  if (!is_absent (terminal) && !is_bool (terminal))
    return field_error (origin, f_term, "must be a boolean", error);

  JsonNode *user = json_object_get_member (o, "user");
  if (!is_absent (user))
    {
      if (!JSON_NODE_HOLDS_OBJECT (user))
        return field_error (origin, f_user, "must be an object", error);
      JsonObject *u = json_node_get_object (user);
      if (!check_uint32 (u, origin, f_user, "uid", TRUE, error)
          || !check_uint32 (u, origin, f_user, "gid", TRUE, error))
        return FALSE;
    }

  if (args_out)
    *args_out = g_steal_pointer (&args);
  if (cwd_out)
    *cwd_out = g_strdup (json_node_get_string (cwd));
  if (terminal_out)
    *terminal_out = !is_absent (terminal) && json_node_get_boolean (terminal);
  return TRUE;
}

static void
oci_mount_free (VcOciMount *m)
{
  g_free (m->destination);
  g_free (m->source);
  g_free (m->type);
  g_free (m);
}

static VcOciMount *
parse_mount (JsonNode *node, const char *origin, guint index, const char *bundle,
             GError **error)
{
  g_autofree char *field = g_strdup_printf ("mounts[%u]", index);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      field_error (origin, field, "must be an object", error);
      return NULL;
    }
  JsonObject *o = json_node_get_object (node);
  g_autofree char *f_dest = g_strdup_printf ("%s.destination", field);
  g_autofree char *f_src = g_strdup_printf ("%s.source", field);
  g_autofree char *f_type = g_strdup_printf ("%s.type", field);
  g_autofree char *f_opts = g_strdup_printf ("%s.options", field);

  JsonNode *dest = json_object_get_member (o, "destination");
  if (!is_string (dest))
    {
      field_error (origin, f_dest, is_absent (dest) ? "missing" : "must be a string", error);
      return NULL;
    }
  if (!g_path_is_absolute (json_node_get_string (dest)))
    {
      field_error (origin, f_dest, "must be an absolute path", error);
      return NULL;
    }
  JsonNode *type = json_object_get_member (o, "type");
  if (!is_absent (type) && !is_string (type))
    {
      field_error (origin, f_type, "must be a string", error);
      return NULL;
    }
  JsonNode *source = json_object_get_member (o, "source");
  if (!is_absent (source) && !is_string (source))
    {
      field_error (origin, f_src, "must be a string", error);
      return NULL;
    }
  g_auto(GStrv) options = NULL;
  JsonNode *opts = json_object_get_member (o, "options");
  if (!is_absent (opts))
    {
      options = string_array (opts, origin, f_opts, FALSE, error);
      if (options == NULL)
        return NULL;
    }

  VcOciMount *m = g_new0 (VcOciMount, 1);
  m->destination = g_strdup (json_node_get_string (dest));
  m->type = is_absent (type) ? NULL : g_strdup (json_node_get_string (type));
  m->bind = g_strcmp0 (m->type, "bind") == 0;
  for (char **opt = options; opt && *opt; opt++)
    {
      if (strcmp (*opt, "bind") == 0 || strcmp (*opt, "rbind") == 0)
        m->bind = TRUE;
      else if (strcmp (*opt, "ro") == 0)
        m->readonly = TRUE;
      else if (strcmp (*opt, "rw") == 0)
        m->readonly = FALSE;
    }
  if (!is_absent (source))
    m->source = g_strdup (json_node_get_string (source));

  if (m->bind)
    {
      if (m->source == NULL || m->source[0] == '\0')
        {
          oci_mount_free (m);
          field_error (origin, f_src, "missing (a bind mount needs a source)", error);
          return NULL;
        }
      if (!g_path_is_absolute (m->source))
        {
          char *abs = g_build_filename (bundle, m->source, NULL);
          g_free (m->source);
          m->source = abs;
        }
      struct stat st;
      if (stat (m->source, &st) != 0)
        {
          int saved = errno;
          g_autofree char *what = g_strdup_printf ("%s: %s", m->source, g_strerror (saved));
          oci_mount_free (m);
          field_error (origin, f_src, what, error);
          return NULL;
        }
    }
  return m;
}

/* Even a path vcrun ignores must name a namespace of its type (as runc
 * checks): a wrong one is a mistake to report, not to paper over. */
static gboolean
check_ns_path (const char *type, const char *path, const char *origin, const char *field,
               GError **error)
{
  static const struct { const char *type; int flag; } types[] = {
    { "pid", CLONE_NEWPID }, { "mount", CLONE_NEWNS }, { "ipc", CLONE_NEWIPC },
    { "uts", CLONE_NEWUTS }, { "user", CLONE_NEWUSER }, { "cgroup", CLONE_NEWCGROUP },
  };
  int want = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_equal (type, types[i].type))
      want = types[i].flag;
  g_autofree char *f = g_strdup_printf ("%s.path", field);
  if (want == 0)
    {
      g_autofree char *what = g_strdup_printf ("unknown namespace type '%s'", type);
      return field_error (origin, f, what, error);
    }
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_autofree char *what = g_strdup_printf ("%s: %s", path, g_strerror (saved));
      return field_error (origin, f, what, error);
    }
  int got = ioctl (fd, NS_GET_NSTYPE);
  close (fd);
  if (got != want)
    {
      g_autofree char *what = g_strdup_printf ("%s is not a %s namespace", path, type);
      return field_error (origin, f, what, error);
    }
  return TRUE;
}

/* linux.namespaces entries with a path. The network namespace is the
 * caller's to prepare (its veths are carried into the VM); any other host
 * namespace cannot be joined across the VM boundary. */
static gboolean
collect_host_ns_paths (JsonObject *o, const char *origin, VcOciSpec *spec, GError **error)
{
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  JsonNode *lx = json_object_get_member (o, "linux");
  JsonNode *nss = lx && JSON_NODE_HOLDS_OBJECT (lx)
                  ? json_object_get_member (json_node_get_object (lx), "namespaces") : NULL;
  if (!is_absent (nss))
    {
      if (!JSON_NODE_HOLDS_ARRAY (nss))
        return field_error (origin, "linux.namespaces", "must be an array", error);
      JsonArray *a = json_node_get_array (nss);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          g_autofree char *f = g_strdup_printf ("linux.namespaces[%u]", i);
          if (!JSON_NODE_HOLDS_OBJECT (e))
            return field_error (origin, f, "must be an object", error);
          JsonObject *ns = json_node_get_object (e);
          JsonNode *type = json_object_get_member (ns, "type");
          JsonNode *path = json_object_get_member (ns, "path");
          g_autofree char *f_type = g_strdup_printf ("%s.type", f);
          g_autofree char *f_path = g_strdup_printf ("%s.path", f);
          if (!is_string (type))
            return field_error (origin, f_type, "must be a string", error);
          if (!is_absent (path) && !is_string (path))
            return field_error (origin, f_path, "must be a string", error);
          if (is_string (path) && *json_node_get_string (path)
              && !g_str_equal (json_node_get_string (type), "network"))
            {
              if (!check_ns_path (json_node_get_string (type), json_node_get_string (path), origin, f,
                                  error))
                return FALSE;
              g_ptr_array_add (found, g_strdup_printf ("%s %s", json_node_get_string (type),
                                                       json_node_get_string (path)));
            }
        }
    }
  g_ptr_array_add (found, NULL);
  spec->host_ns_paths = (char **) g_ptr_array_free (g_steal_pointer (&found), FALSE);
  return TRUE;
}

VcOciSpec *
vc_oci_spec_parse (const char *json, gssize length, const char *bundle, const char *origin,
                   GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;

  const char *problem = vc_json_object_text_problem (json, length < 0 ? strlen (json) : (gsize) length,
                                                     OCI_MAX_DEPTH);
  if (problem != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: the text %s", origin, problem);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, json, length, &local))
    {
      /* json-glib quotes the offending byte, which may not be UTF-8. */
      g_autofree char *why = g_utf8_make_valid (local->message, -1);
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: not valid JSON: %s", origin, why);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: not a JSON object", origin);
      return NULL;
    }
  JsonObject *o = json_node_get_object (root);
  g_autoptr(VcOciSpec) spec = g_new0 (VcOciSpec, 1);
  spec->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) oci_mount_free);
  spec->json = length < 0 ? g_strdup (json) : g_strndup (json, (gsize) length);

  JsonNode *version = json_object_get_member (o, "ociVersion");
  if (!is_string (version) || json_node_get_string (version)[0] == '\0')
    {
      field_error (origin, "ociVersion",
                   is_absent (version) ? "missing" : "must be a non-empty string", error);
      return NULL;
    }
  spec->oci_version = g_strdup (json_node_get_string (version));

  JsonNode *rootn = json_object_get_member (o, "root");
  if (rootn == NULL || !JSON_NODE_HOLDS_OBJECT (rootn))
    {
      field_error (origin, "root", is_absent (rootn) ? "missing" : "must be an object", error);
      return NULL;
    }
  JsonObject *ro = json_node_get_object (rootn);
  JsonNode *path = json_object_get_member (ro, "path");
  if (!is_string (path) || json_node_get_string (path)[0] == '\0')
    {
      field_error (origin, "root.path",
                   is_absent (path) ? "missing" : "must be a non-empty string", error);
      return NULL;
    }
  const char *p = json_node_get_string (path);
  spec->root_path = g_path_is_absolute (p) ? g_strdup (p) : g_build_filename (bundle, p, NULL);
  if (!g_file_test (spec->root_path, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *what = g_strdup_printf ("%s is not a directory", spec->root_path);
      field_error (origin, "root.path", what, error);
      return NULL;
    }
  JsonNode *readonly = json_object_get_member (ro, "readonly");
  if (!is_absent (readonly))
    {
      if (!is_bool (readonly))
        {
          field_error (origin, "root.readonly", "must be a boolean", error);
          return NULL;
        }
      spec->root_readonly = json_node_get_boolean (readonly);
    }

  if (!check_process (json_object_get_member (o, "process"), origin, "process", &spec->args,
                      &spec->cwd, &spec->terminal, error))
    return NULL;

  JsonNode *hostname = json_object_get_member (o, "hostname");
  if (!is_absent (hostname))
    {
      if (!is_string (hostname))
        {
          field_error (origin, "hostname", "must be a string", error);
          return NULL;
        }
      spec->hostname = g_strdup (json_node_get_string (hostname));
    }

  JsonNode *mounts = json_object_get_member (o, "mounts");
  if (!is_absent (mounts))
    {
      if (!JSON_NODE_HOLDS_ARRAY (mounts))
        {
          field_error (origin, "mounts", "must be an array", error);
          return NULL;
        }
      JsonArray *a = json_node_get_array (mounts);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          VcOciMount *m = parse_mount (json_array_get_element (a, i), origin, i, bundle, error);
          if (m == NULL)
            return NULL;
          g_ptr_array_add (spec->mounts, m);
        }
    }
  if (!collect_host_ns_paths (o, origin, spec, error))
    return NULL;
  spec->hooks = vc_hooks_parse (json_object_get_member (o, "hooks"), origin, error);
  if (spec->hooks == NULL)
    return NULL;
  JsonNode *annotations = json_object_get_member (o, "annotations");
  if (!is_absent (annotations))
    {
      if (!JSON_NODE_HOLDS_OBJECT (annotations))
        {
          field_error (origin, "annotations", "must be an object", error);
          return NULL;
        }
      spec->annotations_json = json_to_string (annotations, FALSE);
    }
  return g_steal_pointer (&spec);
}

VcOciSpec *
vc_oci_spec_load (const char *bundle, GError **error)
{
  g_autofree char *path = g_build_filename (bundle, "config.json", NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr(GError) local = NULL;

  if (!g_file_test (bundle, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "bundle %s: no such directory", bundle);
      return NULL;
    }
  if (!g_file_get_contents (path, &contents, &length, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "bundle %s has no config.json", bundle);
      else
        g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "bundle %s: %s", bundle, local->message);
      return NULL;
    }
  return vc_oci_spec_parse (contents, (gssize) length, bundle, path, error);
}

void
vc_oci_spec_free (VcOciSpec *spec)
{
  if (spec == NULL)
    return;
  g_free (spec->json);
  g_free (spec->oci_version);
  g_free (spec->root_path);
  g_strfreev (spec->args);
  g_free (spec->cwd);
  g_free (spec->hostname);
  if (spec->mounts)
    g_ptr_array_unref (spec->mounts);
  vc_hooks_free (spec->hooks);
  g_strfreev (spec->host_ns_paths);
  g_free (spec->annotations_json);
  g_free (spec);
}

gboolean
vc_oci_process_check (const char *process_json, const char *origin, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;

  if (process_json == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: not valid JSON: no process given",
                   origin);
      return FALSE;
    }
  const char *problem = vc_json_object_text_problem (process_json, strlen (process_json), OCI_MAX_DEPTH);
  if (problem != NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: the text %s", origin, problem);
      return FALSE;
    }
  if (!json_parser_load_from_data (parser, process_json, -1, &local))
    {
      g_autofree char *why = g_utf8_make_valid (local->message, -1);
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "%s: not valid JSON: %s", origin, why);
      return FALSE;
    }
  return check_process (json_parser_get_root (parser), origin, "process", NULL, NULL, NULL,
                        error);
}

gboolean
vc_oci_is_block_fstype (const char *type)
{
  static const char *const block_fstypes[] = { "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", NULL };
  return type != NULL && g_strv_contains (block_fstypes, type);
}
