#!/bin/bash
# The long-lived processes under valgrind (memcheck, definite leaks are
# errors), on the fake plugins: vcrund serving attached and detached runs,
# exec with stdin, delete; and the embedded owner, both in an attached
# `vcrun run` and in a detached supervisor (create, start, exec, kill before
# start, delete). Each must end with no error and nothing definitely lost.
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"

fake_setup
command -v valgrind >/dev/null || skip_all "valgrind is not installed"
LIBTOOL="$BUILD/libtool"
VALGRIND="valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite -q"

fake_bundle echo '["echo", "hi"]'
fake_bundle cat '["cat"]'
fake_bundle sleep '["sleep", "1000"]'

# clean LOG...: every valgrind log says no error (with -q, an empty log).
clean () {
  for f in "$@"; do
    [ -s "$f" ] && { sed 's/^/#   /' "$f" | head -40; return 1; }
  done
  return 0
}

# ---- vcrund ----------------------------------------------------------------------------
start_bus
"$LIBTOOL" --mode=execute $VALGRIND --log-file="$TMP/vcrund.vg" "$VCRUND" --address "$ADDR" \
  --config "$TMP/vcrun.conf" > "$TMP/vcrund.log" 2>&1 &
VCRUND_PID=$!
wait_for 60 sh -c "gdbus call --address '$ADDR' --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus --method org.freedesktop.DBus.NameHasOwner $NAME 2>/dev/null | grep -q true" \
  || { not_ok "vcrund under valgrind comes up"; sed 's/^/#   /' "$TMP/vcrund.log"; finish; }
b () { timeout 120 "$VCRUN" --bus=session "$@"; }
[ "$(b run --bundle "$TMP/echo" r1)" = hi ] && ok "vcrund (valgrind): run" || not_ok "run"
[ "$(echo typed | b run --bundle "$TMP/cat" r2)" = typed ] && ok "vcrund (valgrind): run with stdin" || not_ok "run cat"
b run -d --bundle "$TMP/sleep" d1 && [ "$(echo piped | b exec d1 cat)" = piped ] \
  && b ps --format json d1 | grep -q '^\[[0-9]' \
  && ok "vcrund (valgrind): run -d, exec with stdin, ps (ListHostPids)" || not_ok "run -d / exec / ps"
b create --bundle "$TMP/sleep" k1 && b kill k1 TERM && b delete --force k1 && b delete --force d1 \
  && ok "vcrund (valgrind): kill before start, delete" || not_ok "kill/delete"
stop_vcrund TERM
[ "$VCRUND_STATUS" -eq 0 ] && ok "vcrund (valgrind) exits 0 on SIGTERM" || not_ok "vcrund status $VCRUND_STATUS"
clean "$TMP/vcrund.vg" && ok "vcrund: no memory error, nothing definitely lost" || not_ok "vcrund: valgrind found the above"

# ---- the embedded owner ------------------------------------------------------------------
e () { timeout 120 "$VCRUN" --config "$TMP/vcrun.conf" "$@"; }
out=$(echo typed | "$LIBTOOL" --mode=execute $VALGRIND --log-file="$TMP/run.vg" "$VCRUN" \
        --config "$TMP/vcrun.conf" run --bundle "$TMP/cat" e1)
[ "$out" = typed ] && ok "vcrun run (valgrind): stdin and stdout" || not_ok "vcrun run: '$out'"
clean "$TMP/run.vg" && ok "attached owner: no memory error, nothing definitely lost" || not_ok "attached owner: valgrind found the above"
# The supervisor forks from the vcrun under valgrind and stays under it.
"$LIBTOOL" --mode=execute $VALGRIND --log-file="$TMP/sup.%p.vg" "$VCRUN" --config "$TMP/vcrun.conf" \
  create --bundle "$TMP/sleep" s1 > /dev/null 2>&1 < /dev/null
owner_of () { e state "$1" | sed -n 's/.*"owner_pid" : \([0-9]*\).*/\1/p'; }
sup1=$(owner_of s1)
e start s1 && [ "$(echo piped | e exec s1 cat)" = piped ] && e ps --format json s1 | grep -q '^\[[0-9]' \
  && e kill s1 KILL && ok "supervisor (valgrind): start, exec with stdin, ps, kill" || not_ok "supervisor s1"
wait_for 30 sh -c "'$VCRUN' --config '$TMP/vcrun.conf' state s1 | grep -q '\"stopped\"'"
e delete s1 && ok "supervisor (valgrind): delete" || not_ok "delete s1"
"$LIBTOOL" --mode=execute $VALGRIND --log-file="$TMP/sup.%p.vg" "$VCRUN" --config "$TMP/vcrun.conf" \
  create --bundle "$TMP/sleep" s2 > /dev/null 2>&1 < /dev/null
sup2=$(owner_of s2)
e kill s2 TERM && wait_for 30 sh -c "'$VCRUN' --config '$TMP/vcrun.conf' state s2 | grep -q '\"stopped\"'" \
  && e delete s2 && ok "supervisor (valgrind): kill before start, delete" || not_ok "supervisor s2"
# The supervisors end once their sandbox is deleted.
wait_for 60 sh -c "! kill -0 $sup1 2>/dev/null && ! kill -0 $sup2 2>/dev/null" \
  && ok "the supervisors end ($sup1, $sup2)" || not_ok "supervisors $sup1 $sup2 still run"
clean "$TMP"/sup.*.vg && ok "supervisors: no memory error, nothing definitely lost" \
  || not_ok "supervisors: valgrind found the above"
finish
