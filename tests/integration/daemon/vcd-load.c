/* Load on vcrund (issue 18 part 7): CLIENTS threads, each with its own
 * D-Bus connection, each running CYCLES whole lifecycles at once:
 *   CreateSandbox, Sandbox.Start, CreateContainer, Container.Start,
 *   Exec (its stdout read to the end and compared) + WaitExec (status 0),
 *   Container.Delete(force), Sandbox.Stop, Sandbox.Delete.
 * Prints one line per step, "STEP n N p50 X ms p99 Y ms max Z ms", and the
 * whole cycle; every failure with its sandbox and step. Exits 1 on any.
 *
 *   vcd-load ADDRESS CLIENTS CYCLES BUNDLE PROCESS_JSON EXPECTED_STDOUT
 * Environment: VCD_LOAD_PREFIX (sandbox ids, default "load"),
 * VCD_LOAD_BOOT_TIMEOUT_MS (CreateSandbox's boot_timeout_ms),
 * VCD_LOAD_CALL_TIMEOUT_MS (each call's deadline, default 120 s). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#define BUS_NAME "org.vcrun.Runtime1"
#define MANAGER_PATH "/org/vcrun/Runtime1"
#define IFACE "org.vcrun.Runtime1."
/* Every call, and reading an exec's output, has a deadline: a lost reply
 * fails the run instead of hanging it. VCD_LOAD_CALL_TIMEOUT_MS overrides
 * it (real VMs booting under TCG need minutes). */
#define DEFAULT_CALL_TIMEOUT_MS (120 * 1000)
static int call_timeout_ms = DEFAULT_CALL_TIMEOUT_MS;

enum { CREATE, BOOT, CREATE_CONTAINER, START, EXEC, DELETE, CYCLE, N_STEPS };
static const char *const step_names[N_STEPS] = {
  "CreateSandbox", "Sandbox.Start", "CreateContainer", "Container.Start", "Exec+WaitExec",
  "Delete(container,sandbox)", "whole cycle",
};

static const char *address, *bundle, *process_json, *expected, *prefix;
static guint cycles;
static guint32 boot_timeout_ms;

static GMutex lock;
static GArray *latencies[N_STEPS];   /* double, ms */
static guint failures;

typedef struct {
  guint            index;
  GDBusConnection *bus;
} Client;

static void
record (int step, gint64 t0)
{
  double ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_mutex_lock (&lock);
  g_array_append_val (latencies[step], ms);
  g_mutex_unlock (&lock);
}

static void
fail (const char *id, const char *step, GError *error)
{
  g_mutex_lock (&lock);
  failures++;
  g_mutex_unlock (&lock);
  if (error != NULL)
    g_dbus_error_strip_remote_error (error);
  g_printerr ("vcd-load: %s: %s: %s\n", id, step, error ? error->message : "failed");
}

static GVariant *
call (Client *c, const char *path, const char *iface, const char *method, GVariant *params,
      const char *reply_type, GUnixFDList **out_fds, GError **error)
{
  return g_dbus_connection_call_with_unix_fd_list_sync (
      c->bus, BUS_NAME, path, iface, method, params,
      reply_type ? G_VARIANT_TYPE (reply_type) : NULL, G_DBUS_CALL_FLAGS_NONE, call_timeout_ms,
      NULL, out_fds, NULL, error);
}

/* Reads the exec's stdout and stderr to their end (or the deadline); its
 * stdout, trimmed, or NULL with error set. Each fd is closed exactly once:
 * the other clients' threads receive fds all the time, and closing a number
 * twice closes whatever another thread just got (its D-Bus call's wake-up
 * fd, so that call waited for ever; another exec's stdout, so its output
 * came back empty). */
