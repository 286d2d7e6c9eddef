/* vcrun, the command line: shared declarations of the commands. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "libvcrun.h"

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
/* Same, stopping at the first argument that is not an option (exec's
 * command line keeps its own options). */
gboolean vc_cli_parse_posix (const VcCliCommand *command, const GOptionEntry *entries,
                             int *argc, char ***argv, int *exit_status);
/* The command table entry of the command called name. */
const VcCliCommand *vc_cli_command (const char *name);

/* The one ID argument of a command (argv[1]); NULL with the error printed and
 * *status set when it is missing or followed by more. */
const char *vc_cli_single_id (const char *command, int argc, char **argv, int *status);
/* "2026-11-25T01:02:03Z" (UTC), or "-" for an impossible time. */
char *vc_cli_format_time (gint64 unix_time);
/* Prints node as pretty JSON on stdout. */
void  vc_cli_print_json (JsonNode *node);

/* Prints a process list (objects with exec_id, init, status, exit_status) as
 * `vcrun ps` does: a table, or JSON when format is "json". */
void  vc_cli_print_processes (JsonArray *processes, const char *format);

/* Logging set up from --log/--log-format/--debug. */
void vc_cli_setup_logging (const VcCli *cli);

/* "hypervisor,fs" from VcPluginKind bits. */
char *vc_cli_kinds_string (guint32 kinds);

/* ---- runtime and containers (cli/runtime.c) ---- */

/* The runtime of --config/--root. */
VcRuntime *vc_cli_open_runtime (VcCli *cli, GError **error);
/* Loads sandbox id and its container (same ID; *container is NULL while the
 * sandbox has none yet). "container ID does not exist" when there is none. */
gboolean   vc_cli_load (VcRuntime *runtime, const char *id, VcSandbox **sandbox,
                        VcContainer **container, GError **error);
/* Checks what `create`/`run` need before booting anything: a valid ID, a
 * bundle directory with a valid config.json (and for
 * vc_cli_check_new_container, an ID not in use in the state dir). Sets
 * *bundle_abs (the bundle, absolute) and *terminal (process.terminal). */
gboolean   vc_cli_check_bundle (const char *id, const char *bundle, char **bundle_abs,
                                gboolean *terminal, GError **error);
gboolean   vc_cli_check_new_container (VcCli *cli, const char *id, const char *bundle,
                                       char **bundle_abs, gboolean *terminal, GError **error);
/* The exit status for a failure to start a process: 127 when its command was
 * not found, 126 when it could not be executed, else 125. */
int        vc_cli_exec_failure_status (const GError *error);
/* Prints the error and returns vc_cli_exec_failure_status. */
int        vc_cli_fail_exec (const GError *error);
/* "TERM", "SIGTERM", "term" or "15" -> 15. */
gboolean   vc_cli_parse_signal (const char *text, int *signum, GError **error);
/* Writes pid into path atomically. */
gboolean   vc_cli_write_pid_file (const char *path, gint pid, GError **error);
/* 128+N for a -1 status means "unknown": 125. */
int        vc_cli_status_to_exit (int status);

/* ---- OCI state (cli/oci-state.c) ---- */

typedef struct {
  const char *id;
  const char *status;       /* OCI status: creating, created, running, paused, stopped */
  gint        pid;          /* the process's; 0 before it has one */
  const char *bundle;       /* NULL while creating */
  gint64      created;      /* seconds since the epoch */
  gint        owner_pid;    /* who holds the sandbox: the supervisor, or vcrund */
  gboolean    owner_alive;
  int         exit_status;  /* -1 before the process exited */
} VcCliState;

/* `vcrun state`'s object: the OCI state (ociVersion and annotations read from
 * the bundle's config.json) plus created, owner_pid, owner_alive, exit_status. */
JsonObject *vc_cli_state_to_json (const VcCliState *state);
/* Prints `vcrun list`: a table, the IDs (quiet) or JSON (format "json"). */
void        vc_cli_print_states  (JsonArray *states, const char *format, gboolean quiet);

/* ---- bundles (cli/bundle.c) ---- */

/* The OCI Process object for `exec`: the process of bundle's config.json
 * (env, cwd, user, capabilities: runc's exec defaults) with args, terminal
 * and the options applied. */
JsonNode  *vc_cli_exec_process (const char *bundle, char **args, gboolean tty, const char *cwd,
                                char **env, const char *user, GError **error);
/* A copy of bundle (a new temporary directory) whose config.json asks for a
 * terminal (run -t); its root.path points at the original rootfs. */
char      *vc_cli_bundle_with_terminal (const char *bundle, GError **error);
void       vc_cli_remove_bundle_copy (const char *dir);

/* ---- the sandbox supervisor (cli/supervisor.c) ---- */

/* Forks a detached supervisor (fork, setsid, fork) that boots sandbox id,
 * creates its container from bundle_abs, starts it if start is set, and owns
 * it until it is deleted; the caller's stdio is the container's. Returns the
 * exit status for the calling vcrun: 0, or 125/126/127 with the error
 * printed. */
int        vc_cli_spawn_supervisor (VcCli *cli, const char *id, const char *bundle_abs,
                                    const char *pid_file, gboolean start);

/* ---- terminal (cli/terminal.c) ---- */

typedef struct VcCliTerminal VcCliTerminal;
/* Puts fd (a terminal) in raw mode; NULL when fd is not a terminal. */
VcCliTerminal *vc_cli_terminal_raw     (int fd);
void           vc_cli_terminal_restore (VcCliTerminal *terminal);
/* fd's window size; FALSE when it is not a terminal. */
gboolean       vc_cli_terminal_size    (int fd, guint *rows, guint *columns);

/* ---- D-Bus mode (cli/bus.c) ---- */

/* The one place where a command goes when --bus is given. */
int vc_cli_bus_dispatch (VcCli *cli, const VcCliCommand *command, int argc, char **argv);

int vc_cmd_create  (VcCli *cli, int argc, char **argv);
int vc_cmd_run     (VcCli *cli, int argc, char **argv);
int vc_cmd_start   (VcCli *cli, int argc, char **argv);
int vc_cmd_state   (VcCli *cli, int argc, char **argv);
int vc_cmd_kill    (VcCli *cli, int argc, char **argv);
int vc_cmd_delete  (VcCli *cli, int argc, char **argv);
int vc_cmd_exec    (VcCli *cli, int argc, char **argv);
int vc_cmd_ps      (VcCli *cli, int argc, char **argv);
int vc_cmd_pause   (VcCli *cli, int argc, char **argv);
int vc_cmd_resume  (VcCli *cli, int argc, char **argv);
int vc_cmd_list    (VcCli *cli, int argc, char **argv);
int vc_cmd_spec    (VcCli *cli, int argc, char **argv);
int vc_cmd_check   (VcCli *cli, int argc, char **argv);
int vc_cmd_plugins (VcCli *cli, int argc, char **argv);

G_END_DECLS
