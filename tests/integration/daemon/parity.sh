#!/bin/bash
# vcrun --bus against embedded vcrun, on the test-only fake plugins: the same
# command line, run both ways (embedded with a state dir of its own, --bus
# through vcrund on a private bus), must print the same stdout and stderr and
# exit with the same status. Pids and creation times are the only fields
# allowed to differ (the owner is the supervisor in one, vcrund in the other);
# a pid of 0 against a real one still counts as a difference. Then both
# modes on one state dir: each says who holds a sandbox it cannot drive.
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"

fake_setup
fake_bundle echo '["echo", "hello"]'
fake_bundle seven '["exit", "7"]'
fake_bundle sleep '["sleep", "1000"]'
fake_bundle cat '["cat"]'

start_bus
start_vcrund "$TMP/vcrun.conf" --root "$TMP/bus-state" || { not_ok "vcrund starts"; finish; }

normalize () {
  # owner_alive: the embedded supervisor ends with its container's init
  # (OCI callers wait for that pid), vcrund lives on.
  sed -E -e 's/"(pid|owner_pid)" : [1-9][0-9]*/"\1" : PID/' \
         -e 's/"owner_alive" : (true|false)/"owner_alive" : BOOL/' \
         -e 's/"created" : "[0-9TZ:-]*"/"created" : TIME/' \
         -e 's/^([^ ]+ +)[1-9][0-9]*( +)/\1PID\2/' \
         -e 's/ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z / TIME /' \
         -e 's/  [1-9][0-9]*$/  PID/' -e 's/^\[[0-9,]*\]$/[PIDS]/' \
         -e 's/  */ /g' "$1"  # pids vary in width; ps --format json: host pids
}

# same [--stdin TEXT] ARGS...: the command, embedded then through vcrund.
same () {
  input=
  if [ "$1" = --stdin ]; then input=$2; shift 2; fi
  printf '%s' "$input" | timeout 30 "$VCRUN" --config "$TMP/vcrun.conf" --root "$TMP/embedded" "$@" \
    > "$TMP/e.out" 2> "$TMP/e.err"; es=$?
  printf '%s' "$input" | timeout 30 "$VCRUN" --bus=session "$@" > "$TMP/b.out" 2> "$TMP/b.err"; bs=$?
  normalize "$TMP/e.out" > "$TMP/e.norm"; normalize "$TMP/b.out" > "$TMP/b.norm"
  if [ $es -eq $bs ] && cmp -s "$TMP/e.norm" "$TMP/b.norm" && cmp -s "$TMP/e.err" "$TMP/b.err"; then
    ok "same: vcrun $* (status $es)"
  else
    not_ok "vcrun $*: embedded status $es, --bus status $bs"
    diff "$TMP/e.norm" "$TMP/b.norm" | sed 's/^/#   stdout /'
    diff "$TMP/e.err" "$TMP/b.err" | sed 's/^/#   stderr /'
  fi
}

# attached runs
same run --bundle "$TMP/echo" r1
same run --bundle "$TMP/seven" r2
same --stdin 'typed in
' run --bundle "$TMP/cat" r3
same run --bundle "$TMP/echo" 'bad/id'
same run --bundle /nonexistent r4
same run -t -d --bundle "$TMP/sleep" r5
same run
# detached, and the lifecycle
same run -d --bundle "$TMP/sleep" d1
same run -d --bundle "$TMP/sleep" d1
same create --bundle "$TMP/sleep" d1
same start d1
same pause d1
same pause d1
same state d1
same resume d1
same resume d1
same exec --exec-id x1 -e B=2 --cwd /tmp d1 echo hi
same exec --exec-id x1 d1 echo again
same exec --exec-id x2 --cwd rel d1 echo hi
same exec --exec-id x3 -e nope d1 echo hi
same exec --exec-id x3 -u abc d1 echo hi
same exec --exec-id 'bad id' d1 echo hi
same exec --exec-id x4 d1 exit 3
same ps d1
same ps --format json d1
same ps --format yaml d1
same kill --all d1 TERM
same kill d1
same delete --force d1
same delete --force d1
# killed before it started; created, started, killed, deleted
same create --bundle "$TMP/sleep" k1
same kill k1 TERM
sleep 0.5
same state k1
same start k1
same delete k1
same create --bundle "$TMP/sleep" c1
same state c1
same exec c1 echo too-early
same pause c1
same resume c1
same ps c1
same delete c1
same create --bundle "$TMP/sleep" c1
same start c1
same state c1
same list
same list -q
same list --format json
same list --format yaml
same delete c1
same kill c1 NOSIG
same kill c1 KILL
sleep 0.5
same state c1
same start c1
same delete c1
same state c1
# unknown IDs, missing arguments
for cmd in state start pause resume kill delete ps; do same $cmd nope; done
same exec nope echo
same state
same exec c1
# command lines both modes check alike (one option table, one check)
same kill
same kill c1 TERM extra
same run --bundle "$TMP/echo" r6 extra
same create --console-socket /nonexistent --bundle "$TMP/sleep" c2
same list extra
same ps --format yaml

# Detached (create + start, run -d): the container's stdio is the creating
# vcrun's, in both modes: its output lands where create's stdout went.
for mode in embedded bus; do
  if [ $mode = embedded ]; then v=("$VCRUN" --config "$TMP/vcrun.conf" --root "$TMP/embedded")
  else v=("$VCRUN" --bus=session); fi
  timeout 30 "${v[@]}" create --bundle "$TMP/echo" o1 > "$TMP/o1.$mode" 2>&1 < /dev/null \
    && timeout 30 "${v[@]}" start o1
  echo typed | timeout 30 "${v[@]}" run -d --bundle "$TMP/cat" o2 > "$TMP/o2.$mode" 2>&1
  wait_for 10 grep -q hello "$TMP/o1.$mode"
  wait_for 10 grep -q typed "$TMP/o2.$mode"
  timeout 30 "${v[@]}" delete --force o1 >/dev/null 2>&1
  timeout 30 "${v[@]}" delete --force o2 >/dev/null 2>&1
