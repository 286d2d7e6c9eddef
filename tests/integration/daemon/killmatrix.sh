#!/usr/bin/env bash
# The kill -9 matrix on the fake plugins (TAP): each process that takes part
# in a lifecycle step is killed while the step runs, and then the next
# `vcrun state`, `list` and `delete` must work and say what happened, the
# state file must stay readable, and after delete nothing may be left (no
# process of the sandbox, no state dir).
#
# The fakes' hang_at setting stops a plugin method at a known step (it
# writes a marker file holding its pid and waits for the test to remove it),
# so "during start" means: the agent's StartContainer is in progress.
#
# Processes: embedded mode - the vcrun client mid-command and the
# supervisor (the sandbox's owner); --bus mode - the client and vcrund.
# Steps: create before boot (the hypervisor's create_vm), create after
# boot (the agent's create_container), start, exec, pause, delete.
# The cells that need a real VM (QEMU, virtiofsd) are in vm-killmatrix.sh.
# Each cell prints a "# cell:" line; doc/kill-matrix.md keeps the table.
. "$(dirname "$0")/lib.sh"
fake_setup
HANG="$TMP/hang"; mkdir -p "$HANG"

# conf NAME HANG_PLUGIN METHOD: a configuration whose HANG_PLUGIN hangs in METHOD.
conf () {
  local name=$1 plugin=$2 method=$3 hv="" ag=""
  local s="settings = { hang_at = \"$method\"; hang_dir = \"$HANG\"; };"
  case $plugin in hv) hv=$s ;; agent) ag=$s ;; esac
  cat > "$TMP/$name.conf" <<CONF
runtime: { state_dir = "$TMP/state"; plugin_dir = "$FAKES"; };
plugins: ( { name = "fake-hypervisor"; $hv }, { name = "fake-agent"; $ag }, { name = "fake-fs"; } );
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
CONF
}
fake_bundle sleep '["sleep", "1000"]'
CLEAN="$TMP/vcrun.conf"
vc () { timeout -k 5 60 "$VCRUN" --config "$CLEAN" "$@"; }
vcb () { timeout -k 5 60 "$VCRUN" --bus=session "$@"; }

# wait_marker NAME: the pid of the process hung at NAME ("" after 30 s).
wait_marker () {
  for _ in $(seq 300); do
    [ -s "$HANG/$1" ] && { cat "$HANG/$1"; return 0; }
    sleep 0.1
  done
  return 1
}
release () { rm -f "$HANG"/*; }

# The processes of sandbox ID still alive: anything whose command line or
# open files name its state dir, and the owner recorded in its state.
leftovers () {
  local dir="$TMP/state/$1" p found=""
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$dir" \
       || ls -l "/proc/$p/fd" 2>/dev/null | grep -q -- "$dir/"; then
      found="$found $p"
    fi
  done
  echo $found
}

# after_kill MODE ID CELL: the checks that follow every kill.
after_kill () {
  local mode=$1 id=$2 cell=$3 run=vc st out list_st del_st file_ok=yes
  [ "$mode" = bus ] && run=vcb
  out=$($run state "$id" 2>&1); st=$?
  local status
  status=$(printf '%s' "$out" | sed -n 's/.*"status" *: *"\([a-z]*\)".*/\1/p' | head -1)
  if [ $st -eq 0 ] && [ -n "$status" ]; then
    :
  elif [ $st -ne 0 ] && printf '%s' "$out" | grep -q "does not exist"; then
    status="gone"
  else
    not_ok "$cell: state neither reports nor says 'does not exist' ($st: $out)"
    status="?"
  fi
  $run list > "$TMP/list.out" 2>&1; list_st=$?
  [ -f "$TMP/state/$id/sandbox.json" ] && ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' \
      "$TMP/state/$id/sandbox.json" 2>/dev/null && file_ok=no
  out=$($run delete --force "$id" 2>&1); del_st=$?
  if [ $del_st -ne 0 ] && [ "$status" = gone ] && printf '%s' "$out" | grep -q "does not exist"; then
    del_st=0
  fi
  local left
  left=$(leftovers "$id")
  [ -d "$TMP/state/$id" ] && left="$left state-dir"
  note "cell: $cell | state after: $status | list: $list_st | state file readable: $file_ok | delete: $del_st | left: ${left:-nothing}"
  if [ "$status" != "?" ] && [ $list_st -eq 0 ] && [ $file_ok = yes ] && [ $del_st -eq 0 ] && [ -z "$left" ]; then
    ok "$cell: state says '$status', list and delete work, nothing left"
  else
    not_ok "$cell: list $list_st, file $file_ok, delete $del_st ($out), left: $left"
  fi
}

