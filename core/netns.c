/* libvcrun: network namespaces by path, and a thread that works inside one. */
#include "config.h"

#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include <vcrun/types.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

int
vc_netns_open (const char *path, guint64 *dev, guint64 *ino, GError **error)
{
  if (path == NULL || !g_path_is_absolute (path))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "network namespace path '%s' is not absolute", path ? path : "(null)");
      return -1;
    }
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, saved == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_INVALID_ARGUMENT,
                   "network namespace '%s': %s", path, g_strerror (saved));
      return -1;
    }
  struct statfs sfs;
  struct stat st;
  if (fstatfs (fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC || fstat (fd, &st) < 0
      || ioctl (fd, NS_GET_NSTYPE) != CLONE_NEWNET)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a network namespace (expected a /proc/PID/ns/net file or a "
                   "bind mount of one, as /run/netns/NAME)", path);
      close (fd);
      return -1;
    }
  if (dev)
    *dev = (guint64) st.st_dev;
  if (ino)
    *ino = (guint64) st.st_ino;
  return fd;
}

typedef struct {
  int          ns_fd;
  VcNetnsFunc  func;
  gpointer     data;
  GError      *error;
  gboolean     ok;
} NetnsJob;

static gpointer
netns_thread (gpointer user_data)
{
  NetnsJob *job = user_data;
  int own = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0)
    {
      int saved = errno;
      g_set_error (&job->error, VC_ERROR, VC_ERROR_FAILED,
                   "cannot open this thread's network namespace: %s", g_strerror (saved));
      return NULL;
    }
  if (setns (job->ns_fd, CLONE_NEWNET) < 0)
    {
      int saved = errno;
      g_set_error (&job->error, VC_ERROR, VC_ERROR_FAILED,
                   "cannot enter the network namespace: %s", g_strerror (saved));
      close (own);
      return NULL;
    }
  job->ok = job->func (job->data, &job->error);
  /* Back home: GLib may reuse nothing of this thread, but a thread left in a
   * foreign namespace is a trap for whoever changes that later. */
  if (setns (own, CLONE_NEWNET) < 0)
    g_warning ("cannot return to the original network namespace: %s", g_strerror (errno));
  close (own);
  return NULL;
}

gboolean
vc_netns_run (int ns_fd, VcNetnsFunc func, gpointer data, GError **error)
{
  NetnsJob job = { .ns_fd = ns_fd, .func = func, .data = data };
  g_autoptr(GError) thread_error = NULL;
  GThread *thread = g_thread_try_new ("vc-netns", netns_thread, &job, &thread_error);
  if (thread == NULL)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot start a network namespace thread: %s",
                   thread_error->message);
      return FALSE;
    }
  g_thread_join (thread);
  if (job.error)
    {
      g_propagate_error (error, job.error);
      return FALSE;
    }
  if (!job.ok)
    {
      g_set_error_literal (error, VC_ERROR, VC_ERROR_FAILED, "network namespace job failed");
      return FALSE;
    }
  return TRUE;
}
