/* libvcrun internal: Unix stream sockets carrying lines and file
 * descriptors, shared by the owner service (owner.c) and its clients
 * (owner-client.c). */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Binds or connects a Unix stream socket at path, also when path is longer
 * than sun_path allows (through /proc/self/fd of its directory). Returns the
 * fd (close-on-exec) or -1 with error set. */
int       vc_unix_socket_bind    (const char *path, GError **error);
int       vc_unix_socket_connect (const char *path, GError **error);

/* Sends all of data, with fds attached to the first byte (n_fds may be 0). */
gboolean  vc_unix_send_with_fds  (int fd, const char *data, gsize len, const int *fds,
                                 guint n_fds, GError **error);
/* Reads one line (without its '\n') of at most max_len bytes, collecting fds
 * sent with it into fds (GArray of int; may be NULL: such fds are closed).
 * timeout_ms < 0: no timeout. Returns NULL with error at EOF before a line. */
char     *vc_unix_read_line      (int fd, gsize max_len, int timeout_ms, GArray *fds,
                                 GError **error);

/* The uid of the process at the other end (SO_PEERCRED). */
gboolean  vc_unix_peer_uid       (int fd, uid_t *uid, GError **error);

G_END_DECLS
