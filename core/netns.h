/* libvcrun internal: network namespaces given by path (an OCI spec's
 * linux.namespaces entry {type: network, path: P}), and running code inside
 * one from a thread of its own while the process stays where it is. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Opens path (O_CLOEXEC) and checks that it is a network namespace:
 * VC_ERROR_NOT_FOUND when it does not exist, VC_ERROR_INVALID_ARGUMENT when
 * it is something else; both name the path. dev and ino (may be NULL) get
 * its identity, to recognise the same namespace later. */
int      vc_netns_open (const char *path, guint64 *dev, guint64 *ino, GError **error);

typedef gboolean (*VcNetnsFunc) (gpointer data, GError **error);

/* Runs func on a new thread that setns()es into ns_fd first and back into
 * the thread's own namespace after: the calling thread, and every other, stay
 * in theirs. Sockets and fds func opens keep the namespace they were made in. */
gboolean vc_netns_run  (int ns_fd, VcNetnsFunc func, gpointer data, GError **error);

G_END_DECLS
