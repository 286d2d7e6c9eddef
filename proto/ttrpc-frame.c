/* ttRPC frame headers and whole-frame I/O on file descriptors. */
#include "config.h"

#include "ttrpc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static uint32_t
read_be32 (const uint8_t *p)
{
  return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static void
write_be32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

void
vc_ttrpc_header_encode (const VcTtrpcHeader *header, uint8_t out[VC_TTRPC_HEADER_SIZE])
{
  write_be32 (out, header->length);
  write_be32 (out + 4, header->stream_id);
  out[8] = header->type;
  out[9] = header->flags;
}

VcTtrpcResult
vc_ttrpc_header_decode (const uint8_t *buf, size_t len, VcTtrpcHeader *header)
{
  if (len < VC_TTRPC_HEADER_SIZE)
    return VC_TTRPC_E_TRUNCATED;
  header->length = read_be32 (buf);
  header->stream_id = read_be32 (buf + 4);
  header->type = buf[8];
  header->flags = buf[9];
  if (header->length > VC_TTRPC_MAX_DATA)
    return VC_TTRPC_E_TOO_LARGE;
  if (header->type < VC_TTRPC_TYPE_REQUEST || header->type > VC_TTRPC_TYPE_DATA)
    return VC_TTRPC_E_BAD_TYPE;
  return VC_TTRPC_OK;
}

VcTtrpcResult
vc_ttrpc_frame_parse (const uint8_t *buf, size_t len, VcTtrpcHeader *header, size_t *frame_len)
{
  VcTtrpcResult r = vc_ttrpc_header_decode (buf, len, header);
  if (r == VC_TTRPC_E_TRUNCATED)
    return r;
  *frame_len = VC_TTRPC_HEADER_SIZE + (size_t) header->length;
  if (r == VC_TTRPC_E_TOO_LARGE)
    return r;
  if (len < *frame_len)
    return VC_TTRPC_E_TRUNCATED;
  return r;
}

void
vc_ttrpc_frame_clear (VcTtrpcFrame *frame)
{
  free (frame->data);
  memset (frame, 0, sizeof *frame);
}

/* A monotonic deadline in ms, or -1 for none. */
static int64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
deadline_from_timeout (int timeout_ms)
{
  return timeout_ms < 0 ? -1 : now_ms () + timeout_ms;
}

/* Waits until fd is ready for `events` or the deadline passes. */
static VcTtrpcResult
wait_fd (int fd, short events, int64_t deadline)
{
  for (;;)
    {
      int timeout = -1;
      if (deadline >= 0)
        {
          int64_t left = deadline - now_ms ();
          if (left <= 0)
            return VC_TTRPC_E_TIMEOUT;
          timeout = left > 60000 ? 60000 : (int) left;
        }
      struct pollfd pfd = { .fd = fd, .events = events };
      int n = poll (&pfd, 1, timeout);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return VC_TTRPC_E_IO;
        }
      if (n == 0)
        continue;
      if (pfd.revents & POLLNVAL)
        {
          errno = EBADF;
          return VC_TTRPC_E_IO;
        }
      /* A hung-up peer cannot take more data; a virtio-serial port whose host
       * went away keeps answering EAGAIN, so waiting again would spin. */
      if ((events & POLLOUT) && !(pfd.revents & POLLOUT) && (pfd.revents & (POLLHUP | POLLERR)))
        {
          errno = EPIPE;
          return VC_TTRPC_E_IO;
        }
      return VC_TTRPC_OK; /* ready, or a HUP/ERR that the next read reports */
    }
}

/* Reads exactly len bytes. *got says how many arrived before a failure, so
 * the caller can tell a clean EOF (0 bytes) from a truncated frame. */
static VcTtrpcResult
read_full (int fd, uint8_t *buf, size_t len, int64_t deadline, size_t *got)
{
  size_t done = 0;
  VcTtrpcResult r = VC_TTRPC_OK;

  while (done < len)
    {
      if (deadline >= 0 && (r = wait_fd (fd, POLLIN, deadline)) != VC_TTRPC_OK)
        break;
      ssize_t n = read (fd, buf + done, len - done);
      if (n > 0)
        {
          done += (size_t) n;
          continue;
        }
      if (n == 0)
        {
          r = VC_TTRPC_E_EOF;
          break;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
          if ((r = wait_fd (fd, POLLIN, deadline)) != VC_TTRPC_OK)
            break;
          continue;
        }
      r = VC_TTRPC_E_IO;
      break;
    }
  if (got)
    *got = done;
  return r;
}