done
# SIGTERM to an attached vcrun run goes to the container's process (the fake
# agent ends it with 128+15), and vcrun exits with its status.
for mode in embedded bus; do
  if [ $mode = embedded ]; then v=("$VCRUN" --config "$TMP/vcrun.conf" --root "$TMP/embedded")
  else v=("$VCRUN" --bus=session); fi
  "${v[@]}" run --bundle "$TMP/sleep" t1 > /dev/null 2>&1 < /dev/null &
  run_pid=$!
  wait_for 20 sh -c "'${v[0]}' ${v[*]:1} state t1 2>/dev/null | grep -q '\"running\"'"
  kill -TERM $run_pid; wait $run_pid; st=$?
  [ $st -eq 143 ] && ok "$mode run: SIGTERM reaches the process, vcrun exits 143" \
    || not_ok "$mode run after SIGTERM: status $st"
done

# --pid-file holds the pid `state` reports.
for mode in embedded bus; do
  if [ $mode = embedded ]; then v=("$VCRUN" --config "$TMP/vcrun.conf" --root "$TMP/embedded")
  else v=("$VCRUN" --bus=session); fi
  timeout 30 "${v[@]}" create --pid-file "$TMP/p1.$mode" --bundle "$TMP/sleep" p1 >/dev/null 2>&1 </dev/null
  statepid=$(timeout 30 "${v[@]}" state p1 | sed -n 's/.*"pid" : \([0-9]*\).*/\1/p')
  [ -n "$statepid" ] && [ "$statepid" != 0 ] && [ "$(cat "$TMP/p1.$mode" 2>/dev/null)" = "$statepid" ] \
    && ok "$mode create --pid-file: the pid state reports ($statepid)" \
    || not_ok "$mode --pid-file: '$(cat "$TMP/p1.$mode" 2>/dev/null)' vs state pid '$statepid'"
  timeout 30 "${v[@]}" delete --force p1 >/dev/null 2>&1
done
[ "$(cat "$TMP/o1.bus")" = hello ] && cmp -s "$TMP/o1.embedded" "$TMP/o1.bus" \
  && ok "create + start: the output goes to create's stdout, both ways" \
  || not_ok "create + start output: embedded '$(cat "$TMP/o1.embedded")', --bus '$(cat "$TMP/o1.bus")'"
[ "$(cat "$TMP/o2.bus")" = typed ] && cmp -s "$TMP/o2.embedded" "$TMP/o2.bus" \
  && ok "run -d: stdin from the caller, output to its stdout, both ways" \
  || not_ok "run -d stdio: embedded '$(cat "$TMP/o2.embedded")', --bus '$(cat "$TMP/o2.bus")'"

# One state dir, two kinds of owner: each mode says who holds a sandbox.
emb () { timeout 30 "$VCRUN" --config "$TMP/vcrun.conf" --root "$TMP/bus-state" "$@"; }
field () { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
"$VCRUN" --bus=session run -d --bundle "$TMP/sleep" viabus && emb run -d --bundle "$TMP/sleep" viaemb \
  && ok "a sandbox through vcrund and one embedded, in one state dir" || not_ok "viabus/viaemb"
out=$(emb exec viabus echo x 2>&1); st=$?
[ $st -eq 125 ] && [ "$out" = "vcrun: sandbox viabus is run by vcrund (process $VCRUND_PID): use 'vcrun --bus' for it" ] \
  && ok "embedded exec into vcrund's sandbox: 125, says to use --bus" || not_ok "embedded exec viabus: $st '$out'"
[ "$(emb state viabus | field owner_pid)" = "$VCRUND_PID" ] && ok "embedded state: owner_pid is vcrund's" \
  || not_ok "embedded state viabus: $(emb state viabus)"
sup=$(emb state viaemb | field owner_pid)
[ -n "$sup" ] && [ "$sup" != "$VCRUND_PID" ] && [ "$("$VCRUN" --bus=session state viaemb | field owner_pid)" = "$sup" ] \
  && ok "--bus state: owner_pid is the supervisor's ($sup), as embedded state says" \
  || not_ok "--bus state viaemb: $("$VCRUN" --bus=session state viaemb 2>&1)"
out=$("$VCRUN" --bus=session exec viaemb echo x 2>&1); st=$?
[ $st -eq 125 ] && printf '%s' "$out" | grep -q "is run by process $sup (a vcrun supervisor)" \
  && ok "--bus exec into the supervisor's sandbox: 125, says who runs it" || not_ok "--bus exec viaemb: $st '$out'"
emb delete --force viaemb && "$VCRUN" --bus=session delete --force viabus \
  && ok "each deleted by its own mode" || not_ok "delete viaemb/viabus"

[ "$(bus call $NAME $MANAGER org.vcrun.Runtime1.Manager ListSandboxes)" = "ao 0" ] \
  && ok "--bus left no sandbox behind" || not_ok "left: $(bus call $NAME $MANAGER org.vcrun.Runtime1.Manager ListSandboxes)"
[ -z "$("$VCRUN" --config "$TMP/vcrun.conf" --root "$TMP/embedded" list -q)" ] \
  && ok "embedded left no sandbox behind" || not_ok "embedded left some"
finish
