/* vcrun, the command line: the command table and what its commands share.
 *
 * Each command is one VcCliCommand (cli/commands.c): its options, declared
 * once, and a check of its operands that both modes share; then its embedded
 * form (cli/cmd-*.c: the core, in this process or through the sandbox's
 * owner) or its bus form (cli/bus-*.c: vcrund over D-Bus, with --bus). The
 * helpers below the table (common.c, runtime.c, output.c, bundle.c,
 * supervisor.c, terminal.c) call no command. */
#pragma once

#include <stddef.h>

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

/* The runtime-spec version vcrun implements (--version, features). */
#define VC_CLI_OCI_VERSION "1.1.0"

/* The global options, before the command name. */
typedef struct {
  char     *config_file;   /* --config */
  char     *root;          /* --root: state dir override */
  char     *log_file;      /* --log */
  char     *log_format;    /* --log-format text|json */
  gboolean  debug;         /* --debug */
  gboolean  systemd_cgroup; /* --systemd-cgroup: cgroupsPath is slice:prefix:name */
  char     *bus;           /* --bus[=system|session]: talk to vcrund (NULL: embedded) */
  const char *argv0;
} VcCli;

/* ---- the command table (cli/commands.c) ---- */

/* A command's line, parsed and checked: what both forms of a command take.
 * Each option field is set by the commands whose table declares it. */
typedef struct {
  /* operands */
  const char *id;           /* the container ID */
  char      **command;      /* exec: the command line to run (NULL-terminated) */
  int         signal;       /* kill: the signal (default TERM) */
  /* options */
  char       *bundle;       /* run, create, spec --bundle */
  char       *pid_file;     /* run, create --pid-file */
  char       *console_socket; /* create, exec --console-socket: where the pty's master goes */
  int         preserve_fds; /* create, exec --preserve-fds N (only 0: no host fd reaches a VM) */
  char       *process;      /* exec --process FILE: an OCI Process object */
  gboolean    detach;       /* run, exec --detach */
  gboolean    tty;          /* run, exec --tty */
  gboolean    all;          /* kill --all */
  gboolean    force;        /* delete --force */
  char       *format;       /* ps, list --format table|json */
  gboolean    quiet;        /* list --quiet */
  char       *cwd;          /* exec --cwd */
  char      **env;          /* exec --env K=V... */
  char       *user;         /* exec --user UID[:GID] */
  char       *exec_id;      /* exec --exec-id (generated when not given) */
  /* update and events (cli/cmd-resources.c) */
  char       *resources;    /* update --resources FILE */
  char       *cpus, *cpu_quota, *cpu_period, *cpuset_cpus, *memory, *pids_limit;
  char       *resources_json; /* update: the LinuxResources the options make (check) */
  gboolean    stats;        /* events --stats */
  /* stats (cli/cmd-stats.c) */
  gboolean    no_stream;    /* stats --no-stream */
  char       *interval;     /* stats --interval MS */
  guint       interval_ms;  /* stats: --interval, checked */
  char      **ids;          /* stats: the container IDs (NULL: all) */
  const char *action;       /* template: create, list or rm */
} VcCliArgs;

typedef struct VcCliCommand VcCliCommand;
struct VcCliCommand {
  const char *name;
  const char *usage;          /* after the name, e.g. "[OPTIONS] ID" */
  const char *summary;
  const GOptionEntry *options;  /* VC_CLI_FLAG...; NULL-terminated, or NULL */
  gboolean    options_first;  /* options end at the first operand (exec's command keeps its own) */
  /* Checks the operands and the options' values, the same for both modes,
   * and sets args's operands. */
  gboolean  (*check) (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv,
                      GError **error);
  int       (*run_embedded) (VcCli *cli, const VcCliArgs *args);
  int       (*run_bus) (VcCli *cli, const VcCliArgs *args);
  gboolean    in_process;     /* needs no sandbox: run_embedded, --bus or not */
};

