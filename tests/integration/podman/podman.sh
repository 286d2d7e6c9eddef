#!/bin/bash
# podman --runtime vcrun, with Debian's real podman and conmon: the OCI
# runtime contract they rely on (create/start/state/kill/delete/exec/pause,
# --console-socket, the pid that lives as long as the container's init, the
# mounts podman writes, ps --format json), the host cgroup at cgroupsPath,
# and a podman network with a published port, in namespaces of its own. Everything podman keeps is test-private: storage,
# containers.conf and runroot live in a temporary directory, and the image
# is a busybox rootfs imported from a tarball (no registry).
#
# The host cgroup case (--memory/--cpus in the cgroup config.json's
# cgroupsPath names, with the supervisor, QEMU and virtiofsd in it) skips,
# saying which, on a host whose cgroups lack the memory or cpu controller.
. "$(dirname "$0")/../cli/lib.sh"

skip_all() { echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "podman's rootful mode needs root"
command -v podman >/dev/null || skip_all "podman is not installed"
command -v conmon >/dev/null || [ -x /usr/libexec/podman/conmon ] || skip_all "conmon is not installed"
why=$(vm_missing); [ -z "$why" ] || skip_all "$why"

TMP=$(mktemp -d /tmp/vcrun-podman.XXXXXX)
# Short: podman's IDs are 64 characters, and a sandbox's sockets live in
# STATE/ID/, within a Unix socket's 107.
STATE=$(mktemp -d /tmp/vcp.XXXXXX)
export CONTAINERS_CONF=$TMP/containers.conf CONTAINERS_STORAGE_CONF=$TMP/storage.conf
IMG=localhost/vcrun-test-busybox:latest
PM_TIMEOUT=${PM_TIMEOUT:-300}
pm() { timeout -k 5 "$PM_TIMEOUT" podman --runtime vcrun "$@"; }

# Our VMs: QEMU and virtiofsd processes whose command line names our dirs.
our_processes() {
    local p
    for p in $(pgrep -f 'qemu-system|virtiofsd' 2>/dev/null); do
        tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline" | grep -q -e "$TMP" -e "$STATE" && echo "$p"
    done
}
cleanup() {
    net_done 2>/dev/null
    podman rm -af -t 0 >/dev/null 2>&1
    local p; for p in $(our_processes); do kill -KILL "$p" 2>/dev/null; done
    grep -o " $TMP[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$TMP" "$STATE"
}
trap cleanup EXIT

# ---- set-up: configuration, the vcrun wrapper, the image ---------------------------

mkdir -p "$TMP/rootfs/bin" "$TMP/rootfs/etc" "$TMP/rootfs/proc" "$TMP/rootfs/sys" \
    "$TMP/rootfs/dev" "$TMP/rootfs/tmp" "$TMP/rootfs/run" "$TMP/tmp"
cp "$BUSYBOX" "$TMP/rootfs/bin/busybox"
for a in sh echo cat true sleep ls stty env id test cut grep sed head mkdir httpd wget ps; do
    ln -s busybox "$TMP/rootfs/bin/$a"
done
tar -C "$TMP/rootfs" -cf "$TMP/busybox.tar" .

sed "s|^\( *state_dir = \).*|\1\"$STATE\";|" "$CONF" > "$TMP/vcrun.conf"
cat > "$TMP/vcrun" <<WRAP
#!/bin/sh
exec "$VCRUN" --config "$TMP/vcrun.conf" "\$@"
WRAP
chmod +x "$TMP/vcrun"

cat > "$TMP/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$TMP/graph"
runroot = "$TMP/runroot"
CONF
# podman's default ulimits ask for more than this host's hard limits allow
# (runc fails with "error setting rlimit"): ask for what the host allows.
hard_nofile=$(ulimit -Hn); [ "$hard_nofile" = unlimited ] && hard_nofile=1024
NOFILE=$(( hard_nofile < 1024 ? hard_nofile : 1024 ))
hard_nproc=$(ulimit -Hu); [ "$hard_nproc" = unlimited ] && hard_nproc=4096
NPROC=$(( hard_nproc < 4096 ? hard_nproc : 4096 ))
cat > "$TMP/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$TMP/tmp"
runtime_supports_json = ["vcrun", "crun", "runc"]
[engine.runtimes]
vcrun = ["$TMP/vcrun"]
[network]
network_backend = "cni"
network_config_dir = "$TMP/cni"
CONF

podman import "$TMP/busybox.tar" "$IMG" >/dev/null 2>"$TMP/import.err"
ok $? "podman import of a busybox rootfs (no registry)" || { cat "$TMP/import.err"; tap_done; exit 1; }

# ---- run --rm, exit status, rlimits --------------------------------------------------

out=$(pm run --rm --network none "$IMG" echo hi 2>"$TMP/err"); rc=$?
expect_eq "run --rm --network none echo hi: exit 0" 0 $rc
expect_eq "... prints hi" "hi" "$out"
[ $rc = 0 ] || diag "$(tail -5 "$TMP/err")"

# The container's cgroup in the guest, from inside: /proc/self/cgroup's path.
limits='p=$(cat /proc/self/cgroup); p=${p#0::}; cat /sys/fs/cgroup$p/memory.max /sys/fs/cgroup$p/cpu.max'
out=$(pm run --name ex3 --network none --memory 512m --cpus 2 "$IMG" \
      sh -c "ulimit -Sn; ulimit -Hn; ulimit -Hu; $limits; exit 3" 2>"$TMP/err"); rc=$?
expect_eq "run sh -c 'exit 3': exit 3" 3 $rc
expect_eq "... default_ulimits applied in the guest (nofile soft and hard, nproc hard)" \
    "$NOFILE $NOFILE $NPROC" "$(echo $out | cut -d' ' -f1-3)"
expect_eq "... --memory 512m --cpus 2 seen in the guest (memory.max, cpu.max)" \
    "536870912 200000 100000" "$(echo $out | cut -d' ' -f4-)"
expect_eq "inspect: exit code 3" "3 exited" "$(podman inspect ex3 --format '{{.State.ExitCode}} {{.State.Status}}' 2>&1)"
podman rm ex3 >/dev/null 2>&1; ok $? "rm of the exited container"

err=$(pm run --rm --network none --ulimit nofile=2000000:2000000 "$IMG" true 2>&1); rc=$?
[ $rc -ne 0 ]; ok $? "an rlimit above the guest's hard limit is refused (exit $rc)"
expect_match "... with a clear error" "RLIMIT_NOFILE \(soft 2000000, hard 2000000\) is refused by the guest \(its hard limit is [0-9]+" "$err"

# ---- run -d, exec, ps, logs, pause, stop, rm --------------------------------------------

# With limits: one VM serves the host cgroup case too.
id=$(pm run -d --name d1 --network none --memory 512m --cpus 2 "$IMG" \
     sh -c 'echo logged-line; sleep 600' 2>"$TMP/err"); rc=$?
expect_eq "run -d --memory 512m --cpus 2 sleep: exit 0" 0 $rc
[ $rc = 0 ] || diag "$(tail -5 "$TMP/err")"
expect_eq "ps lists it" "d1" "$(podman ps --format '{{.Names}}' 2>&1)"
expect_eq "... running" running "$(podman inspect d1 --format '{{.State.Status}}' 2>&1)"

# The sandbox's host processes: vcrun ps --format json, as runc prints them.
cid=$(podman inspect d1 --format '{{.Id}}' 2>/dev/null)
spid=$(podman inspect d1 --format '{{.State.Pid}}' 2>/dev/null)
pids=$("$TMP/vcrun" ps --format json "$cid" 2>&1)
expect_match "vcrun ps --format json: a JSON array of host pids, the state's pid (the supervisor) first" \
    "^\[$spid(,[0-9]+)+\]$" "$pids"
vmm=; fsd=
for p in $(our_processes); do
    case "$(tr '\0' ' ' 2>/dev/null < /proc/$p/cmdline)" in
        *qemu-system*"$cid"*) vmm=$p ;;
        *virtiofsd*"$cid"*) [ "$(cut -d' ' -f4 /proc/$p/stat)" = "$spid" ] && fsd=$p ;;
    esac
