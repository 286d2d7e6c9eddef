/* libvcrun: sandboxes — one VM with its guest agent and shared filesystem.
 *
 * States (Kata's and gVisor's):
 *
 *   vc_sandbox_create      vc_sandbox_start        vc_sandbox_pause
 *   ---------------> READY ---------------> RUNNING <--------------> PAUSED
 *                      |                     |     vc_sandbox_resume   |
 *                      +---------------------+--------------------------+
 *                                 vc_sandbox_stop, or the VM went away
 *                                            v
 *                                         STOPPED --vc_sandbox_delete--> (gone)
 *
 * READY: the VM is up, the agent has created the sandbox, containers may be
 * created. RUNNING: containers may be started. Each operation checks the
 * states it accepts and fails with VC_ERROR_INVALID_STATE naming the state it
 * found ("sandbox foo is paused, expected running").
 *
 * vc_sandbox_create runs, in order: fs prepare -> fs get_devices ->
 * hypervisor create_vm -> add_device (each) -> start_vm -> wait_agent_channel
 * -> get_agent_endpoint -> agent connect -> check -> fs get_sandbox_storage ->
 * agent create_sandbox. A failure at any step undoes the earlier ones in
 * reverse (stop the VM, fs cleanup, remove the state dir): nothing is left.
 *
 * Persistence: every change is written to <state_dir>/<id>/sandbox.json
 * atomically (temp file in the same dir, fsync, rename, fsync dir) while
 * holding the sandbox's lock (flock on <state_dir>/<id>/lock). An operation
 * that changes state takes the lock, re-reads sandbox.json (another process
 * may have changed it), checks the state, acts, writes, and unlocks. A lock
 * held elsewhere is waited for up to vc_runtime_get_lock_timeout, then the
 * operation fails with VC_ERROR_BUSY. Readers need no lock: a rename is
 * atomic, so they see the last complete state.
 *
 * Reattaching: vc_sandbox_load reads sandbox.json only. The plugin handles are
 * rebuilt lazily, on the first operation that needs them: hypervisor attach_vm
 * (from the saved state) for stop/pause/resume, fs attach for cleanup and
 * sharing, agent connect (to the hypervisor's endpoint) for agent calls. So
 * `state` and `list` never touch the VM, and a second process can always stop
 * and delete a sandbox.
 *
 * Ownership: a running sandbox's virtio-serial port and QMP socket take one
 * connection at a time, so exactly one process — the owner — should drive its
 * agent and stdio. The core records the creating process as owner (owner_pid
 * in sandbox.json) and reserves <state_dir>/<id>/owner.sock
 * (vc_sandbox_get_owner_socket) for the owner's service; other processes use
 * the core directly only to read state and to stop/delete (which needs no
 * agent connection).
 *
 * Events: the VM going away (VC_VM_EVENT_STOPPED, from any thread) or the fs
 * daemon dying (VC_FS_EVENT_DAEMON_DIED; the VM is then stopped too) marks
 * the sandbox and its containers stopped, records the reason and persists it.
 *
 * Thread safety: operations on one sandbox are serialised; the blocking
 * container calls (wait, stdio) run concurrently with them.
 */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

#include "runtime.h"

G_BEGIN_DECLS

typedef struct VcSandbox   VcSandbox;
typedef struct VcContainer VcContainer;

typedef enum {
  VC_SANDBOX_READY = 1,
  VC_SANDBOX_RUNNING,
  VC_SANDBOX_PAUSED,
  VC_SANDBOX_STOPPED,
} VcSandboxState;

/* "ready", "running", "paused", "stopped" (as in sandbox.json). */
const char *vc_sandbox_state_to_string (VcSandboxState state);

/* What may differ from the configuration's `sandbox` section. Zero / NULL
 * fields take the configuration's value (or the built-in default). */
