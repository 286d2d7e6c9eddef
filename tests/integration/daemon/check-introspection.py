#!/usr/bin/env python3
"""Compares `busctl introspect SERVICE PATH INTERFACE` (on stdin) with the
interface's declaration in the introspection XML: the same methods with the
same in/out signatures, signals, and properties with their types and
writability. Prints the differences; exits 1 if there are any."""
import sys
import xml.etree.ElementTree as ET

xml_path, iface_name = sys.argv[1], sys.argv[2]
root = ET.parse(xml_path).getroot()
ifaces = [i for i in root.findall("interface") if i.get("name") == iface_name]
if not ifaces:
    sys.exit(f"{xml_path}: no interface {iface_name}")
iface = ifaces[0]

expected = set()
for m in iface.findall("method"):
    args = m.findall("arg")
    ins = "".join(a.get("type") for a in args if a.get("direction", "in") == "in") or "-"
    outs = "".join(a.get("type") for a in args if a.get("direction") == "out") or "-"
    expected.add(("." + m.get("name"), "method", ins, outs))
for s in iface.findall("signal"):
    sig = "".join(a.get("type") for a in s.findall("arg")) or "-"
    expected.add(("." + s.get("name"), "signal", sig, "-"))
for p in iface.findall("property"):
    writable = "write" in p.get("access")
    expected.add(("." + p.get("name"), "property", p.get("type"), "writable" if writable else "read-only"))

seen = set()
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 4 or not parts[0].startswith("."):
        continue
    name, kind, sig = parts[0], parts[1], parts[2]
    if kind == "property":
        seen.add((name, kind, sig, "writable" if "writable" in parts[-1] else "read-only"))
    else:
        seen.add((name, kind, sig, parts[3]))

missing, extra = expected - seen, seen - expected
for item in sorted(missing):
    print("in the XML, not on the bus:", " ".join(item))
for item in sorted(extra):
    print("on the bus, not in the XML:", " ".join(item))
print(f"{iface_name}: {len(expected)} members declared, {len(seen)} on the bus")
sys.exit(1 if missing or extra else 0)
