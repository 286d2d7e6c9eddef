#!/bin/bash
# Stdio through every path, against real QEMU and the guest image (issue 12).
#
# Each path carries 64 MiB of random bytes in and 64 MiB out (stdio-check in
# lib.sh): stdin is hashed in the guest, the blob comes back on stdout in
# 1 MiB blocks interleaved with stderr lines, END markers last; sha256 both
# ways. Paths: embedded run, embedded exec, vcrun --bus run (D-Bus Attach
# fds) and exec, and a D-Bus Exec's fds read directly (vcd-client), on
# fs-virtiofs; a detached container on fs-9p gets the exec case as a smoke
# test. On the embedded container (one VM for all of these) and through
# --bus:
#   - the exec tail: 64 MiB of zeros then END from a fast writer, exactly;
#   - a slow consumer: the reader pauses 5 s while the guest writes 32 MiB:
#     nothing lost, the writer blocked meanwhile, the owner's RSS (from
#     /proc) grows by less than 16 MiB;
#   - a consumer that goes away (| head -c 10): the process dies of SIGPIPE
#     (or gets EPIPE when it ignores SIGPIPE), nothing hangs, the owner keeps
#     no fd;
#   - a terminal with 8 MiB of output: nothing lost;
# and an attached run whose reader pauses after the process exited.
# Slow (five VM boots): scripts/test-all.sh runs it (make check-stdio).
set -u
top_builddir=${VCRUN_TOP_BUILDDIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BUILD=$top_builddir
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-stdio.XXXXXX")
. "$(dirname "$0")/lib.sh"

n=0 failed=0
ok()   { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { echo "# $*"; }
t_start=$(date +%s)
# section NAME: a diagnostic line with the seconds since the start.
section() { diag "$(( $(date +%s) - t_start )) s: $*"; }
expect_eq() { if [ "$2" = "$3" ]; then ok 0 "$1"; else diag "expected [$2], got [$3]"; ok 1 "$1"; fi; }

cleanup() {
    stop_all
    if [ -n "${VCRUN_STDIO_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

missing=$(stdio_missing)
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi
stdio_config fs-virtiofs || { echo "1..0 # SKIP cannot make a configuration for fs-virtiofs"; exit 0; }
stdio_config fs-9p || { echo "1..0 # SKIP cannot make a configuration for fs-9p"; exit 0; }
stdio_rootfs
head -c $((64 << 20)) /dev/urandom > "$WORK/in.bin"
IN_SHA=$(sha256sum < "$WORK/in.bin" | cut -c1-64)
EXPECTED_ERR=$(echo "IN $IN_SHA"; for i in $(seq 0 63); do echo "ERR-LINE $i"; done; echo END-ERR)

stdio_bundle "$WORK/b-sleep" '["sleep", "100000"]'
stdio_bundle "$WORK/b-check" '["/bin/stdio-check"]'
stdio_bundle "$WORK/b-short" '["sh", "-c", "dd if=/dev/zero bs=1M count=2 2>/dev/null; echo END"]'

# check_combo WHAT STATUS OUT_FILE ERR_FILE: stdio-check's results.
check_combo() {
    local what=$1 status=$2 out=$3 err=$4
    expect_eq "$what: exit status 0" 0 "$status"
    expect_eq "$what: 64 MiB of stdout + END-OUT, sha256" "$OUT_SHA $((64 * 1048576 + 8))" \
        "$(sha256sum < "$out" | cut -c1-64) $(stat -c %s "$out")"
    if [ "$(cat "$err")" = "$EXPECTED_ERR" ]; then
        ok 0 "$what: 64 MiB of stdin arrived whole (sha256), stderr's 66 lines interleaved with stdout"
    else
        diag "stderr: $(head -c 300 "$err" | tr '\n' '|') ... $(tail -c 100 "$err" | tr '\n' '|')"
        ok 1 "$what: 64 MiB of stdin arrived whole (sha256), stderr's 66 lines interleaved with stdout"
    fi
    rm -f "$out" "$err"
}

# tail_case WHAT CMD...: the issue's reproducer, exactly 67108868 bytes.
tail_case() {
    local what=$1; shift
    local got
    got=$("$@" sh -c 'dd if=/dev/zero bs=1M count=64 2>/dev/null; echo END' </dev/null | wc -c)
    expect_eq "$what: a fast writer's 64 MiB and END arrive whole (the tail is not lost)" 67108868 "$got"
    got=$("$@" sh -c 'dd if=/dev/zero bs=1M count=64 2>/dev/null; echo END' </dev/null | tail -c 4)
    expect_eq "$what: ... and END comes last" END "$got"
}

# slow_case WHAT OWNER_PID CMD...: the reader takes 1 byte, pauses 5 s, reads
# the rest; the writer writes 32 MiB in 1 MiB steps, noting each on stderr.
slow_case() {
    local what=$1 owner=$2; shift 2
    local base max=0 r steps
    base=$(rss_kb "$owner")
    ( "$@" sh -c 'i=0; while [ $i -lt 32 ]; do dd if=/dev/zero bs=1M count=1 2>/dev/null; i=$((i + 1)); echo "W $i" >&2; done; echo END' \
          </dev/null 2>"$WORK/slow.err" \
        | { dd bs=1 count=1 2>/dev/null; sleep 5; echo "$(grep -c '^W' "$WORK/slow.err")" > "$WORK/slow.steps"; cat; } \
        | { c=$(wc -c); echo "$c" > "$WORK/slow.count"; } ) &
    local job=$!
    while kill -0 $job 2>/dev/null; do
        r=$(rss_kb "$owner"); [ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
        sleep 0.2
    done
    wait $job
    steps=$(cat "$WORK/slow.steps" 2>/dev/null)
    expect_eq "$what: a slow reader gets all 32 MiB and END" $((32 * 1048576 + 4)) "$(cat "$WORK/slow.count" 2>/dev/null)"
    # Between the writer and the paused reader there is room for a few MiB
    # (guest pipe and buffer, one request in flight, host pipe): the writer
    # must have stopped well before 32.
    if [ -n "$steps" ] && [ "$steps" -ge 1 ] && [ "$steps" -lt 16 ]; then
        ok 0 "$what: the writer blocked while the reader paused ($steps of 32 MiB written after 5 s)"
    else
        ok 1 "$what: the writer blocked while the reader paused ($steps of 32 MiB written after 5 s)"
    fi
    local growth=$(( (max - base) ))
    [ "$growth" -lt 16384 ]
    ok $? "$what: the owner's RSS grew by $((growth / 1024)) MiB (< 16 MiB; $((base / 1024)) -> $((max / 1024)) MiB)"
}

# head_case WHAT OWNER_PID CMD...: | head -c 10, with SIGPIPE default and ignored.
head_case() {
    local what=$1 owner=$2; shift 2
    local fds_before st t0
    fds_before=$(fd_count "$owner")
    t0=$(date +%s)
    VC_TIMEOUT=100 "$@" sh -c 'exec yes' </dev/null | head -c 10 > "$WORK/head.out"; st=${PIPESTATUS[0]}
    expect_eq "$what: | head -c 10 gets 10 bytes" "y y y y y " "$(tr '\n' ' ' < "$WORK/head.out")"
    expect_eq "$what: the writer dies of SIGPIPE when the reader goes (status 141)" 141 "$st"
    VC_TIMEOUT=100 "$@" sh -c 'trap "" PIPE; yes; echo "yes-status $?" >&2' </dev/null 2>"$WORK/epipe.err" | head -c 10 >/dev/null
    if grep -q "yes-status 1" "$WORK/epipe.err"; then
        ok 0 "$what: with SIGPIPE ignored the writer gets EPIPE and exits 1"
    else
        diag "stderr: $(head -c 300 "$WORK/epipe.err")"
        ok 1 "$what: with SIGPIPE ignored the writer gets EPIPE and exits 1"
    fi
    local took=$(( $(date +%s) - t0 ))
    [ "$took" -lt 120 ]; ok $? "$what: nothing hangs (both took $took s)"
    sleep 1
    expect_eq "$what: the owner holds no fd more than before" "$fds_before" "$(fd_count "$owner")"
}

# tty_case WHAT CMD...: 8 MiB of text lines through a terminal (which turns
# each \n into \r\n).
tty_case() {
    local what=$1; shift
    local want got
    want=$({ cat "$WORK/rootfs/data/lines"; echo END; } | sha256sum | cut -c1-64)
    "$@" sh -c 'cat /data/lines; echo END' </dev/null > "$WORK/tty.out"
    got=$(tr -d '\r' < "$WORK/tty.out" | sha256sum | cut -c1-64)
    expect_eq "$what: 8 MiB through a terminal arrive whole" "$want" "$got"
    expect_eq "$what: ... with \\r\\n line ends" $((8388608 / 17 + 1)) "$(grep -c $'\r$' "$WORK/tty.out")"
    rm -f "$WORK/tty.out"
}

# ---- embedded, fs-virtiofs: one detached container for the exec cases ------
vcv() { vc_with fs-virtiofs "$@"; }
section "embedded exec (fs-virtiofs)"
if ! vcv run -d --bundle "$WORK/b-sleep" sv </dev/null >/dev/null 2>"$WORK/sv.err"; then
    ok 1 "a detached container boots (fs-virtiofs): $(tail -3 "$WORK/sv.err")"
else
    ok 0 "a detached container boots (fs-virtiofs)"
    owner=$(vcv state sv | python3 -c 'import json,sys; print(json.load(sys.stdin)["owner_pid"])')
    vcv exec sv /bin/stdio-check < "$WORK/in.bin" > "$WORK/out" 2> "$WORK/err"
    check_combo "embedded exec" $? "$WORK/out" "$WORK/err"
    section "tail"
    tail_case "embedded exec" vcv exec sv
    slow_case "embedded exec" "$owner" vcv exec sv
    head_case "embedded exec" "$owner" vcv exec sv
    section "terminal"
    tty_case "embedded exec -t" vcv exec -t sv
    vcv delete --force sv >/dev/null 2>&1
fi

# ---- embedded run: its own VM ------------------------------------------------
section "embedded run"
vcv run --bundle "$WORK/b-check" rv < "$WORK/in.bin" > "$WORK/out" 2> "$WORK/err"
check_combo "embedded run" $? "$WORK/out" "$WORK/err"
# The process exits with its output still buffered; the reader waits 12 s
# (longer than the owner waits for output that stalls) before it reads.
got=$(vcv run --bundle "$WORK/b-short" rs </dev/null | { sleep 12; wc -c; })
expect_eq "embedded run: a reader that pauses 12 s after the exit still gets everything" 2097156 "$got"

# ---- fs-9p: the exec case as a smoke test -------------------------------------
vc9() { vc_with fs-9p "$@"; }
section "embedded exec (fs-9p)"
if ! vc9 run -d --bundle "$WORK/b-sleep" s9 </dev/null >/dev/null 2>"$WORK/s9.err"; then
    ok 1 "a detached container boots (fs-9p): $(tail -3 "$WORK/s9.err")"
else
    ok 0 "a detached container boots (fs-9p)"
    vc9 exec s9 /bin/stdio-check < "$WORK/in.bin" > "$WORK/out" 2> "$WORK/err"
    check_combo "embedded exec on fs-9p" $? "$WORK/out" "$WORK/err"
    vc9 delete --force s9 >/dev/null 2>&1
fi

# ---- vcrund: --bus and the D-Bus fds ------------------------------------------
section "vcrund"
missing=$(bus_missing)
if [ -n "$missing" ]; then
    skip "--bus and D-Bus fds" "$missing"
elif ! start_bus_vcrund fs-virtiofs; then
    ok 1 "vcrund starts on a private bus: $(tail -5 "$WORK/vcrund.log")"
else
    if ! vcb run -d --bundle "$WORK/b-sleep" sb </dev/null >/dev/null 2>"$WORK/sb.err"; then
        ok 1 "a detached container boots under vcrund: $(tail -3 "$WORK/sb.err")"
    else
        ok 0 "a detached container boots under vcrund"
        vcb exec sb /bin/stdio-check < "$WORK/in.bin" > "$WORK/out" 2> "$WORK/err"
        check_combo "--bus exec" $? "$WORK/out" "$WORK/err"
        "$CLIENT" "$ADDR" exec "$(container_path sb)" x1 '{"args": ["/bin/stdio-check"], "cwd": "/", "env": ["PATH=/bin"]}' \
            < "$WORK/in.bin" > "$WORK/out" 2> "$WORK/err"
        check_combo "D-Bus Exec fds" $? "$WORK/out" "$WORK/err"
        tail_case "--bus exec" vcb exec sb
        slow_case "--bus exec (vcrund's RSS)" "$VCRUND_PID" vcb exec sb
        head_case "--bus exec (vcrund)" "$VCRUND_PID" vcb exec sb
        tty_case "--bus exec -t" vcb exec -t sb
        vcb delete --force sb >/dev/null 2>&1
    fi
    vcb run --bundle "$WORK/b-check" rb < "$WORK/in.bin" > "$WORK/out" 2> "$WORK/err"
    check_combo "--bus run (D-Bus Attach fds)" $? "$WORK/out" "$WORK/err"
fi

section "done"
echo "1..$n"
[ "$failed" -eq 0 ]