typedef struct {
  const char *hypervisor;        /* plugin names */
  const char *agent;
  const char *fs;
  guint       vcpus;
  guint       max_vcpus;
  guint64     memory_mib;
  guint64     max_memory_mib;
  const char *kernel;
  const char *initrd;
  const char *kernel_params;
  const char *hostname;          /* default: the sandbox ID */
  gint64      owner_uid;         /* -1 or 0 when unset: getuid(); vcrund passes the caller's */
  guint       boot_timeout_ms;   /* start_vm + wait_agent_channel; default 120000 */
  guint       agent_timeout_ms;  /* agent connect; 0: the plugin's dial_timeout_ms */
  guint       stop_timeout_ms;   /* graceful part of stop_vm; default 5000 */
  gint        use_template;      /* 0: sandbox.template; 1: start from a template (built if
                                    missing); -1: cold boot */
  /* network: a network namespace prepared by the caller (the OCI spec's
   * linux.namespaces {type: network, path}, see vc_bundle_network_namespace).
   * Each of its veths gets a tap with tc redirects both ways and the VM a NIC
   * with the veth's MAC, configured by the agent; delete removes the taps and
   * filters. NULL: no NIC, the guest has only lo. */
  const char *netns;
  /* cold plug: the bundle of the container that will be created first in
   * this sandbox (with the ID container_id; NULL: the sandbox's ID). Its
   * block volumes and linux.devices are resolved through the device plugins
   * and cold-plugged before the VM boots (add_device), and that container's
   * create takes them without a hotplug. A bad request (a missing image, a
   * device no plugin handles) fails the create. Ignored when the sandbox
   * starts from a template (which holds no container devices): the
   * container then hot-plugs them. NULL: nothing is cold-plugged. */
  const char *bundle;
  const char *container_id;
} VcSandboxOptions;

/* Creates and boots sandbox id (state READY). options may be NULL.
 * Errors: VC_ERROR_INVALID_ARGUMENT (bad ID), VC_ERROR_EXISTS (ID in use),
 * VC_ERROR_NOT_FOUND (plugin), or the failing step's error prefixed with the
 * step ("start_vm: ..."). */
VcSandbox  *vc_sandbox_create (VcRuntime *runtime, const char *id,
                               const VcSandboxOptions *options, GError **error);
/* Reads a sandbox's saved state (see "Reattaching"). VC_ERROR_NOT_FOUND if
 * there is none. */
VcSandbox  *vc_sandbox_load   (VcRuntime *runtime, const char *id, GError **error);
/* IDs of the sandboxes in the state dir that have a readable sandbox.json,
 * sorted. An absent state dir is an empty list. GPtrArray of char*. */
GPtrArray  *vc_sandbox_list   (VcRuntime *runtime, GError **error);

VcSandbox  *vc_sandbox_ref    (VcSandbox *sandbox);
/* Drops the handle; the VM keeps running (see vc_sandbox_stop). */
void        vc_sandbox_unref  (VcSandbox *sandbox);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcSandbox, vc_sandbox_unref)

/* READY -> RUNNING. */
gboolean    vc_sandbox_start  (VcSandbox *sandbox, GError **error);
/* RUNNING -> PAUSED: the whole VM is paused. */
gboolean    vc_sandbox_pause  (VcSandbox *sandbox, GError **error);
/* PAUSED -> RUNNING. */
gboolean    vc_sandbox_resume (VcSandbox *sandbox, GError **error);
/* READY, RUNNING or PAUSED -> STOPPED: agent destroy_sandbox (best effort),
 * stop the VM, fs cleanup. Containers become stopped. */
gboolean    vc_sandbox_stop   (VcSandbox *sandbox, GError **error);
/* STOPPED -> gone: makes sure the VM is gone and the fs cleaned up, then
 * removes the state dir. With force, a sandbox in any state is stopped first.
 * The handle stays valid (state reads STOPPED) until unref. */
gboolean    vc_sandbox_delete (VcSandbox *sandbox, gboolean force, GError **error);

/* Records the calling process as the sandbox's owner (owner_pid), as a new
 * supervisor does when it takes over from one that died. */
gboolean    vc_sandbox_claim_ownership (VcSandbox *sandbox, GError **error);

/* Re-reads sandbox.json: picks up changes made by other processes. */
gboolean    vc_sandbox_refresh (VcSandbox *sandbox, GError **error);

/* Getters. Strings are copies (free them) because another thread may change
 * the state at any time. */
