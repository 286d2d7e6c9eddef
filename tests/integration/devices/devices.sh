#!/bin/bash
# Block volumes through the device-block plugin, against real QEMU and the
# real guest: a raw ext4 image mounted rw (the file written in the container
# is found in the image after delete) and ro (a write fails, the image is
# unchanged), a host block device (a loop device) passed in by linux.devices
# with the guest's numbers, hot-unplug at delete, and the refusals: a missing
# image, an image another sandbox is using, a device no plugin handles.
. "$(dirname "$0")/../cli/lib.sh"
set -u

missing=$(vm_missing)
[ -z "$missing" ] && ! command -v mkfs.ext4 >/dev/null && missing="no mkfs.ext4 (e2fsprogs)"
[ -z "$missing" ] && ! command -v debugfs >/dev/null && missing="no debugfs (e2fsprogs)"
[ -z "$missing" ] && ! grep -q '"device-block"' "$CONF" && missing="device-block is not in $CONF"
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-devices.XXXXXX")
loopdev=
cleanup() {
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
    done
    pkill -KILL -f -- "$ROOT" 2>/dev/null
    [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# add_json BUNDLE PYTHON: edits config.json as `spec`.
add_json() {
    python3 - "$1/config.json" "$2" <<'PY'
import json, sys
path, code = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
exec(code)
json.dump(spec, open(path, "w"))
PY
}
mkimage() { truncate -s 32M "$1" && mkfs.ext4 -q -F "$1" >/dev/null 2>&1; }
no_vm_left() { ! pgrep -f -- "$ROOT/state/$1" >/dev/null && ! pgrep -f -- "vcrun-$1" >/dev/null; }
mkdir -p "$ROOT/state"

# ---- rw image: written in the container, found in the image afterwards ----
IMG=$ROOT/vol.img
mkimage "$IMG"
B=$ROOT/b-rw
make_bundle "$B" '["sh", "-c", "echo block-volume-data > /data/hello && sync && cat /data/hello && grep \" /data \" /proc/mounts | cut -d\" \" -f3"]'
add_json "$B" "spec['mounts'].append({'destination': '/data', 'type': 'ext4', 'source': '$IMG', 'options': ['rw']})"
out=$(vc run --bundle "$B" rw1 2>"$ROOT/rw1.err" </dev/null); rc=$?
expect_eq "run with an ext4 image mounted rw exits 0" 0 $rc
[ $rc -eq 0 ] || diag "$(tail -5 "$ROOT/rw1.err")"
expect_eq "the container writes and reads the volume" "block-volume-data" "$(echo "$out" | sed -n 1p)"
expect_eq "the volume is an ext4 mount in the container" "ext4" "$(echo "$out" | sed -n 2p)"
expect_eq "the file is in the image after delete" "block-volume-data" \
    "$(debugfs -R 'cat /hello' "$IMG" 2>/dev/null)"
wait_for 10 no_vm_left rw1; ok $? "no QEMU left after the run"

# ---- ro image: a write fails, the image is unchanged ----------------------
sum_before=$(sha256sum < "$IMG")
B=$ROOT/b-ro
make_bundle "$B" '["sh", "-c", "cat /data/hello; if echo x > /data/new 2>/dev/null; then echo wrote; else echo write-refused; fi"]'
add_json "$B" "spec['mounts'].append({'destination': '/data', 'type': 'ext4', 'source': '$IMG', 'options': ['ro']})"
out=$(vc run --bundle "$B" ro1 2>"$ROOT/ro1.err" </dev/null); rc=$?
expect_eq "run with the image ro exits 0" 0 $rc
[ $rc -eq 0 ] || diag "$(tail -5 "$ROOT/ro1.err")"
expect_eq "the ro volume is readable" "block-volume-data" "$(echo "$out" | sed -n 1p)"
expect_eq "a write to the ro volume fails" "write-refused" "$(echo "$out" | sed -n 2p)"
expect_eq "the image is unchanged (sha256)" "$sum_before" "$(sha256sum < "$IMG")"

# ---- a host block device by linux.devices -----------------------------------
DEVIMG=$ROOT/dev.img
truncate -s 8M "$DEVIMG"
printf 'VCRUN-LOOP-MARKER' | dd of="$DEVIMG" conv=notrunc status=none
if loopdev=$(losetup -f --show "$DEVIMG" 2>/dev/null); then
    maj=$((0x$(stat -c %t "$loopdev"))); min=$((0x$(stat -c %T "$loopdev")))
    B=$ROOT/b-dev
    make_bundle "$B" '["sh", "-c", "ls -l /dev/vol0 | cut -c1; head -c 17 /dev/vol0; echo; stat -c %t:%T /dev/vol0"]'
    add_json "$B" "spec['linux']['devices'] = [{'path': '/dev/vol0', 'type': 'b', 'major': $maj, 'minor': $min, 'fileMode': 432, 'uid': 0, 'gid': 0}]"
    out=$(vc run --bundle "$B" dev1 2>"$ROOT/dev1.err" </dev/null); rc=$?
    expect_eq "run with a host block device ($loopdev, $maj:$min) exits 0" 0 $rc
    [ $rc -eq 0 ] || diag "$(tail -5 "$ROOT/dev1.err")"
    expect_eq "the container sees a block device node" "b" "$(echo "$out" | sed -n 1p)"
    expect_eq "... whose bytes are the host device's" "VCRUN-LOOP-MARKER" "$(echo "$out" | sed -n 2p)"
    guest_nums=$(echo "$out" | sed -n 3p)
    diag "host $loopdev is $(stat -c %t:%T "$loopdev"), the container's /dev/vol0 is $guest_nums"
    expect_match "... with the guest's numbers, not the host's" "^[0-9a-f]+:[0-9a-f]+$" "$guest_nums"
    [ "$guest_nums" != "$(stat -c %t:%T "$loopdev")" ]; ok $? "... which differ from the host's"
else
    skip "a host block device by linux.devices" "no loop device available"
fi

# ---- an image in use by another sandbox is refused --------------------------
B=$ROOT/b-hold
make_bundle "$B" '["sleep", "600"]'
mkdir -p "$B/rootfs/sys"
add_json "$B" "spec['mounts'] += [{'destination': '/data', 'type': 'ext4', 'source': '$IMG'}, {'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs', 'options': ['ro']}, {'destination': '/sys/fs/cgroup', 'type': 'cgroup2', 'source': 'cgroup2'}]"
vc create --bundle "$B" hold1 >/dev/null 2>"$ROOT/hold1.err" </dev/null; rc=$?
expect_eq "a sandbox holding the image rw is created" 0 $rc
[ $rc -eq 0 ] || diag "$(tail -5 "$ROOT/hold1.err")"
vc start hold1 >/dev/null 2>&1
# cold plug: the first container's volume is on QEMU's command line (a
# -blockdev of the image and its virtio-blk-pci behind a root port), and
# the saved VM state names the boot-time node, not a hot-plugged one
qpid=$(pgrep -f -- "-name vcrun-hold1," | head -1)
qcmd=$(tr '\0' ' ' < "/proc/${qpid:-0}/cmdline" 2>/dev/null)
expect_match "the first container's image is cold-plugged: on QEMU's command line" \
    "-blockdev [^ ]*\"filename\":\"$IMG\"" "$qcmd"
expect_match "... as a virtio-blk-pci behind a root port (unpluggable later)" \
    '-device [^ ]*"driver":"virtio-blk-pci"[^ ]*"bus":"vc-rp[0-9]"' "$qcmd"
hvstate=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])).get("hypervisor_state")))' \
    "$ROOT/hold1/sandbox.json" 2>/dev/null)
