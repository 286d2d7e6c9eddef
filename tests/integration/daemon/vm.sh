#!/bin/sh
# vcrund with real QEMU and the guest image (make guest), through the
# uninstalled configuration: a call answered within 100 ms while a sandbox
# boots; a busybox container's output and exit status through the bus; exec;
# vcrund SIGKILLed and restarted still controls the running sandbox; the
# signals; nothing left behind. One VM for the whole script.
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"

CONF="$BUILD/etc/vcrun-uninstalled.conf"
[ -f "$CONF" ] || skip_all "no $CONF (make -C etc)"
[ -f "$BUILD/guest/vmlinuz" ] && [ -f "$BUILD/guest/initrd.img" ] \
  || skip_all "no guest image: run 'make guest' first"
for p in hypervisor-qemu agent-kata fs-virtiofs; do
  [ -f "$BUILD/plugins/$p/.libs/$p.so" ] || skip_all "plugin $p is not built"
done
[ -x "${QEMU_SYSTEM:-/usr/bin/qemu-system-x86_64}" ] || skip_all "no QEMU"
BUSYBOX=$(command -v busybox || echo /bin/busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' \
  || skip_all "no static busybox on this host for the container's rootfs"

M=org.vcrun.Runtime1.Manager
S=org.vcrun.Runtime1.Sandbox
C=org.vcrun.Runtime1.Container
# A boot takes seconds under TCG, more on a loaded host.
vbus () { busctl --address="$ADDR" --timeout=300 "$@"; }

# make_bundle DIR ARGS_JSON: a rootfs of the host's static busybox.
make_bundle () {
  mkdir -p "$1/rootfs/bin" "$1/rootfs/proc" "$1/rootfs/sys" "$1/rootfs/dev" "$1/rootfs/tmp"
  cp "$BUSYBOX" "$1/rootfs/bin/busybox"
  for a in sh echo cat sleep uname true stty env; do ln -sf busybox "$1/rootfs/bin/$a"; done
  cat > "$1/config.json" <<EOF
{ "ociVersion": "1.0.2", "root": { "path": "rootfs", "readonly": false },
  "hostname": "vcrund-test",
  "process": { "args": $2, "cwd": "/", "env": ["PATH=/bin", "FROM_SPEC=yes"], "user": { "uid": 0, "gid": 0 } },
  "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" } ] }
EOF
}
make_bundle "$TMP/hello" '["/bin/sh", "-c", "echo hello from $(uname -r); echo to-stderr >&2; exit 3"]'
make_bundle "$TMP/sleeper" '["/bin/sleep", "1000"]'
make_bundle "$TMP/shell" '["/bin/sh"]'
make_bundle "$TMP/talker" '["/bin/sh", "-c", "echo detached-hello; exec sleep 1000"]'

start_bus
start_vcrund "$CONF" --root "$TMP/state" || { not_ok "vcrund starts"; finish; }
ok "vcrund serves with the uninstalled configuration"
start_monitor "$TMP/monitor.log"

# ---- boot, answering other calls meanwhile ------------------------------------------------
SB=$(sandbox_path vm1)
t0=$(date +%s.%N)
vbus call $NAME $MANAGER $M CreateSandbox 'sa{sv}' vm1 0 > "$TMP/create.out" 2> "$TMP/create.err" &
create_pid=$!
sleep 0.5
"$CLIENT" "$ADDR" latency 4000 > "$TMP/latency"
wait $create_pid; st=$?
t1=$(date +%s.%N)
if [ $st -ne 0 ] || [ "$(cat "$TMP/create.out")" != "o \"$SB\"" ]; then
  not_ok "CreateSandbox boots a VM: $(cat "$TMP/create.out" "$TMP/create.err")"
  sed 's/^/#   /' "$TMP/vcrund.log" | tail -30
  finish
