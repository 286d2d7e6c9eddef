#!/bin/bash
# The e2e suite (tests/integration/e2e/test-e2e) under hypervisor-libvirt, on
# both fs plugins (fs-9p, fs-virtiofs with libvirt running virtiofsd), against
# a private libvirtd; then checks that libvirt lists no domain.
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${VCRUN_TOP_BUILDDIR:?run through make check}
E2E=$BUILD/tests/integration/e2e/test-e2e
[ -x "$E2E" ] || { echo "1..0 # SKIP $E2E is not built (make check builds it)"; exit 0; }
[ -f "$BUILD/plugins/hypervisor-libvirt/.libs/hypervisor-libvirt.so" ] \
  || { echo "1..0 # SKIP plugin hypervisor-libvirt is not built"; exit 0; }
[ -f "$BUILD/guest/vmlinuz" ] && [ -f "$BUILD/guest/initrd.img" ] \
  || { echo "1..0 # SKIP no guest image: run 'make guest' first"; exit 0; }
if [ -z "${VCRUN_LIBVIRT_URI:-}" ]; then
  "$here/private-libvirtd.sh" "$0" "$@"
  rc=$?
  [ $rc -eq 77 ] && { echo "1..0 # SKIP no private libvirtd (libvirtd, virtlogd, unshare and root needed)"; exit 0; }
  exit $rc
fi
export VCRUN_E2E_HYPERVISOR=hypervisor-libvirt
export VCRUN_E2E_HV_SETTINGS="uri = \"$VCRUN_LIBVIRT_URI\"; domain_type = \"qemu\";"
# GTest's TAP without its plan; the plan comes last, with our own check.
"$E2E" --tap -k > "$VCRUN_LIBVIRT_DIR/e2e.tap"
rc=$?
grep -v '^1\.\.' "$VCRUN_LIBVIRT_DIR/e2e.tap"
n=$(grep -c -E '^(not )?ok ' "$VCRUN_LIBVIRT_DIR/e2e.tap")
left=$(virsh -q -c "$VCRUN_LIBVIRT_URI" list --all --name | sed '/^$/d' | tr '\n' ' ')
n=$((n + 1))
if [ -z "$left" ]; then echo "ok $n - virsh list --all shows no domain after the suites"
else echo "not ok $n - domains left: $left"; rc=1; fi
echo "1..$n"
exit $rc
