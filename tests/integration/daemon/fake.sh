#!/bin/sh
# vcrund with the test-only fake plugins (tests/fake: no VM): the whole
# lifecycle over busctl and gdbus, stdio through the passed fds, the signals,
# the error names, access control by uid, SIGTERM and SIGKILL with restart,
# 20 concurrent create/delete cycles, and round-trip times.
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"

FAKES="$BUILD/tests/fake/.libs"
[ -f "$FAKES/fake-hypervisor.so" ] || skip_all "the fake plugins are not built (tests/fake)"

cat > "$TMP/vcrun.conf" <<EOF
runtime: { state_dir = "$TMP/state"; plugin_dir = "$FAKES"; };
plugins: (
  { name = "fake-hypervisor"; settings = { log = "$TMP/calls.log"; }; },
  { name = "fake-agent"; settings = { log = "$TMP/calls.log"; }; },
  { name = "fake-fs"; settings = { log = "$TMP/calls.log"; }; }
);
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
EOF

# make_bundle DIR ARGS_JSON [OWNER]
make_bundle () {
  mkdir -p "$1/rootfs"
  cat > "$1/config.json" <<EOF
{ "ociVersion": "1.0.2", "root": { "path": "rootfs", "readonly": true },
  "process": { "args": $2, "cwd": "/", "env": ["PATH=/bin"], "user": { "uid": 0, "gid": 0 } } }
EOF
  [ -n "$3" ] && chown -R "$3" "$1"
  return 0
}
make_bundle "$TMP/echo" '["echo", "hello", "world"]'
make_bundle "$TMP/sleep" '["sleep", "1000"]'

