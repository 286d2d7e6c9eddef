/* vcrund: Container.Update and Container.GetStats, a container's resources
 * (vc_container_update, vc_container_stats) on the bus. */
#include "config.h"

#include "vcrund.h"

typedef struct {
  VcdContainer          *container;
  GDBusMethodInvocation *invocation;
  char                  *resources_json;
  char                  *notes;
  JsonObject            *stats;
} ResourcesCall;

static void
resources_call_free (gpointer data)
{
  ResourcesCall *call = data;
  vcd_container_unref (call->container);
  g_free (call->resources_json);
  g_free (call->notes);
  if (call->stats)
    json_object_unref (call->stats);
  g_free (call);
}

static ResourcesCall *
resources_call_new (VcdContainer *container, GDBusMethodInvocation *invocation)
{
  ResourcesCall *call = g_new0 (ResourcesCall, 1);
  call->container = vcd_container_ref (container);
  call->invocation = invocation;
  return call;
}

static void
run (ResourcesCall *call, VcdWorkFunc work, VcdDoneFunc done)
{
  VcdDaemon *daemon = vcd_sandbox_get_daemon (vcd_container_get_sandbox (call->container));
  vcd_worker_run (vcd_daemon_get_worker (daemon), work, done, call, resources_call_free);
}

static gboolean
refuse_unowned (VcdContainer *container, GDBusMethodInvocation *invocation)
{
  g_autoptr(GError) error = NULL;
  if (vcd_sandbox_check_owned (vcd_container_get_sandbox (container), &error))
    return FALSE;
  vcd_return_error (invocation, error);
  return TRUE;
}

/* The a{sv} options as one LinuxResources object; unknown keys refused. */
static char *
options_to_resources (GVariant *options, GError **error)
{
  g_autoptr(JsonObject) res = NULL;
  const char *text = NULL;
  if (g_variant_lookup (options, "resources", "&s", &text))
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) local = NULL;
      if (!json_parser_load_from_data (parser, text, -1, &local)
          || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "options: resources: %s",
                       local ? local->message : "not a JSON object (an OCI LinuxResources)");
          return NULL;
        }
      res = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
    }
  else
    res = json_object_new ();

  GVariantIter iter;
  const char *key;
  GVariant *value;
  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      if (g_str_equal (key, "resources"))
        {
          if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
            goto wrong_type;
        }
      else if (g_str_equal (key, "cpus"))
        {
          if (!g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
            goto wrong_type;
          double cpus = g_variant_get_double (value);
          if (!(cpus > 0) || cpus > 4096)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "options: cpus: %g is not a positive number of CPUs", cpus);
              return NULL;
            }
          JsonObject *cpu = json_object_new ();
          json_object_set_int_member (cpu, "period", 100000);
          json_object_set_int_member (cpu, "quota", (gint64) (cpus * 100000 + 0.5));
          json_object_set_object_member (res, "cpu", cpu);
        }
      else if (g_str_equal (key, "memory"))
        {
          if (!g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
            goto wrong_type;
          guint64 limit = g_variant_get_uint64 (value);
          if (limit == 0 || limit > G_MAXINT64)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                           "options: memory: %" G_GUINT64_FORMAT " is not a limit in bytes", limit);
              return NULL;
            }
          JsonObject *mem = json_object_new ();
          json_object_set_int_member (mem, "limit", (gint64) limit);
          json_object_set_object_member (res, "memory", mem);
        }
      else
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "options: unknown key '%s' (resources, cpus, memory)", key);
          return NULL;
        }
      continue;
    wrong_type:
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "options: %s: wrong type %s", key,
                   g_variant_get_type_string (value));
      return NULL;
    }
  if (json_object_get_size (res) == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "options: nothing to change (resources, cpus or memory)");
      return NULL;
    }
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), res);
  return json_to_string (node, FALSE);
}

static gboolean
work_update (gpointer data, GError **error)
{
  ResourcesCall *call = data;
  return vc_container_update (vcd_container_get_handle (call->container), call->resources_json,
                              &call->notes, error);
}

