/* Building the requests that carry OCI content, the way Kata's kata_agent.go
 * does (createContainer / constrainGRPCSpec):
 *  - the OCI spec converted to Kata's Spec message, with Root.Path the rootfs
 *    in the guest;
 *  - each OCI mount the fs-sharer shared rewritten to its guest source, type
 *    "bind", read-only where asked;
 *  - what the host handles removed: Linux.CgroupsPath, the network and cgroup
 *    namespaces (the other namespaces lose their host paths), the device,
 *    pids limits and cpuset parts of Linux.Resources;
 *  - the storages and devices attached.
 */
#pragma once

#include <glib.h>
#include <vcrun/agent.h>

#include "json-proto.h"

G_BEGIN_DECLS

Grpc__CreateContainerRequest *vc_kata_create_container_request (VcArena *arena,
                                                                const VcContainerConfig *config,
                                                                GError **error);

/* An OCI Process object for ExecProcess, named `what` in errors. */
Grpc__Process *vc_kata_process_from_json (VcArena *arena, const char *process_json,
                                          GError **error);

/* An OCI LinuxResources object for UpdateContainer, constrained as above. */
Grpc__LinuxResources *vc_kata_resources_from_json (VcArena *arena, const char *resources_json,
                                                   GError **error);

/* A NULL-terminated VcStorage list as repeated Storage (count in *n). */
Grpc__Storage **vc_kata_storages (VcArena *arena, VcStorage *const *storages, size_t *n,
                                  GError **error);

G_END_DECLS
