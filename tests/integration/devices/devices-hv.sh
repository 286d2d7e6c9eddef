#!/bin/bash
# devices-hv.sh libvirt|clh: the block-volume tests against another
# hypervisor that announces VC_HV_CAP_HOTPLUG_BLOCK (devices.sh and
# resources.sh cover hypervisor-qemu), two VM boots:
#  - embedded `vcrun run` with an ext4 image rw: the container writes a file,
#    found in the image after delete;
#  - through vcrund, a sandbox created with its first container's bundle
#    (CreateSandbox option bundle) reading the image ro: a write fails, the
#    image is unchanged; the volume is cold-plugged at boot where the
#    hypervisor announces VC_HV_CAP_COLD_PLUG_BLOCK (libvirt), else
#    hot-plugged (Cloud Hypervisor); deleting that container unplugs it;
#  - a second container (CreateContainer) gets the image rw hot-plugged,
#    writes to it, and deleting it unplugs it: the image holds its file.
# libvirt runs against a private libvirtd (tests/integration/libvirt/
# private-libvirtd.sh); clh against $VCRUN_CLH_BINARY (with KVM) or the
# stand-in tests/clh-standin/cloud-hypervisor (QEMU behind CLH's API).
HV=${1:?usage: devices-hv.sh libvirt|clh}
BUILD=${VCRUN_TOP_BUILDDIR:?run through make check}
SRC=${VCRUN_TOP_SRCDIR:?run through make check}
skip_now () { echo "1..0 # SKIP $*"; exit 0; }

[ -f "$BUILD/plugins/hypervisor-$HV/.libs/hypervisor-$HV.so" ] || skip_now "hypervisor-$HV is not built"
[ -f "$BUILD/plugins/device-block/.libs/device-block.so" ] || skip_now "device-block is not built"
[ -f "$BUILD/guest/vmlinuz" ] && [ -f "$BUILD/guest/initrd.img" ] || skip_now "no guest image: run 'make guest'"
for tool in mkfs.ext4 debugfs; do command -v $tool >/dev/null || skip_now "no $tool (e2fsprogs)"; done

case $HV in
libvirt)
  if [ -z "${VCRUN_LIBVIRT_URI:-}" ]; then
    "$SRC/tests/integration/libvirt/private-libvirtd.sh" "$0" "$@"
    rc=$?
    [ $rc -eq 77 ] && skip_now "no private libvirtd (libvirtd, virtlogd, unshare and root needed)"
    exit $rc
  fi
  HV_SETTINGS="uri = \"$VCRUN_LIBVIRT_URI\"; domain_type = \"qemu\";"
  ;;
clh)
  if [ -n "${VCRUN_CLH_BINARY:-}" ]; then
    [ -x "$VCRUN_CLH_BINARY" ] || skip_now "VCRUN_CLH_BINARY=$VCRUN_CLH_BINARY is not an executable"
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip_now "VCRUN_CLH_BINARY needs KVM, and /dev/kvm is not usable"
    clh=$VCRUN_CLH_BINARY
  else
    clh=$(cd "$SRC" && pwd)/tests/clh-standin/cloud-hypervisor
    doc=${CLH_STANDIN_OPENAPI:-$(cd "$SRC/.." && pwd)/shared/clh/cloud-hypervisor.yaml}
    [ -f "$doc" ] || skip_now "no cloud-hypervisor here (set VCRUN_CLH_BINARY), and the stand-in needs the OpenAPI document $doc, which is absent"
    python3 -c 'import yaml' 2>/dev/null || skip_now "the stand-in needs python3 with yaml (python3-yaml)"
    export CLH_STANDIN_OPENAPI="$doc"
  fi
  HV_SETTINGS="path = \"$clh\"; api_timeout_ms = 30000;"
  ;;
*) echo "devices-hv.sh: unknown hypervisor '$HV' (libvirt or clh)" >&2; exit 2 ;;
esac

