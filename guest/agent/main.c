/* vcrun-agent: entry point. As PID 1 of the guest it sets the system up,
 * loads the modules and serves the host; run by hand (tests) it serves a
 * Unix socket given with --unix. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <unistd.h>

/* As init: SIGTERM, SIGINT (Ctrl-Alt-Del) or SIGPWR power the guest off
 * cleanly: containers killed, storages unmounted, disks synced. */
static void *
shutdown_thread (void *data)
{
  sigset_t *set = data;
  int sig = 0;
  sigwait (set, &sig);
  agent_log ("signal %d: powering off", sig);
  containers_destroy_all ();
  sandbox_destroy ();
  sync ();
  reboot (RB_POWER_OFF);
  return NULL;
}

static void
ignore_signal (int sig)
{
}

static void
usage (void)
{
  fprintf (stderr, "usage: vcrun-agent [--unix PATH] [--no-serial] [--no-vsock]\n"
                   "Runs as /init of the vcrun guest; the options are for tests outside a VM.\n");
}

int
main (int argc, char **argv)
{
  const char *unix_path = NULL;
  bool serial = true, vsock = true;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--unix") == 0 && i + 1 < argc)
        unix_path = argv[++i];
      else if (strcmp (argv[i], "--no-serial") == 0)
        serial = false;
      else if (strcmp (argv[i], "--no-vsock") == 0)
        vsock = false;
      else if (getpid () != 1)
        {
          usage ();
          return 2;
        }
      /* as init, the kernel passes unknown command line words: ignore them */
    }

  bool as_init = getpid () == 1;
  if (as_init)
    {
      init_standard_fds ();
      init_mount_system ();
    }
  agent_log_open ();

  /* The reaper thread takes SIGCHLD with sigtimedwait: block it everywhere
   * (threads inherit the mask; children reset it before exec). */
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  static sigset_t shutdown_set;
  sigemptyset (&shutdown_set);
  if (as_init)
    {
      sigaddset (&shutdown_set, SIGTERM);
      sigaddset (&shutdown_set, SIGINT);
      sigaddset (&shutdown_set, SIGPWR);
      sigaddset (&set, SIGTERM);
      sigaddset (&set, SIGINT);
      sigaddset (&set, SIGPWR);
    }
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);
  if (as_init)
    {
      /* The kernel drops signals to init that have no handler, even blocked
       * ones: install one so that sigwait sees them. */
      struct sigaction sa = { .sa_handler = ignore_signal };
      sigaction (SIGTERM, &sa, NULL);
      sigaction (SIGINT, &sa, NULL);
      sigaction (SIGPWR, &sa, NULL);
      /* Ctrl-Alt-Del becomes SIGINT to init instead of an immediate reboot */
      reboot (RB_DISABLE_CAD);
      pthread_t t;
      pthread_create (&t, NULL, shutdown_thread, &shutdown_set);
    }

  if (as_init)
    {
      modules_load_all ();
      AgentError err = { 0 };
      if (!cgroup_setup_root (&err))
        agent_log ("%s", err.message);
    }
  else
    {
      modules_none ();
      prctl (PR_SET_CHILD_SUBREAPER, 1); /* orphans of our containers come to us */
    }

  reaper_start ();
  if (unix_path)
    transport_start_unix (unix_path);
  if (serial && as_init)
    transport_start_serial ();
  if (vsock && as_init)
    transport_start_vsock ();

  for (;;)
    pause (); /* init never exits */
}
