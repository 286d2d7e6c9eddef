/* Logging to the kernel console, where boot messages go. */
#include "config.h"

#include "agent.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
bool agent_debug_enabled;

void
agent_log_open (void)
{
  int fd = open ("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0)
    log_fd = fd;
  char cmdline[4096];
  if (getenv ("VCRUN_AGENT_DEBUG")
      || (read_small_file ("/proc/cmdline", cmdline, sizeof cmdline) > 0 && strstr (cmdline, "vcrun.debug")))
    agent_debug_enabled = true;
}

static void
log_va (const char *fmt, va_list ap)
{
  char line[1024];
  int n = snprintf (line, sizeof line, "vcrun-agent: ");
  vsnprintf (line + n, sizeof line - (size_t) n - 1, fmt, ap);
  size_t len = strlen (line);
  line[len++] = '\n';
  /* one write per line so that lines from threads do not mix */
  (void) !write (log_fd, line, len);
}

void
agent_log (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  log_va (fmt, ap);
  va_end (ap);
}

void
agent_debug (const char *fmt, ...)
{
  if (!agent_debug_enabled)
    return;
  va_list ap;
  va_start (ap, fmt);
  log_va (fmt, ap);
  va_end (ap);
}
