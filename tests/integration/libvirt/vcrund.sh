#!/bin/bash
# vcrund over hypervisor-libvirt, on a private dbus-daemon and a private
# libvirtd (private-libvirtd.sh): a sandbox booted through the bus is a
# libvirt domain (virsh list) whose VmmPid is its QEMU; a container's output
# and exit status; Pause and Resume seen by libvirt; vcrund SIGKILLed and
# restarted reattaches to the domain (same QEMU) and still controls it; Stop
# leaves no domain and no QEMU.
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${VCRUN_TOP_BUILDDIR:?run through make check}
[ -f "$BUILD/plugins/hypervisor-libvirt/.libs/hypervisor-libvirt.so" ] \
  || { echo "1..0 # SKIP plugin hypervisor-libvirt is not built"; exit 0; }
[ -f "$BUILD/guest/vmlinuz" ] && [ -f "$BUILD/guest/initrd.img" ] \
  || { echo "1..0 # SKIP no guest image: run 'make guest' first"; exit 0; }
if [ -z "${VCRUN_LIBVIRT_URI:-}" ]; then
  "$here/private-libvirtd.sh" "$0" "$@"
  rc=$?
  [ $rc -eq 77 ] && { echo "1..0 # SKIP no private libvirtd (libvirtd, virtlogd, unshare and root needed)"; exit 0; }
  exit $rc
fi

. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"
BUSYBOX=$(command -v busybox || echo /bin/busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' \
  || skip_all "no static busybox on this host for the container's rootfs"
VIRSH="virsh -q -c $VCRUN_LIBVIRT_URI"
M=org.vcrun.Runtime1.Manager
S=org.vcrun.Runtime1.Sandbox
C=org.vcrun.Runtime1.Container
vbus () { busctl --address="$ADDR" --timeout=300 "$@"; }

CONF=$TMP/vcrun.conf
cat > "$CONF" <<CONF
runtime: { state_dir = "$TMP/state";
  plugin_dir = "$BUILD/plugins/hypervisor-libvirt/.libs:$BUILD/plugins/agent-kata/.libs:$BUILD/plugins/fs-virtiofs/.libs"; };
plugins: (
  { name = "hypervisor-libvirt"; settings = { uri = "$VCRUN_LIBVIRT_URI"; domain_type = "qemu"; }; },
  { name = "agent-kata"; },
  { name = "fs-virtiofs"; }
);
sandbox: { hypervisor = "hypervisor-libvirt"; agent = "agent-kata"; fs = "fs-virtiofs";
           vcpus = 1; memory_mib = 256;
           kernel = "$BUILD/guest/vmlinuz"; initrd = "$BUILD/guest/initrd.img"; };
CONF

make_bundle () {
  mkdir -p "$1/rootfs/bin" "$1/rootfs/proc" "$1/rootfs/dev" "$1/rootfs/tmp"
  cp "$BUSYBOX" "$1/rootfs/bin/busybox"
  for a in sh echo sleep uname; do ln -sf busybox "$1/rootfs/bin/$a"; done
  cat > "$1/config.json" <<JSON
{ "ociVersion": "1.0.2", "root": { "path": "rootfs", "readonly": false },
  "process": { "args": $2, "cwd": "/", "env": ["PATH=/bin"], "user": { "uid": 0, "gid": 0 } },
  "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" } ] }
JSON
}
make_bundle "$TMP/hello" '["/bin/sh", "-c", "echo hello from $(uname -r); exit 3"]'
make_bundle "$TMP/sleeper" '["/bin/sleep", "1000"]'

start_bus
start_vcrund "$CONF" --root "$TMP/state" || { not_ok "vcrund starts"; finish; }
ok "vcrund serves with hypervisor-libvirt"

SB=$(sandbox_path vm1)
if ! vbus call $NAME $MANAGER $M CreateSandbox 'sa{sv}' vm1 0 > "$TMP/create.out" 2>&1; then
  not_ok "CreateSandbox boots a libvirt domain: $(cat "$TMP/create.out")"
  sed 's/^/#   /' "$TMP/vcrund.log" | tail -30
  finish
fi
ok "CreateSandbox boots a libvirt domain"
[ "$($VIRSH domstate vcrun-vm1 2>&1)" = running ] && ok "virsh list shows vcrun-vm1 running" \
  || not_ok "virsh domstate vcrun-vm1: $($VIRSH domstate vcrun-vm1 2>&1)"
