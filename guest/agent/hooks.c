/* OCI createContainer and startContainer hooks, run by the container's init
 * in the container's namespaces: createContainer after the rootfs is set up
 * (before CreateContainer answers), startContainer after StartContainer
 * asked, before the process is executed. The host sends only these two and
 * has made a path under the bundle's rootfs relative to the container's
 * root. Each hook gets the state JSON on stdin; a failure (exit status,
 * signal, timeout) fails the container's setup with the hook's name. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Appends s as a JSON string; false when it does not fit. */
static bool
append_json_string (char *buf, size_t len, size_t *used, const char *s)
{
  if (*used + 2 >= len)
    return false;
  buf[(*used)++] = '"';
  for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++)
    {
      char esc[8];
      const char *out = esc;
      if (*p == '"' || *p == '\\')
        snprintf (esc, sizeof esc, "\\%c", *p);
      else if (*p < 0x20)
        snprintf (esc, sizeof esc, "\\u%04x", *p);
      else
        {
          esc[0] = (char) *p;
          esc[1] = '\0';
        }
      size_t n = strlen (out);
      if (*used + n + 2 >= len)
        return false;
      memcpy (buf + *used, out, n);
      *used += n;
    }
  buf[(*used)++] = '"';
  buf[*used] = '\0';
  return true;
}

static bool
append (char *buf, size_t len, size_t *used, const char *s)
{
  size_t n = strlen (s);
  if (*used + n + 1 >= len)
    return false;
  memcpy (buf + *used, s, n + 1);
  *used += n;
  return true;
}

char *
hooks_state_prefix (const Container *c)
{
  size_t len = 8192, used = 0;
  char *buf = xcalloc (1, len);
  const Grpc__Spec *spec = c->spec;
  bool ok = append (buf, len, &used, "{\"ociVersion\":")
            && append_json_string (buf, len, &used, spec->version && *spec->version ? spec->version : "1.0.2")
            && append (buf, len, &used, ",\"id\":") && append_json_string (buf, len, &used, c->id)
            && append (buf, len, &used, ",\"bundle\":") && append_json_string (buf, len, &used, c->rootfs)
            && append (buf, len, &used, ",\"annotations\":{");
  for (size_t i = 0; ok && i < spec->n_annotations; i++)
    ok = (i == 0 || append (buf, len, &used, ","))
         && append_json_string (buf, len, &used, spec->annotations[i]->key)
         && append (buf, len, &used, ":")
         && append_json_string (buf, len, &used, spec->annotations[i]->value);
  if (!ok || !append (buf, len, &used, "},"))
    {
      /* annotations too large for the hooks' stdin: leave them out */
      used = 0;
      append (buf, len, &used, "{\"ociVersion\":\"1.0.2\",\"id\":");
      append_json_string (buf, len, &used, c->id);
      append (buf, len, &used, ",\"annotations\":{},");
    }
  return buf;
}

bool
hooks_wanted (const Grpc__Spec *spec)
{
  return spec && spec->hooks && (spec->hooks->n_createcontainer || spec->hooks->n_startcontainer);
}

static bool
run_one (const Grpc__Hook *h, const char *kind, size_t index, const char *state, char *msg,
         size_t msg_len)
{
  if (!h->path || h->path[0] != '/')
    return msg_fail (msg, msg_len, 0, "%s hook %zu: the path must be absolute", kind, index);
  char *argv[h->n_args + 2];
  size_t n = 0;
  if (h->n_args == 0)
    argv[n++] = h->path;
  for (size_t i = 0; i < h->n_args; i++)
    argv[n++] = h->args[i];
  argv[n] = NULL;
  char *default_env[] = { HOOK_PATH, NULL };
  char *envp_buf[h->n_env + 1];
  char **envp = default_env;
  if (h->n_env)
    {
      for (size_t i = 0; i < h->n_env; i++)
        envp_buf[i] = h->env[i];
      envp_buf[h->n_env] = NULL;
      envp = envp_buf;
    }

  int in[2];
  if (pipe2 (in, O_CLOEXEC) < 0)
    return msg_fail (msg, msg_len, errno, "%s hook %zu: pipe", kind, index);
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close (in[0]);
      close (in[1]);
      return msg_fail (msg, msg_len, e, "%s hook %zu: fork", kind, index);
    }
  if (pid == 0)
    {
      dup2 (in[0], 0);
      execve (h->path, argv, envp);
      _exit (127);
    }
  close (in[0]);
  /* the state is far below a pipe's buffer: never blocks */
  signal (SIGPIPE, SIG_IGN);
  (void) !write (in[1], state, strlen (state));
  close (in[1]);

  int64_t deadline = h->timeout > 0 ? monotonic_ms () + h->timeout * 1000 : INT64_MAX;
  int status = 0;
  for (;;)
    {
      pid_t r = waitpid (pid, &status, WNOHANG);
      if (r == pid)
        break;
      if (r < 0 && errno != EINTR)
        return msg_fail (msg, msg_len, errno, "%s hook %zu (%s): waitpid", kind, index, h->path);
      if (monotonic_ms () >= deadline)
        {
          kill (pid, SIGKILL);
          while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
            ;
          return msg_fail (msg, msg_len, 0, "%s hook %zu (%s) timed out after %lld s", kind, index,
                           h->path, (long long) h->timeout);
        }
      struct timespec ts = { 0, 10 * 1000 * 1000 };
      nanosleep (&ts, NULL);
    }
  signal (SIGPIPE, SIG_DFL);
  if (WIFSIGNALED (status))
    return msg_fail (msg, msg_len, 0, "%s hook %zu (%s) was killed by signal %d", kind, index, h->path,
                     WTERMSIG (status));
  if (WEXITSTATUS (status) == 127)
    return msg_fail (msg, msg_len, 0, "%s hook %zu: cannot execute %s in the container", kind, index,
                     h->path);
  if (WEXITSTATUS (status) != 0)
    return msg_fail (msg, msg_len, 0, "%s hook %zu (%s) exited with status %d", kind, index, h->path,
                     WEXITSTATUS (status));
  return true;
}

bool
hooks_run (const Grpc__Spec *spec, bool start, const char *state_prefix, const char *status,
           char *msg, size_t msg_len)
{
  const Grpc__Hooks *hooks = spec ? spec->hooks : NULL;
  if (!hooks)
    return true;
  Grpc__Hook **list = start ? hooks->startcontainer : hooks->createcontainer;
  size_t n = start ? hooks->n_startcontainer : hooks->n_createcontainer;
  if (n == 0)
    return true;
  char state[8400];
  snprintf (state, sizeof state, "%s\"status\":\"%s\",\"pid\":%d}", state_prefix ? state_prefix : "{",
            status, (int) getpid ());
  for (size_t i = 0; i < n; i++)
    if (!run_one (list[i], start ? "startContainer" : "createContainer", i, state, msg, msg_len))
      return false;
  return true;
}
