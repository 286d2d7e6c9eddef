#!/bin/bash
# Sandboxes started from a template (sandbox.template), against real QEMU:
# `vcrun template create|list|rm`, two sandboxes from one template started at
# once (their RNGs differ, their clocks are right, each has its hostname), a
# stale template (its initrd changed) rebuilt, a truncated and a corrupt
# template falling back to a cold boot with a warning, the e2e cases in a
# restored sandbox on both fs plugins, and nothing left behind.
# Skips when the guest image or the plugins are missing.
. "$(dirname "$0")/lib.sh"
set -u

missing=$(vm_missing)
if [ -n "$missing" ]; then
    echo "1..0 # SKIP $missing"
    exit 0
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-template.XXXXXX")
STATE=$ROOT/state
cleanup() {
    for id in $("$VCRUN" --config "$ROOT/9p.conf" --root "$STATE" list -q 2>/dev/null); do
        timeout 60 "$VCRUN" --config "$ROOT/9p.conf" --root "$STATE" delete --force "$id" >/dev/null 2>&1
    done
    pkill -KILL -f -- "$ROOT" 2>/dev/null
    rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

# The guest files are copied, so that this test can make them stale.
guest_dir=$(dirname "$(sed -n 's/^ *kernel = "\(.*\)";/\1/p' "$CONF")")
mkdir -p "$ROOT/guest"
for f in vmlinuz vmlinux initrd.img; do
    [ -f "$guest_dir/$f" ] && cp -p "$guest_dir/$f" "$ROOT/guest/$f"
done
sed -e "s|^\( *kernel = \).*|\1\"$ROOT/guest/vmlinuz\";|" \
    -e "s|^\( *initrd = \).*|\1\"$ROOT/guest/initrd.img\";|" \
    -e 's|^\( *fs = \).*|\1"fs-9p";\n  template = true;|' "$CONF" > "$ROOT/9p.conf"
tc() { timeout -k 5 "${VC_TIMEOUT:-180}" "$VCRUN" --config "$ROOT/9p.conf" --root "$STATE" "$@"; }

B=$ROOT/bundle
make_bundle "$B" '["sh", "-c", "hostname; date +%s; head -c 16 /dev/urandom | od -An -tx1 | tr -d \" \\n\"; echo; dmesg | grep -c \"crng reseeded due to virtual machine fork\"; true"]'
python3 - "$B/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["mounts"].append({"destination": "/dev", "type": "devtmpfs", "source": "devtmpfs"})
spec.pop("hostname", None)
json.dump(spec, open(sys.argv[1], "w"))
PY
for a in hostname date head od dmesg grep; do ln -sf busybox "$B/rootfs/bin/$a"; done

tdir() { ls -d "$STATE"/.templates/????????????????????????????????/ 2>/dev/null | head -n 1; }
restored() { grep -q "restored from its template" "$1"; }

# ---- create, list, permissions -------------------------------------------
out=$(tc template create 2>"$ROOT/create.err"); rc=$?
expect_eq "template create succeeds" 0 $rc
[ $rc = 0 ] || diag "$(tail -3 "$ROOT/create.err")"
T=$(tdir)
expect_eq "template create prints the template's directory" "${T%/}" "$out"
expect_eq "the template directory is root's and 0700" "0:700" "$(stat -c %u:%a "$T" 2>/dev/null)"
perms=$(stat -c %a "$T"/* 2>/dev/null | sort -u | tr '\n' ' ')
expect_match "its files are 0600 (directories 0700)" '^(600 |700 )+$' "$perms"
expect_match "the 9p template keeps the RAM in a memory file, the stream apart" 'memory' "$(ls "$T")"
list=$(tc template list)
expect_match "template list shows it, ok" "$(basename "$T") +ok .*fs-9p" "$list"
expect_match "vcrun check shows templates" 'templates +ok .*1 saved' "$(tc check)"

# ---- two sandboxes at once --------------------------------------------------
before=$(date +%s)
tc --debug run --bundle "$B" r1 >"$ROOT/r1.out" 2>"$ROOT/r1.err" & p1=$!
tc --debug run --bundle "$B" r2 >"$ROOT/r2.out" 2>"$ROOT/r2.err" & p2=$!
wait $p1; rc1=$?; wait $p2; rc2=$?
after=$(date +%s)
expect_eq "two runs from one template at once both succeed" "0 0" "$rc1 $rc2"
restored "$ROOT/r1.err" && restored "$ROOT/r2.err"; ok $? "both were restored from the template"
expect_eq "each has its own hostname (from CreateSandbox)" "r1 r2" "$(sed -n 1p "$ROOT/r1.out") $(sed -n 1p "$ROOT/r2.out")"
u1=$(sed -n 3p "$ROOT/r1.out"); u2=$(sed -n 3p "$ROOT/r2.out")
diag "urandom: $u1 / $u2"
[ ${#u1} = 32 ] && [ ${#u2} = 32 ] && [ "$u1" != "$u2" ]; ok $? "their /dev/urandom bytes differ"
expect_eq "both guest kernels reseeded their RNG on the VM generation change (vmgenid)" "1 1" \
    "$(sed -n 4p "$ROOT/r1.out") $(sed -n 4p "$ROOT/r2.out")"
for r in r1 r2; do
    t=$(sed -n 2p "$ROOT/$r.out")
    [ -n "$t" ] && [ "$t" -ge $((before - 2)) ] && [ "$t" -le $((after + 2)) ]
    ok $? "$r's clock is the host's (guest $t, host $before..$after)"
done

# ---- a block volume in a restored sandbox: hot-plugged after the restore ----------
# (a template holds no container devices, so the first container's are not
# cold-plugged at boot as without a template)
if command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null; then
    IMG=$ROOT/vol.img
    truncate -s 16M "$IMG" && mkfs.ext4 -q -F "$IMG" >/dev/null 2>&1
    VB=$ROOT/bvol
    make_bundle "$VB" '["sh", "-c", "echo from-a-template > /data/f && sync"]'
    python3 - "$VB/config.json" "$IMG" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["mounts"].append({"destination": "/data", "type": "ext4", "source": sys.argv[2]})
json.dump(spec, open(sys.argv[1], "w"))
PY
    tc --debug run --bundle "$VB" v1 >"$ROOT/v1.out" 2>"$ROOT/v1.err"; rc=$?
    expect_eq "a run with an ext4 volume from a template exits 0" 0 $rc
    [ $rc = 0 ] || diag "$(tail -3 "$ROOT/v1.err")"
    restored "$ROOT/v1.err"; ok $? "... restored from the template (its volume hot-plugged)"
    expect_eq "... and the file it wrote is in the image" "from-a-template" "$(debugfs -R 'cat /f' "$IMG" 2>/dev/null)"
else
    skip "a block volume from a template" "no mkfs.ext4 or debugfs (e2fsprogs)"
fi

# ---- stale: the initrd changed ---------------------------------------------------
touch "$ROOT/guest/initrd.img"
expect_match "template list calls it stale, saying why" 'stale .*initrd changed' "$(tc template list)"
tc --debug run --bundle "$B" s1 >"$ROOT/s1.out" 2>"$ROOT/s1.err"; rc=$?
expect_eq "a run with a stale template succeeds" 0 $rc
expect_match "the stale template was rebuilt, saying why" 'template [0-9a-f]+ is stale \(initrd changed\): rebuilding' "$(cat "$ROOT/s1.err")"
restored "$ROOT/s1.err"; ok $? "and the sandbox was restored from the new one"
expect_match "template list: the one template is ok again" "^[0-9a-f]{32} +ok" "$(tc template list | sed -n 2p)"

# ---- truncated, then corrupt --------------------------------------------------------
T=$(tdir)
truncate -s 1M "$T/memory"
tc --debug run --bundle "$B" c1 >"$ROOT/c1.out" 2>"$ROOT/c1.err"; rc=$?
expect_eq "a run with a truncated template succeeds" "0 c1" "$rc $(sed -n 1p "$ROOT/c1.out")"
expect_match "it warns, naming the file, and boots cold" "cannot start from a template, booting cold instead: .*memory' is 1048576 bytes.*truncated" "$(cat "$ROOT/c1.err")"
! restored "$ROOT/c1.err"; ok $? "that sandbox was not restored"
tc --debug run --bundle "$B" c2 >"$ROOT/c2.out" 2>"$ROOT/c2.err"; rc=$?
restored "$ROOT/c2.err"; ok $? "the next run rebuilds the template and restores from it (exit $rc)"
T=$(tdir)
size=$(stat -c %s "$T/state")
printf 'garbage%.0s' $(seq 1 2000) | dd of="$T/state" bs=1 seek=$((size / 2)) conv=notrunc status=none
tc --debug run --bundle "$B" c3 >"$ROOT/c3.out" 2>"$ROOT/c3.err"; rc=$?
expect_eq "a run with a corrupt template state succeeds" "0 c3" "$rc $(sed -n 1p "$ROOT/c3.out")"
expect_match "it warns with QEMU's error and boots cold" "cannot start from a template, booting cold instead: template $STATE/.templates/[0-9a-f]+: QEMU" "$(cat "$ROOT/c3.err")"
diag "$(grep -o 'cannot start from a template.*' "$ROOT/c3.err" | cut -c1-300)"
[ -z "$(tdir)" ]; ok $? "the unusable template was removed"

# ---- the e2e cases in a restored sandbox, both fs plugins -----------------------------
e2e=$top_builddir/tests/integration/e2e/test-e2e
for fs in fs-9p fs-virtiofs; do
    if [ ! -x "$e2e" ]; then skip "e2e cases from a template ($fs)" "test-e2e is not built"; continue; fi
    VCRUN_E2E_TEMPLATE=1 VCRUN_E2E_FS=$fs timeout -k 5 600 "$e2e" >"$ROOT/e2e-$fs.log" 2>&1; rc=$?
    [ $rc = 0 ] || diag "$(grep -E '^not ok|^# |Bail' "$ROOT/e2e-$fs.log" | tail -5)"
    ok $rc "the e2e cases pass in a sandbox restored from a template ($fs)"
    grep '^# figure' "$ROOT/e2e-$fs.log" | sed 's/^# /# template /'
done

# ---- rm, and nothing left ---------------------------------------------------------------
tc template create >/dev/null 2>&1
out=$(tc template rm --all); rc=$?
expect_eq "template rm --all removes them" "0 removed 1 template" "$rc $out"
expect_eq "template list is then empty" "1" "$(tc template list | wc -l)"
tc template rm 0123 >/dev/null 2>"$ROOT/rm.err"; rc=$?
expect_match "template rm of an unknown key fails clearly" "no template '0123'" "$(cat "$ROOT/rm.err") rc=$rc"
expect_eq "no sandbox is left" "" "$(tc list -q)"
sleep 1
expect_eq "no process is left" "" "$(pgrep -af -- "$ROOT" | grep -v pgrep)"
expect_eq "no socket, lock or directory is left in the templates directory" "" \
    "$(find "$STATE/.templates" -mindepth 1 ! -name '*.lock' 2>/dev/null)"
tap_done
[ $tap_failed = 0 ]
