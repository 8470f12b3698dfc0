#!/bin/bash
# A real full disk under `gridgw run`: the state dir is an 8 MiB tmpfs that
# another process fills up (a filler file) while the uplink is down; the store fails with SQLITE_FULL: the
# daemon logs it clearly, keeps running, raises gateway.storage (held in
# memory), and loses nothing — once space is back every event is written,
# and once the broker is back every seq arrives without a gap.
# (A read-only remount cannot be provoked under a process holding the
# database open for writing — Linux refuses it as "busy" — so the read-only
# path at run time is covered by the store's unit tests with
# PRAGMA query_only; a read-only state dir at start is checked below.)
. "$(dirname "$0")/../lib/common.sh"

disk=$TMP/disk
mkdir -p "$disk"
if ! mount -t tmpfs -o size=8m gridgw-test "$disk" 2>/dev/null; then
	echo "ok 1 - # SKIP cannot mount a tmpfs here (needs root and mount rights)"
	echo "1..1"
	exit 0
fi
trap 'umount -l "$disk" 2>/dev/null; cleanup' EXIT

MB=$(free_port)
BP=$(free_port) # the platform broker: not started until the end
N=30
{
cat <<CONF
gateway = { id = "sf"; state_dir = "$disk/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BP"; topic_prefix = "grid/v1"; telemetry_interval = "0";
  reconnect_min = "1s"; reconnect_max = "1s"; };
store = { max_size_mb = 4; };  # below the disk: deletes and the WAL keep room
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
  chatter_max = 100; } );
devices = (
CONF
smoke_devices $N lan 100ms
echo ');'
} >"$TMP/gw.conf"
{
	echo 'steps = ('
	for ((t = 1000, v = 1; t <= 25000; t += 200, v = 1 - v)); do
		echo "  { at = \"${t}ms\"; set = \"s*:alarm\"; value = $v; },"
	done
	echo '  { at = "26s"; set = "s*:alarm"; value = 0; }'
	echo ');'
} >"$TMP/burst.conf"

spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --scenario "$TMP/burst.conf" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "[ -S $disk/state/gridgw.sock ]" 10
# Leave only a little room, so the burst fills the disk.
avail_kb=$(df -k --output=avail "$disk" | tail -1)
dd if=/dev/zero of="$disk/filler" bs=1k count=$((avail_kb - 96)) 2>/dev/null
check "store reports the full disk" wait_for "grep -q 'cannot write incident events (full' $TMP/gw.log" 40
check "gateway.storage raised (held in memory)" wait_for "grep -q 'gateway.storage' $TMP/gw.log" 10
check "daemon still answers while the disk is full" bash -c "'$GRIDGW' status -c '$TMP/gw.conf' >/dev/null"
check "daemon is alive" kill -0 "$PID_gw"
sleep 2
rm -f "$disk/filler"
check "gateway.storage cleared once space is back" wait_for "grep -q 'storage recovered' $TMP/gw.log" 20

# The platform comes back: everything must arrive.
kill "$PID_sim" 2>/dev/null
BROKER_PORT=$BP
{
	echo "listener $BP 127.0.0.1"; echo "allow_anonymous true"; echo "persistence false"
} >"$TMP/m2.conf"
spawn rec_broker mosquitto -c "$TMP/m2.conf"
wait_port "$BP" 10
spawn rec mosquitto_sub -h 127.0.0.1 -p "$BP" -q 1 -v -t "grid/v1/sf/incident"
if ! check "backlog drained once the platform is back" \
	wait_for "'$GRIDGW' status -c '$TMP/gw.conf' --json 2>/dev/null | grep -q '\"backlog\":0'" 60; then
	# Once seen in CI and never since: keep what tells why next time.
	echo "# status: $("$GRIDGW" status -c "$TMP/gw.conf" --json 2>&1 | jq -c '.uplink // .' 2>&1 | head -c 2000)"
	grep -E 'uplink|outbox|store' "$TMP/gw.log" | tail -n 25 | sed 's/^/# gw: /'
fi
sleep 1
last=$(sqlite3 "$disk/state/gridgw.db" 'SELECT max(seq) FROM events')
grep -o '"seq":[0-9]*' "$TMP/rec.log" | cut -d: -f2 | sort -n | uniq >"$TMP/seqs"
echo "# $last events in the store"
check "events were produced ($last)" test "${last:-0}" -ge 50
check "every seq 1..$last arrived at the platform" test "$(wc -l <"$TMP/seqs")" = "$last" -a "$(tail -1 "$TMP/seqs")" = "$last"
check "gateway.storage raised and cleared at the platform" \
	bash -c "grep -q '\"event\":\"raised\",\"type\":\"gateway.storage\"' '$TMP/rec.log' && grep -q '\"event\":\"cleared\",\"type\":\"gateway.storage\"' '$TMP/rec.log'"
kill "$PID_gw"; wait_for "! kill -0 $PID_gw 2>/dev/null" 10
check "nothing was left unstored at shutdown" bash -c "! grep -q 'could not be stored' '$TMP/gw.log'"

# A state dir on a read-only file system at start: a clear error, exit 1.
umount "$disk"
mount -t tmpfs -o size=1m,ro gridgw-test "$disk"
"$GRIDGW" run -c "$TMP/gw.conf" >"$TMP/ro.log" 2>&1
rc=$?
check "read-only state dir at start: exit 1 (was $rc)" test "$rc" = 1
check "read-only state dir at start: the error says why" grep -qi 'read-only' "$TMP/ro.log"
[ "$TAP_FAILED" = 0 ] || grep -E 'ERROR|WARN.*store|storage' "$TMP/gw.log" | head -20 | sed 's/^/# /'
tap_done
