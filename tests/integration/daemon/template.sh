#!/bin/sh
# `vcrun --bus template create|list|rm` through vcrund (the Manager's
# CreateTemplate, ListTemplates, RemoveTemplates) with real QEMU and the
# guest image: the template is vcrund's, in its state dir; only root may build
# or remove templates; a sandbox with other settings than the configured ones
# boots cold without building one. One template build, one cold boot.
. "$VCRUN_TOP_SRCDIR/tests/integration/daemon/lib.sh"

CONF="$BUILD/etc/vcrun-uninstalled.conf"
VCRUN="$BUILD/cli/vcrun"
[ -f "$CONF" ] || skip_all "no $CONF (make -C etc)"
[ -f "$BUILD/guest/vmlinuz" ] && [ -f "$BUILD/guest/initrd.img" ] \
  || skip_all "no guest image: run 'make guest' first"
for p in hypervisor-qemu agent-kata fs-9p; do
  [ -f "$BUILD/plugins/$p/.libs/$p.so" ] || skip_all "plugin $p is not built"
done
[ -x "${QEMU_SYSTEM:-/usr/bin/qemu-system-x86_64}" ] || skip_all "no QEMU"

sed -e "s|^\( *state_dir = \).*|\1\"$TMP/state\";|" \
    -e 's|^\( *fs = \).*|\1"fs-9p";\n  template = true;|' "$CONF" > "$TMP/vcrun.conf"
start_bus
start_vcrund "$TMP/vcrun.conf" || { not_ok "vcrund starts"; finish; }
vb () { timeout 300 "$VCRUN" --bus=session "$@"; }

out=$(vb template list 2>&1)
check "template list with none: the header only" test "$(printf '%s\n' "$out" | wc -l)" = 1
dir=$(vb template create 2>"$TMP/create.err")
check "template create through vcrund builds it in vcrund's state dir" \
  test -f "$dir/template.json" -a "${dir#$TMP/state/.templates/}" != "$dir"
[ -n "$dir" ] || note "$(cat "$TMP/create.err")"
out=$(vb template list --format json 2>&1)
check "template list through vcrund shows it, ok" \
  python3 -c 'import json, sys; t = json.loads(sys.argv[1]); sys.exit(not (len(t) == 1 and t[0]["status"] == "ok" and t[0]["dir"] == sys.argv[2]))' "$out" "$dir"
# A sandbox with settings other than the configuration's boots cold and
# builds no template of its own (one per memory size would pile up).
M=org.vcrun.Runtime1.Manager
out=$(busctl --address="$ADDR" --timeout=300 call $NAME $MANAGER $M CreateSandbox 'sa{sv}' big 1 memory_mib t 320 2>&1)
check "CreateSandbox with memory_mib 320 (not the configured 256) boots" test "$out" = "o \"$(sandbox_path big)\""
check "... cold, saying why" grep -q "sandbox big: no current template .* not the configured ones" "$TMP/vcrund.log"
out=$(vb template list 2>&1)
check "... and builds no template: still one" test "$(printf '%s\n' "$out" | wc -l)" = 2
busctl --address="$ADDR" --timeout=300 call $NAME "$(sandbox_path big)" org.vcrun.Runtime1.Sandbox Delete b true >/dev/null 2>&1
err=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$VCRUN" --bus=session template rm --all 2>&1)
has () { printf '%s' "$1" | grep -q -- "$2"; }
check "template rm as another uid is refused" has "$err" 'only root may build or remove templates'
check "and the template is still there" test -f "$dir/template.json"
out=$(vb template rm --all 2>&1)
check "template rm --all through vcrund removes it" test "$out" = "removed 1 template" -a ! -e "$dir"
out=$(vb template rm abc 2>&1)
check "template rm of an unknown key says so" has "$out" "no template 'abc'"
stop_vcrund
check "vcrund exits cleanly" test "$VCRUND_STATUS" = 0
no_qemu () { [ -z "$(pgrep -f -- "$TMP/stat[e]/")" ]; }
check "no QEMU is left" no_qemu
finish
