#!/bin/bash
# net.sh's short case through hypervisor-libvirt, against a private libvirtd
# (tests/integration/libvirt/private-libvirtd.sh: its own configuration and
# sockets in a mount namespace, the host's libvirt untouched). libvirt takes
# no tap fd: the NICs reach QEMU as persistent taps libvirtd opens by name in
# the host's namespace (VC_HV_CAP_NET_TAP_NAME), which vcrun then moves into
# the container's namespace. Skips, saying why, without root, libvirtd,
# the plugin or the guest image.
here=$(cd "$(dirname "$0")" && pwd)
top_src=${VCRUN_TOP_SRCDIR:-$(cd "$here/../../.." && pwd)}
top_build=${VCRUN_TOP_BUILDDIR:-$top_src/_build}

skip() { echo "1..0 # SKIP $*"; exit 0; }

[ -f "$top_build/plugins/hypervisor-libvirt/.libs/hypervisor-libvirt.so" ] || skip "hypervisor-libvirt is not built"
if [ -z "${VCRUN_LIBVIRT_URI:-}" ]; then
    export VCRUN_TOP_BUILDDIR=$top_build
    "$top_src/tests/integration/libvirt/private-libvirtd.sh" "$0" "$@"
    rc=$?
    [ $rc -eq 77 ] && skip "no private libvirtd (libvirtd, virtlogd, unshare and root needed)"
    exit $rc
fi

conf=$(mktemp "${TMPDIR:-/tmp}/vcrun-net-libvirt.XXXXXX.conf")
trap 'rm -f "$conf"' EXIT
libs=$top_build/plugins
cat > "$conf" <<CONF
runtime: {
  state_dir = "/run/vcrun-net-libvirt";
  log_level = "info";
  plugin_dir = "$libs/hypervisor-libvirt/.libs:$libs/agent-kata/.libs:$libs/fs-virtiofs/.libs";
};
plugins: (
  { name = "hypervisor-libvirt"; settings = { uri = "$VCRUN_LIBVIRT_URI"; domain_type = "qemu"; }; },
  { name = "agent-kata"; },
  { name = "fs-virtiofs"; }
);
sandbox: {
  hypervisor = "hypervisor-libvirt";
  agent = "agent-kata";
  fs = "fs-virtiofs";
  vcpus = 1;
  memory_mib = 256;
  kernel = "$top_build/guest/vmlinuz";
  initrd = "$top_build/guest/initrd.img";
};
CONF
export VCRUN_TEST_CONFIG=$conf VCRUN_NET_HYPERVISOR=hypervisor-libvirt
export VCRUN_NET_SHORT=${VCRUN_NET_SHORT:-1}
bash "$here/net.sh"