const char     *vc_sandbox_get_id           (VcSandbox *sandbox);  /* borrowed, immutable */
VcSandboxState  vc_sandbox_get_state        (VcSandbox *sandbox);
/* Why the sandbox stopped ("stopped by request", "guest powered off", ...),
 * NULL while it has not. */
char           *vc_sandbox_dup_reason       (VcSandbox *sandbox);
/* While vc_sandbox_create runs, the state reads STOPPED with the reason
 * "being created by process N" (so that a creator killed half way leaves a
 * sandbox that delete cleans up). TRUE while that process is alive: what OCI
 * calls "creating". */
gboolean        vc_sandbox_is_being_created (VcSandbox *sandbox);
const char     *vc_sandbox_get_dir          (VcSandbox *sandbox);  /* <state_dir>/<id>, borrowed */
char           *vc_sandbox_get_owner_socket (VcSandbox *sandbox);  /* <dir>/owner.sock */
/* The plugins' names: copies, since the record they live in is replaced by
 * every operation. */
char           *vc_sandbox_dup_hypervisor_name (VcSandbox *sandbox);
char           *vc_sandbox_dup_agent_name   (VcSandbox *sandbox);
char           *vc_sandbox_dup_fs_name      (VcSandbox *sandbox);
guint           vc_sandbox_get_vcpus        (VcSandbox *sandbox);
guint64         vc_sandbox_get_memory_mib   (VcSandbox *sandbox);
gint64          vc_sandbox_get_created      (VcSandbox *sandbox);  /* unix time, seconds */
guint           vc_sandbox_get_owner_uid    (VcSandbox *sandbox);
gint            vc_sandbox_get_owner_pid    (VcSandbox *sandbox);
/* The hypervisor's host pids (VMM first), GArray of gint; attaches if needed. */
GArray         *vc_sandbox_get_pids         (VcSandbox *sandbox, GError **error);
/* Its host processes for `vcrun ps`: those, then the fs-sharer's helpers. */
GArray         *vc_sandbox_get_host_pids    (VcSandbox *sandbox, GError **error);
/* The guest console log path, or NULL. */
char           *vc_sandbox_get_console_path (VcSandbox *sandbox);
/* The template its VM was restored from, when this process created it so;
 * NULL after a cold boot (borrowed). */
const char     *vc_sandbox_get_template_dir (VcSandbox *sandbox);

/* network: the interfaces the sandbox bridges from its network namespace
 * (empty without one). */
typedef struct {
  char  *name;        /* the veth's, and the guest NIC's */
  char  *mac;
  guint  mtu;
  char  *tap;         /* the tap vcrun made beside it */
  char **addresses;   /* CIDRs */
} VcSandboxInterface;
void        vc_sandbox_interface_free   (VcSandboxInterface *iface);
/* GPtrArray of VcSandboxInterface*, free the array. *netns (may be NULL)
 * gets the namespace's path, NULL without one. */
GPtrArray  *vc_sandbox_list_interfaces  (VcSandbox *sandbox, char **netns);
/* The same as a floating GVariant "a(sssuas)": name, mac, tap, mtu,
 * addresses (vcrund's Interfaces property, `vcrun state`'s "network"). */
GVariant   *vc_sandbox_interfaces_variant (VcSandbox *sandbox, char **netns);

/* Containers of the sandbox, in creation order: GPtrArray of VcContainer*
 * holding a reference each (free the array). */
GPtrArray      *vc_sandbox_list_containers  (VcSandbox *sandbox);
/* A new reference to container id; VC_ERROR_NOT_FOUND names both IDs. */
VcContainer    *vc_sandbox_get_container    (VcSandbox *sandbox, const char *id, GError **error);

/* Called on every state change of the sandbox or one of its containers
 * (container NULL for the sandbox's own), from any thread, without locks
 * held; for vcrund's PropertiesChanged signals. One observer per sandbox. */
typedef void (*VcSandboxChangedFunc) (VcSandbox *sandbox, VcContainer *container,
                                      gpointer user_data);
void            vc_sandbox_set_changed_func (VcSandbox *sandbox, VcSandboxChangedFunc func,
                                             gpointer user_data, GDestroyNotify destroy);

G_END_DECLS