fi
ok "CreateSandbox boots a VM ($(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s)"
max=$(sed -n 's/.*max_ms \([0-9.]*\).*/\1/p' "$TMP/latency")
note "during the boot: $(cat "$TMP/latency")"
[ -n "$max" ] && [ "$(echo "$max < 100" | bc)" = 1 ] \
  && ok "calls during the boot answered within 100 ms (max $max ms)" \
  || not_ok "calls during the boot took up to $max ms"
vmm=$(prop "$SB" Sandbox VmmPid)
grep -q qemu "/proc/$vmm/cmdline" 2>/dev/null && ok "VmmPid $vmm is the QEMU process" || not_ok "VmmPid $vmm is not QEMU"
echo "$vmm" > "$TMP/qemu.pid"
vbus call $NAME "$SB" $S Start && [ "$(prop "$SB" Sandbox State)" = running ] \
  && ok "Start: running" || not_ok "sandbox Start"

# ---- a container's output and exit status ---------------------------------------------------
C1=$(container_path vm1 c1)
vbus call $NAME "$SB" $S CreateContainer ss c1 "$TMP/hello" > "$TMP/out" \
  && ok "CreateContainer of a busybox bundle" || not_ok "CreateContainer: $(cat "$TMP/out")"
"$CLIENT" "$ADDR" attach "$C1" > "$TMP/c1.out" 2> "$TMP/c1.err" &
attach_pid=$!
vbus call $NAME "$C1" $C Start && ok "container Start" || not_ok "container Start"
out=$(vbus call $NAME "$C1" $C Wait)
[ "$out" = "i 3" ] && ok "Wait returns the exit status 3" || not_ok "Wait: $out"
wait $attach_pid
grep -q "^hello from [0-9]" "$TMP/c1.out" && ok "stdout through the fds: $(cat "$TMP/c1.out")" \
  || not_ok "stdout: '$(cat "$TMP/c1.out")'"
[ "$(cat "$TMP/c1.err")" = to-stderr ] && ok "stderr through its own fd" || not_ok "stderr: '$(cat "$TMP/c1.err")'"
[ "$(prop "$C1" Container ExitStatus)" = 3 ] && [ "$(prop "$C1" Container State)" = stopped ] \
  && ok "ExitStatus 3, State stopped" || not_ok "c1 properties"

C2=$(container_path vm1 c2)
vbus call $NAME "$SB" $S CreateContainer ss c2 "$TMP/sleeper" >/dev/null && vbus call $NAME "$C2" $C Start \
  && [ "$(prop "$C2" Container State)" = running ] && ok "a long-running container" || not_ok "c2"
out=$("$CLIENT" "$ADDR" exec "$C2" e1 '{"args":["/bin/sh","-c","echo exec-ok; exit 5"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}'); st=$?
[ $st -eq 5 ] && [ "$out" = exec-ok ] && ok "Exec: output through its fds, status 5" \
  || not_ok "Exec: status $st, '$out'"

# ---- SIGKILL and restart -------------------------------------------------------------------------
stop_vcrund KILL
kill -0 "$vmm" 2>/dev/null && ok "vcrund SIGKILLed: the VM still runs" || not_ok "the VM died with vcrund"
start_vcrund "$CONF" --root "$TMP/state" || not_ok "vcrund restarts"
[ "$(prop "$SB" Sandbox State)" = running ] && ok "restarted vcrund re-exports vm1, running" \
  || not_ok "vm1 after restart: $(prop "$SB" Sandbox State)"
[ "$(prop "$C2" Container State)" = running ] && ok "... and its running container" || not_ok "c2 after restart"
wait_for 10 sh -c "[ \"\$(busctl --address=$ADDR get-property $NAME $SB $S VmmPid)\" = 'i $vmm' ]" \
  && ok "... with the same VMM pid" || not_ok "VmmPid after restart: $(prop "$SB" Sandbox VmmPid)"
