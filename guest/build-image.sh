#!/bin/bash
# Build the vcrun guest: a kernel (vmlinuz, and the uncompressed ELF vmlinux that
# hypervisors boot through its PVH entry) and a gzip'ed newc initramfs (initrd.img)
# from Debian's linux-image-amd64 and busybox-static packages plus the guest agent.
# Packages are fetched with `apt-get download` into a cache and unpacked with
# `dpkg-deb -x`; nothing is installed on the host. Driven by `make guest`.
#
# Initramfs layout:
#   /init                       the agent (PID 1)
#   /bin/busybox, /bin/<applet> busybox and its applets; /sbin, /usr/bin, /usr/sbin -> bin
#   /lib/modules/<kver>/...     the needed modules (.ko), modules.dep (busybox depmod)
#   /etc/vcrun-modules          modules to load, dependencies first: one path
#                               relative to /lib/modules/<kver>/ per line
#   /etc/vcrun-image            key=value facts about the image (kernel version, ...)
#   /etc/passwd, /etc/group, /dev/console, /proc /sys /dev /tmp /run /mnt

set -euo pipefail

usage() {
    cat <<EOF
usage: $0 --init FILE [--modules FILE] [--kernel-dir DIR] [--cache DIR] [--work DIR] [--output DIR]
  --init FILE     the program to install as /init (the static vcrun-agent)
  --modules FILE  module names to include (default: modules.list beside this script)
  --kernel-dir DIR  a kernel built by build-kernel.sh (vmlinux, vmlinuz,
                  kernel.release) with everything built in: used instead of
                  Debian's kernel package, and the initramfs gets no modules
  --cache DIR     where downloaded .deb files are kept and reused
                  (default: \$VCRUN_GUEST_CACHE, else ./cache)
  --work DIR      scratch directory: unpacked packages, staging root (default: ./image-work)
  --output DIR    where vmlinuz, vmlinux and initrd.img are written (default: .)
Environment: VCRUN_GUEST_KERNEL_PACKAGE (default linux-image-amd64),
             VCRUN_GUEST_BUSYBOX_PACKAGE (default busybox-static),
             SOURCE_DATE_EPOCH (file times inside the initramfs, default 0).
EOF
}

# Progress goes to fd 3 (stdout) so functions whose stdout is captured can report too.
exec 3>&1
say() { printf 'guest: %s\n' "$*" >&3; }
die() { printf 'guest: error: %s\n' "$*" >&2; exit 1; }

script_dir=$(cd "$(dirname "$0")" && pwd)
init=
modules_list=$script_dir/modules.list
kernel_dir=
cache=${VCRUN_GUEST_CACHE:-./cache}
work=./image-work
output=.
kernel_package=${VCRUN_GUEST_KERNEL_PACKAGE:-linux-image-amd64}
busybox_package=${VCRUN_GUEST_BUSYBOX_PACKAGE:-busybox-static}
epoch=${SOURCE_DATE_EPOCH:-0}

while [ $# -gt 0 ]; do
    case $1 in
        --init) init=${2:?--init needs a file}; shift 2 ;;
        --modules) modules_list=${2:?--modules needs a file}; shift 2 ;;
        --kernel-dir) kernel_dir=${2:?--kernel-dir needs a directory}; shift 2 ;;
        --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
        --work) work=${2:?--work needs a directory}; shift 2 ;;
        --output) output=${2:?--output needs a directory}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

[ -n "$init" ] || { usage >&2; die "--init is required"; }
[ -f "$init" ] || die "init program '$init' does not exist (build the guest agent first)"
[ -n "$kernel_dir" ] || [ -f "$modules_list" ] || die "module list '$modules_list' does not exist"
if [ -n "$kernel_dir" ]; then
    for f in vmlinux vmlinuz kernel.release; do
        [ -s "$kernel_dir/$f" ] || die "kernel directory '$kernel_dir' has no $f (build it with build-kernel.sh)"
    done
fi
for tool in apt-get apt-cache dpkg-deb cpio gzip xz find sort; do
    command -v "$tool" >/dev/null || die "'$tool' is needed to build the guest image"
