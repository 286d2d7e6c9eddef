#!/bin/bash
# Stdio throughput against real QEMU (the build tree's configuration and
# guest image, fs-virtiofs): 64 MiB through stdout and through stdin, for
# embedded run and exec and for vcrun --bus run and exec, next to the rate of
# a pipe inside the same guest (dd | cat, timed in the guest), measured in
# the same runs, interleaved. Prints the medians and each path's ratio to
# the in-guest pipe.
#   stdout: from the first byte to end of file, timed by the host's reader;
#   stdin:  from the first byte to end of file, timed by the guest's reader
#           (/proc/uptime: 10 ms steps).
# The container's process (stdio-bench): reads stdin to its end, reporting
# the time on stderr, then writes 64 MiB of zeros (dd bs=1M) to stdout.
# A measurement, never pass/fail.
# usage: run-stdio-bench.sh [-n RUNS] [-p PATHS] [-c] [BUILD_DIR]
#   PATHS: a comma-separated subset of run,exec,bus-run,bus-exec (default all)
#   -c: the run paths boot cold (sandbox.template = false) instead of being
#       restored from a template (the configuration's default)
set -uo pipefail

runs=3
paths=run,exec,bus-run,bus-exec
cold=
while getopts n:p:c opt; do
    case $opt in
        n) runs=$OPTARG ;;
        p) paths=$OPTARG ;;
        c) cold=1 ;;
        *) echo "usage: $0 [-n RUNS] [-p PATHS] [-c] [BUILD_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
BUILD=$(cd "${1:-${VCRUN_TOP_BUILDDIR:-.}}" && pwd)
srcdir=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/vcrun-stdio-bench.XXXXXX)
. "$srcdir/tests/integration/stdio/lib.sh"
[ -x "$CLIENT" ] || make -s -C "$BUILD/tests/integration/daemon" vcd-client >/dev/null 2>&1

cleanup() { stop_all; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

missing=$(stdio_missing)
[ -z "$missing" ] || { echo "bench: $missing" >&2; exit 1; }
want() { [[ ",$paths," == *",$1,"* ]]; }
if want bus-run || want bus-exec; then
    missing=$(bus_missing)
    [ -z "$missing" ] || { echo "bench: $missing" >&2; exit 1; }
fi
stdio_config fs-virtiofs || { echo "bench: cannot make a configuration" >&2; exit 1; }
if [ -n "$cold" ]; then
    sed -i 's/^\( *fs = "fs-virtiofs";\)$/\1\n  template = false;/' "$WORK/fs-virtiofs.conf"
    grep -q 'template = false;' "$WORK/fs-virtiofs.conf" || { echo "bench: cannot turn templates off" >&2; exit 1; }
fi
BLOB_MIB=1 stdio_rootfs
# The guest's clock in centiseconds (busybox date has no %N).
cat > "$WORK/rootfs/bin/cs" <<'EOF'
#!/bin/sh
read u _ < /proc/uptime
echo "${u%.*}${u#*.}"
EOF
cat > "$WORK/rootfs/bin/stdio-bench" <<'EOF'
#!/bin/sh
dd bs=1 count=1 of=/dev/null 2>/dev/null
s=$(cs)
cat > /dev/null
e=$(cs)
echo "stdin-cs $((e - s))" >&2
dd if=/dev/zero bs=1M count=64 2>/dev/null
EOF
chmod 755 "$WORK/rootfs/bin/cs"
chmod 755 "$WORK/rootfs/bin/stdio-bench"
stdio_bundle "$WORK/b-sleep" '["sleep", "100000"]'
stdio_bundle "$WORK/b-bench" '["/bin/stdio-bench"]'
MIB=64

# Reads stdin to its end; prints the MiB/s from the first byte to the end
# (with a "!" when fewer than 64 MiB came).
reader() {
    python3 -c '
import os, sys, time
fd = sys.stdin.fileno(); total = 0; first = None
while True:
    b = os.read(fd, 1 << 20)
    if not b:
        break
    if first is None:
        first = time.monotonic()
    total += len(b)
end = time.monotonic()
# A "!" marks a transfer that lost bytes.
print("%.2f%s" % (total / 1048576.0 / (end - first), "" if total == 64 << 20 else "!")
      if first and end > first else "0!")
'
}

# stdin's rate from the guest's "stdin-cs N" line (64 MiB less one byte).
stdin_rate() {
    awk -v mib=$MIB '/^stdin-cs / && $2 > 0 { printf "%.2f\n", mib * 100 / $2; found = 1 }
                     END { if (!found) print "0!" }' "$1"
}

# Waits (up to 60 s) until no process of ours names DIR: a run's VM is
# torn down after the run returns, and would slow the next measurement.
settle() {
    local i
    for i in $(seq 120); do
        pgrep -f -- "$1" >/dev/null || return 0
        sleep 0.5
    done
}

# One measurement of a path: "STDOUT_RATE STDIN_RATE".
measure() {
    local path=$1 i=$2 out in
    case $path in
        run)      head -c $((MIB << 20)) /dev/zero | vc_with fs-virtiofs run --bundle "$WORK/b-bench" "br$i" 2>"$WORK/err" | reader > "$WORK/out" ;;
        exec)     head -c $((MIB << 20)) /dev/zero | vc_with fs-virtiofs exec se /bin/stdio-bench 2>"$WORK/err" | reader > "$WORK/out" ;;
        bus-run)  head -c $((MIB << 20)) /dev/zero | vcb run --bundle "$WORK/b-bench" "bb$i" 2>"$WORK/err" | reader > "$WORK/out" ;;
        bus-exec) head -c $((MIB << 20)) /dev/zero | vcb exec sb /bin/stdio-bench 2>"$WORK/err" | reader > "$WORK/out" ;;
    esac
    case $path in
        run)     settle "$WORK/state/br$i/" ;;
        bus-run) settle "$WORK/bus-state/bb$i/" ;;
    esac
    echo "$(cat "$WORK/out") $(stdin_rate "$WORK/err")"
}