out=$("$CLIENT" "$ADDR" exec "$C2" e2 '{"args":["/bin/echo","after-restart"],"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0}}'); st=$?
[ $st -eq 0 ] && [ "$out" = after-restart ] && ok "Exec after the restart works" || not_ok "Exec after restart: $st '$out'"
vbus call $NAME "$C2" $C Kill ib 9 false && out=$(vbus call $NAME "$C2" $C Wait)
[ "$out" = "i 137" ] && ok "Kill 9 and Wait after the restart: 137" || not_ok "Kill/Wait after restart: $out"
vbus call $NAME "$SB" $S Pause && [ "$(prop "$SB" Sandbox State)" = paused ] \
  && vbus call $NAME "$SB" $S Resume && [ "$(prop "$SB" Sandbox State)" = running ] \
  && ok "Pause and Resume the VM" || not_ok "Pause/Resume"

# ---- teardown --------------------------------------------------------------------------------
vbus call $NAME "$C1" $C Delete b false && vbus call $NAME "$C2" $C Delete b false \
  && ok "containers deleted" || not_ok "container Delete"
vbus call $NAME "$SB" $S Stop && [ "$(prop "$SB" Sandbox State)" = stopped ] \
  && ok "Stop: stopped" || not_ok "Stop"
wait_for 10 sh -c "! kill -0 $vmm 2>/dev/null" && ok "QEMU is gone" || not_ok "QEMU $vmm still runs"
vbus call $NAME "$SB" $S Delete b false && ok "sandbox Delete" || not_ok "sandbox Delete"
# .templates: the saved guest sandboxes start from (sandbox.template), kept on purpose.
[ -z "$(ls -A "$TMP/state" 2>/dev/null | grep -v '^\.templates$')" ] && ok "no state left" || not_ok "state left: $(ls -A "$TMP/state")"
sleep 0.3
stop_monitor
grep -q "$C1: org.vcrun.Runtime1.Container.ProcessExited ('', 3)" "$TMP/monitor.log" \
  && ok "signal ProcessExited ('', 3)" || not_ok "no ProcessExited for c1"
grep -q "$C2: org.vcrun.Runtime1.Container.ProcessExited ('e1', 5)" "$TMP/monitor.log" \
  && ok "signal ProcessExited ('e1', 5)" || not_ok "no ProcessExited for e1"
grep -q "$SB: org.freedesktop.DBus.Properties.PropertiesChanged ('org.vcrun.Runtime1.Sandbox', {.*'State': <'paused'>" "$TMP/monitor.log" \
  && ok "PropertiesChanged State paused" || not_ok "no PropertiesChanged for paused"

