/* agent-kata internals that its unit test reaches (the module exports only
 * vc_plugin_descriptor). */
#pragma once

#include <vcrun/agent.h>

G_BEGIN_DECLS

/* A connection over an already connected socket (takes fd), as connect()
 * makes after dialling. */
VcAgentConn *vc_agent_kata_conn_new_from_fd (VcPluginInstance *self, int fd);

/* The module's descriptor (exported from the .so as vc_plugin_descriptor). */
const VcPluginDescriptor *vc_plugin_descriptor (void);

G_END_DECLS
