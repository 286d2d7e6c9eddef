/* Kata's Device list: a host device the hypervisor gave the VM (a virtio-blk
 * disk found by its PCI path) stands for the linux.devices entry at the same
 * container path, whose major:minor are the host's. The entry is rewritten to
 * the guest's numbers before the node is made in the container. */
#include "config.h"

#include "agent.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static bool
is_block_driver (const char *type)
{
  return type && (strcmp (type, "blk") == 0 || strcmp (type, "virtio-blk") == 0
                  || strcmp (type, "virtio-blk-pci") == 0);
}

bool
devices_apply (Grpc__Spec *spec, Grpc__Device *const *devices, size_t n_devices, AgentError *err)
{
  for (size_t i = 0; i < n_devices; i++)
    {
      const Grpc__Device *d = devices[i];
      if (!d->container_path || d->container_path[0] != '/')
        return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "device %s: invalid container path '%s'",
                            d->id ? d->id : "", d->container_path ? d->container_path : "");
      if (!is_block_driver (d->type))
        return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT, "device %s: unsupported type '%s'",
                            d->id ? d->id : "", d->type ? d->type : "");
      char node[300];
      if (!storage_find_block_device (d->vm_path, node, sizeof node, err))
        return false;
      struct stat st;
      if (stat (node, &st) < 0 || !S_ISBLK (st.st_mode))
        return agent_error_errno (err, VC_TTRPC_CODE_NOT_FOUND, errno ? errno : ENOTBLK,
                                  "device %s: %s", d->id ? d->id : "", node);

      Grpc__LinuxDevice *entry = NULL;
      for (size_t j = 0; spec->linux && j < spec->linux->n_devices; j++)
        if (spec->linux->devices[j]->path && strcmp (spec->linux->devices[j]->path, d->container_path) == 0)
          entry = spec->linux->devices[j];
      if (!entry)
        return agent_error (err, VC_TTRPC_CODE_INVALID_ARGUMENT,
                            "device %s: no linux.devices entry at %s", d->id ? d->id : "", d->container_path);
      agent_debug ("device %s: %s is %s (%u:%u)", d->id ? d->id : "", d->container_path, node,
                   major (st.st_rdev), minor (st.st_rdev));
      entry->major = major (st.st_rdev);
      entry->minor = minor (st.st_rdev);
    }
  return true;
}
