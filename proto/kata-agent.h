/* The Kata agent protocol as vcrun speaks it: service names and the
 * generated message types (from agent.proto, health.proto, oci.proto in this
 * directory; C types are Grpc__<Message>, e.g. Grpc__CreateContainerRequest). */
#pragma once

#include "ttrpc.h"

/* GNU C predefines `linux` as 1; the generated Grpc__Spec has a field of
 * that name (Spec.Linux). */
#undef linux

#include "agent.pb-c.h"
#include "google_protobuf.pb-c.h"
#include "health.pb-c.h"
#include "oci.pb-c.h"
#include "types.pb-c.h"

/* ttRPC service names; method names are the rpc names ("CreateContainer"). */
#define VC_KATA_AGENT_SERVICE "grpc.AgentService"
#define VC_KATA_HEALTH_SERVICE "grpc.Health"

/* The vsock port the agent listens on and the virtio-serial port name. */
#define VC_KATA_AGENT_VSOCK_PORT 1024
#define VC_KATA_AGENT_SERIAL_NAME "agent.channel.0"
