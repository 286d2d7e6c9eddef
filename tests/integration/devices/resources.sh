#!/bin/sh
# Resources of a running container through vcrund, with real QEMU and the
# guest (one VM): `vcrun --bus update --cpus 2 --memory 512M` hot-plugs a vCPU
# and memory and sets the container's cgroup (nproc, memory.max, cpu.max, the
# Vcpus and MemoryMib properties and `vcrun state` change); limits beyond
# max_vcpus or max_memory_mib are refused and change nothing; `events
# --stats` figures move when the container works; and a second container
# created in the running sandbox (CreateContainer) gets its ext4 volume
# hot-plugged, and deleting it unplugs the volume (the image is free again).
# A second VM, booted without a volume, loads virtio_blk and ext4 only when
# its first volume comes.
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"

[ -f "$BUILD/etc/vcrun-uninstalled.conf" ] || skip_all "no uninstalled configuration"
[ -f "$BUILD/guest/vmlinuz" ] && [ -f "$BUILD/guest/initrd.img" ] || skip_all "no guest image: run 'make guest'"
[ -f "$BUILD/plugins/device-block/.libs/device-block.so" ] || skip_all "device-block is not built"
for tool in mkfs.ext4 debugfs; do command -v $tool >/dev/null || skip_all "no $tool (e2fsprogs)"; done
BUSYBOX=$(command -v busybox || echo /bin/busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || skip_all "no static busybox"

# Room to grow: one vCPU and 256 MiB at boot, up to 2 and 1024. Cold boots:
# the cold plug at boot is checked (a template restore hot-plugs instead).
CONF=$TMP/vcrun.conf
sed 's/^\( *\)vcpus = 1;/\1vcpus = 1; max_vcpus = 2; max_memory_mib = 1024; template = false;/' \
  "$BUILD/etc/vcrun-uninstalled.conf" > "$CONF"
grep -q 'max_vcpus = 2' "$CONF" || skip_all "cannot set max_vcpus in a copy of the uninstalled configuration"
VCRUN="$BUILD/cli/vcrun"
vcb () { timeout -k 5 300 "$VCRUN" --bus=session "$@"; }
vbus () { busctl --address="$ADDR" --timeout=300 "$@"; }
C=org.vcrun.Runtime1.Container
# has TEXT REGEX: TEXT matches the extended REGEX.
has () { printf '%s\n' "$1" | grep -Eq -- "$2"; }
S=org.vcrun.Runtime1.Sandbox

make_bundle () {
  mkdir -p "$1/rootfs/bin" "$1/rootfs/proc" "$1/rootfs/dev" "$1/rootfs/tmp" "$1/rootfs/sys" "$1/rootfs/data"
  cp "$BUSYBOX" "$1/rootfs/bin/busybox"
  for a in sh echo cat sleep nproc; do ln -sf busybox "$1/rootfs/bin/$a"; done
  cat > "$1/config.json" <<EOF
{ "ociVersion": "1.0.2", "root": { "path": "rootfs", "readonly": false },
  "process": { "args": $2, "cwd": "/", "env": ["PATH=/bin"], "user": { "uid": 0, "gid": 0 } },
  "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" },
              { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"] },
              { "destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup2" } $3 ] }
EOF
}
IMG=$TMP/vol.img
truncate -s 32M "$IMG" && mkfs.ext4 -q -F "$IMG" >/dev/null 2>&1 || skip_all "mkfs.ext4 failed"
make_bundle "$TMP/sleeper" '["/bin/sleep", "1000"]' ""
make_bundle "$TMP/writer" '["/bin/sh", "-c", "echo second-container > /data/from-c2 && cat /data/from-c2"]' \
  ", { \"destination\": \"/data\", \"type\": \"ext4\", \"source\": \"$IMG\" }"
make_bundle "$TMP/coldwriter" '["/bin/sh", "-c", "echo cold-container > /data/from-c0 && sync"]' \
  ", { \"destination\": \"/data\", \"type\": \"ext4\", \"source\": \"$IMG\" }"
make_bundle "$TMP/reader" '["/bin/sh", "-c", "cat /data/from-c2"]' \
  ", { \"destination\": \"/data\", \"type\": \"ext4\", \"source\": \"$IMG\", \"options\": [\"ro\"] }"

start_bus
start_vcrund "$CONF" --root "$TMP/state" || { not_ok "vcrund starts"; finish; }

