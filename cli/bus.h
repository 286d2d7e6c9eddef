/* vcrun --bus: the D-Bus client of vcrund (org.vcrun.Runtime1, see
 * data/org.vcrun.Runtime1.xml) that the commands' bus forms (cli/bus-run.c,
 * cli/bus-container.c) share. bus-client.c reaches vcrund, calls it and
 * translates its errors; bus-stdio.c carries an attached process's stdio and
 * signals. A container ID names a sandbox of the same ID holding that one
 * container, as in embedded mode; vcrund owns it (its stdio, its exit). */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "cli.h"

G_BEGIN_DECLS

#define VC_BUS_NAME       "org.vcrun.Runtime1"
#define VC_BUS_MANAGER    "/org/vcrun/Runtime1"
#define VC_BUS_IFACE_M    VC_BUS_NAME ".Manager"
#define VC_BUS_IFACE_S    VC_BUS_NAME ".Sandbox"
#define VC_BUS_IFACE_C    VC_BUS_NAME ".Container"
/* A boot takes seconds under TCG; Wait takes as long as the process. */
#define VC_BUS_CALL_TIMEOUT_MS (10 * 60 * 1000)

/* ---- reaching vcrund (cli/bus-client.c) ---- */

/* A container on the bus: the sandbox and container objects of one ID. */
typedef struct {
  GDBusConnection *bus;
  char            *sandbox;    /* object paths */
  char            *container;  /* NULL while the sandbox has none */
} VcBusTarget;

void vc_bus_target_clear (VcBusTarget *target);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VcBusTarget, vc_bus_target_clear)

/* The bus --bus named. */
GDBusConnection *vc_bus_connect (VcCli *cli, GError **error);
/* Container.GetStats of container id, in the shape of `events --stats`'s data. */
JsonObject *vc_bus_container_stats (VcCli *cli, const char *id, GError **error);
/* Finds sandbox id and its container; "container ID does not exist", as in
 * embedded mode, when there is none. */
gboolean  vc_bus_open (VcCli *cli, const char *id, VcBusTarget *target, GError **error);
/* create and run: sandbox id, started, with container id created from
 * bundle; nothing is left behind on failure. */
gboolean  vc_bus_create (VcCli *cli, const char *id, const char *bundle, VcBusTarget *target,
                         GError **error);
/* Deletes the target's sandbox (with its container), forcibly. */
gboolean  vc_bus_delete (VcBusTarget *target, GError **error);

/* A method call on vcrund (reply_type NULL: any reply). */
GVariant *vc_bus_call (GDBusConnection *bus, const char *path, const char *iface,
                       const char *method, GVariant *params, const char *reply_type,
                       GUnixFDList **out_fds, GError **error);
gboolean  vc_bus_call_void (GDBusConnection *bus, const char *path, const char *iface,
                            const char *method, GVariant *params, GError **error);
/* A string property; NULL when unreachable. */
char     *vc_bus_get_string (GDBusConnection *bus, const char *path, const char *iface,
                             const char *name);
/* The OCI state of the target's container, as embedded `state` prints it. */
JsonObject *vc_bus_container_state (VcBusTarget *target, const char *id);

/* Prints "vcrun: MESSAGE" without GDBus's "GDBus.Error:NAME: " prefix (and
 * says how to start vcrund when nobody owns its name); returns 125. */
int       vc_bus_fail (GError *error);
/* The same for a failure to start a process: 125, 126 or 127. */
int       vc_bus_fail_exec (GError *error);

/* ---- an attached process (cli/bus-stdio.c) ---- */

/* While on, SIGINT, SIGTERM and SIGHUP are caught for the attached process
 * and SIGWINCH for its terminal; vc_bus_attach delivers them. */
void      vc_bus_forward_signals (gboolean on);
/* The last signal (other than SIGWINCH) caught before the process ran; 0 if
 * none. */
int       vc_bus_pending_signal (void);
/* The three fds of an Attach or Exec reply, taken out of the list (a copy
 * left there would keep the process's stdin open). */
gboolean  vc_bus_reply_fds (GVariant *reply, GUnixFDList *list, int fds[3]);
/* Carries the stdio of process exec_id ("": the init process) of the
 * target's container through fds (in raw mode when tty), forwarding signals
 * and window sizes, and returns vcrun's exit status once it has exited. */
int       vc_bus_attach (VcBusTarget *target, const char *exec_id, gboolean tty, int fds[3]);
/* Makes our stdio the container's, as embedded create and run -d do (a
 * terminal's keys stay with the caller's shell: stdin is /dev/null then). */
gboolean  vc_bus_pass_stdio (VcBusTarget *target, GError **error);

G_END_DECLS
