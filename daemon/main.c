/* vcrund: the vcrun D-Bus service.
 *
 *   vcrund [--system | --session | --address ADDR] [--config FILE] [--root DIR]
 *
 * Owns org.vcrun.Runtime1 on the chosen bus (the system bus by default) and
 * serves the API of data/org.vcrun.Runtime1.xml. SIGTERM and SIGINT stop it
 * cleanly: the objects leave the bus, operations in progress finish, the
 * sandboxes keep running, and a later vcrund picks them up from the state dir.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>

#include <glib-unix.h>

#include "vcrund.h"

typedef struct {
  GMainLoop *loop;
  int        exit_status;
  gboolean   name_acquired;
} Service;

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Service *service = user_data;
  service->name_acquired = TRUE;
  g_message ("serving %s as %s", name, g_dbus_connection_get_unique_name (connection));
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Service *service = user_data;
  if (service->name_acquired)
    g_printerr ("vcrund: lost the bus name %s\n", name);
  else
    g_printerr ("vcrund: cannot own the bus name %s (another vcrund runs, or the bus "
                "policy does not allow it)\n", name);
  service->exit_status = EXIT_FAILURE;
  g_main_loop_quit (service->loop);
}

static void
on_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished,
                      GError *error, gpointer user_data)
{
  Service *service = user_data;
  g_printerr ("vcrund: the bus connection closed%s%s\n", error ? ": " : "",
              error ? error->message : "");
  service->exit_status = EXIT_FAILURE;
  g_main_loop_quit (service->loop);
}

static gboolean
on_stop_signal (gpointer user_data)
{
  Service *service = user_data;
  g_message ("stopping (the sandboxes keep running)");
  g_main_loop_quit (service->loop);
  return G_SOURCE_CONTINUE;
}

static GDBusConnection *
connect_bus (gboolean session, const char *address, GError **error)
{
  if (address != NULL)
    return g_dbus_connection_new_for_address_sync (
        address,
        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
        | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, error);
  return g_bus_get_sync (session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, error);
}

int
main (int argc, char **argv)
{
  gboolean system_bus = FALSE, session_bus = FALSE, verbose = FALSE, version = FALSE;
  g_autofree char *address = NULL, *config_file = NULL, *root = NULL;
  GOptionEntry entries[] = {
    { "system", 0, 0, G_OPTION_ARG_NONE, &system_bus, "Serve on the system bus (the default)", NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &session_bus, "Serve on the session bus", NULL },
    { "address", 0, 0, G_OPTION_ARG_STRING, &address, "Serve on the bus at ADDR", "ADDR" },
    { "config", 0, 0, G_OPTION_ARG_FILENAME, &config_file, "Configuration file", "FILE" },
    { "root", 0, 0, G_OPTION_ARG_FILENAME, &root, "State directory (overrides runtime.state_dir)", "DIR" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;

  g_autoptr(GOptionContext) context = g_option_context_new ("- the vcrun D-Bus service");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("vcrund: %s (see vcrund --help)\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("vcrund %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  if (argc > 1)
    {
      g_printerr ("vcrund: unexpected argument '%s' (see vcrund --help)\n", argv[1]);
      return 2;
    }
  if ((system_bus ? 1 : 0) + (session_bus ? 1 : 0) + (address ? 1 : 0) > 1)
    {
      g_printerr ("vcrund: --system, --session and --address exclude each other\n");
      return 2;
    }
  if (verbose)
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);

  /* A reader closing its end of a stdio pipe is an EPIPE, not a death. */
  signal (SIGPIPE, SIG_IGN);

  g_autoptr(VcRuntime) runtime = vc_runtime_new (config_file, root, &error);
  if (runtime == NULL)
    {
      g_printerr ("vcrund: %s\n", error->message);
      return EXIT_FAILURE;
    }

  g_autoptr(GDBusConnection) connection = connect_bus (session_bus, address, &error);
  if (connection == NULL)
    {
      g_printerr ("vcrund: cannot connect to the %s bus: %s\n",
                  address ? address : session_bus ? "session" : "system", error->message);
      return EXIT_FAILURE;
    }
  g_dbus_connection_set_exit_on_close (connection, FALSE);

  Service service = { .loop = g_main_loop_new (NULL, FALSE), .exit_status = EXIT_SUCCESS };
  gulong closed_id = g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed),
                                       &service);

  VcdDaemon *daemon = vcd_daemon_new (runtime, connection, &error);
  if (daemon == NULL)
    {
      g_printerr ("vcrund: %s\n", error->message);
      g_main_loop_unref (service.loop);
      return EXIT_FAILURE;
    }

  /* The objects are in place before the name appears, so that an activated
   * client's first call finds them. */
  guint owner_id = g_bus_own_name_on_connection (connection, VCD_BUS_NAME,
                                                 G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                 on_name_acquired, on_name_lost, &service, NULL);
  guint term_id = g_unix_signal_add (SIGTERM, on_stop_signal, &service);
  guint int_id = g_unix_signal_add (SIGINT, on_stop_signal, &service);

  g_main_loop_run (service.loop);

  g_source_remove (term_id);
  g_source_remove (int_id);
  g_bus_unown_name (owner_id);
  g_signal_handler_disconnect (connection, closed_id);
  vcd_daemon_free (daemon);
  if (!g_dbus_connection_is_closed (connection))
    g_dbus_connection_flush_sync (connection, NULL, NULL);
  g_main_loop_unref (service.loop);
  return service.exit_status;
}