static void
done_update (gpointer data, const GError *error)
{
  ResourcesCall *call = data;
  /* Vcpus and MemoryMib changed. */
  vcd_sandbox_sync (vcd_container_get_sandbox (call->container));
  if (error)
    vcd_return_error (call->invocation, error);
  else
    g_dbus_method_invocation_return_value (call->invocation,
                                           g_variant_new ("(s)", call->notes ? call->notes : ""));
}

static gboolean
on_handle_update (VcdBusContainer *iface, GDBusMethodInvocation *invocation, GVariant *options,
                  gpointer user_data)
{
  VcdContainer *container = user_data;
  if (refuse_unowned (container, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  g_autoptr(GError) error = NULL;
  g_autofree char *resources = options_to_resources (options, &error);
  if (resources == NULL)
    {
      vcd_return_error (invocation, error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  ResourcesCall *call = resources_call_new (container, invocation);
  call->resources_json = g_steal_pointer (&resources);
  run (call, work_update, done_update);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
work_stats (gpointer data, GError **error)
{
  ResourcesCall *call = data;
  call->stats = vc_container_stats (vcd_container_get_handle (call->container), error);
  return call->stats != NULL;
}

static guint64
path_uint (JsonObject *o, const char *const *path)
{
  for (; path[1] != NULL; path++)
    {
      JsonNode *n = json_object_get_member (o, path[0]);
      if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
        return 0;
      o = json_node_get_object (n);
    }
  JsonNode *n = json_object_get_member (o, path[0]);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return 0;
  return (guint64) MAX (json_node_get_int (n), 0);
}

static guint64
blkio (JsonObject *data, const char *op)
{
  JsonNode *b = json_object_get_member (data, "blkio");
  JsonArray *a = b && JSON_NODE_HOLDS_OBJECT (b)
                   ? json_object_get_array_member (json_node_get_object (b), "ioServiceBytesRecursive")
                   : NULL;
  for (guint i = 0; a && i < json_array_get_length (a); i++)
    {
      JsonObject *e = json_array_get_object_element (a, i);
      if (e && g_strcmp0 (json_object_get_string_member_with_default (e, "op", NULL), op) == 0)
        return (guint64) MAX (json_object_get_int_member_with_default (e, "value", 0), 0);
    }
  return 0;
}

static void
done_stats (gpointer data, const GError *error)
{
  ResourcesCall *call = data;
  if (error)
    {
      vcd_return_error (call->invocation, error);
      return;
    }
  static const struct { const char *name; const char *path[4]; } figures[] = {
    { "cpu_usage_ns", { "cpu", "usage", "total", NULL } },
    { "memory_usage_bytes", { "memory", "usage", "usage", NULL } },
    { "memory_limit_bytes", { "memory", "usage", "limit", NULL } },
    { "pids_current", { "pids", "current", NULL } },
    { "net_rx_bytes", { "network", "rx_bytes", NULL } },
    { "net_tx_bytes", { "network", "tx_bytes", NULL } },
    { "vmm_cpu_time_ns", { "vmm", "cpu_time_ns", NULL } },
    { "vmm_rss_bytes", { "vmm", "rss_bytes", NULL } },
  };
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{st}"));
  for (gsize i = 0; i < G_N_ELEMENTS (figures); i++)
    g_variant_builder_add (&b, "{st}", figures[i].name, path_uint (call->stats, figures[i].path));
  g_variant_builder_add (&b, "{st}", "blkio_read_bytes", blkio (call->stats, "Read"));
  g_variant_builder_add (&b, "{st}", "blkio_write_bytes", blkio (call->stats, "Write"));
  g_dbus_method_invocation_return_value (call->invocation, g_variant_new ("(a{st})", &b));
}

static gboolean
on_handle_get_stats (VcdBusContainer *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  VcdContainer *container = user_data;
  if (!refuse_unowned (container, invocation))
    run (resources_call_new (container, invocation), work_stats, done_stats);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
vcd_container_resources_connect (VcdContainer *container, VcdBusContainer *iface)
{
  g_signal_connect (iface, "handle-update", G_CALLBACK (on_handle_update), container);
  g_signal_connect (iface, "handle-get-stats", G_CALLBACK (on_handle_get_stats), container);
}
