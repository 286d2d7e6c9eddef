#!/bin/bash
# How fast a sandbox starts, in one run on this machine (issue 17):
#  1. bare QEMU to the guest agent's ready line: today's bzImage through the
#     firmware against the uncompressed vmlinux through its PVH entry (q35),
#     and the PVH vmlinux on microvm;
#  2. `vcrun run` of a container running `true`: cold, from a template (fs-9p:
#     private memory file; fs-virtiofs: shared memfd), with runc and runsc
#     (where installed) as peers, and the floors: bare QEMU booting the same
#     guest to run `true` from a 9p share, and bare QEMU restoring each
#     template to running (qemu-restore-floor.py);
#  3. the PSS of 8 sandboxes running at once, cold against templated.
# Prints each run, then medians and ratios. A measurement, never pass/fail.
# -k DIR adds another guest (vmlinux, initrd.img: say the image of
# `make guest GUEST_KERNEL=minimal`) to 1. (PVH q35) and 2. (cold fs-9p).
# usage: run-start-bench.sh [-n RUNS] [-p SANDBOXES] [-k GUEST_DIR] [BUILD_DIR]
set -uo pipefail

runs=5
many=8
alt=
while getopts n:p:k: opt; do
    case $opt in
        n) runs=$OPTARG ;;
        p) many=$OPTARG ;;
        k) alt=$(cd "$OPTARG" && pwd) || exit 2 ;;
        *) echo "usage: $0 [-n RUNS] [-p SANDBOXES] [-k GUEST_DIR] [BUILD_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
builddir=$(cd "${1:-${VCRUN_TOP_BUILDDIR:-.}}" && pwd)
vcrun=$builddir/cli/vcrun
conf=${VCRUN_CONFIG:-$builddir/etc/vcrun-uninstalled.conf}
timeout_s=${VCRUN_BOOT_TIMEOUT:-180}

setting() { sed -n "s/^.*[ {;]$1 = \"\{0,1\}\([^\";]*\)\"\{0,1\};.*$/\1/p" "$conf" | head -1; }
kernel=$(setting kernel); initrd=$(setting initrd)
guest=$(dirname "$kernel")
qemu=$(setting path); qemu=${qemu:-qemu-system-x86_64}
for f in "$vcrun" "$conf" "$guest/vmlinuz" "$guest/vmlinux" "$initrd"; do
    [ -e "$f" ] || { echo "bench: $f does not exist (build, then make guest)" >&2; exit 1; }
done
busybox=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || { echo "bench: needs a static busybox for the container's rootfs" >&2; exit 1; }
if [ -n "$alt" ]; then
    for f in "$alt/vmlinux" "$alt/initrd.img"; do
        [ -e "$f" ] || { echo "bench: $f does not exist (-k names a guest directory)" >&2; exit 1; }
    done
fi
accel=$(sed -n 's/.*accel = "\([a-z]*\)".*/\1/p' "$conf" | head -1)
[ "$accel" = kvm ] || accel=tcg   # what the uninstalled configuration uses here
cpu=max; [ "$accel" = kvm ] && cpu=host

