/* Reaping children. The agent is init, so every orphan of the guest comes to
 * it; one thread waits for them all and hands exit statuses to whoever
 * registered the pid. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct Child {
  Child *next;
  pid_t pid;
  bool exited;
  int status;
};

/* Exits nobody had registered yet (the child was faster than the parent's
 * registration). Bounded; entries expire so a reused pid is not confused. */
#define UNCLAIMED_MAX 256
#define UNCLAIMED_TTL_MS 30000
typedef struct {
  pid_t pid;
  int status;
  int64_t when;
} Unclaimed;

static pthread_mutex_t children_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t children_cond = PTHREAD_COND_INITIALIZER;
static Child *children;
static Unclaimed unclaimed[UNCLAIMED_MAX];
static size_t unclaimed_next;

static void
record_exit (pid_t pid, int status)
{
  pthread_mutex_lock (&children_lock);
  Child *c;
  for (c = children; c; c = c->next)
    if (c->pid == pid && !c->exited)
      break;
  if (c)
    {
      c->exited = true;
      c->status = status;
      pthread_cond_broadcast (&children_cond);
    }
  else
    {
      unclaimed[unclaimed_next] = (Unclaimed) { .pid = pid, .status = status, .when = monotonic_ms () };
      unclaimed_next = (unclaimed_next + 1) % UNCLAIMED_MAX;
    }
  pthread_mutex_unlock (&children_lock);
}

static void *
reaper_thread (void *data)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  for (;;)
    {
      int status;
      pid_t pid;
      while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
        record_exit (pid, status);
      /* Wake on SIGCHLD, and now and then anyway in case one was merged. */
      struct timespec ts = { .tv_sec = 1 };
      sigtimedwait (&set, NULL, &ts);
    }
  return NULL;
}

void
reaper_start (void)
{
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create (&t, &attr, reaper_thread, NULL) != 0)
    {
      agent_log ("cannot start the reaper thread");
      abort ();
    }
  pthread_attr_destroy (&attr);
}

Child *
child_register (pid_t pid)
{
  Child *c = xcalloc (1, sizeof *c);
  c->pid = pid;
  pthread_mutex_lock (&children_lock);
  int64_t now = monotonic_ms ();
  for (size_t i = 0; i < UNCLAIMED_MAX; i++)
    if (unclaimed[i].pid == pid && now - unclaimed[i].when < UNCLAIMED_TTL_MS)
      {
        c->exited = true;
        c->status = unclaimed[i].status;
        unclaimed[i].pid = 0;
        break;
      }
  c->next = children;
  children = c;
  pthread_mutex_unlock (&children_lock);
  return c;
}

bool
child_wait (Child *child, int timeout_ms, int *status)
{
  struct timespec deadline;
  clock_gettime (CLOCK_REALTIME, &deadline);
  if (timeout_ms >= 0)
    {
      deadline.tv_sec += timeout_ms / 1000;
      deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
      if (deadline.tv_nsec >= 1000000000)
        {
          deadline.tv_sec++;
          deadline.tv_nsec -= 1000000000;
        }
    }
  pthread_mutex_lock (&children_lock);
  while (!child->exited)
    {
      if (timeout_ms < 0)
        pthread_cond_wait (&children_cond, &children_lock);
      else if (pthread_cond_timedwait (&children_cond, &children_lock, &deadline) == ETIMEDOUT)
        break;
    }
  bool exited = child->exited;
  if (exited && status)
    *status = child->status;
  pthread_mutex_unlock (&children_lock);
  return exited;
}

bool
child_exited (Child *child)
{
  pthread_mutex_lock (&children_lock);
  bool exited = child->exited;
  pthread_mutex_unlock (&children_lock);
  return exited;
}

void
child_release (Child *child)
{
  if (!child)
    return;
  pthread_mutex_lock (&children_lock);
  for (Child **p = &children; *p; p = &(*p)->next)
    if (*p == child)
      {
        *p = child->next;
        break;
      }
  pthread_mutex_unlock (&children_lock);
  free (child);
}

int
wait_status_to_exit_code (int status)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return 255;
}

void
child_reset_signals (void)
{
  sigset_t none;
  sigemptyset (&none);
  for (int sig = 1; sig < NSIG; sig++)
    signal (sig, SIG_DFL);
  sigprocmask (SIG_SETMASK, &none, NULL);
}

int
run_command (char *const argv[])
{
  pid_t pid = fork ();
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      child_reset_signals ();
      execv (argv[0], argv);
      _exit (127);
    }
  Child *c = child_register (pid);
  int status = 0;
  child_wait (c, -1, &status);
  child_release (c);
  return wait_status_to_exit_code (status);
}