uuid=$($VIRSH domuuid vcrun-vm1)
vmm=$(prop "$SB" Sandbox VmmPid)
tr '\0' ' ' < "/proc/$vmm/cmdline" 2>/dev/null | grep -q -- "-uuid $uuid" \
  && ok "VmmPid $vmm is the domain's QEMU (get_pids)" || not_ok "VmmPid $vmm is not the QEMU of $uuid"
vbus call $NAME "$SB" $S Start && [ "$(prop "$SB" Sandbox State)" = running ] \
  && ok "Start: running" || not_ok "sandbox Start"

C1=$(container_path vm1 c1)
vbus call $NAME "$SB" $S CreateContainer ss c1 "$TMP/hello" > "$TMP/out" \
  && ok "CreateContainer" || not_ok "CreateContainer: $(cat "$TMP/out")"
"$CLIENT" "$ADDR" attach "$C1" > "$TMP/c1.out" 2> "$TMP/c1.err" &
attach_pid=$!
vbus call $NAME "$C1" $C Start || not_ok "container Start"
out=$(vbus call $NAME "$C1" $C Wait)
[ "$out" = "i 3" ] && ok "Wait returns the exit status 3" || not_ok "Wait: $out"
wait $attach_pid
grep -q "^hello from [0-9]" "$TMP/c1.out" && ok "stdout: $(cat "$TMP/c1.out")" || not_ok "stdout: '$(cat "$TMP/c1.out")'"

C2=$(container_path vm1 c2)
vbus call $NAME "$SB" $S CreateContainer ss c2 "$TMP/sleeper" >/dev/null && vbus call $NAME "$C2" $C Start \
  && ok "a long-running container" || not_ok "c2"
vbus call $NAME "$SB" $S Pause && [ "$($VIRSH domstate vcrun-vm1)" = paused ] \
  && ok "Pause: libvirt shows the domain paused" || not_ok "Pause: $($VIRSH domstate vcrun-vm1 2>&1)"
vbus call $NAME "$SB" $S Resume && [ "$($VIRSH domstate vcrun-vm1)" = running ] \
  && ok "Resume: running again" || not_ok "Resume: $($VIRSH domstate vcrun-vm1 2>&1)"

stop_vcrund KILL
[ "$($VIRSH domstate vcrun-vm1 2>&1)" = running ] && ok "vcrund SIGKILLed: the domain still runs" \
  || not_ok "the domain died with vcrund"
start_vcrund "$CONF" --root "$TMP/state" || not_ok "vcrund restarts"
[ "$(prop "$SB" Sandbox State)" = running ] && [ "$(prop "$C2" Container State)" = running ] \
  && ok "restarted vcrund reattaches: vm1 and c2 running" \
  || not_ok "after restart: $(prop "$SB" Sandbox State) $(prop "$C2" Container State)"
[ "$($VIRSH domuuid vcrun-vm1)" = "$uuid" ] && kill -0 "$vmm" 2>/dev/null \
  && ok "... the same domain and QEMU" || not_ok "the domain changed"
out=$("$CLIENT" "$ADDR" exec "$C2" e1 '{"args":["/bin/echo","after-restart"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}'); st=$?
[ $st -eq 0 ] && [ "$out" = after-restart ] && ok "Exec after the restart" || not_ok "Exec after restart: $st '$out'"

vbus call $NAME "$C2" $C Kill ib 9 false && vbus call $NAME "$C2" $C Wait >/dev/null
vbus call $NAME "$C1" $C Delete b false && vbus call $NAME "$C2" $C Delete b false \
  && ok "containers deleted" || not_ok "container Delete"
vbus call $NAME "$SB" $S Stop && [ "$(prop "$SB" Sandbox State)" = stopped ] && ok "Stop: stopped" || not_ok "Stop"
wait_for 15 sh -c "! $VIRSH domstate vcrun-vm1 >/dev/null 2>&1" && ok "no domain left" \
  || not_ok "domain left: $($VIRSH list --all)"
wait_for 10 sh -c "! kill -0 $vmm 2>/dev/null" && ok "QEMU is gone" || not_ok "QEMU $vmm still runs"
stop_vcrund TERM
finish
