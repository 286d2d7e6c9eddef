#!/usr/bin/env bash
# Access control (TAP), on the fake plugins:
#  - every method of the Sandbox and Container interfaces, called by another
#    uid on root's sandbox, gets AccessDenied and changes nothing; every
#    property reads (access.py walks the introspection XML, so a new method
#    is covered the day it is added);
#  - a non-root caller's bundle, rootfs, bind sources and block volume
#    images must be its own, also when reached through a symbolic link or
#    ".."; it may pass no host block device (linux.devices type b), and
#    CreateSandbox's option bundle is checked the same;
#  - an embedded sandbox's state dir and owner.sock are closed to other uids
#    by their modes, and the owner checks the peer's credentials.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (calls as uid 65534)"
fake_setup
as_nobody () { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody true 2>/dev/null || skip_all "setpriv cannot switch to uid 65534"
# The system python: a per-user one (pyenv) may be closed to uid 65534.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
M=org.vcrun.Runtime1.Manager
S=org.vcrun.Runtime1.Sandbox
C=org.vcrun.Runtime1.Container
error_name () { sed -n 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' "$1" | head -1; }

start_bus
start_vcrund "$TMP/vcrun.conf" || { not_ok "vcrund starts"; finish; }

fake_bundle sleep '["sleep", "1000"]'
SB=$(sandbox_path acc)
C1=$(container_path acc c1)
bus call $NAME $MANAGER $M CreateSandbox 'sa{sv}' acc 0 >/dev/null \
  && bus call $NAME "$SB" $S Start && bus call $NAME "$SB" $S CreateContainer ss c1 "$TMP/sleep" >/dev/null \
  && bus call $NAME "$C1" $C Start \
  && ok "root's sandbox runs a container" || { not_ok "root's sandbox"; finish; }

chmod 755 "$TMP"   # the other uid reads the XML through python
if as_nobody "$PY" "$SRC/tests/integration/daemon/access.py" "$XML" "$ADDR" "$SB" "$C1" > "$TMP/access.tap" 2>&1; then
  :
fi
# Renumber access.py's lines into this script's TAP stream.
while IFS= read -r line; do
  case "$line" in
    "ok "*) ok "${line#ok * - }" ;;
    "not ok "*) not_ok "${line#not ok * - }" ;;
    *) echo "$line" ;;
  esac
done < "$TMP/access.tap"
[ "$(prop "$SB" Sandbox State)" = running ] && [ "$(prop "$C1" Container State)" = running ] \
  && ok "after every denied call the sandbox and the container still run" \
  || not_ok "state changed: $(prop "$SB" Sandbox State) / $(prop "$C1" Container State)"

# ---- a non-root caller's paths ---------------------------------------------------
gcall_nobody () { p=$1; m=$2; shift 2; as_nobody gdbus call --address "$ADDR" --dest $NAME --object-path "$p" --method "$m" "$@"; }
S9=$(sandbox_path mine)
gcall_nobody $MANAGER $M.CreateSandbox mine '{}' > "$TMP/out" 2>&1 && gcall_nobody "$S9" $S.Start > "$TMP/out" 2>&1 \
  && ok "uid 65534 runs a sandbox of its own" || not_ok "nobody's sandbox: $(cat "$TMP/out")"
U="$TMP/u"; mkdir -p "$U/secret" && chmod 755 "$U"
# nobody_bundle NAME ROOTFS [MOUNT_SOURCE]: a bundle of uid 65534.
nobody_bundle () {
  mkdir -p "$U/$1"
  [ -n "$2" ] && ln -sfn "$2" "$U/$1/rootfs"
  mounts=""
  [ -n "$3" ] && mounts=", \"mounts\": [ { \"destination\": \"/mnt\", \"type\": \"bind\", \"source\": \"$3\", \"options\": [\"bind\"] } ]"
  cat > "$U/$1/config.json" <<JSON
{ "ociVersion": "1.0.2", "process": { "args": ["true"], "cwd": "/" }, "root": { "path": "rootfs" }$mounts }
JSON
  chown -hR 65534:65534 "$U/$1"
}
mkdir -p "$U/own-rootfs"; chown 65534:65534 "$U/own-rootfs"
expect_denied () {
  d=$1; shift
  gcall_nobody "$S9" $S.CreateContainer "$@" > "$TMP/out" 2>&1
  if [ "$(error_name "$TMP/out")" = org.vcrun.Runtime1.Error.AccessDenied ]; then
    ok "$d: AccessDenied ($(sed 's/.*AccessDenied: //' "$TMP/out"))"
  else
    not_ok "$d: $(cat "$TMP/out")"
  fi
}
nobody_bundle link-rootfs /etc
expect_denied "a rootfs that is the caller's symlink to root's /etc" c1 "$U/link-rootfs"
nobody_bundle dotdot-rootfs "../secret"
expect_denied "a rootfs reached through .. into root's directory" c1 "$U/dotdot-rootfs"
ln -sfn /root "$U/link-to-root"; chown -h 65534:65534 "$U/link-to-root"
nobody_bundle link-mount "$U/own-rootfs" "$U/link-to-root"
expect_denied "a bind source that is the caller's symlink to /root" c1 "$U/link-mount"
nobody_bundle dotdot-mount "$U/own-rootfs" "$U/own-rootfs/../secret"
expect_denied "a bind source reached through .." c1 "$U/dotdot-mount"
# block volumes: vcrund's VMM opens the image or device as root
block_bundle () {  # NAME MEMBERS: a bundle of uid 65534 on its own rootfs
  mkdir -p "$U/$1"; ln -sfn "$U/own-rootfs" "$U/$1/rootfs"
  cat > "$U/$1/config.json" <<JSON
{ "ociVersion": "1.0.2", "process": { "args": ["true"], "cwd": "/" }, "root": { "path": "rootfs" }, $2 }
JSON
  chown -hR 65534:65534 "$U/$1"
}
truncate -s 1M "$U/root.img"
truncate -s 1M "$U/own.img"; chown 65534:65534 "$U/own.img"
block_bundle root-image "\"mounts\": [ { \"destination\": \"/data\", \"type\": \"ext4\", \"source\": \"$U/root.img\" } ]"
expect_denied "a block volume whose image is root's" c1 "$U/root-image"
block_bundle host-disk '"linux": { "devices": [ { "path": "/dev/vol0", "type": "b", "major": 7, "minor": 0 } ] }'
expect_denied "a host block device by linux.devices" c1 "$U/host-disk"
block_bundle own-image "\"mounts\": [ { \"destination\": \"/data\", \"type\": \"ext4\", \"source\": \"$U/own.img\" } ]"
gcall_nobody "$S9" $S.CreateContainer c1 "$U/own-image" > "$TMP/out" 2>&1
[ "$(error_name "$TMP/out")" != org.vcrun.Runtime1.Error.AccessDenied ] \
  && ok "an image of the caller's own passes the owner check ($(sed 's/.*Error\.//' "$TMP/out" | cut -c1-120))" \
  || not_ok "own image: $(cat "$TMP/out")"
