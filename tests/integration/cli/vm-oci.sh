#!/bin/bash
# The OCI settings the guest applies, against real QEMU: a seccomp rule with
# several conditions on one argument (one rule per condition, as runc) with
# noNewPrivileges false left false, an unknown capability skipped, a device
# node with the config's mode, oomScoreAdj, uid/gid mappings in a user
# namespace that an exec joins too, createContainer/startContainer hooks run
# in the container with the state on stdin, host hooks around them, and a
# signal sent right after start reaching a shell's trap, an overlay mount
# (its module loaded on demand). Skips when the
# guest image or the plugins are missing.
. "$(dirname "$0")/lib.sh"
set -u

missing=$(vm_missing)
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-cli-oci.XXXXXX")
cleanup() {
    for id in $("$VCRUN" --config "$CONF" --root "$ROOT" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$CONF" --root "$ROOT" delete --force "$id" >/dev/null 2>&1
    done
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# ---- A: one attached run checking the settings from inside ---------------
B=$ROOT/bundle-a
mkdir -p "$ROOT/out"
make_bundle "$B" '["sh", "-c", "grep -E \"^(NoNewPrivs|Seccomp):\" /proc/self/status | tr -d \"\\t\"; cat /proc/self/oom_score_adj; ls -ln /dev/vctest | cut -c1-10; cat /proc/self/uid_map /proc/self/gid_map | tr -s \" \"; id -u"]'
python3 - "$B/config.json" "$ROOT/out" "$B/rootfs" <<'PY'
import json, sys
path, out, rootfs = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.load(open(path))
p = spec["process"]
p["noNewPrivileges"] = False
p["oomScoreAdj"] = 123
caps = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_ADMIN", "CAP_TEST"]
p["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
spec["mounts"].append({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]})
lx = spec["linux"]
lx["namespaces"].append({"type": "user"})
lx["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 2000}]
lx["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 3000}]
lx["devices"] = [{"path": "/dev/vctest", "type": "c", "major": 1, "minor": 3, "fileMode": 0o660}]
lx["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                 "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                               "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                                        {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}]}
def hook(name, path):
    return {"path": path, "args": ["sh", "-c", "cat > /out/" + name + "; echo >> /out/" + name + "; echo $HOOKENV >> /out/" + name],
            "env": ["HOOKENV=" + name + "-env"], "timeout": 30}
spec["hooks"] = {
    "createContainer": [hook("createContainer", rootfs + "/bin/sh")],
    "startContainer": [hook("startContainer", "/bin/sh")],
    "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > " + out + "/prestart"]}],
    "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > " + out + "/poststop"]}],
}
json.dump(spec, open(path, "w"))
PY
chmod 777 "$ROOT/out"
out=$(vc run --bundle "$B" oci1 2>"$ROOT/a.err" </dev/null); rc=$?
expect_eq "a run with seccomp, caps, device, oomScoreAdj, userns and hooks exits 0" 0 $rc
[ $rc -eq 0 ] || diag "stderr: $(cat "$ROOT/a.err")"
expect_match "noNewPrivileges false stays false with a seccomp filter loaded" '^NoNewPrivs:0$' "$(echo "$out" | sed -n 1p)"
expect_match "... and the filter (three conditions on argument 0) is loaded" '^Seccomp:2$' "$(echo "$out" | sed -n 2p)"
expect_eq "oomScoreAdj is applied" 123 "$(echo "$out" | sed -n 3p)"
expect_eq "the device node has the config's mode (0660, not the umask's)" "crw-rw----" "$(echo "$out" | sed -n 4p)"
expect_eq "the uid map is the config's" " 0 1000 2000" "$(echo "$out" | sed -n 5p | sed 's/^ */ /')"
expect_eq "the gid map is the config's" " 0 1000 3000" "$(echo "$out" | sed -n 6p | sed 's/^ */ /')"
expect_eq "the process is root in its user namespace" 0 "$(echo "$out" | sed -n 7p)"
expect_match "the unknown capability is skipped, not an error" '.' "$(echo "$out")"
for h in createContainer startContainer; do
    f=$ROOT/out/$h
    st=$(python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).readline()); print(s["id"], s["status"], s["annotations"].get("org.vcrun.test"))' "$f" 2>&1)
    expect_eq "the $h hook ran in the guest with the state on stdin" "oci1 $([ $h = createContainer ] && echo creating || echo created) cli" "$st"
    expect_eq "... with its env" "$h-env" "$(sed -n 2p "$f")"
