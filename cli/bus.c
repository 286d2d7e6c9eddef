/* vcrun --bus: commands through the vcrund D-Bus service.
 *
 * Every command given --bus comes here, and only here: the D-Bus client
 * (org.vcrun.Runtime1, see data/org.vcrun.Runtime1.xml) plugs in at this one
 * function. A container ID names a sandbox of the same ID holding that one
 * container, as in embedded mode; vcrund owns it (its stdio, its exit).
 * spec, check and plugins need no sandbox and run in-process. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <json-glib/json-glib.h>

#include "cli.h"

#define BUS_NAME    "org.vcrun.Runtime1"
#define MANAGER     "/org/vcrun/Runtime1"
#define IFACE_M     BUS_NAME ".Manager"
#define IFACE_S     BUS_NAME ".Sandbox"
#define IFACE_C     BUS_NAME ".Container"
/* A boot takes seconds under TCG; Wait takes as long as the process. */
#define CALL_TIMEOUT_MS (10 * 60 * 1000)

typedef struct {
  GDBusConnection *bus;
  char            *sandbox;    /* object paths */
  char            *container;
} Target;

static void
target_clear (Target *t)
{
  g_clear_object (&t->bus);
  g_clear_pointer (&t->sandbox, g_free);
  g_clear_pointer (&t->container, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Target, target_clear)

/* Whether error is the D-Bus error called name. */
static gboolean
remote_error_is (const GError *error, const char *name)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  return g_strcmp0 (remote, name) == 0;
}

static const char *bus_kind = "system";  /* for messages: the bus --bus named */

/* Prints "vcrun: MESSAGE" without GDBus's "GDBus.Error:NAME: " prefix. */
static int
fail (GError *error)
{
  if (remote_error_is (error, "org.freedesktop.DBus.Error.ServiceUnknown")
      || remote_error_is (error, "org.freedesktop.DBus.Error.NameHasNoOwner"))
    return vc_cli_fail_msg ("vcrund is not running on the %s bus, and the bus cannot start it "
                            "(start 'vcrund --%s', or run the command without --bus)",
                            bus_kind, bus_kind);
  g_dbus_error_strip_remote_error (error);
  return vc_cli_fail (error);
}

static GVariant *
call (GDBusConnection *bus, const char *path, const char *iface, const char *method,
      GVariant *params, const char *reply_type, GUnixFDList **out_fds, GError **error)
{
  return g_dbus_connection_call_with_unix_fd_list_sync (
      bus, BUS_NAME, path, iface, method, params,
      reply_type ? G_VARIANT_TYPE (reply_type) : NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS,
      NULL, out_fds, NULL, error);
}

static gboolean
call_void (GDBusConnection *bus, const char *path, const char *iface, const char *method,
           GVariant *params, GError **error)
{
  g_autoptr(GVariant) reply = call (bus, path, iface, method, params, NULL, NULL, error);
  return reply != NULL;
}

/* A string property; NULL when unreachable. */
static char *
get_string (GDBusConnection *bus, const char *path, const char *iface, const char *name)
{
  g_autoptr(GVariant) reply = call (bus, path, "org.freedesktop.DBus.Properties", "Get",
                                    g_variant_new ("(ss)", iface, name), "(v)", NULL, NULL);
  if (reply == NULL)
    return NULL;
  g_autoptr(GVariant) value = NULL;
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
         ? g_variant_dup_string (value, NULL) : NULL;
}

/* Every property of iface at path in one round trip; NULL when unreachable. */
static GVariant *
get_all (GDBusConnection *bus, const char *path, const char *iface)
{
  g_autoptr(GVariant) reply = call (bus, path, "org.freedesktop.DBus.Properties", "GetAll",
                                    g_variant_new ("(s)", iface), "(a{sv})", NULL, NULL);
  return reply ? g_variant_get_child_value (reply, 0) : NULL;
}

