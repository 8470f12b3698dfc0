#!/bin/bash
# Module arrows (docs/architecture.md): common/ depends on nothing of ours,
# rules/ and sensors/ only on common/, gateway/ on all three. The checker
# passes on the tree and fails on a copy with one back-arrow planted in each
# lower module.
source "$(dirname "$0")/../lib/common.sh"
cd "$GRIDGW_TOP" || exit 1

out=$(scripts/check-arrows.sh . 2>&1); rc=$?
check "no back-arrow in the tree (exit 0)" test "$rc" = 0
[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'

plant() { # folder file include -> checker output on a copy with it planted
	local copy=$TMP/tree-$1
	mkdir -p "$copy"
	cp -r common rules sensors gateway "$copy/"
	printf '#include "%s"\n' "$3" >>"$copy/$1/$2"
	scripts/check-arrows.sh "$copy"
}
for case in "rules engine.h gateway/config/config.h" "rules expr.c sensors/decode.h" \
	    "sensors decode.h gateway/store/store.h" "common model.h rules/expr.h" "gateway core/loop.c sim/sim.h"; do
	set -- $case
	out=$(plant "$1" "$2" "$3"); rc=$?
	check "a planted $1/ -> ${3%%/*}/ include is refused" test "$rc" = 1
	check "and named with its file" grep -q "back-arrow: $1/$2:.*$3" <<<"$out"
done
tap_done
