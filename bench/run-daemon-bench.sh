#!/bin/bash
# What going through vcrund costs, on the test-only fake plugins (no VM, so
# that only the runtime's own work is timed), on a private dbus-daemon:
#   - D-Bus round trips (vcd-client bench): the dbus-daemon's own GetId as
#     the floor, vcrund's Peer.Ping, a property read (Manager.Version,
#     Sandbox.State) and a no-op method (ListSandboxes), with their medians'
#     ratio against the floor;
#   - whole commands: `vcrun state` and `vcrun run` of a process that exits
#     at once, embedded against --bus, medians and ratio.
# A measurement, never pass/fail.
# usage: run-daemon-bench.sh [-n RUNS] [BUILD_DIR]
set -uo pipefail

runs=20
while getopts n: opt; do
    case $opt in
        n) runs=$OPTARG ;;
        *) echo "usage: $0 [-n RUNS] [BUILD_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
builddir=$(cd "${1:-${VCRUN_TOP_BUILDDIR:-.}}" && pwd)
vcrun=$builddir/cli/vcrun
vcrund=$builddir/daemon/vcrund
client=$builddir/tests/integration/daemon/vcd-client
fakes=$builddir/tests/fake/.libs
# The fake plugins and the client are test programs: build them if need be.
[ -f "$fakes/fake-agent.so" ] || make -s -C "$builddir/tests/fake" check >/dev/null 2>&1 \
    || make -s -C "$builddir/tests/fake" all >/dev/null
[ -x "$client" ] || make -s -C "$builddir/tests/integration/daemon" vcd-client >/dev/null
for f in "$vcrun" "$vcrund" "$client" "$fakes/fake-agent.so"; do
    [ -e "$f" ] || { echo "bench: $f does not exist (build with --enable-daemon)" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/vcrun-daemon-bench.XXXXXX)
bus_pid= vcrund_pid=
cleanup() {
    [ -n "$vcrund_pid" ] && kill "$vcrund_pid" 2>/dev/null
    "$vcrun" --config "$tmp/vcrun.conf" --root "$tmp/embedded" delete --force st >/dev/null 2>&1
    [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/vcrun.conf" <<EOF
runtime: { state_dir = "$tmp/unused"; plugin_dir = "$fakes"; };
plugins: ( { name = "fake-hypervisor"; }, { name = "fake-agent"; }, { name = "fake-fs"; } );
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
EOF
for b in true sleep; do
    mkdir -p "$tmp/$b/rootfs"
    args='["exit", "0"]'; [ $b = sleep ] && args='["sleep", "1000"]'
    echo "{ \"ociVersion\": \"1.0.2\", \"process\": { \"args\": $args, \"cwd\": \"/\" }, \"root\": { \"path\": \"rootfs\" } }" \
        > "$tmp/$b/config.json"
done
cat > "$tmp/bus.conf" <<EOF
<busconfig>
  <type>session</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
bus_pid=$(dbus-daemon --config-file="$tmp/bus.conf" --fork --print-pid) || exit 1
export DBUS_SESSION_BUS_ADDRESS=unix:path=$tmp/bus
"$vcrund" --address "$DBUS_SESSION_BUS_ADDRESS" --config "$tmp/vcrun.conf" --root "$tmp/daemon" \
    > "$tmp/vcrund.log" 2>&1 &
vcrund_pid=$!
up=
for _ in $(seq 100); do
    timeout 2 busctl --address="$DBUS_SESSION_BUS_ADDRESS" status org.vcrun.Runtime1 >/dev/null 2>&1 \
        && { up=1; break; }
    kill -0 "$vcrund_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$up" ] || { echo "bench: vcrund did not come up:" >&2; cat "$tmp/vcrund.log" >&2; exit 1; }

echo "vcrund bench: fake plugins, $(nproc) CPUs, $(uname -r)"
"$vcrun" --bus=session run -d --bundle "$tmp/sleep" st >/dev/null || exit 1
"$vcrun" --config "$tmp/vcrun.conf" --root "$tmp/embedded" run -d --bundle "$tmp/sleep" st \
    >/dev/null 2>"$tmp/supervisor.err" || exit 1

echo "-- D-Bus round trips, $((runs * 50)) each (microseconds)"
"$client" "$DBUS_SESSION_BUS_ADDRESS" bench $((runs * 50)) /org/vcrun/Runtime1/sandbox/st > "$tmp/rtt" || exit 1
python3 - "$tmp/rtt" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
p50 = {r[0]: int(r[4]) for r in rows}
floor = p50["bus_get_id"]
for r in rows:
    print("%-18s median %6d  mean %6d  max %6d  x%.2f of the dbus-daemon's own GetId"
          % (r[0], int(r[4]), int(r[2]), int(r[6]), int(r[4]) / max(floor, 1)))
PY

# time_cmd NAME CMD...: the median wall time of RUNS runs, in ms.
time_cmd() {
    local name=$1; shift
    python3 - "$runs" "$@" <<'PY'
import statistics, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
t = []
for _ in range(runs):
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.append((time.monotonic() - t0) * 1000)
    if r.returncode != 0:
        sys.exit("bench: %s exited %d" % (" ".join(cmd), r.returncode))
print("%.1f" % statistics.median(t))
PY
}
echo "-- whole commands, $runs runs each (median ms)"
emb_state=$(time_cmd state "$vcrun" --config "$tmp/vcrun.conf" --root "$tmp/embedded" state st) || exit 1
bus_state=$(time_cmd state "$vcrun" --bus=session state st) || exit 1
emb_run=$(time_cmd run bash -c "exec '$vcrun' --config '$tmp/vcrun.conf' --root '$tmp/embedded' run --bundle '$tmp/true' r\$RANDOM\$RANDOM") || exit 1
bus_run=$(time_cmd run bash -c "exec '$vcrun' --bus=session run --bundle '$tmp/true' r\$RANDOM\$RANDOM") || exit 1
python3 - "$emb_state" "$bus_state" "$emb_run" "$bus_run" <<'PY'
import sys
es, bs, er, br = map(float, sys.argv[1:])
print("vcrun state   embedded %7.1f  --bus %7.1f  ratio x%.2f" % (es, bs, bs / es))
print("vcrun run     embedded %7.1f  --bus %7.1f  ratio x%.2f" % (er, br, br / er))
PY
