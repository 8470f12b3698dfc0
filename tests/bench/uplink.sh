#!/bin/bash
# Uplink benchmark: incident events/s delivered to a loopback mosquitto by
# the gateway's path (store -> outbox -> Paho -> PUBACK -> marked delivered),
# beside bare Paho publishing the same messages with the same window (the
# limit), and the drain rate of a 100,000-event backlog after a reconnect.
# Figures, then ✓/✗ against issue #12's target 5 (live and drain each
# >= 0.9 x bare Paho, as the median of each run's own ratio); exit non-zero
# only if a run lost events.
#   BUILD=build tests/bench/uplink.sh    [UPLINK_BENCH_EVENTS=50000 UPLINK_BENCH_DRAIN=100000 UPLINK_BENCH_RUNS=3]
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
bin=$BUILD/tests/bench_uplink
[ -x "$bin" ] || { echo "bench/uplink: $bin missing (make BUILD=$BUILD all)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/gridgw-bench-uplink.XXXXXX)
chmod 711 "$tmp"
broker=
trap '[ -n "$broker" ] && kill "$broker" 2>/dev/null; rm -rf "$tmp"' EXIT

port=
for ((i = 0; i < 50; i++)); do
	p=$((20000 + RANDOM % 12000))
	(exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null || { port=$p; break; }
done
[ -n "$port" ] || { echo "bench/uplink: no free port" >&2; exit 2; }
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n' \
	"$port" >"$tmp/mosquitto.conf"
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker=$!
for ((i = 0; i < 200; i++)); do
	(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
	sleep 0.05
done

echo "== uplink: loopback mosquitto $(mosquitto -h 2>/dev/null | head -n 1 | awk '{print $3}'), $(nproc) CPUs"
"$bin" --url "tcp://127.0.0.1:$port" --dir "$tmp" --events "${UPLINK_BENCH_EVENTS:-50000}" \
	--drain "${UPLINK_BENCH_DRAIN:-100000}" --runs "${UPLINK_BENCH_RUNS:-3}" | tee "$tmp/out"
rc=${PIPESTATUS[0]}
awk '/^bench: ratio / {
	split($4, l, "="); split($6, d, "=")
	printf "%s uplink live: %.2f x bare Paho (target >= 0.9)\n", (l[2] >= 0.9 ? "✓" : "✗"), l[2]
	printf "%s uplink backlog drain: %.2f x bare Paho (target >= 0.9)\n", (d[2] >= 0.9 ? "✓" : "✗"), d[2]
	seen = 1 }
	END { if (!seen) print "✗ uplink: no ratio (a run failed)" }' "$tmp/out"
exit "$rc"
