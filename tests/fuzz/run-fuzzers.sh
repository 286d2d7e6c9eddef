#!/usr/bin/env bash
# Runs the libFuzzer harnesses (./configure --enable-fuzzing): each first on
# every input of its seed corpus (tests/fuzz/corpus/<harness>, which keeps the
# regression input of every past finding), then fuzzes it for a while. Prints
# TAP with the executions and coverage of each; a crash, leak, sanitizer
# report or timeout fails, and the input is kept (the path is printed).
#
#   run-fuzzers.sh [-t SECONDS] [-o DIR] [-B BUILDDIR] [HARNESS...]
#
#   -t SECONDS  fuzzing time per harness (default $FUZZ_SECONDS or 20)
#   -o DIR      keep the grown corpora and findings in DIR/<harness>
#               (default: a temporary directory, removed when all pass)
#   -B BUILDDIR the build tree with the harnesses (default: the one running
#               make check, else ../../_build from this script)
# Long runs: run-fuzzers.sh -t 3600 -o /var/tmp/vcrun-fuzz; then copy the
# inputs worth keeping into the seed corpus.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${VCRUN_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
build=${VCRUN_TOP_BUILDDIR:-$src/_build}
seconds=${FUZZ_SECONDS:-20}
out=
while getopts t:o:B: opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    o) out=$OPTARG ;;
    B) build=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-o DIR] [-B BUILDDIR] [HARNESS...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(fuzz-ttrpc fuzz-agent-reply fuzz-guest-request fuzz-qmp
                                         fuzz-oci fuzz-config fuzz-owner fuzz-dbus-options fuzz-clh-api)

echo "1..${#harnesses[@]}"
keep=1
if [ -z "$out" ]; then out=$(mktemp -d /tmp/vcrun-fuzz.XXXXXX); keep=0; fi
# Leaks are findings too; GLib's type system keeps its own allocations for
# ever, which LeakSanitizer does not report (they stay reachable).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
n=0 failed=0 total_execs=0
for h in "${harnesses[@]}"; do
  n=$((n + 1))
  bin=$build/tests/fuzz/$h
  if [ ! -x "$bin" ]; then
    echo "ok $n - $h # SKIP not built (./configure --enable-fuzzing)"; continue
  fi
  work=$out/$h
  mkdir -p "$work/corpus"
  log=$work/fuzz.log
  # Seeds and regressions first, each on its own: any failure names its input.
  if ! "$bin" -runs=0 "$src/tests/fuzz/corpus/$h" >"$log.seeds" 2>&1; then
    failed=$((failed + 1)); keep=1
    echo "not ok $n - $h: a seed or regression input fails"; sed 's/^/# /' "$log.seeds" | tail -40
    continue
  fi
  "$bin" -max_total_time="$seconds" -timeout=10 -max_len=65536 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" \
    "$work/corpus" "$src/tests/fuzz/corpus/$h" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$final")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$final")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$final")
  total_execs=$((total_execs + ${execs:-0}))
  summary="$h: ${execs:-?} execs in ${seconds} s, cov ${cov:-?} edges, ft ${ft:-?}, corpus ${corp:-?}"
  if [ "$rc" -eq 0 ]; then
    echo "ok $n - $summary"
  else
    failed=$((failed + 1)); keep=1
    echo "not ok $n - $summary: exit $rc"
    grep -E 'ERROR:|SUMMARY|runtime error|Test unit written|ERROR \*\*' "$log" | head -10 | sed 's/^/# /'
    echo "# reproduce: $bin $work/crash-* (log $log)"
  fi
done
echo "# total: $total_execs executions"
if [ "$keep" -eq 1 ]; then echo "# corpora and logs kept in $out"; else rm -rf "$out"; fi
[ "$failed" -eq 0 ]