cpu_seconds=$(cd "$(dirname "$0")" && pwd)/cpu-seconds.py
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-start-bench.XXXXXX")
qemu_pid= holder_pid=
cleanup() {
    [ -n "$qemu_pid" ] && { kill "$qemu_pid" $holder_pid 2>/dev/null; wait "$qemu_pid" 2>/dev/null; }
    for c in "$tmp"/*.conf; do
        [ -e "$c" ] || continue
        for id in $("$vcrun" --config "$c" list -q 2>/dev/null); do
            "$vcrun" --config "$c" delete --force "$id" >/dev/null 2>&1
        done
    done
    for id in $(runc --root "$tmp/runc" list -q 2>/dev/null); do runc --root "$tmp/runc" delete -f "$id"; done
    # What a failed delete left (on a very busy host): processes, then mounts.
    for p in $(pgrep -f -- "$tmp/"); do kill -9 "$p" 2>/dev/null; done
    for m in $(awk -v t="$tmp/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do umount -l "$m"; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# Configurations: the build tree's, with its own state dir, per fs plugin,
# templates off and on.
make_conf() { # NAME FS TEMPLATE
    sed -e "s|^\( *state_dir = \).*|\1\"$tmp/state-$1\";|" \
        -e "s|^\( *fs = \).*|\1\"$2\";\n  template = $3;|" "$conf" > "$tmp/$1.conf"
}
make_conf cold-9p fs-9p false
make_conf tmpl-9p fs-9p true
make_conf cold-vfs fs-virtiofs false
make_conf tmpl-vfs fs-virtiofs true
if [ -n "$alt" ]; then
    make_conf cold-alt fs-9p false
    sed -i -e "s|^\( *kernel = \).*|\1\"$alt/vmlinux\";|" -e "s|^\( *initrd = \).*|\1\"$alt/initrd.img\";|" \
        "$tmp/cold-alt.conf"
fi

mkdir -p "$tmp/bundle/rootfs/bin" "$tmp/bundle/rootfs/proc"
cp "$busybox" "$tmp/bundle/rootfs/bin/busybox"
for a in true sleep sh; do ln -s busybox "$tmp/bundle/rootfs/bin/$a"; done
bundle_config() { # ARGS-JSON
    cat <<JSON
{ "ociVersion": "1.0.2",
  "process": { "terminal": false, "user": { "uid": 0, "gid": 0 }, "args": $1,
               "env": [ "PATH=/bin" ], "cwd": "/" },
  "root": { "path": "rootfs" },
  "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" } ],
  "linux": { "namespaces": [ { "type": "pid" }, { "type": "mount" } ] } }
JSON
}
bundle_config '["true"]' > "$tmp/bundle/config.json"
cp -r "$tmp/bundle" "$tmp/sleeper"
bundle_config '["sleep", "600"]' > "$tmp/sleeper/config.json"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "nan") printf "%.2f", a / b; else print "-" }'; }

# ---- 1. bare QEMU --------------------------------------------------------------
# The plugin's command line (plugins/hypervisor-qemu/qemu-cmdline.c) without
# QMP and the shared filesystem, timed from QEMU's start to the agent's ready
# line (the agent announces it once a host holds its port open).
append="console=ttyS0 panic=1 quiet reboot=k i8042.noaux=1 i8042.nomux=1 i8042.nopnp=1 i8042.dumbkbd=1 cryptomgr.notests tsc=reliable no_timer_check"
tsc_khz=$(cat /sys/devices/system/cpu/cpu0/tsc_freq_khz 2>/dev/null ||
          awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
# As hypervisor-qemu: under TCG the TSC's rate is given, not calibrated.
tcg_append=; [ "$accel" = tcg ] && tcg_append=" tsc_early_khz=$tsc_khz"
qemu_once() { # KERNEL MACHINE NAME [INITRD]
    local log=$tmp/console.log t0 t1 deadline machine serial extra=$tcg_append
    if [ "$2" = microvm ]; then
        machine=microvm,rtc=on; serial=virtio-serial-device,id=vc-serial
    else
        machine=q35,sata=off,smbus=off,vmport=off; serial=virtio-serial-pci,id=vc-serial,bus=pcie.0,addr=0x1
    fi
    rm -f "$log" "$tmp/agent.sock"
    t0=$(now)
    "$qemu" -nodefaults -no-user-config -display none -no-reboot \
        -machine "$machine" -accel "$accel" -cpu "$cpu" -m 256M \
        -kernel "$1" -initrd "${4:-$initrd}" -append "$append$extra" \
        -chardev "file,id=console,path=$log" -serial chardev:console -device "$serial" \
        -chardev "socket,id=agent,path=$tmp/agent.sock,server=on,wait=off" \
        -device virtserialport,bus=vc-serial.0,chardev=agent,name=agent.channel.0 \
        </dev/null >"$tmp/qemu.out" 2>&1 &
    qemu_pid=$!
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
            echo "bench: bare QEMU ($1, $2) did not reach the agent's ready line" >&2
            kill "$qemu_pid" "$holder_pid" 2>/dev/null; wait "$qemu_pid" "$holder_pid" 2>/dev/null; qemu_pid=
            return 1
        fi
        sleep 0.02
    done
    t1=$(now)
    # QEMU's own CPU seconds: the work, apart from waiting for a busy host.
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
        "/proc/$qemu_pid/stat" >> "$tmp/$3.cpu"
    kill "$qemu_pid" "$holder_pid" 2>/dev/null; wait "$qemu_pid" "$holder_pid" 2>/dev/null; qemu_pid=
    elapsed "$t0" "$t1"
}

# The floor of `vcrun run true` on fs-9p: bare QEMU with the same guest and
# its 9p device, whose init (a script added to the initramfs instead of the
# agent) does only what any runtime's guest must: load the 9p modules, mount
# the share, run `true` in the bundle's rootfs in new pid and mount
# namespaces, power off. Timed from QEMU's start to its exit.
floor_initrd() {
    local dir=$tmp/floor-cpio
    mkdir -p "$dir"
    cat > "$dir/bench-run" <<'SCRIPT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
modprobe -a virtio_pci 9pnet_virtio 9p
mkdir -p /run/share
mount -t 9p -o trans=virtio,version=9p2000.L kataShared /run/share
unshare -p -m -f sh -c 'mount -t proc proc /run/share/rootfs/proc && exec chroot /run/share/rootfs /bin/true'
echo "bench-run: exit $?" > /dev/ttyS0
poweroff -f
SCRIPT
    chmod 0755 "$dir/bench-run"
    (cd "$dir" && echo bench-run | cpio -o -H newc 2>/dev/null | gzip) > "$tmp/floor.cpio.gz" || return 1
    cat "$initrd" "$tmp/floor.cpio.gz" > "$tmp/floor-initrd.img"
}
bare_run_once() {
    local log=$tmp/floor-console.log t0 t1
    rm -f "$log"
    t0=$(now)
    "$cpu_seconds" "$tmp/last.cpu" timeout -k 5 "$timeout_s" "$qemu" -nodefaults -no-user-config -display none -no-reboot \
        -machine q35,sata=off,smbus=off,vmport=off -accel "$accel" -cpu "$cpu" -m 256M \
        -kernel "$guest/vmlinux" -initrd "$tmp/floor-initrd.img" -append "$append$tcg_append rdinit=/bench-run" \
        -chardev "file,id=console,path=$log" -serial chardev:console \
        -fsdev "local,id=share,path=$tmp/bundle,security_model=none" \
        -device virtio-9p-pci,fsdev=share,mount_tag=kataShared,bus=pcie.0,addr=0x3 \
        </dev/null >"$tmp/qemu.out" 2>&1
    t1=$(now)
    grep -q 'bench-run: exit 0' "$log" 2>/dev/null ||
        { echo "bench: bare QEMU did not run true: $(tail -c 300 "$log" 2>/dev/null)" >&2; return 1; }
    elapsed "$t0" "$t1"
}

# ---- 2. vcrun run true and its peers -------------------------------------------------
vcrun_once() { # CONF ID
    local t0 t1
    t0=$(now)
    if ! "$cpu_seconds" "$tmp/last.cpu" timeout -k 5 "$timeout_s" "$vcrun" --config "$tmp/$1.conf" run --bundle "$tmp/bundle" "$2" \
            </dev/null >/dev/null 2>"$tmp/vcrun.err"; then
        echo "bench: vcrun run ($1) failed: $(tail -1 "$tmp/vcrun.err")" >&2
        return 1
    fi
    t1=$(now)
    grep -q "booting cold instead" "$tmp/vcrun.err" && echo "bench: $1 booted cold: $(grep -o 'booting cold.*' "$tmp/vcrun.err")" >&2
    elapsed "$t0" "$t1"
}
peer_once() { # RUNTIME ID
    local t0 t1
    t0=$(now)
    (cd "$tmp/bundle" && "$cpu_seconds" "$tmp/last.cpu" timeout 60 "$1" --root "$tmp/$1" run "$2" </dev/null >/dev/null 2>"$tmp/peer.err") ||
        { echo "bench: $1 run failed: $(tail -1 "$tmp/peer.err")" >&2; return 1; }
    t1=$(now)
    elapsed "$t0" "$t1"
}

echo "vcrun start benchmark: $runs runs each, accel=$accel, 1 vCPU, 256 MiB, $(nproc) host CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "guest $guest${alt:+; other guest (alt) $alt}"
echo
echo "== 1. bare QEMU to the agent's ready line (s)"
cols=(bz-q35 pvh-q35 pvh-microvm)
[ -n "$alt" ] && cols+=(alt-pvh-q35)
printf '%-4s' run; printf ' %-12s' "${cols[@]}"; echo
for c in "${cols[@]}"; do : > "$tmp/$c.times"; : > "$tmp/$c.cpu"; done
for i in $(seq 1 "$runs"); do
    a=$(qemu_once "$guest/vmlinuz" q35 bz-q35) && echo "$a" >> "$tmp/bz-q35.times"
    b=$(qemu_once "$guest/vmlinux" q35 pvh-q35) && echo "$b" >> "$tmp/pvh-q35.times"
    c=$(qemu_once "$guest/vmlinux" microvm pvh-microvm) && echo "$c" >> "$tmp/pvh-microvm.times"
    d=
    [ -n "$alt" ] && d=$(qemu_once "$alt/vmlinux" q35 alt-pvh-q35 "$alt/initrd.img") && echo "$d" >> "$tmp/alt-pvh-q35.times"
    printf '%-4s %-12s %-12s %-12s' "$i" "${a:-failed}" "${b:-failed}" "${c:-failed}"
    [ -n "$alt" ] && printf ' %-12s' "${d:-failed}"
    echo
done
m_bz=$(median < "$tmp/bz-q35.times"); m_pvh=$(median < "$tmp/pvh-q35.times"); m_mvm=$(median < "$tmp/pvh-microvm.times")
echo "median: bzImage q35 $m_bz s, PVH vmlinux q35 $m_pvh s, PVH vmlinux microvm $m_mvm s"
echo "ratio bzImage/PVH (q35): $(ratio "$m_bz" "$m_pvh"); PVH microvm/q35: $(ratio "$m_mvm" "$m_pvh")"
c_bz=$(median < "$tmp/bz-q35.cpu"); c_pvh=$(median < "$tmp/pvh-q35.cpu"); c_mvm=$(median < "$tmp/pvh-microvm.cpu")
echo "median QEMU CPU time: bzImage q35 $c_bz s, PVH q35 $c_pvh s, PVH microvm $c_mvm s (ratio bzImage/PVH $(ratio "$c_bz" "$c_pvh"))"
if [ -n "$alt" ]; then
    m_alt=$(median < "$tmp/alt-pvh-q35.times"); c_alt=$(median < "$tmp/alt-pvh-q35.cpu")
    echo "other guest: PVH q35 $m_alt s, QEMU CPU $c_alt s (ratio this guest/other: time $(ratio "$m_pvh" "$m_alt"), CPU $(ratio "$c_pvh" "$c_alt"))"
fi

echo
echo "== 2. run a container of 'true' (s)"
# Build the templates first (not timed), the way 'vcrun template create' does.
"$vcrun" --config "$tmp/tmpl-9p.conf" template create >/dev/null 2>"$tmp/t.err" ||
    echo "bench: template create (fs-9p) failed: $(tail -1 "$tmp/t.err")" >&2
"$vcrun" --config "$tmp/tmpl-vfs.conf" template create >/dev/null 2>"$tmp/t.err" ||
    echo "bench: template create (fs-virtiofs) failed: $(tail -1 "$tmp/t.err")" >&2
# The floors: bare QEMU running true (above), and bare QEMU restoring each
# template with the command line a templated run logs.
floor_initrd || echo "bench: cannot build the floor's initramfs (cpio?)" >&2
for f in 9p vfs; do
    timeout -k 5 "$timeout_s" "$vcrun" --config "$tmp/tmpl-$f.conf" --debug run --bundle "$tmp/bundle" "log-$f" \
        </dev/null >/dev/null 2>"$tmp/tmpl-$f.log" || echo "bench: templated run (fs-$f) failed: $(tail -1 "$tmp/tmpl-$f.log")" >&2
done
restore_once() { # 9p|vfs
    local dir
    dir=$(ls -d "$tmp/state-tmpl-$1/.templates/"*/ 2>/dev/null | head -1)
    rm -rf "$tmp/restore"; mkdir -p "$tmp/restore"
    timeout -k 5 120 python3 "$(dirname "$cpu_seconds")/qemu-restore-floor.py" "$tmp/tmpl-$1.log" "${dir%/}" "$tmp/restore" \
        2>"$tmp/restore.err" || { echo "bench: $(tail -1 "$tmp/restore.err")" >&2; return 1; }
}
peers=()
for p in runc runsc; do command -v "$p" >/dev/null && peers+=("$p"); done
cols=(bare-9p cold-9p restore-9p tmpl-9p cold-vfs restore-vfs tmpl-vfs)
[ -n "$alt" ] && cols+=(cold-alt)
cols+=("${peers[@]}")
printf '%-4s' run; printf ' %-11s' "${cols[@]}"; echo
for c in "${cols[@]}"; do : > "$tmp/$c.times"; : > "$tmp/$c.cpu"; done
for i in $(seq 1 "$runs"); do
    printf '%-4s' "$i"
    for c in "${cols[@]}"; do
        rm -f "$tmp/last.cpu"
        case $c in
            runc|runsc) v=$(peer_once "$c" "b-$c-$i") ;;
            bare-9p) v=$(bare_run_once) ;;
            restore-*) v=$(restore_once "${c#restore-}") ;;
            *) v=$(vcrun_once "$c" "b-$c-$i") ;;
        esac
        [ -n "$v" ] && echo "$v" >> "$tmp/$c.times"
        [ -n "$v" ] && [ -s "$tmp/last.cpu" ] && cat "$tmp/last.cpu" >> "$tmp/$c.cpu"
        printf ' %-11s' "${v:-failed}"
    done
    echo
