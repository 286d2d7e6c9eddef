#!/bin/bash
# Times `vcrun run` of a container running `true` against booting the same
# guest kernel and initrd with bare QEMU (same machine type, accelerator,
# CPUs, memory and kernel command line, virtio-serial agent port) until the
# guest agent's ready line appears on the console, then killing it. Prints
# each run, the medians and their ratio. A measurement, never pass/fail.
# usage: run-boot-bench.sh [-n RUNS] [BUILD_DIR]
set -uo pipefail

runs=5
while getopts n: opt; do
    case $opt in
        n) runs=$OPTARG ;;
        *) echo "usage: $0 [-n RUNS] [BUILD_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
builddir=$(cd "${1:-${VCRUN_TOP_BUILDDIR:-.}}" && pwd)
vcrun=$builddir/cli/vcrun
conf=${VCRUN_CONFIG:-$builddir/etc/vcrun-uninstalled.conf}
timeout_s=${VCRUN_BOOT_TIMEOUT:-180}

setting() { sed -n "s/^.*[ {;]$1 = \"\{0,1\}\([^\";]*\)\"\{0,1\};.*$/\1/p" "$conf" | head -1; }
kernel=$(setting kernel); initrd=$(setting initrd)
qemu=$(setting path); qemu=${qemu:-qemu-system-x86_64}
memory=$(setting memory_mib); memory=${memory:-256}
vcpus=$(setting vcpus); vcpus=${vcpus:-1}
for f in "$vcrun" "$conf" "$kernel" "$initrd"; do
    [ -e "$f" ] || { echo "bench: $f does not exist (build, then make guest)" >&2; exit 1; }
done
busybox=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || { echo "bench: needs a static busybox for the container's rootfs" >&2; exit 1; }
# What the hypervisor-qemu plugin does with accel = "auto": KVM when /dev/kvm
# is usable and QEMU runs a -cpu host vCPU with it (plugins/hypervisor-qemu/qemu-kvm-probe.c).
accel=tcg; cpu=max
if [ -w /dev/kvm ] && printf '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n' |
        timeout 10 "$qemu" -accel kvm -cpu host -machine q35 -nodefaults -no-user-config \
            -display none -S -qmp stdio >/dev/null 2>&1; then
    accel=kvm; cpu=host
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-bench.XXXXXX")
qemu_pid=
holder_pid=
cleanup() {
    [ -n "$qemu_pid" ] && { kill "$qemu_pid" $holder_pid 2>/dev/null; wait "$qemu_pid" 2>/dev/null; }
    for id in $("$vcrun" --config "$conf" --root "$tmp/state" list -q 2>/dev/null); do
        "$vcrun" --config "$conf" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

mkdir -p "$tmp/bundle/rootfs/bin" "$tmp/bundle/rootfs/proc"
cp "$busybox" "$tmp/bundle/rootfs/bin/busybox"
ln -s busybox "$tmp/bundle/rootfs/bin/true"
cat > "$tmp/bundle/config.json" <<'JSON'
{ "ociVersion": "1.0.2",
  "process": { "terminal": false, "user": { "uid": 0, "gid": 0 }, "args": [ "true" ],
               "env": [ "PATH=/bin" ], "cwd": "/" },
  "root": { "path": "rootfs" },
  "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" } ],
  "linux": { "namespaces": [ { "type": "pid" }, { "type": "mount" } ] } }
JSON

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

vcrun_once() {
    local t0 t1
    t0=$(now)
    if ! timeout -k 5 "$timeout_s" "$vcrun" --config "$conf" --root "$tmp/state" \
            run --bundle "$tmp/bundle" "bench-$1" </dev/null >/dev/null 2>"$tmp/vcrun.err"; then
        echo "bench: vcrun run failed: $(tail -1 "$tmp/vcrun.err")" >&2
        return 1
    fi
    t1=$(now)
    elapsed "$t0" "$t1"
}

# The plugin's command line (plugins/hypervisor-qemu/qemu-cmdline.c), without
# the QMP monitor and the shared filesystem.
append="console=ttyS0 panic=1 quiet reboot=k i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1 cryptomgr.notests tsc=reliable no_timer_check"
qemu_once() {
    local log=$tmp/console.log t0 t1 deadline
    rm -f "$log" "$tmp/agent.sock"
    t0=$(now)
    "$qemu" -nodefaults -no-user-config -display none -no-reboot \
        -machine q35,sata=off,smbus=off,vmport=off -accel "$accel" -cpu "$cpu" \
        -smp "$vcpus" -m "${memory}M" -kernel "$kernel" -initrd "$initrd" -append "$append" \
        -chardev "file,id=console,path=$log" -serial chardev:console \
        -device virtio-serial-pci,id=vc-serial,bus=pcie.0,addr=0x1 \
        -chardev "socket,id=agent,path=$tmp/agent.sock,server=on,wait=off" \
        -device virtserialport,bus=vc-serial.0,chardev=agent,name=agent.channel.0 \
        </dev/null >"$tmp/qemu.out" 2>&1 &
    qemu_pid=$!
    # The agent announces itself once a host holds the port open, as the
    # agent-kata plugin does: connect like it.
    python3 -c '
import socket, sys, time
while True:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
        break
    except OSError:
        s.close()
        time.sleep(0.02)
time.sleep(3600)' "$tmp/agent.sock" >/dev/null 2>&1 &
    holder_pid=$!
    deadline=$(( $(date +%s) + timeout_s ))
    while ! grep -q 'vcrun-agent: ready' "$log" 2>/dev/null; do
        if ! kill -0 "$qemu_pid" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            echo "bench: bare QEMU did not reach the agent's ready line: $(tail -2 "$tmp/qemu.out" "$log" 2>/dev/null)" >&2
            kill "$qemu_pid" "$holder_pid" 2>/dev/null; wait "$qemu_pid" "$holder_pid" 2>/dev/null; qemu_pid=
            return 1
        fi
        sleep 0.05
    done
    t1=$(now)
    kill "$qemu_pid" "$holder_pid" 2>/dev/null; wait "$qemu_pid" "$holder_pid" 2>/dev/null; qemu_pid=
    elapsed "$t0" "$t1"
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "vcrun boot benchmark: $runs runs each, accel=$accel, machine q35, ${vcpus} vCPU, ${memory} MiB"
echo "kernel $kernel"
echo "initrd $initrd"
printf '%-4s %-16s %-16s\n' run "vcrun run true" "bare QEMU"
: > "$tmp/vcrun.times"; : > "$tmp/qemu.times"
for i in $(seq 1 "$runs"); do
    # Interleaved, so that a change in the host's load hits both alike.
    a=$(vcrun_once "$i") && echo "$a" >> "$tmp/vcrun.times"
    b=$(qemu_once) && echo "$b" >> "$tmp/qemu.times"
    printf '%-4s %-16s %-16s\n' "$i" "${a:-failed}" "${b:-failed}"
done
mv=$(median < "$tmp/vcrun.times"); mq=$(median < "$tmp/qemu.times")
echo "median: vcrun run true ${mv} s, bare QEMU to agent ready ${mq} s"
awk -v a="$mv" -v b="$mq" 'BEGIN { if (b > 0) printf "ratio vcrun/bare QEMU: %.2f (overhead %.2f s)\n", a / b, a - b }'
