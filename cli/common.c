/* vcrun: the generic helpers the commands share, in both modes: error
 * reporting and exit statuses, signal names, pid files, times, JSON output,
 * logging. They call nothing else in cli/. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <vcrun/types.h>
#include "cli.h"


static FILE *log_stream;

/* An error for the caller: on stderr, and in --log's file, where runc's
 * callers (podman, conmon) read it as {"level":"error","msg":...}. */
static void
print_error (const char *message)
{
  fprintf (stderr, "vcrun: %s\n", message);
  if (log_stream)
    g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "MESSAGE", "%s", message);
}

int
vc_cli_fail (const GError *error)
{
  print_error (error->message);
  return VC_EXIT_RUNTIME_FAILURE;
}

int
vc_cli_fail_msg (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  print_error (message);
  return VC_EXIT_RUNTIME_FAILURE;
}

char *
vc_cli_format_time (gint64 unix_time)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (unix_time);
  return t ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("-");
}

void
vc_cli_print_json (JsonNode *node)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, node);
  g_autofree char *text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
}

int
vc_cli_exec_failure_status (const GError *error)
{
  /* The guest agent reports a failed execve as "cannot execute CMD: STRERROR"
   * (guest/agent/spawn.c). */
  const char *m = error ? error->message : NULL;
  if (m == NULL || strstr (m, "cannot execute ") == NULL)
    return VC_EXIT_RUNTIME_FAILURE;
  if (strstr (m, g_strerror (ENOENT)) || strstr (m, g_strerror (ENOTDIR)))
    return VC_EXIT_NOT_FOUND;
  return VC_EXIT_CANNOT_EXECUTE;
}

int
vc_cli_fail_exec (const GError *error)
{
  vc_cli_fail (error);
  return vc_cli_exec_failure_status (error);
}

int
vc_cli_status_to_exit (int status)
{
  return status < 0 || status > 255 ? VC_EXIT_RUNTIME_FAILURE : status;
}

static const struct {
  const char *name;
  int         number;
} signals[] = {
  { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
  { "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "IOT", SIGIOT }, { "BUS", SIGBUS },
  { "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
  { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
  { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG },
  { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
  { "WINCH", SIGWINCH }, { "IO", SIGIO }, { "POLL", SIGPOLL }, { "PWR", SIGPWR },
  { "SYS", SIGSYS },
};

gboolean
vc_cli_parse_signal (const char *text, int *signum, GError **error)
{
  guint64 number;
  if (g_ascii_string_to_unsigned (text, 10, 1, 64, &number, NULL))
    {
      *signum = (int) number;
      return TRUE;
    }
  const char *name = g_ascii_strncasecmp (text, "SIG", 3) == 0 ? text + 3 : text;
  for (gsize i = 0; i < G_N_ELEMENTS (signals); i++)
    if (g_ascii_strcasecmp (name, signals[i].name) == 0)
      {
        *signum = signals[i].number;
        return TRUE;
      }
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT,
               "unknown signal '%s' (use a name such as TERM or KILL, or a number from 1 to 64)",
               text);
  return FALSE;
}

gboolean
vc_cli_write_pid_file (const char *path, gint pid, GError **error)
{
  g_autofree char *text = g_strdup_printf ("%d", pid);
  g_autoptr(GError) local = NULL;
  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local))
    {
      g_set_error (error, VC_ERROR, VC_ERROR_FAILED, "cannot write the pid file: %s", local->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- logging ---------------------------------------------------------- */

static gboolean log_json;
static gboolean log_debug;

static const char *
level_name (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR) return "fatal";
  if (level & G_LOG_LEVEL_CRITICAL) return "error";
  if (level & G_LOG_LEVEL_WARNING) return "warning";
  if (level & G_LOG_LEVEL_MESSAGE) return "info";
  if (level & G_LOG_LEVEL_INFO) return "info";
  return "debug";
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *message = NULL, *domain = NULL;
  FILE *out = log_stream ? log_stream : stderr;

  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !log_debug)
    return G_LOG_WRITER_HANDLED;
  /* Without --log, stderr carries only warnings and worse, unless --debug. */
  if (log_stream == NULL && !log_debug && (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO)))
    return G_LOG_WRITER_HANDLED;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
      else if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        domain = fields[i].value;
    }
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *time = g_date_time_format_iso8601 (now);
  if (log_json)
    {
      g_autoptr(GString) line = g_string_new ("{\"level\":\"");
      g_string_append (line, level_name (level));
      g_string_append (line, "\",\"msg\":\"");
      for (const char *p = message ? message : ""; *p; p++)
        {
          if (*p == '"' || *p == '\\')
            g_string_append_printf (line, "\\%c", *p);
          else if ((unsigned char) *p < 0x20)
            g_string_append_printf (line, "\\u%04x", *p);
          else
            g_string_append_c (line, *p);
        }
      g_string_append_printf (line, "\",\"source\":\"%s\",\"time\":\"%s\"}\n",
                              domain ? domain : "vcrun", time);
      fputs (line->str, out);
    }
  else
    fprintf (out, "%s %s %s: %s\n", time, level_name (level), domain ? domain : "vcrun",
             message ? message : "");
  fflush (out);
  return G_LOG_WRITER_HANDLED;
}

/* Ignored options met before logging was set up (the global ones are
 * parsed together with --log). */
static GPtrArray *ignored_before_logging;
static gboolean   logging_ready;

void
vc_cli_setup_logging (const VcCli *cli)
{
  log_json = cli->log_format && g_str_equal (cli->log_format, "json");
  log_debug = cli->debug;
  if (cli->log_file)
    {
      log_stream = fopen (cli->log_file, "ae");
      if (log_stream == NULL)
        fprintf (stderr, "vcrun: cannot open log file %s: %s; logging to stderr\n",
                 cli->log_file, g_strerror (errno));
    }
  g_log_set_writer_func (log_writer, NULL, NULL);
  logging_ready = TRUE;
  if (ignored_before_logging)
    {
      for (guint i = 0; i < ignored_before_logging->len; i++)
        g_message ("%s", (const char *) g_ptr_array_index (ignored_before_logging, i));
      g_clear_pointer (&ignored_before_logging, g_ptr_array_unref);
    }
}

void
vc_cli_log_ignored (const char *name, const char *value)
{
  g_autofree char *text = g_strdup_printf ("ignoring %s%s%s (accepted for runc's callers)", name,
                                           value ? " " : "", value ? value : "");
  if (logging_ready)
    {
      g_message ("%s", text);
      return;
    }
  if (ignored_before_logging == NULL)
    ignored_before_logging = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (ignored_before_logging, g_steal_pointer (&text));
}