# error_name OUTPUT: the D-Bus error name gdbus printed.
error_name () { sed -n 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' "$1" | head -1; }
# expect_error NAME DESCRIPTION PATH METHOD ARGS...: gdbus call fails with NAME.
expect_error () {
  want=$1; d=$2; shift 2
  if gcall "$@" > "$TMP/err.out" 2>&1; then
    not_ok "$d (succeeded: $(cat "$TMP/err.out"))"
  elif [ "$(error_name "$TMP/err.out")" = "org.vcrun.Runtime1.Error.$want" ]; then
    ok "$d: $want ($(sed 's/.*Error\.[A-Za-z]*: //' "$TMP/err.out" | head -1))"
  else
    not_ok "$d: wanted $want, got: $(cat "$TMP/err.out")"
  fi
}
M=org.vcrun.Runtime1.Manager
S=org.vcrun.Runtime1.Sandbox
C=org.vcrun.Runtime1.Container

# ---- command line ------------------------------------------------------------
"$VCRUND" --version | grep -q '^vcrund [0-9]' && ok "vcrund --version" || not_ok "vcrund --version"
"$VCRUND" --bogus > "$TMP/out" 2>&1; st=$?
[ $st -eq 2 ] && grep -q bogus "$TMP/out" && ok "an unknown option exits 2 naming it" \
  || not_ok "unknown option: status $st, $(cat "$TMP/out")"
"$VCRUND" --session --address unix:path=/x > "$TMP/out" 2>&1; st=$?
[ $st -eq 2 ] && ok "--session with --address is refused" || not_ok "--session --address: $st"
"$VCRUND" --address unix:path=/x --config "$TMP/nonexistent.conf" > "$TMP/out" 2>&1; st=$?
[ $st -eq 1 ] && grep -q nonexistent.conf "$TMP/out" && ok "a missing config file is named" \
  || not_ok "missing config: $st $(cat "$TMP/out")"

start_bus
if [ -x "$BUILD/cli/vcrun" ]; then
  out=$("$BUILD/cli/vcrun" --bus=session list 2>&1); st=$?
  [ $st -eq 125 ] && printf '%s' "$out" | grep -q "vcrund is not running on the session bus" \
    && ok "vcrun --bus without vcrund: 125, says vcrund is not running" || not_ok "no vcrund: $st '$out'"
else
  skip "vcrun is not built"
fi
start_vcrund "$TMP/vcrun.conf" || { not_ok "vcrund starts"; finish; }
ok "vcrund owns $NAME on a private bus"

check "Version property" sh -c "[ \"\$(busctl --address=$ADDR get-property $NAME $MANAGER $M Version)\" = 's \"0.1.0\"' ]"
bus get-property $NAME $MANAGER $M Plugins > "$TMP/out"
grep -q '"fake-hypervisor" "1.0" 1 "hypervisor"' "$TMP/out" && ok "Plugins lists name, version, kinds" \
  || not_ok "Plugins: $(cat "$TMP/out")"

# ---- a whole lifecycle -------------------------------------------------------------
start_monitor "$TMP/monitor.log"
SB=$(sandbox_path sb1)
out=$(bus call $NAME $MANAGER $M CreateSandbox 'sa{sv}' sb1 2 vcpus u 2 memory_mib t 128)
[ "$out" = "o \"$SB\"" ] && ok "CreateSandbox returns $SB" || not_ok "CreateSandbox: $out"
[ "$(prop "$SB" Sandbox State)" = ready ] && ok "State is ready" || not_ok "State: $(prop "$SB" Sandbox State)"
[ "$(prop "$SB" Sandbox Vcpus)" = 2 ] && [ "$(prop "$SB" Sandbox MemoryMib)" = 128 ] \
  && ok "Vcpus and MemoryMib come from the options" || not_ok "Vcpus/MemoryMib"
[ "$(prop "$SB" Sandbox Owner)" = 0 ] && [ "$(prop "$SB" Sandbox Hypervisor)" = fake-hypervisor ] \
  && ok "Owner and Hypervisor" || not_ok "Owner/Hypervisor"
[ "$(prop "$SB" Sandbox VmmPid)" -gt 0 ] 2>/dev/null && ok "VmmPid is set" || not_ok "VmmPid: $(prop "$SB" Sandbox VmmPid)"
bus call $NAME "$SB" $S Start && [ "$(prop "$SB" Sandbox State)" = running ] \
  && ok "Start: running" || not_ok "Start"

C1=$(container_path sb1 c1)
out=$(bus call $NAME "$SB" $S CreateContainer ss c1 "$TMP/echo")
[ "$out" = "o \"$C1\"" ] && ok "CreateContainer returns $C1" || not_ok "CreateContainer: $out"
[ "$(prop "$C1" Container State)" = created ] && ok "container State is created" || not_ok "container State"
out=$(bus get-property $NAME "$SB" $S Containers)
[ "$out" = "ao 1 \"$C1\"" ] && ok "Containers lists it" || not_ok "Containers: $out"
for iface in Manager Sandbox Container; do
  case $iface in Manager) p=$MANAGER ;; Sandbox) p=$SB ;; Container) p=$C1 ;; esac
  if bus introspect $NAME "$p" org.vcrun.Runtime1.$iface | python3 "$SRC/tests/integration/daemon/check-introspection.py" "$XML" org.vcrun.Runtime1.$iface > "$TMP/out" 2>&1; then
    ok "busctl introspect matches the XML: $(tail -1 "$TMP/out")"
  else
    not_ok "introspection of $iface differs:"; sed 's/^/#   /' "$TMP/out"
  fi
done

"$CLIENT" "$ADDR" attach "$C1" > "$TMP/c1.out" 2> "$TMP/c1.err" &
attach_pid=$!
sleep 0.3
bus call $NAME "$C1" $C Start && ok "container Start" || not_ok "container Start"
out=$(bus call $NAME "$C1" $C Wait)
[ "$out" = "i 0" ] && ok "Wait returns 0" || not_ok "Wait: $out"
wait $attach_pid
[ "$(cat "$TMP/c1.out")" = "hello world" ] && ok "its output came through the Attach fds" \
  || not_ok "output: '$(cat "$TMP/c1.out")' stderr: $(cat "$TMP/c1.err")"
