/* vcrund, the D-Bus service: shared declarations.
 *
 * Threads: everything that touches the bus objects (skeletons, the object
 * manager, the tables below) runs in the main context. Operations that may
 * block (a boot takes seconds under TCG, agent calls wait for the guest) run
 * on the daemon's worker pool (worker.c) and finish back in the main context.
 * Each running process has threads of its own for its stdio and its exit
 * (process.c). Method calls are authorised before they reach the main
 * context, on GDBus's own threads (caller.c).
 */
#pragma once

#include <gio/gio.h>

#include "libvcrun.h"
#include "vcrun-dbus.h"

G_BEGIN_DECLS

#define VCD_BUS_NAME      "org.vcrun.Runtime1"
#define VCD_MANAGER_PATH  "/org/vcrun/Runtime1"
#define VCD_SANDBOX_PATH  VCD_MANAGER_PATH "/sandbox"

typedef struct VcdDaemon    VcdDaemon;
typedef struct VcdSandbox   VcdSandbox;
typedef struct VcdContainer VcdContainer;
typedef struct VcdProcess   VcdProcess;
typedef struct VcdCallers   VcdCallers;

/* ---- errors.c: VC_ERROR <-> org.vcrun.Runtime1.Error.* ---------------- */


/* Registers the error names with GDBus (idempotent). */
/* Returns error on invocation (consumes the invocation, not the error);
 * errors outside VC_ERROR become Failed with their message. */
void vcd_return_error (GDBusMethodInvocation *invocation, const GError *error);
void vcd_return_error_literal (GDBusMethodInvocation *invocation, VcError code,
                               const char *message);

/* ---- caller.c: who is calling --------------------------------------- */

VcdCallers *vcd_callers_new  (GDBusConnection *connection);
void        vcd_callers_free (VcdCallers *callers);

/* Connects the authorisation check to a skeleton's g-authorize-method.
 * owner_uid: the uid besides root allowed to call it; G_MAXUINT: anyone.
 * Every authorised invocation carries its caller's uid (vcd_caller_uid). */
void        vcd_callers_guard (VcdCallers *callers, GDBusInterfaceSkeleton *skeleton,
                               guint owner_uid);
/* The caller's uid, set by the check (G_MAXUINT if unknown). */
guint       vcd_caller_uid (GDBusMethodInvocation *invocation);

/* ---- worker.c: running blocking calls off the main context ---------- */

/* Runs in a worker thread; returns FALSE with error set on failure. */
typedef gboolean (*VcdWorkFunc) (gpointer data, GError **error);
/* Runs in the main context with the work's error (NULL on success). */
typedef void     (*VcdDoneFunc) (gpointer data, const GError *error);

typedef struct VcdWorker VcdWorker;
VcdWorker *vcd_worker_new  (void);
/* Runs work (thread), then done (main context), then free_data (may be NULL). */
void       vcd_worker_run  (VcdWorker *worker, VcdWorkFunc work, VcdDoneFunc done,
                            gpointer data, GDestroyNotify free_data);
/* Waits for the works running, drops the queued ones. */
void       vcd_worker_free (VcdWorker *worker);

/* ---- daemon.c: the manager object and the table of sandboxes --------- */

VcdDaemon  *vcd_daemon_new      (VcRuntime *runtime, GDBusConnection *connection,
                                 GError **error);
/* Unexports everything and drops the handles; the VMs keep running. */
void        vcd_daemon_free     (VcdDaemon *daemon);

VcRuntime                *vcd_daemon_get_runtime (VcdDaemon *daemon);
GDBusConnection          *vcd_daemon_get_connection (VcdDaemon *daemon);
GDBusObjectManagerServer *vcd_daemon_get_objects (VcdDaemon *daemon);
VcdCallers               *vcd_daemon_get_callers (VcdDaemon *daemon);
VcdWorker                *vcd_daemon_get_worker  (VcdDaemon *daemon);
/* Called by a sandbox once it left the bus. */
void        vcd_daemon_forget_sandbox (VcdDaemon *daemon, VcdSandbox *sandbox);

