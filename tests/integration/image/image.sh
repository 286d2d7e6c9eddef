#!/bin/bash
# The guest image built by `make guest`: what the initramfs holds, then two boots
# under QEMU/TCG. Boot 1 runs a test script appended to the initramfs (as
# rdinit) that loads the modules and uses them: modprobe, a 9p share, overlay,
# ext4 on a virtio disk, the agent's virtio-serial port. Boot 2 runs the image
# unchanged and waits for the agent's "vcrun-agent: ready" line.
# Prints TAP. Environment: VCRUN_TOP_BUILDDIR (set by make check), QEMU_SYSTEM,
# VCRUN_GUEST_DIR (a directory holding vmlinuz and initrd.img, default the build's
# guest/), VCRUN_BOOT_TIMEOUT (seconds per boot, default 180).
set -uo pipefail

top_builddir=${VCRUN_TOP_BUILDDIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
guest_dir=${VCRUN_GUEST_DIR:-$top_builddir/guest}
kernel=$guest_dir/vmlinuz
initrd=$guest_dir/initrd.img
qemu=${QEMU_SYSTEM:-qemu-system-x86_64}
boot_timeout=${VCRUN_BOOT_TIMEOUT:-180}

if [ ! -f "$kernel" ] || [ ! -f "$initrd" ]; then
    echo "1..0 # SKIP guest image not built: run 'make guest' ($guest_dir has no vmlinuz/initrd.img)"
    exit 0
fi
for tool in cpio gzip timeout; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP '$tool' is not installed"; exit 0; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-image-test.XXXXXX")
qemu_pid=
cleanup() {
    if [ -n "$qemu_pid" ]; then
        kill "$qemu_pid" 2>/dev/null
        wait "$qemu_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
diag() { printf '# %s\n' "$@"; }

# --- Contents ------------------------------------------------------------------------

root=$tmp/root
mkdir -p "$root"
if ! gzip -dc "$initrd" | (cd "$root" && cpio -id --quiet --no-absolute-filenames 2>"$tmp/cpio.err"); then
    echo "1..1"
    echo "not ok 1 - initrd.img is a gzip'ed cpio archive"
    sed 's/^/# /' "$tmp/cpio.err"
    exit 1
fi
ok "initrd.img is a gzip'ed cpio archive"

kver=$(sed -n 's/^kernel=//p' "$root/etc/vcrun-image" 2>/dev/null)
check "/etc/vcrun-image names the kernel version" test -n "$kver"
moddir=$root/lib/modules/$kver

check "/init is an executable file" test -f "$root/init" -a -x "$root/init"
placeholder=
if [ "$(head -c 2 "$root/init")" = "#!" ]; then
    placeholder=yes
    diag "/init is a script: a placeholder for the agent"
fi

is_static_elf() {
    [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] || return 1
    if command -v readelf >/dev/null; then
        ! readelf -lW "$1" | grep -q 'program interpreter'
    fi
}
check "/bin/busybox is a static ELF program" is_static_elf "$root/bin/busybox"
check "/bin/sh and /sbin/modprobe are busybox applets" \
    test "$(readlink "$root/bin/sh")" = busybox -a "$(readlink "$root/bin/modprobe")" = busybox -a -L "$root/sbin"
has_root_entries() { grep -q '^root:x:0:0:' "$root/etc/passwd" && grep -q '^root:x:0:' "$root/etc/group"; }
check "/etc/passwd and /etc/group have root" has_root_entries
dirs_ok=yes
for d in proc sys dev tmp run mnt etc; do [ -d "$root/$d" ] || { dirs_ok=; diag "missing /$d"; }; done
check "/proc /sys /dev /tmp /run /mnt /etc exist" test -n "$dirs_ok"

# /dev/console is a char device 5:1 in a second archive (cpio -i stops at the
# first trailer): find its newc header at the end of the stream.
# Fields: magic ino mode=020600 uid gid nlink mtime | size devmajor devminor
# rdevmajor=5 rdevminor=1 namesize=12 check | name.
hex8='[0-9A-F]\{8\}'
console_header="070701${hex8}00002180${hex8}${hex8}${hex8}${hex8}"
console_header="${console_header}000000000000000000000000""00000005""00000001""0000000C""00000000""dev/console"
check "/dev/console is a character device 5:1" \
    sh -c "gzip -dc '$initrd' | tail -c 512 | grep -aq '$console_header'"

modules=()
[ -f "$root/etc/vcrun-modules" ] && mapfile -t modules <"$root/etc/vcrun-modules"
files_ok=yes
for m in "${modules[@]}"; do
    case $m in *.ko) ;; *) files_ok=; diag "not a .ko path: $m" ;; esac
    [ -f "$moddir/$m" ] || { files_ok=; diag "listed but missing: $m"; }
