/* libvcrun internal: what container.c needs from sandbox.c.
 *
 * Locking, in order: op_mutex (one operation of this process at a time on the
 * sandbox, and the only thread calling VcVm / VcFsShare methods), then the
 * flock on <dir>/lock (one operation across processes), then state_mutex
 * (short: guards the in-memory record). Blocking agent calls (wait, stdio)
 * hold none of them; they hold a reference on the agent connection.
 */
#pragma once

#include <vcrun/agent.h>
#include <vcrun/device.h>
#include <vcrun/fs.h>
#include <vcrun/hypervisor.h>

#include "container.h"
#include "lock.h"
#include "sandbox.h"
#include "state.h"

G_BEGIN_DECLS

/* A shared agent connection: disconnected when the last user drops it. */
typedef struct {
  gint               ref_count;
  const VcAgentOps  *ops;
  VcAgentConn       *conn;
} VcAgentRef;

VcAgentRef *vc_agent_ref_acquire (VcAgentRef *ref);
void        vc_agent_ref_release (VcAgentRef *ref);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcAgentRef, vc_agent_ref_release)

/* One state-changing operation: op_mutex + flock held, the record re-read
 * from disk. */
typedef struct {
  VcSandbox *sandbox;
  VcLock    *lock;
} VcSandboxOp;

gboolean vc_sandbox_op_begin (VcSandbox *sandbox, VcSandboxOp *op, GError **error);
/* Writes the in-memory record to sandbox.json. */
gboolean vc_sandbox_op_save  (VcSandboxOp *op, GError **error);
/* Unlocks, then delivers the change notifications queued meanwhile. */
void     vc_sandbox_op_end   (VcSandboxOp *op);

/* The in-memory record, under state_mutex. */
VcSandboxRecord *vc_sandbox_lock_record   (VcSandbox *sandbox);
void             vc_sandbox_unlock_record (VcSandbox *sandbox);

/* VC_ERROR_INVALID_STATE unless the sandbox's state is in accepted (a mask
 * of 1 << VcSandboxState). Takes state_mutex. */
gboolean vc_sandbox_require_state (VcSandbox *sandbox, guint accepted, GError **error);
#define VC_SANDBOX_MASK(s) (1u << (s))

/* Plugin handles, made on first use (inside an op: these call plugins). */
const VcFsOps *vc_sandbox_ensure_fs (VcSandbox *sandbox, VcFsShare **share, GError **error);
/* A reference on the agent connection, connecting first if needed; outside
 * an op it takes op_mutex for the connect. */
VcAgentRef *vc_sandbox_get_agent (VcSandbox *sandbox, gboolean in_op, GError **error);

/* Devices of a running VM (inside an op): the loaded device-driver plugins
 * in configuration order, each with its ops (borrowed), and hotplug into
 * and out of the sandbox's VM. */
typedef struct {
  const char        *name;
  VcPluginInstance  *instance;
  const VcDeviceOps *ops;
} VcDevicePluginRef;
GArray  *vc_sandbox_device_plugins  (VcSandbox *sandbox);
gboolean vc_sandbox_hotplug_add     (VcSandbox *sandbox, const VcDevice *device,
                                     VcGuestDevice *guest_out, GError **error);
gboolean vc_sandbox_hotplug_remove  (VcSandbox *sandbox, const char *device_id, guint timeout_ms,
                                     GError **error);
/* Cold plug (inside vc_sandbox_create, between create_vm and start_vm):
 * add_device into the VM being created. */
gboolean vc_sandbox_cold_plug       (VcSandbox *sandbox, const VcDevice *device,
                                     VcGuestDevice *guest_out, GError **error);
/* The devices cold-plugged at boot for container id, now the caller's; NULL
 * when there are none for it (another container, or claimed already). */
struct VcContainerDevices *vc_sandbox_steal_cold_devices (VcSandbox *sandbox, const char *id);
/* The record's note of the devices cold-plugged at boot for container id
 * (sandbox.json's "cold_plugged"), now the caller's and gone from the
 * record; NULL when it names none for id. */
char **vc_sandbox_take_cold_records (VcSandbox *sandbox, const char *id);

/* Resizes the running VM (inside an op): vcpus (0: unchanged) and memory
 * (0: unchanged); *_out receive the sizes the hypervisor reached. */
gboolean vc_sandbox_resize_vm (VcSandbox *sandbox, guint vcpus, guint64 memory_mib,
                               guint *vcpus_out, guint64 *memory_mib_out, GError **error);
/* Host pids of the VM: the VMM first, then its helpers (GArray of gint). */
GArray  *vc_sandbox_vm_pids   (VcSandbox *sandbox, GError **error);

/* Queues a change notification for a container (NULL: the sandbox). */
void vc_sandbox_queue_notify (VcSandbox *sandbox, const char *container_id);

/* Lists "a", "a or b", "a, b or c" for state error messages. */
char *vc_state_names_join (const char *const *names, guint n);

/* container.c: a handle on container id of sandbox (takes a sandbox ref). */
VcContainer *vc_container_new_handle (VcSandbox *sandbox, const char *id);

G_END_DECLS
