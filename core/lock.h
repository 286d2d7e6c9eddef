/* libvcrun internal: the per-sandbox lock, an flock(2) on a file.
 *
 * flock locks belong to an open file description, so two opens in one
 * process exclude each other as two processes do; callers serialise their
 * own threads with a mutex first so a thread never waits on its own process
 * for the full timeout.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct VcLock VcLock;

/* Opens (creating, mode 0600) and locks path exclusively, retrying until
 * timeout_ms has passed (0: one try). A lock held elsewhere past the timeout
 * is VC_ERROR_BUSY naming what ("sandbox foo"). */
VcLock *vc_lock_acquire (const char *path, const char *what, guint timeout_ms, GError **error);
/* Unlocks and closes; NULL is fine. */
void    vc_lock_release (VcLock *lock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcLock, vc_lock_release)

G_END_DECLS
