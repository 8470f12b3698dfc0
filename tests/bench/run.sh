#!/bin/bash
# make bench — every benchmark, one after the other, figures printed side by
# side with what they are measured against. Figures, not pass/fail; see
# docs/benchmarks.md for recorded results and the machine they came from.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
echo "gridgw benchmarks — $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
if [ -n "${SOAK:-}" ]; then
	# make bench SOAK=SECONDS: only the memory soak of issue #12 (the whole
	# daemon at its workload for SECONDS after warm-up, VmRSS every 10 s).
	log=${SOAK_LOG:-/tmp/gridgw-soak-$(date +%Y%m%d-%H%M%S).log}
	echo "== soak: 500 devices x 30 registers every 1 s for $SOAK s, VmRSS every 10 s into $log =="
	DAEMON_BENCH_SECONDS=$SOAK DAEMON_BENCH_RSS_LOG=$log exec tests/bench/daemon.sh
fi
echo "== issue #12: 500 devices x 30 registers every 1 s, side by side with the bare libmodbus loop (and Node-RED with NODE_RED=1) =="
tests/bench/peers.sh
echo
echo "== rule engine: 10k points, 2k rules (target >= 1M updates/s/core, 0 allocations) =="
"$BUILD/tests/bench_rules"
echo
echo "== Modbus TCP poller vs a bare libmodbus loop against gridgw-sim (target >= 90 %, p99 jitter < 10 ms) =="
"$BUILD/tests/bench_modbus" --sim "$BUILD/gridgw-sim"
echo
echo "== uplink: events/s to a loopback mosquitto, and a 100k backlog drain =="
tests/bench/uplink.sh
echo
echo "== device change -> platform subscriber =="
tests/bench/latency.sh
echo
echo "== whole daemon: 500 devices x 30 registers every 1 s, a rule on every point =="
tests/bench/daemon.sh
echo
echo "== web console open at the same workload (target: < 0.5 % of a core more) =="
tests/bench/console.sh 2>/dev/null
echo
echo "== issue #14.1: big configs, 1k / 10k / 40k MQTT detectors: check, start-up, SIGHUP reload, peak RSS, watchdog =="
tests/bench/bigconf.sh
echo
echo "== issue #12 target 4: 20,000 NB-IoT smoke detectors behind one MQTT bridge (run shortened to 200 s) =="
tests/bench/community.sh
echo
echo "== issue #14: a Modbus alarm while an MQTT source is flooded =="
tests/bench/flood.sh