[ "$(prop "$C1" Container ExitStatus)" = 0 ] && [ "$(prop "$C1" Container State)" = stopped ] \
  && ok "ExitStatus 0, State stopped" || not_ok "ExitStatus/State after exit"
out=$(bus call $NAME "$C1" $C Wait)
[ "$out" = "i 0" ] && ok "Wait after the exit returns at once" || not_ok "second Wait: $out"
expect_error Busy "a second Attach" "$C1" $C.Attach
"$CLIENT" "$ADDR" set-stdio "$C1" > "$TMP/out" 2>&1
grep -q "org.vcrun.Runtime1.Error.Busy" "$TMP/out" \
  && ok "SetStdio after Attach and Start: Busy" || not_ok "SetStdio after start: $(cat "$TMP/out")"
C3=$(container_path sb1 c3)
bus call $NAME "$SB" $S CreateContainer ss c3 "$TMP/echo" >/dev/null
"$CLIENT" "$ADDR" set-stdio "$C3" > "$TMP/c3.out" 2> "$TMP/c3.err" < /dev/null \
  && ok "SetStdio before Start" || not_ok "SetStdio: $(cat "$TMP/c3.err")"
expect_error Busy "Attach after SetStdio" "$C3" $C.Attach
bus call $NAME "$C3" $C Start && out=$(bus call $NAME "$C3" $C Wait)
wait_for 5 grep -q "hello world" "$TMP/c3.out" && [ "$out" = "i 0" ] \
  && ok "... the output went to the passed stdout" || not_ok "SetStdio output: '$(cat "$TMP/c3.out")' $out"
bus call $NAME "$C3" $C Delete b false || not_ok "c3 Delete"
expect_error InvalidState "Exec in a stopped container" "$C1" $C.Exec e1 '{"args":["echo","x"],"cwd":"/"}'

C2=$(container_path sb1 c2)
bus call $NAME "$SB" $S CreateContainer ss c2 "$TMP/sleep" >/dev/null && bus call $NAME "$C2" $C Start \
  && ok "a second container runs" || not_ok "second container"
out=$("$CLIENT" "$ADDR" exec "$C2" e1 '{"args":["echo","from","exec"],"cwd":"/"}'); st=$?
[ $st -eq 0 ] && [ "$out" = "from exec" ] && ok "Exec: output through its fds, WaitExec 0" \
  || not_ok "Exec: status $st output '$out'"
"$CLIENT" "$ADDR" exec "$C2" e2 '{"args":["exit","7"],"cwd":"/"}' >/dev/null; st=$?
[ $st -eq 7 ] && ok "WaitExec returns an exec's status (7)" || not_ok "exec exit status: $st"
out=$(printf 'typed\n' | "$CLIENT" "$ADDR" exec "$C2" e3 '{"args":["cat"],"cwd":"/"}')
[ "$out" = "typed" ] && ok "Exec stdin reaches the process" || not_ok "exec stdin: '$out'"
expect_error InvalidArgument "Exec with a bad exec ID" "$C2" $C.Exec 'bad id' '{"args":["echo"]}'
expect_error InvalidArgument "Exec with invalid JSON" "$C2" $C.Exec e4 '{nope'
expect_error InvalidState "Start of a running container" "$C2" $C.Start
expect_error InvalidArgument "Kill with signal 0" "$C2" $C.Kill 0 false
expect_error InvalidArgument "SignalProcess with signal 99" "$C2" $C.SignalProcess e1 99
expect_error NotFound "SignalProcess to an unknown exec ID" "$C2" $C.SignalProcess nope 15
"$CLIENT" "$ADDR" exec "$C2" e5 '{"args":["sleep","1000"],"cwd":"/"}' > /dev/null &
exec_pid=$!
wait_for 10 sh -c "busctl --address=$ADDR call $NAME $C2 $C ListProcesses | grep -q '\"e5\" false \"running\"'"
bus call $NAME "$C2" $C SignalProcess si e5 15; wait $exec_pid; st=$?
[ $st -eq 143 ] && [ "$(prop "$C2" Container State)" = running ] \
  && ok "SignalProcess 15 to exec e5: it exits 143, the container runs on" \
  || not_ok "SignalProcess e5: status $st, container $(prop "$C2" Container State)"
