/* libvcrun internal: what the core needs from an OCI bundle's config.json.
 *
 * The whole file goes to the agent plugin (VcContainerConfig.oci_spec_json),
 * which turns it into the guest's spec; the core checks the fields it and the
 * agent depend on and extracts the ones the host acts on (rootfs, bind
 * mounts). Errors are VC_ERROR_INVALID_ARGUMENT naming the file and the
 * field: "/b/config.json: process.args: must be a non-empty array of strings".
 */
#pragma once

#include <glib.h>

#include "hooks.h"

G_BEGIN_DECLS

typedef struct {
  char     *destination;  /* absolute path in the container */
  char     *source;       /* host path, absolute (bind mounts), else as written */
  char     *type;         /* may be NULL */
  gboolean  bind;         /* type "bind", or options holding "bind"/"rbind" */
  gboolean  readonly;     /* options holding "ro" */
} VcOciMount;

typedef struct {
  char      *json;          /* the file's text */
  char      *oci_version;
  char      *root_path;     /* absolute host path of the rootfs */
  gboolean   root_readonly;
  char     **args;          /* process.args */
  char      *cwd;           /* process.cwd */
  gboolean   terminal;      /* process.terminal */
  char      *hostname;      /* may be NULL */
  GPtrArray *mounts;        /* VcOciMount*, in file order */
  VcHooks   *hooks;         /* never NULL */
  char      *annotations_json; /* the "annotations" object as JSON, or NULL */
  char     **host_ns_paths;  /* "type path" of linux.namespaces joining a host
                                namespace other than network: the guest cannot
                                (NULL-terminated, may be empty) */
} VcOciSpec;

/* Reads and checks <bundle>/config.json; bundle must be an absolute path. */
VcOciSpec *vc_oci_spec_load  (const char *bundle, GError **error);
/* Whether a mount type names a block filesystem (ext2, ext3, ext4, xfs,
 * btrfs, vfat): with an absolute source, such a mount is a block volume. */
gboolean   vc_oci_is_block_fstype (const char *type);
/* Checks json as a config.json of bundle; origin names it in errors. */
VcOciSpec *vc_oci_spec_parse (const char *json, gssize length, const char *bundle,
                              const char *origin, GError **error);
void       vc_oci_spec_free  (VcOciSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcOciSpec, vc_oci_spec_free)

/* Checks an OCI Process object (exec): args, cwd, env, terminal, user. */
gboolean   vc_oci_process_check (const char *process_json, const char *origin, GError **error);

G_END_DECLS
