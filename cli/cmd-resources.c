/* vcrun update and vcrun events --stats: a running container's resources
 * (runc's commands and JSON shapes). The owner of the sandbox applies them:
 * vCPU and memory hotplug plus the in-guest cgroup. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include <vcrun/types.h>
#include "cli.h"

const GOptionEntry vc_cli_update_options[] = {
  VC_CLI_FILENAME ("resources", 'r', resources,
                   "an OCI LinuxResources JSON file ('-': standard input)", "FILE"),
  VC_CLI_STRING ("cpus", 0, cpus, "CPUs the container may use (quota over a 100 ms period)", "N"),
  VC_CLI_STRING ("cpu-quota", 0, cpu_quota, "CPU CFS quota in microseconds", "US"),
  VC_CLI_STRING ("cpu-period", 0, cpu_period, "CPU CFS period in microseconds", "US"),
  VC_CLI_STRING ("cpuset-cpus", 0, cpuset_cpus, "CPUs to use, e.g. 0-1", "LIST"),
  VC_CLI_STRING ("memory", 'm', memory, "memory limit: bytes, or with a K, M or G suffix", "SIZE"),
  VC_CLI_STRING ("pids-limit", 0, pids_limit, "maximum number of processes", "N"),
  { NULL }
};

const GOptionEntry vc_cli_events_options[] = {
  VC_CLI_FLAG ("stats", 0, stats, "print the container's statistics once, as JSON"),
  VC_CLI_IGNORED_OPTION ("interval"),
  { NULL }
};

static gboolean
invalid (GError **error, const char *option, const char *value, const char *what)
{
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "update: --%s '%s': %s", option, value, what);
  return FALSE;
}

static gboolean
parse_int (const char *option, const char *text, gint64 min, gint64 *out, GError **error)
{
  char *end;
  errno = 0;
  gint64 v = g_ascii_strtoll (text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v < min)
    return invalid (error, option, text, min > 0 ? "not a positive integer" : "not an integer");
  *out = v;
  return TRUE;
}

/* "512M" -> 536870912 */
static gboolean
parse_size (const char *text, gint64 *out, GError **error)
{
  char *end;
  errno = 0;
  guint64 v = g_ascii_strtoull (text, &end, 10);
  guint64 unit = 1;
  if (end != text && *end != '\0' && end[1] == '\0')
    switch (g_ascii_tolower (*end))
      {
      case 'k': unit = 1024; end++; break;
      case 'm': unit = 1024 * 1024; end++; break;
      case 'g': unit = 1024 * 1024 * 1024; end++; break;
      default: break;
      }
  if (end == text || *end != '\0' || errno != 0 || v == 0 || v > (guint64) G_MAXINT64 / unit)
    return invalid (error, "memory", text, "not a size such as 536870912, 512M or 1G");
  *out = (gint64) (v * unit);
  return TRUE;
}

static JsonObject *
ensure_object (JsonObject *parent, const char *name)
{
  JsonNode *n = json_object_get_member (parent, name);
  if (n != NULL && JSON_NODE_HOLDS_OBJECT (n))
    return json_node_get_object (n);
  JsonObject *o = json_object_new ();
  json_object_set_object_member (parent, name, o);
  return o;
}

