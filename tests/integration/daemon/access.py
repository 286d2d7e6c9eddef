#!/usr/bin/env python3
"""Calls every method of the Sandbox and Container interfaces of a root's
sandbox as the current (unprivileged) uid, with arguments of the right types
taken from the introspection XML, and reads every property of every
interface. Prints TAP lines (without the plan) on stdout.

usage: access.py XML ADDRESS SANDBOX_PATH CONTAINER_PATH
"""
import subprocess
import sys
import xml.etree.ElementTree as ET

NAME = "org.vcrun.Runtime1"
DENIED = "org.vcrun.Runtime1.Error.AccessDenied"
# A value of each D-Bus type the XML uses, in gdbus's GVariant text.
VALUES = {"s": "'x'", "b": "true", "i": "15", "u": "1", "t": "1", "x": "1",
          "a{sv}": "@a{sv} {}", "h": "@h 0", "o": "'/'"}

xml, address, sandbox, container = sys.argv[1:5]
root = ET.parse(xml).getroot()
n = 0
failed = 0


def tap(ok, text):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print(("ok" if ok else "not ok") + " %d - %s" % (n, text), flush=True)


def gdbus(path, member, args):
    cmd = ["gdbus", "call", "--address", address, "--dest", NAME, "--object-path", path,
           "--method", member] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).strip()


for iface in root.findall("interface"):
    name = iface.get("name")
    short = name.rsplit(".", 1)[1]
    path = {"Sandbox": sandbox, "Container": container}.get(short)
    if path is None:
        continue
    for method in iface.findall("method"):
        args = [VALUES[a.get("type")] for a in method.findall("arg")
                if a.get("direction", "in") == "in"]
        rc, out = gdbus(path, "%s.%s" % (name, method.get("name")), args)
        tap(rc != 0 and DENIED in out,
            "%s.%s by another uid: AccessDenied%s" % (short, method.get("name"),
                                                    "" if DENIED in out else " (got: %s)" % out[:200]))

# Properties stay readable by everyone (as machined's are): what runs is no
# secret, acting on it is.
for iface in root.findall("interface"):
    name = iface.get("name")
    short = name.rsplit(".", 1)[1]
    path = {"Manager": "/org/vcrun/Runtime1", "Sandbox": sandbox, "Container": container}[short]
    for prop in iface.findall("property"):
        rc, out = gdbus(path, "org.freedesktop.DBus.Properties.Get", ["'%s'" % name, "'%s'" % prop.get("name")])
        tap(rc == 0 and out.startswith("(<"), "%s.%s reads as another uid: %s" % (short, prop.get("name"), out[:60]))

print("# %d calls, %d failed" % (n, failed))
sys.exit(1 if failed else 0)
