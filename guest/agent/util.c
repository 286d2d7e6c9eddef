/* Small helpers: errors, files, ids. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool
error_va (AgentError *err, int code, int errno_value, const char *fmt, va_list ap)
{
  if (!err || err->code != 0)
    return false;
  err->code = code ? code : VC_TTRPC_CODE_INTERNAL;
  int n = vsnprintf (err->message, sizeof err->message, fmt, ap);
  if (errno_value && n >= 0 && (size_t) n < sizeof err->message)
    snprintf (err->message + n, sizeof err->message - (size_t) n, ": %s", strerror (errno_value));
  return false;
}

bool
agent_error (AgentError *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  error_va (err, code, 0, fmt, ap);
  va_end (ap);
  return false;
}

bool
agent_error_errno (AgentError *err, int code, int errno_value, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  error_va (err, code, errno_value, fmt, ap);
  va_end (ap);
  return false;
}

bool
write_full (int fd, const void *buf, size_t len)
{
  const uint8_t *p = buf;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return false;
        }
      p += n;
      len -= (size_t) n;
    }
  return true;
}

bool
write_file (const char *path, const char *data, AgentError *err)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot open %s", path);
  if (!write_full (fd, data, strlen (data)))
    {
      int e = errno;
      close (fd);
      return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, e, "cannot write '%s' to %s", data, path);
    }
  close (fd);
  return true;
}

bool
write_file_fmt (AgentError *err, const char *path, const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  return write_file (path, buf, err);
}

ssize_t
read_small_file (const char *path, char *buf, size_t max)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  size_t done = 0;
  while (done + 1 < max)
    {
      ssize_t n = read (fd, buf + done, max - 1 - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          errno = e;
          return -1;
        }
      if (n == 0)
        break;
      done += (size_t) n;
    }
  buf[done] = '\0';
  close (fd);
  return (ssize_t) done;
}

bool
mkdir_p (const char *path, mode_t mode, AgentError *err)
{
  char tmp[4096];
  if (strlen (path) >= sizeof tmp)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "path too long: %s", path);
  strcpy (tmp, path);
  for (char *p = tmp + 1; ; p++)
    {
      if (*p == '/' || *p == '\0')
        {
          char saved = *p;
          *p = '\0';
          if (mkdir (tmp, mode) < 0 && errno != EEXIST)
            return agent_error_errno (err, VC_TTRPC_CODE_INTERNAL, errno, "cannot create directory %s", tmp);
          *p = saved;
          if (saved == '\0')
            break;
        }
    }
  return true;
}

bool
valid_id (const char *id, const char *what, AgentError *err)
{
  if (!id || !*id)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "%s is empty", what);
  if (strlen (id) > 255 || strchr (id, '/') || strcmp (id, ".") == 0 || strcmp (id, "..") == 0)
    return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "invalid %s '%s'", what, id);
  return true;
}

char *
xstrdup (const char *s)
{
  char *copy = strdup (s ? s : "");
  if (!copy)
    abort ();
  return copy;
}

void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size ? size : 1);
  if (!p)
    abort ();
  return p;
}

int64_t
monotonic_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
msg_fail (char *msg, size_t len, int errno_value, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int n = vsnprintf (msg, len, fmt, ap);
  va_end (ap);
  if (errno_value && n >= 0 && (size_t) n < len)
    snprintf (msg + n, len - (size_t) n, ": %s", strerror (errno_value));
  return false;
}