/* A command's option table holds offsets into VcCliArgs, not addresses;
 * compiling fails when the field is not of the type GOption writes. */
#define VC_CLI_ARGS_FIELD(field, type) \
  GSIZE_TO_POINTER (offsetof (VcCliArgs, field) \
                    + 0 * sizeof (char[_Generic (((VcCliArgs *) 0)->field, type: 1, default: -1)]))
#define VC_CLI_FLAG(long_name, short_name, field, description) \
  { long_name, short_name, 0, G_OPTION_ARG_NONE, VC_CLI_ARGS_FIELD (field, gboolean), description, NULL }
#define VC_CLI_STRING(long_name, short_name, field, description, arg_description) \
  { long_name, short_name, 0, G_OPTION_ARG_STRING, VC_CLI_ARGS_FIELD (field, char *), \
    description, arg_description }
#define VC_CLI_FILENAME(long_name, short_name, field, description, arg_description) \
  { long_name, short_name, 0, G_OPTION_ARG_FILENAME, VC_CLI_ARGS_FIELD (field, char *), \
    description, arg_description }
#define VC_CLI_STRINGS(long_name, short_name, field, description, arg_description) \
  { long_name, short_name, 0, G_OPTION_ARG_STRING_ARRAY, VC_CLI_ARGS_FIELD (field, char **), \
    description, arg_description }
#define VC_CLI_INT(long_name, short_name, field, description, arg_description) \
  { long_name, short_name, 0, G_OPTION_ARG_INT, VC_CLI_ARGS_FIELD (field, int), \
    description, arg_description }

/* Options accepted for the command lines of other runtimes' callers (runc's,
 * as podman and conmon write them) and ignored: one line in a command's table
 * or in the global one (cli/main.c). Hidden from --help. */
#define VC_CLI_IGNORED_FLAG(long_name) \
  { long_name, 0, G_OPTION_FLAG_HIDDEN | G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, \
    (gpointer) vc_cli_ignore_option, NULL, NULL }
#define VC_CLI_IGNORED_OPTION(long_name) \
  { long_name, 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_CALLBACK, \
    (gpointer) vc_cli_ignore_option, NULL, "VALUE" }
gboolean vc_cli_ignore_option (const char *name, const char *value, gpointer data, GError **error);

/* The commands, in the order `vcrun --help` lists them. */
const VcCliCommand *vc_cli_command_list (gsize *n_commands);
/* The command called name; NULL when there is none. */
const VcCliCommand *vc_cli_command_find (const char *name);
/* Parses argv (argv[0] is the command's name), checks it, and runs the
 * command's embedded form, or its bus form when --bus was given. Returns
 * vcrun's exit status. */
int vc_cli_command_run (VcCli *cli, const VcCliCommand *command, int argc, char **argv);

/* update and events --stats (cli/cmd-resources.c) */
extern const GOptionEntry vc_cli_update_options[];
extern const GOptionEntry vc_cli_events_options[];
gboolean vc_cli_check_update (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv,
                              GError **error);
gboolean vc_cli_check_events (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv,
                              GError **error);
int  vc_cmd_update (VcCli *cli, const VcCliArgs *args);
int  vc_cmd_events (VcCli *cli, const VcCliArgs *args);
int  vc_cmd_update_bus (VcCli *cli, const VcCliArgs *args);
int  vc_cmd_events_bus (VcCli *cli, const VcCliArgs *args);
void vc_cli_print_stats (const char *id, JsonObject *data);
/* runc's stats data of container id from its owner, or NULL. */
JsonObject *vc_cli_container_stats (VcCli *cli, const char *id, GError **error);

/* stats (cli/cmd-stats.c) */
extern const GOptionEntry vc_cli_stats_options[];
gboolean vc_cli_check_stats (const VcCliCommand *command, VcCliArgs *args, int argc, char **argv,
                             GError **error);
int  vc_cmd_stats (VcCli *cli, const VcCliArgs *args);
int  vc_cmd_stats_bus (VcCli *cli, const VcCliArgs *args);