# ---- cold plug: CreateSandbox with the first container's bundle -------------------
# c0's volume is on QEMU's command line at boot, CreateContainer c0 takes it
# without a hotplug, and deleting c0 unplugs it while the sandbox lives on.
SB=$(sandbox_path r1)
out=$(vbus call $NAME $MANAGER org.vcrun.Runtime1.Manager CreateSandbox 'sa{sv}' r1 2 \
  bundle s "$TMP/coldwriter" container s c0 2>&1)
if [ "$out" != "o \"$SB\"" ] || ! vbus call $NAME "$SB" $S Start >> "$TMP/create.out" 2>&1; then
  not_ok "a sandbox boots through vcrund with its first container's bundle: $out"
  sed 's/^/#   /' "$TMP/vcrund.log" | tail -20
  finish
fi
ok "a sandbox boots through vcrund with its first container's bundle (CreateSandbox option bundle)"
qcmd=$(tr '\0' ' ' < "/proc/$(pgrep -f -- "-name vcrun-r1," | head -1)/cmdline" 2>/dev/null)
check "c0's image is on QEMU's command line at boot (cold plug)" has "$qcmd" "-blockdev [^ ]*\"filename\":\"$IMG\""
C0=$(vbus call $NAME "$SB" $S CreateContainer ss c0 "$TMP/coldwriter" 2>&1)
check "CreateContainer c0 takes the cold-plugged volume ($C0)" has "$C0" '^o "'
C0=$(echo "$C0" | sed 's/^o "\(.*\)"$/\1/')
vbus call $NAME "$C0" $C Start >/dev/null 2>&1
st=$(vbus call $NAME "$C0" $C Wait 2>&1)
check "c0 writes to its volume and exits 0 ($st)" [ "$st" = "i 0" ]
hv () { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])).get("hypervisor_state")))' "$TMP/state/r1/sandbox.json"; }
check "c0's volume was not hot-plugged (the boot-time node)" has "$(hv)" '"node_name": "vc-node'
! has "$(hv)" 'vc-hot'; check "... and no hot-plugged node exists" [ $? -eq 0 ]
vbus call $NAME "$C0" $C Delete b false >/dev/null 2>"$TMP/del0.err"; st=$?
check "deleting c0 succeeds ($(cat "$TMP/del0.err"))" [ $st -eq 0 ]
check "... and unplugs its cold-plugged volume from the running VM" sh -c "! grep -q '$IMG' $TMP/state/r1/sandbox.json"
check "the written file is in the image" [ "$(debugfs -R 'cat /from-c0' "$IMG" 2>/dev/null)" = cold-container ]

if ! vcb_create_r1=$(vbus call $NAME "$SB" $S CreateContainer ss r1 "$TMP/sleeper" 2>&1) \
   || ! vbus call $NAME "$(container_path r1 r1)" $C Start >> "$TMP/create.out" 2>&1; then
  not_ok "a container r1 starts in the sandbox: $vcb_create_r1 $(tail -3 "$TMP/create.out")"
  finish
fi
ok "a sandbox with a running container through vcrund"
CG='/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)'
inside () { vcb exec r1 sh -c "$1" 2>&1; }

check "one vCPU at boot" [ "$(inside nproc)" = 1 ]
check "no memory limit at boot" [ "$(inside "cat $CG/memory.max")" = max ]

# ---- update: vCPU and memory hotplug plus the cgroup -------------------------
out=$(vcb update --cpus 2 --memory 512M r1 2>&1); st=$?
check "update --cpus 2 --memory 512M exits 0 ($out)" [ $st -eq 0 ]
check "nproc in the container is 2" [ "$(inside nproc)" = 2 ]
check "memory.max in the container is 512 MiB" [ "$(inside "cat $CG/memory.max")" = 536870912 ]
check "cpu.max in the container is 2 CPUs' quota" [ "$(inside "cat $CG/cpu.max")" = "200000 100000" ]
total=$(inside "sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo")
check "the guest's memory grew past 300 MiB (MemTotal $total kB; ~140 MiB at boot)" [ "${total:-0}" -gt 307200 ]
check "the Vcpus property is 2" [ "$(prop "$SB" Sandbox Vcpus)" = 2 ]
check "the MemoryMib property is 512" [ "$(prop "$SB" Sandbox MemoryMib)" = 512 ]
state=$(vcb state r1)
check "vcrun state shows vcpus 2 and memory_mib 512" has "$(echo "$state" | tr -d '\n ')" '"vcpus":2,"memory_mib":512'