/* ID -> object path element: bytes outside [A-Za-z0-9] become _XX. */
char       *vcd_escape_id (const char *id);

/* ---- sandbox-object.c: one sandbox on the bus ---------------------- */

/* Exports handle (taking a reference) at its path. A sandbox whose owner
 * process is another live process (a vcrun supervisor) is exported
 * read-mostly: only Stop and Delete act on it. */
VcdSandbox *vcd_sandbox_export (VcdDaemon *daemon, VcSandbox *handle);
VcdSandbox *vcd_sandbox_ref    (VcdSandbox *sandbox);
void        vcd_sandbox_unref  (VcdSandbox *sandbox);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcdSandbox, vcd_sandbox_unref)
/* Takes it off the bus with its containers (pending waits fail). */
void        vcd_sandbox_unexport (VcdSandbox *sandbox);

const char *vcd_sandbox_get_id     (VcdSandbox *sandbox);
const char *vcd_sandbox_get_path   (VcdSandbox *sandbox);
VcSandbox  *vcd_sandbox_get_handle (VcdSandbox *sandbox);
VcdDaemon  *vcd_sandbox_get_daemon (VcdSandbox *sandbox);
/* Whether another live process owns it (see vcd_sandbox_export); sets
 * VC_ERROR_BUSY naming that process. */
gboolean    vcd_sandbox_check_owned (VcdSandbox *sandbox, GError **error);
/* Brings the properties and the container objects in line with the handle. */
void        vcd_sandbox_sync (VcdSandbox *sandbox);

/* ---- container-object.c: one container on the bus ------------------ */

/* Exports handle (taking a reference) below sandbox. A running container
 * gets its init process's stdio pumps and waiter. */
VcdContainer *vcd_container_export   (VcdSandbox *sandbox, VcContainer *handle);
VcdContainer *vcd_container_ref      (VcdContainer *container);
void          vcd_container_unref    (VcdContainer *container);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcdContainer, vcd_container_unref)
void          vcd_container_unexport (VcdContainer *container);
/* Drains and waits for its init process if it is running and nobody does
 * yet (a container found running, or whose owner process went away). */
void          vcd_container_adopt    (VcdContainer *container);
const char   *vcd_container_get_path (VcdContainer *container);
/* Brings the properties in line with the handle. */
void          vcd_container_sync     (VcdContainer *container);
VcContainer  *vcd_container_get_handle  (VcdContainer *container);
VcdSandbox   *vcd_container_get_sandbox (VcdContainer *container);

/* ---- container-resources.c: Container.Update and GetStats ----------- */
void          vcd_container_resources_connect (VcdContainer *container, VcdBusContainer *iface);

/* ---- process.c: one process's stdio and exit ----------------------- */

/* Called in the main context once the process has exited (status 0..255 or
 * 128+N) or could not be waited for (status -1, error set). */
typedef void (*VcdExitFunc) (VcdProcess *process, int status, const GError *error,
                             gpointer user_data);

/* Makes the pipes of process exec_id (NULL: init) of handle. terminal: no
 * stderr stream. */
VcdProcess *vcd_process_new   (VcContainer *handle, const char *exec_id, gboolean terminal,
                               GError **error);
VcdProcess *vcd_process_ref   (VcdProcess *process);
void        vcd_process_unref (VcdProcess *process);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcdProcess, vcd_process_unref)
/* exec_id, NULL for init. */
const char *vcd_process_get_exec_id (VcdProcess *process);
/* Starts pumping its stdio and waiting for it (any thread); exit_func is
 * called once, in the main context. */
void        vcd_process_start (VcdProcess *process, VcdExitFunc exit_func, gpointer user_data,
                               GDestroyNotify destroy);
/* Hands out the caller's ends (stdin, stdout, stderr) once; VC_ERROR_BUSY
 * after that. */
GUnixFDList *vcd_process_attach (VcdProcess *process, GError **error);
/* Instead of the pipes: fds[] (taken over) become the process's stdio, before
 * it starts and before any attach; VC_ERROR_BUSY otherwise. */
gboolean    vcd_process_use_stdio (VcdProcess *process, int fds[3], GError **error);

G_END_DECLS
