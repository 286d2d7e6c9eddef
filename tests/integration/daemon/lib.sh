# Sourced by the vcrund tests: TAP helpers, a private dbus-daemon, vcrund.
#
# The bus is a dbus-daemon of its own with a configuration that lets any
# local user connect (EXTERNAL authentication, <allow user="*"/>), so that a
# test can call as another uid; vcrund talks to it with --address.

BUILD=${VCRUN_TOP_BUILDDIR:?run through make check}
SRC=${VCRUN_TOP_SRCDIR:?run through make check}
VCRUND="$BUILD/daemon/vcrund"
CLIENT="$BUILD/tests/integration/daemon/vcd-client"
XML="$SRC/data/org.vcrun.Runtime1.xml"
NAME=org.vcrun.Runtime1
MANAGER=/org/vcrun/Runtime1

test_n=0
test_failed=0
ok ()     { test_n=$((test_n + 1)); echo "ok $test_n - $*"; }
not_ok () { test_n=$((test_n + 1)); echo "not ok $test_n - $*"; test_failed=$((test_failed + 1)); }
skip ()   { test_n=$((test_n + 1)); echo "ok $test_n # SKIP $*"; }
note ()   { echo "# $*"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds.
check ()  { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
finish () { echo "1..$test_n"; [ "$test_failed" -eq 0 ]; exit $?; }

# Needs: skip the whole script when something is missing.
skip_all () { echo "1..0 # SKIP $*"; exit 0; }
for tool in dbus-daemon busctl gdbus python3 setpriv bc stdbuf; do
  command -v $tool >/dev/null 2>&1 || skip_all "$tool is not installed"
done
[ -x "$VCRUND" ] || skip_all "vcrund is not built"
[ -x "$CLIENT" ] || skip_all "vcd-client is not built"

TMP=$(mktemp -d /tmp/vcrund-test.XXXXXX)
chmod 755 "$TMP"
BUS_PID=
VCRUND_PID=
MONITOR_PID=

cleanup () {
  [ -n "$MONITOR_PID" ] && kill "$MONITOR_PID" 2>/dev/null
  [ -n "$VCRUND_PID" ] && kill -9 "$VCRUND_PID" 2>/dev/null
  [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
  # VMs a failed test left: QEMU processes whose pid files are under $TMP.
  for f in $(find "$TMP" -name '*.pid' 2>/dev/null); do
    p=$(cat "$f" 2>/dev/null)
    case "$p" in ''|*[!0-9]*) continue ;; esac
    grep -q qemu "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p" 2>/dev/null
  done
  if [ -n "$VCRUND_TEST_KEEP" ]; then echo "# kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

start_bus () {
  cat > "$TMP/bus.conf" <<EOF
<busconfig>
  <type>session</type>
  <listen>unix:path=$TMP/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
  # umask 0: the socket must be writable by the other uid too.
  BUS_PID=$(umask 0; dbus-daemon --config-file="$TMP/bus.conf" --fork --print-pid) \
    || skip_all "cannot start a dbus-daemon"
  ADDR="unix:path=$TMP/bus"
  export DBUS_SESSION_BUS_ADDRESS="$ADDR"
}

# bus ARGS...: busctl on the private bus.
bus () { busctl --address="$ADDR" "$@"; }
# gcall PATH IFACE.METHOD ARGS...: gdbus call on the private bus.
gcall () { p=$1; m=$2; shift 2; gdbus call --address "$ADDR" --dest $NAME --object-path "$p" --method "$m" "$@"; }
# prop PATH IFACE PROPERTY: the value alone (busctl's text without the type).
prop () { bus get-property $NAME "$1" "org.vcrun.Runtime1.$2" "$3" | cut -d' ' -f2- | tr -d '"'; }

# start_vcrund CONFIG [ARGS...]: starts vcrund and waits for its name.
start_vcrund () {
  conf=$1; shift
  "$VCRUND" --address "$ADDR" --config "$conf" --verbose "$@" >> "$TMP/vcrund.log" 2>&1 &
  VCRUND_PID=$!
  for _ in $(seq 100); do
    gdbus call --address "$ADDR" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
      --method org.freedesktop.DBus.NameHasOwner $NAME 2>/dev/null | grep -q true && return 0
    kill -0 "$VCRUND_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "# vcrund did not come up; its log:"; sed 's/^/#   /' "$TMP/vcrund.log"
  return 1
}

# stop_vcrund [SIGNAL]: sends the signal (TERM) and waits; sets VCRUND_STATUS.
stop_vcrund () {
  kill -"${1:-TERM}" "$VCRUND_PID"
  wait "$VCRUND_PID"
  VCRUND_STATUS=$?
  VCRUND_PID=
}

# start_monitor FILE: records every signal from vcrund (gdbus monitor).
start_monitor () {
  stdbuf -oL gdbus monitor --address "$ADDR" --dest $NAME > "$1" 2>&1 &
  MONITOR_PID=$!
  sleep 0.5
}
stop_monitor () { kill "$MONITOR_PID" 2>/dev/null; wait "$MONITOR_PID" 2>/dev/null; MONITOR_PID=; }

# wait_for SECONDS COMMAND...: polls until the command succeeds.
wait_for () {
  t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}

# The object path of an ID (vcrund's escaping: bytes outside [A-Za-z0-9] as _XX).
escape_id () {
  printf '%s' "$1" | od -An -tx1 -v | tr -s ' ' '\n' | grep -v '^$' | while read -r h; do
    c=$(printf "\\x$h")
    case "$c" in [A-Za-z0-9]) printf '%s' "$c" ;; *) printf '_%s' "$h" ;; esac
  done
}
sandbox_path () { echo "$MANAGER/sandbox/$(escape_id "$1")"; }
container_path () { echo "$(sandbox_path "$1")/container/$(escape_id "$2")"; }

# fake_setup: $FAKES and $VCRUN, and $TMP/vcrun.conf naming the test-only fake
# plugins (state in $TMP/state); skips the script when they are not built.
fake_setup () {
  FAKES="$BUILD/tests/fake/.libs"
  VCRUN="$BUILD/cli/vcrun"
  [ -f "$FAKES/fake-hypervisor.so" ] || skip_all "the fake plugins are not built (tests/fake)"
  [ -x "$VCRUN" ] || skip_all "vcrun is not built"
  cat > "$TMP/vcrun.conf" <<CONF
runtime: { state_dir = "$TMP/state"; plugin_dir = "$FAKES"; };
plugins: ( { name = "fake-hypervisor"; }, { name = "fake-agent"; }, { name = "fake-fs"; } );
sandbox: { hypervisor = "fake-hypervisor"; agent = "fake-agent"; fs = "fake-fs";
           kernel = "/nonexistent/vmlinuz"; initrd = "/nonexistent/initrd.img"; };
CONF
}

# fake_bundle NAME ARGS_JSON: $TMP/NAME, a bundle for the fake agent.
fake_bundle () {
  mkdir -p "$TMP/$1/rootfs"
  cat > "$TMP/$1/config.json" <<JSON
{ "ociVersion": "1.0.2", "process": { "args": $2, "cwd": "/", "env": [ "A=1" ] },
  "root": { "path": "rootfs" }, "annotations": { "k": "v" } }
JSON
}
