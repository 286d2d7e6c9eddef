#!/bin/bash
# private-libvirtd.sh COMMAND [ARGS...]: runs COMMAND next to a libvirtd of
# its own, leaving the host's libvirt setup untouched.
#
# It re-executes itself in a new mount namespace (unshare -m) in which
# /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and
# /var/log/libvirt are empty private directories below a scratch dir: there it
# writes its own libvirtd.conf and qemu.conf (QEMU as root, no DAC/SELinux
# relabelling, no cgroups, no per-QEMU mount namespace, so that the bind
# mounts vcrun makes after boot are visible to QEMU's 9p server), starts
# virtlogd and libvirtd, runs COMMAND with
#   VCRUN_LIBVIRT_URI   qemu+unix:///system?socket=<scratch>/sock/libvirt-sock
#   VCRUN_LIBVIRT_DIR   the scratch dir (libvirtd.log, libvirtd.pid, ...)
#   VCRUN_LIBVIRT_RESTART  a command that restarts libvirtd (same config)
#   VCRUN_LIBVIRT_KILL     a command that kills libvirtd with SIGKILL
# and finally destroys any domain left, stops both daemons and removes the
# scratch dir. COMMAND runs in the same namespace, so vcrun's mounts are seen
# by libvirt's virtiofsd and QEMU; they all vanish with the namespace.
#
# Exits 77 (skip) when libvirtd, virtlogd or unshare is missing or not root.
set -u

if [ "${VCRUN_PRIVATE_LIBVIRTD_INNER:-}" != 1 ]; then
    for tool in libvirtd virtlogd virsh unshare; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "private-libvirtd: $tool is not installed (libvirt-daemon-system, libvirt-clients)" >&2
            exit 77
        fi
    done
    if [ "$(id -u)" != 0 ]; then
        echo "private-libvirtd: needs root (a mount namespace, QEMU as root)" >&2
        exit 77
    fi
    export VCRUN_PRIVATE_LIBVIRTD_INNER=1
    exec unshare --mount --propagation private -- "$0" "$@"
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-libvirtd.XXXXXX") || exit 1
chmod 755 "$scratch"
for d in etc run lib cache log sock; do mkdir -p "$scratch/$d"; done
# The mount points exist once libvirt-daemon-system is installed; making an
# empty one that is missing changes nothing of the host's setup.
mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt || exit 1
# VCRUN_LIBVIRT_CACHE: a cache dir kept between runs (QEMU's capabilities).
cache=$scratch/cache
if [ -n "${VCRUN_LIBVIRT_CACHE:-}" ] && mkdir -p "$VCRUN_LIBVIRT_CACHE"; then cache=$VCRUN_LIBVIRT_CACHE; fi
for pair in "$scratch/etc:/etc/libvirt" "$scratch/run:/run/libvirt" "$scratch/lib:/var/lib/libvirt" \
            "$cache:/var/cache/libvirt" "$scratch/log:/var/log/libvirt"; do
    mount --bind "${pair%%:*}" "${pair#*:}" || { echo "private-libvirtd: cannot bind ${pair#*:}" >&2; exit 1; }
done
mkdir -p /var/lib/libvirt/qemu /var/log/libvirt/qemu /run/libvirt/qemu

cat > /etc/libvirt/libvirtd.conf <<CONF
unix_sock_dir = "$scratch/sock"
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:$scratch/libvirtd.log"
keepalive_interval = 5
keepalive_count = 5
CONF
cat > /etc/libvirt/qemu.conf <<'CONF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "logd"
CONF
cat > /etc/libvirt/virtlogd.conf <<CONF
log_outputs = "3:file:$scratch/virtlogd.log"
CONF
: > /etc/libvirt/libvirt.conf

export VCRUN_LIBVIRT_DIR=$scratch
export VCRUN_LIBVIRT_URI="qemu+unix:///system?socket=$scratch/sock/libvirt-sock"

start_libvirtd() {
    libvirtd -d -p "$scratch/libvirtd.pid" -f /etc/libvirt/libvirtd.conf || return 1
    for _ in $(seq 100); do
        virsh -q -c "$VCRUN_LIBVIRT_URI" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "private-libvirtd: libvirtd does not answer on $VCRUN_LIBVIRT_URI (see $scratch/libvirtd.log)" >&2
    return 1
}
stop_pidfile() {   # stop_pidfile FILE SIGNAL
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    kill "-$2" "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
}
cleanup() {
    for dom in $(virsh -q -c "$VCRUN_LIBVIRT_URI" list --all --name 2>/dev/null); do
        virsh -q -c "$VCRUN_LIBVIRT_URI" destroy "$dom" >/dev/null 2>&1
    done
    stop_pidfile "$scratch/libvirtd.pid" TERM
    stop_pidfile "$scratch/virtlogd.pid" TERM
    if [ -n "${VCRUN_LIBVIRT_KEEP:-}" ]; then
        echo "private-libvirtd: kept $scratch" >&2
    else
        umount /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt 2>/dev/null
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

virtlogd -d -p "$scratch/virtlogd.pid" -f /etc/libvirt/virtlogd.conf || exit 1
start_libvirtd || exit 1

# For the tests: restart and kill libvirtd (same config, same sockets).
helper="$scratch/libvirtd-ctl"
cat > "$helper" <<CTL
#!/bin/bash
case "\$1" in
  kill) kill -KILL "\$(cat "$scratch/libvirtd.pid")" ;;
  stop) kill -TERM "\$(cat "$scratch/libvirtd.pid")" ;;
  start) libvirtd -d -p "$scratch/libvirtd.pid" -f /etc/libvirt/libvirtd.conf
         for _ in \$(seq 100); do virsh -q -c '$VCRUN_LIBVIRT_URI' version >/dev/null 2>&1 && exit 0; sleep 0.1; done
         exit 1 ;;
  *) echo "usage: \$0 kill|stop|start" >&2; exit 2 ;;
esac
CTL
chmod +x "$helper"
export VCRUN_LIBVIRT_CTL=$helper

"$@"
