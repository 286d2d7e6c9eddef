#!/bin/sh
# `make install DESTDIR=...` of this build, then the example plugin built out
# of tree against that installed copy with pkg-config alone, then loaded by
# the build tree's libvcrun. Prints TAP.
set -u

: "${VCRUN_TOP_BUILDDIR:?run through make check}"
: "${VCRUN_TOP_SRCDIR:?run through make check}"
: "${VC_PKGCONFIGDIR:?}" "${VC_INCLUDEDIR:?}" "${VC_PLUGINDIR:?}"
MAKE=${MAKE:-make}

echo "1..5"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-install-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
n=0

ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); echo "not ok $n - $1"; }
show () { sed 's/^/# /' "$1"; }
bail () { echo "Bail out! $1"; exit 1; }

# 1. Install into DESTDIR; the headers and vcrun-plugin.pc are there.
if env -u MAKEFLAGS -u MFLAGS $MAKE -C "$VCRUN_TOP_BUILDDIR" install DESTDIR="$dest" >"$tmp/install.log" 2>&1 &&
   test -f "$dest$VC_PKGCONFIGDIR/vcrun-plugin.pc" &&
   for h in types plugin hypervisor agent fs device; do test -f "$dest$VC_INCLUDEDIR/vcrun/$h.h" || exit 1; done
then
  ok "make install DESTDIR installs the plugin headers and vcrun-plugin.pc"
else
  show "$tmp/install.log"; ls -R "$dest" 2>/dev/null | head -50 | sed 's/^/# /'
  not_ok "make install DESTDIR installs the plugin headers and vcrun-plugin.pc"
  bail "nothing installed"
fi

# 2. pkg-config finds the installed copy. PKG_CONFIG_SYSROOT_DIR would also
# move glib's -I paths into DESTDIR, so relocate vcrun-plugin.pc itself: its
# absolute variables point into DESTDIR.
mkdir "$tmp/pc"
sed -e "s|^\([A-Za-z_]*\)=/|\1=$dest/|" "$dest$VC_PKGCONFIGDIR/vcrun-plugin.pc" > "$tmp/pc/vcrun-plugin.pc"
cflags=$(PKG_CONFIG_PATH="$tmp/pc" pkg-config --cflags vcrun-plugin 2>"$tmp/pc.log")
case " $cflags " in
  *" -I$dest$VC_INCLUDEDIR "*) ok "pkg-config --cflags vcrun-plugin points into DESTDIR: $cflags" ;;
  *) show "$tmp/pc.log"; not_ok "pkg-config --cflags vcrun-plugin points into DESTDIR: '$cflags'" ;;
esac

# 3. The skeleton builds from a copy of examples/plugin-skeleton (the source
# tree may be read-only, as in distcheck), with no path into the build or
# source tree.
cp -R "$VCRUN_TOP_SRCDIR/examples/plugin-skeleton" "$tmp/skeleton" && chmod -R u+w "$tmp/skeleton"
rm -f "$tmp/skeleton/fs-skeleton.so"
if env -u MAKEFLAGS -u MFLAGS PKG_CONFIG_PATH="$tmp/pc" $MAKE -C "$tmp/skeleton" >"$tmp/build.log" 2>&1 &&
   test -f "$tmp/skeleton/fs-skeleton.so"; then
  ok "examples/plugin-skeleton builds against the installed headers"
else
  show "$tmp/build.log"
  not_ok "examples/plugin-skeleton builds against the installed headers"
  bail "no plugin to load"
fi
if grep -q -e "-I$VCRUN_TOP_SRCDIR" -e "-I$VCRUN_TOP_BUILDDIR" "$tmp/build.log"; then
  show "$tmp/build.log"
  bail "the skeleton was compiled against the source or build tree"
fi

# 4. It exports only vc_plugin_descriptor (plus what the toolchain adds).
if nm -D --defined-only "$tmp/skeleton/fs-skeleton.so" | grep -q " T vc_plugin_descriptor$" &&
   ! nm -D --defined-only "$tmp/skeleton/fs-skeleton.so" | grep " T " | grep -v -e " T vc_plugin_descriptor$" -e " T _init$" -e " T _fini$" | grep -q .
then
  ok "fs-skeleton.so exports vc_plugin_descriptor only"
else
  nm -D --defined-only "$tmp/skeleton/fs-skeleton.so" | sed 's/^/# /'
  not_ok "fs-skeleton.so exports vc_plugin_descriptor only"
fi

# 5. libvcrun loads it from a configuration that lists it, and it works.
cat > "$tmp/test.conf" <<CONF
runtime: { state_dir = "$tmp/state"; };
plugins: ( { name = "fs-skeleton"; settings = { msize = 262144; }; } );
sandbox: { fs = "fs-skeleton"; };
CONF
cat > "$tmp/expected" <<OUT
name fs-skeleton
version 0.1
kinds 0x4
settings {'tag': <'kataShared'>, 'msize': <int64 262144>}
device type=2 tag=kataShared msize=262144 dir-exists=1
storage 9p kataShared 9p trans=virtio,version=9p2000.L,msize=262144 /run/kata-containers/shared/containers
rootfs /run/kata-containers/shared/containers/c1/rootfs
share_mount not supported
OUT
if VCRUN_PLUGIN_PATH="$tmp/skeleton" ${VC_TEST_WRAPPER:-} ./test-load-plugin "$tmp/test.conf" fs-skeleton "$tmp/state/sb1" \
     >"$tmp/out" 2>"$tmp/err" && diff -u "$tmp/expected" "$tmp/out" >"$tmp/diff"; then
  ok "libvcrun loads the out-of-tree plugin and drives its fs methods"
else
  show "$tmp/err"; show "$tmp/diff"
  not_ok "libvcrun loads the out-of-tree plugin and drives its fs methods"
fi