bus call $NAME "$C2" $C Kill ib 9 false && out=$(bus call $NAME "$C2" $C Wait)
[ "$out" = "i 137" ] && ok "Kill 9 then Wait: 137" || not_ok "Kill/Wait: $out"
bus call $NAME "$C1" $C Delete b false && bus call $NAME "$C2" $C Delete b false \
  && ok "container Delete" || not_ok "container Delete"
bus tree $NAME > "$TMP/tree"
grep -q container "$TMP/tree" && not_ok "container objects remain: $(cat "$TMP/tree")" \
  || ok "the container objects left the bus"
[ "$(bus get-property $NAME "$SB" $S Containers)" = "ao 0" ] && ok "Containers is empty" || not_ok "Containers not empty"
expect_error InvalidState "Delete of a running sandbox" "$SB" $S.Delete false
bus call $NAME "$SB" $S Stop && [ "$(prop "$SB" Sandbox State)" = stopped ] \
  && [ "$(prop "$SB" Sandbox VmmPid)" = 0 ] && ok "Stop: stopped, VmmPid 0" || not_ok "Stop"
[ -n "$(prop "$SB" Sandbox StopReason)" ] && ok "StopReason: $(prop "$SB" Sandbox StopReason)" || not_ok "no StopReason"
bus call $NAME "$SB" $S Delete b false && ok "sandbox Delete" || not_ok "sandbox Delete"
bus tree $NAME | grep -q sandbox && not_ok "sandbox object remains" || ok "the sandbox object left the bus"
[ -z "$(ls -A "$TMP/state")" ] && ok "the state dir is empty" || not_ok "state left: $(ls "$TMP/state")"
sleep 0.3
stop_monitor

grep -q "PropertiesChanged ('org.vcrun.Runtime1.Sandbox', {'State': <'running'>" "$TMP/monitor.log" \
  && ok "PropertiesChanged: sandbox State running" || not_ok "no sandbox State PropertiesChanged"
grep -q "PropertiesChanged ('org.vcrun.Runtime1.Container', {.*'State': <'stopped'>" "$TMP/monitor.log" \
  && ok "PropertiesChanged: container State stopped" || not_ok "no container State PropertiesChanged"
grep -q "PropertiesChanged ('org.vcrun.Runtime1.Container', {.*'ExitStatus': <0>" "$TMP/monitor.log" \
  && ok "PropertiesChanged: ExitStatus 0" || not_ok "no ExitStatus PropertiesChanged"
grep -q "$C1: org.vcrun.Runtime1.Container.ProcessExited ('', 0)" "$TMP/monitor.log" \
  && ok "ProcessExited ('', 0) of the init process" || not_ok "no ProcessExited for c1"
grep -q "$C2: org.vcrun.Runtime1.Container.ProcessExited ('e2', 7)" "$TMP/monitor.log" \
  && ok "ProcessExited ('e2', 7) of an exec" || not_ok "no ProcessExited for e2"
grep -q "InterfacesAdded (objectpath '$C1'" "$TMP/monitor.log" \
  && grep -q "InterfacesRemoved (objectpath '$SB'" "$TMP/monitor.log" \
  && ok "ObjectManager InterfacesAdded / InterfacesRemoved" || not_ok "no InterfacesAdded/Removed"
if [ "$test_failed" -gt 0 ]; then sed 's/^/#   /' "$TMP/monitor.log" | head -80; fi

