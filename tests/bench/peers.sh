#!/bin/bash
# Issue #12 side by side: the bare libmodbus loop, gridgw (telemetry off and
# every 1 s) and, with NODE_RED=1 when it is installed, Node-RED flex-getter,
# interleaved REPS times on peerbench's loopback Modbus server with the same
# pinning and measurement (../shared/peerbench, README there); then the
# medians, the ratios and a ✓/✗ against each target of #12:
#   CPU <= 1.5 x bare (telemetry off), <= 2 x bare (telemetry 1 s), both
#   <= 0.4 x Node-RED flex-getter; peak RSS (VmHWM) <= 8 MB;
#   max rate >= 0.9 x bare on one connection, 50 x 30 (bench_modbus).
#   PEERBENCH=dir  REPS=2  DUR=30  D=500 R=30 P=1000  NODE_RED=1
# The box is shared: the load (box_busy_pct, of 100 x cores) is printed with
# every line, and only ratios from this one run are meaningful.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
REPS=${REPS:-2} DUR=${DUR:-30} D=${D:-500} R=${R:-30} P=${P:-1000}
PB=${PEERBENCH:-}
for c in ../shared/peerbench ../../shared/peerbench /work/shared/peerbench; do
	[ -z "$PB" ] && [ -x "$c/run_bare.sh" ] && PB=$(cd "$c" && pwd)
done
if [ -z "$PB" ] || [ ! -x "$PB/run_bare.sh" ]; then
	echo "peerbench not found (set PEERBENCH=path/to/shared/peerbench): side-by-side skipped"
	exit 0
fi
export GRIDGW=$PWD/$BUILD/gridgw
export RESULTS=${RESULTS:-/tmp/gridgw-peers-$(date +%Y%m%d-%H%M%S).log}
NR=0
if [ "${NODE_RED:-0}" = 1 ]; then
	if [ -f "${NR_PREFIX:-/tmp/peerbench-nodered}/node_modules/node-red/red.js" ]; then NR=1
	else echo "NODE_RED=1 but Node-RED is not installed ($PB/nodered/setup.sh): using the figures of issue #12"; fi
fi
echo "peerbench: $PB; $REPS interleaved repetitions of ${DUR} s windows; D=$D R=$R P=$P; results in $RESULTS"
for rep in $(seq "$REPS"); do
	"$PB/run_bare.sh" "$D" "$R" "$P" "$DUR" 2>/dev/null | grep '^bare ' || echo "bare failed"
	WARMUP=8 "$PB/gridgw/run_gridgw.sh" "$D" "$R" "$P" "$DUR" 2>/dev/null | grep '^gridgw ' || echo "gridgw failed"
	TELEMETRY=1s WARMUP=8 "$PB/gridgw/run_gridgw.sh" "$D" "$R" "$P" "$DUR" 2>/dev/null | grep '^gridgw ' ||
		echo "gridgw telemetry failed"
	[ "$NR" = 1 ] && { STYLE=flex "$PB/nodered/run_nodered.sh" "$D" "$R" "$P" "$DUR" 2>/dev/null | grep '^nodered' ||
		echo "nodered failed"; }
done | sed 's/^/  /'
mr=$("$BUILD/tests/bench_modbus" --sim "$BUILD/gridgw-sim" --only tput 2>/dev/null | grep 'requests/s (median')
python3 - "$RESULTS" "$NR" "$mr" <<'PY'
import sys, statistics as st
path, nr, mr = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
rows = [dict(kv.split("=", 1) for kv in l.split() if "=" in kv) | {"_": l.split()[0]} for l in open(path)
        if l.strip() and l.split()[0] in ("bare", "gridgw", "nodered")]
def med(sel, key):
    v = [float(r[key]) for r in rows if sel(r) and key in r]
    return st.median(v) if v else float("nan")
bare = lambda r: r["_"] == "bare"
off = lambda r: r["_"] == "gridgw" and r.get("telemetry") == "0s"
tel = lambda r: r["_"] == "gridgw" and r.get("telemetry") == "1s"
flex = lambda r: r["_"] == "nodered" and r.get("style") == "flex"
b, g0, g1 = med(bare, "cpu_pct"), med(off, "cpu_pct"), med(tel, "cpu_pct")
rss = max(med(off, "peak_rss_mb"), med(tel, "peak_rss_mb"))
busy = [r.get("box_busy_pct", "?") for r in rows]
if nr:
    n = med(flex, "cpu_pct"); nsrc = "measured"
else:
    n = b * 3.75 / 0.95; nsrc = "not installed: #12's figure 3.75 % at a bare loop of 0.95 %, scaled to this run's bare loop"
ok = lambda c: "✓" if c else "✗"
print(f"medians: bare {b:.2f} %, gridgw {g0:.2f} %, gridgw+telemetry {g1:.2f} %, Node-RED flex {n:.2f} % ({nsrc})")
print(f"box busy during the windows (of 200): {' '.join(busy)}")
print(f"{ok(g0 <= 1.5 * b)} CPU, telemetry off: {g0 / b:.2f} x bare (target <= 1.5)")
print(f"{ok(g1 <= 2 * b)} CPU, telemetry 1 s: {g1 / b:.2f} x bare (target <= 2)")
print(f"{ok(g0 <= 0.4 * n and g1 <= 0.4 * n)} CPU vs Node-RED flex-getter: {g0 / n:.2f} / {g1 / n:.2f} x (target <= 0.4)")
print(f"{ok(rss <= 8)} peak RSS (VmHWM): {rss:.1f} MB (target <= 8; bare loop {med(bare, 'peak_rss_mb'):.1f} MB)")
f = mr.split()
if len(f) >= 5:
    bb, gg = float(f[-3]), float(f[-2])
    print(f"{ok(gg >= 0.9 * bb)} max rate, 50 x 30 on one connection: {gg:.0f} vs bare {bb:.0f} req/s = {gg / bb:.2f} x (target >= 0.9)")
else:
    print("✗ max rate: bench_modbus gave no figure")
PY
