#!/bin/bash
# Whole-daemon cost (ARCHITECTURE.md targets): 500 devices × 30 registers
# polled every 1 s over Modbus TCP from gridgw-sim (15k values/s), every
# value changing every second, a rule reading every point. Reports the
# gateway's CPU (% of one core, from /proc utime+stime over a window) and
# its peak RSS (VmHWM). Targets: CPU <= 1 % of a core, RSS <= 8 MB.
#   BUILD=build tests/bench/daemon.sh   [DAEMON_BENCH_SECONDS=30]
# DAEMON_BENCH_CONSOLE=1 adds the web console and, over the measured window,
# what a browser open on the Alarms page does: one live stream (SSE) plus
# the incidents list and status every 5 s (tests/bench/console.sh compares).
# DAEMON_BENCH_WRAP="valgrind --tool=massif ..." runs the daemon under a tool.
# DAEMON_BENCH_RSS_LOG=file samples VmRSS/VmHWM every 10 s over the window
# ("seconds rss_kb hwm_kb" lines), then the RSS slope and ✓/✗ for "no
# growth after warm-up": the soak of issue #12 (make bench SOAK=1800).
set -u
cd "$(dirname "$0")/../.."
. tests/lib/common.sh
secs=${DAEMON_BENCH_SECONDS:-30}
devices=500 regs=30 per_bus=125
start_broker >/dev/null || { echo "bench/daemon: no broker"; exit 2; }
mkdir -p "$TMP/profiles"
{
	echo 'profiles = { bench30 = { kind = "generic"; points = ('
	for ((r = 0; r < regs; r++)); do
		printf '  { name = "p%d"; table = "input"; address = %d; type = "u16"; }%s\n' $r $r "$([ $r = $((regs - 1)) ] || echo ,)"
	done
	echo '); }; };'
} >"$TMP/profiles/bench30.conf"
nbus=$(( (devices + per_bus - 1) / per_bus ))
{
	echo "gateway = { id = \"bench\"; state_dir = \"$TMP/state\"; profiles_dir = \"$TMP/profiles\"; log_level = \"warn\"; };"
	echo "uplink = { url = \"tcp://127.0.0.1:$BROKER_PORT\"; topic_prefix = \"grid/v1\"; telemetry_interval = \"0\"; };"
	echo "builtin_rules = { offline = { enabled = true; }; };"
	echo "buses = ("
	for ((b = 0; b < nbus; b++)); do
		port=$(free_port)
		printf '  { name = "lan%d"; type = "tcp"; host = "127.0.0.1"; port = %d; timeout = "500ms"; }%s\n' $b "$port" "$([ $b = $((nbus - 1)) ] || echo ,)"
	done
	echo ");"
	echo "devices = ("
	for ((d = 0; d < devices; d++)); do
		printf '  { id = "d%03d"; profile = "bench30"; bus = "lan%d"; unit = %d; poll = "1s"; }%s\n' \
			$d $((d / per_bus)) $((d % per_bus + 1)) "$([ $d = $((devices - 1)) ] || echo ,)"
	done
	echo ");"
	if [ -n "${DAEMON_BENCH_CONSOLE:-}" ]; then
		WEB=$(free_port)
		echo "console = { listen = \"127.0.0.1:$WEB\"; users = ( { name = \"screen\"; role = \"viewer\"; password_hash = \"$(echo bench | "$GRIDGW" passwd)\"; } ); };"
	fi
	echo "rules = ("
	for ((r = 0; r < regs; r++)); do
		printf '  { id = "r%d"; profile = "bench30"; when = "p%d > 65000"; type = "bench.high"; severity = 4; }%s\n' \
			$r $r "$([ $r = $((regs - 1)) ] || echo ,)"
	done
	echo ");"
} >"$TMP/gw.conf"
# Every register of every device ramps all the time: each poll reads new values.
{
	echo 'steps = ('
	for ((r = 0; r < regs; r++)); do
		printf '  { at = "1s"; ramp = "d*:p%d"; to = 60000.0; over = "%ds"; },\n' $r $((secs + 120))
	done
	echo '  { at = "2s"; set = "d000:p0"; value = 1; }'
	echo ');'
} >"$TMP/ramp.conf"
taskset -c 1 "$GRIDGW_SIM" -c "$TMP/gw.conf" --scenario "$TMP/ramp.conf" --quiet >"$TMP/sim.log" 2>&1 &
sim=$!
SPAWNED+=($sim)
wait_for "grep -q . $TMP/sim.log || [ -S /nonexistent ]" 2
sleep 2
taskset -c 0 env ${DAEMON_BENCH_ENV:-} ${DAEMON_BENCH_WRAP:-} "$GRIDGW" run -c "$TMP/gw.conf" >"$TMP/gw.log" 2>&1 &
gw=$!
SPAWNED+=($gw)
sleep 10 # warm-up: connect, first reads, plan
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Per thread kind: the core ("gridgw"), bus threads ("bus-*"), the rest (Paho, SQLite).
thread_ticks() {
	local t
	for t in /proc/$1/task/*; do
		printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
	done | awk '{ k = ($1 ~ /^bus-/) ? "bus threads" : ($1 == "gridgw" ? "core+paho" : $1); s[k] += $2 }
		END { for (k in s) print k "\t" s[k] }' | sort
}
hz=$(getconf CLK_TCK)
if [ -n "${DAEMON_BENCH_CONSOLE:-}" ]; then
	wait_port "$WEB" 10
	curl -s -c "$TMP/jar" -H 'Content-Type: application/json' -d '{"username":"screen","password":"bench"}' \
		"http://127.0.0.1:$WEB/api/v1/login" >/dev/null
	curl -s -N -b "$TMP/jar" --max-time $((secs + 30)) "http://127.0.0.1:$WEB/api/v1/stream" >"$TMP/stream.txt" &
	SPAWNED+=($!)
	( for ((i = 0; i < (secs + 20) / 5; i++)); do
		curl -s -b "$TMP/jar" "http://127.0.0.1:$WEB/api/v1/incidents?open=1" >/dev/null
		curl -s -b "$TMP/jar" "http://127.0.0.1:$WEB/api/v1/status" >/dev/null
		sleep 5
	done ) &
	SPAWNED+=($!)
	sleep 1
fi
t0=$(cpu_ticks $gw); s0=$SECONDS
thread_ticks $gw >"$TMP/threads0"
"$GRIDGW" status -c "$TMP/gw.conf" --json >"$TMP/status0" 2>/dev/null
if [ -n "${DAEMON_BENCH_RSS_LOG:-}" ]; then
	: >"$DAEMON_BENCH_RSS_LOG"
	( for ((i = 0; i <= secs / 10; i++)); do
		[ -r /proc/$gw/status ] || break
		awk -v t=$((i * 10)) '/^VmRSS/ {r = $2} /^VmHWM/ {h = $2} END {print t, r, h}' /proc/$gw/status >>"$DAEMON_BENCH_RSS_LOG"
		sleep 10
	done ) &
	SPAWNED+=($!)
fi
if [ -n "${DAEMON_BENCH_PERF:-}" ]; then perf record -g -o "$DAEMON_BENCH_PERF" -p $gw -- sleep "$secs" >/dev/null 2>&1; else sleep "$secs"; fi
t1=$(cpu_ticks $gw); s1=$SECONDS
thread_ticks $gw >"$TMP/threads1"
"$GRIDGW" status -c "$TMP/gw.conf" --json >"$TMP/status1" 2>/dev/null
[ -n "${DAEMON_BENCH_SMAPS:-}" ] && cp /proc/$gw/smaps "$DAEMON_BENCH_SMAPS"
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$gw/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$gw/status")
anon=$(awk '/^Anonymous:/ {print $2}' "/proc/$gw/smaps_rollup")
online=$(grep -o '"online":[0-9]*' "$TMP/status1" | head -1 | cut -d: -f2)
req0=$(grep -o '"requests":[0-9]*' "$TMP/status0" | cut -d: -f2 | awk '{s += $1} END {print s + 0}')
req1=$(grep -o '"requests":[0-9]*' "$TMP/status1" | cut -d: -f2 | awk '{s += $1} END {print s + 0}')
msgs0=$(grep -o '"messages":[0-9]*' "$TMP/status0" | head -1 | cut -d: -f2)
msgs1=$(grep -o '"messages":[0-9]*' "$TMP/status1" | head -1 | cut -d: -f2)
el=$((s1 - s0))
awk -v t=$((t1 - t0)) -v hz="$hz" -v el="$el" -v hwm="$hwm" -v rss="$rss" -v anon="$anon" -v on="$online" -v req=$((req1 - req0)) \
    -v msgs=$((msgs1 - msgs0)) -v n="$devices" -v r="$regs" \
    -v console="${DAEMON_BENCH_CONSOLE:+, console open (1 live stream, incidents + status every 5 s)}" 'BEGIN {
	printf "  %d devices x %d registers every 1 s, %d rules (one per point), %d online%s\n", n, r, r, on, console
	printf "  requests/s %.0f   point updates into the core/s %.0f\n", req / el, msgs / el
	printf "  gridgw CPU %.2f %% of one core over %d s   (target <= 1 %%)\n", 100 * t / hz / el, el
	printf "  gridgw RSS %.1f MB now, peak %.1f MB   (target <= 8 MB); of it anonymous (not shared libraries) %.1f MB\n", rss / 1024, hwm / 1024, anon / 1024
}'
join -t "$(printf '\t')" "$TMP/threads0" "$TMP/threads1" | awk -F'\t' -v hz="$(getconf CLK_TCK)" -v el=$((s1 - s0)) \
	'{ printf "    %-12s %.2f %% of one core\n", $1, 100 * ($3 - $2) / hz / el }'
if [ -n "${DAEMON_BENCH_RSS_LOG:-}" ]; then
	# Least-squares slope over the whole window and over its second half
	# (the first half is warm-up: SQLite's page cache and the WAL fill for
	# minutes); "no growth" = the second half ends within 8 kB (two pages)
	# of where it began.
	awk 'function fit(a, b,   i, n, sx, sy, sxx, sxy) {
			for (i = a; i <= b; i++) { n++; sx += t[i]; sy += r[i]; sxx += t[i] * t[i]; sxy += t[i] * r[i] }
			return n < 3 ? 0 : (n * sxy - sx * sy) / (n * sxx - sx * sx) }
		{ n++; t[n] = $1; r[n] = $2; if ($3 > hwm) hwm = $3 }
		END { if (n < 6) { print "    RSS soak: too few samples"; exit }
		h = int(n / 2) + 1
		printf "    RSS soak: %d samples every 10 s; first %.0f kB, at half time %.0f kB, last %.0f kB, peak %.0f kB\n", n, r[1], r[h], r[n], hwm
		printf "    RSS slope: whole window %.2f kB/min, second half %.2f kB/min\n", fit(1, n) * 60, fit(h, n) * 60
		printf "  %s no RSS growth after warm-up: second half %+.0f kB (target: within 8 kB)\n", (r[n] - r[h] <= 8 ? "✓" : "✗"), r[n] - r[h] }' "$DAEMON_BENCH_RSS_LOG"
fi
if [ -n "${DAEMON_BENCH_WRAP:-}" ]; then
	# A tool writes its report at exit: stop the daemon the ordinary way and
	# give it time (valgrind is slow), before cleanup's kill -9.
	kill -TERM $gw 2>/dev/null
	for ((i = 0; i < 600 && $(kill -0 $gw 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.1; done
fi
