#!/usr/bin/env bash
# Installs what building and testing vcrun needs on Debian 12 (run as root).
set -euo pipefail
packages=(
  build-essential autoconf automake libtool pkg-config
  libglib2.0-dev libglib2.0-bin libconfig-dev libjson-glib-dev libseccomp-dev
  libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libvirt-dev libxml2-dev
  libvirt-daemon-system libvirt-clients
  qemu-system-x86 qemu-utils busybox-static cpio xz-utils kmod
  dbus valgrind python3 python3-yaml socat procps e2fsprogs util-linux
  podman conmon runc golang-go containernetworking-plugins iptables
  libnl-3-dev libnl-route-3-dev iproute2
  clang libfuzzer-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
