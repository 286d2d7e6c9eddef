/* vcrun, the command line: shared declarations of the commands. */
#pragma once

#include <glib.h>

#include "../core/config.h"

G_BEGIN_DECLS

/* Exit statuses of the OCI runtime command-line conventions. */
enum {
  VC_EXIT_RUNTIME_FAILURE = 125,
  VC_EXIT_CANNOT_EXECUTE  = 126,
  VC_EXIT_NOT_FOUND       = 127,
};

typedef struct {
  char     *config_file;   /* --config */
  char     *root;          /* --root: state dir override */
  char     *log_file;      /* --log */
  char     *log_format;    /* --log-format text|json */
  gboolean  debug;         /* --debug */
  char     *bus;           /* --bus[=system|session]: talk to vcrund (NULL: embedded) */
  const char *argv0;
} VcCli;

typedef struct {
  const char *name;
  const char *args;      /* usage after the name, e.g. "[OPTIONS] ID" */
  const char *summary;
  int (*run) (VcCli *cli, int argc, char **argv);
} VcCliCommand;

/* Prints "vcrun: MESSAGE" on stderr and returns VC_EXIT_RUNTIME_FAILURE. */
int  vc_cli_fail (const GError *error);
int  vc_cli_fail_msg (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Parses a command's options (--help prints the command's help and exits 0).
 * Returns FALSE with *exit_status set on a bad option. */
gboolean vc_cli_parse (const VcCliCommand *command, const GOptionEntry *entries,
                       int *argc, char ***argv, int *exit_status);
/* The command table entry of the command called name. */
const VcCliCommand *vc_cli_command (const char *name);

/* Logging set up from --log/--log-format/--debug. */
void vc_cli_setup_logging (const VcCli *cli);

/* The configuration named by --config / $VCRUN_CONFIG / the default, with
 * --root applied. Returns a VcConfig (core/config.h). */
VcConfig *vc_cli_load_config (VcCli *cli, GError **error);
/* "hypervisor,fs" from VcPluginKind bits. */
char *vc_cli_kinds_string (guint32 kinds);

int vc_cmd_spec    (VcCli *cli, int argc, char **argv);
int vc_cmd_check   (VcCli *cli, int argc, char **argv);
int vc_cmd_plugins (VcCli *cli, int argc, char **argv);

G_END_DECLS
