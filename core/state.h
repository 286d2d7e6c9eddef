/* libvcrun internal: the state store — sandbox.json in a sandbox's dir.
 *
 * Layout of <state_dir>/<id>/sandbox.json (version 1):
 *   { "version": 1, "id": "...", "state": "ready|running|paused|stopped",
 *     "reason": null | "...", "created": <unix s>, "owner_uid": N, "owner_pid": N,
 *     "plugins": { "hypervisor": "...", "agent": "...", "fs": "..." },
 *     "vm": { "vcpus", "max_vcpus", "memory_mib", "max_memory_mib",
 *             "kernel", "initrd", "kernel_params", "hostname" },
 *     "hypervisor_state": <the plugin's save_state object> | null,
 *     "fs_state": <the plugin's save_state object> | null,
 *     "containers": [ { "id", "state", "bundle", "rootfs", "terminal",
 *                       "created", "pid", "exit_status", "devices"? }, ... ],
 *     "cold_plugged"?: { "container": "...", "devices": [ "plugin:id", ... ] } }
 *
 * Writes are atomic: a temp file in the same directory, fsync, rename over
 * sandbox.json, fsync of the directory. A process killed at any point leaves
 * the previous complete file (and maybe a stray ".sandbox.json.*" temp file,
 * which readers ignore and the next write of that sandbox removes).
 */
#pragma once

#include <glib.h>

#include "container.h"
#include "sandbox.h"

G_BEGIN_DECLS

#define VC_STATE_FILE "sandbox.json"
#define VC_STATE_VERSION 1

typedef struct {
  char            *id;
  VcContainerState state;
  char            *bundle;
  char            *rootfs;       /* absolute host path */
  gboolean         terminal;
  gint64           created;
  gint             pid;
  int              exit_status;  /* -1: none */
  char           **devices;      /* "plugin:device-id" of its hypervisor devices, or NULL */
} VcContainerRecord;

typedef struct {
  char          *id;
  VcSandboxState state;
  char          *reason;
  gint64         created;
  guint          owner_uid;
  gint           owner_pid;
  char          *hypervisor;
  char          *agent;
  char          *fs;
  guint          vcpus;
  guint          max_vcpus;
  guint64        memory_mib;
  guint64        max_memory_mib;
  char          *kernel;
  char          *initrd;
  char          *kernel_params;
  char          *hostname;
  char          *hypervisor_state;  /* JSON text from save_state, or NULL */
  char          *fs_state;          /* JSON text from save_state, or NULL */
  GPtrArray     *containers;        /* VcContainerRecord* */
  /* the first container's devices, cold-plugged at boot and not yet taken by
   * its create: its ID and their "plugin:device-id", or NULL */
  char          *cold_container;
  char         **cold_devices;
} VcSandboxRecord;

VcContainerRecord *vc_container_record_new  (const char *id);
VcContainerRecord *vc_container_record_copy (const VcContainerRecord *record);
void               vc_container_record_free (VcContainerRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcContainerRecord, vc_container_record_free)

VcSandboxRecord *vc_sandbox_record_new  (const char *id);
VcSandboxRecord *vc_sandbox_record_copy (const VcSandboxRecord *record);
void             vc_sandbox_record_free (VcSandboxRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcSandboxRecord, vc_sandbox_record_free)

/* The container record called id, or NULL (borrowed). */
VcContainerRecord *vc_sandbox_record_find (const VcSandboxRecord *record, const char *id,
                                           guint *index);

/* Serialise / parse. Parse errors are VC_ERROR_FAILED naming origin (the
 * file) and the field. */
char            *vc_state_to_json   (const VcSandboxRecord *record);
VcSandboxRecord *vc_state_from_json (const char *json, gssize length, const char *origin,
                                     GError **error);

/* Reads dir/sandbox.json; VC_ERROR_NOT_FOUND when absent. */
VcSandboxRecord *vc_state_read  (const char *dir, GError **error);
/* Writes dir/sandbox.json atomically. */
gboolean         vc_state_write (const char *dir, const VcSandboxRecord *record, GError **error);

/* Writes dir/name atomically (temp in dir, fsync, rename, fsync dir). */
gboolean vc_state_write_file_atomic (const char *dir, const char *name, const char *contents,
                                     gsize length, GError **error);

/* Removes a sandbox dir recursively without crossing into mount points or
 * following symlinks: a mount left inside (a share not cleaned up) is an
 * error, never a reason to delete what it shows. Absent is success. */
gboolean vc_state_remove_dir (const char *dir, GError **error);

/* State names <-> enums; FALSE for an unknown name. */
gboolean vc_sandbox_state_from_string   (const char *name, VcSandboxState *out);
gboolean vc_container_state_from_string (const char *name, VcContainerState *out);

G_END_DECLS
