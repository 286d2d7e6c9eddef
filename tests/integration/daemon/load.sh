#!/bin/bash
# Load on vcrund with the fake plugins (issue 18 part 7): 50 concurrent D-Bus
# clients (vcd-load: one connection each) each run VCD_LOAD_CYCLES (2) whole
# lifecycles (create, boot, create container, start, exec + wait, delete) at
# once. No call may fail; afterwards nothing is left (ListSandboxes, the
# state dir, fake VMs), and vcrund's fds, threads and RSS are back near where
# a warm-up round left them. p50/p99 latencies are printed.
# bench/run-load.sh runs this with real sandboxes too.
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"

fake_setup
LOAD="$BUILD/tests/integration/daemon/vcd-load"
[ -x "$LOAD" ] || skip_all "vcd-load is not built"
# Each call of vcd-load has a deadline (VCD_LOAD_CALL_TIMEOUT_MS); timeout(1)
# bounds the whole run too, so that a regression fails instead of hanging CI.
RUN_LIMIT=${VCD_LOAD_RUN_LIMIT:-900}
command -v timeout >/dev/null || skip_all "timeout is not installed"
CLIENTS=${VCD_LOAD_CLIENTS:-50}
CYCLES=${VCD_LOAD_CYCLES:-2}
fake_bundle sleep '["sleep", "1000"]'
EXEC='{"args":["echo","exec","ok"],"cwd":"/"}'

start_bus
start_vcrund "$TMP/vcrun.conf" || { not_ok "vcrund starts"; finish; }

proc_status () { sed -n "s/^$1:[[:space:]]*\([0-9]*\).*/\1/p" "/proc/$VCRUND_PID/status"; }
fds () { ls "/proc/$VCRUND_PID/fd" | wc -l; }

# A warm-up round: GLib's thread pools and caches grow to their size.
VCD_LOAD_PREFIX=warm timeout -s KILL "$RUN_LIMIT" "$LOAD" "$ADDR" 10 1 "$TMP/sleep" "$EXEC" "exec ok" > "$TMP/warm.out" 2>&1 \
  && ok "warm-up: 10 clients, 1 lifecycle each" || { not_ok "warm-up"; sed 's/^/#   /' "$TMP/warm.out"; }
fds0=$(fds) threads0=$(proc_status Threads) rss0=$(proc_status VmRSS)

timeout -s KILL "$RUN_LIMIT" "$LOAD" "$ADDR" "$CLIENTS" "$CYCLES" "$TMP/sleep" "$EXEC" "exec ok" \
  > "$TMP/load.out" 2> "$TMP/load.err"
st=$?
sed 's/^/# /' "$TMP/load.out"
[ $st -eq 0 ] && ok "$CLIENTS clients x $CYCLES lifecycles: no call failed" \
  || { not_ok "load: exit $st"; head -20 "$TMP/load.err" | sed 's/^/#   /'; }

# GLib's warnings name fd mix-ups (a closed fd that another thread received).
if grep -q -E 'WARNING|CRITICAL' "$TMP/warm.out" "$TMP/load.err"; then
  not_ok "the clients saw GLib warnings"; grep -h -E 'WARNING|CRITICAL' "$TMP/warm.out" "$TMP/load.err" | head -5 | sed 's/^/#   /'
else
  ok "no GLib warnings in the clients"
fi

out=$(gcall $MANAGER org.vcrun.Runtime1.Manager.ListSandboxes)
[ "$out" = "(@ao [],)" ] && ok "afterwards ListSandboxes is empty" || not_ok "sandboxes left: $out"
left=$(ls -A "$TMP/state" 2>/dev/null | grep -v -E '^\.' | wc -l)
[ "$left" -eq 0 ] && ok "the state dir is empty" || not_ok "state dir: $(ls -A "$TMP/state")"
[ -z "$(find "$TMP/state" -name 'fake-vm.running' 2>/dev/null)" ] && ok "no fake VM runs" || not_ok "fake VMs left"

# The pools may keep a few idle threads; fds and memory must not grow with the load.
sleep 1
fds1=$(fds) threads1=$(proc_status Threads) rss1=$(proc_status VmRSS)
note "vcrund after warm-up: $fds0 fds, $threads0 threads, RSS $rss0 KiB; after the load: $fds1 fds, $threads1 threads, RSS $rss1 KiB"
[ "$fds1" -le $((fds0 + 2)) ] && ok "no fd leak ($fds0 -> $fds1)" || not_ok "fds grew: $fds0 -> $fds1"
[ "$threads1" -le $((threads0 + 8)) ] && ok "no thread leak ($threads0 -> $threads1)" || not_ok "threads grew: $threads0 -> $threads1"
if ldd "$VCRUND" 2>/dev/null | grep -q libasan; then
  # ASan keeps freed memory in quarantine: RSS says nothing there.
  skip "RSS growth $(( (rss1 - rss0) / 1024 )) MiB, not checked under ASan"
elif [ "$rss1" -le $((rss0 + 32768)) ]; then
  ok "RSS growth under 32 MiB ($(( (rss1 - rss0) / 1024 )) MiB)"
else
  not_ok "RSS grew by $(( (rss1 - rss0) / 1024 )) MiB"
fi
check "vcrund still answers" gcall $MANAGER org.vcrun.Runtime1.Manager.ListSandboxes
stop_vcrund TERM
[ "$VCRUND_STATUS" -eq 0 ] && ok "vcrund exits 0 on SIGTERM" || not_ok "vcrund status $VCRUND_STATUS"
finish
