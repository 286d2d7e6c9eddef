/* libvcrun internal: OCI lifecycle hooks on the host (hooks.h). */
#include "config.h"

#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <vcrun/types.h>

/* What a failed hook's error message quotes of its output. */
#define OUTPUT_MAX 2048

struct VcHooks {
  GPtrArray *kinds[VC_HOOK_KINDS]; /* VcHook* */
};

static const char *const kind_names[VC_HOOK_KINDS] = {
  "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

const char *
vc_hook_kind_name (VcHookKind kind)
{
  return kind < VC_HOOK_KINDS ? kind_names[kind] : "?";
}

static void
hook_free (VcHook *h)
{
  g_free (h->path);
  g_strfreev (h->args);
  g_strfreev (h->env);
  g_free (h);
}

void
vc_hooks_free (VcHooks *hooks)
{
  if (hooks == NULL)
    return;
  for (int k = 0; k < VC_HOOK_KINDS; k++)
    if (hooks->kinds[k])
      g_ptr_array_unref (hooks->kinds[k]);
  g_free (hooks);
}

guint
vc_hooks_count (const VcHooks *hooks, VcHookKind kind)
{
  return hooks && kind < VC_HOOK_KINDS && hooks->kinds[kind] ? hooks->kinds[kind]->len : 0;
}

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
strv_member (JsonObject *o, const char *member, const char *origin, const char *field,
             char ***out, GError **error)
{
  JsonNode *n = json_object_get_member (o, member);
  g_autofree char *f = g_strdup_printf ("%s.%s", field, member);
  *out = NULL;
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return field_error (origin, f, "must be an array of strings", error);
  JsonArray *a = json_node_get_array (n);
  g_autoptr(GPtrArray) v = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!is_string (e))
        return field_error (origin, f, "must be an array of strings", error);
      g_ptr_array_add (v, g_strdup (json_node_get_string (e)));
    }
  g_ptr_array_add (v, NULL);
  *out = (char **) g_ptr_array_free (g_steal_pointer (&v), FALSE);
  return TRUE;
}

static VcHook *
parse_hook (JsonNode *node, const char *origin, const char *field, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      field_error (origin, field, "must be an object", error);
      return NULL;
    }
  JsonObject *o = json_node_get_object (node);
  JsonNode *path = json_object_get_member (o, "path");
  g_autofree char *f_path = g_strdup_printf ("%s.path", field);
  if (!is_string (path) || !g_path_is_absolute (json_node_get_string (path)))
    {
      field_error (origin, f_path, "must be an absolute path", error);
      return NULL;
    }
  VcHook *h = g_new0 (VcHook, 1);
  h->path = g_strdup (json_node_get_string (path));
  if (!strv_member (o, "args", origin, field, &h->args, error)
      || !strv_member (o, "env", origin, field, &h->env, error))
    {
      hook_free (h);
      return NULL;
    }
  JsonNode *timeout = json_object_get_member (o, "timeout");
  if (timeout && !JSON_NODE_HOLDS_NULL (timeout))
    {
      g_autofree char *f_timeout = g_strdup_printf ("%s.timeout", field);
      if (!JSON_NODE_HOLDS_VALUE (timeout) || json_node_get_value_type (timeout) != G_TYPE_INT64
          || json_node_get_int (timeout) <= 0 || json_node_get_int (timeout) > G_MAXINT32)
        {
          hook_free (h);
          field_error (origin, f_timeout, "must be a positive integer (seconds)", error);
          return NULL;
        }
      h->timeout_s = (gint) json_node_get_int (timeout);
    }
  return h;
}