# The in-guest pipe's MiB/s, timed in the guest.
guest_pipe() {
    vc_with fs-virtiofs exec se sh -c 's=$(cs); dd if=/dev/zero bs=1M count=64 2>/dev/null | cat > /dev/null; e=$(cs); echo $((e - s))' \
        | awk -v mib=$MIB '$1 > 0 { printf "%.2f\n", mib * 100 / $1 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "stdio bench: $MIB MiB per transfer, $runs runs, guest $(basename "$(sed -n 's/^ *kernel = "\(.*\)";/\1/p' "$BASE_CONF")") under $(grep -o 'accel = "[a-z]*"' "$BASE_CONF" | head -1), sandboxes $([ -n "$cold" ] && echo "booted cold" || echo "from a template when one fits"), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
vc_with fs-virtiofs run -d --bundle "$WORK/b-sleep" se </dev/null >/dev/null 2>"$WORK/se.err" \
    || { echo "bench: the container does not boot: $(tail -3 "$WORK/se.err")" >&2; exit 1; }
if want bus-run || want bus-exec; then
    start_bus_vcrund fs-virtiofs || { echo "bench: vcrund does not start" >&2; exit 1; }
    if want bus-exec; then
        vcb run -d --bundle "$WORK/b-sleep" sb </dev/null >/dev/null 2>"$WORK/sb.err" \
            || { echo "bench: the container does not boot under vcrund: $(tail -3 "$WORK/sb.err")" >&2; exit 1; }
    fi
fi

declare -A results
for i in $(seq "$runs"); do
    for path in ${paths//,/ }; do
        g=$(guest_pipe)
        results[pipe]+="$g "
        read -r o s <<< "$(measure "$path" "$i")"
        results[$path-out]+="$o "
        results[$path-in]+="$s "
        echo "  run $i $path: stdout $o MiB/s, stdin $s MiB/s (in-guest pipe just before: $g MiB/s)"
    done
done

pipe=$(tr ' ' '\n' <<< "${results[pipe]}" | grep -E '^[0-9.]+$' | median)
echo
printf '%-26s %12s %7s %12s %7s\n' "path (medians)" "stdout MiB/s" ratio "stdin MiB/s" ratio
printf '%-26s %12s %7s %12s %7s\n' "in-guest pipe (dd | cat)" "$pipe" 1.00 "$pipe" 1.00
for path in ${paths//,/ }; do
    o=$(tr ' ' '\n' <<< "${results[$path-out]}" | grep -E '^[0-9.]+!?$' | tr -d '!' | median)
    s=$(tr ' ' '\n' <<< "${results[$path-in]}" | grep -E '^[0-9.]+!?$' | tr -d '!' | median)
    lost=$(tr ' ' '\n' <<< "${results[$path-out]} ${results[$path-in]}" | grep -c '!')
    ro=$(awk -v a="$o" -v b="$pipe" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
    rs=$(awk -v a="$s" -v b="$pipe" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-26s %12s %7s %12s %7s%s\n' "$path" "$o" "$ro" "$s" "$rs" \
        "$([ "$lost" -gt 0 ] && echo "   ($lost transfers lost bytes)")"
done
