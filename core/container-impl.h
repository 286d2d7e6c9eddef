/* libvcrun internal: the container handle, shared by the files that
 * implement it:
 *   container.c          handles, state checks and changes, delete, getters
 *   container-create.c   bundle to shares to agent container, with undo
 *   container-process.c  signal, exec, wait, stdio
 */
#pragma once

#include "sandbox-private.h"

G_BEGIN_DECLS

#define REMOVE_TIMEOUT_MS 10000
#define CMASK(s) (1u << (s))

struct VcContainer {
  gint       ref_count;
  VcSandbox *sandbox;
  char      *id;
  char      *bundle;
  /* The last record seen, for getters once the record is gone. */
  GMutex     mutex;
  VcContainerRecord *last;
};

/* Refreshes c->last from the sandbox's record; FALSE when the record is gone. */
gboolean vc_container_snapshot (VcContainer *c);
/* VC_ERROR_INVALID_STATE unless the container's record exists with a state
 * in accepted. Returns the record (borrowed; record lock held on success:
 * release with vc_sandbox_unlock_record). */
VcContainerRecord *vc_container_lock_record (VcContainer *c, guint accepted, GError **error);
gboolean    vc_container_require_state (VcContainer *c, guint accepted, GError **error);
void        vc_container_set_state     (VcContainer *c, VcContainerState state, int exit_status);
gboolean    vc_container_unsupported   (const char *method, GError **error);
gboolean    vc_container_check_exec_id (const char *exec_id, GError **error);
/* The agent names the init process by the container ID. */
const char *vc_container_exec_or_init  (VcContainer *c, const char *exec_id);
/* Undoes the shares of container id, logging failures. */
void        vc_container_unshare_quietly (const VcFsOps *fs, VcFsShare *share, const char *id);

G_END_DECLS