static JsonObject *
load_resources_file (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (g_str_equal (path, "-"))
    {
      g_autoptr(GIOChannel) in = g_io_channel_unix_new (0);
      if (g_io_channel_read_to_end (in, &text, &len, error) != G_IO_STATUS_NORMAL)
        return NULL;
    }
  else if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "update: --resources %s: %s", path,
                   local ? local->message : "not a JSON object (an OCI LinuxResources)");
      return NULL;
    }
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/* One operand, the ID; the options become one LinuxResources object. */
gboolean
vc_cli_check_update (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv,
                     GError **error)
{
  if (argc != 2)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   argc < 2 ? "update: missing container ID (see 'vcrun update --help')"
                            : "update: unexpected argument '%s'", argc < 2 ? "" : argv[2]);
      return FALSE;
    }
  args->id = argv[1];
  g_autoptr(JsonObject) res = args->resources ? load_resources_file (args->resources, error)
                                              : json_object_new ();
  if (res == NULL)
    return FALSE;
  gint64 v;
  if (args->cpus)
    {
      char *end;
      double cpus = g_ascii_strtod (args->cpus, &end);
      if (end == args->cpus || *end != '\0' || !(cpus > 0) || cpus > 4096)
        return invalid (error, "cpus", args->cpus, "not a positive number of CPUs");
      JsonObject *cpu = ensure_object (res, "cpu");
      json_object_set_int_member (cpu, "period", 100000);
      json_object_set_int_member (cpu, "quota", (gint64) (cpus * 100000 + 0.5));
    }
  if (args->cpu_quota)
    {
      if (!parse_int ("cpu-quota", args->cpu_quota, -1, &v, error))
        return FALSE;
      json_object_set_int_member (ensure_object (res, "cpu"), "quota", v);
    }
  if (args->cpu_period)
    {
      if (!parse_int ("cpu-period", args->cpu_period, 1, &v, error))
        return FALSE;
      json_object_set_int_member (ensure_object (res, "cpu"), "period", v);
    }
  if (args->cpuset_cpus)
    json_object_set_string_member (ensure_object (res, "cpu"), "cpus", args->cpuset_cpus);
  if (args->memory)
    {
      if (!parse_size (args->memory, &v, error))
        return FALSE;
      json_object_set_int_member (ensure_object (res, "memory"), "limit", v);
    }
  if (args->pids_limit)
    {
      if (!parse_int ("pids-limit", args->pids_limit, -1, &v, error))
        return FALSE;
      json_object_set_int_member (ensure_object (res, "pids"), "limit", v);
    }
  if (json_object_get_size (res) == 0)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "update: nothing to change (give --resources, --cpus, --memory, ...)");
      return FALSE;
    }
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), res);
  args->resources_json = json_to_string (node, FALSE);
  return TRUE;
}

gboolean
vc_cli_check_events (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv,
                     GError **error)
{
  if (argc != 2)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   argc < 2 ? "events: missing container ID (see 'vcrun events --help')"
                            : "events: unexpected argument '%s'", argc < 2 ? "" : argv[2]);
      return FALSE;
    }
  if (!args->stats)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED,
                   "events: only --stats is supported (a stream of OOM and exit events is not)");
      return FALSE;
    }
  args->id = argv[1];
  return TRUE;
}

static JsonObject *
call_owner (VcCli *cli, const char *id, const char *op, JsonObject *request, GError **error)
{
  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, error);
  g_autoptr(VcSandbox) sandbox = NULL;
  g_autoptr(VcContainer) container = NULL;
  if (runtime == NULL || !vc_cli_load (runtime, id, &sandbox, &container, error))
    return NULL;
  return vc_owner_call (sandbox, op, request, error);
}

/* The reply of op on container id's owner; NULL with the error printed. */
static JsonObject *
ask_owner (VcCli *cli, const char *id, const char *op, JsonObject *request, int *status)
{
  g_autoptr(GError) error = NULL;
  JsonObject *reply = call_owner (cli, id, op, request, &error);
  if (reply == NULL)
    *status = vc_cli_fail (error);
  return reply;
}

JsonObject *
vc_cli_container_stats (VcCli *cli, const char *id, GError **error)
{
  g_autoptr(JsonObject) reply = call_owner (cli, id, "stats", NULL, error);
  if (reply == NULL)
    return NULL;
  JsonObject *data = json_object_get_object_member (reply, "data");
  if (data == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "container %s: the owner's stats reply has no data", id);
      return NULL;
    }
  return json_object_ref (data);
}

int
vc_cmd_update (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(JsonObject) request = json_object_new ();
  json_object_set_string_member (request, "resources", args->resources_json);
  int status = 0;
  g_autoptr(JsonObject) reply = ask_owner (cli, args->id, "update", request, &status);
  if (reply == NULL)
    return status;
  const char *notes = json_object_get_string_member_with_default (reply, "notes", NULL);
  if (notes != NULL)
    fprintf (stderr, "vcrun: update %s: %s", args->id, notes);
  return 0;
}

/* {"type": "stats", "id": ID, "data": {...}} as runc prints it. */
void
vc_cli_print_stats (const char *id, JsonObject *data)
{
  g_autoptr(JsonObject) event = json_object_new ();
  json_object_set_string_member (event, "type", "stats");
  json_object_set_string_member (event, "id", id);
  json_object_set_object_member (event, "data", json_object_ref (data));
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), event);
  g_autofree char *text = json_to_string (node, FALSE);
  printf ("%s\n", text);
}

int
vc_cmd_events (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) data = vc_cli_container_stats (cli, args->id, &error);
  if (data == NULL)
    return vc_cli_fail (error);
  vc_cli_print_stats (args->id, data);
  return 0;
}
