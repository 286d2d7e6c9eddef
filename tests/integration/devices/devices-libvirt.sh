#!/bin/sh
# The block-volume tests against hypervisor-libvirt (devices-hv.sh).
exec bash "$(dirname "$0")/devices-hv.sh" libvirt
