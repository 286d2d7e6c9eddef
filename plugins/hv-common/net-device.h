/* Hypervisor plugins: the checks every backend makes of a VC_DEVICE_NET.
 * Compiled into each hypervisor plugin that takes NICs; not installed. */
#pragma once

#include <glib.h>
#include <vcrun/types.h>

G_BEGIN_DECLS

/* The ABI 1.3 network fields are there; host_path is a tap name (1-15 of
 * [A-Za-z0-9._-]); mac is aa:bb:cc:dd:ee:ff; mtu is 0 (unset) or 68..65535;
 * with tap_fd, net_fd is an open fd. VC_ERROR_INVALID_ARGUMENT naming the
 * device and what is wrong. */
gboolean vc_net_device_check (const VcDevice *device, gboolean tap_fd, GError **error);

G_END_DECLS