static const char *
prop_string (GVariant *props, const char *name)
{
  const char *value = NULL;
  if (props)
    g_variant_lookup (props, name, "&s", &value);
  return value;
}

/* An i or x property; fallback when absent. */
static gint64
prop_int (GVariant *props, const char *name, gint64 fallback)
{
  g_autoptr(GVariant) value = props ? g_variant_lookup_value (props, name, NULL) : NULL;
  if (value && g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    return g_variant_get_int32 (value);
  if (value && g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    return g_variant_get_int64 (value);
  return fallback;
}

static GDBusConnection *
connect_bus (VcCli *cli, GError **error)
{
  GBusType type = g_str_equal (cli->bus, "session") ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM;
  bus_kind = type == G_BUS_TYPE_SESSION ? "session" : "system";
  GDBusConnection *bus = g_bus_get_sync (type, NULL, error);
  if (bus == NULL)
    g_prefix_error (error, "cannot reach the %s bus: ", cli->bus);
  return bus;
}

/* Finds sandbox id and its container id. */
static gboolean
open_target (VcCli *cli, const char *id, Target *t, GError **error)
{
  if ((t->bus = connect_bus (cli, error)) == NULL)
    return FALSE;
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) sb = call (t->bus, MANAGER, IFACE_M, "GetSandbox", g_variant_new ("(s)", id),
                                 "(o)", NULL, &local);
  if (sb == NULL)
    {
      /* As embedded mode says it. */
      if (remote_error_is (local, BUS_NAME ".Error.NotFound"))
        g_set_error (error, VC_ERROR, VC_ERROR_NOT_FOUND, "container %s does not exist", id);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_variant_get (sb, "(o)", &t->sandbox);
  g_autoptr(GVariant) c = call (t->bus, t->sandbox, IFACE_S, "GetContainer",
                                g_variant_new ("(s)", id), "(o)", NULL, NULL);
  if (c != NULL)
    g_variant_get (c, "(o)", &t->container);
  return TRUE;
}

/* ---- stdio ------------------------------------------------------------- */

/* The process whose stdio pump() carries. */
typedef struct {
  Target     *t;
  const char *exec_id;   /* "" for the init process */
  gboolean    tty;       /* SIGWINCH resizes its terminal */
} Attached;

static int signal_pipe[2] = { -1, -1 };
static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };

static void
on_signal (int signum)
{
  int saved = errno;
  unsigned char b = (unsigned char) signum;
  if (write (signal_pipe[1], &b, 1) < 0)
    (void) 0;
  errno = saved;
}

/* While a process is attached, SIGINT, SIGTERM and SIGHUP go to it and
 * SIGWINCH to its terminal, through signal_pipe (pump reads it). */
static void
forward_signals (gboolean on)
{
  if (on && signal_pipe[0] < 0 && pipe2 (signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return;
  struct sigaction sa = { .sa_handler = on ? on_signal : SIG_DFL };
  sigemptyset (&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (gsize i = 0; i < G_N_ELEMENTS (forwarded_signals); i++)
    sigaction (forwarded_signals[i], &sa, NULL);
}

/* The last signal (other than SIGWINCH) caught before the process ran; 0 if
 * none. */
static int
pending_signal (void)
{
  unsigned char b;
  int signum = 0;
  while (signal_pipe[0] >= 0 && read (signal_pipe[0], &b, 1) == 1)
    if (b != SIGWINCH)
      signum = b;
  return signum;
}

/* Gives the process's terminal our window size. */
static void
resize (Attached *a)
{
  guint rows, columns;
  g_autoptr(GError) error = NULL;
  if (a->tty && vc_cli_terminal_size (STDIN_FILENO, &rows, &columns)
      && !call_void (a->t->bus, a->t->container, IFACE_C, "ResizeTty",
                     g_variant_new ("(suu)", a->exec_id, rows, columns), &error))
    g_debug ("resize: %s", error->message);
}

static void
deliver_signal (Attached *a, int signum)
{
  g_autoptr(GError) error = NULL;
  if (signum == SIGWINCH)
    resize (a);
  else if (!call_void (a->t->bus, a->t->container, IFACE_C, "SignalProcess",
                       g_variant_new ("(si)", a->exec_id, (gint32) signum), &error))
    g_debug ("forwarding signal %d: %s", signum, error->message);
}

/* Copies our stdin to in and out/err to our stdout/stderr until both end,
 * delivering the signals forward_signals catches. */
static void
pump (Attached *a, int in, int out, int err)
{
  char buf[65536];
  gboolean our_in_open = TRUE;
  while (out >= 0 || err >= 0)
    {
      struct pollfd pfd[4] = {
        { .fd = out, .events = POLLIN }, { .fd = err, .events = POLLIN },
        { .fd = in >= 0 && our_in_open ? 0 : -1, .events = POLLIN },
        { .fd = signal_pipe[0], .events = POLLIN },
      };
      if (poll (pfd, 4, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      for (int i = 0; i < 2; i++)
        {
          int *fd = i == 0 ? &out : &err;
          if (*fd < 0 || pfd[i].revents == 0)
            continue;
          ssize_t n = read (*fd, buf, sizeof buf);
          if (n <= 0)
            {
              close (*fd);
              *fd = -1;
            }
          else if (write (i == 0 ? STDOUT_FILENO : STDERR_FILENO, buf, n) < 0)
            (void) 0;  /* our reader went away: keep draining */
        }
      if (pfd[2].revents)
        {
          ssize_t n = read (STDIN_FILENO, buf, sizeof buf);
          if (n <= 0 || write (in, buf, n) != n)
            {
              our_in_open = FALSE;
              close (in);
              in = -1;
            }
        }
      unsigned char signum;
      while (pfd[3].revents && read (signal_pipe[0], &signum, 1) == 1)
        deliver_signal (a, signum);
    }
  if (in >= 0)
    close (in);
}

/* The three fds of an Attach or Exec reply, taken out of the list (a copy
 * left there would keep the process's stdin open). */
static gboolean
reply_fds (GVariant *reply, GUnixFDList *list, int fds[3])
{
  gint32 h[3];
  g_variant_get (reply, "(hhh)", &h[0], &h[1], &h[2]);
  gint n = 0;
  g_autofree int *all = g_unix_fd_list_steal_fds (list, &n);
  for (int i = 0; i < 3; i++)
    {
      if (h[i] < 0 || h[i] >= n)
        return FALSE;
      fds[i] = all[h[i]];
    }
  return TRUE;
}

/* Carries the stdio of an attached process (in raw mode when it has a
 * terminal) and returns vcrun's exit status once it has exited. */
static int
attach_and_wait (Attached *a, int fds[3])
{
  g_autoptr(GError) error = NULL;
  forward_signals (TRUE);
  VcCliTerminal *terminal = a->tty ? vc_cli_terminal_raw (STDIN_FILENO) : NULL;
  resize (a);
  pump (a, fds[0], fds[1], fds[2]);
  g_autoptr(GVariant) waited = a->exec_id[0]
    ? call (a->t->bus, a->t->container, IFACE_C, "WaitExec", g_variant_new ("(s)", a->exec_id),
            "(i)", NULL, &error)
    : call (a->t->bus, a->t->container, IFACE_C, "Wait", NULL, "(i)", NULL, &error);
  vc_cli_terminal_restore (terminal);
  forward_signals (FALSE);
  if (waited == NULL)
    return fail (error);
  gint32 exit_status;
  g_variant_get (waited, "(i)", &exit_status);
  return vc_cli_status_to_exit (exit_status);
}

/* ---- commands ---------------------------------------------------------- */

/* As embedded create and run -d do, the caller's stdio becomes the
 * container's: its output goes where ours goes (a terminal's keys stay
 * with the caller's shell: stdin is /dev/null then). */
static gboolean
pass_stdio (Target *t, GError **error)
{
  g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
  for (int fd = 0; fd < 3; fd++)
    {
      gboolean usable = fcntl (fd, F_GETFD) >= 0 && !(fd == STDIN_FILENO && isatty (fd));
      int null_fd = usable ? -1 : open ("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY | O_CLOEXEC);
      gint index = g_unix_fd_list_append (list, usable ? fd : null_fd, error);
      if (null_fd >= 0)
        close (null_fd);
      if (index < 0)
        return FALSE;
    }
  g_autoptr(GVariant) reply = g_dbus_connection_call_with_unix_fd_list_sync (
      t->bus, BUS_NAME, t->container, IFACE_C, "SetStdio", g_variant_new ("(hhh)", 0, 1, 2),
      NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, list, NULL, NULL, error);
  return reply != NULL;
}

/* The OCI state of the container at t, as embedded `state` prints it. */
static JsonObject *
state_of (Target *t, const char *id)
{
  g_autoptr(GVariant) sb = get_all (t->bus, t->sandbox, IFACE_S);
  g_autoptr(GVariant) c = t->container ? get_all (t->bus, t->container, IFACE_C) : NULL;
  const char *sb_state = prop_string (sb, "State");
  const char *status = c && prop_string (c, "State") ? prop_string (c, "State") : "creating";
  if (g_strcmp0 (sb_state, "stopped") == 0)
    status = "stopped";
  else if (g_strcmp0 (sb_state, "paused") == 0)
    status = "paused";
  /* vcrund, or the vcrun supervisor of a sandbox vcrun created. */
  gint owner = (gint) prop_int (sb, "OwnerPid", 0);
  VcCliState state = {
    .id = id,
    .status = status,
    .pid = (gint) prop_int (c, "Pid", 0),
    .bundle = prop_string (c, "Bundle"),
    .created = prop_int (c ? c : sb, "Created", 0),
    .owner_pid = owner,
    .owner_alive = vc_owner_pid_alive (owner),
    .exit_status = (int) prop_int (c, "ExitStatus", -1),
  };
  return vc_cli_state_to_json (&state);
}

/* The pid `state` reports, for --pid-file. */
static gint
container_pid (Target *t)
{
  g_autoptr(JsonObject) state = state_of (t, "");
  return (gint) json_object_get_int_member (state, "pid");
}

/* create and run: sandbox, started, with the container created. */
static gboolean
create_all (VcCli *cli, const char *id, const char *bundle, Target *t, GError **error)
{
  if ((t->bus = connect_bus (cli, error)) == NULL)
    return FALSE;
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) sb = call (t->bus, MANAGER, IFACE_M, "CreateSandbox",
                                 g_variant_new ("(sa{sv})", id, NULL), "(o)", NULL, &local);
  if (sb == NULL)
    {
      /* As embedded mode says it. */
      if (remote_error_is (local, BUS_NAME ".Error.Exists"))
        g_set_error (error, VC_ERROR, VC_ERROR_EXISTS,
                     "container ID %s is already in use (see 'vcrun list')", id);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_variant_get (sb, "(o)", &t->sandbox);
  g_autoptr(GVariant) c = NULL;
  if (!call_void (t->bus, t->sandbox, IFACE_S, "Start", NULL, error)
      || (c = call (t->bus, t->sandbox, IFACE_S, "CreateContainer",
                    g_variant_new ("(ss)", id, bundle), "(o)", NULL, error)) == NULL)
    {
      call_void (t->bus, t->sandbox, IFACE_S, "Delete", g_variant_new ("(b)", TRUE), NULL);
      return FALSE;
    }
  g_variant_get (c, "(o)", &t->container);
  return TRUE;
}

static int
bus_create_or_run (VcCli *cli, const char *name, int argc, char **argv)
{
  g_autofree char *bundle = NULL, *pid_file = NULL, *bundle_copy = NULL;
  gboolean detach = FALSE, tty = FALSE, terminal = FALSE;
  gboolean run = g_str_equal (name, "run");
  int status;
  GOptionEntry run_entries[] = {
    { "bundle", 'b', 0, G_OPTION_ARG_FILENAME, &bundle, "bundle directory (default: the current one)", "DIR" },
    { "detach", 'd', 0, G_OPTION_ARG_NONE, &detach, "start the container and exit; it keeps running", NULL },
    { "tty", 't', 0, G_OPTION_ARG_NONE, &tty, "give the process a terminal (as process.terminal does)", NULL },
    { "pid-file", 0, 0, G_OPTION_ARG_FILENAME, &pid_file, "write the container's pid to FILE", "FILE" },
    { NULL }
  };
  GOptionEntry create_entries[] = {
    { "bundle", 'b', 0, G_OPTION_ARG_FILENAME, &bundle, "bundle directory (default: the current one)", "DIR" },
    { "pid-file", 0, 0, G_OPTION_ARG_FILENAME, &pid_file, "write the container's pid to FILE", "FILE" },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command (name), run ? run_entries : create_entries, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id (name, argc, argv, &status);
  if (id == NULL)
    return status;
  if (detach && tty)
    return vc_cli_fail_msg ("run: --tty and --detach together need a console socket, which vcrun does not support");
  g_autoptr(GError) error = NULL;
  g_autofree char *abs = NULL;
  if (!vc_cli_check_bundle (id, bundle, &abs, &terminal, &error))
    return vc_cli_fail (error);
  if (tty && !terminal)
    {
      /* vcrund reads the copy at CreateContainer; it goes with the sandbox. */
      bundle_copy = vc_cli_bundle_with_terminal (abs, &error);
      if (bundle_copy == NULL)
        return vc_cli_fail_msg ("run: cannot prepare the bundle for --tty: %s", error->message);
    }

  /* Attached: a signal during the boot aborts it, as in embedded run. */
  gboolean attached = run && !detach;
  if (attached)
    forward_signals (TRUE);
  g_auto(Target) t = { 0 };
  if (!create_all (cli, id, bundle_copy ? bundle_copy : abs, &t, &error))
    {
      if (attached)
        forward_signals (FALSE);
      if (bundle_copy)
        vc_cli_remove_bundle_copy (bundle_copy);
      int signum = attached ? pending_signal () : 0;
      return signum ? 128 + signum : fail (error);
    }
  if (!run || detach)
    {
      if (!pass_stdio (&t, &error))
        {
          call_void (t.bus, t.sandbox, IFACE_S, "Delete", g_variant_new ("(b)", TRUE), NULL);
          return fail (error);
        }
      if (run && !call_void (t.bus, t.container, IFACE_C, "Start", NULL, &error))
        {
          call_void (t.bus, t.sandbox, IFACE_S, "Delete", g_variant_new ("(b)", TRUE), NULL);
          g_dbus_error_strip_remote_error (error);
          return vc_cli_fail_exec (error);
        }
      if (pid_file && !vc_cli_write_pid_file (pid_file, container_pid (&t), &error))
        return vc_cli_fail (error);
      return 0;
    }

  /* Attached: stdio through the fds vcrund passes, signals forwarded. */
  g_autoptr(GUnixFDList) list = NULL;
  g_autoptr(GVariant) reply = call (t.bus, t.container, IFACE_C, "Attach", NULL, "(hhh)", &list,
                                    &error);
  int fds[3] = { -1, -1, -1 };
  int signum = 0;
  if (reply == NULL || !reply_fds (reply, list, fds))
    status = error ? fail (error) : vc_cli_fail_msg ("vcrund sent no stdio");
  else if ((signum = pending_signal ()) != 0)
    {
      status = 128 + signum;  /* interrupted before it ran */
      for (int i = 0; i < 3; i++)
        close (fds[i]);
    }
  else if (!call_void (t.bus, t.container, IFACE_C, "Start", NULL, &error))
    {
      g_dbus_error_strip_remote_error (error);
      status = vc_cli_fail_exec (error);
      for (int i = 0; i < 3; i++)
        close (fds[i]);
    }
  else
    {
      if (pid_file && !vc_cli_write_pid_file (pid_file, container_pid (&t), &error))
        {
          vc_cli_fail (error);
          g_clear_error (&error);
        }
      Attached a = { .t = &t, .exec_id = "", .tty = tty || terminal };
      status = attach_and_wait (&a, fds);
    }
  forward_signals (FALSE);
  g_clear_error (&error);
  /* Leave nothing behind, as embedded run does. */
  if (!call_void (t.bus, t.sandbox, IFACE_S, "Delete", g_variant_new ("(b)", TRUE), &error))
    {
      fail (error);
      if (status == 0)
        status = VC_EXIT_RUNTIME_FAILURE;
    }
  if (pid_file && run)
    unlink (pid_file);
  if (bundle_copy)
    vc_cli_remove_bundle_copy (bundle_copy);
  return status;
}

static int
bus_state (VcCli *cli, int argc, char **argv)
{
  int status;
  if (!vc_cli_parse (vc_cli_command ("state"), (GOptionEntry[]) { { NULL } }, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id ("state", argc, argv, &status);
  if (id == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  g_auto(Target) t = { 0 };
  if (!open_target (cli, id, &t, &error))
    return fail (error);
  g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), state_of (&t, id));
  vc_cli_print_json (node);
  return 0;
}

static int
bus_list (VcCli *cli, int argc, char **argv)
{
  g_autofree char *format = NULL;
  gboolean quiet = FALSE;
  int status;
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "table (default) or json", "FORMAT" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "print the IDs only", NULL },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("list"), entries, &argc, &argv, &status))
    return status;
  if (format && !g_str_equal (format, "table") && !g_str_equal (format, "json"))
    return vc_cli_fail_msg ("list: --format takes table or json, not '%s'", format);
  if (argc > 1)
    return vc_cli_fail_msg ("list: unexpected argument '%s'", argv[1]);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = connect_bus (cli, &error);
  g_autoptr(GVariant) reply = bus ? call (bus, MANAGER, IFACE_M, "ListSandboxes", NULL, "(ao)",
                                          NULL, &error) : NULL;
  if (reply == NULL)
    return fail (error);

  g_autoptr(JsonArray) list = json_array_new ();
  g_autoptr(GVariantIter) iter = NULL;
  const char *path;
  g_variant_get (reply, "(ao)", &iter);
  while (g_variant_iter_next (iter, "&o", &path))
    {
      g_autofree char *id = get_string (bus, path, IFACE_S, "Id");
      g_auto(Target) t = { 0 };
      if (id == NULL || !open_target (cli, id, &t, NULL))
        continue;  /* deleted meanwhile */
      json_array_add_object_element (list, state_of (&t, id));
    }
  vc_cli_print_states (list, format, quiet);
  return 0;
}

/* start, pause, resume: one container method without arguments. */
static int
bus_simple (VcCli *cli, const char *name, const char *method, int argc, char **argv)
{
  int status;
  if (!vc_cli_parse (vc_cli_command (name), (GOptionEntry[]) { { NULL } }, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id (name, argc, argv, &status);
  if (id == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  g_auto(Target) t = { 0 };
  if (!open_target (cli, id, &t, &error))
    return fail (error);
  if (t.container == NULL)
    return vc_cli_fail_msg ("%s: container %s is still being created", name, id);
  if (g_str_equal (name, "start"))
    {
      g_autofree char *state = get_string (t.bus, t.container, IFACE_C, "State");
      if (g_strcmp0 (state, "stopped") == 0)
        return vc_cli_fail_msg ("container %s is stopped", id);
      if (g_strcmp0 (state, "created") != 0)
        return vc_cli_fail_msg ("container %s was started already", id);
    }
  if (!call_void (t.bus, t.container, IFACE_C, method, NULL, &error))
    {
      g_dbus_error_strip_remote_error (error);
      return g_str_equal (name, "start") ? vc_cli_fail_exec (error) : vc_cli_fail (error);
    }
  return 0;
}

static int
bus_kill (VcCli *cli, int argc, char **argv)
{
  gboolean all = FALSE;
  int status, signum = SIGTERM;
  GOptionEntry entries[] = {
    { "all", 'a', 0, G_OPTION_ARG_NONE, &all, "signal every process of the container", NULL },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("kill"), entries, &argc, &argv, &status))
    return status;
  if (argc < 2 || argc > 3)
    return vc_cli_fail_msg ("kill: usage: vcrun kill [--all] ID [SIGNAL]");
  g_autoptr(GError) error = NULL;
  if (argc == 3 && !vc_cli_parse_signal (argv[2], &signum, &error))
    return vc_cli_fail (error);
  g_auto(Target) t = { 0 };
  if (!open_target (cli, argv[1], &t, &error))
    return fail (error);
  if (t.container == NULL)
    return vc_cli_fail_msg ("kill: container %s is still being created", argv[1]);
  if (!call_void (t.bus, t.container, IFACE_C, "Kill", g_variant_new ("(ib)", signum, all), &error))
    return fail (error);
  return 0;
}

static int
bus_delete (VcCli *cli, int argc, char **argv)
{
  gboolean force = FALSE;
  int status;
  GOptionEntry entries[] = {
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "delete a running container too (it is killed)", NULL },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("delete"), entries, &argc, &argv, &status))
    return status;
  const char *id = vc_cli_single_id ("delete", argc, argv, &status);
  if (id == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  g_auto(Target) t = { 0 };
  if (!open_target (cli, id, &t, &error))
    return fail (error);
  if (!force && t.container)
    {
      g_autofree char *state = get_string (t.bus, t.container, IFACE_C, "State");
      if (state && (g_str_equal (state, "running") || g_str_equal (state, "paused")))
        return vc_cli_fail_msg ("container %s is %s: stop it first (vcrun kill) or use delete --force",
                                id, state);
    }
  /* The container is done with: its sandbox goes with it. */
  if (!call_void (t.bus, t.sandbox, IFACE_S, "Delete", g_variant_new ("(b)", TRUE), &error))
    return fail (error);
  return 0;
}

static int
bus_exec (VcCli *cli, int argc, char **argv)
{
  gboolean tty = FALSE;
  g_autofree char *cwd = NULL, *user = NULL, *exec_id = NULL;
  g_auto(GStrv) env = NULL;
  int status;
  GOptionEntry entries[] = {
    { "tty", 't', 0, G_OPTION_ARG_NONE, &tty, "give the process a terminal", NULL },
    { "cwd", 0, 0, G_OPTION_ARG_FILENAME, &cwd, "working directory in the container", "DIR" },
    { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &env, "set an environment variable (repeatable)", "K=V" },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &user, "run as this user and group", "UID[:GID]" },
    { "exec-id", 0, 0, G_OPTION_ARG_STRING, &exec_id, "name of the process (default: generated)", "ID" },
    { NULL }
  };
  if (!vc_cli_parse_posix (vc_cli_command ("exec"), entries, &argc, &argv, &status))
    return status;
  if (argc < 2)
    return vc_cli_fail_msg ("exec: missing container ID (see 'vcrun exec --help')");
  if (argc < 3)
    return vc_cli_fail_msg ("exec: missing the command to run");

  g_autoptr(GError) error = NULL;
  g_auto(Target) t = { 0 };
  if (!open_target (cli, argv[1], &t, &error))
    return fail (error);
  if (t.container == NULL)
    return vc_cli_fail_msg ("container %s is still being created", argv[1]);
  if (exec_id == NULL)
    exec_id = g_strdup_printf ("exec-%08x", g_random_int ());
  if (!vc_id_validate (exec_id, "exec", &error))
    return vc_cli_fail (error);
  /* The same process as embedded exec: config.json's, with the options. */
  g_autofree char *bundle = get_string (t.bus, t.container, IFACE_C, "Bundle");
  g_autoptr(JsonNode) process = vc_cli_exec_process (bundle ? bundle : "/nonexistent", argv + 2,
                                                     tty, cwd, env, user, &error);
  if (process == NULL)
    return vc_cli_fail (error);
  g_autofree char *process_json = json_to_string (process, FALSE);

  g_autoptr(GUnixFDList) list = NULL;
  g_autoptr(GVariant) reply = call (t.bus, t.container, IFACE_C, "Exec",
                                    g_variant_new ("(ss)", exec_id, process_json), "(hhh)", &list,
                                    &error);
  int fds[3];
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      return vc_cli_fail_exec (error);
    }
  if (!reply_fds (reply, list, fds))
    return vc_cli_fail_msg ("vcrund sent no stdio");
  Attached a = { .t = &t, .exec_id = exec_id, .tty = tty };
  return attach_and_wait (&a, fds);
}

static int
bus_ps (VcCli *cli, int argc, char **argv)
{
  g_autofree char *format = NULL;
  int status;
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "table (default) or json", "FORMAT" },
    { NULL }
  };
  if (!vc_cli_parse (vc_cli_command ("ps"), entries, &argc, &argv, &status))
    return status;
  if (format && !g_str_equal (format, "table") && !g_str_equal (format, "json"))
    return vc_cli_fail_msg ("ps: --format takes table or json, not '%s'", format);
  const char *id = vc_cli_single_id ("ps", argc, argv, &status);
  if (id == NULL)
    return status;
  g_autoptr(GError) error = NULL;
  g_auto(Target) t = { 0 };
  if (!open_target (cli, id, &t, &error))
    return fail (error);
  if (t.container == NULL)
    return vc_cli_fail_msg ("ps: sandbox %s has no container %s", id, id);
  g_autoptr(GVariant) reply = call (t.bus, t.container, IFACE_C, "ListProcesses", NULL,
                                    "(a(sbsi))", NULL, &error);
  if (reply == NULL)
    return fail (error);

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
  vc_cli_print_processes (processes, format);
  return 0;
}

int
vc_cli_bus_dispatch (VcCli *cli, const VcCliCommand *command, int argc, char **argv)
{
  const char *name = command->name;
  if (g_str_equal (name, "spec") || g_str_equal (name, "check") || g_str_equal (name, "plugins"))
    return command->run (cli, argc, argv);
  /* vcrund has its own configuration and state dir: silently using
   * another one than asked would act on the wrong sandboxes. */
  if (cli->root || cli->config_file)
    return vc_cli_fail_msg ("%s --bus: %s applies to vcrun's own runtime, not to vcrund's "
                            "(see vcrund --config and --root)", name,
                            cli->root ? "--root" : "--config");
  if (g_str_equal (name, "run") || g_str_equal (name, "create"))
    return bus_create_or_run (cli, name, argc, argv);
  if (g_str_equal (name, "start"))
    return bus_simple (cli, name, "Start", argc, argv);
  if (g_str_equal (name, "pause"))
    return bus_simple (cli, name, "Pause", argc, argv);
  if (g_str_equal (name, "resume"))
    return bus_simple (cli, name, "Resume", argc, argv);
  if (g_str_equal (name, "state"))
    return bus_state (cli, argc, argv);
  if (g_str_equal (name, "list"))
    return bus_list (cli, argc, argv);
  if (g_str_equal (name, "kill"))
    return bus_kill (cli, argc, argv);
  if (g_str_equal (name, "delete"))
    return bus_delete (cli, argc, argv);
  if (g_str_equal (name, "exec"))
    return bus_exec (cli, argc, argv);
  if (g_str_equal (name, "ps"))
    return bus_ps (cli, argc, argv);
  return vc_cli_fail_msg ("%s --bus=%s: not available through vcrund; run it without --bus",
                          name, cli->bus);
}
