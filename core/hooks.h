/* libvcrun internal: OCI lifecycle hooks (config.json "hooks").
 *
 * The host runs prestart and createRuntime at create (after the agent has
 * created the container; a failure fails the create, which is undone),
 * poststart at start (a failure is a warning) and poststop at delete (a
 * warning). Each hook gets the container's state JSON on stdin, exactly its
 * args (args[0] is argv[0]) and env (none given: the runtime's), and is
 * killed after its timeout. createContainer and startContainer run in the
 * guest, in the container's namespaces: vc_hooks_guest_json gives the agent
 * only those, with a path under the host rootfs turned into the container's
 * path. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  VC_HOOK_PRESTART,
  VC_HOOK_CREATE_RUNTIME,
  VC_HOOK_CREATE_CONTAINER,
  VC_HOOK_START_CONTAINER,
  VC_HOOK_POSTSTART,
  VC_HOOK_POSTSTOP,
  VC_HOOK_KINDS
} VcHookKind;

typedef struct {
  char  *path;
  char **args;     /* may be NULL: argv is { path } */
  char **env;      /* NULL: the runtime's environment */
  gint   timeout_s; /* 0: none */
} VcHook;

typedef struct VcHooks VcHooks;

/* Parses config.json's "hooks" (node may be NULL: no hooks). Errors name
 * origin and the field: "/b/config.json: hooks.prestart[0].path: ...". */
VcHooks    *vc_hooks_parse (JsonNode *node, const char *origin, GError **error);
void        vc_hooks_free  (VcHooks *hooks);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcHooks, vc_hooks_free)
guint       vc_hooks_count (const VcHooks *hooks, VcHookKind kind);
const char *vc_hook_kind_name (VcHookKind kind);

/* The OCI state given to a hook on stdin; annotations_json is a JSON object
 * or NULL. */
char       *vc_hook_state_json (const char *oci_version, const char *id, const char *status,
                                gint pid, const char *bundle, const char *annotations_json);

/* Runs the hooks of kind in order; stops at the first failure (non-zero
 * exit, signal, timeout, cannot execute) with an error naming the hook and
 * carrying its output. */
gboolean    vc_hooks_run (const VcHooks *hooks, VcHookKind kind, const char *state_json,
                          GError **error);
/* Same, but every hook runs and each failure is a warning (poststart,
 * poststop). */
void        vc_hooks_run_warn (const VcHooks *hooks, VcHookKind kind, const char *state_json);

/* The config.json text for the agent: without the host's hooks, and
 * createContainer/startContainer paths under root_path (the host rootfs)
 * made relative to the container's root. NULL when json has no hooks. */
char       *vc_hooks_guest_json (const char *json, const char *root_path, GError **error);

/* Keeps the poststart and poststop hooks with the state fields in
 * dir/<id>.hooks.json (nothing when there are none): start and delete may
 * run in another process than create. run_saved runs the hooks of kind
 * from there (warnings only); remove: delete the file first. */
gboolean    vc_hooks_save (const char *dir, const char *id, const char *spec_json,
                           const char *bundle, GError **error);
void        vc_hooks_run_saved (const char *dir, const char *id, VcHookKind kind,
                                const char *status, gint pid, gboolean remove);
/* Removes dir/<id>.hooks.json without running anything (a failed create). */
void        vc_hooks_forget (const char *dir, const char *id);

G_END_DECLS