done
declare -A med cpu
for c in "${cols[@]}"; do med[$c]=$(median < "$tmp/$c.times"); cpu[$c]=$(median < "$tmp/$c.cpu"); done
printf 'median:'; for c in "${cols[@]}"; do printf ' %s %s s,' "$c" "${med[$c]}"; done; echo
# CPU seconds of every process a run started (cpu-seconds.py): the work,
# apart from waiting for a busy host (the restores are not counted).
printf 'median CPU:'; for c in "${cols[@]}"; do [ "${cpu[$c]}" != nan ] && printf ' %s %s s,' "$c" "${cpu[$c]}"; done; echo
echo "ratio cold/templated: fs-9p $(ratio "${med[cold-9p]}" "${med[tmpl-9p]}"), fs-virtiofs $(ratio "${med[cold-vfs]}" "${med[tmpl-vfs]}")"
share() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan") print "-"; else printf "%+.2f s (%+.0f%%)", a - b, (b > 0 ? 100 * (a - b) / b : 0) }'; }
echo "vcrun's own share, cold fs-9p: over bare QEMU running true $(share "${med[cold-9p]}" "${med[bare-9p]}"), in CPU $(share "${cpu[cold-9p]}" "${cpu[bare-9p]}"); over bare PVH q35 to agent ready $(share "${med[cold-9p]}" "$m_pvh"), in CPU $(share "${cpu[cold-9p]}" "$c_pvh")"
echo "vcrun's own share, templated: fs-9p over its restore $(share "${med[tmpl-9p]}" "${med[restore-9p]}"), fs-virtiofs over its restore $(share "${med[tmpl-vfs]}" "${med[restore-vfs]}")"
[ -n "$alt" ] && echo "other guest: cold fs-9p ${med[cold-alt]} s (ratio this guest/other $(ratio "${med[cold-9p]}" "${med[cold-alt]}"))"
for p in "${peers[@]}"; do
    echo "ratio vcrun/$p: cold fs-9p $(ratio "${med[cold-9p]}" "${med[$p]}"), templated fs-9p $(ratio "${med[tmpl-9p]}" "${med[$p]}")"
