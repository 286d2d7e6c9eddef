#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs a real sandbox: installs the
# dependencies, builds vcrun and its guest (kernel + initramfs from Debian's
# packages), installs them under /usr, and runs a busybox container inside a
# VM with the default configuration. Run as root.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VCRUN_BUILD_DIR:-$top/_build}

"$top/scripts/install-deps.sh"
(cd "$top" && NOCONFIGURE=1 ./autogen.sh >/dev/null 2>&1)
mkdir -p "$build" && cd "$build"
[ -f config.status ] || "$top/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var -q
make -j2 >/dev/null
make guest
make install >/dev/null
ldconfig

bundle=$(mktemp -d /tmp/vcrun-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
# The mount points config.json uses: the rootfs is shared read-only (root.readonly).
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for a in sh echo uname cat ls; do ln -s busybox "$bundle/rootfs/bin/$a"; done
vcrun spec --bundle "$bundle"
# The process: print the guest kernel's version to prove it ran in the VM.
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo \"hello from a vcrun sandbox: guest kernel $(uname -r), host kernel $HOST_KERNEL\""]
c["process"]["env"].append("HOST_KERNEL=" + __import__("os").uname().release)
json.dump(c, open(p, "w"), indent=2)
PY
echo "+ vcrun run --bundle $bundle demo-$$"
vcrun run --bundle "$bundle" "demo-$$"