expect_match "... and was not hot-plugged (its node is the command line's)" '"node_name" *: *"vc-node' "$hvstate"
[ -n "$(echo "$hvstate" | grep 'vc-hot')" ]; ok $((!$?)) "... no hot-plugged node at all"
# vcrun stats, embedded (the table and JSON of resources.sh's --bus form)
out=$(vc stats --no-stream --interval 500 hold1 2>&1)
expect_match "embedded stats --no-stream prints the table header" \
    '^ID +CPU % +MEM USAGE / LIMIT +MEM % +NET IO +BLOCK IO +PIDS +VMM RSS +VMM CPU %' "$(echo "$out" | head -1)"
expect_match "... and hold1's row (no memory limit yet: max)" '^hold1 +[0-9.]+% +[0-9.]+[kMG]B / max +-- .* [1-9][0-9]* +[0-9.]+[kMG]B +[0-9.]+%$' \
    "$(echo "$out" | sed -n 2p)"
out=$(vc stats --no-stream --format json --interval 500 2>&1)
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert [x["id"] for x in r]==["hold1"] and r[0]["pids"]>=1 and r[0]["vmm_rss_bytes"]>0' "$out"
ok $? "embedded stats --format json without IDs lists the running container"
# streaming: a new table every interval until interrupted
n=$(timeout -s INT 4 "$VCRUN" --config "$CONF" --root "$ROOT" stats --interval 300 hold1 2>/dev/null | grep -c '^hold1 ')
[ "${n:-0}" -ge 2 ]; ok $? "stats without --no-stream prints a table per interval until interrupted ($n rows in 4 s)"
# embedded update, through the sandbox's supervisor (within the VM's 256 MiB)
out=$(vc update --memory 200M hold1 2>&1); rc=$?
expect_eq "update --memory 200M of an embedded sandbox exits 0" 0 $rc
[ $rc -eq 0 ] || diag "$out"
expect_eq "... and the container's memory.max is 200 MiB" 209715200 \
    "$(vc exec hold1 sh -c 'cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max' 2>&1)"