static char *
drain_exec (GVariant *reply, GUnixFDList *fds, GError **error)
{
  gint32 h[3];
  g_variant_get (reply, "(hhh)", &h[0], &h[1], &h[2]);
  gint n = 0;
  g_autofree int *all = fds ? g_unix_fd_list_steal_fds (fds, &n) : NULL;
  int fd[3] = { -1, -1, -1 };
  for (int i = 0; i < 3; i++)
    if (h[i] >= 0 && h[i] < n)
      {
        fd[i] = all[h[i]];
        all[h[i]] = -1;   /* fd[] owns it now */
      }
  for (int i = 0; i < n; i++)
    if (all[i] >= 0)
      close (all[i]);
  if (fd[0] >= 0)
    close (fd[0]);
  fd[0] = -1;
  if (fd[1] < 0)
    {
      if (fd[2] >= 0)
        close (fd[2]);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Exec returned no stdout fd");
      return NULL;
    }
  g_autoptr(GString) out = g_string_new (NULL);
  char buf[4096];
  gint64 deadline = g_get_monotonic_time () + (gint64) call_timeout_ms * G_TIME_SPAN_MILLISECOND;
  while (fd[1] >= 0 || fd[2] >= 0)
    {
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      if (left_ms <= 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "the exec's output did not end within %d ms", call_timeout_ms);
          break;
        }
      struct pollfd p[2] = { { .fd = fd[1], .events = POLLIN }, { .fd = fd[2], .events = POLLIN } };
      if (poll (p, 2, (int) MIN (left_ms, 1000)) < 0 && errno != EINTR)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "poll: %s",
                       g_strerror (errno));
          break;
        }
      for (int i = 0; i < 2; i++)
        if (fd[i + 1] >= 0 && p[i].revents != 0)
          {
            ssize_t r = read (fd[i + 1], buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
              continue;
            if (r < 0)
              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "reading %s: %s",
                           i == 0 ? "stdout" : "stderr", g_strerror (errno));
            if (r <= 0)
              {
                close (fd[i + 1]);
                fd[i + 1] = -1;
              }
            else if (i == 0)
              g_string_append_len (out, buf, r);
          }
      if (error && *error)
        break;
    }
  for (int i = 1; i < 3; i++)
    if (fd[i] >= 0)
      close (fd[i]);
  if (error && *error)
    return NULL;
  g_strchomp (out->str);
  return g_strdup (out->str);
}

static gboolean
one_cycle (Client *c, guint cycle)
{
  g_autofree char *id = g_strdup_printf ("%s-%u-%u", prefix, c->index, cycle);
  g_autoptr(GError) error = NULL;
  /* Declared before the first goto: their cleanups run at every return. */
  g_autofree char *sandbox = NULL, *container = NULL, *output = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  gint64 t_cycle = g_get_monotonic_time (), t0 = t_cycle;

  g_auto(GVariantBuilder) opts = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  if (boot_timeout_ms != 0)
    g_variant_builder_add (&opts, "{sv}", "boot_timeout_ms", g_variant_new_uint32 (boot_timeout_ms));
  g_autoptr(GVariant) r = call (c, MANAGER_PATH, IFACE "Manager", "CreateSandbox",
                                g_variant_new ("(sa{sv})", id, &opts), "(o)", NULL, &error);
  if (r == NULL)
    return fail (id, "CreateSandbox", error), FALSE;
  record (CREATE, t0);
  g_variant_get (r, "(o)", &sandbox);
  g_clear_pointer (&r, g_variant_unref);

  t0 = g_get_monotonic_time ();
  r = call (c, sandbox, IFACE "Sandbox", "Start", NULL, NULL, NULL, &error);
  if (r == NULL)
    goto fail_start;
  record (BOOT, t0);
  g_clear_pointer (&r, g_variant_unref);

  t0 = g_get_monotonic_time ();
  r = call (c, sandbox, IFACE "Sandbox", "CreateContainer", g_variant_new ("(ss)", "c", bundle),
            "(o)", NULL, &error);
  if (r == NULL)
    goto fail_start;
  record (CREATE_CONTAINER, t0);
  g_variant_get (r, "(o)", &container);
  g_clear_pointer (&r, g_variant_unref);

  t0 = g_get_monotonic_time ();
  r = call (c, container, IFACE "Container", "Start", NULL, NULL, NULL, &error);
  if (r == NULL)
    goto fail_start;
  record (START, t0);
  g_clear_pointer (&r, g_variant_unref);

  t0 = g_get_monotonic_time ();
  r = call (c, container, IFACE "Container", "Exec", g_variant_new ("(ss)", "e", process_json),
            "(hhh)", &fds, &error);
  if (r == NULL)
    goto fail_start;
  output = drain_exec (r, fds, &error);
  g_clear_pointer (&r, g_variant_unref);
  if (output == NULL)
    goto fail_start;
  r = call (c, container, IFACE "Container", "WaitExec", g_variant_new ("(s)", "e"), "(i)", NULL,
            &error);
  if (r == NULL)
    goto fail_start;
  gint32 status = -1;
  g_variant_get (r, "(i)", &status);
  g_clear_pointer (&r, g_variant_unref);
  if (!g_str_equal (output, expected) || status != 0)
    {
      g_autofree char *what = g_strdup_printf ("Exec: output '%s', status %d", output, status);
      fail (id, what, NULL);
      goto cleanup;
    }
  record (EXEC, t0);

  t0 = g_get_monotonic_time ();
  r = call (c, container, IFACE "Container", "Delete", g_variant_new ("(b)", TRUE), NULL, NULL,
            &error);
  if (r == NULL)
    goto fail_start;
  g_clear_pointer (&r, g_variant_unref);
  r = call (c, sandbox, IFACE "Sandbox", "Stop", NULL, NULL, NULL, &error);
  if (r == NULL)
    goto fail_start;
  g_clear_pointer (&r, g_variant_unref);
  r = call (c, sandbox, IFACE "Sandbox", "Delete", g_variant_new ("(b)", FALSE), NULL, NULL, &error);
  if (r == NULL)
    {
      fail (id, "Sandbox.Delete", error);
      return FALSE;
    }
  record (DELETE, t0);
  record (CYCLE, t_cycle);
  return TRUE;

fail_start:
  fail (id, "lifecycle", error);
cleanup:
  g_clear_error (&error);
  g_clear_pointer (&r, g_variant_unref);
  r = call (c, sandbox, IFACE "Sandbox", "Delete", g_variant_new ("(b)", TRUE), NULL, NULL, &error);
  if (r == NULL)
    fail (id, "cleanup Delete(force)", error);
  return FALSE;
}