done
in_list() { case ",$(echo "$2" | tr -d '[]')," in *",$1,"*) return 0 ;; esac; return 1; }
in_list "$vmm" "$pids"; ok $? "... lists QEMU ($vmm)"
if [ -n "$fsd" ]; then
    in_list "$fsd" "$pids"; ok $? "... lists virtiofsd ($fsd)"
else
    skip "... lists virtiofsd" "no virtiofsd runs for this sandbox (the configuration shares files another way)"
fi

# The host cgroup podman names in config.json's cgroupsPath: the limits, and
# the supervisor, QEMU and virtiofsd in it (podman stats reads it).
bundle=$(ls -d "$TMP/graph/vfs-containers/$cid/userdata" 2>/dev/null)
cgpath=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["linux"]["cgroupsPath"])' \
         "$bundle/config.json" 2>/dev/null)
cg_missing=
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    for c in memory cpu; do
        grep -qw $c /sys/fs/cgroup/cgroup.controllers || cg_missing="$cg_missing $c"
    done
    memdir=/sys/fs/cgroup$cgpath; cpudir=$memdir
    mem_file=memory.max; cpu_file=cpu.max; cpu_want="200000 100000"
else
    for c in memory cpu; do
        grep -q "^cgroup /sys/fs/cgroup/[^ ]* cgroup [^ ]*\b$c\b" /proc/mounts || cg_missing="$cg_missing $c"
    done
    memdir=/sys/fs/cgroup/memory$cgpath; cpudir=/sys/fs/cgroup/cpu$cgpath
    mem_file=memory.limit_in_bytes; cpu_file=cpu.cfs_quota_us; cpu_want=200000
