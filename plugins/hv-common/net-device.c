/* Hypervisor plugins: the checks of a NIC request (see net-device.h). */
#include "config.h"

#include "net-device.h"

#include <fcntl.h>
#include <string.h>

#include <vcrun/types.h>

static gboolean
mac_is_valid (const char *mac)
{
  if (mac == NULL || strlen (mac) != 17)
    return FALSE;
  for (int i = 0; i < 17; i++)
    if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit (mac[i]))
      return FALSE;
  return TRUE;
}

static gboolean
tap_name_is_valid (const char *name)
{
  if (name == NULL || *name == '\0' || strlen (name) > 15)
    return FALSE;
  for (const char *c = name; *c; c++)
    if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_' && *c != '.')
      return FALSE;
  return TRUE;
}

gboolean
vc_net_device_check (const VcDevice *device, gboolean tap_fd, GError **error)
{
  const char *problem = NULL;
  g_autofree char *detail = NULL;

  if (!VC_DEVICE_HAS (device, vnet_hdr))
    problem = "a network device from an ABI without its fields";
  else if (!tap_name_is_valid (device->host_path))
    problem = "host_path must be the tap's name (1-15 of [A-Za-z0-9._-])";
  else if (tap_fd && (device->net_fd < 0 || fcntl (device->net_fd, F_GETFD) < 0))
    problem = detail = g_strdup_printf ("tap fd %d is not open", device->net_fd);
  else if (!mac_is_valid (device->mac))
    problem = detail = g_strdup_printf ("MAC '%s' is not of the form aa:bb:cc:dd:ee:ff",
                                        device->mac != NULL ? device->mac : "(null)");
  else if (device->mtu != 0 && (device->mtu < 68 || device->mtu > 65535))
    problem = detail = g_strdup_printf ("MTU %u is outside 68..65535", device->mtu);

  if (problem == NULL)
    return TRUE;
  g_set_error (error, VC_ERROR, VC_ERROR_INVALID_ARGUMENT, "device '%s': %s", device->id, problem);
  return FALSE;
}
