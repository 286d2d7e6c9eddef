# Shared by tests/integration/stdio/stdio.sh and bench/run-stdio-bench.sh:
# the build tree's vcrun and vcrund, a busybox rootfs with /dev, a random
# 64 MiB blob and the stdio-check script, one configuration per fs plugin,
# and a private dbus-daemon with vcrund. Sourced with BUILD (the build
# directory) and WORK (an empty scratch directory) set; sets nothing else up
# until its functions are called.

VCRUN=$BUILD/cli/vcrun
VCRUND=$BUILD/daemon/vcrund
CLIENT=$BUILD/tests/integration/daemon/vcd-client
BASE_CONF=$BUILD/etc/vcrun-uninstalled.conf
BLOB_MIB=64
# A boot under TCG on a loaded 2-core host can take a minute.
VC_TIMEOUT=${VC_TIMEOUT:-300}

BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then BUSYBOX=$b; break; fi
done

# Why the VM cases cannot run here, or nothing.
stdio_missing() {
    local kernel initrd
    [ -f "$BASE_CONF" ] || { echo "no $BASE_CONF"; return; }
    kernel=$(sed -n 's/^ *kernel = "\(.*\)";/\1/p' "$BASE_CONF")
    initrd=$(sed -n 's/^ *initrd = "\(.*\)";/\1/p' "$BASE_CONF")
    [ -f "$kernel" ] && [ -f "$initrd" ] || { echo "no guest image ($kernel): run make guest"; return; }
    "$VCRUN" --config "$BASE_CONF" plugins >/dev/null 2>&1 \
        || { echo "the plugins do not load: $("$VCRUN" --config "$BASE_CONF" plugins 2>&1 | head -1)"; return; }
    [ -n "$BUSYBOX" ] || { echo "no static busybox on this host for the container's rootfs"; return; }
    for t in sha256sum python3 timeout; do
        command -v $t >/dev/null || { echo "$t is not installed"; return; }
    done
}

# Why the --bus and D-Bus cases cannot run here, or nothing.
bus_missing() {
    [ -x "$VCRUND" ] || { echo "vcrund is not built"; return; }
    [ -x "$CLIENT" ] || { echo "$CLIENT is not built (make -C tests/integration/daemon vcd-client)"; return; }
    command -v dbus-daemon >/dev/null || { echo "dbus-daemon is not installed"; return; }
    command -v gdbus >/dev/null || { echo "gdbus is not installed"; return; }
}

# stdio_config FS: $WORK/FS.conf, the build tree's configuration with
# sandbox.fs = FS (fs-virtiofs or fs-9p).
stdio_config() {
    sed "s/^\( *fs = \)\"[^\"]*\";/\1\"$1\";/" "$BASE_CONF" > "$WORK/$1.conf"
    grep -q "fs = \"$1\";" "$WORK/$1.conf"
}

# stdio_rootfs: $WORK/rootfs with busybox, /data/blob ($BLOB_MIB MiB of
# random bytes), /data/lines (8 MiB of text) and /bin/stdio-check. Its sha256 in BLOB_SHA, and that of
# the blob followed by "END-OUT\n" (stdio-check's stdout) in OUT_SHA.
stdio_rootfs() {
    local r=$WORK/rootfs a
    mkdir -p "$r/bin" "$r/proc" "$r/dev" "$r/tmp" "$r/etc" "$r/data"
    cp "$BUSYBOX" "$r/bin/busybox"
    for a in sh echo cat true sleep dd head yes sha256sum cut date wc tr trap; do
        ln -sf busybox "$r/bin/$a"
    done
    head -c $((BLOB_MIB << 20)) /dev/urandom > "$r/data/blob"
    # 8 MiB of text for the terminal (493447 lines of 17 bytes, and 9 more).
    yes 0123456789abcdef | head -c 8388608 > "$r/data/lines"
    BLOB_SHA=$(sha256sum < "$r/data/blob" | cut -c1-64)
    OUT_SHA=$({ cat "$r/data/blob"; echo END-OUT; } | sha256sum | cut -c1-64)
    # stdin's sha256 on stderr once stdin ended; then the blob on stdout in
    # 1 MiB blocks, a line on stderr after each; END markers last.
    cat > "$r/bin/stdio-check" <<'EOF'
#!/bin/sh
echo "IN $(sha256sum | cut -c1-64)" >&2
i=0
while [ $i -lt 64 ]; do
    dd if=/data/blob bs=1048576 skip=$i count=1 iflag=fullblock 2>/dev/null
    echo "ERR-LINE $i" >&2
    i=$((i + 1))
done
echo END-OUT
echo END-ERR >&2
EOF
    chmod 755 "$r/bin/stdio-check"
}

