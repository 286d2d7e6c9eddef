/* libvcrun: a container process's stdio pumped between the guest agent and
 * host file descriptors, one thread a stream: stdout and stderr from the
 * agent to their fds, stdin from its fd to the agent. A sandbox's owner
 * (core/owner.c) and vcrund (daemon/process.c) both use it; they differ
 * only in how output is written (write_func). */
#pragma once

#include <glib.h>

#include "container.h"

G_BEGIN_DECLS

enum { VC_STDIO_OUT = 1, VC_STDIO_ERR = 2 };

/* Writes data to fd (stream VC_STDIO_OUT or VC_STDIO_ERR), blocking while
 * the reader is slow (the guest's writer then blocks too: back-pressure).
 * Returns FALSE once nobody reads any more: the agent then closes the
 * stream's pipe (vc_container_close_output), so the writer gets EPIPE or
 * SIGPIPE as in a host pipeline, and the stream ends. */
typedef gboolean (*VcStdioWriteFunc) (int stream, int fd, const guint8 *data, gsize len,
                                      gpointer user_data);

typedef struct VcStdioPump VcStdioPump;

/* Starts the threads of the fds that are >= 0, which the pump then owns: an
 * output fd is closed when its stream ends (its reader sees end of file),
 * in_fd when the stdin thread ends (stdin is closed in the guest at in_fd's
 * end of file). write_func NULL writes the whole buffer, waiting while a
 * non-blocking fd is full. user_data is released with destroy once the
 * last thread is done. */
VcStdioPump *vc_stdio_pump_start  (VcContainer *container, const char *exec_id, int in_fd,
                                   int out_fd, int err_fd, VcStdioWriteFunc write_func,
                                   gpointer user_data, GDestroyNotify destroy);
/* After the process exited: waits for the output to be forwarded, however
 * slow its reader, but gives up once no output has come from the agent for
 * timeout_ms (a guest that keeps a stream open, say a background process,
 * does not hold the exit for ever); stops the stdin thread and drops the
 * caller's reference. */
void         vc_stdio_pump_finish (VcStdioPump *pump, guint timeout_ms);

G_END_DECLS
