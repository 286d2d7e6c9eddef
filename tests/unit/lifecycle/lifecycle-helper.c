/* The "second process" of the lifecycle tests:
 *   lifecycle-helper CONFIG COMMAND SANDBOX-ID [ARG]
 * COMMAND: state (prints "<state> <reason>"), create, stop, delete,
 * delete-force, hold-lock MS (prints "locked", holds the sandbox lock MS ms),
 * churn (pauses and resumes forever; prints "churning" once).
 * Exit status 0 on success, 1 with the error on stderr. */
#include <stdio.h>
#include <stdlib.h>

#include "container.h"
#include "lock.h"
#include "runtime.h"
#include "sandbox.h"

static int
fail (const GError *error)
{
  fprintf (stderr, "%s\n", error->message);
  return 1;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;

  if (argc < 4)
    {
      fprintf (stderr, "usage: %s CONFIG COMMAND SANDBOX-ID [ARG]\n", argv[0]);
      return 2;
    }
  const char *command = argv[2], *id = argv[3];
  g_autoptr(VcRuntime) rt = vc_runtime_new (argv[1], NULL, &error);
  if (rt == NULL)
    return fail (error);

  if (g_str_equal (command, "hold-lock"))
    {
      g_autofree char *path = g_build_filename (vc_runtime_get_state_dir (rt), id, "lock", NULL);
      g_autoptr(VcLock) lock = vc_lock_acquire (path, id, 0, &error);
      if (lock == NULL)
        return fail (error);
      printf ("locked\n");
      fflush (stdout);
      g_usleep ((gulong) atol (argc > 4 ? argv[4] : "1000") * 1000);
      return 0;
    }

  if (g_str_equal (command, "create"))
    {
      g_autoptr(VcSandbox) sb = vc_sandbox_create (rt, id, NULL, &error);
      return sb ? 0 : fail (error);
    }

  g_autoptr(VcSandbox) sb = vc_sandbox_load (rt, id, &error);
  if (sb == NULL)
    return fail (error);

  if (g_str_equal (command, "state"))
    {
      g_autofree char *reason = vc_sandbox_dup_reason (sb);
      g_autoptr(GPtrArray) containers = vc_sandbox_list_containers (sb);
      printf ("%s %s", vc_sandbox_state_to_string (vc_sandbox_get_state (sb)),
              reason ? reason : "-");
      for (guint i = 0; i < containers->len; i++)
        printf (" %s=%s", vc_container_get_id (containers->pdata[i]),
                vc_container_state_to_string (vc_container_get_state (containers->pdata[i])));
      printf ("\n");
      return 0;
    }
  if (g_str_equal (command, "stop"))
    return vc_sandbox_stop (sb, &error) ? 0 : fail (error);
  if (g_str_equal (command, "delete"))
    return vc_sandbox_delete (sb, FALSE, &error) ? 0 : fail (error);
  if (g_str_equal (command, "delete-force"))
    return vc_sandbox_delete (sb, TRUE, &error) ? 0 : fail (error);
  if (g_str_equal (command, "churn"))
    {
      for (gboolean first = TRUE;; first = FALSE)
        {
          if (!vc_sandbox_pause (sb, &error) || !vc_sandbox_resume (sb, &error))
            return fail (error);
          if (first)
            {
              printf ("churning\n");
              fflush (stdout);
            }
        }
    }
  fprintf (stderr, "unknown command %s\n", command);
  return 2;
}