done
check "/etc/vcrun-modules lists ${#modules[@]} module files, all present" test ${#modules[@]} -gt 0 -a -n "$files_ok"

needed="virtio_pci virtio_console virtio_blk 9p 9pnet 9pnet_virtio fuse virtiofs vsock vmw_vsock_virtio_transport vmw_vsock_virtio_transport_common overlay"
missing=
for want in $needed; do
    printf '%s\n' "${modules[@]}" | grep -q "/$want\.ko\$" || missing="$missing $want"
done
check "the needed modules are listed${missing:+ (missing:$missing)}" test -z "$missing"

# Every module's dependencies (from modules.dep) come before it in the load order.
order_ok=yes
declare -A seen=()
for m in "${modules[@]}"; do
    line=$(grep "^$m:" "$moddir/modules.dep" 2>/dev/null) || { order_ok=; diag "not in modules.dep: $m"; continue; }
    for dep in ${line#*:}; do
        [ -n "${seen[$dep]:-}" ] || { order_ok=; diag "$m needs $dep first"; }
    done
    seen[$m]=1
done
check "modules.dep covers the list, dependencies first" test -n "$order_ok" -a -f "$moddir/modules.dep"

# --- Boot 1: the modules at work ---------------------------------------------------------

if [ ! -x "$qemu" ] && ! command -v "$qemu" >/dev/null; then
    skip "boot: modules load and work" "no QEMU ($qemu)"
    skip "boot: agent says ready" "no QEMU ($qemu)"
    echo "1..$n"
    exit $((failed > 0))
fi

# The script runs as rdinit instead of /init, so the image is tested as it is.
mkdir -p "$tmp/extra"
cat >"$tmp/extra/vcrun-image-test" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
kver=$(uname -r)
echo "image-test: kernel $kver"
# modprobe must find dependencies through modules.dep on its own.
modprobe 9pnet_virtio && modprobe ext4 &&
    grep -q '^9pnet ' /proc/modules && grep -q '^jbd2 ' /proc/modules &&
    echo "image-test: modprobe ok"
loaded=0
while read -r m; do
    name=${m##*/}; name=${name%.ko}
    grep -q "^$name " /proc/modules || insmod "/lib/modules/$kver/$m" || echo "image-test: insmod failed: $m"
    grep -q "^$name " /proc/modules && loaded=$((loaded + 1))
done </etc/vcrun-modules
echo "image-test: $loaded modules loaded"
for f in 9p fuse virtiofs overlay ext4; do grep -qw "$f" /proc/filesystems && echo "image-test: filesystem $f"; done
grep -q '^vsock ' /proc/modules && grep -q '^vmw_vsock_virtio_transport ' /proc/modules && echo "image-test: vsock ok"
for p in /sys/class/virtio-ports/*/name; do [ -f "$p" ] && echo "image-test: virtio port $(cat "$p")"; done
mount -t 9p -o trans=virtio,version=9p2000.L share /mnt && echo "image-test: 9p read $(cat /mnt/hello)"
mkdir -p /run/o/lower /run/o/upper /run/o/work /run/o/merged && echo lower >/run/o/lower/f &&
    mount -t overlay overlay -o lowerdir=/run/o/lower,upperdir=/run/o/upper,workdir=/run/o/work /run/o/merged &&
    echo upper >/run/o/merged/f && [ "$(cat /run/o/lower/f)" = lower ] && echo "image-test: overlay ok"
mke2fs -q /dev/vda >/dev/null 2>&1 && mkdir -p /run/disk && mount -t ext4 /dev/vda /run/disk &&
    echo disk >/run/disk/f && umount /run/disk && echo "image-test: ext4 on virtio-blk ok"
echo "image-test: done"
poweroff -f
EOF
chmod 0755 "$tmp/extra/vcrun-image-test"
(cd "$tmp/extra" && echo vcrun-image-test | cpio -o -H newc -R 0:0 --quiet) | gzip >"$tmp/extra.cpio.gz"
cat "$initrd" "$tmp/extra.cpio.gz" >"$tmp/initrd-test.img"
mkdir -p "$tmp/share"
echo "hello-from-host" >"$tmp/share/hello"
truncate -s 16M "$tmp/disk.raw"

# run_qemu LOG INITRD APPEND EXTRA-ARGS...: starts QEMU in the background.
run_qemu() {
    local log=$1 rd=$2 append=$3; shift 3
    timeout -k 10 "$boot_timeout" "$qemu" -accel tcg -nodefaults -no-user-config -nographic \
        -monitor none -M q35 -m 256 -no-reboot \
        -kernel "$kernel" -initrd "$rd" -append "console=ttyS0 panic=-1 $append" \
        -serial "file:$log" \
        -device virtio-serial-pci \
        -chardev "socket,id=agent,path=$tmp/agent.sock,server=on,wait=off" \
        -device virtserialport,chardev=agent,name=agent.channel.0 \
        "$@" </dev/null >"$log.qemu" 2>&1 &
    qemu_pid=$!
}

log1=$tmp/console-1.log
t0=$(date +%s.%N)
run_qemu "$log1" "$tmp/initrd-test.img" "rdinit=/vcrun-image-test" \
    -fsdev "local,id=share,path=$tmp/share,security_model=none,readonly=on" \
    -device virtio-9p-pci,fsdev=share,mount_tag=share \
    -drive "file=$tmp/disk.raw,if=none,id=disk,format=raw" -device virtio-blk-pci,drive=disk
wait "$qemu_pid"
rc=$?
qemu_pid=
diag "boot 1 took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (QEMU exit $rc)"
check "boot 1: the guest powered itself off" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/# qemu: /' "$log1.qemu"
has() { grep -q "$1" "$log1"; }
check "boot 1: kernel $kver booted" has "^image-test: kernel $kver"
check "boot 1: modprobe resolves dependencies from modules.dep" has '^image-test: modprobe ok'
check "boot 1: all ${#modules[@]} modules loaded" \
    sh -c "grep -q '^image-test: ${#modules[@]} modules loaded' '$log1' && ! grep -q 'insmod failed' '$log1'"
check "boot 1: 9p, fuse, virtiofs, overlay and ext4 are registered" \
    test "$(grep -c '^image-test: filesystem ' "$log1")" = 5
check "boot 1: vsock and its virtio transport are loaded" has '^image-test: vsock ok'
check "boot 1: the virtio-serial port agent.channel.0 is visible" has '^image-test: virtio port agent.channel.0'
check "boot 1: a 9p share from the host is readable" has '^image-test: 9p read hello-from-host'
check "boot 1: overlay mounts" has '^image-test: overlay ok'
check "boot 1: ext4 on a virtio-blk disk" has '^image-test: ext4 on virtio-blk ok'
if [ "$failed" -gt 0 ]; then
    diag "console of boot 1:"
    grep -v '^\[' "$log1" | tail -n 40 | sed 's/^/# /'
fi

# --- Boot 2: the image as it is, up to the agent ------------------------------------

if [ -n "$placeholder" ]; then
    skip "boot 2: the agent says ready" "/init is a placeholder, not the vcrun agent"
else
    log2=$tmp/console-2.log
    t0=$(date +%s.%N)
    run_qemu "$log2" "$initrd" ""
    ready=
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if grep -q 'vcrun-agent: ready' "$log2" 2>/dev/null; then ready=yes; break; fi
        sleep 0.2
    done
    if [ -z "$ready" ] && grep -q 'vcrun-agent: ready' "$log2" 2>/dev/null; then ready=yes; fi
    elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ -n "$ready" ]; then
        diag "boot 2: ready after $elapsed s from QEMU's start; the agent said:"
        grep -a 'vcrun-agent: ready' "$log2" | head -n 1 | sed 's/^/#   /'
    else
        diag "boot 2: not ready after $elapsed s"
    fi
    kill "$qemu_pid" 2>/dev/null
    wait "$qemu_pid" 2>/dev/null
    qemu_pid=
    check "boot 2: kernel $kver booted" grep -q "Linux version $kver " "$log2"
    check "boot 2: the agent says ready" test -n "$ready"
    [ -n "$ready" ] || { grep -v '^\[' "$log2" | tail -n 20 | sed 's/^/# /'; }
fi

echo "1..$n"
exit $((failed > 0))
