"""The stand-in's VM: QEMU (TCG unless CLH_STANDIN_ACCEL=kvm) built from a
VmConfig, and a small QMP client.

The payload's kernel (an ELF vmlinux with a PVH note, as Cloud Hypervisor
requires) and initramfs boot directly; each net entry is a virtio-net-pci
NIC on the tap fd that came with its vm.add-net; the serial goes to the
configured file; memory is a shared memfd when VmConfig says shared; each fs
entry's vhost-user socket becomes a vhost-user-fs-pci device; disks are
virtio-blk; a virtio-serial port named agent.channel.0 carries the guest
agent, which the stand-in's hybrid-vsock server relays to. Free
pcie-root-ports take hotplugged disks.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

MIB = 1024 * 1024
HOTPLUG_PORTS = 4
AGENT_PORT_ID = "agent-port"


class BootError(Exception):
    pass


def unsupported(config):
    """Members of a VmConfig the stand-in cannot realize."""
    realized = {"payload", "cpus", "memory", "disks", "fs", "serial", "console", "vsock",
                "rng", "iommu", "watchdog", "pvpanic", "net"}
    return sorted(k for k in config if k not in realized)


class Qmp:
    """QMP over a Unix socket: commands from one thread, events to a callback."""

    def __init__(self, path, on_event):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.on_event = on_event
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.replies = {}
        self.next_id = 1
        self.closed = False
        greeting = json.loads(self.file.readline())
        if "QMP" not in greeting:
            raise BootError(f"QMP greeting expected, got {greeting}")
        self.reader = threading.Thread(target=self.read_loop, daemon=True)
        self.reader.start()
        self.execute("qmp_capabilities")

    def read_loop(self):
        try:
            for line in self.file:
                msg = json.loads(line)
                if "event" in msg:
                    self.on_event(msg["event"], msg.get("data", {}))
                elif "id" in msg:
                    with self.cond:
                        self.replies[msg["id"]] = msg
                        self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def execute(self, command, arguments=None, timeout=10.0):
        with self.lock:
            ident = self.next_id
            self.next_id += 1
            msg = {"execute": command, "id": ident}
            if arguments is not None:
                msg["arguments"] = arguments
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        deadline = time.monotonic() + timeout
        with self.cond:
            while ident not in self.replies:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise BootError(f"QMP {command}: {'QEMU went away' if self.closed else 'no answer'}")
                self.cond.wait(left)
            reply = self.replies.pop(ident)
        if "error" in reply:
            raise BootError(f"QMP {command}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def option_escape(value):
    return value.replace(",", ",,")


def qemu_binary():
    return os.environ.get("CLH_STANDIN_QEMU") or os.environ.get("QEMU_SYSTEM") \
        or "/usr/bin/qemu-system-x86_64"


XEN_ELFNOTE_PHYS32_ENTRY = 18


def kernel_has_pvh(path):
    """Whether path is an ELF64 x86-64 file with a PVH entry note."""
    with open(path, "rb") as f:
        eh = f.read(64)
        if len(eh) < 64 or eh[:4] != b"\x7fELF":
            return False
        if eh[4] != 2 or struct.unpack_from("<H", eh, 18)[0] != 62:
            return False
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        if phentsize != 56 or phnum > 256:
            return False
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ph = f.read(56)
            if len(ph) < 56:
                return False
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", ph)
            if p_type != 4 or p_filesz > 256 * 1024:
                continue
            f.seek(p_offset)
            notes = f.read(p_filesz)
            pos = 0
            while pos + 12 <= len(notes):
                namesz, descsz, kind = struct.unpack_from("<III", notes, pos)
                pos += 12
                name = notes[pos:pos + namesz]
                pos += (namesz + 3) & ~3
                pos += (descsz + 3) & ~3
                if kind == XEN_ELFNOTE_PHYS32_ENTRY and name == b"Xen\0":
                    return True
    return False


def check_kernel(payload):
    """Cloud Hypervisor's direct boot on x86-64 loads an ELF vmlinux through
    its PVH entry and nothing else (a bzImage needs firmware): so does the
    stand-in, though QEMU itself could boot a bzImage."""
    kernel = payload.get("kernel")
    if kernel is None:
        return
    try:
        pvh = kernel_has_pvh(kernel)
    except OSError as e:
        raise BootError(f"VmBoot(KernelFile({kernel}: {e.strerror}))")
    if not pvh:
        raise BootError(f"VmBoot(KernelLoad): {kernel} is not an ELF vmlinux with a PVH entry "
                        "note (Cloud Hypervisor boots no bzImage)")


def command_line(config, files, net_fds=None):
    """QEMU's argv for a VmConfig; files names the stand-in's private sockets;
    net_fds maps each net entry's id to the tap fd QEMU inherits."""
    payload = config["payload"]
    if "kernel" not in payload or "firmware" in payload or "igvm" in payload:
        raise BootError("the stand-in boots only payload.kernel (no firmware or igvm)")
    cpus = config.get("cpus", {"boot_vcpus": 1, "max_vcpus": 1})
    memory = config.get("memory", {"size": 512 * MIB})
    size_mib = memory["size"] // MIB
    hotplug_mib = memory.get("hotplug_size", 0) // MIB
    accel = os.environ.get("CLH_STANDIN_ACCEL", "tcg")
    argv = [qemu_binary(), "-name", "clh-standin-vm,debug-threads=on", "-nodefaults",
            "-no-user-config", "-display", "none", "-no-reboot",
            "-machine", "q35,sata=off,smbus=off,vmport=off", "-accel", accel,
            "-cpu", "host" if accel == "kvm" else "max",
            "-smp", f"{cpus['boot_vcpus']},maxcpus={cpus['max_vcpus']}"]
    if hotplug_mib > 0:
        argv += ["-m", f"{size_mib}M,slots=8,maxmem={size_mib + hotplug_mib}M"]
    else:
        argv += ["-m", f"{size_mib}M"]
    if memory.get("shared", False):
        argv += ["-object", f"memory-backend-memfd,id=mem0,size={size_mib}M,share=on",
                 "-numa", "node,memdev=mem0"]
    elif config.get("fs"):
        raise BootError("virtio-fs needs memory.shared = true (vhost-user maps guest memory)")
    argv += ["-kernel", payload["kernel"]]
    if "initramfs" in payload:
        argv += ["-initrd", payload["initramfs"]]
    if "cmdline" in payload:
        argv += ["-append", payload["cmdline"]]

    serial = config.get("serial", {"mode": "Null"})
    if serial["mode"] == "File":
        if "file" not in serial:
            raise BootError("serial mode File needs a file")
        argv += ["-chardev", f"file,id=serial0,path={option_escape(serial['file'])}",
                 "-serial", "chardev:serial0"]
    elif serial["mode"] not in ("Off", "Null"):
        raise BootError(f"the stand-in realizes serial modes File, Off and Null, not {serial['mode']}")
    console = config.get("console", {"mode": "Off"})
    if console["mode"] not in ("Off", "Null"):
        raise BootError(f"the stand-in realizes console modes Off and Null, not {console['mode']}")

    argv += ["-chardev", f"socket,id=qmp,path={option_escape(files['qmp'])},server=on,wait=off",
             "-mon", "chardev=qmp,mode=control"]
    argv += ["-device", "virtio-serial-pci,id=vser,bus=pcie.0,addr=0x1",
             "-chardev", f"socket,id=agent,path={option_escape(files['agent'])},server=on,wait=off",
             "-device", f"virtserialport,bus=vser.0,chardev=agent,name=agent.channel.0,id={AGENT_PORT_ID}"]
    slot = 3
    for i, fs in enumerate(config.get("fs", [])):
        argv += ["-chardev", f"socket,id=fs{i},path={option_escape(fs['socket'])}",
                 "-device", f"vhost-user-fs-pci,chardev=fs{i},tag={option_escape(fs['tag'])},"
                            f"queue-size={fs['queue_size']},bus=pcie.0,addr={slot:#x}"]
        slot += 1
    for i, disk in enumerate(config.get("disks", [])):
        argv += ["-blockdev", json.dumps(blockdev(disk, f"disk{i}")),
                 "-device", f"virtio-blk-pci,drive=disk{i},id={disk_id(disk, i)},bus=pcie.0,addr={slot:#x}"]
        slot += 1
    for i, net in enumerate(config.get("net", [])):
        fd = (net_fds or {}).get(net["id"])
        if fd is None:
            raise BootError(f"net {net['id']}: no tap fd (the stand-in realizes only NICs on fds)")
        device = f"virtio-net-pci,netdev=net{i},id={option_escape(net['id'])},bus=pcie.0,addr={slot:#x}"
        if "mac" in net:
            device += f",mac={net['mac']}"
        argv += ["-netdev", f"tap,id=net{i},fd={fd}", "-device", device]
        slot += 1
    if config.get("rng"):
        argv += ["-object", f"rng-random,id=rng0,filename={option_escape(config['rng']['src'])}",
                 "-device", f"virtio-rng-pci,rng=rng0,bus=pcie.0,addr={slot:#x}"]
        slot += 1
    for port in range(HOTPLUG_PORTS):
        argv += ["-device", f"pcie-root-port,id=hp{port},chassis={port + 1},bus=pcie.0,"
                            f"addr={0x10 + port:#x}"]
    return argv


