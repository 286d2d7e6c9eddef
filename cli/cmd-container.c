/* vcrun create, start, state, kill, delete, ps, pause, resume, list: the
 * OCI lifecycle commands. Each works from any process: state and list read
 * the saved state; the others ask the sandbox's owner (core/owner.h), except
 * delete --force of a sandbox whose owner is gone, which the core does
 * directly (it reattaches to the VM to stop it). */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "cli.h"

/* The status as OCI reports it, accounting for a lost owner. */
static const char *
effective_status (VcSandbox *sandbox, VcContainer *container)
{
  /* No container yet: being created, unless its creator died. */
  if (container == NULL)
    return vc_sandbox_is_being_created (sandbox) ? "creating" : "stopped";
  if (vc_sandbox_get_state (sandbox) == VC_SANDBOX_STOPPED)
    return "stopped";
  /* Nobody holds the VM's connections any more: the container cannot be
   * reached, as runc reports a container whose init is gone. */
  if (!vc_owner_pid_alive (vc_sandbox_get_owner_pid (sandbox)))
    return "stopped";
  if (vc_sandbox_get_state (sandbox) == VC_SANDBOX_PAUSED)
    return "paused";
  return vc_container_state_to_string (vc_container_get_state (container));
}

/* The OCI state of container id (plus created, owner_pid, exit_status). */
static JsonObject *
container_state (VcSandbox *sandbox, VcContainer *container)
{
  gint owner_pid = vc_sandbox_get_owner_pid (sandbox);
  g_autofree char *netns = NULL;
  g_autoptr(GVariant) interfaces = g_variant_ref_sink (vc_sandbox_interfaces_variant (sandbox, &netns));
  VcCliState state = {
    .id = vc_sandbox_get_id (sandbox),
    .status = effective_status (sandbox, container),
    .pid = container ? vc_container_get_pid (container) : 0,
    .bundle = container ? vc_container_get_bundle (container) : NULL,
    .created = container ? vc_container_get_created (container) : vc_sandbox_get_created (sandbox),
    .owner_pid = owner_pid,
    .owner_alive = vc_owner_pid_alive (owner_pid),
    .exit_status = container ? vc_container_get_exit_status (container) : -1,
    .netns = netns,
    .interfaces = interfaces,
    .vcpus = vc_sandbox_get_vcpus (sandbox),
    .memory_mib = vc_sandbox_get_memory_mib (sandbox),
  };
  return vc_cli_state_to_json (&state);
}

/* A container loaded from the state dir, with what holds it. */
typedef struct {
  VcRuntime   *runtime;
  VcSandbox   *sandbox;
  VcContainer *container;   /* NULL while the sandbox has none */
} Loaded;

static void
loaded_clear (Loaded *loaded)
{
  g_clear_pointer (&loaded->container, vc_container_unref);
  g_clear_pointer (&loaded->sandbox, vc_sandbox_unref);
  g_clear_pointer (&loaded->runtime, vc_runtime_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Loaded, loaded_clear)

/* Loads container id; on failure prints the error, sets *status. */
static gboolean
open_container (VcCli *cli, const char *id, Loaded *loaded, int *status)
{
  g_autoptr(GError) error = NULL;
  loaded->runtime = vc_cli_open_runtime (cli, &error);
  if (loaded->runtime == NULL
      || !vc_cli_load (loaded->runtime, id, &loaded->sandbox, &loaded->container, &error))
    {
      *status = vc_cli_fail (error);
      return FALSE;
    }
  return TRUE;
}

/* Sends op (with request's members; NULL: none) to the owner of container
 * id. Returns its reply, or NULL with the error printed and *status set. */
static JsonObject *
ask_owner (VcCli *cli, const char *id, const char *op, JsonObject *request, int *status)
{
  g_auto(Loaded) loaded = { 0 };
  g_autoptr(GError) error = NULL;
  if (!open_container (cli, id, &loaded, status))
    return NULL;
  /* Its supervisor stopped the VM when the container exited. */
  if (vc_sandbox_get_state (loaded.sandbox) == VC_SANDBOX_STOPPED
      && !vc_owner_pid_alive (vc_sandbox_get_owner_pid (loaded.sandbox)))
    {
      /* Worded as the core's state checks word it (as vcrund answers). */
      *status = vc_cli_fail_msg ("container %s is stopped%s", id,
                                 g_str_equal (op, "kill") ? ", expected created, running or paused" : "");
      return NULL;
    }
  JsonObject *reply = vc_owner_call (loaded.sandbox, op, request, &error);
  if (reply == NULL)
    *status = g_str_equal (op, "start") ? vc_cli_fail_exec (error) : vc_cli_fail (error);
  return reply;
}

/* ---- create -------------------------------------------------------------- */

int
vc_cmd_create (VcCli *cli, const VcCliArgs *args)
{
  g_autofree char *bundle_abs = NULL;
  g_autoptr(GError) error = NULL;
  gboolean terminal;
  if (!vc_cli_check_new_container (cli, args->id, args->bundle, &bundle_abs, &terminal, &error))
    return vc_cli_fail (error);
  if (args->console_socket && !terminal)
    return vc_cli_fail_msg ("create: --console-socket needs a terminal (process.terminal in %s/config.json)",
                            bundle_abs);
  return vc_cli_spawn_supervisor (cli, args->id, bundle_abs, args->pid_file, args->console_socket,
                                  FALSE);
}

/* ---- start, pause, resume ------------------------------------------------ */

/* A request without arguments to the owner of container id. */
static int
simple_request (VcCli *cli, const char *id, const char *op)
{
  int status;
  g_autoptr(JsonObject) reply = ask_owner (cli, id, op, NULL, &status);
  return reply ? 0 : status;
}

int
vc_cmd_start (VcCli *cli, const VcCliArgs *args)
{
  return simple_request (cli, args->id, "start");
}

int
vc_cmd_pause (VcCli *cli, const VcCliArgs *args)
{
  return simple_request (cli, args->id, "pause");
}

int
vc_cmd_resume (VcCli *cli, const VcCliArgs *args)
{
  return simple_request (cli, args->id, "resume");
}

/* ---- state --------------------------------------------------------------- */

int
vc_cmd_state (VcCli *cli, const VcCliArgs *args)
{
  g_auto(Loaded) loaded = { 0 };
  int status;
  if (!open_container (cli, args->id, &loaded, &status))
    return status;
  g_autoptr(JsonObject) state = container_state (loaded.sandbox, loaded.container);
  /* OCI callers (podman) know four statuses; create returns only once the
   * container is created, so only a concurrent caller sees it sooner. */
  if (g_str_equal (json_object_get_string_member (state, "status"), "creating"))
    json_object_set_string_member (state, "status", "created");
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), state);
  vc_cli_print_json (node);
  return 0;
}