done

# ---- 3. PSS of N sandboxes at once ----------------------------------------------------------
# Proportional set size: pages shared by N processes count 1/N to each.
pss_kib() { awk '/^Pss:/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
pss_of() { # CONF
    local c=$1 total=0 id pid pids
    for i in $(seq 1 "$many"); do
        timeout -k 5 "$timeout_s" "$vcrun" --config "$tmp/$c.conf" run -d --bundle "$tmp/sleeper" "p-$c-$i" \
            </dev/null >/dev/null 2>"$tmp/pss.err" || echo "bench: $c sandbox $i: $(tail -1 "$tmp/pss.err")" >&2
    done
    sleep 2
    for i in $(seq 1 "$many"); do
        pid=$(cat "$tmp/state-$c/p-$c-$i/qemu.pid" 2>/dev/null)
        pids=$pid
        [ -n "$pid" ] && pids="$pid $(pgrep -f "$tmp/state-$c/p-$c-$i/virtiofsd" | tr '\n' ' ')"
        for p in $pids; do total=$((total + $(pss_kib "$p"))); done
    done
    for i in $(seq 1 "$many"); do
        timeout -k 5 120 "$vcrun" --config "$tmp/$c.conf" delete --force "p-$c-$i" >/dev/null 2>"$tmp/pss.err" ||
            echo "bench: $c sandbox $i: delete: $(tail -1 "$tmp/pss.err")" >&2
    done
    echo $((total / 1024))
}
echo
echo "== 3. PSS of $many sandboxes running at once (QEMU and virtiofsd), MiB"
p_cold=$(pss_of cold-9p); p_tmpl=$(pss_of tmpl-9p); p_vfs_cold=$(pss_of cold-vfs); p_vfs=$(pss_of tmpl-vfs)
echo "fs-9p cold $p_cold MiB, templated $p_tmpl MiB (ratio $(ratio "$p_cold" "$p_tmpl"))"
echo "fs-virtiofs cold $p_vfs_cold MiB, templated $p_vfs MiB (ratio $(ratio "$p_vfs_cold" "$p_vfs"))"