fi
if [ -n "$cg_missing" ]; then
    skip "the host cgroup at cgroupsPath: --memory and --cpus, the VMM in it" \
        "this host's cgroups lack the controller(s)$cg_missing"
else
    expect_eq "host cgroup $cgpath: $mem_file" 536870912 "$(cat "$memdir/$mem_file" 2>&1)"
    expect_eq "... $cpu_file" "$cpu_want" "$(cat "$cpudir/$cpu_file" 2>&1)"
    expect_eq "... holds exactly the pids vcrun ps --format json lists, as runc's cgroup" \
        "$(sort -n "$memdir/cgroup.procs" 2>&1 | tr '\n' ' ')" \
        "$(echo "$pids" | tr -d '[]' | tr ',' '\n' | sort -n | tr '\n' ' ')"
    expect_match "podman stats: the limit from the host cgroup" "/ 536\.9MB" \
        "$(timeout 120 podman stats --no-stream --format '{{.MemUsage}}' d1 2>&1)"
fi
limits_seen=$(pm exec d1 sh -c "$limits" 2>&1 | tr '\n' ' ')
expect_eq "... and the guest's cgroup of the container (memory.max, cpu.max)" \
    "536870912 200000 100000 " "$limits_seen"

# podman top: its psgo path reads /proc through the state pid's mount
# namespace, the host's for a VM runtime (the list includes the supervisor);
# ps(1) options run ps in the container: the guest's processes.
out=$(timeout 120 podman top d1 pid args 2>&1); rc=$?
expect_eq "podman top: exit 0" 0 $rc
echo "$out" | grep -Eq "^$spid +"; ok $? "... lists the supervisor ($spid)"
out=$(timeout 120 podman top d1 -ef 2>&1)
expect_match "podman top d1 -ef (ps in the guest): the container's sleep 600" "sleep 600" "$out"
out=$(pm exec d1 echo from-exec 2>&1); rc=$?
expect_eq "exec, attached: exit 0" 0 $rc
expect_eq "... its output" "from-exec" "$out"
pm exec d1 sh -c 'exit 5' >/dev/null 2>&1
expect_eq "exec: its exit status" 5 $?
pm exec -d d1 sleep 300 >/dev/null 2>&1; ok $? "exec -d"
wait_for 30 sh -c "podman logs d1 2>/dev/null | grep -q logged-line"; ok $? "logs shows the output"
# exec -it: conmon's console socket for an exec'd process, in the same VM.
out=$(python3 "$top_srcdir/tests/integration/tty-session.py" "$(command -v podman)" exec -it d1 sh \
      2>"$TMP/tty.err")
for check in "prompt" "initial window size 30 100" "window size change forwarded (40 120)" \
             "the process has a terminal"; do
    echo "$out" | grep -qx "ok $check"; ok $? "exec -it: $check"
