/* vcrun: what the commands derive from a bundle's config.json (embedded and
 * --bus alike): the process object of an exec, and the copy of a bundle that
 * run -t boots. */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "cli.h"

/* The container's process object from its config.json, with the options
 * applied. */
JsonNode *
vc_cli_exec_process (const char *bundle, char **args, gboolean tty, const char *cwd, char **env,
                     const char *user, GError **error)
{
  g_autofree char *path = g_build_filename (bundle, "config.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *process = NULL;
  if (json_parser_load_from_file (parser, path, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *spec = json_node_get_object (json_parser_get_root (parser));
      JsonNode *p = json_object_get_member (spec, "process");
      if (p && JSON_NODE_HOLDS_OBJECT (p))
        process = json_object_ref (json_node_get_object (p));
    }
  if (process == NULL)
    process = json_object_new ();
  g_autoptr(JsonObject) owned = process;

  JsonArray *argv = json_array_new ();
  for (char **a = args; *a; a++)
    json_array_add_string_element (argv, *a);
  json_object_set_array_member (process, "args", argv);
  json_object_set_boolean_member (process, "terminal", tty);
  if (cwd)
    {
      if (!g_path_is_absolute (cwd))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "exec: --cwd must be an absolute path, not '%s'", cwd);
          return NULL;
        }
      json_object_set_string_member (process, "cwd", cwd);
    }
  if (!json_object_has_member (process, "cwd"))
    json_object_set_string_member (process, "cwd", "/");

  /* -e K=V replaces K's value from config.json, or adds it. */
  JsonArray *old_env = json_object_has_member (process, "env")
                       ? json_object_get_array_member (process, "env") : NULL;
  JsonArray *new_env = json_array_new ();
  for (guint i = 0; old_env && i < json_array_get_length (old_env); i++)
    {
      const char *entry = json_array_get_string_element (old_env, i);
      if (entry == NULL)
        continue;
      gboolean replaced = FALSE;
      for (char **e = env; e && *e && !replaced; e++)
        {
          const char *eq = strchr (*e, '=');
          replaced = eq && strncmp (entry, *e, eq - *e + 1) == 0;
        }
      if (!replaced)
        json_array_add_string_element (new_env, entry);
    }
  for (char **e = env; e && *e; e++)
    {
      if (strchr (*e, '=') == NULL || **e == '=')
        {
          json_array_unref (new_env);
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "exec: -e takes KEY=VALUE, not '%s'", *e);
          return NULL;
        }
      json_array_add_string_element (new_env, *e);
    }
  json_object_set_array_member (process, "env", new_env);

  if (user)
    {
      g_auto(GStrv) parts = g_strsplit (user, ":", 2);
      guint64 uid, gid = 0;
      if (!g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXUINT32 - 1, &uid, NULL)
          || (parts[1] && !g_ascii_string_to_unsigned (parts[1], 10, 0, G_MAXUINT32 - 1, &gid, NULL)))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "exec: --user takes UID[:GID] (numbers), not '%s'", user);
          return NULL;
        }
      JsonObject *u = json_object_new ();
      json_object_set_int_member (u, "uid", (gint64) uid);
      json_object_set_int_member (u, "gid", (gint64) gid);
      json_object_set_object_member (process, "user", u);
    }
  else if (!json_object_has_member (process, "user"))
    {
      JsonObject *u = json_object_new ();
      json_object_set_int_member (u, "uid", 0);
      json_object_set_int_member (u, "gid", 0);
      json_object_set_object_member (process, "user", u);
    }
  return json_node_init_object (json_node_alloc (), process);
}

static char *
copy_with_terminal (const char *bundle, GError **error)
{
  g_autofree char *path = g_build_filename (bundle, "config.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, path, error))
    return NULL;
  JsonObject *spec = json_node_get_object (json_parser_get_root (parser));
  JsonObject *process = json_object_get_object_member (spec, "process");
  JsonObject *root = json_object_get_object_member (spec, "root");
  json_object_set_boolean_member (process, "terminal", TRUE);
  const char *root_path = json_object_get_string_member (root, "path");
  g_autofree char *abs_root = g_path_is_absolute (root_path) ? g_strdup (root_path)
                                                             : g_build_filename (bundle, root_path, NULL);
  json_object_set_string_member (root, "path", abs_root);

  g_autofree char *dir = g_dir_make_tmp ("vcrun-bundle-XXXXXX", error);
  if (dir == NULL)
    return NULL;
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, json_parser_get_root (parser));
  g_autofree char *copy = g_build_filename (dir, "config.json", NULL);
  if (!json_generator_to_file (generator, copy, error))
    {
      rmdir (dir);
      return NULL;
    }
  return g_steal_pointer (&dir);
}

/* A copy of bundle whose config.json asks for a terminal (run -t); its
 * root.path points at the original rootfs. */
char *
vc_cli_bundle_with_terminal (const char *bundle, GError **error)
{
  char *dir = copy_with_terminal (bundle, error);
  if (dir == NULL)
    g_prefix_error (error, "run: cannot prepare the bundle for --tty: ");
  return dir;
}

void
vc_cli_remove_bundle_copy (const char *dir)
{
  g_autofree char *copy = g_build_filename (dir, "config.json", NULL);
  unlink (copy);
  rmdir (dir);
}
