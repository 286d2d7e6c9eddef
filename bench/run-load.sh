#!/bin/bash
# Load on vcrund (issue 18 part 7), printing p50/p99 latencies per step:
#   1. on the test-only fake plugins: CLIENTS (50) concurrent D-Bus clients,
#      each running CYCLES (4) whole lifecycles (tests/integration/daemon/
#      load.sh, which also checks that nothing is left and nothing leaked);
#   2. with real sandboxes (QEMU + the guest from `make guest`, under the
#      build tree's uninstalled configuration): VMS (8) concurrent clients,
#      each one lifecycle: boot, create, start, exec (echo), delete. After
#      it: no sandbox, QEMU, virtiofsd or state left, vcrund's fds as before.
# usage: run-load.sh [-c CLIENTS] [-n CYCLES] [-v VMS] [BUILD_DIR]
set -uo pipefail
clients=50 cycles=4 vms=8
while getopts c:n:v: opt; do
  case $opt in
    c) clients=$OPTARG ;; n) cycles=$OPTARG ;; v) vms=$OPTARG ;;
    *) echo "usage: $0 [-c CLIENTS] [-n CYCLES] [-v VMS] [BUILD_DIR]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-${VCRUN_TOP_BUILDDIR:-$src/_build}}" && pwd)
make -s -C "$build/tests/fake" all >/dev/null 2>&1
make -s -C "$build/tests/integration/daemon" vcd-load vcd-client >/dev/null || exit 1
export VCRUN_TOP_BUILDDIR=$build VCRUN_TOP_SRCDIR=$src
failed=0

echo "=== fake plugins: $clients clients x $cycles lifecycles"
VCD_LOAD_CLIENTS=$clients VCD_LOAD_CYCLES=$cycles bash "$src/tests/integration/daemon/load.sh" \
  | sed -e 's/^# //' | grep -v '^1\.\.' || failed=1
[ "${PIPESTATUS[0]}" -eq 0 ] || failed=1

echo
echo "=== real sandboxes: $vms concurrent VMs through vcrund"
conf=$build/etc/vcrun-uninstalled.conf
if [ ! -f "$build/guest/vmlinuz" ] || [ ! -x "$(command -v busybox)" ]; then
  echo "skipped: needs \`make guest\` and busybox"; exit $failed
fi
set +u  # lib.sh tests optional variables unset
. "$src/tests/integration/daemon/lib.sh"
trap 'cleanup; pkill -KILL -f -- "$TMP/state/" 2>/dev/null' EXIT
sed -e "s|^\( *state_dir = \).*|\1\"$TMP/state\";|" "$conf" > "$TMP/vcrun.conf"
mkdir -p "$TMP/b/rootfs/bin" "$TMP/b/rootfs/proc" "$TMP/b/rootfs/dev" "$TMP/b/rootfs/tmp"
cp "$(command -v busybox)" "$TMP/b/rootfs/bin/busybox"
for a in sh echo sleep; do ln -sf busybox "$TMP/b/rootfs/bin/$a"; done
cat > "$TMP/b/config.json" <<JSON
{ "ociVersion": "1.0.2", "root": { "path": "rootfs" }, "hostname": "load",
  "process": { "args": ["/bin/sleep", "1000"], "cwd": "/", "env": ["PATH=/bin"], "user": { "uid": 0, "gid": 0 } },
  "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" } ] }
JSON
start_bus
start_vcrund "$TMP/vcrun.conf" || exit 1
fds0=$(ls /proc/$VCRUND_PID/fd | wc -l)
VCD_LOAD_PREFIX=vm VCD_LOAD_BOOT_TIMEOUT_MS=900000 VCD_LOAD_CALL_TIMEOUT_MS=1200000 \
  "$BUILD/tests/integration/daemon/vcd-load" "$ADDR" "$vms" 1 "$TMP/b" \
  '{"args":["/bin/echo","exec","ok"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}' "exec ok" \
  || failed=1
sleep 1
out=$(gcall $MANAGER org.vcrun.Runtime1.Manager.ListSandboxes)
left=$(ls -A "$TMP/state" 2>/dev/null | wc -l)
procs=$(pgrep -f -- "$TMP/state/" | wc -l)
fds1=$(ls /proc/$VCRUND_PID/fd | wc -l)
echo "afterwards: ListSandboxes $out, $left state entries, $procs QEMU/virtiofsd processes, vcrund fds $fds0 -> $fds1"
[ "$out" = "(@ao [],)" ] && [ "$left" -eq 0 ] && [ "$procs" -eq 0 ] && [ "$fds1" -le $((fds0 + 2)) ] || failed=1
stop_vcrund TERM
[ "$failed" -eq 0 ] && echo "load: no error, nothing left" || echo "load: FAILED"
exit $failed
