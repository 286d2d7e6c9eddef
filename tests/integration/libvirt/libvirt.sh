#!/bin/bash
# vcrun over hypervisor-libvirt against a real libvirtd of its own
# (private-libvirtd.sh: private configuration and sockets, the host's libvirt
# untouched), with the build tree's plugins and guest image:
#   - vcrun check and the kvm probe; an unreachable URI, permission denied, a
#     foreign domain vcrun-<id> (refused and left alone), a kernel libvirt
#     cannot read: each a clear error, nothing left behind;
#   - a network namespace (taps opened by libvirt by name in the host's
#     namespace, then moved): traffic both ways; delete after the owner's
#     SIGKILL (reattach), and delete after a crash before the move, leave the
#     namespace as given and no host tap;
#   - virsh list shows a running sandbox's domain with our metadata; exec;
#     libvirtd restarted while it runs (same QEMU, still controllable);
#     its owner SIGKILLed and delete --force from another vcrun process
#     (attach_vm by name and UUID);
#   - libvirtd SIGKILLed while a sandbox boots and restarted: the boot ends
#     well; kill -9 of that sandbox's QEMU: the sandbox is stopped;
#   - the kill -9 matrix's libvirtd cells (doc/kill-matrix.md), one boot for
#     all: libvirtd killed for a start, an exec and a delete; after each the
#     next state, list and delete work, the state file is readable, and in
#     the end nothing is left.
# Skips when libvirtd, the guest image, the plugins or a static busybox are
# missing, or when not root.
set -u
here=$(cd "$(dirname "$0")" && pwd)

. "$here/../cli/lib.sh"
. "$here/../net/net-lib.sh"

missing=$(vm_missing)
[ -f "$top_builddir/plugins/hypervisor-libvirt/.libs/hypervisor-libvirt.so" ] || missing="plugin hypervisor-libvirt is not built"
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi

if [ -z "${VCRUN_LIBVIRT_URI:-}" ]; then
    export VCRUN_TOP_BUILDDIR=$top_builddir
    "$here/private-libvirtd.sh" "$0" "$@"
    rc=$?
    [ $rc -eq 77 ] && { echo "1..0 # SKIP no private libvirtd (libvirtd, virtlogd, unshare and root needed)"; exit 0; }
    exit $rc
