/* The "second process" of the reattach test: attaches to a running VM from
 * the state another process saved, checks it runs and that the agent channel
 * is known to be open, stops it and says so.
 *
 * usage: qemu-attach-helper PLUGIN.so MACHINE SANDBOX-ID STATE-DIR SAVED-STATE-FILE
 * Exit status 0 and "stopped: REASON" on stdout when all went well. */
#include "config.h"

#include <stdio.h>

#include "qemu-test-util.h"

static GMutex lock;
static GCond cond;
static char *stopped_reason;
static int stopped_count;

static void
on_event (VcVmEvent event, const char *detail, gpointer data)
{
  if (event != VC_VM_EVENT_STOPPED)
    return;
  g_mutex_lock (&lock);
  stopped_count++;
  g_free (stopped_reason);
  stopped_reason = g_strdup (detail);
  g_cond_broadcast (&cond);
  g_mutex_unlock (&lock);
}

int
main (int argc, char **argv)
{
  if (argc != 6)
    {
      fprintf (stderr, "usage: %s PLUGIN.so MACHINE SANDBOX-ID STATE-DIR SAVED-STATE-FILE\n", argv[0]);
      return 2;
    }
  g_autoptr (GError) error = NULL;
  QemuTestPlugin plugin = { 0 };
  if (!qemu_test_load_plugin (argv[1], argv[2], &plugin, &error))
    {
      fprintf (stderr, "helper: %s\n", error->message);
      return 1;
    }
  g_autofree char *saved = NULL;
  if (!g_file_get_contents (argv[5], &saved, NULL, &error))
    {
      fprintf (stderr, "helper: %s\n", error->message);
      return 1;
    }
  VcVmConfig config = { .struct_size = sizeof config, .sandbox_id = argv[3], .state_dir = argv[4],
                        .event_func = on_event };
  VcVm *vm = plugin.ops->attach_vm (plugin.instance, &config, saved, &error);
  if (vm == NULL)
    {
      fprintf (stderr, "helper: attach_vm: %s\n", error->message);
      return 1;
    }
  VcVmStatus status = plugin.ops->get_status (vm, &error);
  if (status != VC_VM_STATUS_RUNNING)
    {
      fprintf (stderr, "helper: status %d, not running: %s\n", (int) status,
               error != NULL ? error->message : "");
      return 1;
    }
  GArray *pids = plugin.ops->get_pids (vm, &error);
  if (pids == NULL)
    {
      fprintf (stderr, "helper: get_pids: %s\n", error->message);
      return 1;
    }
  printf ("attached: pid %d\n", g_array_index (pids, gint, 0));
  g_array_unref (pids);
  /* The guest opened its port while the first process held QMP. */
  if (!plugin.ops->wait_agent_channel (vm, 5000, &error))
    {
      fprintf (stderr, "helper: wait_agent_channel: %s\n", error->message);
      return 1;
    }
  printf ("agent channel: open\n");
  /* Long enough for a slow TCG guest to power off by itself. */
  gint64 t0 = g_get_monotonic_time ();
  if (!plugin.ops->stop_vm (vm, 30000, &error))
    {
      fprintf (stderr, "helper: stop_vm: %s\n", error->message);
      return 1;
    }
  printf ("stop_vm took %" G_GINT64_FORMAT " ms\n", (g_get_monotonic_time () - t0) / 1000);
  g_mutex_lock (&lock);
  gint64 deadline = g_get_monotonic_time () + G_USEC_PER_SEC;
  while (stopped_count == 0)
    if (!g_cond_wait_until (&cond, &lock, deadline))
      break;
  int count = stopped_count;
  g_autofree char *reason = g_strdup (stopped_reason);
  g_mutex_unlock (&lock);
  plugin.ops->free_vm (vm);
  plugin.desc->destroy (plugin.instance);
  if (count != 1)
    {
      fprintf (stderr, "helper: %d STOPPED events instead of 1\n", count);
      return 1;
    }
  printf ("stopped: %s\n", reason);
  return 0;
}
