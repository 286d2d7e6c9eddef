/* vcrun template create|list|rm: the saved guests sandboxes start from
 * (core/template.h). `create` boots a throw-away sandbox with templates on,
 * which builds the template for the configuration's sandbox settings (or
 * finds it current), then deletes the sandbox. With --bus, vcrund does the
 * same with its own configuration (cli/bus-template.c). */
#include "config.h"

#include <stdio.h>

#include "cli.h"

static JsonObject *
template_json (const VcTemplateInfo *t)
{
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "key", t->key);
  json_object_set_string_member (o, "dir", t->dir);
  json_object_set_string_member (o, "hypervisor", t->hypervisor ? t->hypervisor : "");
  json_object_set_string_member (o, "fs", t->fs ? t->fs : "");
  json_object_set_string_member (o, "summary", t->summary ? t->summary : "");
  json_object_set_int_member (o, "created", t->created);
  json_object_set_int_member (o, "bytes", (gint64) t->bytes);
  json_object_set_string_member (o, "status", t->usable ? "ok" : "stale");
  if (t->why)
    json_object_set_string_member (o, "why", t->why);
  return o;
}

void
vc_cli_print_templates (GPtrArray *templates, const char *format)
{
  if (format && g_str_equal (format, "json"))
    {
      g_autoptr(JsonArray) array = json_array_new ();
      for (guint i = 0; i < templates->len; i++)
        json_array_add_object_element (array, template_json (templates->pdata[i]));
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);
      json_node_set_array (node, json_array_ref (array));
      vc_cli_print_json (node);
      return;
    }
  printf ("%-32s  %-6s %-9s %-20s %s\n", "KEY", "STATUS", "SIZE", "CREATED", "BUILT FOR");
  for (guint i = 0; i < templates->len; i++)
    {
      const VcTemplateInfo *t = templates->pdata[i];
      g_autofree char *created = t->created ? vc_cli_format_time (t->created) : g_strdup ("?");
      g_autofree char *size = g_format_size (t->bytes);
      printf ("%-32s  %-6s %-9s %-20s %s%s%s%s\n", t->key, t->usable ? "ok" : "stale", size, created,
              t->summary ? t->summary : "", t->why ? " (" : "", t->why ? t->why : "", t->why ? ")" : "");
    }
}

static int
list (VcRuntime *runtime, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) templates = vc_runtime_list_templates (runtime, &error);
  if (templates == NULL)
    return vc_cli_fail (error);
  vc_cli_print_templates (templates, args->format);
  return 0;
}

static int
remove_templates (VcRuntime *runtime, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  guint removed = 0;
  if (!vc_runtime_remove_templates (runtime, args->all ? NULL : args->id, &removed, &error))
    return vc_cli_fail (error);
  printf ("removed %u template%s\n", removed, removed == 1 ? "" : "s");
  return 0;
}

static int
create (VcRuntime *runtime)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = vc_runtime_build_template (runtime, &error);
  if (dir == NULL)
    return vc_cli_fail (error);
  printf ("%s\n", dir);
  return 0;
}

int
vc_cmd_template (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, &error);
  if (runtime == NULL)
    return vc_cli_fail (error);
  if (g_str_equal (args->action, "list"))
    return list (runtime, args);
  if (g_str_equal (args->action, "rm"))
    return remove_templates (runtime, args);
  return create (runtime);
}
