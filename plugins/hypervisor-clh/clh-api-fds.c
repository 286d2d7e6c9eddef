/* hypervisor-clh: one API request that carries file descriptors. Cloud
 * Hypervisor takes the tap fds of vm.add-net as SCM_RIGHTS ancillary data on
 * the message that carries the HTTP request (its HTTP server collects the
 * fds of the recvmsg that read the request); libcurl cannot attach any. So
 * this file writes that one request by hand: a fresh Unix socket, the
 * request with the fds in one sendmsg, the answer read with poll under one
 * deadline for the whole exchange, capped at CLH_HTTP_HEAD_MAX header bytes
 * plus CLH_REPLY_MAX body bytes, and framed and decoded by clh-reply.c. */
#include "config.h"

#include "clh-plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static guint
ms_left (gint64 deadline)
{
  gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
  return left <= 0 ? 0 : (guint) MIN (left, G_MAXINT);
}

/* Waits for `events` on fd until the deadline: FALSE on timeout. */
static gboolean
wait_fd (int fd, short events, gint64 deadline)
{
  for (;;)
    {
      guint left = ms_left (deadline);
      if (left == 0)
        return FALSE;
      struct pollfd p = { .fd = fd, .events = events };
      int r = poll (&p, 1, (int) left);
      if (r > 0)
        return TRUE;
      if (r < 0 && errno != EINTR)
        return TRUE; /* the next read or write reports the error */
    }
}

static int
dial (const char *socket_path, guint timeout_ms, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen (socket_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "socket path '%s' is too long",
                   socket_path);
      return -1;
    }
  strcpy (addr.sun_path, socket_path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot make a Unix socket: %s",
                   g_strerror (saved));
      return -1;
    }
  /* A Unix connect blocks only while the listen backlog is full: bound it. */
  struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int r;
  while ((r = connect (fd, (struct sockaddr *) &addr, sizeof addr)) < 0 && errno == EINTR)
    ;
  if (r < 0)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, VC_ERROR,
                   saved == EAGAIN || saved == EINPROGRESS ? VC_ERROR_TIMEOUT : VC_ERROR_STOPPED,
                   "cannot connect to %s: %s", socket_path, g_strerror (saved));
      return -1;
    }
  if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK) < 0)
    {
      int saved = errno;
      close (fd);
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "fcntl O_NONBLOCK: %s", g_strerror (saved));
      return -1;
    }
  return fd;
}

/* The request, the fds riding on its first bytes. */
static gboolean
send_request (int fd, const GString *request, const int *fds, guint n_fds, gint64 deadline,
              GError **error)
{
  gsize sent = 0;
  while (sent < request->len)
    {
      ssize_t n;
      if (sent == 0)
        {
          struct iovec iov = { .iov_base = request->str, .iov_len = request->len };
          union {
            char buf[CMSG_SPACE (sizeof (int) * CLH_NET_FDS_MAX)];
            struct cmsghdr align;
          } control;
          memset (&control, 0, sizeof control);
          struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
          if (n_fds > 0)
            {
              msg.msg_control = control.buf;
              msg.msg_controllen = CMSG_SPACE (sizeof (int) * n_fds);
              struct cmsghdr *cmsg = CMSG_FIRSTHDR (&msg);
              cmsg->cmsg_level = SOL_SOCKET;
              cmsg->cmsg_type = SCM_RIGHTS;
              cmsg->cmsg_len = CMSG_LEN (sizeof (int) * n_fds);
              memcpy (CMSG_DATA (cmsg), fds, sizeof (int) * n_fds);
            }
          n = sendmsg (fd, &msg, MSG_NOSIGNAL);
        }
      else
        n = send (fd, request->str + sent, request->len - sent, MSG_NOSIGNAL);
      if (n > 0)
        {
          sent += (gsize) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          if (!wait_fd (fd, POLLOUT, deadline))
            {
              g_set_error_literal (error, VC_ERROR, VC_ERROR_TIMEOUT, "the request was not taken in time");
              return FALSE;
            }
          continue;
        }
      int saved = errno;
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "cannot send the request: %s",
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Reads until clh_http_parse has the whole answer. */
static gboolean
read_response (int fd, GString *data, ClhHttpResponse *response, gint64 deadline, GError **error)
{
  char buf[16384];
  gboolean eof = FALSE;
  for (;;)
    {
      ClhHttpParse parsed = clh_http_parse (data->str, data->len, eof, response, error);
      if (parsed == CLH_HTTP_DONE)
        return TRUE;
      if (parsed == CLH_HTTP_ERROR)
        return FALSE;
      if (!wait_fd (fd, POLLIN, deadline))
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "no whole answer in time (%" G_GSIZE_FORMAT
                       " bytes came)", data->len);
          return FALSE;
        }
      gsize room = CLH_HTTP_HEAD_MAX + CLH_REPLY_MAX - data->len;
      if (room == 0)
        {
          g_set_error_literal (error, VC_ERROR, VC_ERROR_PROTOCOL, "the answer is too large");
          return FALSE;
        }
      ssize_t n = recv (fd, buf, MIN (sizeof buf, room), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "cannot read the answer: %s",
                       g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        eof = TRUE;
      else
        g_string_append_len (data, buf, n);
    }
}

gboolean
clh_api_request_fds (const char *socket_path, guint timeout_ms, const char *method,
                     const char *endpoint, JsonNode *body, const int *fds, guint n_fds,
                     JsonNode **reply, GError **error)
{
  if (reply != NULL)
    *reply = NULL;
  if (n_fds > CLH_NET_FDS_MAX)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
                   "Cloud Hypervisor API %s %s: %u fds, at most %d", method, endpoint, n_fds,
                   CLH_NET_FDS_MAX);
      return FALSE;
    }
  gint64 deadline = g_get_monotonic_time () + (gint64) MAX (timeout_ms, 1) * 1000;
  g_autofree char *text = body != NULL ? json_to_string (body, FALSE) : g_strdup ("");
  g_autoptr (GString) request = g_string_new (NULL);
  g_string_append_printf (request,
                          "%s /api/v1/%s HTTP/1.1\r\n"
                          "Host: localhost\r\n"
                          "Accept: application/json\r\n"
                          "%s"
                          "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                          "\r\n%s",
                          method, endpoint, body != NULL ? "Content-Type: application/json\r\n" : "",
                          strlen (text), text);

  g_autoptr (GError) local = NULL;
  g_autoptr (GString) data = g_string_new (NULL);
  ClhHttpResponse response;
  int fd = dial (socket_path, timeout_ms, &local);
  gboolean ok = fd >= 0 && send_request (fd, request, fds, n_fds, deadline, &local)
                && read_response (fd, data, &response, deadline, &local);
  if (fd >= 0)
    close (fd);
  if (!ok)
    {
      g_set_error (error, local->domain, local->code, "Cloud Hypervisor API %s %s (with %u fds): %s",
                   method, endpoint, n_fds, local->message);
      return FALSE;
    }
  return clh_reply_decode (method, endpoint, response.status, data->str + response.body_offset,
                           response.body_len, reply, error);
}
