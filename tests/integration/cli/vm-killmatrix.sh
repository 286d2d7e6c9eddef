#!/bin/bash
# The kill -9 matrix's cells that need a real VM (see doc/kill-matrix.md):
# QEMU killed while the sandbox is booting, once created (not started),
# running, paused and in an exec, virtiofsd killed while it runs. After each kill the next `vcrun state`,
# `list` and `delete --force` must work and say what happened, and after the
# delete no QEMU, virtiofsd, mount or state is left. One boot per cell.
. "$(dirname "$0")/lib.sh"
set -u

missing=$(vm_missing)
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-killvm.XXXXXX")
# Every cell boots cold: the boot cell kills QEMU during a real boot, which a
# template's restore (on by default) would hide behind its cold fallback.
sed 's/^\( *fs = "[^"]*";\)$/\1\n  template = false;/' "$CONF" > "$ROOT/cold.conf"
grep -q 'template = false;' "$ROOT/cold.conf" || { echo "1..0 # SKIP cannot turn templates off in $CONF"; exit 0; }
CONF=$ROOT/cold.conf
cleanup() {
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
    done
    pkill -KILL -f -- "$ROOT" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

B=$ROOT/bundle
make_bundle "$B" '["sleep", "1000"]'
# pid_of WHAT ID: the QEMU (qemu-system-*) or virtiofsd of sandbox ID.
# (Not "qemu.*": /usr/lib/qemu/virtiofsd matches that too, and starts first.)
pid_of() {
    case $1 in
        qemu) cat "$ROOT/$2/qemu.pid" 2>/dev/null || pgrep -f -- "qemu-system.*$ROOT/$2/" | head -1 ;;
        *) pgrep -f -- "$1.*$ROOT/$2/" | head -1 ;;
    esac
}
# (Never `wait_for ... sh -c "pgrep -f PATTERN"`: that sh's own command line
# holds the pattern, so pgrep always finds it.)
none_left() { ! pgrep -f -- "$ROOT/$1/" >/dev/null; }
vmm_up() { [ -n "$(pid_of qemu "$1")" ]; }
status_of() { vc state "$1" 2>&1 | sed -n 's/.*"status" *: *"\([a-z]*\)".*/\1/p' | head -1; }
left_of() {
    local left=""
    pgrep -f -- "$ROOT/$1/" >/dev/null && left="processes: $(pgrep -af -- "$ROOT/$1/" | cut -c1-80 | tr '\n' ';')"
    grep -q -- "$ROOT/$1" /proc/mounts && left="$left mounts"
    [ -e "$ROOT/$1" ] && left="$left state-dir"
    echo "$left"
}
# after_kill ID CELL WANT: state says WANT, list works, delete cleans up.
after_kill() {
    local id=$1 cell=$2 want=$3 status out st
    for _ in $(seq 50); do [ "$(status_of "$id")" = "$want" ] && break; sleep 0.2; done
    status=$(status_of "$id")
    expect_eq "$cell: state says $want" "$want" "$status"
    vc list >/dev/null 2>&1; ok $? "$cell: list works"
    if [ -f "$ROOT/$id/sandbox.json" ]; then
        python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$ROOT/$id/sandbox.json"
        ok $? "$cell: the state file is readable"
    fi
    out=$(vc delete --force "$id" 2>&1); st=$?
    ok $st "$cell: delete --force works${out:+ ($out)}"
    wait_for 10 none_left "$id"
    expect_eq "$cell: nothing is left" "" "$(left_of "$id")"
    diag "cell: $cell | state after: $status | delete: $st"
}

# 1. QEMU killed while the container runs.
vc run -d --bundle "$B" k1 </dev/null >/dev/null 2>&1; ok $? "k1 runs detached"
q=$(pid_of qemu k1); [ -n "$q" ] && kill -9 "$q"
after_kill k1 "QEMU killed while running" stopped

# 2. virtiofsd killed while the container runs (the fs daemon is gone: the
# sandbox cannot go on and stops).
vc run -d --bundle "$B" k2 </dev/null >/dev/null 2>&1; ok $? "k2 runs detached"
v=$(pid_of virtiofsd k2)
if [ -n "$v" ]; then
    kill -9 "$v"
    after_kill k2 "virtiofsd killed while running" stopped
else
    skip "virtiofsd killed while running" "the configuration does not use fs-virtiofs"
    vc delete --force k2 >/dev/null 2>&1
fi

# 3. QEMU killed while paused.
vc run -d --bundle "$B" k3 </dev/null >/dev/null 2>&1 && vc pause k3; ok $? "k3 runs and is paused"
q=$(pid_of qemu k3); [ -n "$q" ] && kill -9 "$q"
after_kill k3 "QEMU killed while paused" stopped

# 4. QEMU killed during an exec.
vc run -d --bundle "$B" k4 </dev/null >/dev/null 2>&1; ok $? "k4 runs detached"
vc exec k4 sleep 60 </dev/null >"$ROOT/k4.exec" 2>&1 &
exec_pid=$!
sleep 2
q=$(pid_of qemu k4); [ -n "$q" ] && kill -9 "$q"
wait_for 15 sh -c "! kill -0 $exec_pid 2>/dev/null"; ok $? "the exec returns once QEMU is gone"
wait "$exec_pid"; st=$?
[ $st -ne 0 ]; ok $? "... with a failure status ($st: $(head -c 200 "$ROOT/k4.exec"))"
after_kill k4 "QEMU killed during an exec" stopped

# 5. QEMU killed while the sandbox boots (before the agent answers): it is
# stopped (SIGSTOP) the moment it appears, so the boot cannot finish before
# the kill lands, however fast the host.
vc create --bundle "$B" k5 </dev/null >"$ROOT/k5.out" 2>&1 &
create_pid=$!
wait_for 60 vmm_up k5
q=$(pid_of qemu k5)
[ -n "$q" ] && kill -STOP "$q" && sleep 0.5 && kill -9 "$q"
ok $([ -n "$q" ]; echo $?) "k5's QEMU (pid ${q:-none}) is stopped and killed during the boot"
wait "$create_pid"; st=$?
[ $st -ne 0 ]; ok $? "create fails when QEMU dies during the boot ($st: $(head -c 200 "$ROOT/k5.out"))"
out=$(vc state k5 2>&1)
if printf '%s' "$out" | grep -q "does not exist"; then
    ok 0 "QEMU killed during the boot: create rolled back, state says it does not exist"
    expect_eq "QEMU killed during the boot: nothing is left" "" "$(left_of k5)"
    diag "cell: QEMU killed during the boot | state after: gone (rolled back) | delete: not needed"
else
    after_kill k5 "QEMU killed during the boot" stopped
fi

# 6. QEMU killed once `vcrun create` returned (created, never started): the
# supervisor watches the VM from the create on, records the stop and ends
# (as for an init killed with its VM); start then says it is stopped.
vc create --bundle "$B" k6 </dev/null >"$ROOT/k6.out" 2>&1; ok $? "k6 is created"
owner=$(state_field k6 owner_pid)
q=$(pid_of qemu k6); [ -n "$q" ] && kill -9 "$q"
wait_for 30 sh -c "[ -n '$owner' ] && ! kill -0 '$owner' 2>/dev/null"
ok $? "created, QEMU killed: the supervisor (pid $owner) ends"
out=$(vc start k6 2>&1); st=$?
[ $st -ne 0 ] && printf '%s' "$out" | grep -q stopped
ok $? "created, QEMU killed: start says it is stopped ($st: $out)"
after_kill k6 "QEMU killed once created (not started)" stopped
tap_done
