/* vcrun: error reporting, option parsing and logging shared by the commands. */
#include "config.h"

#include <stdio.h>
#include <errno.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "cli.h"

int
vc_cli_fail (const GError *error)
{
  fprintf (stderr, "vcrun: %s\n", error->message);
  return VC_EXIT_RUNTIME_FAILURE;
}

int
vc_cli_fail_msg (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "vcrun: %s\n", message);
  return VC_EXIT_RUNTIME_FAILURE;
}

static gboolean
parse_options (const VcCliCommand *command, const GOptionEntry *entries, gboolean posix,
               int *argc, char ***argv, int *exit_status)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *prgname = g_strdup_printf ("vcrun %s", command->name);
  g_autoptr(GOptionContext) context = g_option_context_new (command->args);

  /* GOption's usage line reads "PRGNAME [OPTION…] ARGS". */
  g_set_prgname (prgname);
  g_option_context_set_summary (context, command->summary);
  if (entries)
    g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_strict_posix (context, posix);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      fprintf (stderr, "vcrun %s: %s (see 'vcrun %s --help')\n", command->name, error->message,
               command->name);
      *exit_status = VC_EXIT_RUNTIME_FAILURE;
      return FALSE;
    }
  return TRUE;
}

gboolean
vc_cli_parse (const VcCliCommand *command, const GOptionEntry *entries,
              int *argc, char ***argv, int *exit_status)
{
  return parse_options (command, entries, FALSE, argc, argv, exit_status);
}

gboolean
vc_cli_parse_posix (const VcCliCommand *command, const GOptionEntry *entries,
                    int *argc, char ***argv, int *exit_status)
{
  return parse_options (command, entries, TRUE, argc, argv, exit_status);
}

const char *
vc_cli_single_id (const char *command, int argc, char **argv, int *status)
{
  if (argc < 2)
    {
      *status = vc_cli_fail_msg ("%s: missing container ID (see 'vcrun %s --help')", command, command);
      return NULL;
    }
  if (argc > 2)
    {
      *status = vc_cli_fail_msg ("%s: unexpected argument '%s'", command, argv[2]);
      return NULL;
    }
  return argv[1];
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

/* ---- logging ---------------------------------------------------------- */

static FILE *log_stream;
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
}