VcHooks *
vc_hooks_parse (JsonNode *node, const char *origin, GError **error)
{
  g_autoptr(VcHooks) hooks = g_new0 (VcHooks, 1);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_steal_pointer (&hooks);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      field_error (origin, "hooks", "must be an object", error);
      return NULL;
    }
  JsonObject *o = json_node_get_object (node);
  for (int k = 0; k < VC_HOOK_KINDS; k++)
    {
      JsonNode *list = json_object_get_member (o, kind_names[k]);
      if (list == NULL || JSON_NODE_HOLDS_NULL (list))
        continue;
      g_autofree char *field = g_strdup_printf ("hooks.%s", kind_names[k]);
      if (!JSON_NODE_HOLDS_ARRAY (list))
        {
          field_error (origin, field, "must be an array", error);
          return NULL;
        }
      hooks->kinds[k] = g_ptr_array_new_with_free_func ((GDestroyNotify) hook_free);
      JsonArray *a = json_node_get_array (list);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          g_autofree char *f = g_strdup_printf ("%s[%u]", field, i);
          VcHook *h = parse_hook (json_array_get_element (a, i), origin, f, error);
          if (h == NULL)
            return NULL;
          g_ptr_array_add (hooks->kinds[k], h);
        }
    }
  return g_steal_pointer (&hooks);
}

char *
vc_hook_state_json (const char *oci_version, const char *id, const char *status, gint pid,
                    const char *bundle, const char *annotations_json)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ociVersion");
  json_builder_add_string_value (b, oci_version ? oci_version : "1.0.2");
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, id);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, status);
  json_builder_set_member_name (b, "pid");
  json_builder_add_int_value (b, pid);
  json_builder_set_member_name (b, "bundle");
  json_builder_add_string_value (b, bundle ? bundle : "");
  json_builder_set_member_name (b, "annotations");
  JsonNode *annotations = annotations_json ? json_from_string (annotations_json, NULL) : NULL;
  if (annotations && JSON_NODE_HOLDS_OBJECT (annotations))
    json_builder_add_value (b, annotations);
  else
    {
      if (annotations)
        json_node_unref (annotations);
      json_builder_begin_object (b);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* ---- running one hook ---------------------------------------------------- */

static void
child_setup (gpointer data)
{
  (void) data;
  /* the runtime ignores SIGPIPE; a hook starts with the default */
  signal (SIGPIPE, SIG_DFL);
}

static gboolean
run_one (const VcHook *h, VcHookKind kind, guint index, const char *state, GError **error)
{
  g_autofree char *what = g_strdup_printf ("%s hook %u (%s)", kind_names[kind], index, h->path);
  guint nargs = h->args ? g_strv_length (h->args) : 0;
  /* G_SPAWN_FILE_AND_ARGV_ZERO: { file, argv0, args..., NULL } */
  g_autofree char **argv = g_new0 (char *, nargs + 3);
  argv[0] = h->path;
  if (nargs == 0)
    argv[1] = h->path;
  for (guint i = 0; i < nargs; i++)
    argv[i + 1] = h->args[i];

  int out[2], in[2];
  if (!g_unix_open_pipe (out, FD_CLOEXEC, error))
    return FALSE;
  /* stdin is a socket so that a hook exiting without reading it gives us
   * EPIPE (MSG_NOSIGNAL), not SIGPIPE, whatever the caller's disposition */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
    {
      int saved = errno;
      close (out[0]);
      close (out[1]);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: socketpair: %s", what, g_strerror (saved));
      return FALSE;
    }
  shutdown (in[1], SHUT_WR);
  GPid pid;
  gboolean spawned = g_spawn_async_with_pipes_and_fds (
      NULL, (const char *const *) argv, (const char *const *) h->env,
      G_SPAWN_FILE_AND_ARGV_ZERO | G_SPAWN_DO_NOT_REAP_CHILD,
      child_setup, NULL, in[1], out[1], out[1], NULL, NULL, 0, &pid, NULL, NULL, NULL, error);
  close (out[1]);
  close (in[1]);
  int in_fd = in[0];
  if (!spawned)
    {
      close (out[0]);
      close (in_fd);
      g_prefix_error (error, "%s: ", what);
      return FALSE;
    }
  /* The state is small (well under a socket's buffer): a hook that never
   * reads it cannot block us. */
  shutdown (in_fd, SHUT_RD);
  const char *p = state;
  gsize left = strlen (state);
  while (left > 0)
    {
      ssize_t n = send (in_fd, p, left, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      p += n;
      left -= (gsize) n;
    }
  close (in_fd);

  gint64 deadline = h->timeout_s > 0 ? g_get_monotonic_time () + (gint64) h->timeout_s * G_USEC_PER_SEC
                                     : G_MAXINT64;
  g_autoptr(GString) output = g_string_new (NULL);
  gboolean timed_out = FALSE, eof = FALSE;
  int status = 0;
  for (;;)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);
      if (r == pid)
        break;
      if (r < 0 && errno != EINTR)
        {
          status = 0;
          break;
        }
      gint64 now = g_get_monotonic_time ();
      if (now >= deadline)
        {
          timed_out = TRUE;
          kill (pid, SIGKILL);
          while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
          break;
        }
      /* Wait for output or, once the pipe is closed (or held by a daemon the
       * hook left behind), poll the exit every 10 ms. */
      int wait_ms = (int) MIN ((deadline - now) / 1000 + 1, 10);
      struct pollfd pfd = { .fd = out[0], .events = POLLIN };
      if (!eof && poll (&pfd, 1, wait_ms) > 0)
        {
          char buf[1024];
          ssize_t n = read (out[0], buf, sizeof buf);
          if (n > 0 && output->len < OUTPUT_MAX)
            g_string_append_len (output, buf, MIN ((gsize) n, OUTPUT_MAX - output->len));
          else if (n == 0)
            eof = TRUE;
        }
      else if (eof)
        g_usleep ((gulong) wait_ms * 1000);
    }
  /* what the hook wrote before it exited is in the pipe already */
  for (;;)
    {
      struct pollfd pfd = { .fd = out[0], .events = POLLIN };
      char buf[1024];
      ssize_t n;
      if (eof || poll (&pfd, 1, 0) <= 0 || (n = read (out[0], buf, sizeof buf)) <= 0)
        break;
      if (output->len < OUTPUT_MAX)
        g_string_append_len (output, buf, MIN ((gsize) n, OUTPUT_MAX - output->len));
    }
  close (out[0]);
  g_spawn_close_pid (pid);
  g_strchomp (output->str);

  const char *sep = output->len ? ": " : "";
  if (timed_out)
    g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "%s timed out after %d s%s%s", what,
                 h->timeout_s, sep, output->str);
  else if (WIFSIGNALED (status))
    g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s was killed by signal %d%s%s", what,
                 WTERMSIG (status), sep, output->str);
  else if (WIFEXITED (status) && WEXITSTATUS (status) != 0)
    g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s exited with status %d%s%s", what,
                 WEXITSTATUS (status), sep, output->str);
  else
    return TRUE;
  return FALSE;
}

