#!/bin/bash
# Build the opt-in minimal guest kernel (`make guest GUEST_KERNEL=minimal`) from
# Debian's linux-source package, Kata's guest-kernel approach: `make allnoconfig`
# with a small Kconfig fragment (guest/kernel/minimal.config) that builds in what
# the guest needs, so the initramfs carries no modules. The source .deb is fetched
# with `apt-get download` into the cache and unpacked in the work directory;
# nothing is installed on the host. Writes to the output directory:
#   vmlinux         the uncompressed ELF kernel (booted through its PVH entry)
#   vmlinuz         the bzImage (the fallback for firmware boot)
#   kernel.release  its `uname -r`
#   kernel.config   the full configuration it was built with
# Takes tens of minutes of CPU: never run by CI or by a plain `make guest`.

set -euo pipefail

usage() {
    cat <<EOF
usage: $0 --config FRAGMENT [--cache DIR] [--work DIR] [--output DIR] [--jobs N]
  --config FRAGMENT  the Kconfig fragment applied over allnoconfig
  --cache DIR        where the downloaded source .deb is kept and reused
                     (default: \$VCRUN_GUEST_CACHE, else ./cache)
  --work DIR         the unpacked source and the object tree (default: ./kernel-work)
  --output DIR       where vmlinux, vmlinuz, kernel.release, kernel.config go (default: .)
  --jobs N           parallel compile jobs (default: the number of CPUs)
Environment: VCRUN_GUEST_SOURCE_PACKAGE (default linux-source-6.1).
EOF
}

say() { printf 'guest-kernel: %s\n' "$*"; }
die() { printf 'guest-kernel: error: %s\n' "$*" >&2; exit 1; }

fragment=
cache=${VCRUN_GUEST_CACHE:-./cache}
work=./kernel-work
output=.
jobs=$(nproc 2>/dev/null || echo 1)
source_package=${VCRUN_GUEST_SOURCE_PACKAGE:-linux-source-6.1}

while [ $# -gt 0 ]; do
    case $1 in
        --config) fragment=${2:?--config needs a file}; shift 2 ;;
        --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
        --work) work=${2:?--work needs a directory}; shift 2 ;;
        --output) output=${2:?--output needs a directory}; shift 2 ;;
        --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

[ -n "$fragment" ] || { usage >&2; die "--config is required"; }
[ -f "$fragment" ] || die "config fragment '$fragment' does not exist"
case $jobs in ''|*[!0-9]*|0) die "--jobs '$jobs' is not a positive number" ;; esac
missing=
for tool in apt-get apt-cache dpkg-deb tar xz make gcc flex bison bc perl; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
[ -f /usr/include/libelf.h ] || missing="$missing libelf-dev"
[ -f /usr/include/openssl/ssl.h ] || missing="$missing libssl-dev"
[ -z "$missing" ] || die "building the kernel needs:$missing (apt-get install flex bison bc libelf-dev libssl-dev)"

mkdir -p "$cache" "$work" "$output"
cache=$(cd "$cache" && pwd)
work=$(cd "$work" && pwd -P)   # physical: kbuild reuses objects only under the same path
output=$(cd "$output" && pwd)
fragment=$(cd "$(dirname "$fragment")" && pwd)/$(basename "$fragment")

# --- The source ----------------------------------------------------------------------

