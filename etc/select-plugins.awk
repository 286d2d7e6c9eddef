# Drops from a configuration template the parts of plugins this build leaves
# out: the lines between "#@if NAME" and "#@endif" go when NAME is in
# drop (" a b "), or when NAME is empty. Inside "#@list" ... "#@endlist"
# (a libconfig list, which takes no trailing comma), the entries kept are
# joined with commas.
function emit(line) { out[++lines] = line }
/^[ \t]*#@list[ \t]*$/    { inlist = 1; kept = 0; next }
/^[ \t]*#@endlist[ \t]*$/ { inlist = 0; next }
/^[ \t]*#@if[ \t]/ {
  skip = ($2 == "" || index(drop, " " $2 " ") > 0)
  if (inlist && !skip && kept++ > 0)
    out[lines] = out[lines] ","
  next
}
/^[ \t]*#@endif[ \t]*$/ { skip = 0; next }
!skip { emit($0) }
END { for (i = 1; i <= lines; i++) print out[i] }
