/* vcrun --bus create, run and exec: the commands that start a process
 * through vcrund. Their command lines were checked as in embedded mode
 * (cli/commands.c); what vcrun prints and exits with is what embedded mode
 * would. */
#include "config.h"

#include <unistd.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "bus.h"

/* The pid `state` reports, for --pid-file. */
static gint
container_pid (VcBusTarget *t)
{
  g_autoptr(JsonObject) state = vc_bus_container_state (t, "");
  return (gint) json_object_get_int_member (state, "pid");
}

static void
close_fds (int fds[3])
{
  for (int i = 0; i < 3; i++)
    close (fds[i]);
}

/* create, and run --detach: the container's stdio is the caller's; vcrund
 * owns it from then on. */
static int
create_detached (VcCli *cli, const VcCliArgs *args, const char *bundle, gboolean start)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  if (!vc_bus_create (cli, args->id, bundle, &t, &error))
    return vc_bus_fail (error);
  if (!vc_bus_pass_stdio (&t, &error))
    {
      vc_bus_delete (&t, NULL);
      return vc_bus_fail (error);
    }
  if (start && !vc_bus_call_void (t.bus, t.container, VC_BUS_IFACE_C, "Start", NULL, &error))
    {
      vc_bus_delete (&t, NULL);
      return vc_bus_fail_exec (error);
    }
  if (args->pid_file && !vc_cli_write_pid_file (args->pid_file, container_pid (&t), &error))
    return vc_cli_fail (error);
  return 0;
}

int
vc_cmd_create_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autofree char *abs = NULL;
  g_autoptr(GError) error = NULL;
  gboolean terminal;
  if (!vc_cli_check_bundle (args->id, args->bundle, &abs, &terminal, &error))
    return vc_cli_fail (error);
  if (args->console_socket && !terminal)
    return vc_cli_fail_msg ("create: --console-socket needs a terminal (process.terminal in %s/config.json)",
                            abs);
  if (args->console_socket)
    return vc_cli_fail_msg ("create --bus: --console-socket is not available through vcrund; "
                            "run it without --bus");
  return create_detached (cli, args, abs, FALSE);
}

/* run, attached: stdio through the fds vcrund passes, signals forwarded; a
 * signal during the boot aborts it, as in embedded run. The sandbox goes
 * when the process has exited. */
static int
run_attached (VcCli *cli, const VcCliArgs *args, const char *bundle, gboolean tty)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  int status;

  vc_bus_forward_signals (TRUE);
  if (!vc_bus_create (cli, args->id, bundle, &t, &error))
    {
      vc_bus_forward_signals (FALSE);
      int signum = vc_bus_pending_signal ();
      return signum ? 128 + signum : vc_bus_fail (error);
    }
  g_autoptr(GUnixFDList) list = NULL;
  g_autoptr(GVariant) reply = vc_bus_call (t.bus, t.container, VC_BUS_IFACE_C, "Attach", NULL,
                                           "(hhh)", &list, &error);
  int fds[3] = { -1, -1, -1 };
  int signum = 0;
  if (reply == NULL || !vc_bus_reply_fds (reply, list, fds))
    status = error ? vc_bus_fail (error) : vc_cli_fail_msg ("vcrund sent no stdio");
  else if ((signum = vc_bus_pending_signal ()) != 0)
    {
      status = 128 + signum;  /* interrupted before it ran */
      close_fds (fds);
    }
  else if (!vc_bus_call_void (t.bus, t.container, VC_BUS_IFACE_C, "Start", NULL, &error))
    {
      status = vc_bus_fail_exec (error);
      close_fds (fds);
    }
  else
    {
      if (args->pid_file && !vc_cli_write_pid_file (args->pid_file, container_pid (&t), &error))
        vc_cli_fail (error);
      status = vc_bus_attach (&t, "", tty, fds);
    }
  vc_bus_forward_signals (FALSE);
  g_clear_error (&error);
  /* Leave nothing behind, as embedded run does. */
  if (!vc_bus_delete (&t, &error))
    {
      vc_bus_fail (error);
      if (status == 0)
        status = VC_EXIT_RUNTIME_FAILURE;
    }
  if (args->pid_file)
    unlink (args->pid_file);
  return status;
}

int
vc_cmd_run_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *abs = NULL;
  gboolean terminal;
  if (!vc_cli_check_bundle (args->id, args->bundle, &abs, &terminal, &error))
    return vc_cli_fail (error);
  if (args->detach)
    return create_detached (cli, args, abs, TRUE);

  /* vcrund reads the copy at CreateContainer; it goes with the sandbox. */
  g_autofree char *bundle_copy = NULL;
  if (args->tty && !terminal && (bundle_copy = vc_cli_bundle_with_terminal (abs, &error)) == NULL)
    return vc_cli_fail (error);
  int status = run_attached (cli, args, bundle_copy ? bundle_copy : abs, args->tty || terminal);
  if (bundle_copy)
    vc_cli_remove_bundle_copy (bundle_copy);
  return status;
}

int
vc_cmd_exec_bus (VcCli *cli, const VcCliArgs *args)
{
  g_autoptr(GError) error = NULL;
  g_auto(VcBusTarget) t = { 0 };
  if (args->process || args->detach || args->pid_file || args->console_socket)
    return vc_cli_fail_msg ("exec --bus: --%s is not available through vcrund; run it without --bus",
                            args->process ? "process" : args->detach ? "detach"
                            : args->pid_file ? "pid-file" : "console-socket");
  if (!vc_bus_open (cli, args->id, &t, &error))
    return vc_bus_fail (error);
  if (t.container == NULL)
    return vc_cli_fail_msg ("container %s is still being created", args->id);
  /* The same process as embedded exec: config.json's, with the options. */
  g_autofree char *bundle = vc_bus_get_string (t.bus, t.container, VC_BUS_IFACE_C, "Bundle");
  g_autoptr(JsonNode) process = vc_cli_exec_process (bundle ? bundle : "/nonexistent", args->command,
                                                     args->tty, args->cwd, args->env, args->user,
                                                     &error);
  if (process == NULL)
    return vc_cli_fail (error);
  g_autofree char *process_json = json_to_string (process, FALSE);

  g_autoptr(GUnixFDList) list = NULL;
  g_autoptr(GVariant) reply = vc_bus_call (t.bus, t.container, VC_BUS_IFACE_C, "Exec",
                                           g_variant_new ("(ss)", args->exec_id, process_json),
                                           "(hhh)", &list, &error);
  int fds[3];
  if (reply == NULL)
    return vc_bus_fail_exec (error);
  if (!vc_bus_reply_fds (reply, list, fds))
    return vc_cli_fail_msg ("vcrund sent no stdio");
  return vc_bus_attach (&t, args->exec_id, args->tty, fds);
}
