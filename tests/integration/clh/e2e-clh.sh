#!/bin/sh
# The whole e2e suite (tests/integration/e2e/test-e2e, fs-virtiofs) through
# hypervisor-clh: against $VCRUN_CLH_BINARY where it is set (it needs KVM),
# else against the stand-in tests/clh-standin/cloud-hypervisor, which needs
# Cloud Hypervisor's OpenAPI document (../shared/clh beside the source tree
# or $CLH_STANDIN_OPENAPI) and python3-yaml. Prints TAP.
top_src=${VCRUN_TOP_SRCDIR:-../../..}
top_build=${VCRUN_TOP_BUILDDIR:-../../..}
e2e=$top_build/tests/integration/e2e/test-e2e

skip() { echo "1..0 # SKIP $*"; exit 0; }

[ -x "$e2e" ] || skip "$e2e is not built (make -C tests/integration/e2e check first)"
[ -f "$top_build/plugins/hypervisor-clh/.libs/hypervisor-clh.so" ] || skip "hypervisor-clh is not built"
if [ -n "${VCRUN_CLH_BINARY:-}" ]; then
  [ -x "$VCRUN_CLH_BINARY" ] || skip "VCRUN_CLH_BINARY=$VCRUN_CLH_BINARY is not an executable"
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "VCRUN_CLH_BINARY needs KVM, and /dev/kvm is not usable"
  clh=$VCRUN_CLH_BINARY
else
  clh=$(cd "$top_src" && pwd)/tests/clh-standin/cloud-hypervisor
  doc=${CLH_STANDIN_OPENAPI:-$(cd "$top_src/.." && pwd)/shared/clh/cloud-hypervisor.yaml}
  [ -f "$doc" ] || skip "no cloud-hypervisor here (set VCRUN_CLH_BINARY), and the stand-in needs the OpenAPI document $doc, which is absent"
  python3 -c 'import yaml' 2>/dev/null || skip "the stand-in needs python3 with yaml (python3-yaml)"
  export CLH_STANDIN_OPENAPI="$doc"
fi

export VCRUN_E2E_HYPERVISOR=hypervisor-clh
export VCRUN_E2E_HV_SETTINGS="path = \"$clh\"; api_timeout_ms = 30000;"
export VCRUN_E2E_FS=fs-virtiofs
exec "$e2e" --tap -k
