#!/bin/sh
# Regenerates the build system; then run ./configure.
set -e
srcdir=$(dirname "$0")
test -n "$srcdir" || srcdir=.
cd "$srcdir"
autoreconf --force --install --verbose
if test -z "$NOCONFIGURE"; then
  exec ./configure "$@"
fi
