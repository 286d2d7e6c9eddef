/* libvcrun: the host cgroup of linux.cgroupsPath (host-cgroup.c). */
#pragma once

#include <glib.h>

#include "runtime.h"

G_BEGIN_DECLS

/* Before a sandbox is created for bundle: applies the bundle's
 * linux.resources to a host cgroup at linux.cgroupsPath and moves this
 * process into it, so the VMM and the helpers it starts are held by it.
 * Nothing without a cgroupsPath. A memory limit below the VM's memory is
 * an error naming both. */
gboolean vc_runtime_enter_host_cgroup (VcRuntime *runtime, const char *bundle, GError **error);

/* Writes what waited for the VM to boot (the CPU quota); nothing if this
 * process entered no host cgroup. */
gboolean vc_host_cgroup_finish (GError **error);

/* Moves this process back to where it was and removes the directories
 * vc_runtime_enter_host_cgroup made; nothing if it entered none. Call once
 * the VM and its helpers are gone. */
void vc_host_cgroup_release (void);

/* The pids in the host cgroup this process entered (GArray of gint), or
 * NULL if it entered none. */
GArray *vc_host_cgroup_pids (void);

G_END_DECLS
