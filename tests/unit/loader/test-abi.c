/* ABI tests: the sizes and offsets of every public struct on x86_64, and the
 * values of the public constants, pinned. A change that moves a field breaks
 * plugins built against an earlier 1.x; if this test fails, the change was
 * either a mistake or needs VC_ABI_MAJOR bumped (and these numbers updated).
 * Appending a field changes only the SIZE line of its struct (and needs
 * VC_ABI_MINOR bumped). */
#include <stddef.h>
#include <glib.h>
#include <vcrun/plugin.h>
#include <vcrun/hypervisor.h>
#include <vcrun/agent.h>
#include <vcrun/fs.h>
#include <vcrun/device.h>

#define SIZE(type, n) g_assert_cmpuint (sizeof (type), ==, n)
#define OFFSET(type, member, n) g_assert_cmpuint (offsetof (type, member), ==, n)

static void
test_layout (void)
{
#if defined(__x86_64__) && defined(__LP64__)
  SIZE (VcDevice, 104);
  OFFSET (VcDevice, struct_size, 0);
  OFFSET (VcDevice, type, 8);
  OFFSET (VcDevice, id, 16);
  OFFSET (VcDevice, host_path, 24);
  OFFSET (VcDevice, tag, 32);
  OFFSET (VcDevice, readonly, 40);
  OFFSET (VcDevice, format, 48);
  OFFSET (VcDevice, security_model, 56);
  OFFSET (VcDevice, msize, 64);
  OFFSET (VcDevice, queue_size, 68);
  OFFSET (VcDevice, cache_size, 72);
  /* network (ABI 1.3) */
  OFFSET (VcDevice, net_fd, 80);
  OFFSET (VcDevice, mac, 88);
  OFFSET (VcDevice, mtu, 96);
  OFFSET (VcDevice, vnet_hdr, 100);
  SIZE (VcNetInterface, 40);
  OFFSET (VcNetInterface, name, 8);
  OFFSET (VcNetInterface, mac, 16);
  OFFSET (VcNetInterface, mtu, 24);
  OFFSET (VcNetInterface, addresses, 32);
  SIZE (VcNetRoute, 48);
  OFFSET (VcNetRoute, destination, 8);
  OFFSET (VcNetRoute, gateway, 16);
  OFFSET (VcNetRoute, device, 24);
  OFFSET (VcNetRoute, source, 32);
  OFFSET (VcNetRoute, scope, 40);
  OFFSET (VcNetRoute, ipv6, 44);
  SIZE (VcNetNeighbor, 40);
  OFFSET (VcNetNeighbor, address, 8);
  OFFSET (VcNetNeighbor, device, 16);
  OFFSET (VcNetNeighbor, mac, 24);
  OFFSET (VcNetNeighbor, state, 32);
  OFFSET (VcNetNeighbor, flags, 36);
  SIZE (VcGuestDevice, 40);
  OFFSET (VcGuestDevice, struct_size, 0);
  OFFSET (VcGuestDevice, id, 8);
  OFFSET (VcGuestDevice, driver, 16);
  OFFSET (VcGuestDevice, guest_address, 24);
  OFFSET (VcGuestDevice, guest_path, 32);
  SIZE (VcAgentEndpoint, 32);
  OFFSET (VcAgentEndpoint, struct_size, 0);
  OFFSET (VcAgentEndpoint, transport, 8);
  OFFSET (VcAgentEndpoint, socket_path, 16);
  OFFSET (VcAgentEndpoint, cid, 24);
  OFFSET (VcAgentEndpoint, port, 28);
  SIZE (VcStorage, 48);
  OFFSET (VcStorage, struct_size, 0);
  OFFSET (VcStorage, driver, 8);
  OFFSET (VcStorage, source, 16);
  OFFSET (VcStorage, fstype, 24);
  OFFSET (VcStorage, options, 32);
  OFFSET (VcStorage, mount_point, 40);
  SIZE (VcSharedPath, 24);
  OFFSET (VcSharedPath, struct_size, 0);
  OFFSET (VcSharedPath, guest_path, 8);
  OFFSET (VcSharedPath, storage, 16);
  SIZE (VcSettingSpec, 56);
  OFFSET (VcSettingSpec, name, 0);
  OFFSET (VcSettingSpec, type, 8);
  OFFSET (VcSettingSpec, description, 16);
  OFFSET (VcSettingSpec, default_value, 24);
  OFFSET (VcSettingSpec, min, 32);
  OFFSET (VcSettingSpec, max, 40);
  OFFSET (VcSettingSpec, choices, 48);
  SIZE (VcPluginHost, 40);
  OFFSET (VcPluginHost, struct_size, 0);
  OFFSET (VcPluginHost, abi_major, 8);
  OFFSET (VcPluginHost, abi_minor, 12);
  OFFSET (VcPluginHost, config_file, 16);
  OFFSET (VcPluginHost, state_dir, 24);
  OFFSET (VcPluginHost, plugin_name, 32);
  SIZE (VcPluginDescriptor, 104);
  OFFSET (VcPluginDescriptor, abi_major, 0);
  OFFSET (VcPluginDescriptor, abi_minor, 4);
  OFFSET (VcPluginDescriptor, struct_size, 8);
  OFFSET (VcPluginDescriptor, name, 16);
  OFFSET (VcPluginDescriptor, version, 24);
  OFFSET (VcPluginDescriptor, description, 32);
  OFFSET (VcPluginDescriptor, kinds, 40);
  OFFSET (VcPluginDescriptor, settings, 48);
  OFFSET (VcPluginDescriptor, create, 56);
  OFFSET (VcPluginDescriptor, destroy, 64);
  OFFSET (VcPluginDescriptor, hypervisor, 72);
  OFFSET (VcPluginDescriptor, agent, 80);
  OFFSET (VcPluginDescriptor, fs, 88);
  OFFSET (VcPluginDescriptor, device, 96);
  SIZE (VcVmConfig, 112);
  OFFSET (VcVmConfig, struct_size, 0);
  OFFSET (VcVmConfig, sandbox_id, 8);
  OFFSET (VcVmConfig, state_dir, 16);
  OFFSET (VcVmConfig, vcpus, 24);
  OFFSET (VcVmConfig, max_vcpus, 28);
  OFFSET (VcVmConfig, memory_mib, 32);
  OFFSET (VcVmConfig, max_memory_mib, 40);
  OFFSET (VcVmConfig, kernel, 48);
  OFFSET (VcVmConfig, initrd, 56);
  OFFSET (VcVmConfig, kernel_params, 64);
  OFFSET (VcVmConfig, agent_transport, 72);
  OFFSET (VcVmConfig, event_func, 80);
  OFFSET (VcVmConfig, event_data, 88);
  /* templates */
  OFFSET (VcVmConfig, template_mode, 96);
  OFFSET (VcVmConfig, template_dir, 104);
  SIZE (VcHypervisorOps, 200);
  OFFSET (VcHypervisorOps, version, 0);
  OFFSET (VcHypervisorOps, size, 8);
  OFFSET (VcHypervisorOps, capabilities, 16);
  OFFSET (VcHypervisorOps, check, 24);
  OFFSET (VcHypervisorOps, create_vm, 32);
  OFFSET (VcHypervisorOps, add_device, 40);
  OFFSET (VcHypervisorOps, start_vm, 48);
  OFFSET (VcHypervisorOps, stop_vm, 56);
  OFFSET (VcHypervisorOps, pause_vm, 64);
  OFFSET (VcHypervisorOps, resume_vm, 72);
  OFFSET (VcHypervisorOps, get_status, 80);
  OFFSET (VcHypervisorOps, hotplug_add, 88);
  OFFSET (VcHypervisorOps, hotplug_remove, 96);
  OFFSET (VcHypervisorOps, resize_vcpus, 104);
  OFFSET (VcHypervisorOps, resize_memory, 112);
  OFFSET (VcHypervisorOps, console_path, 120);
  OFFSET (VcHypervisorOps, get_pids, 128);
  OFFSET (VcHypervisorOps, get_vcpu_tids, 136);
  OFFSET (VcHypervisorOps, get_agent_endpoint, 144);
  OFFSET (VcHypervisorOps, wait_agent_channel, 152);
  OFFSET (VcHypervisorOps, save_state, 160);
  OFFSET (VcHypervisorOps, attach_vm, 168);
  OFFSET (VcHypervisorOps, free_vm, 176);
  /* templates */
  OFFSET (VcHypervisorOps, template_identity, 184);
  OFFSET (VcHypervisorOps, save_template, 192);
  SIZE (VcAgentSandboxConfig, 48);
  OFFSET (VcAgentSandboxConfig, struct_size, 0);
  OFFSET (VcAgentSandboxConfig, sandbox_id, 8);
  OFFSET (VcAgentSandboxConfig, hostname, 16);
  OFFSET (VcAgentSandboxConfig, storages, 24);
  OFFSET (VcAgentSandboxConfig, dns, 32);
  OFFSET (VcAgentSandboxConfig, sandbox_pidns, 40);
  SIZE (VcAgentMount, 32);
  OFFSET (VcAgentMount, struct_size, 0);
  OFFSET (VcAgentMount, destination, 8);
  OFFSET (VcAgentMount, guest_source, 16);
  OFFSET (VcAgentMount, readonly, 24);
  SIZE (VcContainerConfig, 64);
  OFFSET (VcContainerConfig, struct_size, 0);
  OFFSET (VcContainerConfig, container_id, 8);
  OFFSET (VcContainerConfig, oci_spec_json, 16);
  OFFSET (VcContainerConfig, guest_rootfs, 24);
  OFFSET (VcContainerConfig, storages, 32);
  OFFSET (VcContainerConfig, mounts, 40);
  OFFSET (VcContainerConfig, devices, 48);
  OFFSET (VcContainerConfig, device_container_paths, 56);
  SIZE (VcContainerStats, 72);
  OFFSET (VcContainerStats, struct_size, 0);
  OFFSET (VcContainerStats, cpu_usage_ns, 8);
  OFFSET (VcContainerStats, memory_usage_bytes, 16);
  OFFSET (VcContainerStats, memory_limit_bytes, 24);
  OFFSET (VcContainerStats, pids_current, 32);
  OFFSET (VcContainerStats, blkio_read_bytes, 40);   /* ABI 1.2 */
  OFFSET (VcContainerStats, blkio_write_bytes, 48);
  OFFSET (VcContainerStats, net_rx_bytes, 56);
  OFFSET (VcContainerStats, net_tx_bytes, 64);
  SIZE (VcGuestDetails, 32);
  OFFSET (VcGuestDetails, struct_size, 0);
  OFFSET (VcGuestDetails, agent_version, 8);
  OFFSET (VcGuestDetails, mem_block_size_bytes, 16);
  OFFSET (VcGuestDetails, supports_mem_hotplug_probe, 24);
  OFFSET (VcGuestDetails, supports_seccomp, 28);
  SIZE (VcAgentOps, 256);
  OFFSET (VcAgentOps, version, 0);
  OFFSET (VcAgentOps, size, 8);
  OFFSET (VcAgentOps, connect, 16);
  OFFSET (VcAgentOps, disconnect, 24);
  OFFSET (VcAgentOps, check, 32);
  OFFSET (VcAgentOps, agent_version, 40);
  OFFSET (VcAgentOps, create_sandbox, 48);
  OFFSET (VcAgentOps, destroy_sandbox, 56);
  OFFSET (VcAgentOps, create_container, 64);
  OFFSET (VcAgentOps, start_container, 72);
  OFFSET (VcAgentOps, remove_container, 80);
  OFFSET (VcAgentOps, pause_container, 88);
  OFFSET (VcAgentOps, resume_container, 96);
  OFFSET (VcAgentOps, update_container, 104);
  OFFSET (VcAgentOps, stats_container, 112);
  OFFSET (VcAgentOps, exec_process, 120);
  OFFSET (VcAgentOps, signal_process, 128);
  OFFSET (VcAgentOps, wait_process, 136);
  OFFSET (VcAgentOps, write_stdin, 144);
  OFFSET (VcAgentOps, close_stdin, 152);
  OFFSET (VcAgentOps, read_stdout, 160);
  OFFSET (VcAgentOps, read_stderr, 168);
  OFFSET (VcAgentOps, tty_win_resize, 176);
  OFFSET (VcAgentOps, guest_details, 184);
  OFFSET (VcAgentOps, set_guest_time, 192);
  OFFSET (VcAgentOps, online_cpu_mem, 200);
  OFFSET (VcAgentOps, copy_file, 208);
  OFFSET (VcAgentOps, get_oom_event, 216);
  OFFSET (VcAgentOps, update_interface, 224);   /* network, ABI 1.3 */
  OFFSET (VcAgentOps, update_routes, 232);
  OFFSET (VcAgentOps, add_arp_neighbors, 240);
  OFFSET (VcAgentOps, close_output, 248);   /* stdio, ABI 1.3 */
  SIZE (VcFsSandboxConfig, 48);
  OFFSET (VcFsSandboxConfig, struct_size, 0);
  OFFSET (VcFsSandboxConfig, sandbox_id, 8);
  OFFSET (VcFsSandboxConfig, state_dir, 16);
  OFFSET (VcFsSandboxConfig, hypervisor_caps, 24);
  OFFSET (VcFsSandboxConfig, event_func, 32);
  OFFSET (VcFsSandboxConfig, event_data, 40);
  SIZE (VcFsOps, 112);
  OFFSET (VcFsOps, version, 0);
  OFFSET (VcFsOps, size, 8);
  OFFSET (VcFsOps, prepare, 16);
  OFFSET (VcFsOps, get_devices, 24);
  OFFSET (VcFsOps, get_sandbox_storage, 32);
  OFFSET (VcFsOps, share_rootfs, 40);
  OFFSET (VcFsOps, share_mount, 48);
  OFFSET (VcFsOps, unshare_container, 56);
  OFFSET (VcFsOps, cleanup, 64);
  OFFSET (VcFsOps, save_state, 72);
  OFFSET (VcFsOps, attach, 80);
  OFFSET (VcFsOps, free_share, 88);
  OFFSET (VcFsOps, check, 96);        /* ABI 1.1 */
  OFFSET (VcFsOps, get_pids, 104);    /* ABI 1.4 */
  SIZE (VcDeviceRequest, 96);
  OFFSET (VcDeviceRequest, struct_size, 0);
  OFFSET (VcDeviceRequest, kind, 8);
  OFFSET (VcDeviceRequest, container_id, 16);
  OFFSET (VcDeviceRequest, host_path, 24);
  OFFSET (VcDeviceRequest, container_path, 32);
  OFFSET (VcDeviceRequest, type, 40);
  OFFSET (VcDeviceRequest, major, 48);
  OFFSET (VcDeviceRequest, minor, 56);
  OFFSET (VcDeviceRequest, file_mode, 64);
  OFFSET (VcDeviceRequest, uid, 68);
  OFFSET (VcDeviceRequest, gid, 72);
  OFFSET (VcDeviceRequest, fstype, 80);
  OFFSET (VcDeviceRequest, readonly, 88);
  SIZE (VcDeviceOps, 40);
  OFFSET (VcDeviceOps, version, 0);
  OFFSET (VcDeviceOps, size, 8);
  OFFSET (VcDeviceOps, supports, 16);
  OFFSET (VcDeviceOps, attach, 24);
  OFFSET (VcDeviceOps, detach, 32);
#else
  g_test_skip ("struct layouts are pinned for x86_64 only");
#endif
}