. "$SRC/tests/integration/daemon/lib.sh"
BUSYBOX=$(command -v busybox || echo /bin/busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || skip_all "no static busybox"

CONF=$TMP/vcrun.conf
cat > "$CONF" <<EOF
runtime: { state_dir = "$TMP/state";
  plugin_dir = "$BUILD/plugins/hypervisor-$HV/.libs:$BUILD/plugins/agent-kata/.libs:$BUILD/plugins/fs-virtiofs/.libs:$BUILD/plugins/device-block/.libs"; };
plugins: (
  { name = "hypervisor-$HV"; settings = { $HV_SETTINGS }; },
  { name = "agent-kata"; settings = { dial_timeout_ms = 120000; }; },  # TCG on a busy host
  { name = "fs-virtiofs"; settings = { daemon = "${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}"; }; },
  { name = "device-block"; }
);
sandbox: { hypervisor = "hypervisor-$HV"; agent = "agent-kata"; fs = "fs-virtiofs";
           vcpus = 1; memory_mib = 256;
           kernel = "$BUILD/guest/vmlinuz"; initrd = "$BUILD/guest/initrd.img"; };
EOF
VCRUN="$BUILD/cli/vcrun"
vc () { timeout -k 5 300 "$VCRUN" --config "$CONF" --root "$TMP/state" "$@"; }
vbus () { busctl --address="$ADDR" --timeout=300 "$@"; }
S=org.vcrun.Runtime1.Sandbox
C=org.vcrun.Runtime1.Container
has () { printf '%s\n' "$1" | grep -Eq -- "$2"; }

make_bundle () {
  mkdir -p "$1/rootfs/bin" "$1/rootfs/proc" "$1/rootfs/dev" "$1/rootfs/tmp" "$1/rootfs/data"
  cp "$BUSYBOX" "$1/rootfs/bin/busybox"
  for a in sh echo cat sleep grep cut sync; do ln -sf busybox "$1/rootfs/bin/$a"; done
  cat > "$1/config.json" <<EOF
{ "ociVersion": "1.0.2", "root": { "path": "rootfs", "readonly": false },
  "process": { "args": $2, "cwd": "/", "env": ["PATH=/bin"], "user": { "uid": 0, "gid": 0 } },
  "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" },
              { "destination": "/data", "type": "ext4", "source": "$IMG", "options": ["$3"] } ] }
EOF
}
IMG=$TMP/vol.img
truncate -s 32M "$IMG" && mkfs.ext4 -q -F "$IMG" >/dev/null 2>&1 || skip_all "mkfs.ext4 failed"
make_bundle "$TMP/rw" '["sh", "-c", "echo via-'"$HV"' > /data/hello && sync && cat /data/hello && grep \" /data \" /proc/mounts | cut -d\" \" -f3"]' rw
# exit 0: the volume is readable and a write to it fails
make_bundle "$TMP/ro" '["sh", "-c", "grep -q via-'"$HV"' /data/hello || exit 4; if echo x > /data/new 2>/dev/null; then exit 3; fi"]' ro
make_bundle "$TMP/writer" '["sh", "-c", "echo second-container > /data/from-c2 && sync"]' rw

# ---- embedded run, rw ------------------------------------------------------------
out=$(vc run --bundle "$TMP/rw" rw1 2>"$TMP/rw1.err" </dev/null); rc=$?
check "hypervisor-$HV: run with an ext4 image rw exits 0 ($rc: $(tail -2 "$TMP/rw1.err" | tr '\n' ' '))" [ $rc -eq 0 ]
check "... the container writes and reads its volume, an ext4 mount ($(echo $out))" [ "$(echo $out)" = "via-$HV ext4" ]
check "... the file is in the image after delete" [ "$(debugfs -R 'cat /hello' "$IMG" 2>/dev/null)" = "via-$HV" ]
check "... and no state is left" [ -z "$(vc list -q 2>/dev/null)" ]

