/* agent-kata: the network requests (UpdateInterface, UpdateRoutes,
 * AddARPNeighbors) built from the VcNet* structs of <vcrun/agent.h>, in an
 * arena. Each checks its input and fails with VC_ERROR_INVALID_ARGUMENT. */
#pragma once

#include <vcrun/agent.h>

#include "json-proto.h"

G_BEGIN_DECLS

Grpc__UpdateInterfaceRequest *vc_kata_update_interface_request (VcArena *arena,
                                                                const VcNetInterface *iface,
                                                                GError **error);
Grpc__UpdateRoutesRequest    *vc_kata_update_routes_request    (VcArena *arena,
                                                                const VcNetRoute *const *routes,
                                                                GError **error);
Grpc__AddARPNeighborsRequest *vc_kata_add_arp_neighbors_request (VcArena *arena,
                                                                 const VcNetNeighbor *const *neighbors,
                                                                 GError **error);

G_END_DECLS
