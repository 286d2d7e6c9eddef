# Shared by the network tests and bench/run-net-bench.sh: network namespaces
# and veth pairs made for the test alone (names carry the test's pid),
# addresses only from 192.0.2.0/24, busybox bundles. Sourced after
# tests/integration/cli/lib.sh.

NET_PREFIX=${NET_PREFIX:-vcn$$}
net_namespaces=()

# Why the network tests cannot run here, or nothing.
net_missing() {
    [ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; return; }
    command -v ip >/dev/null || { echo "no ip (iproute2) for the test's own namespaces"; return; }
    [ -c /dev/net/tun ] || { echo "no /dev/net/tun"; return; }
    ip netns add "${NET_PREFIX}probe" 2>/dev/null || { echo "cannot create network namespaces"; return; }
    ip netns del "${NET_PREFIX}probe"
}

# net_ns NAME: a new namespace with lo up (its path: /run/netns/NAME).
net_ns() {
    ip netns add "$1" && net_namespaces+=("$1") && ip -n "$1" link set lo up
}

# net_veth NS1 IF1 NS2 IF2 [MAC1]: a veth pair between two namespaces, both up.
net_veth() {
    ip -n "$1" link add "$2" ${5:+address $5} type veth peer name "$4" netns "$3" &&
        ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

net_cleanup() {
    local ns
    for ns in "${net_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
    net_namespaces=()
}

# net_snapshot NS: what delete must leave as it was: links (name, MAC, MTU,
# flags), addresses, routes, neighbours, qdiscs and ingress filters.
net_snapshot() {
    ip -n "$1" -o link show | sed -E 's/^[0-9]+: //; s/ state [A-Z]+//'
    ip -n "$1" -o addr show | awk '{print $2, $3, $4}'
    ip -n "$1" route show
    ip -n "$1" neigh show nud permanent
    ip netns exec "$1" tc qdisc show
    local dev
    for dev in $(ip -n "$1" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//'); do
        ip netns exec "$1" tc filter show dev "$dev" ingress 2>/dev/null
    done
}

# net_bundle DIR NETNS-JSON ARGS-JSON [EXTRA-MOUNTS-JSON]: a busybox bundle with
# the network namespace entry NETNS-JSON ({"type": "network", ...}).
net_bundle() {
    local dir=$1 netns=$2 args=$3 mounts=${4:-}
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/dev" "$dir/rootfs/tmp" \
             "$dir/rootfs/etc" "$dir/rootfs/www"
    cp "$BUSYBOX" "$dir/rootfs/bin/busybox"
    local a
    for a in sh echo cat true ip wget httpd nc dd sleep timeout wc head yes ls grep ping time; do
        ln -sf busybox "$dir/rootfs/bin/$a"
    done
    echo hello-from-container > "$dir/rootfs/www/index.html"
    cat > "$dir/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": { "terminal": false, "user": { "uid": 0, "gid": 0 },
               "args": $args, "env": [ "PATH=/bin" ], "cwd": "/" },
  "root": { "path": "rootfs", "readonly": false },
  "hostname": "net-test",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs" }${mounts:+, $mounts}
  ],
  "linux": { "namespaces": [ { "type": "pid" }, { "type": "mount" }, { "type": "ipc" },
                             { "type": "uts" }, $netns ] }
}
JSON
}
