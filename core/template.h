/* libvcrun: sandbox templates — a guest booted to agent-ready and saved by the
 * hypervisor plugin (VC_HV_CAP_TEMPLATE), from which sandboxes start.
 *
 * Templates live in <state_dir>/.templates/<key>/ (a name no sandbox ID can
 * take), 0700, owned by the creator. The key hashes the settings a template
 * is built for (plugins, vCPUs, memory, kernel and initrd paths, kernel
 * parameters, the fs devices minus their host paths); template.json also
 * records an identity (the kernel's and initrd's inode, size and mtime, and
 * the hypervisor plugin's template_identity: QEMU's binary, machine, accel):
 * a template whose identity no longer matches is stale and rebuilt.
 */
#pragma once

#include <glib.h>

#include "runtime.h"

G_BEGIN_DECLS

typedef struct {
  char   *key;          /* the directory's name */
  char   *dir;
  char   *hypervisor;   /* plugin names it was built with */
  char   *fs;
  char   *summary;      /* "1 vCPU, 256 MiB, fs-9p, /path/vmlinuz" */
  gint64  created;      /* unix time, seconds */
  guint64 bytes;        /* disk use of its files (allocated blocks) */
  gboolean usable;      /* its identity matches the files and the plugin now */
  char   *why;          /* why not usable, else NULL */
} VcTemplateInfo;

void        vc_template_info_free (VcTemplateInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VcTemplateInfo, vc_template_info_free)

/* <state_dir>/.templates */
char       *vc_runtime_get_template_dir (VcRuntime *runtime);
/* Whether sandbox.template is on in the configuration. */
gboolean    vc_runtime_templates_enabled (VcRuntime *runtime);
/* The templates, sorted by key; none is an empty array. */
GPtrArray  *vc_runtime_list_templates  (VcRuntime *runtime, GError **error);
/* How many templates <state_dir>/.templates holds (for vcrun check). */
guint       vc_template_count (const char *state_dir);
/* Builds (or finds current) the template of the configuration's sandbox
 * settings by creating and deleting a sandbox; returns its directory. */
char       *vc_runtime_build_template  (VcRuntime *runtime, GError **error);
/* Removes the template whose key starts with prefix (NULL: all of them);
 * *removed counts them. A prefix that matches none or several is an error. */
gboolean    vc_runtime_remove_templates (VcRuntime *runtime, const char *prefix, guint *removed,
                                         GError **error);

G_END_DECLS