# ---- vcrun --bus run: the same output and status as embedded run ------------------------------
# tty_session LABEL COMMAND...: tty-session.py's six checks (as embedded run -t has them).
tty_session () {
  label=$1; shift
  out=$(python3 "$SRC/tests/integration/tty-session.py" "$@" 2> "$TMP/tty.log")
  for check in "prompt" "initial window size 30 100" "a command's output" \
               "window size change forwarded (40 120)" "the process has a terminal"; do
    printf '%s\n' "$out" | grep -qx "ok $check" && ok "$label: $check" \
      || { not_ok "$label: $check"; sed 's/^/#   /' "$TMP/tty.log" | tail -15; }
  done
  [ "$(printf '%s\n' "$out" | tail -1)" = "exit 5" ] && ok "$label: exits with the shell's status 5" \
    || not_ok "$label: $(printf '%s\n' "$out" | tail -1)"
}
VCRUN="$BUILD/cli/vcrun"
if [ -x "$VCRUN" ]; then
  "$VCRUN" --bus=session run --bundle "$TMP/hello" cli1 > "$TMP/cli.out" 2> "$TMP/cli.err"; st=$?
  [ $st -eq 3 ] && grep -q "^hello from [0-9]" "$TMP/cli.out" && grep -q "^to-stderr$" "$TMP/cli.err" \
    && ok "vcrun --bus run in a VM: stdout, stderr and exit status 3" \
    || not_ok "vcrun --bus run: $st '$(cat "$TMP/cli.out")' '$(cat "$TMP/cli.err")'"
  [ "$(bus call $NAME $MANAGER $M ListSandboxes)" = "ao 0" ] && ok "... and removed its sandbox" \
    || not_ok "vcrun --bus run left: $(bus call $NAME $MANAGER $M ListSandboxes)"

  # SIGINT during the boot: vcrun exits 130 and leaves no sandbox, as embedded run.
  "$VCRUN" --bus=session run --bundle "$TMP/hello" int1 > "$TMP/int1.out" 2>&1 < /dev/null &
  int_pid=$!
  sleep 1
  kill -INT $int_pid; wait $int_pid; st=$?
  [ $st -eq 130 ] && ! grep -q "hello from" "$TMP/int1.out" \
    && ok "--bus run interrupted during the boot: exits 130, the process never ran" \
    || not_ok "--bus run after SIGINT: status $st, '$(cat "$TMP/int1.out")'"
  wait_for 30 sh -c "[ \"\$(busctl --address=$ADDR call $NAME $MANAGER $M ListSandboxes)\" = 'ao 0' ]" \
    && ok "... and its sandbox is gone" || not_ok "left: $(bus call $NAME $MANAGER $M ListSandboxes)"

  # run -t: a terminal session from a pty, as embedded run -t has (tty-session.py).
  tty_session "--bus run -t" "$VCRUN" --bus=session run -t --bundle "$TMP/shell" tty1
  [ "$(bus call $NAME $MANAGER $M ListSandboxes)" = "ao 0" ] && ok "... and removed its sandbox" \
    || not_ok "vcrun --bus run -t left: $(bus call $NAME $MANAGER $M ListSandboxes)"

  # exec into a detached container: config.json's env, a terminal, signals.
  "$VCRUN" --bus=session run -d --bundle "$TMP/talker" cli2 > "$TMP/cli2.out" \
    && ok "--bus run -d: a detached container" || not_ok "--bus run -d cli2"
  wait_for 30 grep -q detached-hello "$TMP/cli2.out" \
    && ok "--bus run -d: its output goes to the caller's stdout (SetStdio)" \
    || not_ok "--bus run -d output: '$(cat "$TMP/cli2.out")'"
  out=$("$VCRUN" --bus=session exec -e EXTRA=1 cli2 env); st=$?
  [ $st -eq 0 ] && printf '%s\n' "$out" | grep -qx FROM_SPEC=yes && printf '%s\n' "$out" | grep -qx EXTRA=1 \
    && ok "--bus exec: config.json's env and -e, as embedded exec" || not_ok "--bus exec env: $st '$out'"
  tty_session "--bus exec -t" "$VCRUN" --bus=session exec -t cli2 /bin/sh
  "$VCRUN" --bus=session exec cli2 /bin/sh -c \
    'trap "echo got-term; exit 9" TERM; echo ready; while true; do sleep 0.2; done' > "$TMP/e3.out" &
  e3=$!
  wait_for 60 grep -q ready "$TMP/e3.out"
  kill -TERM $e3; wait $e3; st=$?
  [ $st -eq 9 ] && grep -q got-term "$TMP/e3.out" \
    && ok "SIGTERM to vcrun --bus exec reaches the process, which exits 9" \
    || not_ok "--bus exec SIGTERM: status $st, '$(cat "$TMP/e3.out")'"
  # ps --format json through ListHostPids: the VMM first, then virtiofsd.
  out=$("$VCRUN" --bus=session ps --format json cli2 2>&1); first=$(echo "$out" | tr -d '[]' | cut -d, -f1)
  grep -q qemu-system "/proc/$first/cmdline" 2>/dev/null \
    && ok "--bus ps --format json: host pids, QEMU first ($out)" || not_ok "--bus ps --format json: '$out'"
  "$VCRUN" --bus=session delete --force cli2 && [ "$(bus call $NAME $MANAGER $M ListSandboxes)" = "ao 0" ] \
    && ok "--bus delete --force cli2: nothing left" || not_ok "--bus delete cli2"
else
  for i in $(seq 22); do skip "vcrun is not built"; done
fi

if [ "$test_failed" -gt 0 ]; then
  echo "# vcrund log:"; sed 's/^/#   /' "$TMP/vcrund.log" | tail -40
fi
finish
