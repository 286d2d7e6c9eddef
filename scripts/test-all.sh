#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds vcrun and its guest, and runs the
# whole test suite: make check (unit + integration against real QEMU), the
# unit tests again under valgrind, a second build with ASan + UBSan
# (scripts/test-sanitizers.sh; VCRUN_SKIP_SANITIZERS=1 skips it), and make
# distcheck. Ends with the line
# "N passed, N failed, N skipped". Run as root (the tests make bind mounts).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VCRUN_BUILD_DIR:-$top/_build}
jobs=${VCRUN_JOBS:-2}

step() { printf '\n=== %s (%s)\n' "$*" "$(date +%T)"; }

step "dependencies"
"$top/scripts/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

step "configure"
(cd "$top" && NOCONFIGURE=1 ./autogen.sh >/dev/null 2>&1) || { echo "autogen failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$build"
cd "$build" || exit 1
"$top/configure" --enable-werror --prefix=/usr --sysconfdir=/etc --localstatedir=/var -q \
  || { echo "0 passed, 1 failed"; exit 1; }

step "build"
t0=$(date +%s)
make -j"$jobs" >build.log 2>&1 || { tail -50 build.log; echo "0 passed, 1 failed"; exit 1; }
echo "build took $(( $(date +%s) - t0 )) s"

step "guest image"
make guest || { echo "0 passed, 1 failed"; exit 1; }

# Counts TAP results in the .trs files below the given directories.
count() {
  local kind=$1; shift
  find "$@" -name '*.trs' -print0 2>/dev/null | xargs -0 -r cat | grep -c "^:test-result: $kind" || true
}
pass=0 fail=0 skip=0
add_counts() {
  local p f s
  p=$(count PASS "$@"); f=$(( $(count FAIL "$@") + $(count ERROR "$@") + $(count XPASS "$@") ))
  s=$(count SKIP "$@")
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  echo "  $p passed, $f failed, $s skipped"
}
show_failures() {
  find "$@" -name '*.log' -newer "$build/config.status" -print0 2>/dev/null |
    xargs -0 -r grep -l -E '^(not ok|ERROR:|FAIL)' 2>/dev/null | head -20 | while read -r log; do
      echo "--- $log"; grep -E '^(not ok|# |ERROR|Bail)' "$log" | head -40
    done
}

step "make check"
t0=$(date +%s)
make -k check >check.log 2>&1
echo "make check took $(( $(date +%s) - t0 )) s"
grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS):' check.log | grep -v '^PASS' | head -60
add_counts tests
[ "$fail" -eq 0 ] || show_failures tests

# Slow: five VM boots and 64 MiB through each stdio path (~3 min on an idle
# 2-core machine). VCRUN_SKIP_STDIO=1 leaves it out.
if [ "${VCRUN_SKIP_STDIO:-}" != 1 ]; then
  step "stdio through every path (tests/integration/stdio)"
  t0=$(date +%s)
  make -C tests/integration/daemon vcd-client >/dev/null 2>&1
  make -C tests/integration/stdio check-stdio >stdio.log 2>&1
  echo "stdio took $(( $(date +%s) - t0 )) s"
  before=$fail
  add_counts tests/integration/stdio
  [ "$fail" -eq "$before" ] || show_failures tests/integration/stdio
fi

step "unit tests under valgrind"
make -k -C tests check-valgrind >valgrind.log 2>&1
add_counts tests/unit
grep -E '^(FAIL|ERROR):' valgrind.log | head -20

# Slow (a VM per podman run, about 2 minutes on an idle 2-core machine): a
# stage of its own rather than part of make check (and of distcheck's).
if [ "${VCRUN_SKIP_PODMAN:-}" != 1 ]; then
  step "podman --runtime vcrun (real podman and conmon)"
  t0=$(date +%s)
  make -k -C tests/integration/podman check-podman >podman.log 2>&1
  echo "podman tests took $(( $(date +%s) - t0 )) s"
  before=$fail
  add_counts tests/integration/podman
  [ "$fail" -eq "$before" ] || show_failures tests/integration/podman
fi

# runtime-tools' validation suite (outside the project, ../shared/oci-validation
# or OCI_VALIDATION_DIR): the quick subset, about 3 minutes; the full run is
# make check-oci (scripts/oci-conformance.sh). VCRUN_SKIP_OCI=1 leaves it out.
if [ "${VCRUN_SKIP_OCI:-}" != 1 ]; then
  step "OCI conformance (quick subset, runc and vcrun)"
  t0=$(date +%s)
  VCRUN_BUILD_DIR=$build "$top/scripts/oci-conformance.sh" --quick >oci.log 2>&1
  rc=$?
  cat oci.log
  case $rc in
    0) pass=$((pass + 1)) ;;
    77) skip=$((skip + 1)) ;;
    *) fail=$((fail + 1)) ;;
  esac
  echo "OCI conformance took $(( $(date +%s) - t0 )) s"
fi

if [ "${VCRUN_SKIP_SANITIZERS:-}" != 1 ]; then
  # A second build with -fsanitize=address,undefined (and the fuzz harnesses
  # for FUZZ_SECONDS each): unit and fake-plugin integration tests.
  step "sanitizers (ASan + UBSan build)"
  t0=$(date +%s)
  VCRUN_ASAN_BUILD_DIR="$build-asan" FUZZ_SECONDS=${FUZZ_SECONDS:-10} \
    "$top/scripts/test-sanitizers.sh" >"$build/sanitizers.log" 2>&1
  line=$(tail -1 "$build/sanitizers.log")
  grep -E '^  tests/|took|process\(es\) reported|^---|SUMMARY|runtime error' "$build/sanitizers.log" | head -60
  p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' <<<"$line")
  f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' <<<"$line")
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
  echo "  ${p:-0} passed, ${f:-1} failed"
  echo "sanitizers took $(( $(date +%s) - t0 )) s"
fi

if [ "${VCRUN_SKIP_DISTCHECK:-}" != 1 ]; then
  step "make distcheck"
  t0=$(date +%s)
  if make distcheck >distcheck.log 2>&1; then
    pass=$((pass + 1)); echo "  distcheck passed"
  else
    fail=$((fail + 1)); echo "  distcheck FAILED"; tail -40 distcheck.log
  fi
  echo "make distcheck took $(( $(date +%s) - t0 )) s"
fi

echo
if [ "$skip" -gt 0 ]; then
  echo "$pass passed, $fail failed, $skip skipped"
else
  echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