/* ---- what the commands share (cli/common.c) ---- */

/* Prints "vcrun: MESSAGE" on stderr and returns VC_EXIT_RUNTIME_FAILURE. */
int  vc_cli_fail (const GError *error);
int  vc_cli_fail_msg (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* The exit status for a failure to start a process: 127 when its command was
 * not found, 126 when it could not be executed, else 125. */
int  vc_cli_exec_failure_status (const GError *error);
/* Prints the error and returns vc_cli_exec_failure_status. */
int  vc_cli_fail_exec (const GError *error);
/* 128+N for a -1 status means "unknown": 125. */
int  vc_cli_status_to_exit (int status);

/* "TERM", "SIGTERM", "term" or "15" -> 15. */
gboolean vc_cli_parse_signal (const char *text, int *signum, GError **error);
/* Writes pid into path atomically. */
gboolean vc_cli_write_pid_file (const char *path, gint pid, GError **error);
/* "2026-11-25T01:02:03Z" (UTC), or "-" for an impossible time. */
char *vc_cli_format_time (gint64 unix_time);
/* Prints node as pretty JSON on stdout. */
void  vc_cli_print_json (JsonNode *node);

/* Logging set up from --log/--log-format/--debug. */
void vc_cli_setup_logging (const VcCli *cli);
/* Logs that option name (with its value, or NULL) was accepted and ignored;
 * held until logging is set up. */
void vc_cli_log_ignored (const char *name, const char *value);

/* ---- runtime and containers (cli/runtime.c) ---- */

/* The runtime of --config/--root. */
VcRuntime *vc_cli_open_runtime (VcCli *cli, GError **error);
/* Takes local and sets error to it, worded as embedded vcrun words it for
 * container id: "container ID does not exist" for NOT_FOUND, "container ID
 * ID is already in use" for EXISTS. Returns FALSE. */
gboolean   vc_cli_container_error (const char *id, GError *local, GError **error);
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

/* ---- what state, list and ps print (cli/output.c) ---- */

typedef struct {
  const char *id;
  const char *status;       /* OCI status: creating, created, running, paused, stopped */
  gint        pid;          /* the process's; 0 before it has one */
  const char *bundle;       /* NULL while creating */
  gint64      created;      /* seconds since the epoch */
  gint        owner_pid;    /* who holds the sandbox: the supervisor, or vcrund */
  gboolean    owner_alive;
  int         exit_status;  /* -1 before the process exited */
  /* network: the sandbox's namespace (NULL or "" without one) and its
   * interfaces, a(sssuas) as vcrund's Interfaces property. */
  const char *netns;
  GVariant   *interfaces;
  guint       vcpus;        /* the sandbox's VM, as `update` left it (0: unknown) */
  guint64     memory_mib;
} VcCliState;

/* `vcrun state`'s object: the OCI state (ociVersion and annotations read from
 * the bundle's config.json) plus created, owner_pid, owner_alive, exit_status. */
JsonObject *vc_cli_state_to_json (const VcCliState *state);
/* Prints `vcrun list`: a table, the IDs (quiet) or JSON (format "json"). */
void        vc_cli_print_states  (JsonArray *states, const char *format, gboolean quiet);
/* Prints a process list (objects with exec_id, init, status, exit_status) as
 * `vcrun ps` does: a table, or JSON when format is "json". */
void        vc_cli_print_processes (JsonArray *processes, const char *format);
/* `ps --format json`: [pid,...] on one line, as runc prints it. */
void        vc_cli_print_host_pids (JsonArray *pids);

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
 * it; the caller's stdio is the container's, or with console_socket a pty
 * whose master goes to that socket. The supervisor is the pid of pid_file and
 * lives as long as the container's init: when the init exits it drains the
 * output, records the status, stops the VM and exits with that status
 * (`delete` removes what is left); a delete before that ends it too.
 * Returns the exit status for the calling vcrun: 0, or 125/126/127 with the
 * error printed. */
int        vc_cli_spawn_supervisor (VcCli *cli, const char *id, const char *bundle_abs,
                                    const char *pid_file, const char *console_socket,
                                    gboolean start);

/* ---- console sockets (cli/console.c) ---- */

/* runc's --console-socket: opens a pty, sends its master to the Unix socket
 * at socket_path (SCM_RIGHTS; the message's data is the slave's name) and
 * returns the slave, in raw mode (the guest's terminal does the line
 * discipline), or -1 with error set. */
int       vc_cli_console_open (const char *socket_path, GError **error);
/* Makes tty (a pty slave) the controlling terminal of a new session for this
 * process, so that a size set on the master raises SIGWINCH here. */
gboolean  vc_cli_console_control (int tty, GError **error);

/* ---- terminal (cli/terminal.c) ---- */

typedef struct VcCliTerminal VcCliTerminal;
/* Puts fd (a terminal) in raw mode; NULL when fd is not a terminal. */
VcCliTerminal *vc_cli_terminal_raw     (int fd);
void           vc_cli_terminal_restore (VcCliTerminal *terminal);
/* fd's window size; FALSE when it is not a terminal. */
gboolean       vc_cli_terminal_size    (int fd, guint *rows, guint *columns);

/* ---- the commands' embedded forms (cli/cmd-*.c) ---- */

int vc_cmd_create  (VcCli *cli, const VcCliArgs *args);
int vc_cmd_run     (VcCli *cli, const VcCliArgs *args);
int vc_cmd_start   (VcCli *cli, const VcCliArgs *args);
int vc_cmd_state   (VcCli *cli, const VcCliArgs *args);
int vc_cmd_kill    (VcCli *cli, const VcCliArgs *args);
int vc_cmd_delete  (VcCli *cli, const VcCliArgs *args);
int vc_cmd_exec    (VcCli *cli, const VcCliArgs *args);
int vc_cmd_ps      (VcCli *cli, const VcCliArgs *args);
int vc_cmd_pause   (VcCli *cli, const VcCliArgs *args);
int vc_cmd_resume  (VcCli *cli, const VcCliArgs *args);
int vc_cmd_list    (VcCli *cli, const VcCliArgs *args);
int vc_cmd_spec    (VcCli *cli, const VcCliArgs *args);
int vc_cmd_check   (VcCli *cli, const VcCliArgs *args);
int vc_cmd_plugins (VcCli *cli, const VcCliArgs *args);
int vc_cmd_features (VcCli *cli, const VcCliArgs *args);
int vc_cmd_template (VcCli *cli, const VcCliArgs *args);
int vc_cmd_template_bus (VcCli *cli, const VcCliArgs *args);
/* `vcrun template list`'s output, for both forms (VcTemplateInfo). */
void vc_cli_print_templates (GPtrArray *templates, const char *format);

/* ---- their bus forms, through vcrund (cli/bus-run.c, cli/bus-container.c) ---- */

int vc_cmd_create_bus (VcCli *cli, const VcCliArgs *args);
int vc_cmd_run_bus    (VcCli *cli, const VcCliArgs *args);
int vc_cmd_exec_bus   (VcCli *cli, const VcCliArgs *args);
int vc_cmd_start_bus  (VcCli *cli, const VcCliArgs *args);
int vc_cmd_state_bus  (VcCli *cli, const VcCliArgs *args);
int vc_cmd_kill_bus   (VcCli *cli, const VcCliArgs *args);
int vc_cmd_delete_bus (VcCli *cli, const VcCliArgs *args);
int vc_cmd_ps_bus     (VcCli *cli, const VcCliArgs *args);
int vc_cmd_pause_bus  (VcCli *cli, const VcCliArgs *args);
int vc_cmd_resume_bus (VcCli *cli, const VcCliArgs *args);
int vc_cmd_list_bus   (VcCli *cli, const VcCliArgs *args);

G_END_DECLS
