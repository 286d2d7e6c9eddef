"""The stand-in's VMM: Cloud Hypervisor's API endpoints over a VM realized
with QEMU. States follow Cloud Hypervisor: no VM -> vm.create -> Created ->
vm.boot -> Running <-> Paused; vm.shutdown goes back to Created (the config
is kept); vmm.shutdown ends the process. Errors are plain text, like Cloud
Hypervisor's, with the status codes the OpenAPI document gives (500 where
it gives none)."""

import copy
import os
import time

import qemu
import vsock

MIB = 1024 * 1024


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Vmm:
    def __init__(self, api_path, log, on_guest_exit):
        self.log = log
        self.on_guest_exit = on_guest_exit
        self.files = {"qmp": api_path + ".qmp", "agent": api_path + ".agent",
                      "qemu_log": api_path + ".qemu.log"}
        self.config = None
        self.state = None
        self.proc = None
        self.qmp = None
        self.vsock = None
        self.stopping = False
        self.hot = {}           # disk id -> (node, port)
        self.deleted = set()    # DEVICE_DELETED seen
        self.plugged_cpus = 0
        self.dimms = 0
        self.net_fds = {}       # NIC id -> tap fd received with vm.add-net
        self.request_fds = []   # the current request's fds; taken ones are removed

    # -- helpers -------------------------------------------------------------

    def need_vm(self, booted=False):
        if self.config is None:
            raise ApiError(404, "VM is not created")
        if booted and self.state not in ("Running", "Paused"):
            raise ApiError(405, f"VM is not booted (state {self.state})")

    def on_event(self, event, data):
        if event == "VSERPORT_CHANGE" and data.get("id") == qemu.AGENT_PORT_ID:
            self.log(f"QMP: agent port {'open' if data.get('open') else 'closed'}")
            if self.vsock is not None:
                self.vsock.set_port_open(bool(data.get("open")))
        elif event == "DEVICE_DELETED" and "device" in data:
            self.deleted.add(data["device"])
        elif event in ("SHUTDOWN", "STOP", "RESUME", "GUEST_PANICKED"):
            self.log(f"QMP: {event} {data}")

    def watch(self, proc):
        """On its own thread: QEMU ending without being asked ends the VMM,
        as Cloud Hypervisor exits when its guest shuts down."""
        proc.wait()
        if not self.stopping and proc is self.proc:
            self.log(f"QEMU exited by itself (status {proc.returncode}): the guest is gone")
            self.on_guest_exit(proc.returncode)

    def qemu_log_tail(self):
        try:
            with open(self.files["qemu_log"], "rb") as f:
                text = f.read()[-1500:].decode("utf-8", "replace").strip()
        except OSError:
            return "(no QEMU output)"
        return text or "(no QEMU output)"

    def stop_qemu(self):
        """Stops the guest (QMP quit, then SIGKILL) and removes what it used."""
        self.stopping = True
        if self.qmp is not None:
            try:
                self.qmp.execute("quit", timeout=3.0)
            except qemu.BootError:
                pass
            self.qmp.close()
            self.qmp = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5.0)
            except Exception:
                self.proc.kill()
                self.proc.wait()
            if os.path.exists(self.files["qemu_log"]):
                self.log("QEMU said: " + self.qemu_log_tail())
            self.proc = None
        if self.vsock is not None:
            self.vsock.close()
            self.vsock = None
        for name in ("qmp", "agent", "qemu_log"):
            try:
                os.unlink(self.files[name])
            except FileNotFoundError:
                pass
        self.hot.clear()
        self.plugged_cpus = 0
        self.dimms = 0
        self.stopping = False

    # -- endpoints -----------------------------------------------------------

    def close_net_fds(self):
        for fd in self.net_fds.values():
            os.close(fd)
        self.net_fds.clear()

    def handle(self, endpoint, body, start_watcher, fds=None):
        """Returns (status, JSON body or None); raises ApiError. fds (a
        list) came with the request: an endpoint that keeps one removes it."""
        self.request_fds = fds if fds is not None else []
        name = endpoint.lstrip("/").replace(".", "_").replace("-", "_")
        method = getattr(self, "api_" + name, None)
        if method is None:
            raise ApiError(500, f"{endpoint}: not realized by the vcrun stand-in")
        self.start_watcher = start_watcher
        return method(body)

    def api_vmm_ping(self, body):
        return 200, {"version": "v48.0.0-vcrun-standin", "build_version": "vcrun stand-in",
                     "pid": os.getpid(), "features": ["kvm"]}

    def api_vmm_shutdown(self, body):
        if self.proc is not None:
            self.stop_qemu()
        self.close_net_fds()
        return 204, None

    def api_vm_create(self, body):
        if self.config is not None:
            raise ApiError(500, "Error creating VM: VmAlreadyCreated")
        missing = qemu.unsupported(body)
        if missing:
            raise ApiError(500, f"Error creating VM: the stand-in cannot realize {', '.join(missing)}")
        cpus = body.get("cpus")
        if cpus is not None and cpus["boot_vcpus"] > cpus["max_vcpus"]:
            raise ApiError(500, "Error creating VM: InvalidConfig(CpusMaxLowerThanBoot)")
        if body.get("fs") and not body.get("memory", {}).get("shared", False):
            raise ApiError(500, "Error creating VM: InvalidConfig(VhostUserRequiresSharedMemory)")
        self.config = copy.deepcopy(body)
        self.state = "Created"
        return 204, None

    def api_vm_delete(self, body):
        if self.proc is not None:
            self.stop_qemu()
        self.close_net_fds()
        self.config = None
        self.state = None
        return 204, None

    def api_vm_boot(self, body):
        self.need_vm()
        if self.state != "Created":
            raise ApiError(500, f"Error booting VM: VmAlreadyRunning (state {self.state})")
        try:
            qemu.check_kernel(self.config["payload"])
            argv = qemu.command_line(self.config, self.files, self.net_fds)
        except qemu.BootError as e:
            raise ApiError(500, f"Error booting VM: {e}")
        self.log("QEMU: " + " ".join(argv))
        vsock_cfg = self.config.get("vsock")
        try:
            if vsock_cfg is not None:
                self.vsock = vsock.HybridVsock(vsock_cfg["socket"], self.files["agent"], self.log)
            self.proc = qemu.spawn(argv, self.files["qemu_log"], list(self.net_fds.values()))
            self.qmp = qemu.connect_qmp(self.proc, self.files["qmp"], self.on_event)
            status = self.qmp.execute("query-status")
            if not status.get("running"):
                raise qemu.BootError(f"the VM is {status.get('status')}, not running")
        except (qemu.BootError, OSError) as e:
            # Let QEMU finish printing its reason.
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=2.0)
                except Exception:
                    pass
            reason = f"{e}: {self.qemu_log_tail()}"
            self.stop_qemu()
            raise ApiError(500, f"Error booting VM: {reason}")
        self.start_watcher(self.proc)
        self.state = "Running"
        return 204, None

    def api_vm_shutdown(self, body):
        self.need_vm(booted=True)
        self.stop_qemu()
        self.state = "Created"
        return 204, None

    def api_vm_reboot(self, body):
        self.need_vm(booted=True)
        self.qmp.execute("system_reset")
        return 204, None

    def api_vm_power_button(self, body):
        self.need_vm(booted=True)
        self.qmp.execute("system_powerdown")
        return 204, None

    def api_vm_pause(self, body):
        self.need_vm()
        if self.state != "Running":
            raise ApiError(405, f"Error pausing VM: InvalidStateTransition({self.state}, Paused)")
        self.qmp.execute("stop")
        self.state = "Paused"
        return 204, None

    def api_vm_resume(self, body):
        self.need_vm()
        if self.state != "Paused":
            raise ApiError(405, f"Error resuming VM: InvalidStateTransition({self.state}, Running)")
        self.qmp.execute("cont")
        self.state = "Running"
        return 204, None

    def api_vm_info(self, body):
        self.need_vm()
        memory = self.config.get("memory", {"size": 512 * MIB})
        actual = memory["size"] + memory.get("hotplugged_size", 0)
        info = {"config": self.config, "state": self.state, "memory_actual_size": actual}
        # Unlike Cloud Hypervisor (all devices on bus 0), hot-plugged disks sit
        # behind QEMU root ports here: the tree names each disk's bridge, so
        # that a client can make the guest's PCI path (bridge slot/device).
        tree = {}
        for ident, (_node, port) in self.hot.items():
            bridge = f"_root_port{port}"
            tree[bridge] = {"id": bridge, "resources": [], "children": [ident],
                            "pci_bdf": f"0000:00:{0x10 + port:02x}.0"}
            tree[ident] = {"id": ident, "resources": [], "children": [],
                           "pci_bdf": f"0000:{port + 1:02x}:00.0"}
        if tree:
            info["device_tree"] = tree
        return 200, info

    def api_vm_counters(self, body):
        self.need_vm(booted=True)
        return 200, {}

    def api_vm_add_disk(self, body):
        self.need_vm()
        disks = self.config.setdefault("disks", [])
        ident = body.get("id", f"_disk{len(disks)}")
        if any(qemu.disk_id(d, i) == ident for i, d in enumerate(disks)):
            raise ApiError(409, f"Error adding disk: the identifier {ident} is already used")
        body = dict(body, id=ident)
        if self.state == "Created":
            disks.append(body)
            return 204, None
        port = next((p for p in range(qemu.HOTPLUG_PORTS)
                     if p not in {v[1] for v in self.hot.values()}), None)
        if port is None:
            raise ApiError(500, "Error adding disk: no free PCI slot")
        node = f"hot{port}-{int(time.monotonic() * 1000) % 100000}"
        try:
            self.qmp.execute("blockdev-add", qemu.blockdev(body, node))
        except qemu.BootError as e:
            raise ApiError(500, f"Error adding disk: {e}")
        try:
            self.qmp.execute("device_add", {"driver": "virtio-blk-pci", "drive": node, "id": ident,
                                            "bus": f"hp{port}"})
        except qemu.BootError as e:
            self.qmp.execute("blockdev-del", {"node-name": node})
            raise ApiError(500, f"Error adding disk: {e}")
        self.hot[ident] = (node, port)
        disks.append(body)
        # The guest numbers the root ports' buses 1.. in order.
        return 200, {"id": ident, "bdf": f"0000:{port + 1:02x}:00.0"}

    def device_ids(self):
        ids = {qemu.disk_id(d, i) for i, d in enumerate(self.config.get("disks", []))}
        ids |= {f.get("id") for f in self.config.get("fs", [])}
        ids |= {n.get("id") for n in self.config.get("net", [])}
        return ids

    def api_vm_add_net(self, body):
        """Cloud Hypervisor's rules for a NIC on tap fds: no tap name with
        them, two queues per fd; without fds it would make a tap of its own
        in its namespace, which the stand-in does not realize. Cold (204)
        before vm.boot; a running VM is not realized."""
        self.need_vm()
        fds = list(self.request_fds)
        if not fds:
            raise ApiError(500, "Error adding net device: the stand-in realizes only NICs on tap "
                                "fds passed by SCM_RIGHTS (no tap of its own)")
        if "tap" in body:
            raise ApiError(500, "Error adding net device: InvalidConfig: both a tap name and fds")
        if body.get("vhost_user"):
            raise ApiError(500, "Error adding net device: vhost-user NICs are not realized")
        if body.get("num_queues", 2) != 2 * len(fds):
            raise ApiError(500, f"Error adding net device: InvalidConfig(VnetQueueFdMismatch): "
                                f"num_queues {body.get('num_queues', 2)} for {len(fds)} fd(s)")
        if "mtu" in body:
            # CLH sets it with SIOCSIFMTU on the tap's name from its own
            # network namespace: a tap from another one is not found there.
            raise ApiError(500, "Error adding net device: TapError(SetMtu): 'mtu' with tap fds "
                                "is set by name in the VMM's network namespace, where a tap "
                                "opened in another namespace is not")
        if len(fds) != 1:
            raise ApiError(500, "Error adding net device: the stand-in realizes one fd per NIC")
        nets = self.config.setdefault("net", [])
        ident = body.get("id", f"_net{len(nets)}")
        if ident in self.device_ids():
            raise ApiError(409, f"Error adding net device: the identifier {ident} is already used")
        if self.state != "Created":
            raise ApiError(500, "Error adding net device: hotplug into a running VM is not "
                                "realized by the stand-in")
        self.request_fds.remove(fds[0])
        self.net_fds[ident] = fds[0]
        nets.append(dict(body, id=ident))
        return 204, None

    def api_vm_remove_device(self, body):
        self.need_vm()
        ident = body.get("id")
        disks = self.config.get("disks", [])
        index = next((i for i, d in enumerate(disks) if qemu.disk_id(d, i) == ident), None)
        if index is None:
            raise ApiError(404, f"Error removing device: no device with id {ident!r}")
        if self.state in ("Running", "Paused"):
            if ident not in self.hot:
                raise ApiError(500, f"Error removing device: {ident} is on the root bus (not realized)")
            self.deleted.discard(ident)
            try:
                self.qmp.execute("device_del", {"id": ident})
            except qemu.BootError as e:
                raise ApiError(500, f"Error removing device: {e}")
            deadline = time.monotonic() + 15.0
            while ident not in self.deleted and time.monotonic() < deadline:
                time.sleep(0.05)
            if ident not in self.deleted:
                raise ApiError(500, f"Error removing device: the guest did not release {ident}")
            self.qmp.execute("blockdev-del", {"node-name": self.hot.pop(ident)[0]})
        del disks[index]
        if not disks:
            del self.config["disks"]
        return 204, None

    def api_vm_resize(self, body):
        self.need_vm()
        if "desired_vcpus" in body:
            self.resize_vcpus(body["desired_vcpus"])
        if "desired_ram" in body:
            self.resize_ram(body["desired_ram"])
        if "desired_balloon" in body:
            raise ApiError(500, "Error resizing VM: no balloon configured")
        return 204, None

    def resize_vcpus(self, desired):
        cpus = self.config.setdefault("cpus", {"boot_vcpus": 1, "max_vcpus": 1})
        if desired > cpus["max_vcpus"]:
            raise ApiError(500, f"Error resizing VM: DesiredVCpuCountExceedsMax({desired})")
        if self.proc is not None and desired > cpus["boot_vcpus"]:
            free = [c for c in self.qmp.execute("query-hotpluggable-cpus") if "qom-path" not in c]
            free.sort(key=lambda c: c["props"].get("core-id", 0) + 1000 * c["props"].get("socket-id", 0))
            for c in free[:desired - cpus["boot_vcpus"]]:
                args = dict(c["props"], driver=c["type"], id=f"cpu{self.plugged_cpus}")
                self.qmp.execute("device_add", args)
                self.plugged_cpus += 1
        cpus["boot_vcpus"] = desired

    def resize_ram(self, desired):
        memory = self.config.setdefault("memory", {"size": 512 * MIB})
        current = memory["size"] + memory.get("hotplugged_size", 0)
        if desired <= current:
            return
        if desired > memory["size"] + memory.get("hotplug_size", 0):
            raise ApiError(500, "Error resizing VM: InvalidMemorySize (above hotplug_size)")
        added = desired - current
        if self.proc is not None:
            backend = "memory-backend-memfd" if memory.get("shared") else "memory-backend-ram"
            args = {"qom-type": backend, "id": f"dimm-mem{self.dimms}", "size": added}
            if memory.get("shared"):
                args["share"] = True
            self.qmp.execute("object-add", args)
            self.qmp.execute("device_add", {"driver": "pc-dimm", "id": f"dimm{self.dimms}",
                                            "memdev": f"dimm-mem{self.dimms}"})
            self.dimms += 1
        memory["hotplugged_size"] = desired - memory["size"]