err=$(vcb update --cpus 3 r1 2>&1); st=$?
check "update beyond max_vcpus exits 125" [ $st -eq 125 ]
check "... saying why ($err)" has "$err" "beyond the sandbox.s max_vcpus \(2\)"
err=$(vcb update --memory 4G r1 2>&1); st=$?
check "update beyond max_memory_mib exits 125" [ $st -eq 125 ]
check "... saying why ($err)" has "$err" "beyond the sandbox.s max_memory_mib \(1024\)"
check "... and nothing changed" [ "$(prop "$SB" Sandbox Vcpus)/$(prop "$SB" Sandbox MemoryMib)/$(inside "cat $CG/memory.max")" = "2/512/536870912" ]
err=$(vcb update --memory 128M r1 2>&1); st=$?
check "a smaller memory limit is applied ($st)" [ $st -eq 0 ] && [ "$(inside "cat $CG/memory.max")" = 134217728 ]
check "... and the update says the VM keeps its memory" has "$err" "never unplugged"
err=$(gdbus call --address "$ADDR" --dest $NAME --object-path "$(container_path r1 r1)" \
  --method $C.Update "{'colour': <'blue'>}" 2>&1); st=$?
check "Update with an unknown option is InvalidArgument ($err)" has "$st $err" "^[1-9].*InvalidArgument.*unknown key 'colour'"

# ---- events --stats ------------------------------------------------------------------
s1=$(vcb events --stats r1)
check "events --stats prints runc's stats event" \
  python3 -c 'import json,sys; e=json.loads(sys.argv[1]); assert e["type"]=="stats" and e["id"]=="r1"; d=e["data"]; assert d["pids"]["current"]>=1 and d["memory"]["usage"]["limit"]==134217728 and d["vmm"]["rss_bytes"]>0 and d["vmm"]["cpu_time_ns"]>0' "$s1"
inside 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done' >/dev/null
s2=$(vcb events --stats r1)
check "the container's CPU time grows when it works" \
  python3 -c 'import json,sys; a,b=(json.loads(x)["data"]["cpu"]["usage"]["total"] for x in sys.argv[1:3]); print("# cpu ns", a, "->", b); assert b>a' "$s1" "$s2"
note "stats: $s2"
# ---- stats: the table and JSON of `vcrun stats`, embedded form identical --------------
out=$(vcb stats --no-stream r1 2>&1)
check "stats --no-stream prints a table header and r1's row ($out)" \
  has "$(echo "$out" | head -1)" '^ID +CPU % +MEM USAGE / LIMIT +MEM % +NET IO +BLOCK IO +PIDS +VMM RSS +VMM CPU %'
check "... r1's row has memory, pids and a VMM RSS" has "$(echo "$out" | sed -n 2p)" '^r1 +[0-9.]+% +[0-9.]+[kMG]B / 134\.2MB +[0-9.]+% +[0-9.]+[kMG]?B / [0-9.]+[kMG]?B +[0-9.]+[kMG]?B / [0-9.]+[kMG]?B +[1-9][0-9]* +[0-9.]+[kMG]B +[0-9.]+%$'
inside 'end=$(($(busybox date +%s) + 8)); while [ $(busybox date +%s) -lt $end ]; do :; done' >/dev/null &
busy=$!
sleep 1
j=$(vcb stats --no-stream --format json --interval 2000 2>&1)
wait $busy
check "stats --format json while the container works: CPU % > 1, VMM CPU % > 1, pids >= 2" \
  python3 -c 'import json,sys; r=[x for x in json.loads(sys.argv[1]) if x["id"]=="r1"][0]; print("# stats", r); assert r["cpu_percent"]>1 and r["vmm_cpu_percent"]>1 and r["pids"]>=2 and r["vmm_rss_bytes"]>0 and r["memory_limit_bytes"]==134217728' "$j"
j=$(vcb stats --no-stream --format json --interval 1500 r1 2>&1)
check "... and CPU % falls back below 50 when it idles" \
  python3 -c 'import json,sys; r=json.loads(sys.argv[1])[0]; print("# idle", r["cpu_percent"]); assert r["cpu_percent"]<50' "$j"
err=$(vcb stats --no-stream nosuch 2>&1); st=$?
check "stats of an unknown container fails ($st: $err)" has "$st $err" "^125 .*nosuch"

out=$(gdbus call --address "$ADDR" --dest $NAME --object-path "$(container_path r1 r1)" --method $C.GetStats)
check "GetStats returns the figures over D-Bus" has "$out" "'vmm_rss_bytes': (uint64 )?[1-9]"

