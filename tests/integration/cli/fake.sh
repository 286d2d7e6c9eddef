#!/bin/bash
# vcrun on the test-only fake plugins (tests/fake): the owner machinery —
# the detached supervisor, owner.sock, stdio forwarding, exec with passed
# fds, exit statuses, delete with and without an owner — in seconds, with no
# VM. The fake agent lives in the owner's process, so every call that reaches
# it must go through the owner: a call that did not would fail.
. "$(dirname "$0")/lib.sh"
set -u

fakes=$top_builddir/tests/fake/.libs
if [ ! -f "$fakes/fake-agent.so" ]; then
    echo "1..0 # SKIP the fake plugins are not built ($fakes)"
    exit 0
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-cli-fake.XXXXXX")
CONF=$ROOT/fake.conf
cleanup() {
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT/state" list -q 2>/dev/null); do
        pid=$(state_field "$id" owner_pid)
        "$VCRUN" --config "$CONF" --root "$ROOT/state" delete --force "$id" >/dev/null 2>&1
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
cat > "$CONF" <<EOF
runtime: { state_dir = "$ROOT/state"; plugin_dir = "$fakes"; };
plugins: ( { name = "fake-hypervisor"; }, { name = "fake-agent"; }, { name = "fake-fs"; } );
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
EOF
ROOT_STATE=$ROOT/state
# VCRUN_TEST_LOG=FILE: every vcrun logs there, with debug messages.
vc() { timeout -k 5 60 "$VCRUN" --config "$CONF" --root "$ROOT_STATE" \
           ${VCRUN_TEST_LOG:+--debug --log "$VCRUN_TEST_LOG"} "$@"; }
bundle() {  # bundle NAME 'ARGS JSON'
    mkdir -p "$ROOT/$1/rootfs"
    cat > "$ROOT/$1/config.json" <<EOF
{ "ociVersion": "1.0.2", "process": { "args": $2, "cwd": "/", "env": [ "A=1" ] },
  "root": { "path": "rootfs" }, "annotations": { "k": "v" } }
EOF
    echo "$ROOT/$1"
}

# Attached runs.
out=$(vc run --bundle "$(bundle echo '["echo", "hello", "world"]')" e1 </dev/null); rc=$?
expect_eq "run: exit 0" 0 $rc
expect_eq "run: stdout" "hello world" "$out"
err=$(vc run --bundle "$(bundle err '["echo-err", "oops"]')" e2 </dev/null 2>&1 >/dev/null)
expect_eq "run: stderr" "oops" "$err"
vc run --bundle "$(bundle seven '["exit", "7"]')" e3 </dev/null; rc=$?
expect_eq "run: exit 7" 7 $rc
out=$(printf 'line one\nline two\n' | vc run --bundle "$(bundle cat '["cat"]')" e4)
expect_eq "run: stdin through a pipe, closed at its end" "line one
line two" "$out"
vc run --bundle "$(bundle big '["big", "3000000"]')" e5 </dev/null > "$ROOT/big.out"; rc=$?
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(0 if d == bytes(i % 251 for i in range(3000000)) else 1)' "$ROOT/big.out"
ok $? "run: 3 MB of output arrive intact"
expect_eq "runs leave nothing behind" "" "$(vc list -q)"

# Detached: create, start, state, exec, kill, delete, each its own process.
B=$(bundle sleeper '["sleep-forever"]')
vc create --bundle "$B" d1 >"$ROOT/d1.out" 2>&1; rc=$?
expect_eq "create exits 0" 0 $rc
expect_eq "state: created" created "$(state_field d1 status)"
owner=$(state_field d1 owner_pid)
kill -0 "$owner" 2>/dev/null; ok $? "the owner outlives create"
vc start d1; expect_eq "start exits 0" 0 $?
expect_eq "state: running" running "$(state_field d1 status)"
expect_eq "state: pid is the owner's" "$owner" "$(state_field d1 pid)"
out=$(vc exec d1 echo from exec); rc=$?
expect_eq "exec: exit 0" 0 $rc
expect_eq "exec: stdout through the passed fd" "from exec" "$out"
vc exec d1 exit 4; expect_eq "exec: exit 4" 4 $?
# Many short execs at once, each with stdin a pipe that stays open or
# /dev/null: every one prints exactly its own words (an fd closed twice or
# dropped between the owner's threads shows as empty or swapped output).
exec 7< <(exec sleep 300)   # a pipe whose writer stays
sleeper=$!
pids=""
for i in $(seq 24); do
  if [ $((i % 2)) -eq 0 ]; then vc exec d1 echo "burst $i" >"$ROOT/burst.$i" 2>&1 </dev/null &
  else vc exec d1 echo "burst $i" >"$ROOT/burst.$i" 2>&1 <&7 & fi
  pids="$pids $!"
done
wait $pids
exec 7<&-
kill "$sleeper" 2>/dev/null
bad=""
for i in $(seq 24); do [ "$(cat "$ROOT/burst.$i")" = "burst $i" ] || bad="$bad $i:[$(head -c 60 "$ROOT/burst.$i")]"; done
expect_eq "exec: 24 at once, each prints its own output" "" "$bad"
out=$(printf 'to exec\n' | vc exec d1 cat)
expect_eq "exec: stdin through the passed fd" "to exec" "$out"
vc exec --exec-id same d1 sleep-forever </dev/null >/dev/null 2>&1 &
sleep 1
err=$(vc exec --exec-id same d1 echo x 2>&1); rc=$?
expect_eq "exec: a duplicate exec ID exits 125" 125 $rc
expect_match "... naming it" "exec ID same is in use" "$err"
out=$(vc ps d1)
expect_match "ps lists init and execs" '^d1 +yes +running' "$out"
expect_match "ps shows an exec's exit status" 'exited +4' "$out"
expect_eq "ps --format json: the host pids, as runc prints them (the supervisor first)" \
    "[$owner]" "$(vc ps --format json d1)"
vc kill --all d1 KILL >/dev/null 2>&1   # also ends the exec "same"
stopped() { [ "$(state_field d1 status)" = stopped ]; }
wait_for 10 stopped; ok $? "kill KILL: stopped"
expect_eq "state: exit status 137" 137 "$(state_field d1 exit_status)"
gone() { ! kill -0 "$owner" 2>/dev/null; }
wait_for 10 gone; ok $? "the owner ends with the container's init (OCI callers wait for its pid)"
err=$(vc kill d1 TERM 2>&1); rc=$?
expect_eq "kill of the stopped container exits 125" 125 $rc
expect_eq "... saying it is stopped" "vcrun: container d1 is stopped, expected created, running or paused" "$err"
vc delete d1; expect_eq "delete exits 0 (no --force: the VM is stopped)" 0 $?
expect_eq "nothing left" "" "$(vc list -q)"

# Errors through the owner.
vc run -d --bundle "$B" d2 >/dev/null 2>&1; expect_eq "run -d exits 0" 0 $?
err=$(vc delete d2 2>&1); rc=$?
expect_eq "delete of a running container exits 125" 125 $rc
expect_eq "... with one clear line" "vcrun: container d2 is running: stop it first (vcrun kill) or use delete --force" "$err"
err=$(vc start d2 2>&1); rc=$?
expect_eq "start of a running container exits 125" 125 $rc
out=$(vc list --format json | python3 -c 'import json,sys; print(",".join(c["id"]+"="+c["status"]+"="+c["annotations"]["k"] for c in json.load(sys.stdin)))')
expect_eq "list --format json" "d2=running=v" "$out"
vc delete --force d2; expect_eq "delete --force of a running container" 0 $?

# Killed before it started (OCI: kill works on a created container).
vc create --bundle "$B" k1 >/dev/null 2>&1
vc kill k1 TERM; expect_eq "kill of a created container exits 0" 0 $?
k1_stopped() { [ "$(state_field k1 status)" = stopped ]; }
wait_for 10 k1_stopped; ok $? "... and it is stopped"
expect_eq "... with exit status 143" 143 "$(state_field k1 exit_status)"
err=$(vc start k1 2>&1); rc=$?
expect_eq "start of it exits 125" 125 $rc
expect_eq "... saying it is stopped" "vcrun: container k1 is stopped" "$err"
vc delete k1; expect_eq "delete of it exits 0" 0 $?
vc create --bundle "$B" k2 >/dev/null 2>&1
vc kill k2 CONT; expect_eq "CONT to a created container exits 0" 0 $?
expect_eq "... and it stays created" created "$(state_field k2 status)"
vc start k2; expect_eq "... and starts" 0 $?
vc delete --force k2 >/dev/null 2>&1

# An owner that died.
vc create --bundle "$B" d3 >/dev/null 2>&1
owner=$(state_field d3 owner_pid)
kill -KILL "$owner"; wait_for 10 gone
err=$(vc start d3 2>&1); rc=$?
expect_eq "start without an owner exits 125" 125 $rc
expect_match "... saying the owner is gone" "^vcrun: sandbox d3 has no owner \(process $owner is gone\)" "$err"
expect_match "list marks it" "^d3 .* $owner \(gone\)$" "$(vc list)"
err=$(vc delete d3 2>&1); rc=$?
expect_eq "delete without --force exits 125" 125 $rc
vc delete --force d3; expect_eq "delete --force works without the owner" 0 $?
expect_eq "nothing left at the end" "" "$(vc list -q)"

tap_done