# ---- errors ------------------------------------------------------------------
expect_error NotFound "GetSandbox of an unknown ID" $MANAGER $M.GetSandbox nope
expect_error InvalidArgument "CreateSandbox with a bad ID" $MANAGER $M.CreateSandbox 'bad/id' '{}'
expect_error InvalidArgument "CreateSandbox with an unknown option" $MANAGER $M.CreateSandbox s2 "{'colour': <'red'>}"
expect_error InvalidArgument "CreateSandbox with a string for vcpus" $MANAGER $M.CreateSandbox s2 "{'vcpus': <'two'>}"
expect_error InvalidArgument "CreateSandbox with 0 vcpus" $MANAGER $M.CreateSandbox s2 "{'vcpus': <uint32 0>}"
expect_error NotFound "CreateSandbox with an unknown plugin" $MANAGER $M.CreateSandbox s2 "{'hypervisor': <'nope'>}"
bus call $NAME $MANAGER $M CreateSandbox 'sa{sv}' s2 0 >/dev/null
expect_error Exists "CreateSandbox of an existing ID" $MANAGER $M.CreateSandbox s2 '{}'
S2=$(sandbox_path s2)
expect_error InvalidArgument "CreateContainer with a relative bundle" "$S2" $S.CreateContainer c1 relative/bundle
expect_error InvalidArgument "CreateContainer with a bad ID" "$S2" $S.CreateContainer 'x/y' "$TMP/echo"
expect_error NotFound "GetContainer of an unknown ID" "$S2" $S.GetContainer nope
expect_error InvalidState "Pause of a ready sandbox" "$S2" $S.Pause
mkdir -p "$TMP/nobundle"
expect_error NotFound "CreateContainer of a bundle without config.json" "$S2" $S.CreateContainer c1 "$TMP/nobundle"
bus get-property $NAME "$S2" $S State >/dev/null && ok "the sandbox survived the bad calls" || not_ok "s2 gone"

