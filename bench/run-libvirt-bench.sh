#!/bin/bash
# Times `vcrun run` of a container running `true` under hypervisor-libvirt
# against hypervisor-qemu, in the same run, interleaved, with the same guest,
# agent, fs plugin (fs-virtiofs: libvirt runs virtiofsd for the first, the
# plugin for the second), CPUs, memory and TCG: the ratio is the cost of going
# through libvirt. libvirtd is a private one (tests/integration/libvirt/
# private-libvirtd.sh), unless VCRUN_LIBVIRT_URI names one already running.
# Prints each run, the medians and their ratio. A measurement, never pass/fail.
# usage: run-libvirt-bench.sh [-n RUNS] [BUILD_DIR]
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
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VCRUN_LIBVIRT_URI:-}" ]; then
    exec "$here/../tests/integration/libvirt/private-libvirtd.sh" "$0" -n "$runs" "$builddir"
fi

vcrun=$builddir/cli/vcrun
kernel=$builddir/guest/vmlinuz
initrd=$builddir/guest/initrd.img
timeout_s=${VCRUN_BOOT_TIMEOUT:-180}
for f in "$vcrun" "$kernel" "$initrd" "$builddir/plugins/hypervisor-libvirt/.libs/hypervisor-libvirt.so"; do
    [ -e "$f" ] || { echo "bench: $f does not exist (build with libvirt-dev, then make guest)" >&2; exit 1; }
done
busybox=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || { echo "bench: needs a static busybox for the container's rootfs" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-lvbench.XXXXXX")
cleanup() {
    for c in libvirt qemu; do
        for id in $("$vcrun" --config "$tmp/$c.conf" --root "$tmp/state" list -q 2>/dev/null); do
            "$vcrun" --config "$tmp/$c.conf" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1
        done
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# write_conf NAME HYPERVISOR SETTINGS
write_conf() {
    local b=$builddir
    cat > "$tmp/$1.conf" <<CONF
runtime: { state_dir = "$tmp/state";
  plugin_dir = "$b/plugins/$2/.libs:$b/plugins/agent-kata/.libs:$b/plugins/fs-virtiofs/.libs"; };
plugins: ( { name = "$2"; settings = { $3 }; }, { name = "agent-kata"; }, { name = "fs-virtiofs"; } );
sandbox: { hypervisor = "$2"; agent = "agent-kata"; fs = "fs-virtiofs"; vcpus = 1; memory_mib = 256;
           kernel = "$kernel"; initrd = "$initrd"; };
CONF
}
write_conf libvirt hypervisor-libvirt "uri = \"$VCRUN_LIBVIRT_URI\"; domain_type = \"qemu\";"
write_conf qemu hypervisor-qemu "path = \"${QEMU_SYSTEM:-/usr/bin/qemu-system-x86_64}\"; accel = \"tcg\";"

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
run_once() {   # run_once CONF ID
    local t0 t1
    t0=$(now)
    if ! timeout -k 5 "$timeout_s" "$vcrun" --config "$tmp/$1.conf" --root "$tmp/state" \
            run --bundle "$tmp/bundle" "$2" </dev/null >/dev/null 2>"$tmp/$1.err"; then
        echo "bench: vcrun run ($1) failed: $(tail -1 "$tmp/$1.err")" >&2
        return 1
    fi
    t1=$(now)
    elapsed "$t0" "$t1"
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "libvirt benchmark: vcrun run true, $runs runs each, TCG, 1 vCPU, 256 MiB, fs-virtiofs"
echo "libvirt: $VCRUN_LIBVIRT_URI ($(virsh -c "$VCRUN_LIBVIRT_URI" version 2>/dev/null | sed -n 's/^Using library: //p'))"
printf '%-4s %-20s %-20s\n' run "hypervisor-libvirt" "hypervisor-qemu"
: > "$tmp/libvirt.times"; : > "$tmp/qemu.times"
for i in $(seq 1 "$runs"); do
    # Interleaved, so that a change in the host's load hits both alike.
    a=$(run_once libvirt "lv-$i") && echo "$a" >> "$tmp/libvirt.times"
    b=$(run_once qemu "qm-$i") && echo "$b" >> "$tmp/qemu.times"
    printf '%-4s %-20s %-20s\n' "$i" "${a:-failed}" "${b:-failed}"
done
ml=$(median < "$tmp/libvirt.times"); mq=$(median < "$tmp/qemu.times")
echo "median: hypervisor-libvirt ${ml} s, hypervisor-qemu ${mq} s"
awk -v a="$ml" -v b="$mq" 'BEGIN { if (b > 0) printf "ratio libvirt/qemu: %.2f (overhead %.2f s)\n", a / b, a - b }'