gcall_nobody $MANAGER $M.CreateSandbox cold "{'bundle': <'$U/root-image'>}" > "$TMP/out" 2>&1
[ "$(error_name "$TMP/out")" = org.vcrun.Runtime1.Error.AccessDenied ] \
  && ok "CreateSandbox's option bundle is checked the same: AccessDenied ($(sed 's/.*AccessDenied: //' "$TMP/out"))" \
  || not_ok "CreateSandbox bundle option: $(cat "$TMP/out")"
# Through the caller's symlink to root's image, and through ".." into a
# directory of root's: the image reached is what counts.
volume () { echo "\"mounts\": [ { \"destination\": \"/data\", \"type\": \"ext4\", \"source\": \"$1\" } ]"; }
truncate -s 1M "$U/secret/inner.img"
ln -sfn "$U/root.img" "$U/link-to-image"; chown -h 65534:65534 "$U/link-to-image"
block_bundle vol-link "$(volume "$U/link-to-image")"
expect_denied "a block volume through the caller's symlink to root's image" c5 "$U/vol-link"
block_bundle vol-dotdot "$(volume "$U/own-rootfs/../secret/inner.img")"
expect_denied "a block volume reached through .. into root's directory" c5 "$U/vol-dotdot"
block_bundle dev-none '"linux": { "devices": [ { "type": "b", "path": "/dev/xvdb", "major": 4095, "minor": 1048575 } ] }'
expect_denied "a linux.devices block device the host does not even have" c5 "$U/dev-none"
nobody_bundle good "$U/own-rootfs"
gcall_nobody "$S9" $S.CreateContainer c1 "$U/good" > "$TMP/out" 2>&1 \
  && ok "the caller's own bundle, rootfs and all, is accepted" || not_ok "own bundle: $(cat "$TMP/out")"
bus call $NAME "$S9" $S Delete b true || not_ok "delete mine"

# ---- embedded mode: the state dir and owner.sock ---------------------------------
"$VCRUN" --config "$TMP/vcrun.conf" run -d --bundle "$TMP/sleep" emb > "$TMP/out" 2>&1 \
  && ok "an embedded detached container runs" || not_ok "vcrun run -d: $(cat "$TMP/out")"
dir="$TMP/state/emb"; sock="$dir/owner.sock"
[ "$(stat -c %a "$dir")" = 700 ] && ok "its state dir is 0700" || not_ok "state dir mode $(stat -c %a "$dir")"
[ "$(stat -c %a "$sock")" = 600 ] && ok "owner.sock is 0600" || not_ok "owner.sock mode $(stat -c %a "$sock")"
out=$(as_nobody "$VCRUN" --config "$TMP/vcrun.conf" state emb 2>&1); st=$?
[ $st -ne 0 ] && ok "another uid cannot reach it through vcrun ($st: $out)" || not_ok "nobody vcrun state: $out"
# Past the modes (a copy of the dir's permissions opened up): the owner
# itself refuses a peer of another uid.
chmod 711 "$dir"; chmod 666 "$sock"
out=$(as_nobody "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(b"{\"op\": \"state\"}\n")
except BrokenPipeError:
    pass   # refused before the request was read
print(s.recv(4096).decode().strip())' "$sock" 2>&1)
case "$out" in
  *"uid 65534 may not use the owner"*) ok "the owner checks SO_PEERCRED: $out" ;;
  *) not_ok "the owner answered another uid: $out" ;;
esac
chmod 700 "$dir"; chmod 600 "$sock"
out=$("$VCRUN" --config "$TMP/vcrun.conf" state emb 2>&1)
printf '%s' "$out" | grep -q '"status" *: *"running"' && ok "root still reaches it" || not_ok "root state emb: $out"
"$VCRUN" --config "$TMP/vcrun.conf" delete -f emb && ok "deleted" || not_ok "delete emb"
finish
