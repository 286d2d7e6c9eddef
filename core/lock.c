/* libvcrun internal: the per-sandbox lock (flock with a timeout). */
#include "config.h"

#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vcrun/types.h>

struct VcLock {
  int fd;
};

/* Polling keeps the timeout exact without signals or threads; 10 ms is far
 * below the time any locked operation takes. */
#define LOCK_POLL_US 10000

static int
open_lock (const char *path, const char *what, GError **error)
{
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, saved == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
                   "%s: cannot open lock %s: %s", what, path, g_strerror (saved));
    }
  return fd;
}

/* Whether fd is still the file at path: a holder may have deleted the
 * directory (and someone made a new one) while we waited. */
static gboolean
still_current (int fd, const char *path)
{
  struct stat a, b;
  return fstat (fd, &a) == 0 && stat (path, &b) == 0 && a.st_dev == b.st_dev
         && a.st_ino == b.st_ino;
}

VcLock *
vc_lock_acquire (const char *path, const char *what, guint timeout_ms, GError **error)
{
  int fd = open_lock (path, what, error);
  if (fd < 0)
    return NULL;

  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  for (;;)
    {
      if (flock (fd, LOCK_EX | LOCK_NB) == 0)
        {
          if (still_current (fd, path))
            break;
          close (fd);
          fd = open_lock (path, what, error);
          if (fd < 0)
            return NULL;
          continue;
        }
      int saved = errno;
      if (saved == EINTR)
        continue;
      if (saved != EWOULDBLOCK)
        {
          close (fd);
          g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "%s: cannot lock %s: %s",
                       what, path, g_strerror (saved));
          return NULL;
        }
      if (g_get_monotonic_time () >= deadline)
        {
          close (fd);
          g_set_error (error, VC_ERROR, VC_ERROR_BUSY,
                       "%s is locked by another operation (waited %u ms)", what, timeout_ms);
          return NULL;
        }
      g_usleep (LOCK_POLL_US);
    }

  VcLock *lock = g_new0 (VcLock, 1);
  lock->fd = fd;
  return lock;
}

void
vc_lock_release (VcLock *lock)
{
  if (lock == NULL)
    return;
  /* Closing the last descriptor releases the flock. */
  close (lock->fd);
  g_free (lock);
}
