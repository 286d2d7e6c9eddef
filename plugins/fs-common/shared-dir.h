/* The host side of Kata's shared-directory layout, common to fs-9p and
 * fs-virtiofs (compiled into both plugins; not a plugin itself).
 *
 *   <sandbox state_dir>/shared/                    exported into the guest once
 *   <sandbox state_dir>/shared/<cid>/rootfs        bind mount of the rootfs
 *   <sandbox state_dir>/shared/<cid>/mounts/<n>-<basename>
 *                                                  bind mount of an OCI mount source
 *
 * The guest mounts the export at VC_SHARED_GUEST_DIR, so a container's rootfs
 * is VC_SHARED_GUEST_DIR/<cid>/rootfs there.
 *
 * shared/ is itself a bind mount of itself made private and then shared: its
 * own peer group, so the container mounts below it reach the copy of it that
 * a sandboxed virtiofsd keeps in its mount namespace (a slave of ours), but
 * never propagate back to the host's other mounts. A read-only share is made
 * read-only before it is attached below shared/ (bind into a private staging
 * dir, remount read-only, bind from there), so the propagated copies are
 * read-only too.
 *
 * Nothing is kept in memory: every function works from the directory tree and
 * /proc/self/mountinfo, so another process (after attach) can undo what this
 * one did, and undoing is idempotent.
 */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

G_BEGIN_DECLS

/* Where the guest agent mounts the sandbox's share. */
#define VC_SHARED_GUEST_DIR "/run/kata-containers/shared/containers"
/* The 9p / virtio-fs tag of the share, as Kata names it. */
#define VC_SHARED_MOUNT_TAG "kataShared"

typedef struct VcSharedDir VcSharedDir;

/* Creates <state_dir>/shared and makes it a mount of its own. Fails with
 * VC_ERROR_EXISTS when it exists already (a sandbox not cleaned up). On
 * failure nothing is left behind. */
VcSharedDir  *vc_shared_dir_prepare (const char *state_dir, GError **error);
/* A handle for the layout of state_dir made by another process (or nothing,
 * if it is gone): changes nothing. */
VcSharedDir  *vc_shared_dir_open    (const char *state_dir, GError **error);
void          vc_shared_dir_free    (VcSharedDir *dir);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcSharedDir, vc_shared_dir_free)

/* <state_dir>/shared (borrowed). */
const char   *vc_shared_dir_get_path (VcSharedDir *dir);

/* Bind-mounts host_rootfs at shared/<cid>/rootfs (read-only when asked);
 * returns its guest path. VC_ERROR_EXISTS if the container's rootfs is
 * already shared. */
VcSharedPath *vc_shared_dir_share_rootfs (VcSharedDir *dir, const char *container_id,
                                          const char *host_rootfs, gboolean readonly,
                                          GError **error);
/* Bind-mounts host_source (a directory or a file) at
 * shared/<cid>/mounts/<n>-<basename>, n counting from 0 per container. */
VcSharedPath *vc_shared_dir_share_mount  (VcSharedDir *dir, const char *container_id,
                                          const char *host_source, gboolean readonly,
                                          GError **error);
/* Lazily unmounts everything below shared/<cid> and removes the directories
 * and mount-point files made for it. Idempotent. */
gboolean      vc_shared_dir_unshare      (VcSharedDir *dir, const char *container_id,
                                          GError **error);
/* Unshares every container, unmounts shared/ and removes it and the staging
 * dir. Idempotent; fine after a half-done prepare. */
gboolean      vc_shared_dir_cleanup      (VcSharedDir *dir, GError **error);

/* Helpers shared by the two plugins. */
gboolean      vc_shared_check_id         (const char *id, const char *what, GError **error);
/* The mount points at or below path (exact path or path + "/..."), from
 * /proc/self/mountinfo, unescaped; GPtrArray of char*. */
GPtrArray    *vc_mountinfo_list_below    (const char *path, GError **error);

G_END_DECLS
