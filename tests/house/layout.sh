#!/usr/bin/env bash
# The house rules, checked on the source tree (TAP):
#  - outside core/, only libvcrun.h of core's headers is included (tests/ may
#    reach inside: unit tests test internals);
#  - plugins/ and guest/ include no core header at all (the public
#    <vcrun/...> headers are their whole contract);
#  - no C source file in core/ or cli/ is over 800 lines.
# Each rule is first run on a small tree that breaks it, so that a rule that
# can no longer fail is noticed.
set -u
top=${VCRUN_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
n=0 failed=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
diag()   { printf '# %s\n' "$@"; }

# Prints "file:line: text" for each include of a core header in DIRS below
# ROOT. ALLOWED: a header that may be included ("" for none).
core_includes() {
  local root=$1 allowed=$2; shift 2
  local headers h pattern
  headers=$(cd "$root/core" && ls -1 *.h 2>/dev/null | grep -vx "${allowed:-/}")
  [ -n "$headers" ] || return 0
  pattern=$(for h in $headers; do printf '%s|' "${h//./\\.}"; done)
  pattern="#[[:space:]]*include[[:space:]]+\"([^\"]*/)?(${pattern%|})\""
  for d in "$@"; do
    [ -d "$root/$d" ] || continue
    grep -rEn --include='*.c' --include='*.h' "$pattern" "$root/$d" | sed "s|^$root/||"
  done
}

# Prints "file: N lines" for each .c/.h in DIRS below ROOT over 800 lines.
long_files() {
  local root=$1; shift
  for d in "$@"; do
    find "$root/$d" -maxdepth 1 \( -name '*.c' -o -name '*.h' \) -print0 |
      xargs -0 -r wc -l | awk -v root="$root/" '$2 != "total" && $1 > 800 { sub(root, "", $2); print $2 ": " $1 " lines" }'
  done
}

echo "1..6"

# Self-test on a tree that breaks each rule.
bad=$(mktemp -d); trap 'rm -rf "$bad"' EXIT
mkdir -p "$bad/core" "$bad/cli" "$bad/plugins/x"
: > "$bad/core/libvcrun.h"; : > "$bad/core/registry.h"
printf '#include "libvcrun.h"\n#include "../core/registry.h"\n' > "$bad/cli/a.c"
printf '#include "registry.h"\n' > "$bad/plugins/x/b.c"
seq 801 | sed 's/^/int x/' > "$bad/cli/long.c"
found=$(core_includes "$bad" libvcrun.h cli; core_includes "$bad" "" plugins)
if [ "$(printf '%s\n' "$found" | grep -c .)" = 2 ] && [[ "$found" == *"cli/a.c:2:"* ]] \
   && [[ "$found" == *"plugins/x/b.c:1:"* ]]; then
  ok "the include rule finds the two bad includes of a broken tree"
else
  not_ok "the include rule finds the two bad includes of a broken tree"; diag "$found"
fi
found=$(long_files "$bad" cli)
if [ "$found" = "cli/long.c: 801 lines" ]; then ok "the length rule finds an 801-line file"
else not_ok "the length rule finds an 801-line file"; diag "$found"; fi

found=$(core_includes "$top" libvcrun.h cli daemon bench examples)
if [ -z "$found" ]; then ok "cli/, daemon/, bench/ and examples/ include only libvcrun.h of core's headers"
else not_ok "cli/, daemon/, bench/ and examples/ include only libvcrun.h of core's headers"; diag $found; fi

found=$(core_includes "$top" "" plugins guest)
if [ -z "$found" ]; then ok "plugins/ and guest/ include no core header"
else not_ok "plugins/ and guest/ include no core header"; diag $found; fi

found=$(long_files "$top" core cli)
if [ -z "$found" ]; then ok "no source file in core/ or cli/ is over 800 lines"
else not_ok "no source file in core/ or cli/ is over 800 lines"; diag "$found"; fi

# libvcrun.h is a face, not a back door: the headers it includes (and
# theirs) are the face; none of them includes a header outside it.
face=$(grep -o '^#include "[a-z-]*\.h"' "$top/core/libvcrun.h" | cut -d'"' -f2)
found=""
for h in $face; do
  for inc in $(grep -o '^#include "[a-z-]*\.h"' "$top/core/$h" | cut -d'"' -f2); do
    printf '%s\n' $face | grep -qx "$inc" || found="$found core/$h includes $inc;"
  done
done
if [ -n "$face" ] && [ -z "$found" ]; then ok "the headers of libvcrun.h's face include no internal header"
else not_ok "the headers of libvcrun.h's face include no internal header"; diag "face: $(echo $face)" "$found"; fi

exit $failed
