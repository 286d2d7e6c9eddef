/* libvcrun: containers — an OCI bundle's process running in a sandbox.
 *
 * States:
 *
 *   vc_container_create         vc_container_start          vc_container_pause
 *   ------------------> CREATED ------------------> RUNNING <------------------> PAUSED
 *                          |                          |       vc_container_resume  |
 *                          |                          +--- init process exits, ----+
 *                          |                               sandbox stops
 *                          +------ sandbox stops -------> STOPPED
 *
 *   vc_container_delete: CREATED or STOPPED (any state with force) -> gone.
 *
 * Errors for an operation in the wrong state are VC_ERROR_INVALID_STATE and
 * name the state found ("container c1 is created, expected running").
 *
 * vc_container_create reads <bundle>/config.json (an OCI runtime spec; errors
 * name the field, e.g. "config.json: process.args: must be a non-empty array
 * of strings"), shares the rootfs and each bind mount (type "bind", or options
 * containing "bind"/"rbind") through the fs plugin, and asks the agent to
 * create the container; a failure undoes the shares and leaves no record.
 *
 * Processes: the container's init process has exec_id NULL (== container ID
 * for the agent); vc_container_exec starts more, named by exec IDs. The
 * stdio and wait calls block and may run from several threads at once, next
 * to the sandbox's other operations. When the init process's wait returns,
 * the container becomes STOPPED with its exit status, persisted.
 *
 * The sandbox must be READY or RUNNING to create a container, RUNNING to
 * start, signal, exec, pause or resume one.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "sandbox.h"

G_BEGIN_DECLS

typedef enum {
  VC_CONTAINER_CREATED = 1,
  VC_CONTAINER_RUNNING,
  VC_CONTAINER_PAUSED,
  VC_CONTAINER_STOPPED,
} VcContainerState;

/* "created", "running", "paused", "stopped" (as in sandbox.json and OCI state). */
const char *vc_container_state_to_string (VcContainerState state);

/* bundle: a directory with config.json; made absolute before it is stored. */
VcContainer *vc_container_create (VcSandbox *sandbox, const char *id, const char *bundle,
                                  GError **error);
/* As vc_container_create, for caller_uid (0: root, no checks): config.json
 * is read once, and that spec's bundle, rootfs, bind sources, block volumes
 * and block devices must belong to caller_uid (vc_bundle_check_spec_owner)
 * before anything is shared: a config.json swapped after the check is not
 * the one used. VC_ERROR_ACCESS_DENIED names what is not the caller's. */
VcContainer *vc_container_create_as (VcSandbox *sandbox, const char *id, const char *bundle,
                                     guint caller_uid, GError **error);
VcContainer *vc_container_ref    (VcContainer *container);
void         vc_container_unref  (VcContainer *container);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcContainer, vc_container_unref)

/* CREATED -> RUNNING: starts the init process. */
gboolean  vc_container_start  (VcContainer *container, GError **error);
/* RUNNING -> PAUSED -> RUNNING (the agent freezes the container's cgroup). */
gboolean  vc_container_pause  (VcContainer *container, GError **error);
/* Applies an OCI LinuxResources object (resources_json): vCPUs and memory
 * of the sandbox's VM grow to hold it (within max_vcpus and max_memory_mib:
 * beyond is an error, and nothing changes), then the in-guest cgroup. What
 * the hypervisor could not do (memory never shrinks) is said in *notes
 * (NULL when all was done). */
gboolean  vc_container_update (VcContainer *container, const char *resources_json, char **notes,
                               GError **error);
/* runc's `events --stats` data object: cpu, memory, pids, blkio, network
 * from the agent, and "vmm" (pid, cpu_time_ns, rss_bytes) from the host. */
JsonObject *vc_container_stats (VcContainer *container, GError **error);
gboolean  vc_container_resume (VcContainer *container, GError **error);
/* Signals a process (exec_id NULL: init; all: every process of the container).
 * A created container's init may be signalled too: it has not run yet, so a
 * signal whose default action ends a process ends it, and waiting for it
 * (vc_container_wait) then records the container stopped. */
gboolean  vc_container_signal (VcContainer *container, const char *exec_id, int signum,
                               gboolean all, GError **error);
/* Whether signum's default action ends a process (not ignored, not a stop). */
gboolean  vc_signal_default_terminates (int signum);
/* Blocks until the process exits; exit_status 0..255, or 128+N after signal N.
 * For the init process, the container then becomes STOPPED. A stopped
 * container's init status is returned at once. */
gboolean  vc_container_wait   (VcContainer *container, const char *exec_id, int *exit_status,
                               GError **error);
/* Starts process_json (an OCI Process object: args, env, cwd, user, terminal)
 * as exec_id in the running container. */
gboolean  vc_container_exec   (VcContainer *container, const char *exec_id,
                               const char *process_json, GError **error);

/* Stdio of a process (exec_id NULL: init). read_* block until data is
 * available; an empty GBytes is end of file. */
GBytes   *vc_container_read_stdout   (VcContainer *container, const char *exec_id, gsize max_len,
                                      GError **error);
GBytes   *vc_container_read_stderr   (VcContainer *container, const char *exec_id, gsize max_len,
                                      GError **error);
gboolean  vc_container_write_stdin   (VcContainer *container, const char *exec_id,
                                      const guint8 *data, gsize len, gsize *written,
                                      GError **error);
gboolean  vc_container_close_stdin   (VcContainer *container, const char *exec_id, GError **error);
/* Nobody reads the process's stdout (err_stream FALSE) or stderr any more:
 * the agent closes its pipe, so the writer gets EPIPE or SIGPIPE as in a
 * host pipeline; later reads return end of file. An agent without
 * close_output gets SIGPIPE sent to the process instead. */
gboolean  vc_container_close_output  (VcContainer *container, const char *exec_id,
                                      gboolean err_stream, GError **error);
gboolean  vc_container_resize_tty    (VcContainer *container, const char *exec_id, guint rows,
                                      guint columns, GError **error);

/* CREATED or STOPPED -> gone: the agent removes it, the fs unshares it, the
 * record leaves sandbox.json. With force, a running or paused container is
 * killed (SIGKILL) first. */
gboolean  vc_container_delete (VcContainer *container, gboolean force, GError **error);

/* Getters (strings borrowed: immutable for the container's life). */
const char      *vc_container_get_id          (VcContainer *container);
const char      *vc_container_get_bundle      (VcContainer *container);
VcSandbox       *vc_container_get_sandbox     (VcContainer *container);  /* borrowed */
VcContainerState vc_container_get_state       (VcContainer *container);
/* process.terminal of config.json. */
gboolean         vc_container_get_terminal    (VcContainer *container);
/* The host pid standing for the container (OCI state "pid"): the process
 * that started it, as Kata reports its shim; 0 before start. */
gint             vc_container_get_pid         (VcContainer *container);
/* The init process's exit status once STOPPED after it exited; -1 otherwise
 * (also when it stopped because the sandbox did). */
int              vc_container_get_exit_status (VcContainer *container);
gint64           vc_container_get_created     (VcContainer *container);  /* unix time, s */

G_END_DECLS
