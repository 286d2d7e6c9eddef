#!/bin/bash
# net.sh's short case through hypervisor-clh: against $VCRUN_CLH_BINARY where
# it is set (it needs KVM), else against the stand-in
# tests/clh-standin/cloud-hypervisor (which needs Cloud Hypervisor's OpenAPI
# document, ../shared/clh beside the source tree or $CLH_STANDIN_OPENAPI, and
# python3-yaml). The NICs reach Cloud Hypervisor as tap fds passed with
# vm.add-net (SCM_RIGHTS). Prints TAP.
here=$(cd "$(dirname "$0")" && pwd)
top_src=${VCRUN_TOP_SRCDIR:-$(cd "$here/../../.." && pwd)}
top_build=${VCRUN_TOP_BUILDDIR:-$top_src/_build}

skip() { echo "1..0 # SKIP $*"; exit 0; }

[ -f "$top_build/plugins/hypervisor-clh/.libs/hypervisor-clh.so" ] || skip "hypervisor-clh is not built"
if [ -n "${VCRUN_CLH_BINARY:-}" ]; then
    [ -x "$VCRUN_CLH_BINARY" ] || skip "VCRUN_CLH_BINARY=$VCRUN_CLH_BINARY is not an executable"
    [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "VCRUN_CLH_BINARY needs KVM, and /dev/kvm is not usable"
    clh=$VCRUN_CLH_BINARY
else
    clh=$top_src/tests/clh-standin/cloud-hypervisor
    doc=${CLH_STANDIN_OPENAPI:-$(cd "$top_src/.." && pwd)/shared/clh/cloud-hypervisor.yaml}
    [ -f "$doc" ] || skip "no cloud-hypervisor here (set VCRUN_CLH_BINARY), and the stand-in needs the OpenAPI document $doc, which is absent"
    python3 -c 'import yaml' 2>/dev/null || skip "the stand-in needs python3 with yaml (python3-yaml)"
    export CLH_STANDIN_OPENAPI="$doc"
fi

conf=$(mktemp "${TMPDIR:-/tmp}/vcrun-net-clh.XXXXXX.conf")
trap 'rm -f "$conf"' EXIT
libs=$top_build/plugins
cat > "$conf" <<CONF
runtime: {
  state_dir = "/run/vcrun-net-clh";
  log_level = "info";
  plugin_dir = "$libs/hypervisor-clh/.libs:$libs/agent-kata/.libs:$libs/fs-virtiofs/.libs";
};
plugins: (
  { name = "hypervisor-clh"; settings = { path = "$clh"; api_timeout_ms = 30000; }; },
  { name = "agent-kata"; settings = { transport = "auto"; dial_timeout_ms = 30000; }; },
  { name = "fs-virtiofs"; settings = { daemon = "${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}"; cache = "auto"; }; }
);
sandbox: {
  hypervisor = "hypervisor-clh";
  agent = "agent-kata";
  fs = "fs-virtiofs";
  vcpus = 1;
  memory_mib = 256;
  kernel = "$top_build/guest/vmlinuz";
  initrd = "$top_build/guest/initrd.img";
};
CONF
export VCRUN_TEST_CONFIG=$conf VCRUN_NET_HYPERVISOR=hypervisor-clh
export VCRUN_NET_SHORT=${VCRUN_NET_SHORT:-1}
bash "$here/net.sh"
