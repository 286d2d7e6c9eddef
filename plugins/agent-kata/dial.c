/* Dialling the guest agent (dial.h). */
#include "config.h"

#include "dial.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define RETRY_MIN_MS 20
#define RETRY_MAX_MS 500
#define HANDSHAKE_LINE_MAX 128

const char *
vc_kata_transport_name (VcAgentTransport transport)
{
  switch (transport)
    {
    case VC_AGENT_TRANSPORT_SERIAL: return "serial";
    case VC_AGENT_TRANSPORT_VSOCK: return "vsock";
    case VC_AGENT_TRANSPORT_HYBRID_VSOCK: return "hybrid-vsock";
    case VC_AGENT_TRANSPORT_NONE: break;
    }
  return "none";
}

static gint64
ms_left (gint64 deadline)
{
  return (deadline - g_get_monotonic_time ()) / 1000;
}

/* connect() with a deadline: non-blocking, then poll for completion. */
static int
connect_with_deadline (int fd, const struct sockaddr *addr, socklen_t len, gint64 deadline)
{
  int flags = fcntl (fd, F_GETFL);
  if (flags < 0 || fcntl (fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return -1;
  int r = connect (fd, addr, len);
  /* (EAGAIN from a Unix socket means its backlog is full: fail and retry.) */
  if (r < 0 && errno == EINPROGRESS)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLOUT };
      gint64 left = MAX (ms_left (deadline), 1);
      int n;
      while ((n = poll (&pfd, 1, (int) MIN (left, 60000))) < 0 && errno == EINTR)
        ;
      if (n == 0)
        {
          errno = ETIMEDOUT;
          return -1;
        }
      int err = 0;
      socklen_t err_len = sizeof err;
      if (n < 0 || getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0)
        return -1;
      if (err != 0)
        {
          errno = err;
          return -1;
        }
      r = 0;
    }
  if (r == 0 && fcntl (fd, F_SETFL, flags) < 0)
    return -1;
  return r;
}

static int
dial_unix (const char *path, gint64 deadline, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (path == NULL || strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "agent socket path '%s' is %s",
                   path ? path : "(null)", path ? "too long" : "missing");
      return -1;
    }
  strcpy (addr.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect_with_deadline (fd, (struct sockaddr *) &addr, sizeof addr, deadline) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "connecting to %s: %s", path,
                   g_strerror (saved));
      return -1;
    }
  return fd;
}

static int
dial_vsock (guint32 cid, guint32 port, gint64 deadline, GError **error)
{
  struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
  int fd = socket (AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect_with_deadline (fd, (struct sockaddr *) &addr, sizeof addr, deadline) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "connecting to vsock %u:%u: %s", cid, port,
                   g_strerror (saved));
      return -1;
    }
  return fd;
}

/* Reads one line (up to HANDSHAKE_LINE_MAX) a byte at a time, so that no
 * byte after the newline is taken from the ttRPC stream. */
static char *
read_line (int fd, gint64 deadline, GError **error)
{
  char line[HANDSHAKE_LINE_MAX + 1];
  gsize len = 0;

  while (len < HANDSHAKE_LINE_MAX)
    {
      gint64 left = ms_left (deadline);
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int n = left > 0 ? poll (&pfd, 1, (int) MIN (left, 60000)) : 0;
      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT, "no answer to CONNECT");
          return NULL;
        }
      ssize_t r = read (fd, line + len, 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        {
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "connection closed during CONNECT%s%s",
                       r < 0 ? ": " : "", r < 0 ? g_strerror (errno) : "");
          return NULL;
        }
      if (line[len] == '\n')
        {
          line[len] = '\0';
          return g_utf8_make_valid (line, -1);
        }
      len++;
    }
  g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "answer to CONNECT longer than %d bytes",
               HANDSHAKE_LINE_MAX);
  return NULL;
}

static int
dial_hybrid (const char *path, guint32 port, gint64 deadline, GError **error)
{
  int fd = dial_unix (path, deadline, error);
  if (fd < 0)
    return -1;

  g_autofree char *request = g_strdup_printf ("CONNECT %u\n", port);
  gsize sent = 0;
  while (sent < strlen (request))
    {
      ssize_t n = send (fd, request + sent, strlen (request) - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          g_set_error (error, VC_ERROR, VC_ERROR_STOPPED, "sending CONNECT to %s: %s", path,
                       g_strerror (saved));
          return -1;
        }
      sent += (gsize) n;
    }

  g_autoptr(GError) local = NULL;
  g_autofree char *answer = read_line (fd, deadline, &local);
  if (answer == NULL || !g_str_has_prefix (answer, "OK "))
    {
      close (fd);
      if (answer)
        g_set_error (error, VC_ERROR, VC_ERROR_PROTOCOL, "%s answered CONNECT %u with '%s'", path,
                     port, answer);
      else
        g_set_error (error, VC_ERROR, local->code, "%s: %s", path, local->message);
      return -1;
    }
  return fd;
}

int
vc_kata_dial (const VcAgentEndpoint *ep, guint timeout_ms, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint delay_ms = RETRY_MIN_MS;
  int attempts = 0;

  if (ep == NULL || ep->struct_size < sizeof (VcAgentEndpoint))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "agent endpoint missing or too old");
      return -1;
    }

  for (;;)
    {
      g_autoptr(GError) local = NULL;
      int fd = -1;
      attempts++;
      switch (ep->transport)
        {
        case VC_AGENT_TRANSPORT_SERIAL:
          fd = dial_unix (ep->socket_path, deadline, &local);
          break;
        case VC_AGENT_TRANSPORT_VSOCK:
          fd = dial_vsock (ep->cid, ep->port, deadline, &local);
          break;
        case VC_AGENT_TRANSPORT_HYBRID_VSOCK:
          fd = dial_hybrid (ep->socket_path, ep->port, deadline, &local);
          break;
        default:
          g_set_error (error, VC_ERROR, VC_ERROR_NOT_SUPPORTED, "agent transport %d is not supported",
                       ep->transport);
          return -1;
        }
      if (fd >= 0)
        return fd;
      /* A peer that answers CONNECT wrongly will not answer right later. */
      gboolean final = local->code == VC_ERROR_INVALID_ARGUMENT || local->code == VC_ERROR_PROTOCOL;
      if (final || ms_left (deadline) <= 0)
        {
          if (final)
            g_set_error (error, VC_ERROR, local->code, "cannot reach the agent over %s: %s",
                         vc_kata_transport_name (ep->transport), local->message);
          else
            g_set_error (error, VC_ERROR, VC_ERROR_TIMEOUT,
                         "cannot reach the agent over %s within %u ms (%d attempts): %s",
                         vc_kata_transport_name (ep->transport), timeout_ms, attempts,
                         local->message);
          return -1;
        }
      g_usleep ((gulong) MIN ((gint64) delay_ms, MAX (ms_left (deadline), 1)) * 1000);
      delay_ms = MIN (delay_ms * 2, RETRY_MAX_MS);
    }
}
