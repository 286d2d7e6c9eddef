/* vcrun stats: `podman stats`-style table of running containers' figures
 * (CPU %, memory usage / limit, pids, block and network I/O, and the VMM's
 * host RSS and CPU %), from the same source as `events --stats`: the owner's
 * stats in embedded mode, Container.GetStats with --bus. CPU percentages are
 * the growth of the CPU time between two samples one interval apart, over
 * that interval (100% = one CPU busy). */
#include "config.h"

#include <stdio.h>

#include <vcrun/types.h>
#include "cli.h"
#include "bus.h"

#define DEFAULT_INTERVAL_MS 1000

typedef JsonObject *(*StatsFetch) (VcCli *cli, const char *id, GError **error);

const GOptionEntry vc_cli_stats_options[] = {
  VC_CLI_STRING ("format", 'f', format, "table (default) or json", "FORMAT"),
  VC_CLI_FLAG ("no-stream", 0, no_stream, "print one sample and exit"),
  VC_CLI_STRING ("interval", 'i', interval, "milliseconds between samples (default 1000)", "MS"),
  { NULL }
};

gboolean
vc_cli_check_stats (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv,
                    GError **error)
{
  (void) command;
  if (args->format && !g_str_equal (args->format, "table") && !g_str_equal (args->format, "json"))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "stats: --format '%s': expected table or json", args->format);
      return FALSE;
    }
  args->interval_ms = DEFAULT_INTERVAL_MS;
  if (args->interval)
    {
      char *end;
      guint64 v = g_ascii_strtoull (args->interval, &end, 10);
      if (end == args->interval || *end != '\0' || v < 10 || v > 3600000)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "stats: --interval '%s': expected 10 to 3600000 milliseconds", args->interval);
          return FALSE;
        }
      args->interval_ms = (guint) v;
    }
  for (int i = 1; i < argc; i++)
    if (!vc_id_validate (argv[i], "container", error))
      return FALSE;
  args->ids = argc > 1 ? argv + 1 : NULL;
  return TRUE;
}

static gint64
member (JsonObject *data, const char *a, const char *b, const char *c)
{
  JsonObject *o = json_object_get_object_member (data, a);
  if (o != NULL && c != NULL)
    o = json_object_has_member (o, b) ? json_object_get_object_member (o, b) : NULL;
  const char *last = c != NULL ? c : b;
  return o != NULL ? json_object_get_int_member_with_default (o, last, 0) : 0;
}

static gint64
blkio (JsonObject *data, const char *op)
{
  JsonObject *b = json_object_get_object_member (data, "blkio");
  JsonArray *a = b ? json_object_get_array_member (b, "ioServiceBytesRecursive") : NULL;
  gint64 sum = 0;
  for (guint i = 0; a && i < json_array_get_length (a); i++)
    {
      JsonObject *e = json_array_get_object_element (a, i);
      if (e && g_ascii_strcasecmp (json_object_get_string_member_with_default (e, "op", ""), op) == 0)
        sum += json_object_get_int_member_with_default (e, "value", 0);
    }
  return sum;
}

