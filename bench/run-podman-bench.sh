#!/bin/bash
# Times `podman run --rm IMG true` with vcrun as the runtime against the same
# with runc, in the same run, on the same test-private podman set-up (vfs
# storage, a busybox image imported from a tarball, cgroupfs, no network).
# Prints each run, the medians and their ratio. A measurement, never
# pass/fail. Needs root, podman, conmon and runc.
# usage: run-podman-bench.sh [-n RUNS] [BUILD_DIR]
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
for f in "$vcrun" "$conf"; do
    [ -e "$f" ] || { echo "bench: $f does not exist (build, then make guest)" >&2; exit 1; }
done
for c in podman conmon runc; do
    command -v "$c" >/dev/null || { echo "bench: $c is not installed" >&2; exit 1; }
done
busybox=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[ -n "$busybox" ] || { echo "bench: needs a static busybox for the image" >&2; exit 1; }

tmp=$(mktemp -d /tmp/vcrun-pbench.XXXXXX)
state=$(mktemp -d /tmp/vcpb.XXXXXX)   # short: sockets live in STATE/64-char-ID/
trap 'podman rm -af -t 0 >/dev/null 2>&1; rm -rf "$tmp" "$state"' EXIT
export CONTAINERS_CONF=$tmp/containers.conf CONTAINERS_STORAGE_CONF=$tmp/storage.conf
mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/proc" "$tmp/rootfs/dev" "$tmp/rootfs/sys" "$tmp/rootfs/etc" "$tmp/tmp"
cp "$busybox" "$tmp/rootfs/bin/busybox"
ln -s busybox "$tmp/rootfs/bin/true"
tar -C "$tmp/rootfs" -cf "$tmp/image.tar" .
sed "s|^\( *state_dir = \).*|\1\"$state\";|" "$conf" > "$tmp/vcrun.conf"
printf '#!/bin/sh\nexec "%s" --config "%s" "$@"\n' "$vcrun" "$tmp/vcrun.conf" > "$tmp/vcrun"
chmod +x "$tmp/vcrun"
printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/graph"\nrunroot = "%s/runroot"\n' "$tmp" "$tmp" \
    > "$tmp/storage.conf"
# podman's default ulimits exceed this host's hard limits (runc fails with
# "error setting rlimit"): ask for what the host allows.
nofile=$(ulimit -Hn); { [ "$nofile" = unlimited ] || [ "$nofile" -gt 1024 ]; } && nofile=1024
nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ]; } && nproc=4096
cat > "$tmp/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$tmp/tmp"
[engine.runtimes]
vcrun = ["$tmp/vcrun"]
[network]
network_config_dir = "$tmp/cni"
CONF
img=localhost/vcrun-bench:latest
podman import "$tmp/image.tar" "$img" >/dev/null 2>&1 || { echo "bench: podman import failed" >&2; exit 1; }

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# one RUNTIME: seconds for one `podman run --rm IMG true`, or "fail".
one() {
    local t0 t1
    t0=$(now)
    timeout -k 5 300 podman --runtime "$1" run --rm --network none "$img" true >/dev/null 2>"$tmp/err" \
        || { echo fail; return; }
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

echo "podman run --rm IMG true, $runs runs each (podman $(podman --version | awk '{print $3}'))"
: > "$tmp/vcrun.times"; : > "$tmp/runc.times"
# Warm-up: the first run of each pays for page cache and podman's set-up.
one runc >/dev/null; one vcrun >/dev/null
for i in $(seq "$runs"); do
    r=$(one runc); v=$(one vcrun)
    printf '  run %d: runc %s s, vcrun %s s\n' "$i" "$r" "$v"
    [ "$r" = fail ] || echo "$r" >> "$tmp/runc.times"
    [ "$v" = fail ] || echo "$v" >> "$tmp/vcrun.times"
done
[ -s "$tmp/runc.times" ] && [ -s "$tmp/vcrun.times" ] || { echo "  last error:"; sed 's/^/    /' "$tmp/err" | tail -3; }
mr=$(median < "$tmp/runc.times"); mv=$(median < "$tmp/vcrun.times")
echo "median: runc ${mr:-n/a} s, vcrun ${mv:-n/a} s"
if [ -n "$mr" ] && [ -n "$mv" ]; then
    echo "ratio vcrun/runc: $(awk -v v="$mv" -v r="$mr" 'BEGIN { printf "%.1f", v / r }')x"
fi