gboolean
vc_hooks_run (const VcHooks *hooks, VcHookKind kind, const char *state_json, GError **error)
{
  for (guint i = 0; i < vc_hooks_count (hooks, kind); i++)
    if (!run_one (hooks->kinds[kind]->pdata[i], kind, i, state_json, error))
      return FALSE;
  return TRUE;
}

void
vc_hooks_run_warn (const VcHooks *hooks, VcHookKind kind, const char *state_json)
{
  for (guint i = 0; i < vc_hooks_count (hooks, kind); i++)
    {
      g_autoptr(GError) error = NULL;
      if (!run_one (hooks->kinds[kind]->pdata[i], kind, i, state_json, &error))
        g_warning ("%s", error->message);
    }
}

/* ---- the guest's share and poststop across processes ------------------------ */

char *
vc_hooks_guest_json (const char *json, const char *root_path, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, json, -1, error))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  JsonObject *spec = json_node_get_object (root);
  JsonNode *hooks = json_object_get_member (spec, "hooks");
  if (hooks == NULL || !JSON_NODE_HOLDS_OBJECT (hooks))
    return NULL;
  JsonObject *o = json_node_get_object (hooks);
  for (int k = 0; k < VC_HOOK_KINDS; k++)
    {
      if (k != VC_HOOK_CREATE_CONTAINER && k != VC_HOOK_START_CONTAINER)
        {
          json_object_remove_member (o, kind_names[k]);
          continue;
        }
      JsonNode *list = json_object_get_member (o, kind_names[k]);
      if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
        continue;
      JsonArray *a = json_node_get_array (list);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          if (!JSON_NODE_HOLDS_OBJECT (e))
            continue;
          JsonObject *h = json_node_get_object (e);
          const char *path = json_object_get_string_member_with_default (h, "path", NULL);
          gsize n = root_path ? strlen (root_path) : 0;
          while (n > 1 && root_path[n - 1] == '/')
            n--;
          if (path && n > 1 && strncmp (path, root_path, n) == 0 && path[n] == '/')
            {
              g_autofree char *inside = g_strdup (path + n);
              json_object_set_string_member (h, "path", inside);
            }
        }
    }
  return json_to_string (root, FALSE);
}

