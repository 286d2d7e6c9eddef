/* Hypervisor plugins: which kernel file to boot (PVH vmlinux or bzImage).
 * Compiled into each hypervisor plugin that uses it; not installed. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Whether path is an ELF64 x86-64 kernel with a PVH entry note. */
gboolean vc_kernel_has_pvh (const char *path);

/* The file to boot for the configured kernel. A bzImage is replaced by the
 * vmlinux beside it when pvh is on and that one has a PVH entry and is at
 * least as new; a vmlinux without the note falls back to the vmlinuz beside
 * it (logged with who, the plugin's name); an ELF without the note and no
 * bzImage beside it is VC_ERROR_INVALID_ARGUMENT. */
char    *vc_kernel_pick    (const char *kernel, gboolean pvh, const char *who, GError **error);

G_END_DECLS
