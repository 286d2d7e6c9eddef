/* vcrun --bus update and events --stats: Container.Update and GetStats on
 * vcrund, printing what embedded mode prints. */
#include "config.h"

#include <stdio.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "bus.h"

static gboolean
open_container (VcCli *cli, const char *name, const char *id, VcBusTarget *t, int *status)
{
  g_autoptr(GError) error = NULL;
  if (!vc_bus_open (cli, id, t, &error))
    *status = vc_bus_fail (error);
  else if (t->container == NULL)
    *status = vc_cli_fail_msg ("%s: container %s is still being created", name, id);
  else
    return TRUE;
  return FALSE;
}

int
vc_cmd_update_bus (VcCli *cli, const VcCliArgs *args)
{
  g_auto(VcBusTarget) t = { 0 };
  g_autoptr(GError) error = NULL;
  int status;
  if (!open_container (cli, "update", args->id, &t, &status))
    return status;
  GVariantBuilder options;
  g_variant_builder_init (&options, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&options, "{sv}", "resources", g_variant_new_string (args->resources_json));
  g_autoptr(GVariant) reply = vc_bus_call (t.bus, t.container, VC_BUS_IFACE_C, "Update",
                                           g_variant_new ("(a{sv})", &options), "(s)", NULL, &error);
  if (reply == NULL)
    return vc_bus_fail (error);
  const char *notes = NULL;
  g_variant_get (reply, "(&s)", &notes);
  if (*notes)
    fprintf (stderr, "vcrun: update %s: %s", args->id, notes);
  return 0;
}

static JsonObject *
child (JsonObject *parent, const char *name)
{
  JsonObject *o = json_object_new ();
  json_object_set_object_member (parent, name, o);
  return o;
}

JsonObject *
vc_bus_container_stats (VcCli *cli, const char *id, GError **error)
{
  g_auto(VcBusTarget) t = { 0 };
  if (!vc_bus_open (cli, id, &t, error))
    return NULL;
  if (t.container == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_STATE, "container %s is still being created", id);
      return NULL;
    }
  g_autoptr(GVariant) reply = vc_bus_call (t.bus, t.container, VC_BUS_IFACE_C, "GetStats", NULL,
                                           "(a{st})", NULL, error);
  if (reply == NULL)
    return NULL;
  g_autoptr(GVariant) stats = g_variant_get_child_value (reply, 0);
  guint64 v[12] = { 0 };
  static const char *const names[] = { "cpu_usage_ns", "memory_usage_bytes", "memory_limit_bytes",
                                       "pids_current", "blkio_read_bytes", "blkio_write_bytes",
                                       "net_rx_bytes", "net_tx_bytes", "vmm_cpu_time_ns",
                                       "vmm_rss_bytes" };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    g_variant_lookup (stats, names[i], "t", &v[i]);

  /* The shape of vc_container_stats, as embedded mode prints it. */
  JsonObject *data = json_object_new ();
  json_object_set_int_member (child (child (data, "cpu"), "usage"), "total", (gint64) v[0]);
  JsonObject *mem = child (child (data, "memory"), "usage");
  json_object_set_int_member (mem, "usage", (gint64) v[1]);
  json_object_set_int_member (mem, "limit", (gint64) v[2]);
  json_object_set_int_member (child (data, "pids"), "current", (gint64) v[3]);
  JsonArray *io = json_array_new ();
  for (int i = 0; i < 2; i++)
    {
      JsonObject *e = json_object_new ();
      json_object_set_string_member (e, "op", i == 0 ? "Read" : "Write");
      json_object_set_int_member (e, "value", (gint64) v[4 + i]);
      json_array_add_object_element (io, e);
    }
  json_object_set_array_member (child (data, "blkio"), "ioServiceBytesRecursive", io);
  JsonObject *net = child (data, "network");
  json_object_set_int_member (net, "rx_bytes", (gint64) v[6]);
  json_object_set_int_member (net, "tx_bytes", (gint64) v[7]);
  JsonObject *vmm = child (data, "vmm");
  json_object_set_int_member (vmm, "cpu_time_ns", (gint64) v[8]);
  json_object_set_int_member (vmm, "rss_bytes", (gint64) v[9]);
  return data;
}

int
vc_cmd_events_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) data = vc_bus_container_stats (cli, args->id, &error);
  if (data == NULL)
    return vc_bus_fail (error);
  vc_cli_print_stats (args->id, data);
  return 0;
}