done

mkdir -p "$cache" "$work" "$output"
cache=$(cd "$cache" && pwd)
work=$(cd "$work" && pwd)
output=$(cd "$output" && pwd)

# --- Fetching --------------------------------------------------------------------

# The real kernel package behind the metapackage (linux-image-amd64 ->
# linux-image-6.1.0-NN-amd64). Falls back to the newest cached one when apt
# knows nothing (no `apt-get update` yet, offline rebuild).
resolve_kernel_package() {
    local meta=$1 real
    real=$(apt-cache depends "$meta" 2>/dev/null |
           awk '/^ *Depends: linux-image-[0-9]/ { print $2; exit }')
    if [ -z "$real" ]; then
        case $meta in
            linux-image-[0-9]*) real=$meta ;;  # already a real kernel package
        esac
    fi
    if [ -z "$real" ]; then
        local cached
        cached=$(cd "$cache" && ls -1 linux-image-[0-9]*.deb 2>/dev/null | sort -V | tail -n 1)
        [ -n "$cached" ] || die "apt does not know '$meta' and the cache '$cache' has no kernel package: run 'apt-get update'"
        real=${cached%%_*}
    fi
    printf '%s\n' "$real"
}

# Candidate versions from the local apt lists (no network), asked in one call
# because apt-cache takes a second or so each time.
declare -A candidate=()
load_candidates() {
    local pkg version
    while read -r pkg version; do
        candidate[$pkg]=$version
    done < <(apt-cache policy "$@" 2>/dev/null |
             awk '/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) } /^  Candidate:/ { print p, $2 }')
}

