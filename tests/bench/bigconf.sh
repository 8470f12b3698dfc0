#!/bin/bash
# Big configs (issue #14.1): `gridgw check` time and peak RSS, daemon start-up
# time (exec -> READY=1) and a SIGHUP reload (RELOADING=1 -> READY=1) with
# its peak RSS, for 1k / 10k / 40k MQTT smoke detectors
# (scripts/gen-big-conf.sh, BIGCONF_RULES rules on their profile). Each
# figure is also given per 1,000 devices: equal per-1k figures mean linear.
# The daemon runs under a fake NOTIFY_SOCKET (notify_listen -t) with a 2 s
# watchdog; the largest gap between WATCHDOG=1 pings over the run is shown
# next to that limit.
#   BUILD=build tests/bench/bigconf.sh   [BIGCONF_SIZES="1000 10000 40000"] [BIGCONF_RULES=10]
set -u
cd "$(dirname "$0")/../.."
. tests/lib/common.sh
sizes=${BIGCONF_SIZES:-1000 10000 40000}
rules=${BIGCONF_RULES:-10}
wd_us=2000000
NL=$GRIDGW_TOP/$BUILD/tests/notify_listen
start_broker >/dev/null || { echo "bench/bigconf: no broker"; exit 2; }
mono_ms() { python3 -c 'import time; print(int(time.monotonic() * 1000))'; }

printf '  %-7s %-6s | %-9s %-9s | %-9s | %-9s %-10s | %-9s | %s\n' devices rules "check s" "check MB" "start s" "reload s" "reload MB" "gap ms" "per 1k devices: check / start / reload ms, reload MB"
for n in $sizes; do
	d=$TMP/c$n
	scripts/gen-big-conf.sh "$d" "$n" "$rules" "$BROKER_PORT"
	/usr/bin/time -f '%e %M' -o "$d/check.time" "$GRIDGW" check -c "$d/gridgw.conf" >/dev/null 2>"$d/check.err" ||
		{ echo "  $n: check failed: $(head -3 "$d/check.err")"; continue; }
	read -r check_s check_kb <"$d/check.time"
	rm -f "$d/n.sock"
	"$NL" -t "$d/n.sock" 300 >"$d/notify.log" 2>&1 &
	nl=$!
	SPAWNED+=($nl)
	wait_for "[ -S '$d/n.sock' ]" 5
	t0=$(mono_ms)
	NOTIFY_SOCKET=$d/n.sock WATCHDOG_USEC=$wd_us "$GRIDGW" run -c "$d/gridgw.conf" >"$d/gw.log" 2>&1 &
	gw=$!
	SPAWNED+=($gw)
	if ! wait_for "grep -q 'READY=1' '$d/notify.log'" 120; then
		echo "  $n: no READY=1 in 120 s"; kill "$gw" "$nl"; continue
	fi
	ready=$(awk '/READY=1/ { print $1; exit }' "$d/notify.log")
	sleep 2
	kill -HUP "$gw"
	wait_for "grep -A1000000 'RELOADING=1' '$d/notify.log' | grep -q 'READY=1'" 300
	sleep 2.5 # two more regular pings after the reload
	hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$gw/status")
	kill "$gw"
	wait "$gw" 2>/dev/null
	kill "$nl" 2>/dev/null
	# reload = RELOADING=1 -> the READY=1 after it; gap = largest between pings, READY to the end
	awk -v n="$n" -v r="$rules" -v t0="$t0" -v ready="$ready" -v cs="$check_s" -v ck="$check_kb" -v hwm="$hwm" -v wd=$((wd_us / 1000)) '
		/RELOADING=1/ { rl = $1 }
		rl && !rd && / READY=1/ { rd = $1 }
		/WATCHDOG=1/ { if (last && $1 - last > gap) gap = $1 - last; last = $1 }
		END {
			st = (ready - t0) / 1000; rs = (rd - rl) / 1000; k = n / 1000
			printf "%d %.2f %.2f %d\n", n, cs, rs, gap >>"'"$TMP/rows"'"
			printf "  %-7d %-6d | %-9.2f %-9.1f | %-9.2f | %-9.2f %-10.1f | %-9d | %.0f / %.0f / %.0f ms, %.1f MB   (watchdog %d ms)\n",
				n, r, cs, ck / 1024, st, rs, hwm / 1024, gap, 1000 * cs / k, 1000 * st / k, 1000 * rs / k, hwm / 1024 / k, wd
		}' "$d/notify.log"
	rm -rf "$d/state"
done
# Linear: the largest size's per-device time within 1.5 x the middle size's
# (the smallest is mostly fixed costs: connect, store open, libraries)
[ -s "$TMP/rows" ] && awk -v wd=$((wd_us / 1000)) '{ n[NR] = $1; c[NR] = $2; r[NR] = $3; if ($4 > g) g = $4 }
	END {
		if (NR < 2) exit
		a = NR - 1; b = NR
		fc = (c[b] / n[b]) / (c[a] / n[a]); fr = (r[b] / n[b]) / (r[a] / n[a])
		printf "  per device, %d vs %d devices: check %.2f x, reload %.2f x   %s linear (<= 1.5 x)\n", n[b], n[a], fc, fr, (fc <= 1.5 && fr <= 1.5) ? "✓" : "✗"
		printf "  largest gap between watchdog pings %d ms   %s under the %d ms watchdog\n", g, g < wd ? "✓" : "✗", wd
	}' "$TMP/rows"
