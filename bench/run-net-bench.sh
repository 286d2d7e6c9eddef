#!/bin/bash
# TCP throughput from a container (a VM on vcrun's tap + tc redirects) to a
# peer network namespace, against the same transfer from the container's
# namespace itself straight over the veth (no VM), in one run: the median
# MB/s of each and their ratio. busybox nc sends SIZE_MIB MiB; a small
# receiver in the peer namespace times first byte to end of stream. The
# namespaces and veth pair are the bench's own, addresses from 192.0.2.0/24.
# A measurement, never pass/fail. Needs root.
# usage: run-net-bench.sh [-n RUNS] [-s SIZE_MIB] [BUILD_DIR]
set -uo pipefail

runs=3 size_mib=16
while getopts n:s: opt; do
    case $opt in
        n) runs=$OPTARG ;;
        s) size_mib=$OPTARG ;;
        *) echo "usage: $0 [-n RUNS] [-s SIZE_MIB] [BUILD_DIR]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
builddir=$(cd "${1:-${VCRUN_TOP_BUILDDIR:-.}}" && pwd)
srcdir=$(cd "$(dirname "$0")/.." && pwd)
VCRUN_TOP_BUILDDIR=$builddir VCRUN_TOP_SRCDIR=$srcdir . "$srcdir/tests/integration/cli/lib.sh"
. "$srcdir/tests/integration/net/net-lib.sh"
missing=$(vm_missing); [ -z "$missing" ] && missing=$(net_missing)
[ -z "$missing" ] || { echo "bench: $missing" >&2; exit 1; }

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-net-bench.XXXXXX")
receiver=
cleanup() {
    [ -n "$receiver" ] && kill "$receiver" 2>/dev/null
    timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT" delete --force nb1 >/dev/null 2>&1
    net_cleanup
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

PEER=${NET_PREFIX}peer CTR=${NET_PREFIX}ctr
net_ns "$PEER" && net_ns "$CTR" && net_veth "$CTR" eth0 "$PEER" veth0 &&
    ip -n "$PEER" addr add 192.0.2.1/24 dev veth0 && ip -n "$CTR" addr add 192.0.2.2/24 dev eth0 ||
    { echo "bench: cannot set up the namespaces" >&2; exit 1; }
bytes=$((size_mib * 1024 * 1024))

# The receiver: accepts `runs` connections on 192.0.2.1:9000, prints the
# MB/s (10^6 bytes) of each from its first byte to its end.
cat > "$ROOT/receive.py" <<'PY'
import socket, sys, time
runs, out = int(sys.argv[1]), open(sys.argv[2], "a")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.1", 9000)); s.listen(1); s.settimeout(600)
for _ in range(runs):
    c, _ = s.accept(); c.settimeout(120)
    n, first = 0, None
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        if first is None:
            first = time.monotonic()
        n += len(b)
    dt = time.monotonic() - first if first else 0
    out.write("%d %.3f\n" % (n, n / dt / 1e6 if dt > 0 else 0)); out.flush()
    c.close()
PY
receive() {   # receive RUNS FILE: a receiver in the peer namespace, in the background
    ip netns exec "$PEER" timeout 900 python3 "$ROOT/receive.py" "$1" "$2" &
    receiver=$!
    local i; for i in $(seq 50); do
        ip netns exec "$PEER" ss -ltn 2>/dev/null | grep -q '192.0.2.1:9000' && return 0; sleep 0.1
    done
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# Baseline: the container's namespace itself sends over the veth.
head -c "$bytes" /dev/zero > "$ROOT/data"
receive "$runs" "$ROOT/veth.txt"
for i in $(seq "$runs"); do
    ip netns exec "$CTR" timeout 120 "$BUSYBOX" nc 192.0.2.1 9000 < "$ROOT/data"
    sleep 0.5
done
wait "$receiver"; receiver=

# The container in a VM: same namespace, same veth, through the tap.
B=$ROOT/bundle
net_bundle "$B" "{ \"type\": \"network\", \"path\": \"/run/netns/$CTR\" }" \
    "[\"sh\", \"-c\", \"head -c $bytes /dev/zero > /tmp/data 2>/dev/null || yes 0123456789abcdef0123456789abcde | head -c $bytes > /tmp/data; for i in \$(seq $runs); do timeout 300 nc 192.0.2.1 9000 < /tmp/data; sleep 1; done\"]"
ln -sf busybox "$B/rootfs/bin/seq"
receive "$runs" "$ROOT/vm.txt"
VC_TIMEOUT=900 vc run --bundle "$B" nb1 </dev/null || echo "bench: vcrun run failed" >&2
wait "$receiver"; receiver=

echo "TCP, $size_mib MiB per transfer, $runs transfers each (MB/s, first byte to end):"
printf '  peer<->peer over the veth: %s\n' "$(awk '{printf "%s ", $2}' "$ROOT/veth.txt")"
printf '  container->peer (VM, tap + tc): %s\n' "$(awk '{printf "%s ", $2}' "$ROOT/vm.txt")"
short=$(awk -v b="$bytes" '$1 != b' "$ROOT/veth.txt" "$ROOT/vm.txt" | wc -l)
[ "$short" = 0 ] || echo "  warning: $short transfers were short"
veth=$(awk '{print $2}' "$ROOT/veth.txt" | median)
vm=$(awk '{print $2}' "$ROOT/vm.txt" | median)
echo "median peer<->peer veth: $veth MB/s"
echo "median container->peer: $vm MB/s"
awk -v a="$vm" -v b="$veth" 'BEGIN { if (b > 0) printf "ratio container/veth: %.3f\n", a / b }'
