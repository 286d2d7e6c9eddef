/* libvcrun: can this host run sandboxes with a configuration? What `vcrun
 * check` prints: the configuration, KVM, vhost-vsock, each plugin (loaded on
 * its own, so that one broken plugin does not hide the others) with its own
 * check, the guest kernel and initrd, the state directory. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *what;     /* "configuration", "plugin fs-9p", "  hypervisor", ... */
  char *status;   /* "ok", "no" (a lack that does not stop sandboxes) or "FAIL" */
  char *detail;
} VcCheckRow;

typedef struct {
  GPtrArray *rows;     /* VcCheckRow*, in check order */
  gboolean   failed;   /* a FAIL row: the default sandbox cannot run */
} VcCheckReport;

/* config_file NULL: $VCRUN_CONFIG, else the default; state_dir, when set,
 * overrides runtime.state_dir. Never fails: failures are rows. */
VcCheckReport *vc_check_host (const char *config_file, const char *state_dir);
void           vc_check_report_free (VcCheckReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcCheckReport, vc_check_report_free)

G_END_DECLS
