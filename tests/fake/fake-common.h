/* Test-only fake plugins: what the three fakes share.
 *
 * Every fake takes these settings:
 *   log      (string) a file to which each call appends one line,
 *                     "<kind> <method> <details>", so tests can check what
 *                     the core called and in which order (undo calls too);
 *   fail_at  (string) comma-separated method names that fail with
 *                     VC_ERROR_FAILED "fake failure at <method>";
 *   die_after_ms (int) hypervisor: the VM "powers off" this long after
 *                     start_vm; fs: the daemon "dies" this long after
 *                     get_devices (0: never);
 *   hang_at  (string) comma-separated method names that block on entry:
 *                     they write <hang_dir>/<kind>-<method> holding the
 *                     process's pid, then wait until a test removes that
 *                     file (at most 60 s), so that a test can kill a
 *                     process at a known step (the kill -9 matrix);
 *   hang_dir (string) where those files go.
 */
#pragma once

#include <vcrun/plugin.h>

G_BEGIN_DECLS

/* Each fake module's descriptor. */
VC_PLUGIN_EXPORT const VcPluginDescriptor *vc_plugin_descriptor (void);

typedef struct {
  char     *log;
  char    **fail_at;
  char    **hang_at;
  char     *hang_dir;
  gint64    die_after_ms;
  char     *kind;        /* "hv", "agent", "fs" */
} FakeSettings;

FakeSettings *fake_settings_new  (const char *kind, GVariant *settings);
void          fake_settings_free (FakeSettings *settings);

/* Appends "<kind> <method> <details>\n" to the log. */
void     fake_log  (const FakeSettings *settings, const char *method, const char *format, ...)
  G_GNUC_PRINTF (3, 4);
/* Logs the call; FALSE with an error when fail_at names method. */
gboolean fake_enter (const FakeSettings *settings, const char *method, GError **error);

/* The setting specs every fake accepts. */
#define FAKE_COMMON_SETTINGS                                                       \
  { .name = "log", .type = VC_SETTING_STRING, .description = "call log file" },     \
  { .name = "fail_at", .type = VC_SETTING_STRING,                                   \
    .description = "methods that fail, comma-separated" },                          \
  { .name = "die_after_ms", .type = VC_SETTING_INT, .default_value = "0",           \
    .min = 0, .max = 3600000, .description = "die this long after starting" },    \
  { .name = "hang_at", .type = VC_SETTING_STRING,                                   \
    .description = "methods that block until a test releases them" },              \
  { .name = "hang_dir", .type = VC_SETTING_STRING,                                  \
    .description = "where hang_at's marker files go" }

/* Removes a directory tree (test data only). */
void fake_rmtree (const char *path);

/* A sleeper that a stop can wake: waits up to ms, returns FALSE if
 * cancelled first. */
typedef struct {
  GMutex   mutex;
  GCond    cond;
  gboolean cancelled;
} FakeTimer;

void     fake_timer_init   (FakeTimer *timer);
gboolean fake_timer_sleep  (FakeTimer *timer, gint64 ms);
void     fake_timer_cancel (FakeTimer *timer);
void     fake_timer_clear  (FakeTimer *timer);

G_END_DECLS