done
expect_eq "exec -it: exit 5" "exit 5" "$(echo "$out" | tail -1)"
echo "$out" | grep -q "^not ok" && diag "$(tail -c 600 "$TMP/tty.err")"
podman pause d1 >/dev/null 2>&1; ok $? "pause"
expect_eq "... inspect: paused" paused "$(podman inspect d1 --format '{{.State.Status}}' 2>&1)"
podman unpause d1 >/dev/null 2>&1; ok $? "unpause"
expect_eq "... it runs again" back "$(pm exec d1 echo back 2>&1)"
start=$(date +%s)
podman stop -t 3 d1 >/dev/null 2>"$TMP/err"; rc=$?
took=$(( $(date +%s) - start ))
expect_eq "stop -t 3 (sh as pid 1 ignores TERM: KILL after 3 s): exit 0" 0 $rc
[ "$took" -ge 3 ] && [ "$took" -lt 60 ]; ok $? "... took ${took}s"
expect_eq "inspect: exit code 137" "137 exited" "$(podman inspect d1 --format '{{.State.ExitCode}} {{.State.Status}}' 2>&1)"
podman rm d1 >/dev/null 2>&1; ok $? "rm"

# ---- run -it through a pty ----------------------------------------------------------------

out=$(python3 "$top_srcdir/tests/integration/tty-session.py" "$(command -v podman)" --runtime vcrun \
      run -it --rm --network none "$IMG" sh 2>"$TMP/tty.err")
for check in "prompt" "initial window size 30 100" "a command's output" \
             "window size change forwarded (40 120)" "the process has a terminal"; do
    echo "$out" | grep -qx "ok $check"; ok $? "run -it: $check"
done
expect_eq "run -it: exit 5" "exit 5" "$(echo "$out" | tail -1)"
echo "$out" | grep -q "^not ok" && diag "$(tail -c 600 "$TMP/tty.err")"

# ---- a podman network: -p to a busybox httpd, the container to the bridge ------------------
#
# Debian 12's podman uses CNI (containernetworking-plugins: bridge, host-
# local, portmap, firewall, with iptables); netavark is only a Recommends.
# Everything podman makes for it stays in namespaces this test makes and
# drops: a network namespace (the bridge, its iptables rules, the
# published port, the containers' namespaces) and a mount namespace whose
# tmpfs /run and /var/lib/cni hold podman's netns mounts and CNI's leases.
# The network's config file lives in $TMP/cni (containers.conf).

