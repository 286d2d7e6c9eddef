#!/bin/sh
# Stand-in for the vcrun agent, for image-builder experiments only: build an image
# with `guest/build-image.sh --init tests/integration/image/placeholder-init.sh` when
# guest/agent/vcrun-agent does not exist yet. It loads the modules as the agent would,
# says ready and powers off.
PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
kver=$(uname -r)
while read -r m; do
    insmod "/lib/modules/$kver/$m" || echo "placeholder-init: cannot load $m"
done </etc/vcrun-modules
for n in /sys/class/virtio-ports/*/name; do
    [ -f "$n" ] && echo "placeholder-init: virtio port $(cat "$n")"
done
echo "vcrun-agent: ready (placeholder)"
poweroff -f