err=$(vc update --memory 1G hold1 2>&1); rc=$?
expect_eq "update beyond max_memory_mib exits 125" 125 $rc
expect_match "... naming the limit" "beyond the sandbox's max_memory_mib \(256\)" "$err"
B=$ROOT/b-second
make_bundle "$B" '["true"]'
add_json "$B" "spec['mounts'].append({'destination': '/data', 'type': 'ext4', 'source': '$IMG'})"
err=$(vc run --bundle "$B" second1 2>&1 </dev/null); rc=$?
expect_eq "a second sandbox on the same image fails (exit 125)" 125 $rc
expect_match "... saying the image is locked by another user" "(lock|in use).*$IMG|$IMG.*(lock|in use)" "$(echo "$err" | tr '\n' ' ')"
expect_eq "... and leaves no state" "hold1" "$(vc list -q)"
vc delete --force hold1 >/dev/null 2>&1
expect_eq "delete of the holder leaves nothing" "" "$(vc list -q)"

# ---- refusals ----------------------------------------------------------------
B=$ROOT/b-missing
make_bundle "$B" '["true"]'
add_json "$B" "spec['mounts'].append({'destination': '/data', 'type': 'ext4', 'source': '$ROOT/no-such.img'})"
err=$(vc run --bundle "$B" miss1 2>&1 </dev/null); rc=$?
expect_eq "a missing image fails (exit 125)" 125 $rc
expect_match "... naming the mount and the path" "mounts\[2\]\.source: $ROOT/no-such.img: No such file" "$err"
expect_eq "... and leaves no state" "" "$(vc list -q)"

B=$ROOT/b-nodev
make_bundle "$B" '["true"]'
add_json "$B" "spec['linux']['devices'] = [{'path': '/dev/nothing', 'type': 'b', 'major': 4095, 'minor': 4095}]"
err=$(vc run --bundle "$B" nodev1 2>&1 </dev/null); rc=$?
expect_eq "a block device no plugin handles fails (exit 125)" 125 $rc
expect_match "... saying so" "linux.devices\[0\] \(/dev/nothing, 4095:4095\): no device plugin handles it" "$err"
expect_eq "... and leaves no state" "" "$(vc list -q)"
wait_for 10 no_vm_left nodev1; ok $? "... and no QEMU"

tap_done
[ "$tap_failed" -eq 0 ]
