/* vcrun --bus template create|list|rm: vcrund's templates, through the
 * Manager's ListTemplates, CreateTemplate and RemoveTemplates. */
#include "config.h"

#include <stdio.h>

#include "bus.h"
#include "cli.h"

/* Building a template boots a guest: as long as a sandbox boot may take. */
#define CREATE_TIMEOUT_MS (10 * 60 * 1000)

static int
list (GDBusConnection *bus, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = vc_bus_call (bus, VC_BUS_MANAGER, VC_BUS_IFACE_M, "ListTemplates", NULL,
                                           "(a(sssxtbs))", NULL, &error);
  if (reply == NULL)
    return vc_bus_fail (error);
  g_autoptr(GPtrArray) templates = g_ptr_array_new_with_free_func ((GDestroyNotify) vc_template_info_free);
  g_autoptr(GVariantIter) iter = NULL;
  const char *key, *dir, *summary, *why;
  gint64 created;
  guint64 bytes;
  gboolean usable;
  g_variant_get (reply, "(a(sssxtbs))", &iter);
  while (g_variant_iter_next (iter, "(&s&s&sxtb&s)", &key, &dir, &summary, &created, &bytes, &usable, &why))
    {
      VcTemplateInfo *t = g_new0 (VcTemplateInfo, 1);
      t->key = g_strdup (key);
      t->dir = g_strdup (dir);
      t->summary = g_strdup (summary);
      t->created = created;
      t->bytes = bytes;
      t->usable = usable;
      t->why = *why ? g_strdup (why) : NULL;
      g_ptr_array_add (templates, t);
    }
  vc_cli_print_templates (templates, args->format);
  return 0;
}

int
vc_cmd_template_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = vc_bus_connect (cli, &error);
  if (bus == NULL)
    return vc_bus_fail (error);
  if (g_str_equal (args->action, "list"))
    return list (bus, args);
  if (g_str_equal (args->action, "rm"))
    {
      g_autoptr(GVariant) reply = vc_bus_call (bus, VC_BUS_MANAGER, VC_BUS_IFACE_M, "RemoveTemplates",
                                               g_variant_new ("(s)", args->all || !args->id ? "" : args->id),
                                               "(u)", NULL, &error);
      if (reply == NULL)
        return vc_bus_fail (error);
      guint removed = 0;
      g_variant_get (reply, "(u)", &removed);
      printf ("removed %u template%s\n", removed, removed == 1 ? "" : "s");
      return 0;
    }
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync (
      bus, VC_BUS_NAME, VC_BUS_MANAGER, VC_BUS_IFACE_M, "CreateTemplate", NULL, G_VARIANT_TYPE ("(s)"),
      G_DBUS_CALL_FLAGS_NONE, CREATE_TIMEOUT_MS, NULL, &error);
  if (reply == NULL)
    return vc_bus_fail (error);
  const char *dir = NULL;
  g_variant_get (reply, "(&s)", &dir);
  printf ("%s\n", dir);
  return 0;
}