# stdio_bundle DIR ARGS_JSON [TERMINAL]: a bundle on $WORK/rootfs with /dev
# (so /dev/zero and /dev/null exist), /proc and /tmp.
stdio_bundle() {
    mkdir -p "$1"
    cat > "$1/config.json" <<EOF
{
  "ociVersion": "1.0.2",
  "process": { "terminal": ${3:-false}, "user": { "uid": 0, "gid": 0 }, "args": $2,
               "env": [ "PATH=/bin", "TERM=xterm" ], "cwd": "/" },
  "root": { "path": "$WORK/rootfs", "readonly": false },
  "hostname": "stdio",
  "mounts": [
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": [ "nosuid", "mode=755" ] },
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs" }
  ],
  "linux": { "namespaces": [ { "type": "pid" }, { "type": "mount" }, { "type": "ipc" }, { "type": "uts" } ] }
}
EOF
}

# vc_with FS ARGS...: embedded vcrun with the configuration of fs plugin FS.
vc_with() {
    local fs=$1; shift
    timeout -k 5 "$VC_TIMEOUT" "$VCRUN" --config "$WORK/$fs.conf" --root "$WORK/state" "$@"
}
# vcb ARGS...: vcrun --bus (vcrund on the private bus).
vcb() { timeout -k 5 "$VC_TIMEOUT" "$VCRUN" --bus=session "$@"; }

# start_bus_vcrund FS: a dbus-daemon of our own and vcrund on it, with the
# configuration of FS; sets ADDR, BUS_PID, VCRUND_PID. False if either fails.
BUS_PID= VCRUND_PID=
start_bus_vcrund() {
    cat > "$WORK/bus.conf" <<EOF
<busconfig>
  <type>session</type>
  <listen>unix:path=$WORK/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
    BUS_PID=$(dbus-daemon --config-file="$WORK/bus.conf" --fork --print-pid) || return 1
    ADDR="unix:path=$WORK/bus"
    export DBUS_SESSION_BUS_ADDRESS=$ADDR
    "$VCRUND" --address "$ADDR" --config "$WORK/$1.conf" --root "$WORK/bus-state" >> "$WORK/vcrund.log" 2>&1 &
    VCRUND_PID=$!
    local i
    for i in $(seq 100); do
        gdbus call --address "$ADDR" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
            --method org.freedesktop.DBus.NameHasOwner org.vcrun.Runtime1 2>/dev/null | grep -q true && return 0
        kill -0 "$VCRUND_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# The object path of container ID (vcrund's escaping: bytes outside
# [A-Za-z0-9] as _XX); IDs here are plain.
container_path() { echo "/org/vcrun/Runtime1/sandbox/$1/container/$1"; }

# stop_all: deletes every container of both state dirs, stops vcrund and the
# bus, kills what is left of our VMs.
stop_all() {
    local id
    for id in $("$VCRUN" --config "$BASE_CONF" --root "$WORK/state" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$BASE_CONF" --root "$WORK/state" delete --force "$id" >/dev/null 2>&1
    done
    if [ -n "$VCRUND_PID" ]; then
        for id in $(timeout 30 "$VCRUN" --bus=session list -q 2>/dev/null); do
            timeout 60 "$VCRUN" --bus=session delete --force "$id" >/dev/null 2>&1
        done
        kill "$VCRUND_PID" 2>/dev/null
        wait "$VCRUND_PID" 2>/dev/null
        VCRUND_PID=
    fi
    [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
    BUS_PID=
    # QEMU and virtiofsd processes whose command line names our scratch dir.
    local p
    for p in $(pgrep -f -- "$WORK/"); do
        [ "$p" != $$ ] && kill -9 "$p" 2>/dev/null
    done
}

# rss_kb PID: the process's resident set in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# fd_count PID: how many fds the process has open.
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