# ---- vcrund: the first container ro, cold-plugged where the hypervisor can ---------
start_bus
start_vcrund "$CONF" --root "$TMP/state" || { not_ok "vcrund starts"; finish; }
SB=$(sandbox_path d1)
sum=$(sha256sum < "$IMG")
out=$(vbus call $NAME $MANAGER org.vcrun.Runtime1.Manager CreateSandbox 'sa{sv}' d1 2 \
  bundle s "$TMP/ro" container s c0 2>&1)
if [ "$out" != "o \"$SB\"" ] || ! vbus call $NAME "$SB" $S Start >/dev/null 2>&1; then
  not_ok "hypervisor-$HV: a sandbox boots through vcrund with its first container's bundle: $out"
  sed 's/^/#   /' "$TMP/vcrund.log" | tail -20
  finish
fi
ok "hypervisor-$HV: a sandbox boots through vcrund with its first container's bundle"
C0=$(vbus call $NAME "$SB" $S CreateContainer ss c0 "$TMP/ro" 2>&1)
check "CreateContainer c0 with the image ro ($C0)" has "$C0" '^o "'
C0=$(echo "$C0" | sed 's/^o "\(.*\)"$/\1/')
# libvirt announces VC_HV_CAP_COLD_PLUG_BLOCK, Cloud Hypervisor does not
if [ "$HV" = libvirt ]; then
  check "c0's volume was cold-plugged at boot, not hot-plugged" \
    grep -q "container c0: 1 device(s) cold-plugged at boot" "$TMP/vcrund.log"
else
  check "c0's volume was hot-plugged (hypervisor-$HV gives a disk's address only once running)" \
    grep -q "container c0: mounts\[1\] .* hot-plugged" "$TMP/vcrund.log"
fi
vbus call $NAME "$C0" $C Start >/dev/null 2>&1
st=$(vbus call $NAME "$C0" $C Wait 2>&1)
check "c0 reads the ro volume and a write to it fails (exit 0, not 3 or 4: $st)" [ "$st" = "i 0" ]
vbus call $NAME "$C0" $C Delete b false >/dev/null 2>"$TMP/del0.err"; st=$?
check "deleting c0 unplugs its volume ($st: $(cat "$TMP/del0.err"))" [ $st -eq 0 ]
check "... the sandbox no longer lists the image" sh -c "! grep -q '$IMG' '$TMP/state/d1/sandbox.json'"
check "... the ro image is unchanged (sha256)" [ "$(sha256sum < "$IMG")" = "$sum" ]

# ---- vcrund: a second container's volume, hot-plugged and unplugged --------------------
C2=$(vbus call $NAME "$SB" $S CreateContainer ss c2 "$TMP/writer" 2>&1)
check "a second container with the image rw is created in the running sandbox ($C2)" has "$C2" '^o "'
C2=$(echo "$C2" | sed 's/^o "\(.*\)"$/\1/')
check "... its volume hot-plugged" grep -q "container c2: mounts\[1\] .* hot-plugged" "$TMP/vcrund.log"
vbus call $NAME "$C2" $C Start >/dev/null 2>&1
st=$(vbus call $NAME "$C2" $C Wait 2>&1)
check "it writes to its volume and exits 0 ($st)" [ "$st" = "i 0" ]
vbus call $NAME "$C2" $C Delete b false >/dev/null 2>"$TMP/del2.err"; st=$?
check "deleting it unplugs the volume ($st: $(cat "$TMP/del2.err"))" [ $st -eq 0 ]
check "... the sandbox no longer lists the image" sh -c "! grep -q '$IMG' '$TMP/state/d1/sandbox.json'"
check "... and the image holds what it wrote" [ "$(debugfs -R 'cat /from-c2' "$IMG" 2>/dev/null)" = second-container ]
vbus call $NAME "$SB" $S Delete b true >/dev/null 2>&1
check "the sandbox is deleted" [ ! -e "$TMP/state/d1" ]
finish
