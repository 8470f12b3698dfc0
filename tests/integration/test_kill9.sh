#!/bin/bash
# kill -9 of `gridgw run` at random moments during a burst of alarms, 20
# times over. After every restart the store opens; at the end every event
# seq from 1 to the last arrived at the platform, and every copy of one seq
# is the same event (a committed event is never lost or renumbered).
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
N=30
{
cat <<CONF
gateway = { id = "k9"; site = { street = "S"; community = "C"; grid = "G"; };
  state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "1s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
  chatter_max = 100; } );
devices = (
CONF
smoke_devices $N lan 100ms
echo ');'
} >"$TMP/gw.conf"

# A persistent QoS 1 session: messages published while the recorder is
# connected are never lost to it, whatever happens to gridgw.
spawn rec mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -c -i k9-platform -v -t "grid/v1/k9/incident"
# The burst: every detector's alarm flipping every 150 ms for 60 s.
{
	echo 'steps = ('
	for ((t = 1000, v = 1; t <= 60000; t += 150, v = 1 - v)); do
		echo "  { at = \"${t}ms\"; set = \"s*:alarm\"; value = $v; },"
	done
	echo '  { at = "61s"; set = "s*:alarm"; value = 0; }'
	echo ');'
} >"$TMP/burst.conf"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --scenario "$TMP/burst.conf" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"

opened=0
for k in $(seq 1 20); do
	"$GRIDGW" run -c "$TMP/gw.conf" >>"$TMP/gw.log" 2>&1 &
	pid=$!
	sleep "0.$(( (RANDOM % 9) + 1 ))"; sleep "$(( RANDOM % 2 ))"
	kill -9 $pid
	wait $pid 2>/dev/null
	sqlite3 "$TMP/state/gridgw.db" 'PRAGMA integrity_check' 2>/dev/null | grep -qx ok && opened=$((opened + 1))
done
check "store passed integrity_check after each of 20 kill -9 ($opened/20)" test "$opened" = 20

# Let it finish delivering: stop the burst first so the tail is finite.
kill "$PID_sim" 2>/dev/null
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "'$GRIDGW' status -c '$TMP/gw.conf' --json 2>/dev/null | grep -q '\"backlog\":0'" 60
sleep 1
check "backlog drained after the last restart" bash -c "'$GRIDGW' status -c '$TMP/gw.conf' --json | grep -q '\"backlog\":0'"
grep -o '"seq":[0-9]*' "$TMP/rec.log" | cut -d: -f2 | sort -n | uniq >"$TMP/seqs"
last=$(tail -1 "$TMP/seqs")
echo "# $last events, $(wc -l <"$TMP/rec.log") messages received (duplicates allowed)"
check "at least 200 events in the burst ($last)" test "${last:-0}" -ge 200
check "every seq 1..$last arrived" test "$(wc -l <"$TMP/seqs")" = "$last"
# Same seq, same event: strip nothing, compare whole payloads per seq.
conflicts=$(sed -E 's/^[^ ]+ //' "$TMP/rec.log" | sort -u | grep -o '"seq":[0-9]*' | sort | uniq -d | wc -l)
check "no seq was reused for a different event ($conflicts)" test "$conflicts" = 0
store_last=$(sqlite3 "$TMP/state/gridgw.db" 'SELECT max(seq) FROM events')
check "store's last seq matches the platform's ($store_last)" test -n "$last" -a "$store_last" = "$last"
[ "$TAP_FAILED" = 0 ] || { echo "# gridgw log tail:"; tail -20 "$TMP/gw.log" | sed "s/^/# /"; }
tap_done
