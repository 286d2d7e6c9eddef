#!/bin/bash
# Prints how long the guest image takes from QEMU's start to the agent's
# "vcrun-agent: ready" line on the console, per machine type, under TCG unless
# told otherwise. A measurement, never pass/fail.
# usage: boot-time.sh [-n RUNS] [-a ACCEL] [-c 'MACHINE|DEVICE|KERNEL ARGS']... [GUEST_DIR]
#   GUEST_DIR holds vmlinuz and initrd.img; each -c adds a configuration to try:
#   a -M value, the virtio-serial bus device and extra kernel arguments.
# Under TCG a microvm has no HPET or ACPI PM timer, so the kernel calibrates the
# TSC against the PIT, which fails or hangs when the host is busy;
# tsc_early_khz= (the host's TSC rate, which TCG passes through) skips that.
set -uo pipefail

runs=3
accel=tcg
configs=()
while getopts n:a:c: opt; do
    case $opt in
        n) runs=$OPTARG ;;
        a) accel=$OPTARG ;;
        c) configs+=("$OPTARG") ;;
        *) echo "usage: $0 [-n RUNS] [-a ACCEL] [GUEST_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
dir=${1:-.}
qemu=${QEMU_SYSTEM:-qemu-system-x86_64}
timeout_s=${VCRUN_BOOT_TIMEOUT:-90}
for f in vmlinuz initrd.img; do
    [ -f "$dir/$f" ] || { echo "boot-time: $dir/$f does not exist (run make guest)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-boot-time.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# CPU seconds QEMU has used so far (user + system), from /proc.
qemu_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$1/stat"
}

# One boot: prints "WALL/CPU" seconds to the ready line, or "timeout". The CPU
# time is QEMU's own and tells the work apart from waiting for a busy host.
boot_once() { # MACHINE SERIAL-BUS-DEVICE APPEND
    local log=$tmp/console.log t0 now cpu deadline
    rm -f "$log"
    t0=$(date +%s.%N)
    deadline=$(( $(date +%s) + timeout_s ))
    "$qemu" -accel "$accel" -nodefaults -no-user-config -nographic \
        -monitor none -M "$1" -m 256 -no-reboot \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" -append "console=ttyS0 panic=-1 $3" \
        -serial "file:$log" -device "$2" \
        -chardev "socket,id=agent,path=$tmp/agent.sock,server=on,wait=off" \
        -device virtserialport,chardev=agent,name=agent.channel.0 \
        </dev/null >"$tmp/qemu.out" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
        if grep -q 'vcrun-agent: ready' "$log" 2>/dev/null; then
            now=$(date +%s.%N)
            cpu=$(qemu_cpu "$pid")
            kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
            awk -v a="$t0" -v b="$now" -v c="$cpu" 'BEGIN { printf "%.1f/%s\n", b - a, c }'
            return
        fi
        sleep 0.05
    done
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
    echo timeout
}

if [ ${#configs[@]} = 0 ]; then
    tsc_khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
    configs=("q35|virtio-serial-pci|" "q35|virtio-serial-pci|quiet"
             "microvm,rtc=on|virtio-serial-device|"
             "microvm,rtc=on|virtio-serial-device|tsc_early_khz=$tsc_khz"
             "microvm,rtc=on|virtio-serial-device|tsc_early_khz=$tsc_khz quiet")
fi
printf '%-60s %-9s %s\n' "machine (kernel args)" median "runs (wall/QEMU CPU s)"
for config in "${configs[@]}"; do
    IFS='|' read -r machine bus append <<<"$config"
    times=()
    for _ in $(seq "$runs"); do times+=("$(boot_once "$machine" "$bus" "$append")"); done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    printf '%-60s %-9s %s\n' "$machine${append:+ ($append)}" "$median" "${times[*]}"
done