# step_command MODE STEP ID: the command that runs the step (backgrounded by
# the caller); prepare_step runs what comes before it.
prepare_step () {
  local mode=$1 step=$2 id=$3 conf=$4 run
  case $mode in embedded) run="timeout -k 5 60 $VCRUN --config $conf" ;; bus) run=vcb ;; esac
  case $step in
    create-before-boot|create-after-boot) return 0 ;;
    start) $run create --bundle "$TMP/sleep" "$id" ;;
    exec|pause|delete) $run run -d --bundle "$TMP/sleep" "$id" ;;
  esac
}
step_command () {
  local mode=$1 step=$2 id=$3 conf=$4 run
  case $mode in embedded) run="$VCRUN --config $conf" ;; bus) run="$VCRUN --bus=session" ;; esac
  case $step in
    create-before-boot|create-after-boot) exec $run create --bundle "$TMP/sleep" "$id" ;;
    start) exec $run start "$id" ;;
    exec) exec $run exec "$id" true ;;
    pause) exec $run pause "$id" ;;
    delete) exec $run delete --force "$id" ;;
  esac
}

# The plugin method each step hangs in.
step_hang () {
  case $1 in
    create-before-boot) echo "hv create_vm" ;;
    create-after-boot) echo "agent create_container" ;;
    start) echo "agent start_container" ;;
    exec) echo "agent exec_process" ;;
    pause) echo "agent pause_container" ;;
    delete) echo "hv stop_vm" ;;
  esac
}
STEPS="create-before-boot create-after-boot start exec pause delete"

# ---- embedded mode: the client and the supervisor --------------------------------
n=0
for step in $STEPS; do
  for victim in client supervisor; do
    n=$((n + 1)); id="e$n"
    set -- $(step_hang $step); plugin=$1; method=$2
    conf "e$n" "$plugin" "$method"
    # --bus mode's vcrund is not running yet: the embedded supervisor owns it.
    prepare_step embedded "$step" "$id" "$TMP/e$n.conf" > "$TMP/prep.out" 2>&1 \
      || { not_ok "embedded $step: preparing failed: $(cat "$TMP/prep.out")"; continue; }
    ( step_command embedded "$step" "$id" "$TMP/e$n.conf" ) > "$TMP/step.out" 2>&1 &
    client=$!
    hung=$(wait_marker "$plugin-$method") || { not_ok "embedded $step: never reached $method"; kill -9 $client; release; continue; }
    case $victim in client) kill -9 "$client" ;; supervisor) kill -9 "$hung" ;; esac
    sleep 0.2
    release
    wait "$client" 2>/dev/null
    # The survivors finish what they were doing before we look.
    sleep 0.5
    after_kill embedded "$id" "embedded, kill the $victim during $step"
  done
done

# ---- embedded mode: the VM powers off once created, never started ---------------
# (QEMU killed at that point is vm-killmatrix.sh's cell; this one runs
# everywhere, in seconds.) The supervisor watches the VM from the create on:
# it records the stop and ends, as for an init killed with its VM.
cat > "$TMP/die.conf" <<CONF
runtime: { state_dir = "$TMP/state"; plugin_dir = "$FAKES"; };
plugins: ( { name = "fake-hypervisor"; settings = { die_after_ms = 4000; }; }, { name = "fake-agent"; }, { name = "fake-fs"; } );
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
CONF
if timeout -k 5 60 "$VCRUN" --config "$TMP/die.conf" create --bundle "$TMP/sleep" dies > "$TMP/die.out" 2>&1; then
  owner=$(vc state dies 2>/dev/null | sed -n 's/.*"owner_pid" *: *\([0-9]*\).*/\1/p' | head -1)
  owner_gone () { [ -n "$owner" ] && { ! kill -0 "$owner" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$owner/stat" 2>/dev/null)" = Z ]; }; }
  stopped_now () { vc state dies 2>/dev/null | grep -q '"status" *: *"stopped"'; }
  for _ in $(seq 150); do owner_gone && stopped_now && break; sleep 0.1; done
  owner_gone && ok "created, the VM powers off: the supervisor (pid $owner) ends" \
    || not_ok "created, the VM powers off: the supervisor ${owner:-?} still runs"
  stopped_now && ok "created, the VM powers off: state says stopped" \
    || not_ok "created, the VM powers off: state: $(vc state dies 2>&1 | tr '\n' ' ')"
  out=$(vc start dies 2>&1); st=$?
  [ $st -ne 0 ] && printf '%s' "$out" | grep -q stopped \
    && ok "created, the VM powers off: start says it is stopped ($out)" || not_ok "start: $st $out"
  after_kill embedded dies "embedded, the VM powers off once created (never started)"
