#!/usr/bin/env bash
# OCI runtime-spec conformance: runs runtime-tools' validation suite (a
# pinned copy outside the project, ../shared/oci-validation by default)
# against runc and against vcrun from the build tree, side by side, prints
# one line per test program with both columns, and fails when vcrun passes
# fewer assertions, or fails more, than tests/oci/expectations records.
#
# usage: scripts/oci-conformance.sh [--quick] [TEST...]
#   --quick   the subset CI runs (tests/oci/quick): seccomp, hooks, user
#             namespace, host cgroup, kill
#   TEST...   these programs only
# Environment:
#   OCI_VALIDATION_DIR  the suite (default: <top>/../shared/oci-validation)
#   VCRUN_BUILD_DIR     the build tree (default: <top>/_build)
#   OCI_RUNC            the reference runtime (default: runc in PATH; "none" skips it)
#   OCI_OUT             where the TAP and error files go (default: a temp dir, kept)
# Exit status: 0 all as expected, 1 a regression, 77 the suite or a tool is missing.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VCRUN_BUILD_DIR:-$top/_build}
suite=${OCI_VALIDATION_DIR:-$top/../shared/oci-validation}
expectations=$top/tests/oci/expectations
quick=0
if [ "${1:-}" = --quick ]; then quick=1; shift; fi

skip() { echo "oci-conformance: SKIP: $*"; exit 77; }
[ -x "$suite/run" ] || skip "no validation suite at $suite (set OCI_VALIDATION_DIR)"
[ "$(id -u)" = 0 ] || skip "needs root"
command -v go >/dev/null || skip "needs golang-go (scripts/install-deps.sh)"
[ -x "$build/cli/vcrun" ] || skip "vcrun is not built in $build"
[ -f "$build/guest/initrd.img" ] || skip "the guest is not built (make guest)"
runc=${OCI_RUNC:-$(command -v runc || true)}
[ -n "$runc" ] || skip "needs runc as the yardstick (or OCI_RUNC=none)"

tests=("$@")
if [ ${#tests[@]} -eq 0 ] && [ "$quick" = 1 ]; then
  mapfile -t tests < <(grep -v '^#' "$top/tests/oci/quick" | awk 'NF {print $1}')
fi
if [ ${#tests[@]} -eq 0 ]; then
  mapfile -t tests < <(grep -v '^#' "$expectations" | awk 'NF {print $1}')
fi

out=${OCI_OUT:-$(mktemp -d /tmp/vcrun-oci.XXXXXX)}
mkdir -p "$out/runc" "$out/vcrun" "$out/bin"
# One program may boot 16 VMs (linux_cgroups_cpus): the suite's 300 s per
# program is for runc.
export OCI_VALIDATION_TIMEOUT=${OCI_VALIDATION_TIMEOUT:-1800}
# The suite is built once per machine; both runs share the build.
export OCI_VALIDATION_WORK=${OCI_VALIDATION_WORK:-/tmp/vcrun-oci-validation-build}

# vcrun from the build tree, with a state dir of its own.
state=$(mktemp -d /tmp/vcrun-oci-state.XXXXXX)
sed "s|^\\( *state_dir = \\).*|\\1\"$state\";|" "$build/etc/vcrun-uninstalled.conf" >"$out/vcrun.conf"
cat >"$out/bin/vcrun" <<EOF
#!/bin/sh
export VCRUN_CONFIG="$out/vcrun.conf"
exec "$build/cli/vcrun" "\$@"
EOF
chmod +x "$out/bin/vcrun"
cleanup() {
  # containers a failed program left behind (their VMs, virtiofsd)
  for d in "$state"/*/; do
    [ -d "$d" ] && "$out/bin/vcrun" delete --force "$(basename "$d")" >/dev/null 2>&1
  done
  rm -rf "$state"
}
trap cleanup EXIT

t0=$(date +%s)
if [ "$runc" != none ]; then
  "$suite/run" "$runc" "$out/runc" "${tests[@]}" >"$out/runc.txt" 2>&1
fi
t1=$(date +%s)
"$suite/run" "$out/bin/vcrun" "$out/vcrun" "${tests[@]}" >"$out/vcrun.txt" 2>&1
t2=$(date +%s)
grep -q 'passed,' "$out/vcrun.txt" || { cat "$out/vcrun.txt"; echo "oci-conformance: the suite did not run"; exit 1; }

counts() { # file test -> "ok notok" or "- -"
  awk -v t="$2" '$1 == t {print $2, $4; found=1} END {if (!found) print "- -"}' "$1" 2>/dev/null || echo "- -"
}
printf '%-34s %13s  %13s  %13s  %s\n' program "runc ok/not" "vcrun ok/not" "expected" verdict
regressions=0 better=0
rok=0 rnot=0 vok=0 vnot=0
for t in "${tests[@]}"; do
  read -r ro rn < <(counts "$out/runc.txt" "$t")
  read -r vo vn < <(counts "$out/vcrun.txt" "$t")
  read -r eo en < <(awk -v t="$t" '$1 == t {print $2, $3; found=1} END {if (!found) print "- -"}' "$expectations")
  verdict=ok
  if [ "$eo" = - ]; then verdict="no expectation"
  elif [ "$vo" = - ] || [ "$vo" -lt "$eo" ] || [ "$vn" -gt "$en" ]; then verdict=REGRESSION; regressions=$((regressions + 1))
  elif [ "$vo" -gt "$eo" ] || [ "$vn" -lt "$en" ]; then verdict="better (update tests/oci/expectations)"; better=$((better + 1))
  fi
  [ "$ro" != - ] && rok=$((rok + ro)) rnot=$((rnot + rn))
  [ "$vo" != - ] && vok=$((vok + vo)) vnot=$((vnot + vn))
  printf '%-34s %6s %6s  %6s %6s  %6s %6s  %s\n' "$t" "$ro" "$rn" "$vo" "$vn" "$eo" "$en" "$verdict"
done
printf '%-34s %6s %6s  %6s %6s\n' total "$rok" "$rnot" "$vok" "$vnot"
echo "runc took $((t1 - t0)) s, vcrun $((t2 - t1)) s; TAP and errors in $out"
echo "differences from runc and their reasons: doc/oci-conformance.md"
if [ "$regressions" -gt 0 ]; then
  echo "oci-conformance: $regressions program(s) regressed against tests/oci/expectations"
  exit 1
fi
echo "oci-conformance: as expected ($better better)"