/* ---- kill ---------------------------------------------------------------- */

int
vc_cmd_kill (VcCli *cli, const VcCliArgs *args)
{
  int status;
  g_autoptr(JsonObject) request = json_object_new ();
  json_object_set_int_member (request, "signal", args->signal);
  json_object_set_boolean_member (request, "all", args->all);
  g_autoptr(JsonObject) reply = ask_owner (cli, args->id, "kill", request, &status);
  return reply ? 0 : status;
}

/* ---- delete -------------------------------------------------------------- */

int
vc_cmd_delete (VcCli *cli, const VcCliArgs *args)
{
  g_auto(Loaded) loaded = { 0 };
  g_autoptr(GError) error = NULL;
  const char *id = args->id;
  int status;
  if (!open_container (cli, id, &loaded, &status))
    return status;
  VcSandbox *sandbox = loaded.sandbox;
  gint owner_pid = vc_sandbox_get_owner_pid (sandbox);
  if (vc_owner_pid_alive (owner_pid))
    {
      g_autoptr(JsonObject) request = json_object_new ();
      json_object_set_boolean_member (request, "force", args->force);
      g_autoptr(JsonObject) reply = vc_owner_call (sandbox, "delete", request, &error);
      if (reply != NULL)
        return 0;
      /* An owner that went away meanwhile is handled below; one that no
       * longer serves is ending (its container exited and the VM was
       * stopped): wait for it. */
      if (g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED))
        for (int i = 0; i < 600 && vc_owner_pid_alive (owner_pid); i++)
          g_usleep (100000);
      if (!g_error_matches (error, VC_ERROR, VC_ERROR_STOPPED) || vc_owner_pid_alive (owner_pid))
        return vc_cli_fail (error);
      g_clear_error (&error);
      if (!vc_sandbox_refresh (sandbox, &error))
        {
          g_autoptr(GError) worded = NULL;
          vc_cli_container_error (id, g_steal_pointer (&error), &worded);
          return vc_cli_fail (worded);
        }
    }
  /* A supervisor that stopped the VM when the container exited left only
   * the state behind: that needs no --force. */
  if (!args->force && vc_sandbox_get_state (sandbox) != VC_SANDBOX_STOPPED)
    return vc_cli_fail_msg ("sandbox %s has no owner (process %d is gone); "
                            "'vcrun delete --force %s' stops its VM and removes it", id, owner_pid, id);
  if (!vc_sandbox_delete (sandbox, TRUE, &error))
    return vc_cli_fail (error);
  return 0;
}

/* ---- ps ------------------------------------------------------------------ */

int
vc_cmd_ps (VcCli *cli, const VcCliArgs *args)
{
  int status;
  g_autoptr(JsonObject) reply = ask_owner (cli, args->id, "ps", NULL, &status);
  if (reply == NULL)
    return status;
  /* json: the host pids, as runc prints them; table: the processes. */
  gboolean json = args->format && g_str_equal (args->format, "json");
  JsonArray *processes = json_object_get_array_member (reply, json ? "host_pids" : "processes");
  if (processes == NULL)
    return vc_cli_fail_msg ("ps: the owner of %s sent no %s", args->id,
                            json ? "host pid list" : "process list");
  if (json)
    vc_cli_print_host_pids (processes);
  else
    vc_cli_print_processes (processes, args->format);
  return 0;
}

/* ---- list ---------------------------------------------------------------- */

int
vc_cmd_list (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VcRuntime) runtime = vc_cli_open_runtime (cli, &error);
  if (runtime == NULL)
    return vc_cli_fail (error);
  g_autoptr(GPtrArray) ids = vc_sandbox_list (runtime, &error);
  if (ids == NULL)
    return vc_cli_fail (error);

  g_autoptr(JsonArray) list = json_array_new ();
  for (guint i = 0; i < ids->len; i++)
    {
      const char *id = g_ptr_array_index (ids, i);
      g_autoptr(VcSandbox) sandbox = NULL;
      g_autoptr(VcContainer) container = NULL;
      g_autoptr(GError) local = NULL;
      /* Deleted meanwhile: not listed. */
      if (!vc_cli_load (runtime, id, &sandbox, &container, &local))
        continue;
      json_array_add_object_element (list, container_state (sandbox, container));
    }

  vc_cli_print_states (list, args->format, args->quiet);
  return 0;
}
