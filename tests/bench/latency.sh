#!/bin/bash
# Device change → platform latency: the time from a point change at the
# simulated device (Modbus TCP, poll 100 ms / 1 s) to the incident event's
# delivery to a subscriber on the platform broker, through gridgw's whole
# path (poll, rule, SQLite commit with synchronous=FULL, outbox, PUBACK
# window, broker). Target (ARCHITECTURE.md): p99 ≤ poll period + 20 ms.
#   BUILD=build tests/bench/latency.sh   [LATENCY_SAMPLES=60]
set -u
cd "$(dirname "$0")/../.."
. tests/lib/common.sh
samples=${LATENCY_SAMPLES:-60}
start_broker >/dev/null || { echo "bench/latency: no broker"; exit 2; }

run_case() { # poll
	local poll=$1 mb
	mb=$(free_port)
	rm -rf "$TMP/state"
	cat >"$TMP/gw.conf" <<CONF
gateway = { id = "lat"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $mb; timeout = "300ms"; } );
devices = ( { id = "s1"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "$poll"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
  chatter_max = 100; chatter_window = "1s"; } );
CONF
	"$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --quiet >"$TMP/sim.log" 2>&1 &
	local sim=$!
	wait_port "$mb" 10
	"$GRIDGW" run -c "$TMP/gw.conf" >"$TMP/gw.log" 2>&1 &
	local gw=$!
	wait_for "grep -q 'uplink: connected' $TMP/gw.log" 10
	sleep 1
	# tests/lib/alarm_sampler.py: each change stamped right before it goes to
	# the simulator on one open connection, each event as it is read from
	# one subscriber (no process start inside the measured time).
	python3 tests/lib/alarm_sampler.py --sock "$TMP/sim.sock" --port "$BROKER_PORT" \
		--topic "grid/v1/lat/incident" --device s1 --point alarm --samples "$samples" --timeout 5 >"$TMP/samples"
	kill "$gw" "$sim" 2>/dev/null
	wait "$gw" "$sim" 2>/dev/null
	grep -v '^lost$' "$TMP/samples" | sort -n >"$TMP/lat"
	local cnt p50 p99 max lost
	lost=$(grep -c '^lost$' "$TMP/samples")
	cnt=$(wc -l <"$TMP/lat")
	[ "$cnt" -gt 0 ] || { echo "  poll $poll: no event arrived ($lost lost)"; return; }
	p50=$(sed -n "$(( (cnt + 1) / 2 ))p" "$TMP/lat")
	p99=$(sed -n "$(( (cnt * 99 + 99) / 100 ))p" "$TMP/lat")
	max=$(tail -1 "$TMP/lat")
	printf '  poll %-6s %3d samples (%d lost)   p50 %6.1f ms   p99 %6.1f ms   max %6.1f ms   (target p99 <= poll + 20 ms)\n' \
		"$poll" "$cnt" "$lost" "$(awk "BEGIN{print $p50/1000}")" "$(awk "BEGIN{print $p99/1000}")" "$(awk "BEGIN{print $max/1000}")"
}

echo "device change -> platform subscriber latency (gridgw-sim Modbus TCP -> gridgw -> mosquitto -> subscriber)"
run_case 100ms
run_case 1s