else
  not_ok "created, the VM powers off: create failed first ($(head -c 200 "$TMP/die.out"))"
fi

# ---- --bus mode: the client and vcrund ----------------------------------------
start_bus
for step in $STEPS; do
  for victim in client vcrund; do
    n=$((n + 1)); id="b$n"
    set -- $(step_hang $step); plugin=$1; method=$2
    conf "b$n" "$plugin" "$method"
    start_vcrund "$TMP/b$n.conf" || { not_ok "vcrund starts"; continue; }
    prepare_step bus "$step" "$id" "$TMP/b$n.conf" > "$TMP/prep.out" 2>&1 \
      || { not_ok "bus $step: preparing failed: $(cat "$TMP/prep.out")"; stop_vcrund KILL; continue; }
    ( step_command bus "$step" "$id" "$TMP/b$n.conf" ) > "$TMP/step.out" 2>&1 &
    client=$!
    hung=$(wait_marker "$plugin-$method") || { not_ok "bus $step: never reached $method"; kill -9 $client; release; stop_vcrund KILL; continue; }
    case $victim in
      client) kill -9 "$client"; sleep 0.2; release; sleep 0.5 ;;
      vcrund) stop_vcrund KILL; release ;;
    esac
    wait "$client" 2>/dev/null
    # A new vcrund (clean configuration) takes over what the old one left.
    if [ -n "$VCRUND_PID" ]; then stop_vcrund TERM; fi
    start_vcrund "$CLEAN" || { not_ok "vcrund restarts"; continue; }
    after_kill bus "$id" "--bus, kill $victim during $step"
    stop_vcrund TERM
  done
done

# ---- --bus mode: the VM powers off while its agent is dialled ------------------
# The boot stops waiting for the dial at once (the dial goes on, abandoned,
# on a thread of its own: here until the test releases the hung connect),
# the create fails and rolls back, and vcrund goes on and exits cleanly.
cat > "$TMP/dial.conf" <<CONF
runtime: { state_dir = "$TMP/state"; plugin_dir = "$FAKES"; };
plugins: ( { name = "fake-hypervisor"; settings = { die_after_ms = 1000; }; },
           { name = "fake-agent"; settings = { hang_at = "connect"; hang_dir = "$HANG"; }; },
           { name = "fake-fs"; } );
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
CONF
if start_vcrund "$TMP/dial.conf"; then
  out=$(timeout -k 5 50 $VCRUN --bus=session create --bundle "$TMP/sleep" dial 2>&1); st=$?
  [ $st -ne 0 ] && printf '%s' "$out" | grep -q "stopped while its agent was dialled" \
    && ok "the VM powers off during the agent dial: create fails at once ($out)" \
    || not_ok "the VM powers off during the agent dial: create $st: $out"
  [ -s "$HANG/agent-connect" ] && ok "... while the dial itself still hangs" || not_ok "the dial did not hang"
  release; sleep 1   # the abandoned dial ends now, in vcrund
  after_kill bus dial "--bus, the VM powers off while the agent is dialled"
  vcb list >/dev/null 2>&1 && ok "vcrund answers after the abandoned dial ended" || not_ok "vcrund does not answer"
  stop_vcrund TERM
  [ "$VCRUND_STATUS" -eq 0 ] && ok "vcrund exits 0" || not_ok "vcrund status $VCRUND_STATUS"
else
  not_ok "vcrund starts (dial.conf)"
fi
finish