/* One container's row from two samples taken elapsed_ns apart. */
static JsonObject *
row_new (const char *id, JsonObject *before, JsonObject *after, gint64 elapsed_ns)
{
  gint64 cpu0 = member (before, "cpu", "usage", "total"), cpu1 = member (after, "cpu", "usage", "total");
  gint64 vmm0 = member (before, "vmm", "cpu_time_ns", NULL), vmm1 = member (after, "vmm", "cpu_time_ns", NULL);
  gint64 usage = member (after, "memory", "usage", "usage"), limit = member (after, "memory", "usage", "limit");
  JsonObject *row = json_object_new ();
  json_object_set_string_member (row, "id", id);
  json_object_set_double_member (row, "cpu_percent", elapsed_ns > 0 ? MAX (cpu1 - cpu0, 0) * 100.0 / elapsed_ns : 0);
  json_object_set_int_member (row, "cpu_usage_ns", cpu1);
  json_object_set_int_member (row, "memory_usage_bytes", usage);
  json_object_set_int_member (row, "memory_limit_bytes", limit);
  json_object_set_double_member (row, "memory_percent", limit > 0 ? usage * 100.0 / limit : 0);
  json_object_set_int_member (row, "pids", member (after, "pids", "current", NULL));
  json_object_set_int_member (row, "block_read_bytes", blkio (after, "read"));
  json_object_set_int_member (row, "block_write_bytes", blkio (after, "write"));
  json_object_set_int_member (row, "net_rx_bytes", member (after, "network", "rx_bytes", NULL));
  json_object_set_int_member (row, "net_tx_bytes", member (after, "network", "tx_bytes", NULL));
  json_object_set_int_member (row, "vmm_rss_bytes", member (after, "vmm", "rss_bytes", NULL));
  json_object_set_int_member (row, "vmm_cpu_time_ns", vmm1);
  json_object_set_double_member (row, "vmm_cpu_percent",
                                 elapsed_ns > 0 ? MAX (vmm1 - vmm0, 0) * 100.0 / elapsed_ns : 0);
  return row;
}

/* "2.109MB", as podman prints sizes: four significant digits, decimal units. */
static char *
size_text (gint64 bytes)
{
  static const char *const units[] = { "kB", "MB", "GB", "TB", "PB" };
  if (bytes < 1000)
    return g_strdup_printf ("%" G_GINT64_FORMAT "B", MAX (bytes, 0));
  double v = (double) bytes / 1000;
  guint u = 0;
  while (v >= 1000 && u + 1 < G_N_ELEMENTS (units))
    {
      v /= 1000;
      u++;
    }
  return g_strdup_printf ("%.4g%s", v, units[u]);
}

static void
print_table (JsonArray *rows)
{
  printf ("%-20s %-8s %-22s %-8s %-22s %-22s %-6s %-10s %s\n", "ID", "CPU %", "MEM USAGE / LIMIT",
          "MEM %", "NET IO", "BLOCK IO", "PIDS", "VMM RSS", "VMM CPU %");
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *r = json_array_get_object_element (rows, i);
#define SIZE(name) g_autofree char *name = size_text (json_object_get_int_member (r, #name))
      SIZE (memory_usage_bytes);
      SIZE (memory_limit_bytes);
      SIZE (net_rx_bytes);
      SIZE (net_tx_bytes);
      SIZE (block_read_bytes);
      SIZE (block_write_bytes);
      SIZE (vmm_rss_bytes);
#undef SIZE
      /* no limit in the guest's cgroup: "max", as cgroup v2 says */
      gboolean limited = json_object_get_int_member (r, "memory_limit_bytes") > 0;
      g_autofree char *mem = g_strdup_printf ("%s / %s", memory_usage_bytes,
                                              limited ? memory_limit_bytes : "max");
      g_autofree char *net = g_strdup_printf ("%s / %s", net_rx_bytes, net_tx_bytes);
      g_autofree char *blk = g_strdup_printf ("%s / %s", block_read_bytes, block_write_bytes);
      g_autofree char *cpu = g_strdup_printf ("%.2f%%", json_object_get_double_member (r, "cpu_percent"));
      g_autofree char *memp = limited ? g_strdup_printf ("%.2f%%", json_object_get_double_member (r, "memory_percent"))
                                      : g_strdup ("--");
      printf ("%-20s %-8s %-22s %-8s %-22s %-22s %-6" G_GINT64_FORMAT " %-10s %.2f%%\n",
              json_object_get_string_member (r, "id"), cpu, mem, memp, net, blk,
              json_object_get_int_member (r, "pids"), vmm_rss_bytes,
              json_object_get_double_member (r, "vmm_cpu_percent"));
    }
  fflush (stdout);
}

/* The containers to show: those named, or every container (of each
 * sandbox, which holds the container of its own ID). */
