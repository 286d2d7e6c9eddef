#!/bin/sh
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"
skip_all "not written yet"
