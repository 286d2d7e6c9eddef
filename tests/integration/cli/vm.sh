#!/bin/bash
# vcrun against real QEMU (the build tree's configuration and guest image):
# attached runs with their output and exit statuses, stdin through a pipe, a
# terminal session driven from a pty, exec, the lifecycle commands from
# separate processes with a detached container outliving its creator, list,
# and delete --force of a sandbox whose owner died. Skips when the guest image
# or the plugins are missing.
. "$(dirname "$0")/lib.sh"
set -u

missing=$(vm_missing)
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-cli-vm.XXXXXX")
background=()
cleanup() {
    for p in "${background[@]}"; do kill "$p" 2>/dev/null; done
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
    done
    pkill -KILL -f -- "$ROOT" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

no_vm_left() { ! pgrep -f -- "$ROOT/$1" >/dev/null; }

# ---- A: attached run: stdin from a pipe, stdout, stderr, exit 7 ----------
B=$ROOT/bundle-a
make_bundle "$B" '["sh", "-c", "cat; echo to-stderr >&2; uname -r; exit 7"]'
printf 'hello from stdin\n' | vc run --bundle "$B" a1 >"$ROOT/a1.out" 2>"$ROOT/a1.err"; rc=$?
expect_eq "run exits with the process's status (7)" 7 $rc
expect_eq "stdin through a pipe reaches the process and comes back" "hello from stdin" "$(sed -n 1p "$ROOT/a1.out")"
expect_match "the process runs on the guest kernel" '^[0-9]+\.[0-9]+\.[0-9]+' "$(sed -n 2p "$ROOT/a1.out")"
diag "guest kernel: $(sed -n 2p "$ROOT/a1.out"), host kernel: $(uname -r)"
expect_match "stderr is passed through separately" '^to-stderr$' "$(cat "$ROOT/a1.err")"
expect_eq "run leaves no state behind" "" "$(vc list -q)"
wait_for 10 no_vm_left a1; ok $? "run leaves no QEMU behind"

# ---- A2: a read-only rootfs that lacks its mount points --------------------
# The host shares it read-only, so the guest cannot make /proc, /tmp, or a
# bind mount's target in it: vcrun makes them on the host first, as runc does.
B=$ROOT/bundle-a2
make_bundle "$B" '["sh", "-c", "cat /srv/vol/hello /etc/app/cfg.txt; test -d /proc/self && echo proc-ok; (touch /new || echo rootfs-ro) 2>&1 | tail -n 1"]'
rmdir "$B/rootfs/proc" "$B/rootfs/tmp"
mkdir -p "$ROOT/vol-src"; echo from-volume > "$ROOT/vol-src/hello"; echo from-file > "$ROOT/cfg.txt"
python3 - "$B/config.json" "$ROOT" <<'PY'
import json, sys
path, root = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
spec["root"]["readonly"] = True
spec["mounts"] += [
    {"destination": "/srv/vol", "type": "bind", "source": root + "/vol-src", "options": ["rbind", "ro"]},
    {"destination": "/etc/app/cfg.txt", "type": "bind", "source": root + "/cfg.txt", "options": ["bind", "ro"]},
]
json.dump(spec, open(path, "w"))
PY
out=$(vc run --bundle "$B" a2 2>&1 </dev/null); rc=$?
expect_eq "a read-only rootfs without its mount points runs (exit 0)" 0 $rc
expect_eq "... with its bind mounts, /proc, and / read-only" "from-volume
from-file
proc-ok
rootfs-ro" "$out"
[ -d "$B/rootfs/proc" ] && [ -d "$B/rootfs/srv/vol" ] && [ -f "$B/rootfs/etc/app/cfg.txt" ]
ok $? "... the mount points were made in the host rootfs"
wait_for 10 no_vm_left a2; ok $? "... and no QEMU is left"

# ---- F: a command that does not exist -> 127 -------------------------------
B=$ROOT/bundle-f
make_bundle "$B" '["no-such-command"]'
err=$(vc run --bundle "$B" f1 2>&1 </dev/null); rc=$?
expect_eq "run of a missing command exits 127" 127 $rc
expect_match "... with a message" "cannot execute no-such-command" "$err"
expect_eq "... and leaves no state" "" "$(vc list -q)"

# ---- B: a long-running attached container, reached from other processes ---
B=$ROOT/bundle-b
make_bundle "$B" '["sleep", "1000"]'
# Not through vc's timeout: $! must be vcrun itself.
"$VCRUN" --config "$CONF" --root "$ROOT" run --bundle "$B" r2 </dev/null >"$ROOT/r2.out" 2>"$ROOT/r2.err" &
run_pid=$!
background+=($run_pid)
running() { [ "$(state_field r2 status)" = running ]; }
wait_for 180 running; ok $? "an attached container is running, seen from another process"
expect_eq "state: pid is the owning vcrun" "$run_pid" "$(state_field r2 pid)"
expect_eq "state: bundle" "$B" "$(state_field r2 bundle)"
expect_match "state: annotations" "org.vcrun.test" "$(state_field r2 annotations)"
expect_eq "state: ociVersion" "1.0.2" "$(state_field r2 ociVersion)"
out=$(vc list)
expect_match "list (table) shows it running with its owner" "^r2 +$run_pid +running +$B +[0-9T:Z-]+ +$run_pid$" "$out"
out=$(vc list --format json | python3 -c 'import json,sys; l=json.load(sys.stdin); print(" ".join(c["id"]+":"+c["status"] for c in l))')
expect_eq "list --format json" "r2:running" "$out"

err=$(vc run --bundle "$B" r2 2>&1 </dev/null); rc=$?
expect_eq "a duplicate ID exits 125" 125 $rc
expect_match "... naming the ID" "container ID r2 is already in use" "$err"
err=$(vc delete r2 2>&1); rc=$?
expect_eq "delete of a running container without --force exits 125" 125 $rc
expect_match "... and says why" "container r2 is running: .*--force" "$err"

out=$(vc exec r2 sh -c 'echo exec-out; echo exec-err >&2; exit 3' 2>"$ROOT/exec.err"); rc=$?
expect_eq "exec exits with the process's status (3)" 3 $rc
expect_eq "exec: stdout" "exec-out" "$out"
expect_eq "exec: stderr" "exec-err" "$(cat "$ROOT/exec.err")"
out=$(vc exec -e FOO=bar --cwd /tmp r2 sh -c 'echo $FOO $FROM_SPEC $(pwd)')
expect_eq "exec: -e, --cwd and the spec's env" "bar yes /tmp" "$out"
out=$(printf 'piped\n' | vc exec r2 cat)
expect_eq "exec: stdin through a pipe" "piped" "$out"
out=$(vc exec --user 1000:1000 r2 id)
expect_match "exec: --user" "uid=1000.*gid=1000" "$out"
err=$(vc exec r2 no-such-command 2>&1); rc=$?
expect_eq "exec of a missing command exits 127" 127 $rc
expect_match "... with a message" "cannot execute no-such-command" "$err"
err=$(vc exec r2 /etc 2>&1); rc=$?
expect_eq "exec of something not executable exits 126" 126 $rc
out=$(vc ps r2)
expect_match "ps lists the init process" "^r2 +yes +running" "$out"
expect_match "ps lists the finished exec processes" "^exec-[0-9a-f]+ +no +exited +3$" "$out"

vc pause r2; rc=$?
expect_eq "pause exits 0" 0 $rc
expect_eq "state: paused" paused "$(state_field r2 status)"
vc resume r2; rc=$?
expect_eq "resume exits 0" 0 $rc
expect_eq "state: running again" running "$(state_field r2 status)"

vc kill r2 KILL; expect_eq "kill KILL exits 0" 0 $?
wait $run_pid; rc=$?
expect_eq "run exits 128+9 when the process is killed" 137 $rc
err=$(vc state r2 2>&1); rc=$?
expect_eq "the attached run deleted its container" "vcrun: container r2 does not exist" "$err"
wait_for 10 no_vm_left r2; ok $? "... and its VM"

# ---- C: create / start / state / kill / delete, each its own process -------
B=$ROOT/bundle-c
make_bundle "$B" '["sh", "-c", "echo started-detached; echo detached-err >&2; exec sleep 1000"]'
vc create --bundle "$B" --pid-file "$ROOT/c3.pid" c3 >"$ROOT/c3.out" 2>"$ROOT/c3.err"; rc=$?
expect_eq "create exits 0 once the container is created" 0 $rc
expect_eq "state after create: created" created "$(state_field c3 status)"
owner=$(state_field c3 owner_pid)
expect_eq "--pid-file holds the owner's pid" "$owner" "$(cat "$ROOT/c3.pid" 2>/dev/null)"
kill -0 "$owner" 2>/dev/null; ok $? "the container's owner outlives the vcrun that created it"
expect_eq "the owner is not a child of the creator's shell" 1 "$(ps -o ppid= -p "$owner" | tr -d ' ' | grep -qx $$; echo $?)"
vc start c3; expect_eq "start exits 0" 0 $?
expect_eq "state after start: running" running "$(state_field c3 status)"
printed() { grep -q started-detached "$ROOT/c3.out"; }
wait_for 30 printed; ok $? "the container's stdout goes to create's stdout"
errd() { grep -q detached-err "$ROOT/c3.err"; }
wait_for 10 errd; ok $? "the container's stderr goes to create's stderr"
out=$(vc exec c3 echo via-owner)
expect_eq "exec in a detached container" "via-owner" "$out"
err=$(vc start c3 2>&1); rc=$?
expect_eq "starting it again exits 125" 125 $rc
vc kill c3 KILL; expect_eq "kill exits 0" 0 $?
stopped() { [ "$(state_field c3 status)" = stopped ]; }
wait_for 30 stopped; ok $? "state after kill: stopped"
expect_eq "state: the exit status" 137 "$(state_field c3 exit_status)"
vc delete c3; expect_eq "delete of a stopped container exits 0" 0 $?
err=$(vc state c3 2>&1)
expect_eq "state after delete" "vcrun: container c3 does not exist" "$err"
owner_gone() { ! kill -0 "$owner" 2>/dev/null; }
wait_for 10 owner_gone; ok $? "the owner ends after delete"
wait_for 10 no_vm_left c3; ok $? "... and the VM is gone"

# ---- C2: kill of a created container (its init never ran) -----------------
B=$ROOT/bundle-c2
make_bundle "$B" '["sh", "-c", "echo must-not-run"]'
vc create --bundle "$B" c5 >"$ROOT/c5.out" 2>&1; expect_eq "create c5 exits 0" 0 $?
vc kill c5 KILL; expect_eq "kill of a created container exits 0" 0 $?
c5_stopped() { [ "$(state_field c5 status)" = stopped ]; }
wait_for 30 c5_stopped; ok $? "... and it is stopped"
expect_eq "... with exit status 137" 137 "$(state_field c5 exit_status)"
err=$(vc start c5 2>&1); rc=$?
expect_eq "start after it exits 125" 125 $rc
expect_eq "... saying it is stopped" "vcrun: container c5 is stopped" "$err"
vc delete c5; expect_eq "delete exits 0" 0 $?
expect_eq "its process never ran" "" "$(grep must-not-run "$ROOT/c5.out")"
wait_for 10 no_vm_left c5; ok $? "... and the VM is gone"

# ---- D: run -d, the owner dies, delete --force still works ----------------
B=$ROOT/bundle-d
make_bundle "$B" '["sleep", "1000"]'
vc run -d --bundle "$B" c4 </dev/null >/dev/null 2>&1; rc=$?
expect_eq "run -d exits 0" 0 $rc
expect_eq "run -d: running" running "$(state_field c4 status)"
owner=$(state_field c4 owner_pid)
kill -KILL "$owner"
wait_for 10 owner_gone
out=$(vc list)
expect_match "list marks a dead owner" "^c4 .* $owner \(gone\)$" "$out"
expect_eq "state of a sandbox without owner: stopped" stopped "$(state_field c4 status)"
err=$(vc kill c4 KILL 2>&1); rc=$?
expect_match "kill without an owner says so" "sandbox c4 has no owner \(process $owner is gone\)" "$err"
err=$(vc delete c4 2>&1); rc=$?
expect_eq "delete without --force and without owner exits 125" 125 $rc
vc delete --force c4; expect_eq "delete --force without owner exits 0" 0 $?
expect_eq "... and removes it" "" "$(vc list -q)"
wait_for 15 no_vm_left c4; ok $? "... and stops its VM"

# ---- G: signals sent to an attached vcrun reach the process ---------------
B=$ROOT/bundle-g
make_bundle "$B" '["sh", "-c", "trap \"echo got-term; exit 9\" TERM; echo armed; while :; do sleep 1; done"]'
"$VCRUN" --config "$CONF" --root "$ROOT" run --bundle "$B" g1 </dev/null >"$ROOT/g1.out" 2>&1 &
run_pid=$!
background+=($run_pid)
armed() { grep -q armed "$ROOT/g1.out"; }
wait_for 180 armed; ok $? "a process with a TERM handler runs"
kill -TERM $run_pid
wait $run_pid; rc=$?
expect_eq "SIGTERM to vcrun run reaches the process, which exits 9" 9 $rc
expect_match "... after running its handler" "got-term" "$(cat "$ROOT/g1.out")"
expect_eq "... and nothing is left" "" "$(vc list -q)"

# ---- E: a terminal session driven from a pty ------------------------------
B=$ROOT/bundle-e
make_bundle "$B" '["sh"]'
out=$(python3 "$top_srcdir/tests/integration/tty-session.py" \
          "$VCRUN" --config "$CONF" --root "$ROOT" run -t --bundle "$B" t1)
for check in "prompt" "initial window size 30 100" "a command's output" \
             "window size change forwarded (40 120)" "the process has a terminal"; do
    printf '%s\n' "$out" | grep -qx "ok $check"; ok $? "tty: $check"
done
expect_eq "tty: vcrun exits with the shell's status (5)" "exit 5" "$(printf '%s\n' "$out" | tail -1)"
expect_eq "tty: nothing left" "" "$(vc list -q)"

wait_for 15 no_vm_left ""; ok $? "no QEMU left running"
tap_done