# Prints the path of the cached .deb of package $1, downloading it if needed.
fetch_deb() {
    local pkg=$1 version=${candidate[$1]:-} file
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
        # Unknown to apt: reuse whatever version the cache holds.
        file=$(cd "$cache" && ls -1 "${pkg}"_*.deb 2>/dev/null | sort -V | tail -n 1)
        [ -n "$file" ] || die "apt has no candidate for '$pkg' and the cache '$cache' has none: run 'apt-get update'"
        printf '%s\n' "$cache/$file"
        return
    fi
    # apt-get download names the file NAME_VERSION_ARCH.deb with ':' written as %3a.
    file=$cache/${pkg}_${version//:/%3a}_$(dpkg --print-architecture).deb
    if [ ! -s "$file" ]; then
        say "downloading $pkg $version"
        local tmp
        tmp=$(mktemp -d "$cache/.download.XXXXXX")
        local -a sandbox=()
        # As root, apt drops to _apt for downloads, which cannot write into a private dir.
        [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
        if ! (cd "$tmp" && apt-get -q "${sandbox[@]}" download "$pkg=$version" >/dev/null); then
            rm -rf "$tmp"
            die "could not download '$pkg=$version'"
        fi
        local got
        got=$(ls -1 "$tmp"/*.deb 2>/dev/null | head -n 1)
        [ -n "$got" ] || { rm -rf "$tmp"; die "apt-get download '$pkg=$version' produced no .deb"; }
        mv "$got" "$file"
        rm -rf "$tmp"
    else
        say "using cached $(basename "$file")"
    fi
    printf '%s\n' "$file"
}

# Unpacks a .deb into $work/unpack/<name>/ once; prints that directory.
unpack_deb() {
    local deb=$1 dir
    dir=$work/unpack/$(basename "$deb" .deb)
    if [ ! -e "$dir/.unpacked" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir" || die "could not unpack '$deb'"
        touch "$dir/.unpacked"
    fi
    printf '%s\n' "$dir"
}

if [ -n "$kernel_dir" ]; then
    load_candidates "$busybox_package"
    kernel_tree=
    kernel_deb=build-kernel.sh   # what /etc/vcrun-image names as the kernel's origin
    kver=$(head -n 1 "$kernel_dir/kernel.release")
    moddir=
    vmlinuz=$kernel_dir/vmlinuz
else
    real_kernel=$(resolve_kernel_package "$kernel_package")
    load_candidates "$real_kernel" "$busybox_package"
    kernel_deb=$(fetch_deb "$real_kernel")
    kernel_tree=$(unpack_deb "$kernel_deb")
fi
busybox_deb=$(fetch_deb "$busybox_package")
busybox_tree=$(unpack_deb "$busybox_deb")
# Trees of packages no longer used (an older kernel) only take space.
for dir in "$work"/unpack/*; do
    [ ! -e "$dir" ] || [ "$dir" = "$kernel_tree" ] || [ "$dir" = "$busybox_tree" ] || rm -rf "$dir"
done

if [ -z "$kernel_dir" ]; then
    kvers=$(ls -1 "$kernel_tree/lib/modules")
    [ "$(printf '%s\n' "$kvers" | wc -l)" = 1 ] || die "expected one kernel version in $kernel_deb, found: $kvers"
    kver=$kvers
    moddir=$kernel_tree/lib/modules/$kver
    vmlinuz=$kernel_tree/boot/vmlinuz-$kver
    [ -f "$vmlinuz" ] || die "$kernel_deb has no boot/vmlinuz-$kver"
fi
busybox=$busybox_tree/bin/busybox
[ -x "$busybox" ] || die "$busybox_deb has no bin/busybox"
say "kernel $kver"

# --- Staging root ------------------------------------------------------------------

root=$work/root
rm -rf "$root"
mkdir -p "$root"
for d in bin dev etc lib mnt proc root run sys tmp usr; do mkdir -p "$root/$d"; done
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"

install -m 0755 "$init" "$root/init"

install -m 0755 "$busybox" "$root/bin/busybox"
# The applet list comes from the binary itself (it is a static x86-64 program).
applets=$("$busybox" --list) || die "cannot run $busybox on this host to list its applets"
for applet in $applets; do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF

# --- Modules ---------------------------------------------------------------------------

order=()                  # staged paths, dependencies first
if [ -n "$kernel_dir" ]; then
    # Everything is built in: no modules, no list (the agent then loads none).
    say "0 modules (the kernel of $kernel_dir has everything built in)"
else
    declare -A mod_path=()    # module name -> path relative to $moddir (as shipped)
    declare -A builtin=()     # module name -> 1 when built into the kernel
    declare -A state=()       # module name -> visiting | done (depth-first walk)

    while IFS= read -r path; do
        name=${path##*/}
        name=${name%%.ko*}
        mod_path[${name//-/_}]=$path
    done < <(cd "$moddir" && find kernel -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')

    if [ -f "$moddir/modules.builtin" ]; then
        while IFS= read -r path; do
            name=${path##*/}
            name=${name%.ko}
            builtin[${name//-/_}]=1
        done <"$moddir/modules.builtin"
    fi

    # Copies one module into the staging root as a plain .ko; prints the staged path.
    stage_module() {
        local src=$1 dst
        dst=${src%.ko*}.ko
        mkdir -p "$root/lib/modules/$kver/$(dirname "$dst")"
        case $src in
            *.ko) cp "$moddir/$src" "$root/lib/modules/$kver/$dst" ;;
            *.ko.xz) xz -dc "$moddir/$src" >"$root/lib/modules/$kver/$dst" ;;
            *.ko.zst) zstd -qdc "$moddir/$src" >"$root/lib/modules/$kver/$dst" ;;
            *.ko.gz) gzip -dc "$moddir/$src" >"$root/lib/modules/$kver/$dst" ;;
        esac
        printf '%s\n' "$dst"
    }

    # Adds a module after everything it depends on; $2 names who asked, for errors.
    add_module() {
        local name=${1//-/_} dep staged deps
        case ${state[$name]:-} in
            done) return ;;
            visiting) die "module dependency loop through '$name'" ;;
        esac
        if [ -z "${mod_path[$name]:-}" ]; then
            [ -n "${builtin[$name]:-}" ] && { state[$name]=done; return; }
            die "module '$name' (wanted by $2) is neither a module nor built into kernel $kver"
        fi
        state[$name]=visiting
        staged=$(stage_module "${mod_path[$name]}")
        deps=$(tr '\0' '\n' <"$root/lib/modules/$kver/$staged" |
               awk '/^depends=/ && !seen { print substr($0, 9); seen = 1 }')
        for dep in ${deps//,/ }; do
            add_module "$dep" "$name"
        done
        state[$name]=done
        order+=("$staged")
    }

    while IFS= read -r line; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [ -n "$line" ] && add_module "$line" "$(basename "$modules_list")"
    done <"$modules_list"

    for f in modules.builtin modules.order; do
        [ -f "$moddir/$f" ] && cp "$moddir/$f" "$root/lib/modules/$kver/$f"
    done
    # busybox's own depmod writes the modules.dep/alias/symbols its modprobe reads.
    "$busybox" depmod -b "$root" "$kver" || die "busybox depmod failed"
    printf '%s\n' "${order[@]}" >"$root/etc/vcrun-modules"
    say "${#order[@]} modules"
fi

cat >"$root/etc/vcrun-image" <<EOF
kernel=$kver
kernel_package=$(basename "$kernel_deb")
busybox_package=$(basename "$busybox_deb")
modules=${#order[@]}
EOF

# --- Archive ---------------------------------------------------------------------------

# One newc header for an empty entry: name, mode (octal), rdev major, rdev minor.
newc_entry() {
    local name=$1 mode=$2 major=$3 minor=$4 namesize pad
    namesize=$(( ${#name} + 1 ))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        $((0x7fff0001)) $((8#$mode)) 0 0 1 "$epoch" 0 0 0 "$major" "$minor" "$namesize" 0
    printf '%s\0' "$name"
    pad=$(( (4 - (110 + namesize) % 4) % 4 ))
    head -c "$pad" /dev/zero
}

# /dev/console lets the kernel give /init its stdin/stdout/stderr before anything is
# mounted. cpio can only archive real device nodes (root only), so it is written by
# hand as a second archive; the kernel unpacks concatenated archives in turn.
device_archive() {
    newc_entry dev/console 020600 5 1
    local trailer=TRAILER!!! namesize=11
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        0 0 0 0 1 0 0 0 0 0 0 "$namesize" 0
    printf '%s\0' "$trailer"
    # 110 + 11 = 121: pad the name to the next multiple of 4.
    head -c 3 /dev/zero
}

find "$root" -exec touch -h -d "@$epoch" {} +
tmp_initrd=$output/initrd.img.tmp
{
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet)
    device_archive
} | gzip -6n >"$tmp_initrd"
mv "$tmp_initrd" "$output/initrd.img"
cp "$vmlinuz" "$output/vmlinuz.tmp"
mv "$output/vmlinuz.tmp" "$output/vmlinuz"

# --- vmlinux -----------------------------------------------------------------------------

# The bzImage holds the kernel ELF compressed; Debian's is xz. Decompressed, it boots
# directly through its PVH entry (the XEN_ELFNOTE_PHYS32_ENTRY note), skipping the
# firmware's real-mode setup and the decompression, both slow under emulation. The
# first xz stream in the file is the payload; what follows it is ignored.
extract_vmlinux() {
    local in=$1 out=$2 offset
    offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$in" | head -n 1 | cut -d: -f1)
    [ -n "$offset" ] || die "$in holds no xz stream: cannot extract vmlinux"
    # xz stops reading at the end of its stream: tail's SIGPIPE is not a failure.
    xz -dc --single-stream < <(tail -c "+$((offset + 1))" "$in" 2>/dev/null) >"$out" ||
        die "could not decompress the kernel in $in"
    [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] ||
        die "the payload of $in is not an ELF file"
}
if [ -n "$kernel_dir" ]; then
    cp "$kernel_dir/vmlinux" "$output/vmlinux.tmp"
else
    extract_vmlinux "$vmlinuz" "$output/vmlinux.tmp"
fi
mv "$output/vmlinux.tmp" "$output/vmlinux"

mib() { awk -v b="$(wc -c <"$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
say "vmlinuz $(mib "$output/vmlinuz")"
say "vmlinux $(mib "$output/vmlinux")"
say "initrd.img $(mib "$output/initrd.img")"