version=$(apt-cache policy "$source_package" 2>/dev/null | awk '/^  Candidate:/ { print $2 }')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    deb=$(cd "$cache" && ls -1 "${source_package}"_*.deb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$deb" ] || die "apt has no candidate for '$source_package' and the cache '$cache' has none: run 'apt-get update'"
    deb=$cache/$deb
else
    deb=$cache/${source_package}_${version//:/%3a}_all.deb
    if [ ! -s "$deb" ]; then
        say "downloading $source_package $version"
        tmp=$(mktemp -d "$cache/.download.XXXXXX")
        sandbox=()
        [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
        if ! (cd "$tmp" && apt-get -q "${sandbox[@]}" download "$source_package=$version" >/dev/null); then
            rm -rf "$tmp"
            die "could not download '$source_package=$version'"
        fi
        got=$(ls -1 "$tmp"/*.deb 2>/dev/null | head -n 1)
        [ -n "$got" ] || { rm -rf "$tmp"; die "apt-get download '$source_package=$version' produced no .deb"; }
        mv "$got" "$deb"
        rm -rf "$tmp"
    else
        say "using cached $(basename "$deb")"
    fi
fi

src=$work/src
stamp=$work/src.unpacked
if [ "$(cat "$stamp" 2>/dev/null)" != "$(basename "$deb")" ]; then
    say "unpacking $(basename "$deb")"
    rm -rf "$src" "$work/obj" "$stamp"
    mkdir -p "$src"
    # The package holds one tarball, /usr/src/linux-source-X.Y.tar.xz.
    tarball=$(dpkg-deb -c "$deb" | awk '$NF ~ /^\.\/usr\/src\/linux-source-[0-9.]*\.tar\.xz$/ { print $NF; exit }')
    [ -n "$tarball" ] || die "$deb holds no usr/src/linux-source-*.tar.xz"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | tar -xJ -C "$src" --strip-components=1 ||
        die "could not unpack the kernel source from $deb"
    [ -f "$src/Makefile" ] || die "$deb: the tarball has no kernel Makefile"
    basename "$deb" >"$stamp"
fi

# --- Configuration: allnoconfig plus the fragment ------------------------------------

obj=$work/obj
mkdir -p "$obj"
# Apart from any make that runs this script: its flags and directory messages
# would leak into the kernel build and into `kernelrelease`.
kmake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$src" O="$obj" ARCH=x86_64 "$@"; }
kmake -s allnoconfig KCONFIG_ALLCONFIG="$fragment" >/dev/null || die "allnoconfig with $fragment failed"

# Every option the fragment sets must survive (a missing dependency drops it silently).
wrong=
while IFS= read -r line; do
    line=${line%%#*}
    line=${line%"${line##*[![:space:]]}"}
    case $line in CONFIG_*=*) ;; *) continue ;; esac
    key=${line%%=*} value=${line#*=}
    if [ "$value" = n ]; then
        grep -q "^$key=" "$obj/.config" && wrong="$wrong $key=n(got $(grep "^$key=" "$obj/.config" | cut -d= -f2))"
    else
        grep -qxF "$key=$value" "$obj/.config" ||
            wrong="$wrong $key=$value(got $(grep -E "^$key=|^# $key is not set" "$obj/.config" | sed 's/^# .* is not set/n/; s/^[^=]*=//' || true))"
    fi
done <"$fragment"
[ -z "$wrong" ] || die "options of $fragment that did not take (a dependency is missing):$wrong"

# --- Build ---------------------------------------------------------------------------------

say "building $(kmake -s kernelrelease) with $jobs jobs (this takes a while)"
kmake -j"$jobs" bzImage >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; die "the kernel build failed (log: $work/build.log)"; }
release=$(kmake -s kernelrelease)
[ "$(head -c 4 "$obj/vmlinux" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || die "$obj/vmlinux is not an ELF file"

cp "$obj/vmlinux" "$output/vmlinux.tmp" && mv "$output/vmlinux.tmp" "$output/vmlinux"
cp "$obj/arch/x86/boot/bzImage" "$output/vmlinuz.tmp" && mv "$output/vmlinuz.tmp" "$output/vmlinuz"
cp "$obj/.config" "$output/kernel.config"
printf '%s\n' "$release" >"$output/kernel.release"
mib() { awk -v b="$(wc -c <"$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
say "kernel $release: vmlinux $(mib "$output/vmlinux"), vmlinuz $(mib "$output/vmlinuz")"
