/* Helpers shared by the lifecycle tests and their second-process helper. */
#pragma once

#include <glib.h>

#include "runtime.h"

/* Where libtool put the fake plugins. */
char *lc_fake_plugin_dir (void);

/* A temporary world: <tmp>/state (the state dir), <tmp>/calls.log (the
 * fakes' call log), <tmp>/vcrun.conf, <tmp>/bundle (a valid bundle). */
typedef struct {
  char *tmp;
  char *state_dir;
  char *log;
  char *config;
  char *bundle;
} LcWorld;

/* hv_extra, agent_extra, fs_extra: extra libconfig settings lines for each
 * fake, e.g. "fail_at = \"start_vm\"; die_after_ms = 200;" (NULL: none). */
LcWorld   *lc_world_new   (const char *hv_extra, const char *agent_extra, const char *fs_extra);
void       lc_world_free  (LcWorld *world);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LcWorld, lc_world_free)

/* A runtime on the world's configuration (asserts success). */
VcRuntime *lc_world_runtime (LcWorld *world);

/* Writes <bundle>/config.json (process args as given, JSON array text such
 * as "[\"echo\", \"hi\"]", and extra top-level members, may be NULL). */
void       lc_write_bundle (const char *bundle, const char *args_json, const char *extra_members);

/* The call log's lines (empty array when absent). */
GPtrArray *lc_log_lines    (LcWorld *world);
/* Whether some log line starts with prefix. */
gboolean   lc_log_has      (LcWorld *world, const char *prefix);
/* Index of the first line starting with prefix, or -1. */
int        lc_log_index    (LcWorld *world, const char *prefix);
void       lc_log_clear    (LcWorld *world);

void       lc_rmtree (const char *dir);

/* Asserts error is VC_ERROR/code and its message holds every string of the
 * NULL-terminated list. */
void       lc_assert_error (const GError *error, int code, ...) G_GNUC_NULL_TERMINATED;
