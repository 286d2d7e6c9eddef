#!/bin/bash
# vcrun without a VM: version, help, unknown commands, spec, check, plugins,
# and every error that needs no sandbox, with its message and exit status.
. "$(dirname "$0")/lib.sh"
set -u

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-cli-basic.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

out=$("$VCRUN" --version); rc=$?
expect_eq "--version exits 0" 0 $rc
expect_match "--version prints the version and the ABI" '^vcrun version [0-9.]+.*plugin ABI [0-9]+\.[0-9]+' "$(echo $out)"

"$VCRUN" --help >/dev/null; expect_eq "--help exits 0" 0 $?
for c in run create start state kill delete exec ps pause resume list spec check plugins features; do
    out=$("$VCRUN" "$c" --help 2>&1); rc=$?
    if [ $rc -eq 0 ] && printf '%s' "$out" | grep -q "vcrun $c"; then ok 0 "$c --help"; else diag "$out"; ok 1 "$c --help"; fi
done

err=$("$VCRUN" strat x 2>&1); rc=$?
expect_eq "unknown command exits 125" 125 $rc
expect_match "unknown command names a hint" "unknown command 'strat'; did you mean 'start'\?" "$err"
err=$("$VCRUN" frobnicate 2>&1); rc=$?
expect_match "unknown command without a close one" "^vcrun: unknown command 'frobnicate' \(see 'vcrun --help'\)$" "$err"
err=$("$VCRUN" --bus list 2>&1); rc=$?
expect_eq "--bus exits 125 without vcrund" 125 $rc
expect_match "--bus without a reachable vcrund says why" "vcrund|cannot reach the (system|session) bus" "$err"
err=$("$VCRUN" --log-format xml list 2>&1); rc=$?
expect_match "bad --log-format" "log-format takes text or json" "$err"

# runc's command line, as podman and conmon write it.
expect_match "--version in runc's shape (a spec: line)" '^vcrun version [0-9.]+ spec: 1\.[0-9]+\.[0-9]+' "$(echo $("$VCRUN" --version))"
out=$("$VCRUN" features 2>&1); rc=$?
expect_eq "features exits 0" 0 $rc
printf '%s' "$out" | python3 -c 'import json,sys; f=json.load(sys.stdin); assert f["ociVersionMax"].startswith("1.") and "rprivate" in f["mountOptions"] and "tmpcopyup" in f["mountOptions"]' 2>/dev/null
ok $? "features prints the OCI features JSON"
"$VCRUN" --config "$CONF" --root "$ROOT/state" --systemd-cgroup --criu /x --rootless=false \
    --log "$ROOT/log.json" --log-format json list >/dev/null 2>&1
expect_eq "runc's global flags are accepted" 0 $?
grep -q '"level":"info","msg":"ignoring --criu /x' "$ROOT/log.json"; ok $? "... an ignored one is logged (JSON)"
err=$(vc create --no-pivot --no-new-keyring --preserve-fds 2 --bundle "$ROOT" x 2>&1); rc=$?
expect_eq "create --preserve-fds 2 exits 125" 125 $rc
expect_match "... saying no host fd reaches a VM" "preserve-fds 2: a host file descriptor cannot be passed" "$err"
err=$(vc exec --detach --process /dev/null x 2>&1); rc=$?
expect_match "exec --detach needs --pid-file" "exec: --detach needs --pid-file" "$err"
err=$("$VCRUN" --config "$CONF" --root "$ROOT/state" --log "$ROOT/log2.json" --log-format json state nosuch 2>&1)
grep -q '"level":"error","msg":"container nosuch does not exist"' "$ROOT/log2.json"
ok $? "an error goes to --log as runc's callers read it"

# spec
mkdir -p "$ROOT/spec"
vc spec --bundle "$ROOT/spec"; expect_eq "spec exits 0" 0 $?
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["process"]["args"]==["sh"] and s["root"]["path"]=="rootfs"' \
    "$ROOT/spec/config.json"; expect_eq "spec writes a valid config.json" 0 $?
err=$(vc spec --bundle "$ROOT/spec" 2>&1); rc=$?
expect_eq "spec refuses to overwrite (125)" 125 $rc
expect_match "spec names the existing file" "config.json exists already" "$err"