done
st=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["id"], s["status"])' "$ROOT/out/prestart" 2>&1)
expect_eq "the prestart hook ran on the host" "oci1 created" "$st"
st=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["id"], s["status"])' "$ROOT/out/poststop" 2>&1)
expect_eq "the poststop hook ran on the host" "oci1 stopped" "$st"

# ---- B: detached: exec joins the user namespace; kill right after start ---
B=$ROOT/bundle-b
make_bundle "$B" '["sh", "-c", "trap \"echo got-usr1 > /tmp/sig; exit 5\" USR1; sleep 60 & wait $!"]'
python3 - "$B/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
# sh opens /dev/null for a background job
spec["mounts"].append({"destination": "/dev", "type": "tmpfs", "source": "tmpfs"})
lx = spec["linux"]
lx["namespaces"].append({"type": "user"})
lx["uidMappings"] = [{"containerID": 0, "hostID": 5000, "size": 100}]
lx["gidMappings"] = [{"containerID": 0, "hostID": 5000, "size": 100}]
json.dump(spec, open(sys.argv[1], "w"))
PY
vc create --bundle "$B" oci2 </dev/null >/dev/null 2>"$ROOT/b.err"; rc=$?
expect_eq "create of a user-namespaced container" 0 $rc
vc start oci2; rc=$?
expect_eq "start" 0 $rc
vc kill oci2 USR1; rc=$?
expect_eq "a signal right after start is accepted" 0 $rc
stopped() { [ "$(state_field oci2 status)" = stopped ]; }
wait_for 30 stopped; ok $? "... and reaches the shell's trap: the container stops"
expect_eq "... with the trap's exit status" 5 "$(state_field oci2 exit_status)"
vc delete oci2; rc=$?
expect_eq "delete" 0 $rc

vc create --bundle "$B" oci3 </dev/null >/dev/null 2>>"$ROOT/b.err" && vc start oci3
map=$(vc exec oci3 cat /proc/self/uid_map 2>&1 | tr -s ' ')
expect_eq "exec joins the container's user namespace" " 0 5000 100" "$(echo "$map" | sed 's/^ */ /')"
vc delete --force oci3 >/dev/null 2>&1

# ---- C: a failed start leaves an ID that delete frees ---------------------
B=$ROOT/bundle-c
make_bundle "$B" '["/no/such/program"]'
vc create --bundle "$B" oci4 </dev/null >/dev/null 2>&1
vc start oci4 >/dev/null 2>&1; rc=$?
[ $rc -ne 0 ]; ok $? "start of a program that does not exist fails (status $rc)"
wait_for 30 eval '[ "$(state_field oci4 status)" = stopped ]'; ok $? "... and the container is stopped"
vc delete oci4; rc=$?
expect_eq "... delete succeeds" 0 $rc
# The run again mounts an overlay (of the guest's /etc and /bin, read-only):
# the guest loads overlay for that mount, as no device of the VM needs it.
make_bundle "$B" '["cat", "/ov/vcrun-image"]'
python3 - "$B/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["mounts"].append({"destination": "/ov", "type": "overlay", "source": "overlay",
                       "options": ["ro", "lowerdir=/etc:/bin"]})
json.dump(spec, open(sys.argv[1], "w"))
PY
out=$(vc run --bundle "$B" oci4 </dev/null 2>"$ROOT/c.err"); rc=$?
expect_eq "... and the ID can be used again" 0 $rc
expect_match "... by a container with an overlay mount, whose module the guest loads for it" '^kernel=' "$out"
[ $rc -eq 0 ] || diag "stderr: $(cat "$ROOT/c.err")"

tap_done
[ "$tap_failed" -eq 0 ]
