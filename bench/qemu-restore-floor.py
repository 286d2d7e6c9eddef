#!/usr/bin/env python3
"""The floor of a templated start: bare QEMU restoring a template's saved
state, with the command line hypervisor-qemu used for a sandbox restored
from it (as `vcrun --debug` logged it), timed from QEMU's start until the
guest runs again. No agent, no container, no vcrun.

usage: qemu-restore-floor.py DEBUG_LOG TEMPLATE_DIR WORK_DIR
Prints the seconds to running; exits 1 (saying why) if the restore failed.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time


def fail(msg):
    print(f"restore floor: {msg}", file=sys.stderr)
    sys.exit(1)


def split_logged(line):
    """The log joins the arguments with spaces: the kernel command line is
    the one argument made of several words (none of which starts with -)."""
    argv = []
    for word in line.split(" "):
        if len(argv) >= 2 and argv[-2] == "-append" and not word.startswith("-"):
            argv[-1] += " " + word
        else:
            argv.append(word)
    return argv


def command_line(log):
    for line in open(log, errors="replace"):
        m = re.search(r"hypervisor-qemu: [^:]+: (/\S*qemu-system-\S+ .*-incoming defer.*)$", line)
        if m:
            return split_logged(m.group(1))
    fail(f"{log} has no QEMU command line with -incoming defer (was the run templated, with --debug?)")


def rewrite(argv, state_dir, work):
    """Points the sandbox's own files (sockets, pidfile, console, shared
    directory) into WORK; the template's files stay where they are."""
    out = []
    for a in argv:
        a = a.replace(state_dir, work)
        out.append(a)
    return out


class Qmp:
    def __init__(self, path, deadline, qemu, err):
        self.s = socket.socket(socket.AF_UNIX)
        while True:
            try:
                self.s.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline or qemu.poll() is not None:
                    fail("QEMU's QMP socket never came up: " + open(err).read().strip()[-300:])
                time.sleep(0.002)
        self.f = self.s.makefile("rwb", buffering=0)
        self.events = []
        self.read()  # greeting
        self.execute("qmp_capabilities")

    def read(self):
        line = self.f.readline()
        if not line:
            fail("QEMU closed QMP")
        return json.loads(line)

    def execute(self, cmd, **args):
        self.f.write(json.dumps({"execute": cmd, "arguments": args}).encode() + b"\n")
        while True:
            msg = self.read()
            if "event" in msg:
                self.events.append(msg["event"])
                continue
            if "error" in msg:
                fail(f"{cmd}: {msg['error'].get('desc')}")
            return msg["return"]


def main():
    if len(sys.argv) != 4:
        fail("usage: qemu-restore-floor.py DEBUG_LOG TEMPLATE_DIR WORK_DIR")
    log, template, work = sys.argv[1:]
    argv = command_line(log)
    qmp_arg = next((a for a in argv if a.startswith("socket,id=vc-qmp,path=")), None)
    if qmp_arg is None:
        fail("no vc-qmp chardev in the command line")
    state_dir = os.path.dirname(qmp_arg.split("path=")[1].split(",")[0])
    os.makedirs(os.path.join(work, "shared"), exist_ok=True)
    argv = rewrite(argv, state_dir, work)
    if "-sandbox" in argv:
        i = argv.index("-sandbox")
        del argv[i:i + 2]
    state = os.path.join(template, "state")
    if not os.path.exists(state):
        fail(f"{state} does not exist")
    t0 = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "qemu.err"), "w"))
    try:
        qmp = Qmp(os.path.join(work, "qmp.sock"), t0 + 30, qemu, os.path.join(work, "qemu.err"))
        if "share=off" in " ".join(argv):  # the private flavour: RAM is the file
            qmp.execute("migrate-set-capabilities",
                        capabilities=[{"capability": "x-ignore-shared", "state": True}])
        mig = os.path.join(work, "migrate.sock")
        qmp.execute("migrate-incoming", uri="unix:" + mig)
        s = socket.socket(socket.AF_UNIX)
        while True:
            try:
                s.connect(mig)
                break
            except OSError:
                time.sleep(0.002)
        with open(state, "rb") as f:
            s.sendfile(f)
        s.close()
        # The guest comes back paused, as it was saved: continue it once the
        # stream is loaded, as the plugin does.
        while qmp.execute("query-status")["status"] != "running":
            if time.monotonic() > t0 + 60:
                fail("the restored guest never ran")
            if qmp.execute("query-migrate").get("status") == "completed":
                qmp.execute("cont")
            else:
                time.sleep(0.002)
        t1 = time.monotonic()
        print(f"{t1 - t0:.2f}")
        qmp.execute("quit")
    finally:
        try:
            qemu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()


if __name__ == "__main__":
    main()
