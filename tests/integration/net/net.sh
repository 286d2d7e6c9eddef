#!/bin/bash
# Networking, Kata's tc-filter model, against real QEMU and the guest image:
# a container in a network namespace the test prepared (two veths, MTU 1400,
# routes, a permanent neighbour, resolv.conf and hosts bind mounts) sees its
# addresses, MACs, routes and DNS configuration, fetches a page from a peer
# namespace and serves one to it; delete, and delete after a crash, leave the
# namespace exactly as given; bad input fails clearly and changes nothing.
# Namespaces and veths are the test's own; addresses come from 192.0.2.0/24.
#
# VCRUN_NET_HYPERVISOR names the hypervisor plugin under test (default
# hypervisor-qemu; net-clh.sh runs hypervisor-clh against its stand-in and
# net-libvirt.sh hypervisor-libvirt against a private libvirtd, with the
# configuration each writes); VCRUN_NET_SHORT=1 runs only the first
# sandbox's core cases (addresses and MACs, a fetch each way, delete leaves
# the namespace as given).
here=$(dirname "$0")
. "$here/../cli/lib.sh"
. "$here/net-lib.sh"
set -u
HV=${VCRUN_NET_HYPERVISOR:-hypervisor-qemu}
SHORT=${VCRUN_NET_SHORT:-0}

missing=$(vm_missing)
[ -z "$missing" ] && missing=$(net_missing)
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-net.XXXXXX")
peer_httpd=
cleanup() {
    local id
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
    done
    [ -n "$peer_httpd" ] && kill "$peer_httpd" 2>/dev/null
    net_cleanup
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# vctapN, and vct<hash>N: the host-side name of a tap libvirt opens by name.
host_taps() { ip -o link show | grep -c ' vct' ; }
# vexec ID CMD...: vc exec; an empty answer is retried (twice) and said, as
# exec sometimes loses a short process's output (not a network matter).
vexec() {
    local out try
    for try in 1 2 3; do
        out=$(vc exec "$@" 2>&1)
        [ -n "$out" ] && break
        diag "exec $* printed nothing (try $try)"
    done
    printf '%s' "$out"
}
# The process holding the VM's NICs: QEMU, or the Cloud Hypervisor process
# serving the sandbox's API socket.
vmm_of() {
    case $HV in
        hypervisor-clh) pgrep -f -- "path=$ROOT/$1/clh-api.sock" | head -1 ;;
        hypervisor-libvirt) pgrep -f -- "guest=vcrun-$1," | head -1 ;;
        *) cat "$ROOT/$1/qemu.pid" 2>/dev/null ;;
    esac
}

# ---- the namespaces: peer <-> ctr (eth0, MTU 1400) and peer2 <-> ctr (eth1)
PEER=${NET_PREFIX}peer PEER2=${NET_PREFIX}peer2 CTR=${NET_PREFIX}ctr
CTR_PATH=/run/netns/$CTR
net_ns "$PEER" && net_ns "$PEER2" && net_ns "$CTR" &&
net_veth "$CTR" eth0 "$PEER" veth0 02:00:00:00:02:02 &&
net_veth "$CTR" eth1 "$PEER2" veth0 02:00:00:00:02:82 &&
ip -n "$CTR" link set eth0 mtu 1400 && ip -n "$PEER" link set veth0 mtu 1400 &&
ip -n "$PEER" addr add 192.0.2.1/25 dev veth0 &&
ip -n "$CTR" addr add 192.0.2.2/25 dev eth0 &&
ip -n "$PEER2" addr add 192.0.2.129/26 dev veth0 &&
ip -n "$CTR" addr add 192.0.2.130/26 dev eth1 &&
ip -n "$CTR" route add default via 192.0.2.1 &&
ip -n "$CTR" route add 192.0.2.192/26 via 192.0.2.129 dev eth1 &&
ip -n "$CTR" neigh add 192.0.2.3 lladdr 02:00:00:00:00:03 dev eth0 nud permanent
ok $? "the test's namespaces and veths are set up"
before=$(net_snapshot "$CTR")
host_before=$(host_taps)

