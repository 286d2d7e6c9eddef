/* Starting, watching and stopping one virtiofsd process.
 *
 * A watcher thread waits on the daemon's pidfd; when the daemon goes away
 * without vc_virtiofsd_stop having asked it to, it calls the event function
 * with VC_FS_EVENT_DAEMON_DIED and what happened; an exit with status 0 is
 * not reported, as virtiofsd ends that way when the VMM closes its vhost-user
 * connection (the VM stopped). The daemon is identified by
 * pid and start time (field 22 of /proc/<pid>/stat), so that another process
 * can adopt it from saved state without mistaking a reused pid for it.
 */
#pragma once

#include <glib.h>
#include <vcrun/fs.h>

G_BEGIN_DECLS

typedef struct VcVirtiofsd VcVirtiofsd;

/* Runs argv (argv[0] an absolute path) in a session of its own, stdin from
 * /dev/null, stdout and stderr appended to log_path, and waits until it
 * listens on socket_path (timeout_ms). If it exits or times out first, it is
 * killed and the error quotes the end of the log. */
VcVirtiofsd *vc_virtiofsd_spawn (char **argv, const char *log_path, const char *socket_path,
                                 guint timeout_ms, VcFsEventFunc event_func,
                                 gpointer event_data, GError **error);

/* Watches the daemon saved as pid + start_time. If it is gone already, the
 * watcher reports it as died at once. Fails only on bad input. */
VcVirtiofsd *vc_virtiofsd_adopt (gint pid, guint64 start_time, VcFsEventFunc event_func,
                                 gpointer event_data, GError **error);

/* SIGTERM, then SIGKILL after timeout_ms; returns once it is gone. No event
 * is raised for it. Fine if it is gone already. */
gboolean     vc_virtiofsd_stop  (VcVirtiofsd *daemon, guint timeout_ms, GError **error);

/* Stops watching; the daemon keeps running unless stopped. */
void         vc_virtiofsd_free  (VcVirtiofsd *daemon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcVirtiofsd, vc_virtiofsd_free)

gint         vc_virtiofsd_get_pid        (VcVirtiofsd *daemon);
guint64      vc_virtiofsd_get_start_time (VcVirtiofsd *daemon);
gboolean     vc_virtiofsd_is_running     (VcVirtiofsd *daemon);

/* The start time of pid from /proc, 0 if there is no such process. */
guint64      vc_process_start_time (gint pid);

G_END_DECLS