VcTtrpcResult
vc_ttrpc_read_frame (int fd, int timeout_ms, VcTtrpcFrame *frame)
{
  int64_t deadline = deadline_from_timeout (timeout_ms);
  uint8_t raw[VC_TTRPC_HEADER_SIZE];
  size_t got = 0;

  memset (frame, 0, sizeof *frame);
  VcTtrpcResult r = read_full (fd, raw, sizeof raw, deadline, &got);
  if (r == VC_TTRPC_E_EOF && got > 0)
    return VC_TTRPC_E_TRUNCATED;
  if (r != VC_TTRPC_OK)
    return r;

  VcTtrpcResult header_result = vc_ttrpc_header_decode (raw, sizeof raw, &frame->header);
  if (header_result == VC_TTRPC_E_TOO_LARGE)
    return header_result; /* checked before allocating: the data stays unread */

  if (frame->header.length > 0)
    {
      frame->data = malloc (frame->header.length);
      if (!frame->data)
        return VC_TTRPC_E_NOMEM;
      r = read_full (fd, frame->data, frame->header.length, deadline, NULL);
      if (r != VC_TTRPC_OK)
        {
          vc_ttrpc_frame_clear (frame);
          return r == VC_TTRPC_E_EOF ? VC_TTRPC_E_TRUNCATED : r;
        }
    }
  return header_result;
}

VcTtrpcResult
vc_ttrpc_skip (int fd, int timeout_ms, uint64_t length)
{
  int64_t deadline = deadline_from_timeout (timeout_ms);
  uint8_t chunk[16384];

  while (length > 0)
    {
      size_t want = length > sizeof chunk ? sizeof chunk : (size_t) length;
      VcTtrpcResult r = read_full (fd, chunk, want, deadline, NULL);
      if (r != VC_TTRPC_OK)
        return r == VC_TTRPC_E_EOF ? VC_TTRPC_E_TRUNCATED : r;
      length -= want;
    }
  return VC_TTRPC_OK;
}

/* Writes the iovecs fully. sendmsg() with MSG_NOSIGNAL on sockets so a
 * vanished peer is an error, not a SIGPIPE; writev() on anything else. */
static VcTtrpcResult
write_iov (int fd, struct iovec *iov, int iovcnt)
{
  bool is_socket = true;

  while (iovcnt > 0)
    {
      if (iov->iov_len == 0)
        {
          iov++;
          iovcnt--;
          continue;
        }
      ssize_t n;
      if (is_socket)
        {
          struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t) iovcnt };
          n = sendmsg (fd, &msg, MSG_NOSIGNAL);
          if (n < 0 && errno == ENOTSOCK)
            {
              is_socket = false;
              continue;
            }
        }
      else
        n = writev (fd, iov, iovcnt);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
              VcTtrpcResult r = wait_fd (fd, POLLOUT, -1);
              if (r != VC_TTRPC_OK)
                return r;
              continue;
            }
          return VC_TTRPC_E_IO;
        }
      size_t left = (size_t) n;
      while (iovcnt > 0 && left >= iov->iov_len)
        {
          left -= iov->iov_len;
          iov++;
          iovcnt--;
        }
      if (iovcnt > 0)
        {
          iov->iov_base = (uint8_t *) iov->iov_base + left;
          iov->iov_len -= left;
        }
    }
  return VC_TTRPC_OK;
}

VcTtrpcResult
vc_ttrpc_write_frame (int fd, const VcTtrpcHeader *header, const uint8_t *data)
{
  uint8_t raw[VC_TTRPC_HEADER_SIZE];

  if (header->length > VC_TTRPC_MAX_DATA)
    return VC_TTRPC_E_TOO_LARGE;
  if (header->length > 0 && !data)
    return VC_TTRPC_E_INVALID;
  vc_ttrpc_header_encode (header, raw);
  struct iovec iov[2] = {
    { .iov_base = raw, .iov_len = sizeof raw },
    { .iov_base = (void *) data, .iov_len = header->length },
  };
  return write_iov (fd, iov, 2);
}

VcTtrpcResult
vc_ttrpc_write_frame_iov (int fd, const VcTtrpcHeader *header, const struct iovec *iov, int iovcnt)
{
  uint8_t raw[VC_TTRPC_HEADER_SIZE];
  struct iovec all[9];
  size_t total = 0;

  if (header->length > VC_TTRPC_MAX_DATA)
    return VC_TTRPC_E_TOO_LARGE;
  if (iovcnt < 0 || iovcnt > 8 || (iovcnt > 0 && !iov))
    return VC_TTRPC_E_INVALID;
  vc_ttrpc_header_encode (header, raw);
  all[0] = (struct iovec) { .iov_base = raw, .iov_len = sizeof raw };
  for (int i = 0; i < iovcnt; i++)
    {
      all[i + 1] = iov[i];
      total += iov[i].iov_len;
    }
  if (total != header->length)
    return VC_TTRPC_E_INVALID;
  return write_iov (fd, all, iovcnt + 1);
}
