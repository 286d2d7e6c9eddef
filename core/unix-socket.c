/* libvcrun: Unix stream sockets for the owner service and its clients:
 * bind/connect at any path length, lines with file descriptors attached
 * (SCM_RIGHTS). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vcrun/types.h>

#include "unix-socket.h"


static int
socket_at (const char *path, gboolean bind_it, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_autofree char *short_path = NULL;
  int dir_fd = -1;
  int saved_errno;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      /* Too long for sun_path: go through the directory's fd. */
      g_autofree char *dir = g_path_get_dirname (path);
      g_autofree char *base = g_path_get_basename (path);
      dir_fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dir_fd < 0)
        {
          int e = errno;
          g_set_error (error, VC_ERROR, e == ENOENT ? VC_ERROR_NOT_FOUND : VC_ERROR_FAILED,
                       "cannot open %s: %s", dir, g_strerror (e));
          return -1;
        }
      short_path = g_strdup_printf ("/proc/self/fd/%d/%s", dir_fd, base);
      if (strlen (short_path) >= sizeof addr.sun_path)
        {
          close (dir_fd);
          g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                       "socket name %s is too long", base);
          return -1;
        }
    }
  strcpy (addr.sun_path, short_path ? short_path : path);

  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      saved_errno = errno;
      if (dir_fd >= 0)
        close (dir_fd);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "socket: %s", g_strerror (saved_errno));
      return -1;
    }
  int r;
  if (bind_it)
    {
      unlink (addr.sun_path);
      r = bind (fd, (struct sockaddr *) &addr, sizeof addr);
      if (r == 0)
        r = chmod (addr.sun_path, 0600);
      if (r == 0)
        r = listen (fd, 16);
    }
  else
    {
      do
        r = connect (fd, (struct sockaddr *) &addr, sizeof addr);
      while (r < 0 && errno == EINTR);
    }
  saved_errno = errno;
  if (dir_fd >= 0)
    close (dir_fd);
  if (r < 0)
    {
      close (fd);
      g_set_error (error, VC_ERROR,
                   saved_errno == ENOENT || saved_errno == ECONNREFUSED ? VC_ERROR_STOPPED : VC_ERROR_FAILED,
                   "%s %s: %s", bind_it ? "cannot listen on" : "cannot connect to", path,
                   g_strerror (saved_errno));
      return -1;
    }
  return fd;
}

int
vc_unix_socket_bind (const char *path, GError **error)
{
  return socket_at (path, TRUE, error);
}

int
vc_unix_socket_connect (const char *path, GError **error)
{
  return socket_at (path, FALSE, error);
}

gboolean
vc_unix_send_with_fds (int fd, const char *data, gsize len, const int *fds, guint n_fds,
                        GError **error)
{
  union {
    char buf[CMSG_SPACE (sizeof (int) * 3)];
    struct cmsghdr align;
  } control;
  gsize sent = 0;

  g_return_val_if_fail (n_fds <= 3, FALSE);
  while (sent < len)
    {
      struct iovec iov = { .iov_base = (char *) data + sent, .iov_len = len - sent };
      struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
      if (sent == 0 && n_fds > 0)
        {
          memset (&control, 0, sizeof control);
          msg.msg_control = control.buf;
          msg.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
          struct cmsghdr *cmsg = CMSG_FIRSTHDR (&msg);
          cmsg->cmsg_level = SOL_SOCKET;
          cmsg->cmsg_type = SCM_RIGHTS;
          cmsg->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
          memcpy (CMSG_DATA (cmsg), fds, sizeof (int) * n_fds);
        }
      ssize_t n = sendmsg (fd, &msg, MSG_NOSIGNAL);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          int e = errno;
          g_set_error (error, VC_ERROR, e == EPIPE ? VC_ERROR_STOPPED : VC_ERROR_FAILED,
                       "cannot send to the sandbox owner: %s", g_strerror (e));
          return FALSE;
        }
      sent += n;
    }
  return TRUE;
}

static void
collect_fds (struct msghdr *msg, GArray *fds)
{
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR (msg); cmsg; cmsg = CMSG_NXTHDR (msg, cmsg))
    {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
        continue;
      gsize n = (cmsg->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      for (gsize i = 0; i < n; i++)
        {
          int passed;
          memcpy (&passed, CMSG_DATA (cmsg) + i * sizeof (int), sizeof (int));
          if (fds)
            g_array_append_val (fds, passed);
          else
            close (passed);
        }
    }
}

char *
vc_unix_read_line (int fd, gsize max_len, int timeout_ms, GArray *fds, GError **error)
{
  g_autoptr(GString) line = g_string_new (NULL);
  gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  union {
    char buf[CMSG_SPACE (sizeof (int) * 8)];
    struct cmsghdr align;
  } control;

  /* Byte by byte: a reply line may be followed by another one, which belongs
   * to the next call. Lines are short. */
  for (;;)
    {
      if (deadline >= 0)
        {
          gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
          struct pollfd pfd = { .fd = fd, .events = POLLIN };
          int r = left > 0 ? poll (&pfd, 1, (int) MIN (left, G_MAXINT)) : 0;
          if (r < 0 && errno == EINTR)
            continue;
          if (r == 0)
            {
              g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                           "the sandbox owner did not answer within %d s", timeout_ms / 1000);
              return NULL;
            }
        }
      char c;
      struct iovec iov = { .iov_base = &c, .iov_len = 1 };
      struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = control.buf, .msg_controllen = sizeof control.buf };
      ssize_t n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0)
        {
          if (errno == EINTR || errno == EAGAIN)
            continue;
          int e = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "cannot read from the peer: %s",
                       g_strerror (e));
          return NULL;
        }
      collect_fds (&msg, fds);
      if (n == 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "the peer closed the connection");
          return NULL;
        }
      if (c == '\n')
        return g_string_free (g_steal_pointer (&line), FALSE);
      if (line->len >= max_len)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "line longer than %" G_GSIZE_FORMAT " bytes",
                       max_len);
          return NULL;
        }
      g_string_append_c (line, c);
    }
}


gboolean
vc_unix_peer_uid (int fd, uid_t *uid, GError **error)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_ACCESS_DENIED, "cannot tell who the peer is: %s",
                   g_strerror (saved));
      return FALSE;
    }
  *uid = cred.uid;
  return TRUE;
}
