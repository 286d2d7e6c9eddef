#!/usr/bin/env bash
# A second build of vcrun with -fsanitize=address,undefined, running the unit
# tests and the fake-plugin integration tests (tests/integration/cli and
# tests/integration/daemon, without their real-VM suites): any AddressSanitizer,
# LeakSanitizer or UBSan report, from any process (vcrun, its supervisors,
# vcrund), fails. With clang and libFuzzer present the build also has the
# fuzz harnesses (tests/fuzz), run for FUZZ_SECONDS each (default 10).
# Reports are logged to files (ASAN_OPTIONS log_path) because a test may not
# look at a daemon's stderr; they are printed at the end.
# (leaks.sh is left out: it runs valgrind, which cannot run ASan binaries.)
# Ends with "N passed, N failed". Run as root, after scripts/install-deps.sh.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VCRUN_ASAN_BUILD_DIR:-$top/_asan}
jobs=${VCRUN_JOBS:-2}
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fuzz=--disable-fuzzing
if command -v clang >/dev/null && [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; then
  fuzz=--enable-fuzzing
fi

step "configure ($build)"
(cd "$top" && [ -x configure ] || NOCONFIGURE=1 ./autogen.sh >/dev/null 2>&1)
mkdir -p "$build" && cd "$build" || exit 1
# The guest agent is linked statically, which ASan cannot do; the tests run
# here do not boot a guest.
"$top/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var -q --disable-guest $fuzz \
  CFLAGS="-g -O1 $san" LDFLAGS="$san" >configure.log 2>&1 \
  || { tail -20 configure.log; echo "0 passed, 1 failed"; exit 1; }

step "build"
t0=$(date +%s)
make -j"$jobs" >build.log 2>&1 || { tail -50 build.log; echo "0 passed, 1 failed"; exit 1; }
make -j"$jobs" -C tests/fake >>build.log 2>&1
echo "build took $(( $(date +%s) - t0 )) s"

logs=$build/sanitizer-reports
rm -rf "$logs" && mkdir -p "$logs" && chmod 1777 "$logs"
# access.sh runs vcrun as another uid: the report directory is open to all.
export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan:log_exe_name=1:fast_unwind_on_malloc=0:detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan:log_exe_name=1"
# GLib's slice allocator hides use-after-free from ASan.
export G_SLICE=always-malloc
export FUZZ_SECONDS=${FUZZ_SECONDS:-10}

step "tests under ASan and UBSan"
t0=$(date +%s)
suites=(
  "tests/unit/loader" "tests/unit/lifecycle" "tests/unit/proto" "tests/unit/qemu"
  "tests/unit/agent-kata"
  "tests/integration/cli TESTS=basic.sh configs.sh fake.sh"
  "tests/integration/daemon TESTS=fake.sh parity.sh access.sh killmatrix.sh load.sh"
)
[ "$fuzz" = --enable-fuzzing ] && suites+=("tests/fuzz")
pass=0 fail=0
for s in "${suites[@]}"; do
  dir=${s%% *}
  tests=
  [ "$dir" != "$s" ] && tests=${s#* TESTS=}
  rm -f "$dir"/*.trs "$dir"/*.log  # results of an earlier run must not count
  if [ -n "$tests" ]; then
    make -C "$dir" check TESTS="$tests" >"$logs/../check-${dir//\//-}.log" 2>&1
  else
    make -C "$dir" check >"$logs/../check-${dir//\//-}.log" 2>&1
  fi
  p=$(cat "$dir"/*.trs 2>/dev/null | grep -c '^:test-result: PASS')
  f=$(cat "$dir"/*.trs 2>/dev/null | grep -c -E '^:test-result: (FAIL|ERROR|XPASS)')
  pass=$((pass + p)); fail=$((fail + f))
  echo "  $dir: $p passed, $f failed"
  if [ "$f" -gt 0 ]; then
    grep -h -E '^(not ok|# |Bail)' "$dir"/*.log 2>/dev/null | grep -v '^# SKIP' | head -20 | sed 's/^/    /'
  fi
done
echo "tests took $(( $(date +%s) - t0 )) s"

step "sanitizer reports"
reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  n=$(echo "$reports" | wc -l)
  fail=$((fail + n))
  echo "  $n process(es) reported:"
  for r in $reports; do
    echo "--- $r"; grep -E 'ERROR|SUMMARY|runtime error|^    #[0-9]' "$r" | head -25
  done
else
  pass=$((pass + 1)); echo "  none"
fi

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