static GPtrArray *
list_ids (VcCli *cli, const VcCliArgs *args, GError **error)
{
  GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
  for (char **id = args->ids; id && *id; id++)
    g_ptr_array_add (ids, g_strdup (*id));
  if (args->ids != NULL)
    return ids;
  if (cli->bus == NULL)
    {
      g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, error);
      g_autoptr(GPtrArray) all = runtime ? vc_sandbox_list (runtime, error) : NULL;
      if (all == NULL)
        {
          g_ptr_array_unref (ids);
          return NULL;
        }
      for (guint i = 0; i < all->len; i++)
        g_ptr_array_add (ids, g_strdup (all->pdata[i]));
      return ids;
    }
  g_autoptr(GDBusConnection) bus = vc_bus_connect (cli, error);
  g_autoptr(GVariant) reply = bus ? vc_bus_call (bus, VC_BUS_MANAGER, VC_BUS_IFACE_M, "ListSandboxes",
                                                 NULL, "(ao)", NULL, error) : NULL;
  if (reply == NULL)
    {
      g_ptr_array_unref (ids);
      return NULL;
    }
  g_autoptr(GVariantIter) iter = NULL;
  const char *path;
  g_variant_get (reply, "(ao)", &iter);
  while (g_variant_iter_next (iter, "&o", &path))
    {
      char *id = vc_bus_get_string (bus, path, VC_BUS_IFACE_S, "Id");
      if (id != NULL)
        g_ptr_array_add (ids, id);
    }
  return ids;
}

/* Samples every container twice, interval_ms apart; a container named on
 * the command line that gives no figures is an error, one found by listing
 * (stopped, being created) is left out. */
static JsonArray *
sample (VcCli *cli, const VcCliArgs *args, StatsFetch fetch, GPtrArray *ids, GError **error)
{
  g_autoptr(GPtrArray) first = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  gint64 t0 = g_get_monotonic_time ();
  for (guint i = 0; i < ids->len; i++)
    {
      g_autoptr(GError) local = NULL;
      JsonObject *data = fetch (cli, ids->pdata[i], &local);
      if (data == NULL && args->ids != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      g_ptr_array_add (first, data);
    }
  g_usleep ((gulong) args->interval_ms * 1000);
  gint64 elapsed_ns = (g_get_monotonic_time () - t0) * 1000;
  JsonArray *rows = json_array_new ();
  for (guint i = 0; i < ids->len; i++)
    {
      if (first->pdata[i] == NULL)
        continue;
      g_autoptr(GError) local = NULL;
      g_autoptr(JsonObject) data = fetch (cli, ids->pdata[i], &local);
      if (data == NULL && args->ids != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          json_array_unref (rows);
          return NULL;
        }
      if (data != NULL)
        json_array_add_object_element (rows, row_new (ids->pdata[i], first->pdata[i], data, elapsed_ns));
    }
  return rows;
}

static int
run_stats (VcCli *cli, const VcCliArgs *args, StatsFetch fetch)
{
  g_autoptr(GError) error = NULL;
  gboolean json = args->format && g_str_equal (args->format, "json");
  for (;;)
    {
      g_autoptr(GPtrArray) ids = list_ids (cli, args, &error);
      g_autoptr(JsonArray) rows = ids ? sample (cli, args, fetch, ids, &error) : NULL;
      if (rows == NULL)
        return cli->bus ? vc_bus_fail (error) : vc_cli_fail (error);
      if (json)
        {
          g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), rows);
          vc_cli_print_json (node);
          fflush (stdout);
        }
      else
        print_table (rows);
      if (args->no_stream)
        return 0;
      if (!json)
        printf ("\n");
    }
}

int
vc_cmd_stats (VcCli *cli, const VcCliArgs *args)
{
  return run_stats (cli, args, vc_cli_container_stats);
}

int
vc_cmd_stats_bus (VcCli *cli, const VcCliArgs *args)
{
  return run_stats (cli, args, vc_bus_container_stats);
}
