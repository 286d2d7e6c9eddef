/* vcrun --bus start, state, kill, delete, ps, pause, resume, list: the OCI
 * lifecycle commands through vcrund. Their command lines were checked as in
 * embedded mode (cli/commands.c); what vcrun prints and exits with is what
 * embedded mode would. */
#include "config.h"

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "bus.h"

/* Opens the target of a command that needs the container; on failure prints
 * the error and sets *status. */
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

/* start, pause, resume: one container method without arguments. */
static int
simple_call (VcCli *cli, const char *name, const char *id, const char *method)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  int status;
  if (!open_container (cli, name, id, &t, &status))
    return status;
  gboolean start = g_str_equal (method, "Start");
  if (start)
    {
      /* As the owner of an embedded sandbox says it. */
      g_autofree char *state = vc_bus_get_string (t.bus, t.container, VC_BUS_IFACE_C, "State");
      if (g_strcmp0 (state, "stopped") == 0)
        return vc_cli_fail_msg ("container %s is stopped", id);
      if (g_strcmp0 (state, "created") != 0)
        return vc_cli_fail_msg ("container %s was started already", id);
    }
  if (!vc_bus_call_void (t.bus, t.container, VC_BUS_IFACE_C, method, NULL, &error))
    return start ? vc_bus_fail_exec (error) : vc_bus_fail (error);
  return 0;
}

int
vc_cmd_start_bus (VcCli *cli, const VcCliArgs *args)
{
  return simple_call (cli, "start", args->id, "Start");
}

int
vc_cmd_pause_bus (VcCli *cli, const VcCliArgs *args)
{
  return simple_call (cli, "pause", args->id, "Pause");
}

int
vc_cmd_resume_bus (VcCli *cli, const VcCliArgs *args)
{
  return simple_call (cli, "resume", args->id, "Resume");
}

int
vc_cmd_state_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  if (!vc_bus_open (cli, args->id, &t, &error))
    return vc_bus_fail (error);
  g_autoptr(JsonObject) state = vc_bus_container_state (&t, args->id);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), state);
  vc_cli_print_json (node);
  return 0;
}

int
vc_cmd_list_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = vc_bus_connect (cli, &error);
  g_autoptr(GVariant) reply = bus ? vc_bus_call (bus, VC_BUS_MANAGER, VC_BUS_IFACE_M, "ListSandboxes",
                                                 NULL, "(ao)", NULL, &error) : NULL;
  if (reply == NULL)
    return vc_bus_fail (error);

  g_autoptr(JsonArray) list = json_array_new ();
  g_autoptr(GVariantIter) iter = NULL;
  const char *path;
  g_variant_get (reply, "(ao)", &iter);
  while (g_variant_iter_next (iter, "&o", &path))
    {
      g_autofree char *id = vc_bus_get_string (bus, path, VC_BUS_IFACE_S, "Id");
      g_auto(VcBusTarget) t = { 0 };
      if (id == NULL || !vc_bus_open (cli, id, &t, NULL))
        continue;  /* deleted meanwhile */
      json_array_add_object_element (list, vc_bus_container_state (&t, id));
    }
  vc_cli_print_states (list, args->format, args->quiet);
  return 0;
}

int
vc_cmd_kill_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  int status;
  if (!open_container (cli, "kill", args->id, &t, &status))
    return status;
  if (!vc_bus_call_void (t.bus, t.container, VC_BUS_IFACE_C, "Kill",
                         g_variant_new ("(ib)", args->signal, args->all), &error))
    return vc_bus_fail (error);
  return 0;
}

int
vc_cmd_delete_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  if (!vc_bus_open (cli, args->id, &t, &error))
    return vc_bus_fail (error);
  if (!args->force && t.container)
    {
      g_autofree char *state = vc_bus_get_string (t.bus, t.container, VC_BUS_IFACE_C, "State");
      if (state && (g_str_equal (state, "running") || g_str_equal (state, "paused")))
        return vc_cli_fail_msg ("container %s is %s: stop it first (vcrun kill) or use delete --force",
                                args->id, state);
    }
  /* The container is done with: its sandbox goes with it. */
  if (!vc_bus_delete (&t, &error))
    return vc_bus_fail (error);
  return 0;
}

int
vc_cmd_ps_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  if (!vc_bus_open (cli, args->id, &t, &error))
    return vc_bus_fail (error);
  if (t.container == NULL)
    return vc_cli_fail_msg ("ps: sandbox %s has no container %s", args->id, args->id);
  if (args->format && g_str_equal (args->format, "json"))
    {
      /* The host pids, as runc prints them. */
      g_autoptr(GVariant) pids = vc_bus_call (t.bus, t.sandbox, VC_BUS_IFACE_S, "ListHostPids",
                                              NULL, "(ai)", NULL, &error);
      if (pids == NULL)
        return vc_bus_fail (error);
      g_autoptr(JsonArray) list = json_array_new ();
      g_autoptr(GVariantIter) it = NULL;
      gint32 pid;
      g_variant_get (pids, "(ai)", &it);
      while (g_variant_iter_next (it, "i", &pid))
        json_array_add_int_element (list, pid);
      vc_cli_print_host_pids (list);
      return 0;
    }
  g_autoptr(GVariant) reply = vc_bus_call (t.bus, t.container, VC_BUS_IFACE_C, "ListProcesses",
                                           NULL, "(a(sbsi))", NULL, &error);
  if (reply == NULL)
    return vc_bus_fail (error);

  g_autoptr(JsonArray) processes = json_array_new ();
  g_autoptr(GVariantIter) iter = NULL;
  const char *exec_id, *state;
  gboolean init;
  gint32 exit_status;
  g_variant_get (reply, "(a(sbsi))", &iter);
  while (g_variant_iter_next (iter, "(&sb&si)", &exec_id, &init, &state, &exit_status))
    {
      JsonObject *p = json_object_new ();
      json_object_set_string_member (p, "exec_id", exec_id);
      json_object_set_boolean_member (p, "init", init);
      json_object_set_string_member (p, "status", state);
      json_object_set_int_member (p, "exit_status", exit_status);
      json_array_add_object_element (processes, p);
    }
  vc_cli_print_processes (processes, args->format);
  return 0;
}
