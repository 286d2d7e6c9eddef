#!/bin/bash
# The shipped configurations list only the plugins a build has: for every
# choice of the four plugin switches, both templates (etc/vcrun.conf.in and
# etc/vcrun-uninstalled.conf.in) expand to a file vcrun accepts, whose
# plugin list and sandbox defaults name only the plugins built.
. "$(dirname "$0")/lib.sh"
set -u

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/vcrun-configs.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
plugins=(hypervisor-qemu agent-kata fs-virtiofs fs-9p)
# The other plugins the templates may list are left out of every expansion:
# this test is about the four switches above.
others="device-block hypervisor-libvirt hypervisor-clh"
PLUGIN_DIRS=$top_builddir/plugins/hypervisor-qemu/.libs:$top_builddir/plugins/agent-kata/.libs:$top_builddir/plugins/fs-virtiofs/.libs:$top_builddir/plugins/fs-9p/.libs
for p in "${plugins[@]}"; do
    if [ ! -f "$top_builddir/plugins/$p/.libs/$p.so" ]; then
        echo "1..0 # SKIP plugin $p is not built"
        exit 0
    fi
done

for template in vcrun.conf.in vcrun-uninstalled.conf.in; do
    for mask in $(seq 0 15); do
        kept=() dropped=()
        for i in 0 1 2 3; do
            if [ $(( (mask >> i) & 1 )) -eq 1 ]; then dropped+=("${plugins[$i]}"); else kept+=("${plugins[$i]}"); fi
        done
        fs=
        case " ${kept[*]} " in
            *" fs-virtiofs "*) fs=fs-virtiofs ;;
            *" fs-9p "*) fs=fs-9p ;;
        esac
        conf=$ROOT/$template.$mask
        # A make of its own: one started from make check's would print
        # "Entering directory" lines into the file.
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s --no-print-directory \
            -C "$top_builddir/etc" print-config TEMPLATE="$template" \
            disabled_plugins="${dropped[*]} $others" default_fs="$fs" 2> "$ROOT/err" \
            | grep -Ev '^g?make(\[[0-9]+\])?: ' > "$conf"
        what="$template without [${dropped[*]}]"
        # Loaded from this build's plugin directories whatever the template says.
        sed -i -e '/^ *plugin_dir =/d' -e "s|^runtime: {|runtime: { plugin_dir = \"$PLUGIN_DIRS\";|" "$conf"
        listed=$("$VCRUN" --config "$conf" plugins 2>&1 | awk '$1 ~ /^(hypervisor-qemu|agent-kata|fs-virtiofs|fs-9p)$/ { print $1 }' | sort | tr '\n' ' ')
        expected=$(printf '%s\n' "${kept[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
        "$VCRUN" --config "$conf" plugins > /dev/null 2> "$ROOT/err"; rc=$?
        if [ $rc -ne 0 ]; then
            diag "$(cat "$ROOT/err")"; sed 's/^/#   /' "$conf"
        fi
        ok $rc "$what: vcrun accepts it"
        expect_eq "$what: it lists the plugins built" "$expected" "$listed"
        defaults=$(sed -n 's/^ *\(hypervisor\|agent\|fs\) = "\([^"]*\)".*/\2/p' "$conf" | sort | tr '\n' ' ')
        want=$(printf '%s\n' "${kept[@]}" | grep -v '^fs-' | sed '/^$/d'; [ -n "$fs" ] && echo "$fs")
        want=$(printf '%s\n' $want | sed '/^$/d' | sort | tr '\n' ' ')
        expect_eq "$what: sandbox defaults name only plugins built" "$want" "$defaults"
    done
done
tap_done