# Errors before any VM is booted.
err=$(vc run --bundle "$ROOT/nonexistent" c1 2>&1); rc=$?
expect_eq "run of a missing bundle exits 125" 125 $rc
expect_match "no such bundle" "^vcrun: no such bundle: .*nonexistent is not a directory$" "$err"
mkdir -p "$ROOT/empty"
err=$(vc create --bundle "$ROOT/empty" c1 2>&1); rc=$?
expect_eq "create of a bundle without config.json exits 125" 125 $rc
expect_match "bundle without config.json" "has no config.json" "$err"
mkdir -p "$ROOT/bad/rootfs"
echo '{"ociVersion":"1.0.2","process":{"args":"sh","cwd":"/"},"root":{"path":"rootfs"}}' > "$ROOT/bad/config.json"
err=$(vc run --bundle "$ROOT/bad" c1 2>&1); rc=$?
expect_eq "invalid config.json exits 125" 125 $rc
expect_match "invalid config.json names the field" "config.json: process.args" "$err"
echo '{"ociVersion":"1.0.2",' > "$ROOT/bad/config.json"
err=$(vc run --bundle "$ROOT/bad" c1 2>&1); rc=$?
expect_match "config.json that is not JSON" "config.json" "$err"
err=$(vc run --bundle "$ROOT/spec" 'bad/id' 2>&1); rc=$?
expect_eq "bad ID exits 125" 125 $rc
expect_match "bad ID is named" "bad/id" "$err"

# Commands on a container that does not exist (these load the plugins).
if "$VCRUN" --config "$CONF" plugins >/dev/null 2>&1; then
    for c in state start delete pause resume ps; do
        err=$(vc $c ghost 2>&1); rc=$?
        if [ $rc -eq 125 ] && [ "$err" = "vcrun: container ghost does not exist" ]; then ok 0 "$c of a missing container"
        else diag "rc=$rc: $err"; ok 1 "$c of a missing container"; fi
    done
    err=$(vc kill ghost KILL 2>&1); expect_match "kill of a missing container" "container ghost does not exist" "$err"
    err=$(vc exec ghost true 2>&1); expect_match "exec in a missing container" "container ghost does not exist" "$err"
    out=$(vc list); rc=$?
    expect_eq "list of an empty state dir exits 0" 0 $rc
    expect_match "list prints the table header" "^ID +PID +STATUS +BUNDLE +CREATED +OWNER$" "$out"
    out=$(vc list --format json)
    expect_eq "list --format json of nothing" "[]" "$(echo $out)"
    out=$("$VCRUN" --config "$CONF" plugins); rc=$?
    expect_eq "plugins exits 0" 0 $rc
    for p in hypervisor-qemu agent-kata fs-virtiofs fs-9p; do
        expect_match "plugins lists $p" "^$p +[^ ]+ +[a-z,]+ +/" "$out"
    done
else
    skip "commands on a missing container" "the configured plugins do not load: $("$VCRUN" --config "$CONF" plugins 2>&1 | head -1)"
fi
err=$(vc kill ghost NOSUCHSIG 2>&1); rc=$?
expect_match "kill with an unknown signal" "unknown signal 'NOSUCHSIG'" "$err"
err=$(vc exec ghost 2>&1)
expect_match "exec without a command" "missing the command to run" "$err"
err=$(vc run -d -t --bundle "$ROOT/spec" c1 2>&1)
expect_match "run -d -t is refused" "--tty and --detach" "$err"

# check on this host: a table; its exit status agrees with its FAIL rows.
out=$("$VCRUN" --config "$CONF" check 2>&1); rc=$?
diag "check on this host exited $rc:"; printf '%s\n' "$out" | sed 's/^/#   /'
if printf '%s' "$out" | grep -q ' FAIL '; then want=1; else want=0; fi
expect_eq "check's exit status matches its FAIL rows" $want $rc
expect_match "check reports QEMU" "qemu" "$out"
expect_match "check reports KVM" "kvm" "$out"
# ... and a configuration whose kernel is missing.
sed -e "s|^\( *kernel = \).*|\1\"$ROOT/no-such-vmlinuz\";|" "$CONF" > "$ROOT/nokernel.conf"
out=$("$VCRUN" --config "$ROOT/nokernel.conf" check 2>&1); rc=$?
expect_eq "check with a missing kernel exits 1" 1 $rc
expect_match "check names the missing kernel" "FAIL.*no-such-vmlinuz" "$out"

tap_done