fi
VIRSH="virsh -q -c $VCRUN_LIBVIRT_URI"

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-lv.XXXXXX")
chmod 755 "$ROOT"
cleanup() {
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT/state" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT/state" delete --force "$id" >/dev/null 2>&1
    done
    pkill -KILL -f -- "$ROOT/" 2>/dev/null
    net_cleanup
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# write_conf FILE URI [DOMAIN_TYPE] [KERNEL]
write_conf() {
    local b=$top_builddir
    cat > "$1" <<CONF
runtime: { state_dir = "$ROOT/state";
  plugin_dir = "$b/plugins/hypervisor-libvirt/.libs:$b/plugins/agent-kata/.libs:$b/plugins/fs-virtiofs/.libs:$b/plugins/fs-9p/.libs"; };
plugins: (
  { name = "hypervisor-libvirt"; settings = { uri = "$2"; domain_type = "${3:-qemu}"; }; },
  { name = "agent-kata"; },
  { name = "fs-virtiofs"; },
  { name = "fs-9p"; }
);
sandbox: { hypervisor = "hypervisor-libvirt"; agent = "agent-kata"; fs = "fs-virtiofs";
           vcpus = 1; memory_mib = 256;
           kernel = "${4:-$b/guest/vmlinuz}"; initrd = "$b/guest/initrd.img"; };
CONF
}
CONF=$ROOT/vcrun.conf
write_conf "$CONF" "$VCRUN_LIBVIRT_URI"
vc() { timeout -k 5 "${VC_TIMEOUT:-240}" "$VCRUN" --config "$CONF" --root "$ROOT/state" "$@"; }
domains() { $VIRSH list --all --name | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'; }
qemu_of() { pgrep -f -- "guest=vcrun-$1," | head -1; }
no_domain() { [ -z "$($VIRSH list --all --name | grep -x "vcrun-$1")" ]; }
state_field() {
    vc state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2" 2>/dev/null
}

# ---- A: check, faults that boot nothing ------------------------------------
out=$(vc check 2>&1); rc=$?
expect_eq "vcrun check passes against the private libvirtd" 0 $rc
expect_match "check reports libvirtd's version and the URI" "libvirtd: ok \(.*libvirt-sock: libvirt [0-9]+\.[0-9]+" "$out"
expect_match "check reports the domain type" "domain type: qemu" "$out"
write_conf "$ROOT/auto.conf" "$VCRUN_LIBVIRT_URI" auto
out=$(timeout 60 "$VCRUN" --config "$ROOT/auto.conf" --root "$ROOT/state" check 2>&1)
expect_match "domain_type auto decides kvm or qemu, saying why not kvm" "domain type: (kvm|qemu \(kvm: .+\)$)" "$out"
diag "$(printf '%s\n' "$out" | grep 'domain type')"
expect_eq "the kvm probe leaves no domain" "" "$(domains)"

make_bundle "$ROOT/hello" '["sh", "-c", "echo hello; exit 3"]'
make_bundle "$ROOT/sleeper" '["sleep", "1000"]'

bad_uri="qemu+unix:///system?socket=$ROOT/no-such-libvirt-sock"
write_conf "$ROOT/bad-uri.conf" "$bad_uri"
err=$("$VCRUN" --config "$ROOT/bad-uri.conf" --root "$ROOT/state" run --bundle "$ROOT/hello" u1 2>&1 </dev/null); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "run with an unreachable URI fails (exit $rc)"
expect_match "... naming the URI" "no-such-libvirt-sock" "$err"
expect_eq "... leaving no sandbox" "" "$(vc list -q)"

err=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$VCRUN" --config "$CONF" --root "$ROOT/nobody" check 2>&1); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "check as an unprivileged user fails (exit $rc)"
expect_match "... saying permission denied and naming the URI" "[Pp]ermission denied.*libvirt-sock" "$err"

cat > "$ROOT/foreign.xml" <<XML
<domain type='qemu'><name>vcrun-f1</name><memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os></domain>
XML
$VIRSH define "$ROOT/foreign.xml" >/dev/null
foreign_uuid=$($VIRSH domuuid vcrun-f1)
err=$(vc run --bundle "$ROOT/hello" f1 2>&1 </dev/null); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "a foreign domain named vcrun-<id> makes run fail (exit $rc)"
expect_match "... saying it exists and is left alone" "domain named 'vcrun-f1' already exists .*$foreign_uuid.*leaves it alone" "$err"
expect_eq "... and it is untouched" "$foreign_uuid shut off" "$($VIRSH domuuid vcrun-f1) $($VIRSH domstate vcrun-f1)"
expect_eq "... no sandbox left" "" "$(vc list -q)"
$VIRSH undefine vcrun-f1 >/dev/null

write_conf "$ROOT/bad-kernel.conf" "$VCRUN_LIBVIRT_URI" qemu "$ROOT/no-such-dir/vmlinuz"
mkdir -p "$ROOT/no-such-dir"
err=$("$VCRUN" --config "$ROOT/bad-kernel.conf" --root "$ROOT/state" run --bundle "$ROOT/hello" k1 2>&1 </dev/null); rc=$?
ok $([ $rc -ne 0 ]; echo $?) "a kernel libvirt cannot read makes run fail (exit $rc)"
expect_match "... naming the kernel" "no-such-dir/vmlinuz" "$err"
expect_eq "... leaving no domain and no sandbox" " " "$(domains) $(vc list -q)"

# ---- N: a network namespace ------------------------------------------------
# libvirt's API takes no tap fd, so hypervisor-libvirt announces
# VC_HV_CAP_NET_TAP_NAME: vcrun makes a persistent tap vct<hash>N in the
# host's namespace, libvirtd opens it by name (<interface type='ethernet'>,
# <target managed='no'>), and vcrun moves it into the container's namespace,
# renamed vctapN, with the tc redirects, once the domain started. The guest
# and the peer namespace reach each other; delete leaves the namespace as it
# was given and no tap in the host's namespace; so does a delete after a
# crash in the window before the move, when the tap is still in the host's.
net_why=$(net_missing)
if [ -z "$net_why" ]; then
    LVNS=${NET_PREFIX}lv LVPEER=${NET_PREFIX}lvpeer
    net_ns "$LVNS" && net_ns "$LVPEER" &&
        net_veth "$LVNS" eth0 "$LVPEER" veth0 02:00:00:00:03:02 &&
        ip -n "$LVNS" addr add 192.0.2.2/24 dev eth0 && ip -n "$LVPEER" addr add 192.0.2.1/24 dev veth0
    ok $? "a network namespace with a veth of the test's own"
    ns_before=$(net_snapshot "$LVNS")
    host_vct() { ip -o link show | grep -o ' vct[0-9a-f]*[0-9]*' | sort | tr -d ' ' | tr '\n' ' '; }
    host_before=$(host_vct)
    net_bundle "$ROOT/netb" "{ \"type\": \"network\", \"path\": \"/run/netns/$LVNS\" }" '["sleep", "1000"]'
    vc run -d --bundle "$ROOT/netb" n1 </dev/null >/dev/null 2>"$ROOT/n1.err"; rc=$?
    expect_eq "run -d with a network namespace exits 0" 0 $rc
    [ $rc -eq 0 ] || sed 's/^/#   /' "$ROOT/n1.err" | tail -20
    xml=$($VIRSH dumpxml vcrun-n1 2>/dev/null)
    expect_match "the domain's NIC is an existing tap libvirt leaves alone" \
        "<interface type=.ethernet.>.*<target dev=.vct[0-9a-f]{8}0. managed=.no./>" "$(echo $xml)"
    expect_eq "the tap is in the container's namespace now, as vctap0" "vctap0" \
        "$(ip -n "$LVNS" -o link show | grep -o 'vctap[0-9]*' | tr '\n' ' ' | sed 's/ $//')"
    expect_eq "... and none in the host's namespace" "$host_before" "$(host_vct)"
    out=$(vc exec n1 ip -o addr show eth0 2>&1)
    expect_match "the guest's eth0 has the veth's address" "inet 192\.0\.2\.2/24" "$out"
    out=$(vc exec n1 ping -c 1 -W 30 192.0.2.1 2>&1)
    expect_match "the guest reaches the peer namespace (ping)" "1 packets received" "$out"
    out=$(ip netns exec "$LVPEER" "$BUSYBOX" ping -c 1 -W 30 192.0.2.2 2>&1)
    expect_match "... and the peer reaches the guest" "1 packets received" "$out"
    # The owner SIGKILLed: delete reattaches (attach_vm with the NIC in the
    # saved state) from another process.
    owner=$(state_field n1 owner_pid)
    kill -KILL "$owner" 2>/dev/null
    owner_gone() { ! kill -0 "$owner" 2>/dev/null || [ "$(awk '{print $3}' /proc/$owner/stat 2>/dev/null)" = Z ]; }
    wait_for 10 owner_gone; ok $? "the owner of n1 SIGKILLed"
    vc delete --force n1 2>"$ROOT/n1.err"; rc=$?
    expect_eq "delete --force from another process (reattach) exits 0" 0 $rc
    [ $rc -eq 0 ] || sed 's/^/#   /' "$ROOT/n1.err" | tail -20
    expect_eq "... leaving no domain and no sandbox" " " "$(domains) $(vc list -q)"
    expect_eq "... the namespace as it was given" "$ns_before" "$(net_snapshot "$LVNS")"
    expect_eq "... and no tap in the host's namespace" "$host_before" "$(host_vct)"

    # A crash in the window: every vcrun process of the sandbox SIGKILLed as
    # soon as its tap shows in the host's namespace (stopped first, so that
    # the move cannot happen in between), and its QEMU once libvirtd, which
    # goes on with the start alone, has spawned it (without a saved state,
    # delete cannot find a domain whose start it never saw end). eth0 has an
    # ingress qdisc of the caller's this time: nothing of vcrun's was in the
    # namespace yet, so the delete must leave it there.
    ip netns exec "$LVNS" tc qdisc add dev eth0 ingress
    ns_before=$(net_snapshot "$LVNS")
    vc run -d --bundle "$ROOT/netb" n2 </dev/null >/dev/null 2>&1 &
    in_window=1
    for _ in $(seq 3000); do
        [ "$(host_vct)" != "$host_before" ] && in_window=0 && break
        sleep 0.02
    done
    vcrun_pids=$(pgrep -f -- "--root $ROOT/state" | tr '\n' ' ')
    [ -n "$vcrun_pids" ] && kill -STOP $vcrun_pids && kill -KILL $vcrun_pids
    ok $in_window "a tap of n2 shows in the host's namespace, and its vcrun processes are killed then"
    wait 2>/dev/null
    for _ in $(seq 600); do
        qemu=$(qemu_of n2)
        [ -n "$qemu" ] && { kill -KILL "$qemu"; break; }
        no_domain n2 && break
        sleep 0.1
    done
    wait_for 30 no_domain n2; ok $? "... and its QEMU (${qemu:-none}): no domain is left"
    left=$(host_vct)
    ok $([ "$left" != "$host_before" ]; echo $?) "... the tap is left in the host's namespace ($left)"
    for t in $left; do diag "$(ip -o link show "$t" 2>&1 | cut -c1-120)"; done
    VC_TIMEOUT=120 vc delete --force n2 >/dev/null 2>"$ROOT/n2.err"; rc=$?
    expect_eq "delete --force after the crash exits 0" 0 $rc
    [ $rc -eq 0 ] || sed 's/^/#   /' "$ROOT/n2.err" | tail -20
    expect_eq "... no tap in the host's namespace" "$host_before" "$(host_vct)"
    expect_eq "... the namespace is as it was given, the caller's qdisc too" "$ns_before" "$(net_snapshot "$LVNS")"
    expect_eq "... and no sandbox is left" "" "$(vc list -q)"
else
    skip "a network namespace over hypervisor-libvirt" "$net_why"
fi

# ---- B: a running sandbox seen through libvirt ------------------------------
vc run -d --bundle "$ROOT/sleeper" b1 </dev/null >/dev/null 2>"$ROOT/b1.err"; rc=$?
expect_eq "run -d over libvirt exits 0" 0 $rc
[ $rc -eq 0 ] || sed 's/^/#   /' "$ROOT/b1.err" | tail -20
expect_eq "virsh list shows the domain running" "running" "$($VIRSH domstate vcrun-b1 2>&1)"
xml=$($VIRSH dumpxml vcrun-b1 2>/dev/null)
expect_match "the domain carries the sandbox id in its metadata" "<vcrun:sandbox [^>]*id=.b1." "$xml"
expect_match "libvirt shows the agent channel connected" "name=.agent.channel.0. state=.connected." "$xml"
expect_match "libvirt runs virtiofsd for the shared directory" "<binary path=" "$xml"
if [ -f "$top_builddir/guest/vmlinux" ]; then
    expect_match "<os><kernel> is the PVH vmlinux beside the configured vmlinuz" "<kernel>$top_builddir/guest/vmlinux</kernel>" "$xml"
else
    skip "<os><kernel> is the PVH vmlinux" "make guest built no vmlinux"
fi
qemu=$(qemu_of b1)
ok $([ -n "$qemu" ]; echo $?) "QEMU of vcrun-b1 runs (pid ${qemu:-none})"
expect_eq "exec in the sandbox" "exec-ok" "$(vc exec b1 echo exec-ok 2>&1)"

"$VCRUN_LIBVIRT_CTL" stop; sleep 1
"$VCRUN_LIBVIRT_CTL" start; ok $? "libvirtd restarted while the sandbox runs"
expect_eq "... the same QEMU still runs" "$qemu" "$(qemu_of b1)"
expect_eq "... the sandbox is still controllable (exec)" "after-restart" "$(vc exec b1 echo after-restart 2>&1)"

owner=$(state_field b1 owner_pid)
kill -KILL "$owner" 2>/dev/null
owner_gone() { ! kill -0 "$owner" 2>/dev/null || [ "$(awk '{print $3}' /proc/$owner/stat 2>/dev/null)" = Z ]; }
wait_for 10 owner_gone; ok $? "the sandbox's owner SIGKILLed"
expect_eq "... the VM outlives it" "running" "$($VIRSH domstate vcrun-b1 2>&1)"
vc delete --force b1; expect_eq "delete --force from another vcrun process (reattach by name and UUID)" 0 $?
wait_for 15 no_domain b1; ok $? "... destroys the domain"
expect_eq "... and the QEMU is gone" "" "$(qemu_of b1)"

# ---- C: libvirtd killed mid-boot; QEMU killed ------------------------------
vc run -d --bundle "$ROOT/sleeper" c1 </dev/null >/dev/null 2>"$ROOT/c1.err" &
run_pid=$!
# The guest's console has output: the domain is created, the guest boots.
booting() { [ -s "$ROOT/state/c1/console.log" ]; }
wait_for 120 booting; ok $? "the domain of c1 boots"
"$VCRUN_LIBVIRT_CTL" kill; sleep 2
"$VCRUN_LIBVIRT_CTL" start; ok $? "libvirtd SIGKILLed mid-boot, and started again"
wait $run_pid; rc=$?
expect_eq "... the boot still completes (run -d exits 0)" 0 $rc
[ $rc -eq 0 ] || sed 's/^/#   /' "$ROOT/c1.err" | tail -20
expect_eq "... and c1 runs" "running" "$(state_field c1 status)"
qemu=$(qemu_of c1)
t0=$(date +%s.%N)
kill -KILL "$qemu" 2>/dev/null
stopped() { [ "$(state_field c1 status)" = stopped ]; }
wait_for 30 stopped; ok $? "kill -9 of QEMU: the sandbox goes to stopped"
diag "noticed in $(echo "$(date +%s.%N) - $t0" | bc) s"
wait_for 15 no_domain c1; ok $? "... libvirt no longer lists the domain"
vc delete --force c1 >/dev/null 2>&1

# ---- D: the kill matrix's libvirtd cells (one boot) -------------------------
# libvirtd is killed with SIGKILL right before each step, so that the whole
# step runs without it (it holds no connection the agent path needs, and the
# VM lives on); it is started again after the checks of each cell.
readable() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$ROOT/state/$1/sandbox.json" 2>/dev/null; }
# cell STEP WANT: after the step, state says WANT, list works, the file reads.
cell() {
    expect_eq "libvirtd killed, $1: state says $2" "$2" "$(state_field d1 status)"
    vc list >/dev/null 2>&1; ok $? "libvirtd killed, $1: list works"
    readable d1; ok $? "libvirtd killed, $1: the state file is readable"
    "$VCRUN_LIBVIRT_CTL" start; ok $? "libvirtd killed, $1: libvirtd starts again"
    diag "cell: libvirtd killed | $1 | state after: $(state_field d1 status) | next state, list: work"
}
vc create --bundle "$ROOT/sleeper" d1 </dev/null >/dev/null 2>"$ROOT/d1.err"; rc=$?
expect_eq "d1 is created over libvirt" 0 $rc
[ $rc -eq 0 ] || sed 's/^/#   /' "$ROOT/d1.err" | tail -20
"$VCRUN_LIBVIRT_CTL" kill
vc start d1 2>"$ROOT/d1.err"; ok $? "libvirtd killed, start: start works (the agent needs no libvirtd) $(head -c 200 "$ROOT/d1.err")"
cell start running
"$VCRUN_LIBVIRT_CTL" kill
expect_eq "libvirtd killed, exec: exec works" "no-libvirtd" "$(vc exec d1 echo no-libvirtd 2>&1)"
cell exec running
qemu=$(qemu_of d1)
"$VCRUN_LIBVIRT_CTL" kill
out=$(vc delete --force d1 2>&1); st=$?; after=gone
diag "delete --force without libvirtd: $st ${out:0:200}"
if [ $st -eq 0 ]; then
    ok 0 "libvirtd killed, delete: delete --force works (stops the VM without libvirtd)"
    "$VCRUN_LIBVIRT_CTL" start; ok $? "libvirtd killed, delete: libvirtd starts again"
else
    printf '%s' "$out" | grep -q -i "libvirt"
    ok $? "libvirtd killed, delete: delete --force fails saying libvirt is unreachable"
    after=$(state_field d1 status)
    vc state d1 >/dev/null 2>&1; ok $? "... state works (status: $after)"
    readable d1; ok $? "... its state file is readable"
    "$VCRUN_LIBVIRT_CTL" start; ok $? "... libvirtd starts again"
    vc delete --force d1; ok $? "libvirtd back: the next delete --force works"
fi
wait_for 15 no_domain d1; ok $? "libvirtd killed, delete: libvirt no longer lists the domain"
gone() { [ -z "$qemu" ] || ! kill -0 "$qemu" 2>/dev/null; }
wait_for 15 gone; ok $? "libvirtd killed, delete: its QEMU is gone"
[ ! -e "$ROOT/state/d1" ]; ok $? "libvirtd killed, delete: no state dir is left"
diag "cell: libvirtd killed | delete | state after: $( [ $st -eq 0 ] && echo gone || echo "$after") | next delete: works"
expect_eq "nothing is left: no sandbox, no domain" " " "$(vc list -q) $(domains)"
expect_eq "no QEMU or virtiofsd of this test runs" "" "$(pgrep -f -- "$ROOT/" | tr '\n' ' ')"

tap_done
[ "$tap_failed" -eq 0 ]
