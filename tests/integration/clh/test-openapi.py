#!/usr/bin/env python3
"""The stand-in's OpenAPI check (tests/clh-standin/openapi.py) refuses what
Cloud Hypervisor's document does not allow, and the stand-in executable
answers over its API socket with the document's status codes. Prints TAP;
skips without the document (../shared/clh/cloud-hypervisor.yaml)."""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # nothing written into the source tree
TOP = os.path.abspath(os.environ.get("VCRUN_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "../../..")))
STANDIN = os.path.join(TOP, "tests", "clh-standin")
DOC = os.environ.get("CLH_STANDIN_OPENAPI") or os.path.join(os.path.dirname(TOP), "shared", "clh",
                                                              "cloud-hypervisor.yaml")
sys.path.insert(0, STANDIN)

results = []


def check(name, cond, detail=""):
    results.append((name, bool(cond), detail))


def skip_all(reason):
    print(f"1..0 # SKIP {reason}")
    sys.exit(0)


if not os.path.exists(DOC):
    skip_all(f"the OpenAPI document {DOC} is absent")
try:
    import openapi
except ImportError as e:
    skip_all(f"the stand-in needs python3-yaml ({e})")

doc = openapi.Document(DOC)
GOOD = {"payload": {"kernel": "/k", "initramfs": "/i", "cmdline": "console=ttyS0"},
        "cpus": {"boot_vcpus": 1, "max_vcpus": 2},
        "memory": {"size": 268435456, "hotplug_size": 268435456, "shared": True},
        "serial": {"mode": "File", "file": "/tmp/c.log"}, "console": {"mode": "Off"},
        "vsock": {"cid": 3, "socket": "/tmp/v.sock"},
        "fs": [{"tag": "t", "socket": "/tmp/f.sock", "num_queues": 1, "queue_size": 1024, "id": "vc-fs"}],
        "disks": [{"path": "/d.img", "readonly": False, "id": "vc-d", "image_type": "Raw"}]}


def refused(method, path, body, status, words):
    try:
        doc.check_request(method, path, body)
    except openapi.Invalid as e:
        return e.status == status and all(w in str(e) for w in words), f"{e.status} {e}"
    return False, "accepted"


def mutated(change):
    body = json.loads(json.dumps(GOOD))
    change(body)
    return body


try:
    doc.check_request("PUT", "/api/v1/vm.create", GOOD)
    check("a VmConfig like the plugin's is accepted", True)
except openapi.Invalid as e:
    check("a VmConfig like the plugin's is accepted", False, str(e))

cases = [
    ("an unknown member is refused", "PUT", "/api/v1/vm.create", mutated(lambda b: b.update(bogus=1)),
     400, ["'bogus'", "not in the schema"]),
    ("an unknown nested member is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b["cpus"].update(turbo=True)), 400, ["'turbo'"]),
    ("a missing required member is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b.pop("payload")), 400, ["'payload'", "missing"]),
    ("a string for an integer is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b["cpus"].update(boot_vcpus="1")), 400, ["boot_vcpus", "integer"]),
    ("a boolean for an integer is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b["memory"].update(size=True)), 400, ["size"]),
    ("below a minimum is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b["vsock"].update(cid=2)), 400, ["cid", "minimum"]),
    ("outside an integer format is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b["disks"][0].update(pci_segment=70000)), 400, ["int16"]),
    ("a value outside an enum is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b["serial"].update(mode="Bogus")), 400, ["Bogus"]),
    ("a missing FsConfig member is refused", "PUT", "/api/v1/vm.create",
     mutated(lambda b: b["fs"][0].pop("queue_size")), 400, ["queue_size"]),
    ("an unknown endpoint is 404", "GET", "/api/v1/vm.teleport", None, 404, ["vm.teleport"]),
    ("a path outside the API is 404", "GET", "/vm.info", None, 404, []),
    ("a wrong method is 405", "GET", "/api/v1/vm.create", None, 405, ["GET"]),
    ("a body where none is taken is 400", "PUT", "/api/v1/vm.boot", {}, 400, ["no request body"]),
    ("a required body that is absent is 400", "PUT", "/api/v1/vm.create", None, 400, ["VmConfig"]),
    ("VmResize refuses vCPUs below 1", "PUT", "/api/v1/vm.resize", {"desired_vcpus": 0}, 400, ["minimum"]),
    ("DiskConfig refuses an unknown member", "PUT", "/api/v1/vm.add-disk", {"path": "/d", "size": 1},
     400, ["'size'"]),
]
for name, method, path, body, status, words in cases:
    ok, detail = refused(method, path, body, status, words)
    check(name, ok, detail)

endpoint, op = doc.operation("GET", "/api/v1/vm.info")
try:
    doc.check_response(op, endpoint, 200, {"config": GOOD, "state": "Running"})
    check("a VmInfo answer passes the answer check", True)
except AssertionError as e:
    check("a VmInfo answer passes the answer check", False, str(e))
try:
    doc.check_response(op, endpoint, 200, {"config": GOOD})
    check("a VmInfo answer without state fails the answer check", False)
except AssertionError:
    check("a VmInfo answer without state fails the answer check", True)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def request(api, method, endpoint, body=None):
    conn = UnixHTTP(api)
    data = json.dumps(body) if body is not None else None
    conn.request(method, "/api/v1/" + endpoint, body=data,
                 headers={"Content-Type": "application/json"} if data else {})
    reply = conn.getresponse()
    text = reply.read().decode()
    conn.close()
    return reply.status, text


def request_fds(api, method, endpoint, body, fds):
    """One request written by hand, fds on its message (SCM_RIGHTS)."""
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} /api/v1/{endpoint} HTTP/1.1\r\nHost: localhost\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(api)
        socket.send_fds(sock, [head + data], fds)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        return reply.status, reply.read().decode()


# The executable: started as cloud-hypervisor is, answering on its socket.
with tempfile.TemporaryDirectory(prefix="clh-openapi-") as tmp:
    api = os.path.join(tmp, "api.sock")
    env = dict(os.environ, CLH_STANDIN_OPENAPI=DOC)
    version = subprocess.run([os.path.join(STANDIN, "cloud-hypervisor"), "--version"],
                             capture_output=True, text=True, env=env)
    check("--version prints a version", version.returncode == 0 and "cloud-hypervisor v" in version.stdout,
          version.stdout + version.stderr)
    bad = subprocess.run([os.path.join(STANDIN, "cloud-hypervisor"), "--frobnicate"],
                         capture_output=True, text=True, env=env)
    check("an unknown flag is refused", bad.returncode != 0 and "--frobnicate" in bad.stderr, bad.stderr)
    log = open(os.path.join(tmp, "log"), "w")
    proc = subprocess.Popen([os.path.join(STANDIN, "cloud-hypervisor"), "--api-socket", f"path={api}",
                             "--seccomp", "false", "-v"], stderr=log, env=env)
    deadline = time.monotonic() + 30
    while not os.path.exists(api) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    status, text = request(api, "GET", "vmm.ping")
    check("vmm.ping answers 200 with a version", status == 200 and "version" in json.loads(text), text)
    status, text = request(api, "PUT", "vm.boot")
    check("vm.boot before vm.create is the document's 404", status == 404, f"{status} {text}")
    status, text = request(api, "GET", "vm.info")
    check("vm.info before vm.create is the document's 404", status == 404, f"{status} {text}")
    status, text = request(api, "PUT", "vm.create", dict(GOOD, bogus=1))
    check("an invalid vm.create is refused with 400 and the reason", status == 400 and "'bogus'" in text,
          f"{status} {text}")
    status, text = request(api, "PUT", "vm.pause")
    check("vm.pause without a VM is 404", status == 404, f"{status} {text}")
    good = json.loads(json.dumps(GOOD))
    del good["fs"]
    status, text = request(api, "PUT", "vm.create", good)
    check("a valid vm.create is 204", status == 204, f"{status} {text}")
    status, text = request(api, "GET", "vm.info")
    info = json.loads(text) if status == 200 else {}
    check("vm.info says Created", status == 200 and info.get("state") == "Created", f"{status} {text}")
    status, text = request(api, "PUT", "vm.pause")
    check("vm.pause of a VM not booted is the document's 405", status == 405, f"{status} {text}")
    # vm.add-net as Cloud Hypervisor takes it: the tap fd by SCM_RIGHTS on
    # the request's message (a pipe stands in for the tap until vm.boot).
    r, w = os.pipe()
    nic = {"mac": "02:00:00:00:02:02", "num_queues": 2, "id": "vc-net0"}
    status, text = request_fds(api, "PUT", "vm.add-net", nic, [r])
    check("vm.add-net with a tap fd by SCM_RIGHTS before vm.boot is 204", status == 204, f"{status} {text}")
    status, text = request(api, "GET", "vm.info")
    nets = json.loads(text).get("config", {}).get("net", []) if status == 200 else []
    check("... and vm.info's config lists the NIC", nets == [nic], f"{status} {text}")
    status, text = request_fds(api, "PUT", "vm.add-net", nic, [r])
    check("the same NIC id again is the document's 409", status == 409, f"{status} {text}")
    status, text = request_fds(api, "PUT", "vm.add-net", dict(nic, id="vc-net1", fds=[3]), [r])
    check("NetConfig has no 'fds' member: 400", status == 400 and "'fds'" in text, f"{status} {text}")
    status, text = request(api, "PUT", "vm.add-net", dict(nic, id="vc-net1"))
    check("vm.add-net without an fd is refused (the stand-in makes no tap)", status == 500 and "fds" in text,
          f"{status} {text}")
    status, text = request_fds(api, "PUT", "vm.add-net", dict(nic, id="vc-net1", num_queues=4), [r])
    check("num_queues must be 2 per fd", status == 500 and "VnetQueueFdMismatch" in text, f"{status} {text}")
    status, text = request_fds(api, "PUT", "vm.add-net", dict(nic, id="vc-net1", mtu=1400), [r])
    check("'mtu' with a tap fd is refused (CLH sets it by name in its own namespace)",
          status == 500 and "SetMtu" in text, f"{status} {text}")
    status, text = request_fds(api, "GET", "vmm.ping", None, [r])
    check("fds on another request are closed, the request answered", status == 200, f"{status} {text}")
    os.close(r)
    os.close(w)
    status, text = request(api, "PUT", "vm.boot")
    check("vm.boot of a bzImage-less fake kernel fails as CLH's would (no PVH ELF)",
          status == 500 and "KernelFile" in text and "/k" in text, f"{status} {text}")

    status, text = request(api, "PUT", "vmm.shutdown")
    check("vmm.shutdown is 204", status == 204, f"{status} {text}")
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    check("the VMM exits after vmm.shutdown and removes its socket", code == 0 and not os.path.exists(api),
          f"exit {code}")
    log.close()

print(f"1..{len(results)}")
for i, (name, ok, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} {name}")
    if not ok and detail:
        print(f"# {detail}")
