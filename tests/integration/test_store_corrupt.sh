#!/bin/bash
# A damaged store must not stop local alarming (issue #14 item 6). For each
# of: a truncated file, a garbage header, 4 KiB of garbage over a page in the
# middle, a zero-length file — `gridgw run` on it with a broker and a
# simulated smoke detector:
# - starts (before the fix: exit 1, or for the empty file a silent seq 1);
# - moves the old file aside as gridgw.db.corrupt-<time>, byte-identical;
# - raises gateway.storage, which reaches the platform with the reason;
# - a smoke alarm raised after the start reaches the platform;
# - every new event carries a `store` id other than the old store's.
# And a store it cannot write (a read-only file system) is never moved aside:
# a clear error, the file untouched.
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "sc"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0";
  reconnect_min = "1s"; reconnect_max = "1s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
devices = ( { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; } );
CONF
record_topic rec "grid/v1/sc/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@" >/dev/null; }
start_gw() { "$GRIDGW" run -c "$TMP/gw.conf" >"$TMP/gw-$1.log" 2>&1 & GW=$!; SPAWNED+=($GW); }
stop_gw() { kill -TERM "$GW"; wait_for "! kill -0 $GW 2>/dev/null" 15; }
since() { tail -n +"$(($1 + 1))" "$TMP/rec.log"; } # platform messages after line N
store_ids() { grep -o '"store":"[^"]*"' | cut -d'"' -f4 | sort -u; }

# The old store: a few incident events, then history rows so that the file
# has pages in the middle worth damaging.
start_gw old
wait_for "[ -S $TMP/state/gridgw.sock ]" 10
sim set smoke-a alarm 1
check "old store: an alarm reaches the platform" wait_for "grep -q '\"event\":\"raised\",\"type\":\"fire.smoke\"' $TMP/rec.log" 15
sim set smoke-a alarm 0
wait_for "grep -q '\"event\":\"cleared\",\"type\":\"fire.smoke\"' $TMP/rec.log" 15
stop_gw
OLD=$(store_ids <"$TMP/rec.log")
check "old store: events carry one store id ($OLD)" test "$(echo "$OLD" | wc -l)" = 1 -a ${#OLD} = 26
SEEN=$OLD
sqlite3 "$TMP/state/gridgw.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
  INSERT INTO readings (device, point, value, quality, ts_ms) SELECT 'smoke-a', 'smoke', i * 0.001, 0,
  1700000000000 + i FROM n;" || tap_fail "history rows"
cp "$TMP/state/gridgw.db" "$TMP/golden.db"
rm -rf "$TMP/state"
check "old store: intact ($(stat -c %s "$TMP/golden.db") bytes)" \
	test "$(sqlite3 "$TMP/golden.db" 'PRAGMA quick_check')" = ok
# A page of the readings table halfway through it.
MID=$(sqlite3 "$TMP/golden.db" "SELECT pageno FROM dbstat WHERE name = 'readings' ORDER BY pageno
  LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'readings')")
PS=$(sqlite3 "$TMP/golden.db" 'PRAGMA page_size')
SIZE=$(stat -c %s "$TMP/golden.db")

damage() { # case file
	case $1 in
	truncated) truncate -s $((SIZE / 2 / PS * PS + 1000)) "$2" ;;
	header) yes 'not a database header' | head -c 100 | dd of="$2" conv=notrunc status=none ;;
	middle) yes 'gridgw garbage' | head -c 4096 | dd of="$2" bs="$PS" seek=$((MID - 1)) conv=notrunc status=none ;;
	empty) : >"$2" ;;
	esac
}

