#!/bin/bash
# Crash consistency of the store's outbox: store_burst appends events in
# bursts of transactions (some rolled back, with periodic deliver + prune)
# and prints each seq only after its COMMIT returned; we kill -9 it at random
# moments, 25 times, and after every kill check that the database opens,
# PRAGMA integrity_check is ok, every printed (committed) seq is in the
# store, rows are gapless and the next seq follows the highest.
# This simulates a process crash, not a power cut (the page cache survives a
# kill); power-loss durability rests on synchronous=FULL, see docs/store.md.
. "$(dirname "$0")/../lib/common.sh"

BURST=$GRIDGW_TOP/$BUILD/tests/store_burst
if [ ! -x "$BURST" ]; then
	tap_fail "store_burst helper built ($BURST missing)"
	tap_done; exit 1
fi
state=$TMP/state
mkdir -p "$state"
kills=25
files=()
total_ok=0
for ((i = 1; i <= kills; i++)); do
	out=$TMP/printed.$i
	files+=("$out")
	"$BURST" "$state" run 20 >"$out" 2>>"$TMP/burst.log" &
	pid=$!
	sleep "$(printf '0.%03d' $((30 + RANDOM % 300)))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	res=$("$BURST" "$state" verify "${files[@]}" 2>&1)
	if [ $? = 0 ]; then
		tap_ok "kill -9 #$i: store intact, every committed seq present ($res)"
		total_ok=$((total_ok + 1))
	else
		tap_fail "kill -9 #$i: $res"
		tail -n 5 "$TMP/burst.log" | sed 's/^/# /'
	fi
done
printed=$(cat "${files[@]}" | grep -c '^[0-9]*$')
check "the bursts committed events between kills ($printed printed)" test "$printed" -gt 100
if command -v sqlite3 >/dev/null; then
	ic=$(sqlite3 "$state/gridgw.db" 'PRAGMA integrity_check;' 2>&1)
	check "sqlite3 CLI agrees: integrity_check = $ic" test "$ic" = ok
fi
tap_done