mkdir -p "$ROOT/www"
echo hello-from-peer > "$ROOT/www/index.html"
head -c 300000 /dev/urandom > "$ROOT/www/big"
ip netns exec "$PEER" timeout 600 "$BUSYBOX" httpd -f -p 8080 -h "$ROOT/www" &
peer_httpd=$!
printf 'nameserver 192.0.2.53\nsearch example.test\n' > "$ROOT/resolv.conf"
printf '127.0.0.1 localhost\n192.0.2.1 peer.example.test\n' > "$ROOT/hosts"

# ---- A: a detached container serving HTTP in the namespace -----------------
B=$ROOT/bundle-a
net_bundle "$B" "{ \"type\": \"network\", \"path\": \"$CTR_PATH\" }" \
    '["httpd", "-f", "-p", "8080", "-h", "/www"]' \
    "{ \"destination\": \"/etc/resolv.conf\", \"type\": \"bind\", \"source\": \"$ROOT/resolv.conf\", \"options\": [\"bind\", \"ro\"] },
     { \"destination\": \"/etc/hosts\", \"type\": \"bind\", \"source\": \"$ROOT/hosts\", \"options\": [\"bind\", \"ro\"] }"
vc run -d --bundle "$B" a1 </dev/null >"$ROOT/a1.out" 2>&1; rc=$?
expect_eq "a container with a network namespace starts (run -d)" 0 $rc
[ $rc = 0 ] || diag "$(cat "$ROOT/a1.out")"

state=$(vc state a1)
net=$(printf '%s' "$state" | python3 -c '
import json, sys
n = json.load(sys.stdin).get("network", {})
print(n.get("namespace", ""))
for i in n.get("interfaces", []):
    print(i["name"], i["mac"], i["tap"], i["mtu"], ",".join(i["addresses"]))' 2>&1)
expect_eq "vcrun state shows the namespace and its interfaces" "$CTR_PATH
eth0 02:00:00:00:02:02 vctap0 1400 192.0.2.2/25
eth1 02:00:00:00:02:82 vctap1 1500 192.0.2.130/26" "$net"

diag "hypervisor: $HV"
out=$(vexec a1 ip -o addr show eth0)
expect_match "the guest's eth0 has the veth's address" "inet 192\.0\.2\.2/25" "$out"
out=$(vexec a1 ip -o link show eth0)
expect_match "... its MAC and MTU 1400" "mtu 1400 .*link/ether 02:00:00:00:02:02" "$out"
out=$(vexec a1 ip -o addr show eth1)
expect_match "a second interface, eth1, has its address" "inet 192\.0\.2\.130/26" "$out"
out=$(vexec a1 ip -o link show eth1)
expect_match "... and its MAC" "link/ether 02:00:00:00:02:82" "$out"
out=$(vexec a1 ip route)
expect_match "the default route is the namespace's" "default via 192\.0\.2\.1 dev eth0" "$out"
expect_match "... and so is the route via eth1" "192\.0\.2\.192/26 via 192\.0\.2\.129 dev eth1" "$out"
out=$(vexec a1 ip neigh show 192.0.2.3)
expect_match "the permanent neighbour is there" "lladdr 02:00:00:00:00:03 .*PERMANENT" "$out"
out=$(vexec a1 cat /etc/resolv.conf /etc/hosts)
expect_match "resolv.conf is the bundle's" "nameserver 192\.0\.2\.53" "$out"
expect_match "... and hosts too" "192\.0\.2\.1 peer\.example\.test" "$out"

out=$(vexec a1 timeout 60 wget -q -O - http://192.0.2.1:8080/index.html)
expect_eq "the container fetches a page from the peer (wget)" "hello-from-peer" "$out"
out=$(ip netns exec "$PEER" timeout 60 "$BUSYBOX" wget -q -O - http://192.0.2.2:8080/index.html 2>&1)
expect_eq "the peer fetches a page from the container's httpd" "hello-from-container" "$out"
if [ "$SHORT" != 1 ]; then
out=$(vexec a1 sh -c 'timeout 120 wget -q -O /tmp/big http://192.0.2.1:8080/big && wc -c < /tmp/big')
expect_eq "300 kB cross the 1400-byte MTU whole" "300000" "$(echo $out)"
out=$(ip netns exec "$PEER2" "$BUSYBOX" ping -c 1 -W 20 192.0.2.130 2>&1)
expect_match "the second interface answers its peer" "1 packets received|1 received" "$out"
fi

taps=$(ip -n "$CTR" -o link show | grep -o 'vctap[0-9]*' | sort | tr '\n' ' ')
expect_eq "the taps are in the container's namespace" "vctap0 vctap1 " "$taps"
out=$(ip netns exec "$CTR" tc filter show dev eth0 ingress)
expect_match "eth0's ingress redirects to vctap0" "mirred \(Egress Redirect to device vctap0\)" "$out"
out=$(ip netns exec "$CTR" tc filter show dev vctap1 ingress)
expect_match "vctap1's ingress redirects to eth1" "mirred \(Egress Redirect to device eth1\)" "$out"
expect_eq "no tap in the host's namespace" "$host_before" "$(host_taps)"
vmm=$(vmm_of a1)
[ -n "$vmm" ] && [ "$(readlink /proc/"$vmm"/ns/net)" = "$(readlink /proc/self/ns/net)" ]
ok $? "the VMM ($HV, pid ${vmm:-none}) runs in the host's network namespace"

# vcrund on a private bus, over the same state dir: the Sandbox object's
# NetworkNamespace and Interfaces, and `vcrun --bus state` printing the same.
VCRUND=$top_builddir/daemon/vcrund
if [ "$SHORT" = 1 ]; then
    : # the D-Bus view is the core's, the same for every hypervisor
elif [ -x "$VCRUND" ] && command -v dbus-daemon >/dev/null && command -v busctl >/dev/null; then
    cat > "$ROOT/bus.conf" <<CONF
<busconfig>
  <type>session</type>
  <listen>unix:path=$ROOT/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
    bus_pid=$(dbus-daemon --config-file="$ROOT/bus.conf" --fork --print-pid)
    address=unix:path=$ROOT/bus
    "$VCRUND" --address "$address" --config "$CONF" --root "$ROOT" >"$ROOT/vcrund.log" 2>&1 &
    vcrund_pid=$!
    named() { busctl --address="$address" status org.vcrun.Runtime1 >/dev/null 2>&1; }
    wait_for 30 named
    out=$(busctl --address="$address" get-property org.vcrun.Runtime1 \
              /org/vcrun/Runtime1/sandbox/a1 org.vcrun.Runtime1.Sandbox Interfaces 2>&1)
    expect_eq "D-Bus: the Sandbox's Interfaces" 'a(sssuas) 2 "eth0" "02:00:00:00:02:02" "vctap0" 1400 1 "192.0.2.2/25" "eth1" "02:00:00:00:02:82" "vctap1" 1500 1 "192.0.2.130/26"' "$out"
    out=$(busctl --address="$address" get-property org.vcrun.Runtime1 \
              /org/vcrun/Runtime1/sandbox/a1 org.vcrun.Runtime1.Sandbox NetworkNamespace 2>&1)
    expect_eq "D-Bus: ... and its NetworkNamespace" "s \"$CTR_PATH\"" "$out"
    out=$(DBUS_SESSION_BUS_ADDRESS=$address timeout 60 "$VCRUN" --bus=session state a1 2>&1 |
          python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin).get("network")))' 2>&1)
    expect_eq "vcrun --bus state prints the same network" \
        "$(vc state a1 | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin).get("network")))')" "$out"
    kill "$vcrund_pid"; wait "$vcrund_pid" 2>/dev/null
    kill "$bus_pid"
else
    skip "D-Bus: the Sandbox's Interfaces" "no vcrund, dbus-daemon or busctl"
fi

vc delete --force a1; expect_eq "delete exits 0" 0 $?
expect_eq "delete leaves the namespace as it was given" "$before" "$(net_snapshot "$CTR")"
if [ "$SHORT" = 1 ]; then
    expect_eq "... and no sandbox is left" "" "$(vc list -q)"
    tap_done
    [ $tap_failed = 0 ]
    exit
fi

# ---- B: bad input: nothing is left, nothing changed -------------------------
B=$ROOT/bundle-b
net_bundle "$B" "{ \"type\": \"network\", \"path\": \"/run/netns/${NET_PREFIX}none\" }" '["true"]'
err=$(vc run --bundle "$B" b1 2>&1 </dev/null); rc=$?
[ $rc -ne 0 ]; ok $? "a namespace path that does not exist fails"
expect_match "... naming it" "network namespace '/run/netns/${NET_PREFIX}none': No such file" "$err"
expect_eq "... and leaves no sandbox" "" "$(vc list -q)"

echo not-a-namespace > "$ROOT/plain"
net_bundle "$B" "{ \"type\": \"network\", \"path\": \"$ROOT/plain\" }" '["true"]'
err=$(vc run --bundle "$B" b2 2>&1 </dev/null); rc=$?
[ $rc -ne 0 ]; ok $? "a path that is not a network namespace fails"
expect_match "... saying so" "'$ROOT/plain' is not a network namespace" "$err"

BAD=${NET_PREFIX}bad
BAD_PATH=/run/netns/$BAD
net_ns "$BAD" && net_veth "$BAD" eth0 "$PEER2" veth9 && ip -n "$BAD" tuntap add dev t9 mode tap
bad_before=$(net_snapshot "$BAD")
net_bundle "$B" "{ \"type\": \"network\", \"path\": \"$BAD_PATH\" }" '["true"]'
err=$(vc run --bundle "$B" b3 2>&1 </dev/null); rc=$?
[ $rc -ne 0 ]; ok $? "an interface vcrun cannot bridge fails the create"
expect_match "... naming it and its type" "interface t9 is of type tun; vcrun bridges only veth" "$err"
expect_eq "... and the namespace is unchanged" "$bad_before" "$(net_snapshot "$BAD")"

# The second veth already has an ingress qdisc: the redirects fail half way,
# after the first tap was made; the rollback removes what vcrun added only.
ip -n "$BAD" link del t9 && net_veth "$BAD" eth1 "$PEER2" veth8 &&
    ip netns exec "$BAD" tc qdisc add dev eth1 ingress
bad_before=$(net_snapshot "$BAD")
err=$(vc run --bundle "$B" b4 2>&1 </dev/null); rc=$?
[ $rc -ne 0 ]; ok $? "a create failing half way through the namespace fails"
expect_match "... with the netlink error" "cannot add an ingress qdisc" "$err"
expect_eq "... no tap or filter is left, the caller's qdisc stays" "$bad_before" "$(net_snapshot "$BAD")"
expect_eq "... and no sandbox" "" "$(vc list -q)"

# A hypervisor plugin without VC_HV_CAP_NET_TAP_FD (the test-only fake one):
# a clear "not supported", never a sandbox without its network.
fakes=$top_builddir/tests/fake/.libs
if [ -f "$fakes/fake-hypervisor.so" ]; then
    cat > "$ROOT/fake.conf" <<CONF
runtime: { state_dir = "$ROOT/fake-state"; plugin_dir = "$fakes"; };
plugins: ( { name = "fake-hypervisor"; }, { name = "fake-agent"; }, { name = "fake-fs"; } );
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
CONF
    net_bundle "$B" "{ \"type\": \"network\", \"path\": \"$CTR_PATH\" }" '["true"]'
    err=$(timeout 60 "$VCRUN" --config "$ROOT/fake.conf" --root "$ROOT/fake-state" run --bundle "$B" f1 2>&1 </dev/null); rc=$?
    [ $rc -ne 0 ]; ok $? "a hypervisor without tap fd support refuses a network namespace"
    expect_match "... saying so" "hypervisor plugin fake-hypervisor cannot give the VM a NIC .*: not supported by this backend" "$err"
    expect_eq "... and the namespace is unchanged" "$before" "$(net_snapshot "$CTR")"
else
    skip "a hypervisor without tap fd support refuses a network namespace" "the fake plugins are not built"
fi

# ---- C: {type: network} without a path: a new namespace, the guest has lo ---
B=$ROOT/bundle-c
net_bundle "$B" '{ "type": "network" }' '["sh", "-c", "ip -o link show | while read n name rest; do echo $name; done"]'
out=$(vc run --bundle "$B" c1 2>&1 </dev/null); rc=$?
expect_eq "a network namespace without a path runs" 0 $rc
expect_eq "... and the guest has only lo, up" "lo:" "$out"

# ---- D: a crash (supervisor and QEMU killed), then delete ------------------
CR=${NET_PREFIX}crash
CR_PATH=/run/netns/$CR
net_ns "$CR" && net_veth "$CR" eth0 "$PEER2" veth7 02:00:00:00:02:07 && ip -n "$CR" addr add 192.0.2.140/26 dev eth0
cr_before=$(net_snapshot "$CR")
B=$ROOT/bundle-d
net_bundle "$B" "{ \"type\": \"network\", \"path\": \"$CR_PATH\" }" '["sleep", "1000"]'
vc run -d --bundle "$B" d1 </dev/null >/dev/null 2>&1
expect_eq "a second container with a namespace starts" running "$(state_field d1 status)"
owner=$(state_field d1 owner_pid); qemu=$(vmm_of d1)
[ -n "$owner" ] && [ -n "$qemu" ] && kill -KILL "$owner" "$qemu"
ok $? "its supervisor and QEMU are killed"
gone() { ! kill -0 "$qemu" 2>/dev/null || grep -q '^State:.Z' /proc/"$qemu"/status 2>/dev/null; }
wait_for 30 gone
vc delete --force d1 >/dev/null 2>"$ROOT/d1.err"; rc=$?
expect_eq "delete after the crash exits 0" 0 $rc
[ $rc = 0 ] || diag "$(tail -5 "$ROOT/d1.err")"
expect_eq "... and leaves the namespace as it was given" "$cr_before" "$(net_snapshot "$CR")"

# ---- E: the namespace vanishes while the sandbox boots ---------------------
VA=${NET_PREFIX}gone
VA_PATH=/run/netns/$VA
net_ns "$VA" && net_veth "$VA" eth0 "$PEER2" veth6 && ip -n "$VA" addr add 192.0.2.150/26 dev eth0
B=$ROOT/bundle-e
net_bundle "$B" "{ \"type\": \"network\", \"path\": \"$VA_PATH\" }" '["sleep", "1000"]'
vc run -d --bundle "$B" e1 </dev/null >"$ROOT/e1.out" 2>&1 &
creator=$!
planned() { [ -f "$ROOT/e1/network.json" ]; }
wait_for 120 planned; ok $? "the sandbox's network is set up (network.json)"
ip netns del "$VA"
wait "$creator"; rc=$?
diag "create with the namespace gone mid-way exited $rc: $(head -c 300 "$ROOT/e1.out")"
vc delete --force e1 >/dev/null 2>&1
expect_eq "delete of it leaves no sandbox" "" "$(vc list -q | grep e1)"
expect_eq "... and no tap in the host's namespace" "$host_before" "$(host_taps)"
[ ! -e "$ROOT/e1" ]; ok $? "... nor its state directory"

tap_done
[ $tap_failed = 0 ]
