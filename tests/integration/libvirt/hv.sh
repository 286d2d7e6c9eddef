#!/bin/bash
# test-libvirt-hv (hypervisor-libvirt's methods one by one: pids, pause,
# hotplug, resize, reattach, QEMU killed) against a private libvirtd.
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${VCRUN_TOP_BUILDDIR:?run through make check}
PROG=$BUILD/tests/integration/libvirt/test-libvirt-hv
[ -x "$PROG" ] || { echo "1..0 # SKIP $PROG is not built"; exit 0; }
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
exec "$PROG" --tap -k