static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  for (guint i = 0; i < cycles; i++)
    one_cycle (c, i);
  return NULL;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (GArray *a, double p)
{
  guint i = (guint) (p * (a->len - 1) + 0.5);
  return g_array_index (a, double, MIN (i, a->len - 1));
}

int
main (int argc, char **argv)
{
  if (argc != 7)
    {
      g_printerr ("usage: vcd-load ADDRESS CLIENTS CYCLES BUNDLE PROCESS_JSON EXPECTED_STDOUT\n");
      return 2;
    }
  address = argv[1];
  guint clients = (guint) atoi (argv[2]);
  cycles = (guint) atoi (argv[3]);
  bundle = argv[4];
  process_json = argv[5];
  expected = argv[6];
  prefix = g_getenv ("VCD_LOAD_PREFIX") ? g_getenv ("VCD_LOAD_PREFIX") : "load";
  if (g_getenv ("VCD_LOAD_CALL_TIMEOUT_MS") && atoi (g_getenv ("VCD_LOAD_CALL_TIMEOUT_MS")) > 0)
    call_timeout_ms = atoi (g_getenv ("VCD_LOAD_CALL_TIMEOUT_MS"));
  if (g_getenv ("VCD_LOAD_BOOT_TIMEOUT_MS"))
    boot_timeout_ms = (guint32) atoi (g_getenv ("VCD_LOAD_BOOT_TIMEOUT_MS"));
  for (int i = 0; i < N_STEPS; i++)
    latencies[i] = g_array_new (FALSE, FALSE, sizeof (double));

  Client *all = g_new0 (Client, clients);
  GThread **threads = g_new0 (GThread *, clients);
  for (guint i = 0; i < clients; i++)
    {
      g_autoptr(GError) error = NULL;
      all[i].index = i;
      all[i].bus = g_dbus_connection_new_for_address_sync (
          address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                   | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
      if (all[i].bus == NULL)
        {
          g_printerr ("vcd-load: %s: %s\n", address, error->message);
          return 1;
        }
    }
  gint64 t0 = g_get_monotonic_time ();
  for (guint i = 0; i < clients; i++)
    threads[i] = g_thread_new ("client", client_thread, &all[i]);
  for (guint i = 0; i < clients; i++)
    g_thread_join (threads[i]);
  double wall = (g_get_monotonic_time () - t0) / 1e6;

  g_print ("%u clients x %u cycles: %u lifecycles done, %u failures, %.1f s wall\n", clients,
           cycles, latencies[CYCLE]->len, failures, wall);
  for (int i = 0; i < N_STEPS; i++)
    {
      GArray *a = latencies[i];
      if (a->len == 0)
        continue;
      g_array_sort (a, compare_doubles);
      g_print ("%-26s n %4u  p50 %8.1f ms  p99 %8.1f ms  max %8.1f ms\n", step_names[i], a->len,
               percentile (a, 0.5), percentile (a, 0.99), g_array_index (a, double, a->len - 1));
    }
  for (guint i = 0; i < clients; i++)
    g_object_unref (all[i].bus);
  g_free (all);
  g_free (threads);
  return failures == 0 && latencies[CYCLE]->len == clients * cycles ? 0 : 1;
}
