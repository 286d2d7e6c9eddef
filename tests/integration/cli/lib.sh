# Shared by the CLI tests: TAP output, the vcrun under test, bundles.
# Sourced; expects VCRUN_TOP_BUILDDIR (set by make check).

top_builddir=${VCRUN_TOP_BUILDDIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
top_srcdir=${VCRUN_TOP_SRCDIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
VCRUN=${VCRUN:-$top_builddir/cli/vcrun}
CONF=${VCRUN_TEST_CONFIG:-$top_builddir/etc/vcrun-uninstalled.conf}

tap_n=0
tap_failed=0
ok() {      # ok CONDITION-STATUS DESCRIPTION
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
    fi
}
skip() {    # skip DESCRIPTION REASON
    tap_n=$((tap_n + 1))
    echo "ok $tap_n - $1 # SKIP $2"
}
diag() { echo "# $*"; }
tap_done() { echo "1..$tap_n"; }

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
    if [ "$2" = "$3" ]; then ok 0 "$1"; else diag "expected [$2], got [$3]"; ok 1 "$1"; fi
}
# expect_match WHAT REGEX TEXT
expect_match() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then ok 0 "$1"; else diag "no match for /$2/ in: $3"; ok 1 "$1"; fi
}

# vc ARGS...: vcrun with the build tree's configuration and the test's state dir.
vc() { timeout -k 5 "${VC_TIMEOUT:-180}" "$VCRUN" --config "$CONF" --root "$ROOT" "$@"; }

# make_bundle DIR 'JSON ARGS ARRAY' [TERMINAL]: a busybox bundle.
make_bundle() {
    local dir=$1 args=$2 terminal=${3:-false}
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/dev" "$dir/rootfs/tmp" "$dir/rootfs/etc"
    if [ ! -e "$dir/rootfs/bin/busybox" ]; then
        cp "$BUSYBOX" "$dir/rootfs/bin/busybox"
        for a in sh echo cat true false sleep uname tr stty ls exit env pwd id; do
            ln -sf busybox "$dir/rootfs/bin/$a"
        done
    fi
    cat > "$dir/config.json" <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": $terminal,
    "user": { "uid": 0, "gid": 0 },
    "args": $args,
    "env": [ "PATH=/bin", "TERM=xterm", "FROM_SPEC=yes" ],
    "cwd": "/"
  },
  "root": { "path": "rootfs", "readonly": false },
  "hostname": "cli-test",
  "annotations": { "org.vcrun.test": "cli" },
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs" }
  ],
  "linux": { "namespaces": [ { "type": "pid" }, { "type": "mount" }, { "type": "ipc" }, { "type": "uts" } ] }
}
EOF
}

# state_field ID FIELD: one member of `vcrun state`.
state_field() {
    vc state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
    local deadline=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

# Why the VM tests cannot run here, or nothing.
vm_missing() {
    local kernel initrd
    kernel=$(sed -n 's/^ *kernel = "\(.*\)";/\1/p' "$CONF")
    initrd=$(sed -n 's/^ *initrd = "\(.*\)";/\1/p' "$CONF")
    [ -f "$CONF" ] || { echo "no $CONF"; return; }
    [ -f "$kernel" ] && [ -f "$initrd" ] || { echo "no guest image ($kernel): run make guest"; return; }
    "$VCRUN" --config "$CONF" plugins >/dev/null 2>&1 || {
        echo "plugins do not load: $("$VCRUN" --config "$CONF" plugins 2>&1 | head -1)"; return; }
    [ -n "$BUSYBOX" ] || { echo "no static busybox on this host for the container's rootfs"; return; }
}

BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then BUSYBOX=$b; break; fi
done