net_case() {
    if ! command -v iptables >/dev/null || [ ! -x /usr/lib/cni/bridge ] || [ ! -x /usr/lib/cni/portmap ]; then
        skip "podman network: -p 127.0.0.1:8080:80 and the bridge" \
            "CNI's bridge and portmap plugins or iptables are missing (scripts/install-deps.sh installs them)"
        return
    fi
    if ! unshare --net iptables -t nat -n -L >/dev/null 2>&1; then
        skip "podman network: -p 127.0.0.1:8080:80 and the bridge" \
            "iptables cannot work in a network namespace here (no nf_tables or ip_tables in the kernel?)"
        return
    fi
    bridges_before=$(host_bridges); cni_dir_before=$(ls -d /var/lib/cni 2>/dev/null)
    [ -d /var/lib/cni ] || { mkdir /var/lib/cni && MADE_CNI_DIR=1; }
    unshare --net --mount --propagation private sh -c \
        'ip link set lo up && mount -t tmpfs vcrun-test /run && mount -t tmpfs vcrun-test /var/lib/cni &&
         touch /run/vcrun-test-ready && exec sleep 3600' &
    NS_PID=$!
    wait_for 10 nsenter -t "$NS_PID" -m test -e /run/vcrun-test-ready
    # Read only once the marker exists: before that, $NS_PID may not have
    # left this shell's namespaces yet.
    NETNS=$(readlink /proc/$NS_PID/ns/net)
    [ -n "$NETNS" ] && [ "$NETNS" != "$(readlink /proc/self/ns/net)" ]
    ok $? "a private network and mount namespace for podman's network" || return
    inns() { nsenter -t "$NS_PID" -m -n "$@"; }
    inns timeout -k 5 60 podman network create --subnet 192.0.2.0/24 vcrun-test-net >/dev/null 2>"$TMP/err"
    ok $? "network create --subnet 192.0.2.0/24" || { diag "$(tail -3 "$TMP/err")"; return; }
    inns timeout -k 5 "$PM_TIMEOUT" podman --runtime vcrun run -d --name web --network vcrun-test-net \
        -p 127.0.0.1:8080:80 "$IMG" sh -c \
        'mkdir -p /www && echo served-from-the-guest > /www/index.html && exec httpd -f -p 80 -h /www' \
        >/dev/null 2>"$TMP/err"
    ok $? "run -d --network vcrun-test-net -p 127.0.0.1:8080:80 httpd" || { diag "$(tail -5 "$TMP/err")"; return; }
    fetch() {
        inns python3 -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())' "$1" 2>/dev/null
    }
    fetch_is() { [ "$(fetch "$1")" = "$2" ]; }
    wait_for 60 fetch_is http://127.0.0.1:8080/ served-from-the-guest
    expect_eq "the host's 127.0.0.1:8080 reaches httpd in the guest" served-from-the-guest \
        "$(fetch http://127.0.0.1:8080/)"
    # The bridge's address (the gateway), served on the host's side.
    mkdir -p "$TMP/www" && echo served-from-the-bridge > "$TMP/www/peer.txt"
    # Not through inns: $! must be the server itself.
    nsenter -t "$NS_PID" -m -n "$BUSYBOX" httpd -f -p 192.0.2.1:8081 -h "$TMP/www" >/dev/null 2>&1 &
    SERVER_PID=$!
    wait_for 10 fetch_is http://192.0.2.1:8081/peer.txt served-from-the-bridge
    out=$(inns timeout -k 5 120 podman --runtime vcrun exec web wget -q -O - http://192.0.2.1:8081/peer.txt 2>&1)
    expect_eq "the container reaches the bridge's address (192.0.2.1)" served-from-the-bridge "$out"
    expect_match "... from its address on the network" "^192\.0\.2\.[0-9]+$" \
        "$(inns podman inspect web --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' 2>&1)"
    kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=
    inns timeout -k 5 120 podman rm -f -t 0 web >/dev/null 2>&1; ok $? "rm -f of the httpd container"
    inns podman network rm vcrun-test-net >/dev/null 2>&1; ok $? "network rm"
}
net_done() {
    if [ -n "$NS_PID" ]; then
        nsenter -t "$NS_PID" -m -n podman rm -af -t 0 >/dev/null 2>&1
        [ -z "$SERVER_PID" ] || { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
        kill "$NS_PID" 2>/dev/null; wait "$NS_PID" 2>/dev/null; NS_PID=
    fi
    [ -z "$MADE_CNI_DIR" ] || { rmdir /var/lib/cni 2>/dev/null; MADE_CNI_DIR=; }
}
host_bridges() { ip -o link show type bridge 2>/dev/null | cut -d' ' -f2 | sort; }
NS_PID=; NETNS=; SERVER_PID=; MADE_CNI_DIR=; bridges_before=; cni_dir_before=
net_case
if [ -n "$NS_PID" ]; then
    holder=$NS_PID; net_done
    ! kill -0 "$holder" 2>/dev/null; ok $? "the namespaces' holder is gone"
    left=$(for p in /proc/[0-9]*; do
               [ "$(readlink $p/ns/net 2>/dev/null)" = "$NETNS" ] && echo "${p#/proc/} $(tr '\0' ' ' 2>/dev/null < $p/cmdline)"
           done)
    expect_eq "no process left in the test's network namespace (it is gone with them)" "" "$left"
    expect_eq "no bridge left in the host's namespace" "$bridges_before" "$(host_bridges)"
    expect_eq "/var/lib/cni as it was" "$cni_dir_before" "$(ls -d /var/lib/cni 2>/dev/null)"
fi

# ---- nothing left ---------------------------------------------------------------------------

expect_eq "no container left" "" "$(podman ps -aq 2>&1)"
expect_eq "no QEMU or virtiofsd left" "" "$(our_processes)"
expect_eq "no vcrun state left" "" "$(ls -A "$STATE")"
expect_eq "no mount left" "" "$(grep -c " $TMP" /proc/mounts | grep -v '^0$')"

tap_done
[ $tap_failed = 0 ]