static void
test_constants (void)
{
  g_assert_cmpint (VC_ABI_MAJOR, ==, 1);
  g_assert_cmpint (VC_ABI_MINOR, ==, 5);
  g_assert_cmpstr (VC_PLUGIN_DESCRIPTOR_SYMBOL, ==, "vc_plugin_descriptor");
  g_assert_cmpint (VC_HYPERVISOR_OPS_VERSION, ==, 2);
  g_assert_cmpint (VC_AGENT_OPS_VERSION, ==, 2);
  g_assert_cmpint (VC_FS_OPS_VERSION, ==, 3);
  g_assert_cmpint (VC_DEVICE_OPS_VERSION, ==, 1);

  g_assert_cmpint (VC_PLUGIN_KIND_HYPERVISOR, ==, 1);
  g_assert_cmpint (VC_PLUGIN_KIND_AGENT, ==, 2);
  g_assert_cmpint (VC_PLUGIN_KIND_FS, ==, 4);
  g_assert_cmpint (VC_PLUGIN_KIND_DEVICE, ==, 8);

  g_assert_cmpint (VC_ERROR_FAILED, ==, 0);
  g_assert_cmpint (VC_ERROR_INVALID_ARGUMENT, ==, 1);
  g_assert_cmpint (VC_ERROR_NOT_FOUND, ==, 2);
  g_assert_cmpint (VC_ERROR_EXISTS, ==, 3);
  g_assert_cmpint (VC_ERROR_INVALID_STATE, ==, 4);
  g_assert_cmpint (VC_ERROR_NOT_SUPPORTED, ==, 5);
  g_assert_cmpint (VC_ERROR_TIMEOUT, ==, 6);
  g_assert_cmpint (VC_ERROR_PROTOCOL, ==, 7);
  g_assert_cmpint (VC_ERROR_ABI, ==, 8);
  g_assert_cmpint (VC_ERROR_CONFIG, ==, 9);
  g_assert_cmpint (VC_ERROR_BUSY, ==, 10);
  g_assert_cmpint (VC_ERROR_ACCESS_DENIED, ==, 11);
  g_assert_cmpint (VC_ERROR_STOPPED, ==, 12);
  g_assert_cmpstr (g_quark_to_string (VC_ERROR), ==, "vc-error-quark");

  g_assert_cmpint (VC_SETTING_BOOL, ==, 1);
  g_assert_cmpint (VC_SETTING_INT, ==, 2);
  g_assert_cmpint (VC_SETTING_STRING, ==, 3);
  g_assert_cmpint (VC_SETTING_ENUM, ==, 4);

  g_assert_cmpint (VC_DEVICE_BLOCK, ==, 1);
  g_assert_cmpint (VC_DEVICE_FS_9P, ==, 2);
  g_assert_cmpint (VC_DEVICE_FS_VHOST_USER, ==, 3);
  g_assert_cmpint (VC_DEVICE_FS_VIRTIOFS, ==, 4);
  g_assert_cmpint (VC_DEVICE_VFIO, ==, 5);

  g_assert_cmpint (VC_AGENT_TRANSPORT_NONE, ==, 0);
  g_assert_cmpint (VC_AGENT_TRANSPORT_SERIAL, ==, 1);
  g_assert_cmpint (VC_AGENT_TRANSPORT_VSOCK, ==, 2);
  g_assert_cmpint (VC_AGENT_TRANSPORT_HYBRID_VSOCK, ==, 3);

  g_assert_cmpint (VC_HV_CAP_PAUSE, ==, 1 << 0);
  g_assert_cmpint (VC_HV_CAP_HOTPLUG_BLOCK, ==, 1 << 1);
  g_assert_cmpint (VC_HV_CAP_HOTPLUG_VCPU, ==, 1 << 2);
  g_assert_cmpint (VC_HV_CAP_HOTPLUG_MEMORY, ==, 1 << 3);
  g_assert_cmpint (VC_HV_CAP_FS_9P, ==, 1 << 4);
  g_assert_cmpint (VC_HV_CAP_FS_VHOST_USER, ==, 1 << 5);
  g_assert_cmpint (VC_HV_CAP_MANAGED_VIRTIOFS, ==, 1 << 6);
  g_assert_cmpint (VC_HV_CAP_AGENT_SERIAL, ==, 1 << 7);
  g_assert_cmpint (VC_HV_CAP_AGENT_VSOCK, ==, 1 << 8);
  g_assert_cmpint (VC_HV_CAP_AGENT_HYBRID_VSOCK, ==, 1 << 9);
  g_assert_cmpint (VC_HV_CAP_REATTACH, ==, 1 << 10);
  g_assert_cmpint (VC_HV_CAP_COLD_PLUG_BLOCK, ==, 1 << 11);  /* devices, ABI 1.4 */
  /* templates */
  g_assert_cmpint (VC_HV_CAP_TEMPLATE, ==, 1 << 20);
  g_assert_cmpint (VC_VM_TEMPLATE_NONE, ==, 0);
  g_assert_cmpint (VC_VM_TEMPLATE_CREATE, ==, 1);
  g_assert_cmpint (VC_VM_TEMPLATE_RESTORE, ==, 2);
  g_assert_cmpint (VC_HV_CAP_NET_TAP_FD, ==, 1 << 16);   /* network, ABI 1.3 */
  g_assert_cmpint (VC_DEVICE_NET, ==, 6);
  g_assert_cmpint (VC_HV_CAP_NET_TAP_NAME, ==, 1 << 17); /* NICs by tap name, ABI 1.5 */

  g_assert_cmpint (VC_VM_STATUS_UNKNOWN, ==, 0);
  g_assert_cmpint (VC_VM_STATUS_CREATED, ==, 1);
  g_assert_cmpint (VC_VM_STATUS_RUNNING, ==, 2);
  g_assert_cmpint (VC_VM_STATUS_PAUSED, ==, 3);
  g_assert_cmpint (VC_VM_STATUS_STOPPED, ==, 4);

  g_assert_cmpint (VC_VM_EVENT_STOPPED, ==, 1);
  g_assert_cmpint (VC_VM_EVENT_PAUSED, ==, 2);
  g_assert_cmpint (VC_VM_EVENT_RESUMED, ==, 3);
  g_assert_cmpint (VC_VM_EVENT_DEVICE_REMOVED, ==, 4);
  g_assert_cmpint (VC_VM_EVENT_GUEST_PANICKED, ==, 5);
  g_assert_cmpint (VC_VM_EVENT_AGENT_CHANNEL, ==, 6);

  g_assert_cmpint (VC_FS_EVENT_DAEMON_DIED, ==, 1);
  g_assert_cmpint (VC_DEVICE_REQUEST_OCI_DEVICE, ==, 1);
  g_assert_cmpint (VC_DEVICE_REQUEST_BLOCK_MOUNT, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/abi/layout", test_layout);
  g_test_add_func ("/abi/constants", test_constants);
  return g_test_run ();
}
