#!/bin/bash
# The kill -9 matrix's Cloud Hypervisor cells (doc/kill-matrix.md): vcrun
# (embedded, hypervisor-clh) with the VMM — $VCRUN_CLH_BINARY, else the
# stand-in tests/clh-standin/cloud-hypervisor, whose QEMU dies with it —
# killed with SIGKILL while the sandbox boots (create), once created
# (start), during an exec and during a delete. After each kill the next
# `vcrun state`, `list` and `delete --force` must work and say what happened,
# the state file must be readable, and after the delete no VMM, QEMU,
# virtiofsd, mount or state may be left. One boot per cell (the kill ends
# the VM); the create cell's boot is cut short.
. "$(dirname "$0")/../cli/lib.sh"
set -u

missing=$(vm_missing)
[ -n "$missing" ] || [ -f "$top_builddir/plugins/hypervisor-clh/.libs/hypervisor-clh.so" ] \
    || missing="plugin hypervisor-clh is not built"
if [ -z "$missing" ]; then
    if [ -n "${VCRUN_CLH_BINARY:-}" ]; then
        clh=$VCRUN_CLH_BINARY
        { [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || missing="VCRUN_CLH_BINARY needs KVM, and /dev/kvm is not usable"
    else
        clh=$(cd "$top_srcdir" && pwd)/tests/clh-standin/cloud-hypervisor
        doc=${CLH_STANDIN_OPENAPI:-$(cd "$top_srcdir/.." && pwd)/shared/clh/cloud-hypervisor.yaml}
        if [ ! -f "$doc" ]; then
            missing="no cloud-hypervisor here (VCRUN_CLH_BINARY), and the stand-in's OpenAPI document $doc is absent"
        elif ! python3 -c 'import yaml' 2>/dev/null; then
            missing="the stand-in needs python3 with yaml (python3-yaml)"
        fi
        export CLH_STANDIN_OPENAPI="$doc"
    fi
fi
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-killclh.XXXXXX")
CONF=$ROOT/clh.conf
cleanup() {
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT/state" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT/state" delete --force "$id" >/dev/null 2>&1
    done
    pkill -KILL -f -- "$ROOT/" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

b=$top_builddir
cat > "$CONF" <<CONF
runtime: { state_dir = "$ROOT/state";
  plugin_dir = "$b/plugins/hypervisor-clh/.libs:$b/plugins/agent-kata/.libs:$b/plugins/fs-virtiofs/.libs"; };
plugins: (
  { name = "hypervisor-clh"; settings = { path = "$clh"; api_timeout_ms = 30000; }; },
  { name = "agent-kata"; },
  { name = "fs-virtiofs"; settings = { daemon = "/usr/lib/qemu/virtiofsd"; }; }
);
sandbox: { hypervisor = "hypervisor-clh"; agent = "agent-kata"; fs = "fs-virtiofs";
           vcpus = 1; memory_mib = 256;
           kernel = "$b/guest/vmlinuz"; initrd = "$b/guest/initrd.img"; };
CONF
vc() { timeout -k 5 "${VC_TIMEOUT:-300}" "$VCRUN" --config "$CONF" --root "$ROOT/state" "$@"; }
B=$ROOT/bundle
make_bundle "$B" '["sleep", "1000"]'

# vmm_of ID: the VMM of sandbox ID (its API socket is in the state dir).
vmm_of() { pgrep -f -- "cloud-hypervisor.*$ROOT/state/$1/" | head -1; }
# (Never `wait_for ... sh -c "pgrep -f PATTERN"`: that sh's own command line
# holds the pattern, so pgrep always finds it.)
none_left() { ! pgrep -f -- "$ROOT/state/$1/" >/dev/null; }
vmm_up() { [ -n "$(vmm_of "$1")" ]; }
status_of() { vc state "$1" 2>&1 | sed -n 's/.*"status" *: *"\([a-z]*\)".*/\1/p' | head -1; }
left_of() {
    local left=""
    pgrep -f -- "$ROOT/state/$1/" >/dev/null && left="processes: $(pgrep -af -- "$ROOT/state/$1/" | cut -c1-80 | tr '\n' ';')"
    grep -q -- "$ROOT/state/$1" /proc/mounts && left="$left mounts"
    [ -e "$ROOT/state/$1" ] && left="$left state-dir"
    echo "$left"
}
# after_kill ID CELL WANT: state says WANT, list works, the file reads,
# delete --force cleans up.
after_kill() {
    local id=$1 cell=$2 want=$3 status out st
    for _ in $(seq 100); do [ "$(status_of "$id")" = "$want" ] && break; sleep 0.2; done
    status=$(status_of "$id")
    expect_eq "$cell: state says $want" "$want" "$status"
    vc list >/dev/null 2>&1; ok $? "$cell: list works"
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$ROOT/state/$id/sandbox.json"
    ok $? "$cell: the state file is readable"
    out=$(vc delete --force "$id" 2>&1); st=$?
    ok $st "$cell: delete --force works${out:+ ($out)}"
    wait_for 15 none_left "$id"
    expect_eq "$cell: nothing is left" "" "$(left_of "$id")"
    diag "cell: $cell | state after: $status | delete: $st"
}

# 1. create: the VMM killed while the sandbox boots: once vm.boot has made
# the hybrid vsock socket, while the guest boots and the agent is dialled.
# It is stopped (SIGSTOP) first, so the boot cannot finish before the kill
# lands. The create must fail at once, from the VMM's end, not after the
# agent dial's timeout (30 s of retrying a socket nobody serves).
vc create --bundle "$B" c1 </dev/null >"$ROOT/c1.out" 2>&1 &
create_pid=$!
dialling() { [ -S "$ROOT/state/c1/clh-vsock.sock" ] && vmm_up c1; }
wait_for 60 vmm_up c1
wait_for 60 dialling || diag "no hybrid vsock socket yet: the kill lands before vm.boot"
v=$(vmm_of c1)
[ -n "$v" ] && kill -STOP "$v" && sleep 0.5 && kill -KILL "$v"
ok $([ -n "$v" ]; echo $?) "c1's VMM (pid ${v:-none}) is stopped and killed during the boot"
t0=$(date +%s)
wait "$create_pid"; st=$?
diag "create ended $(( $(date +%s) - t0 )) s after the kill"
[ $st -ne 0 ]; ok $? "the VMM killed during the boot: create fails ($st: $(head -c 200 "$ROOT/c1.out"))"
! grep -q "cannot reach the agent" "$ROOT/c1.out"
ok $? "... from the VMM's end, not at the agent dial's timeout"
if vc state c1 2>&1 | grep -q "does not exist"; then
    ok 0 "the VMM killed during the boot: create rolled back, state says it does not exist"
    vc list >/dev/null 2>&1; ok $? "the VMM killed during the boot: list works"
    wait_for 15 none_left c1
    expect_eq "the VMM killed during the boot: nothing is left" "" "$(left_of c1)"
    diag "cell: the VMM killed during the boot | state after: gone (rolled back) | delete: not needed"
else
    after_kill c1 "the VMM killed during the boot" stopped
fi

# 2. start: the VMM killed once the container is created, before start.
vc create --bundle "$B" c2 </dev/null >"$ROOT/c2.out" 2>&1; ok $? "c2 is created $(head -c 300 "$ROOT/c2.out")"
v=$(vmm_of c2); [ -n "$v" ] && kill -KILL "$v"
out=$(vc start c2 2>&1); st=$?
[ $st -ne 0 ]; ok $? "the VMM killed before start: start fails ($st: $out)"
after_kill c2 "the VMM killed before start" stopped

# 3. exec: the VMM killed while an exec runs.
# The cell is about the kill: a start that fails for another reason is
# said (diag) and tried once more. One CI run saw it fail, output unknown.
if ! vc run -d --bundle "$B" c3 </dev/null >"$ROOT/c3.out" 2>&1; then
    diag "c3's first run -d failed: $(head -c 300 "$ROOT/c3.out"); state: $(vc state c3 2>&1 | head -c 200)"
    vc delete --force c3 >/dev/null 2>&1
    vc run -d --bundle "$B" c3 </dev/null >"$ROOT/c3.out" 2>&1
fi
ok $? "c3 runs detached $(head -c 300 "$ROOT/c3.out")"
vc exec c3 sleep 60 </dev/null >"$ROOT/c3.exec" 2>&1 &
exec_pid=$!
sleep 2
v=$(vmm_of c3); [ -n "$v" ] && kill -KILL "$v"
wait_for 30 sh -c "! kill -0 $exec_pid 2>/dev/null"; ok $? "the VMM killed during an exec: the exec returns"
wait "$exec_pid"; st=$?
[ $st -ne 0 ]; ok $? "... with a failure status ($st: $(head -c 200 "$ROOT/c3.exec"))"
after_kill c3 "the VMM killed during an exec" stopped

# 4. delete: the VMM killed while delete --force stops it.
vc run -d --bundle "$B" c4 </dev/null >"$ROOT/c4.out" 2>&1; ok $? "c4 runs detached $(head -c 300 "$ROOT/c4.out")"
v=$(vmm_of c4)
vc delete --force c4 >"$ROOT/c4.del" 2>&1 &
del_pid=$!
[ -n "$v" ] && kill -KILL "$v"
wait "$del_pid"; st=$?
diag "delete --force with its VMM killed meanwhile: $st $(head -c 200 "$ROOT/c4.del")"
if vc state c4 2>&1 | grep -q "does not exist"; then
    ok 0 "the VMM killed during delete: the delete finished, state says it does not exist"
    vc list >/dev/null 2>&1; ok $? "the VMM killed during delete: list works"
    wait_for 15 none_left c4
    expect_eq "the VMM killed during delete: nothing is left" "" "$(left_of c4)"
    diag "cell: the VMM killed during delete | state after: gone | delete: $st"
else
    after_kill c4 "the VMM killed during delete" stopped
fi
tap_done
[ "$tap_failed" -eq 0 ]
