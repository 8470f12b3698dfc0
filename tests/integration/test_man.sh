#!/bin/bash
# The man pages (man/, plain roff): `man --warnings -l` renders each without
# a single warning, and they are complete: every sub-command of `gridgw
# --help` and every long option of each `gridgw CMD --help` is in gridgw(8),
# every option of `gridgw-sim --help` in gridgw-sim(1), every key of the
# tables of docs/configuration.md in gridgw.conf(5). The checker must fail
# on a page with a roff mistake and on one missing an option.
. "$(dirname "$0")/../lib/common.sh"
MAN=$GRIDGW_TOP/man
export LC_ALL=C.UTF-8 MANWIDTH=1000
if ! command -v man >/dev/null 2>&1; then
	echo "ok 1 - # SKIP man (man-db) not installed"; echo "1..1"; exit 0
fi

warnings() { # page -> the warnings man prints for it (stderr), nothing if clean
	man --warnings -l "$1" 2>&1 >/dev/null
}
render() { man -l "$1" 2>/dev/null | col -b; }

for page in gridgw.8 gridgw.conf.5 gridgw-sim.1; do
	w=$(warnings "$MAN/$page")
	[ -z "$w" ] || echo "$w" | head -n 5 | sed 's/^/# /'
	check "man --warnings -l $page: no warnings" test -z "$w"
done

# missing PAGE WORD...: prints the words the rendered page lacks
missing() {
	local page=$1 text w; shift
	text=$(render "$page")
	for w in "$@"; do grep -qwF -- "$w" <<<"$text" || printf '%s ' "$w"; done
}

cmds=$("$GRIDGW" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')
check "gridgw --help lists commands ($(echo $cmds | wc -w))" test -n "$cmds"
opts=""
for c in $cmds; do
	opts="$opts $("$GRIDGW" "$c" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | tr '\n' ' ')"
done
opts=$(echo $opts | tr ' ' '\n' | sort -u)
m=$(missing "$MAN/gridgw.8" $cmds $opts)
check "gridgw(8) has every command and option (missing: ${m:-none})" test -z "$m"

simopts=$("$GRIDGW_SIM" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
m=$(missing "$MAN/gridgw-sim.1" $simopts)
check "gridgw-sim(1) has every option of gridgw-sim --help (missing: ${m:-none})" test -z "$m"

# Keys: the first column of every table in docs/configuration.md ("`a`, `b`").
keys=$(grep -E '^\| `' "$GRIDGW_TOP/docs/configuration.md" | cut -d'|' -f2 | grep -oE '`[a-z_]+`' | tr -d '`' | sort -u)
check "docs/configuration.md has key tables ($(echo $keys | wc -w) keys)" test "$(echo $keys | wc -w)" -gt 50
m=$(missing "$MAN/gridgw.conf.5" $keys)
check "gridgw.conf(5) has every key of docs/configuration.md (missing: ${m:-none})" test -z "$m"

# The checks can fail.
sed 's/^\.SH DESCRIPTION$/.SH DESCRIPTION\n.XYZZY not a macro/' "$MAN/gridgw.8" >"$TMP/bad.8"
check "a page with an undefined macro gives warnings" test -n "$(warnings "$TMP/bad.8")"
grep -v 'json' "$MAN/gridgw.8" >"$TMP/nojson.8"
check "a page without --json is found missing it" test -n "$(missing "$TMP/nojson.8" --json)"
tap_done
