/* A small org.vcrun.Runtime1 client for the daemon tests: what busctl and
 * gdbus cannot do (read the stdio fds a call returns, time round trips).
 *
 *   vcd-client ADDRESS attach CONTAINER_PATH
 *       Attach; copies the process's stdout and stderr to ours until both
 *       end, and our stdin to its stdin. Exit 0.
 *   vcd-client ADDRESS exec CONTAINER_PATH EXEC_ID PROCESS_JSON
 *       Exec, the same copying, then WaitExec: exits with the status.
 *   vcd-client ADDRESS set-stdio CONTAINER_PATH
 *       SetStdio with our stdin, stdout and stderr. Exit 0.
 *   vcd-client ADDRESS bench N SANDBOX_PATH
 *       Times N round trips each of the dbus-daemon's GetId (the floor),
 *       vcrund's Peer.Ping, a Manager.Version property read, a
 *       Sandbox.State property read and ListSandboxes; prints
 *       "NAME mean_us p50_us max_us" lines.
 *   vcd-client ADDRESS latency MS
 *       For MS milliseconds, calls ListSandboxes and reads Version back to
 *       back; prints "calls N max_ms X".
 * Errors print the D-Bus error name and message, exit 1.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#define BUS_NAME "org.vcrun.Runtime1"
#define MANAGER_PATH "/org/vcrun/Runtime1"

static GDBusConnection *
connect_bus (const char *address)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *c = g_dbus_connection_new_for_address_sync (
      address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  if (c == NULL)
    {
      g_printerr ("vcd-client: %s: %s\n", address, error->message);
      exit (1);
    }
  return c;
}

static G_NORETURN void
die (GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);
  g_dbus_error_strip_remote_error (error);
  g_printerr ("vcd-client: %s: %s\n", name ? name : "error", error->message);
  exit (1);
}

static GVariant *
call (GDBusConnection *c, const char *path, const char *iface, const char *method,
      GVariant *params, const char *reply_type, GUnixFDList **out_fds)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_with_unix_fd_list_sync (
      c, BUS_NAME, path, iface, method, params, reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
      G_DBUS_CALL_FLAGS_NONE, 120000, NULL, out_fds, NULL, &error);
  if (reply == NULL)
    die (error);
  return reply;
}

/* Copies out/err to our stdout/stderr and our stdin to in, until out and
 * err end. */
static void
pump (int in, int out, int err)
{
  int our_in = 0;
  char buf[65536];
  while (out >= 0 || err >= 0)
    {
      struct pollfd pfd[3] = { { .fd = out, .events = POLLIN }, { .fd = err, .events = POLLIN },
                               { .fd = in >= 0 ? our_in : -1, .events = POLLIN } };
      if (poll (pfd, 3, -1) < 0)
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
              continue;
            }
          if (write (i == 0 ? 1 : 2, buf, n) != n)
            exit (1);
        }
      if (in >= 0 && pfd[2].revents)
        {
          ssize_t n = read (our_in, buf, sizeof buf);
          if (n <= 0 || write (in, buf, n) != n)
            {
              close (in);
              in = -1;
            }
        }
    }
  if (in >= 0)
    close (in);
}

static void
pump_reply (GVariant *reply, GUnixFDList *fds)
{
  gint32 h[3];
  g_variant_get (reply, "(hhh)", &h[0], &h[1], &h[2]);
  /* Stolen, not duplicated: a copy left in the list would keep the
   * process's stdin open after we close ours. */
  gint n = 0;
  g_autofree int *all = g_unix_fd_list_steal_fds (fds, &n);
  for (int i = 0; i < 3; i++)
    if (h[i] < 0 || h[i] >= n)
      {
        g_printerr ("vcd-client: bad fd index %d\n", h[i]);
        exit (1);
      }
  pump (all[h[0]], all[h[1]], all[h[2]]);
}

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static void
report (const char *name, GArray *times)
{
  g_array_sort (times, compare_gint64);
  gint64 sum = 0;
  for (guint i = 0; i < times->len; i++)
    sum += g_array_index (times, gint64, i);
  g_print ("%s mean_us %" G_GINT64_FORMAT " p50_us %" G_GINT64_FORMAT " max_us %" G_GINT64_FORMAT
           " n %u\n", name, sum / (gint64) times->len,
           g_array_index (times, gint64, times->len / 2),
           g_array_index (times, gint64, times->len - 1), times->len);
}