# ---- a second container's volume: hot-plugged, unplugged at delete ------------------
C2=$(vbus call $NAME "$SB" $S CreateContainer ss c2 "$TMP/writer" 2>&1)
check "a second container with an ext4 volume is created in the running sandbox ($C2)" has "$C2" '^o "'
C2=$(echo "$C2" | sed 's/^o "\(.*\)"$/\1/')
vbus call $NAME "$C2" $C Start >/dev/null 2>&1
st=$(vbus call $NAME "$C2" $C Wait 2>&1)
check "it writes to its volume and exits 0 ($st)" [ "$st" = "i 0" ]
err=$(timeout 300 "$VCRUN" --config "$CONF" --root "$TMP/other" run --bundle "$TMP/reader" other1 2>&1 </dev/null); rc=$?
check "meanwhile another sandbox cannot take the image (exit $rc)" has "$rc $err" "^125 .*lock"
vbus call $NAME "$C2" $C Delete b false >/dev/null 2>"$TMP/del.err"
check "the second container is deleted" [ $? -eq 0 ]
check "the first container is still running" [ "$(prop "$(container_path r1 r1)" Container State)" = running ]
out=$(timeout 300 "$VCRUN" --config "$CONF" --root "$TMP/other" run --bundle "$TMP/reader" other2 2>&1 </dev/null); rc=$?
check "after the delete the image is free: another sandbox reads what c2 wrote ($rc: $out)" \
  [ "$rc" -eq 0 ] && [ "$out" = second-container ]

# ---- the guest loads a module when a request first needs it ----------------------
# A VM booted without a block device loads only what its devices need (the
# shared file system's modules): virtio_blk and ext4 wait for the first
# volume, hot-plugged into the running sandbox.
SB2=$(sandbox_path r2)
out=$(vbus call $NAME $MANAGER org.vcrun.Runtime1.Manager CreateSandbox 'sa{sv}' r2 0 2>&1)
if [ "$out" = "o \"$SB2\"" ] && vbus call $NAME "$SB2" $S Start >> "$TMP/create.out" 2>&1 \
   && vbus call $NAME "$SB2" $S CreateContainer ss r2 "$TMP/sleeper" >> "$TMP/create.out" 2>&1 \
   && vbus call $NAME "$(container_path r2 r2)" $C Start >> "$TMP/create.out" 2>&1; then
  ok "a second sandbox without a volume runs a container"
else
  not_ok "a second sandbox without a volume runs a container: $out $(tail -3 "$TMP/create.out")"
fi
mods=$(vcb exec r2 cat /proc/modules 2>&1 | cut -d' ' -f1 | tr '\n' ' ')
check "its guest loaded the shared file system's modules ($mods)" has "$mods" '(^| )(virtiofs|9p) '
has "$mods" '(^| )(virtiofs|9p) ' && ! has "$mods" '(^| )(virtio_blk|ext4|overlay) '
check "... and neither virtio_blk, ext4 nor overlay, which no device or mount needs yet" [ $? -eq 0 ]
if grep -q 'fs = "fs-virtiofs"' "$CONF"; then
  has "$mods" '(^| )virtiofs ' && ! has "$mods" '(^| )9p '
  check "... nor 9p, which no device of this VM needs (fs-virtiofs)" [ $? -eq 0 ]
fi
C3=$(vbus call $NAME "$SB2" $S CreateContainer ss c3 "$TMP/writer" 2>&1)
check "a container with an ext4 volume is created in that sandbox ($C3)" has "$C3" '^o "'
C3=$(echo "$C3" | sed 's/^o "\(.*\)"$/\1/')
vbus call $NAME "$C3" $C Start >/dev/null 2>&1
st=$(vbus call $NAME "$C3" $C Wait 2>&1)
check "... its hot-plugged volume is mounted on demand and written ($st)" [ "$st" = "i 0" ]
mods=$(vcb exec r2 cat /proc/modules 2>&1 | cut -d' ' -f1 | tr '\n' ' ')
has "$mods" '(^| )virtio_blk ' && has "$mods" '(^| )ext4 '
check "... and the guest has loaded virtio_blk and ext4 for it" [ $? -eq 0 ]
vcb delete --force r2 >/dev/null 2>&1

vcb delete --force r1 >/dev/null 2>&1
no_qemu () { ! pgrep -f "qemu-system.*$TMP/state" >/dev/null; }
check "delete leaves no QEMU" wait_for 20 no_qemu
finish