for c in truncated header middle empty; do
	mkdir -p "$TMP/state"
	cp "$TMP/golden.db" "$TMP/state/gridgw.db"
	damage "$c" "$TMP/state/gridgw.db"
	cp "$TMP/state/gridgw.db" "$TMP/$c.orig"
	mark=$(wc -l <"$TMP/rec.log")
	start_gw "$c"
	check "$c: gridgw starts" wait_for "[ -S $TMP/state/gridgw.sock ]" 20
	check "$c: still running" kill -0 "$GW"
	aside=$(ls "$TMP"/state/gridgw.db.corrupt-* 2>/dev/null | grep -v -- '-wal$\|-shm$')
	check "$c: old file moved aside ($(basename "${aside:-none}"))" test "$(echo "$aside" | grep -c .)" = 1
	check "$c: moved aside byte-identical" cmp -s "$TMP/$c.orig" "${aside:-/nonexistent}"
	check "$c: gateway.storage with the reason reaches the platform" wait_for \
		"since $mark | grep '\"event\":\"raised\",\"type\":\"gateway.storage\"' | grep -q '\"message\":\"Store [a-z ]*\(corrupt\|empty\) ('" 15
	sim set smoke-a alarm 1
	check "$c: a smoke alarm after the start reaches the platform" \
		wait_for "since $mark | grep -q '\"event\":\"raised\",\"type\":\"fire.smoke\"'" 15
	sim set smoke-a alarm 0
	wait_for "since $mark | grep -q '\"event\":\"cleared\",\"type\":\"fire.smoke\"'" 15
	NEW=$(since "$mark" | store_ids)
	check "$c: every new event carries one new store id ($NEW)" \
		test "$(echo "$NEW" | wc -l)" = 1 -a ${#NEW} = 26 -a "$NEW" != "$OLD"
	check "$c: an id no earlier store had" bash -c "! echo '$SEEN' | grep -qx '$NEW'"
	SEEN="$SEEN
$NEW"
	check "$c: new events start again at seq 1" \
		bash -c "since() { tail -n +$((mark + 1)) '$TMP/rec.log'; }; since | grep -q '\"seq\":1,'"
	if [ "$c" = empty ]; then
		check "$c: said at WARN" grep -q 'WARN.*was empty (0 bytes): moved aside' "$TMP/gw-$c.log"
	else
		check "$c: said at ERROR" grep -q 'ERROR.*is corrupt (.*): moved aside' "$TMP/gw-$c.log"
	fi
	stop_gw
	if [ "$c" = header ]; then
		# The replaced-store incident outlives a restart: the start-up size-cap
		# check (the first prune) clears only its own condition.
		mark2=$(wc -l <"$TMP/rec.log")
		start_gw "$c-again"
		wait_for "[ -S $TMP/state/gridgw.sock ]" 20
		sim set smoke-a alarm 1
		wait_for "since $mark2 | grep -q '\"event\":\"raised\",\"type\":\"fire.smoke\"'" 15
		sim set smoke-a alarm 0
		wait_for "since $mark2 | grep -q '\"event\":\"cleared\",\"type\":\"fire.smoke\"'" 15
		check "$c: after a restart gateway.storage is still open, not cleared by the gateway" bash -c \
			"! tail -n +$((mark2 + 1)) '$TMP/rec.log' | grep -q '\"type\":\"gateway.storage\"' &&
			 '$GRIDGW' incidents -c '$TMP/gw.conf' --json | jq -e '[.[] | select(.type == \"gateway.storage\")] | length == 1' >/dev/null"
		stop_gw
	fi
	rm -rf "$TMP/state"
done

# A second `gridgw run` on the state_dir of a running one stops at the
# instance lock, before its start-up check could move the live store aside
# (here the file looks corrupt on disk while the first daemon runs on it).
mkdir -p "$TMP/state"
cp "$TMP/golden.db" "$TMP/state/gridgw.db"
start_gw first
wait_for "[ -S $TMP/state/gridgw.sock ]" 20 || tap_fail "first daemon up"
damage header "$TMP/state/gridgw.db"
timeout 30 "$GRIDGW" run -c "$TMP/gw.conf" >"$TMP/gw-second.log" 2>&1
rc=$?
check "a second daemon on the same state_dir is refused (exit $rc)" test "$rc" = 1
check "…by the instance lock" grep -q 'another gridgw' "$TMP/gw-second.log"
check "…and moves nothing aside" test -z "$(ls "$TMP"/state/*corrupt* 2>/dev/null)"
stop_gw
rm -rf "$TMP/state"

# A store on a read-only file system, damaged or not, is never moved aside.
ro=$TMP/ro
mkdir -p "$ro"
if mount -t tmpfs -o size=4m gridgw-test "$ro" 2>/dev/null; then
	trap 'umount -l "$ro" 2>/dev/null; cleanup' EXIT
	sed "s|state_dir = \"$TMP/state\"|state_dir = \"$ro/state\"|" "$TMP/gw.conf" >"$TMP/ro.conf"
	for c in header intact; do
		umount "$ro"; mount -t tmpfs -o size=4m gridgw-test "$ro"
		mkdir "$ro/state"
		cp "$TMP/golden.db" "$ro/state/gridgw.db"
		[ "$c" = intact ] || damage "$c" "$ro/state/gridgw.db"
		cp "$ro/state/gridgw.db" "$TMP/ro-$c.orig"
		mount -o remount,ro "$ro"
		timeout 30 "$GRIDGW" run -c "$TMP/ro.conf" >"$TMP/ro-$c.log" 2>&1
		rc=$?
		check "read-only fs, $c store: refused with exit 1 (was $rc)" test "$rc" = 1
		check "read-only fs, $c store: the error says read-only" grep -q 'Read-only file system' "$TMP/ro-$c.log"
		check "read-only fs, $c store: file left in place, untouched" cmp -s "$TMP/ro-$c.orig" "$ro/state/gridgw.db"
		check "read-only fs, $c store: nothing moved aside" test -z "$(ls "$ro"/state/*corrupt* 2>/dev/null)"
	done
	umount "$ro"
else
	tap_ok "# SKIP read-only cases: cannot mount a tmpfs here (needs root)"
fi
[ "$TAP_FAILED" = 0 ] || { grep -h "store" "$TMP"/gw-*.log | sed 's/^/# /'; tail -n 3 "$TMP/rec.log" | sed 's/^/# /'; }
tap_done
