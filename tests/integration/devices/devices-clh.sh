#!/bin/sh
# The block-volume tests against hypervisor-clh (devices-hv.sh).
exec bash "$(dirname "$0")/devices-hv.sh" clh