# ---- access control ---------------------------------------------------------------
as_nobody () { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
gcall_nobody () { p=$1; m=$2; shift 2; as_nobody gdbus call --address "$ADDR" --dest $NAME --object-path "$p" --method "$m" "$@"; }
if as_nobody gdbus call --address "$ADDR" --dest $NAME --object-path $MANAGER \
     --method org.freedesktop.DBus.Peer.Ping > "$TMP/out" 2>&1; then
  ok "uid 65534 reaches vcrund"
  gcall_nobody "$S2" $S.Stop > "$TMP/out" 2>&1
  [ "$(error_name "$TMP/out")" = org.vcrun.Runtime1.Error.AccessDenied ] \
    && ok "another uid gets AccessDenied: $(sed 's/.*AccessDenied: //' "$TMP/out")" || not_ok "nobody Stop: $(cat "$TMP/out")"
  [ "$(prop "$S2" Sandbox State)" = ready ] && ok "... and changed nothing" || not_ok "nobody changed s2"
  gcall_nobody "$S2" $S.CreateContainer c9 "$TMP/echo" > "$TMP/out" 2>&1
  [ "$(error_name "$TMP/out")" = org.vcrun.Runtime1.Error.AccessDenied ] && ok "AccessDenied on CreateContainer too" \
    || not_ok "nobody CreateContainer: $(cat "$TMP/out")"
  gcall_nobody $MANAGER $M.CreateSandbox s3 "{'kernel': <'/etc/shadow'>}" > "$TMP/out" 2>&1
  [ "$(error_name "$TMP/out")" = org.vcrun.Runtime1.Error.AccessDenied ] && ok "only root may choose the kernel" \
    || not_ok "nobody kernel option: $(cat "$TMP/out")"
  S3=$(sandbox_path s3)
  gcall_nobody $MANAGER $M.CreateSandbox s3 '{}' > "$TMP/out" 2>&1 \
    && [ "$(prop "$S3" Sandbox Owner)" = 65534 ] && ok "uid 65534 creates its own sandbox (Owner 65534)" \
    || not_ok "nobody CreateSandbox: $(cat "$TMP/out")"
  gcall_nobody "$S3" $S.Start > "$TMP/out" 2>&1 && ok "its owner may Start it" || not_ok "owner Start: $(cat "$TMP/out")"
  gcall_nobody "$S3" $S.CreateContainer c1 "$TMP/echo" > "$TMP/out" 2>&1
  [ "$(error_name "$TMP/out")" = org.vcrun.Runtime1.Error.AccessDenied ] \
    && ok "a bundle owned by root is refused to uid 65534: $(sed 's/.*AccessDenied: //' "$TMP/out")" \
    || not_ok "nobody with root's bundle: $(cat "$TMP/out")"
  make_bundle "$TMP/nobody-bundle" '["echo", "mine"]' 65534:65534
  gcall_nobody "$S3" $S.CreateContainer c1 "$TMP/nobody-bundle" > "$TMP/out" 2>&1 \
    && ok "its own bundle is accepted" || not_ok "nobody own bundle: $(cat "$TMP/out")"
  bus call $NAME "$S3" $S Delete b true && ok "root may act on anyone's sandbox" || not_ok "root Delete s3"
else
  for d in "AccessDenied" "unchanged" "CreateContainer" "kernel" "own sandbox" "Start" "root bundle" "own bundle" "root"; do
    skip "uid 65534 cannot connect to the test bus: $(head -1 "$TMP/out")"
  done
fi

# ---- vcrun --bus: the CLI's commands through vcrund ------------------------------------
VCRUN="$BUILD/cli/vcrun"
if [ -x "$VCRUN" ]; then
  make_bundle "$TMP/exit7" '["exit", "7"]'
  out=$("$VCRUN" --bus=session run --bundle "$TMP/echo" cli1 2> "$TMP/err"); st=$?
  [ $st -eq 0 ] && [ "$out" = "hello world" ] && ok "vcrun --bus run: output and status 0" \
    || not_ok "vcrun --bus run: $st '$out' $(cat "$TMP/err")"
  "$VCRUN" --bus=session run --bundle "$TMP/exit7" cli2 >/dev/null 2>&1; st=$?
  [ $st -eq 7 ] && ok "vcrun --bus run exits with the process's status (7)" || not_ok "vcrun --bus run exit: $st"
  "$VCRUN" --bus=session create --bundle "$TMP/sleep" cli3 && "$VCRUN" --bus=session start cli3 \
    && ok "vcrun --bus create, start" || not_ok "vcrun --bus create/start"
  "$VCRUN" --bus=session state cli3 > "$TMP/out" && grep -q '"status" : "running"' "$TMP/out" \
    && ok "vcrun --bus state: running" || not_ok "vcrun --bus state: $(cat "$TMP/out")"
  "$VCRUN" --bus=session list > "$TMP/out" && grep -q "^cli3 .* running " "$TMP/out" \
    && ok "vcrun --bus list" || not_ok "vcrun --bus list: $(cat "$TMP/out")"
  out=$("$VCRUN" --bus=session exec cli3 echo via exec); st=$?
  [ $st -eq 0 ] && [ "$out" = "via exec" ] && ok "vcrun --bus exec" || not_ok "vcrun --bus exec: $st '$out'"
  # json: the host pids (the fake VMM is vcrund itself), as runc prints them.
  out=$("$VCRUN" --bus=session ps --format json cli3 2>&1); st=$?
  [ $st -eq 0 ] && [ "$out" = "[$VCRUND_PID]" ] && ok "vcrun --bus ps --format json: the host pids" \
    || not_ok "vcrun --bus ps --format json: $st '$out', expected [$VCRUND_PID]"
  "$VCRUN" --bus=session ps cli3 > "$TMP/out" 2>&1; st=$?
  [ $st -eq 0 ] && grep -q "^PROCESS .*INIT .*STATUS .*EXIT" "$TMP/out" && grep -q "^cli3 .* yes .* running .* -" "$TMP/out" \
    && grep -Eq "^[^ ]+ +no +exited +0$" "$TMP/out" \
    && ok "vcrun --bus ps: table (init running, the exec exited 0)" || not_ok "vcrun --bus ps table: $st $(cat "$TMP/out")"
  "$VCRUN" --bus=session delete cli3 > "$TMP/out" 2>&1; st=$?
  [ $st -eq 125 ] && grep -q "is running" "$TMP/out" && ok "vcrun --bus delete of a running container: 125, says so" \
    || not_ok "vcrun --bus delete running: $st $(cat "$TMP/out")"
  "$VCRUN" --bus=session kill cli3 KILL && "$VCRUN" --bus=session delete cli3 \
    && ok "vcrun --bus kill, delete" || not_ok "vcrun --bus kill/delete"
  "$VCRUN" --bus=session state cli3 > "$TMP/out" 2>&1; st=$?
  [ $st -eq 125 ] && grep -q "container cli3 does not exist" "$TMP/out" && ok "vcrun --bus state of a deleted container: 125" \
    || not_ok "vcrun --bus state deleted: $st $(cat "$TMP/out")"
  [ "$(bus call $NAME $MANAGER $M ListSandboxes)" = "ao 1 \"$S2\"" ] && ok "vcrun --bus left nothing behind" \
    || not_ok "after vcrun --bus: $(bus call $NAME $MANAGER $M ListSandboxes)"
  # A sandbox that embedded vcrun created (its own supervisor owns it).
  if "$VCRUN" --config "$TMP/vcrun.conf" create --bundle "$TMP/sleep" emb1 > "$TMP/out" 2>&1; then
    EP=$(sandbox_path emb1)
    bus call $NAME $MANAGER $M ListSandboxes | grep -q "\"$EP\"" \
      && ok "a sandbox embedded vcrun made appears on the bus" || not_ok "emb1 not listed"
    expect_error Busy "its container's Start goes to its own supervisor" "$(container_path emb1 emb1)" $C.Start
    "$VCRUN" --config "$TMP/vcrun.conf" delete --force emb1 >/dev/null 2>&1
    bus call $NAME $MANAGER $M ListSandboxes | grep -q "\"$EP\"" \
      && not_ok "emb1 still listed after its deletion" || ok "... and leaves the bus when vcrun deletes it"
  else
    not_ok "embedded vcrun create: $(cat "$TMP/out")"
  fi
  out=$("$VCRUN" --bus=session --root "$TMP/elsewhere" list 2>&1); st=$?
  [ $st -eq 125 ] && printf '%s' "$out" | grep -q -- "--root applies to vcrun's own runtime, not to vcrund's" \
    && ok "vcrun --bus --root: refused (125), vcrund has its own state dir" || not_ok "--bus --root: $st '$out'"
else
  for i in 1 2 3 4 5 6 7 8 9 10; do skip "vcrun is not built"; done
fi

# ---- SIGTERM and SIGKILL, then restart ------------------------------------------------
bus call $NAME "$S2" $S Start
bus call $NAME "$S2" $S CreateContainer ss c1 "$TMP/sleep" >/dev/null
stop_vcrund TERM
[ "$VCRUND_STATUS" -eq 0 ] && ok "SIGTERM: vcrund exits 0" || not_ok "SIGTERM status $VCRUND_STATUS"
grep -q "stopping (the sandboxes keep running)" "$TMP/vcrund.log" && ok "... saying the sandboxes keep running" || not_ok "no stop message"
[ -f "$TMP/state/s2/fake-vm.running" ] && ok "... and the sandbox's VM still runs" || not_ok "VM gone after SIGTERM"
start_vcrund "$TMP/vcrun.conf" || not_ok "vcrund restarts"
[ "$(prop "$S2" Sandbox State)" = running ] && ok "restarted: s2 re-exported, running" || not_ok "s2 after restart: $(prop "$S2" Sandbox State)"
[ "$(prop "$(container_path s2 c1)" Container State)" = created ] && ok "... with its container" || not_ok "s2/c1 after restart"
stop_vcrund KILL
start_vcrund "$TMP/vcrun.conf" || not_ok "vcrund restarts after SIGKILL"
[ "$(prop "$S2" Sandbox State)" = running ] && ok "after SIGKILL: s2 re-exported" || not_ok "s2 after SIGKILL"
bus call $NAME "$S2" $S Stop && bus call $NAME "$S2" $S Delete b false && ok "... and can be stopped and deleted" \
  || not_ok "s2 stop/delete after restart"
[ ! -d "$TMP/state/s2" ] && ok "... leaving no state" || not_ok "s2 state remains"

# ---- 20 concurrent create/delete cycles ------------------------------------------------
fds_before=$(ls /proc/$VCRUND_PID/fd | wc -l)
cycle () {
  id=cc$1; sp=$(sandbox_path $id); cp=$(container_path $id c)
  bus call $NAME $MANAGER $M CreateSandbox 'sa{sv}' $id 0 >/dev/null || return 1
  bus call $NAME "$sp" $S Start || return 2
  bus call $NAME "$sp" $S CreateContainer ss c "$TMP/echo" >/dev/null || return 3
  "$CLIENT" "$ADDR" attach "$cp" > "$TMP/cycle-$1.out" & a=$!
  bus call $NAME "$cp" $C Start || return 4
  [ "$(bus call $NAME "$cp" $C Wait)" = "i 0" ] || return 5
  wait $a; [ "$(cat "$TMP/cycle-$1.out")" = "hello world" ] || return 6
  bus call $NAME "$cp" $C Delete b false || return 7
  bus call $NAME "$sp" $S Stop || return 8
  bus call $NAME "$sp" $S Delete b false || return 9
}
t0=$(date +%s.%N)
pids=
for i in $(seq 20); do (cycle $i; echo $? > "$TMP/cycle-$i.rc") & pids="$pids $!"; done
wait $pids
t1=$(date +%s.%N)
bad=0
for i in $(seq 20); do
  rc=$(cat "$TMP/cycle-$i.rc" 2>/dev/null)
  [ "$rc" = 0 ] || { bad=$((bad + 1)); note "cycle $i failed at step $rc"; }
done
[ $bad -eq 0 ] && ok "20 concurrent create/run/delete cycles succeed ($(echo "$t1 - $t0" | bc) s)" || not_ok "$bad of 20 cycles failed"
[ "$(bus call $NAME $MANAGER $M ListSandboxes)" = "ao 0" ] && ok "ListSandboxes is empty afterwards" \
  || not_ok "ListSandboxes: $(bus call $NAME $MANAGER $M ListSandboxes)"
bus tree $NAME | grep -q sandbox && not_ok "stray objects: $(bus tree $NAME)" || ok "no stray objects on the bus"
[ -z "$(ls -A "$TMP/state")" ] && ok "no stray state" || not_ok "stray state: $(ls "$TMP/state")"
sleep 0.5
fds_after=$(ls /proc/$VCRUND_PID/fd | wc -l)
[ "$fds_after" -le "$fds_before" ] && ok "no leaked fds in vcrund ($fds_before before, $fds_after after)" \
  || not_ok "vcrund fds grew from $fds_before to $fds_after"

# ---- round-trip times ------------------------------------------------------------------
bus call $NAME $MANAGER $M CreateSandbox 'sa{sv}' bench 0 >/dev/null
"$CLIENT" "$ADDR" bench 1000 "$(sandbox_path bench)" > "$TMP/bench" && ok "round trips measured" || not_ok "bench"
while read -r line; do note "round trip: $line"; done < "$TMP/bench"
bus call $NAME "$(sandbox_path bench)" $S Delete b true

kill -0 "$VCRUND_PID" && ok "vcrund is still alive" || not_ok "vcrund died"
grep -E "CRITICAL|WARNING" "$TMP/vcrund.log" | grep -v "cannot own" > "$TMP/warnings"
[ ! -s "$TMP/warnings" ] && ok "vcrund logged no warnings" || { not_ok "vcrund warnings:"; sed 's/^/#   /' "$TMP/warnings"; }
finish
