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
	# One line per delivered event, stamped on arrival (ns).
	# Process substitution, so $! is mosquitto_sub itself and stopping it
	# ends the stamping loop too (nothing is left running).
	stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "grid/v1/lat/incident" \
		> >(while IFS= read -r line; do echo "$(date +%s%N) $line"; done >"$TMP/arrivals") &
	local sub=$!
	SPAWNED+=($sub)
	sleep 0.5
	local i v t0 n lat=()
	for ((i = 0; i < samples; i++)); do
		v=$(( (i + 1) % 2 ))
		n=$(wc -l <"$TMP/arrivals")
		sleep "0.$((RANDOM % 9))$((RANDOM % 10))" # random phase against the poll
		t0=$(date +%s%N)
		"$GRIDGW_SIM" ctl "$TMP/sim.sock" set s1 alarm $v >/dev/null
		wait_for "[ \$(wc -l <$TMP/arrivals) -gt $n ]" 5 || continue
		t1=$(sed -n "$((n + 1))p" "$TMP/arrivals" | cut -d' ' -f1)
		lat+=($(( (t1 - t0) / 1000 )))
	done
	kill "$gw" "$sim" "$sub" 2>/dev/null
	wait "$gw" "$sim" 2>/dev/null
	printf '%s\n' "${lat[@]}" | sort -n >"$TMP/lat"
	local cnt p50 p99 max
	cnt=$(wc -l <"$TMP/lat")
	p50=$(sed -n "$(( (cnt + 1) / 2 ))p" "$TMP/lat")
	p99=$(sed -n "$(( (cnt * 99 + 99) / 100 ))p" "$TMP/lat")
	max=$(tail -1 "$TMP/lat")
	printf '  poll %-6s %3d samples   p50 %6.1f ms   p99 %6.1f ms   max %6.1f ms   (target p99 <= poll + 20 ms)\n' \
		"$poll" "$cnt" "$(awk "BEGIN{print $p50/1000}")" "$(awk "BEGIN{print $p99/1000}")" "$(awk "BEGIN{print $max/1000}")"
}

echo "device change -> platform subscriber latency (gridgw-sim Modbus TCP -> gridgw -> mosquitto -> subscriber)"
run_case 100ms
run_case 1s