static char *
saved_path (const char *dir, const char *id)
{
  g_autofree char *name = g_strdup_printf ("%s.hooks.json", id);
  return g_build_filename (dir, name, NULL);
}

static gboolean
has_hooks (JsonObject *hooks, const char *kind)
{
  JsonNode *n = hooks ? json_object_get_member (hooks, kind) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) && json_array_get_length (json_node_get_array (n)) > 0;
}

gboolean
vc_hooks_save (const char *dir, const char *id, const char *spec_json, const char *bundle,
               GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, spec_json, -1, error))
    return FALSE;
  JsonObject *spec = json_node_get_object (json_parser_get_root (parser));
  JsonNode *hooks = json_object_get_member (spec, "hooks");
  JsonObject *ho = hooks && JSON_NODE_HOLDS_OBJECT (hooks) ? json_node_get_object (hooks) : NULL;
  if (!has_hooks (ho, "poststart") && !has_hooks (ho, "poststop"))
    return TRUE;

  g_autoptr(JsonObject) saved = json_object_new ();
  JsonObject *saved_hooks = json_object_new ();
  if (has_hooks (ho, "poststart"))
    json_object_set_member (saved_hooks, "poststart", json_node_copy (json_object_get_member (ho, "poststart")));
  if (has_hooks (ho, "poststop"))
    json_object_set_member (saved_hooks, "poststop", json_node_copy (json_object_get_member (ho, "poststop")));
  json_object_set_object_member (saved, "hooks", saved_hooks);
  json_object_set_string_member (saved, "bundle", bundle);
  JsonNode *version = json_object_get_member (spec, "ociVersion");
  if (version)
    json_object_set_member (saved, "ociVersion", json_node_copy (version));
  JsonNode *annotations = json_object_get_member (spec, "annotations");
  if (annotations)
    json_object_set_member (saved, "annotations", json_node_copy (annotations));
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), saved);
  g_autofree char *text = json_to_string (node, FALSE);
  g_autofree char *path = saved_path (dir, id);
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

void
vc_hooks_run_saved (const char *dir, const char *id, VcHookKind kind, const char *status, gint pid,
                    gboolean remove)
{
  g_autofree char *path = saved_path (dir, id);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return;
  gboolean loaded = json_parser_load_from_file (parser, path, &error);
  /* Removed before running: a poststop hook runs once, even if it kills us. */
  if (remove)
    g_unlink (path);
  if (!loaded || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_warning ("container %s: %s hooks: %s: %s", id, kind_names[kind], path,
                 error ? error->message : "not a JSON object");
      return;
    }
  JsonObject *saved = json_node_get_object (json_parser_get_root (parser));
  g_autoptr(VcHooks) hooks = vc_hooks_parse (json_object_get_member (saved, "hooks"), path, &error);
  if (hooks == NULL)
    {
      g_warning ("container %s: %s hooks: %s", id, kind_names[kind], error->message);
      return;
    }
  if (vc_hooks_count (hooks, kind) == 0)
    return;
  JsonNode *annotations = json_object_get_member (saved, "annotations");
  g_autofree char *annotations_json = annotations ? json_to_string (annotations, FALSE) : NULL;
  g_autofree char *state = vc_hook_state_json (
      json_object_get_string_member_with_default (saved, "ociVersion", NULL), id, status, pid,
      json_object_get_string_member_with_default (saved, "bundle", NULL), annotations_json);
  vc_hooks_run_warn (hooks, kind, state);
}

void
vc_hooks_forget (const char *dir, const char *id)
{
  g_autofree char *path = saved_path (dir, id);
  g_unlink (path);
}