def disk_id(disk, index):
    return disk.get("id", f"_disk{index}")


def blockdev(disk, node):
    if "path" not in disk:
        raise BootError("a disk without a path (vhost-user disks are not realized)")
    if not os.path.exists(disk["path"]):
        raise BootError(f"disk {disk['path']}: No such file or directory")
    fmt = "qcow2" if disk.get("image_type") == "Qcow2" else "raw"
    readonly = disk.get("readonly", False)
    return {"driver": fmt, "node-name": node, "read-only": readonly,
            "file": {"driver": "file", "filename": disk["path"], "read-only": readonly}}


def spawn(argv, log_path, pass_fds=()):
    """Starts QEMU so that it dies with the stand-in (PR_SET_PDEATHSIG),
    inheriting pass_fds at their numbers."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
    log = open(log_path, "wb")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                close_fds=True, pass_fds=tuple(pass_fds))
    finally:
        log.close()


def connect_qmp(proc, path, on_event, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise BootError(f"QEMU exited with status {proc.returncode}")
        if os.path.exists(path):
            try:
                return Qmp(path, on_event)
            except (OSError, ValueError):
                pass  # QEMU is still starting, or on its way out: look again
        if time.monotonic() > deadline:
            raise BootError("QEMU's QMP socket did not appear")
        time.sleep(0.02)