static void
bench (GDBusConnection *c, int n, const char *sandbox_path)
{
  struct {
    const char *name, *path, *iface, *method;
    GVariant *(*params) (void);
  } cases[] = {
    { "ping", MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL },
    { "get_version", MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get", NULL },
    { "get_sandbox_state", sandbox_path, "org.freedesktop.DBus.Properties", "Get", NULL },
    { "list_sandboxes", MANAGER_PATH, "org.vcrun.Runtime1.Manager", "ListSandboxes", NULL },
  };
  /* The floor: a call answered by the dbus-daemon itself. */
  {
    g_autoptr(GArray) times = g_array_new (FALSE, FALSE, sizeof (gint64));
    for (int i = 0; i < n; i++)
      {
        g_autoptr(GError) error = NULL;
        gint64 t0 = now_us ();
        g_autoptr(GVariant) reply = g_dbus_connection_call_sync (
            c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
            NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 120000, NULL, &error);
        gint64 dt = now_us () - t0;
        if (reply == NULL)
          die (error);
        g_array_append_val (times, dt);
      }
    report ("bus_get_id", times);
  }
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      g_autoptr(GArray) times = g_array_new (FALSE, FALSE, sizeof (gint64));
      for (int i = 0; i < n; i++)
        {
          GVariant *params = NULL;
          if (k == 1)
            params = g_variant_new ("(ss)", "org.vcrun.Runtime1.Manager", "Version");
          else if (k == 2)
            params = g_variant_new ("(ss)", "org.vcrun.Runtime1.Sandbox", "State");
          gint64 t0 = now_us ();
          g_autoptr(GVariant) reply = call (c, cases[k].path, cases[k].iface, cases[k].method,
                                            params, NULL, NULL);
          gint64 dt = now_us () - t0;
          g_array_append_val (times, dt);
        }
      report (cases[k].name, times);
    }
}

static void
latency (GDBusConnection *c, int ms)
{
  gint64 end = now_us () + (gint64) ms * 1000, max = 0;
  guint calls = 0;
  while (now_us () < end)
    {
      gint64 t0 = now_us ();
      g_autoptr(GVariant) a = call (c, MANAGER_PATH, "org.vcrun.Runtime1.Manager", "ListSandboxes",
                                    NULL, "(ao)", NULL);
      g_autoptr(GVariant) b = call (c, MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get",
                                    g_variant_new ("(ss)", "org.vcrun.Runtime1.Manager", "Version"),
                                    NULL, NULL);
      gint64 dt = now_us () - t0;
      max = MAX (max, dt);
      calls += 2;
      g_usleep (20000);
    }
  g_print ("calls %u max_ms %.1f\n", calls, max / 1000.0);
}

int
main (int argc, char **argv)
{
  if (argc < 3)
    {
      g_printerr ("usage: vcd-client ADDRESS attach|exec|bench|latency ...\n");
      return 2;
    }
  g_autoptr(GDBusConnection) c = connect_bus (argv[1]);
  const char *cmd = argv[2];

  if (g_str_equal (cmd, "attach") && argc == 4)
    {
      g_autoptr(GUnixFDList) fds = NULL;
      g_autoptr(GVariant) reply = call (c, argv[3], "org.vcrun.Runtime1.Container", "Attach",
                                        NULL, "(hhh)", &fds);
      pump_reply (reply, fds);
      return 0;
    }
  if (g_str_equal (cmd, "exec") && argc == 6)
    {
      g_autoptr(GUnixFDList) fds = NULL;
      g_autoptr(GVariant) reply = call (c, argv[3], "org.vcrun.Runtime1.Container", "Exec",
                                        g_variant_new ("(ss)", argv[4], argv[5]), "(hhh)", &fds);
      pump_reply (reply, fds);
      g_autoptr(GVariant) status = call (c, argv[3], "org.vcrun.Runtime1.Container", "WaitExec",
                                         g_variant_new ("(s)", argv[4]), "(i)", NULL);
      gint32 s;
      g_variant_get (status, "(i)", &s);
      return s;
    }
  if (g_str_equal (cmd, "set-stdio") && argc == 4)
    {
      g_autoptr(GUnixFDList) list = g_unix_fd_list_new ();
      g_autoptr(GError) error = NULL;
      for (int fd = 0; fd < 3; fd++)
        if (g_unix_fd_list_append (list, fd, &error) < 0)
          die (error);
      g_autoptr(GVariant) reply = g_dbus_connection_call_with_unix_fd_list_sync (
          c, BUS_NAME, argv[3], "org.vcrun.Runtime1.Container", "SetStdio",
          g_variant_new ("(hhh)", 0, 1, 2), NULL, G_DBUS_CALL_FLAGS_NONE, 120000, list, NULL,
          NULL, &error);
      if (reply == NULL)
        die (error);
      return 0;
    }
  if (g_str_equal (cmd, "bench") && argc == 5)
    {
      bench (c, atoi (argv[3]), argv[4]);
      return 0;
    }
  if (g_str_equal (cmd, "latency") && argc == 4)
    {
      latency (c, atoi (argv[3]));
      return 0;
    }
  g_printerr ("vcd-client: bad arguments\n");
  return 2;
}
