#!/bin/bash
# gridgw-sim scenarios: initial values, steps applied at their times and
# printed as they happen, globs, quit ends the run; bad scenario files are
# refused with FILE:LINE errors; --duration and stdin control.
. "$(dirname "$0")/../lib/common.sh"

PROBE=$GRIDGW_TOP/$BUILD/tests/modbus_probe
FIX=$GRIDGW_TOP/tests/fixtures/sim
PORT=$(free_port)
TTY=$TMP/ttySIM0
sed -e "s|@PORT@|$PORT|g" -e "s|@DIR@|$TMP|g" "$FIX/modbus.conf.in" >"$TMP/sim.conf"
expect() { if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1 (expected '$2', got '$3')"; fi; }
expect_match() { if [[ "$3" =~ $2 ]]; then tap_ok "$1"; else tap_fail "$1 (expected /$2/, got '$3')"; fi; }
tcp() { "$PROBE" -t 400 tcp 127.0.0.1 "$PORT" "$@" 2>&1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

spawn sim "$GRIDGW_SIM" -c "$TMP/sim.conf" --scenario "$FIX/scenario_ok.conf"
if ! wait_for "grep -q '^ready ' '$TMP/sim.log' 2>/dev/null" 10 || ! wait_port "$PORT" 5; then
	tap_fail "simulator starts with a scenario"
	cat "$TMP/sim.log"
	# --- the shipped example scenarios load against the demo compound ---
mkdir -p "$TMP/demo"
cp -r "$GRIDGW_TOP/config/profiles" "$TMP/demo/"
sed -e "s|/tmp/gridgw-demo/|$TMP/demo/|g" -e "s|tcp://127.0.0.1:[0-9]*|tcp://127.0.0.1:1|g" \
	"$GRIDGW_TOP/config/demo.conf" >"$TMP/demo/demo.conf"
for p in $(grep -o 'port = [0-9]*' "$TMP/demo/demo.conf" | sort -u | awk '{print $3}'); do
	sed -i "s|port = $p;|port = $(free_port);|g" "$TMP/demo/demo.conf"
done
for f in "$GRIDGW_TOP"/config/scenarios/*.conf "$GRIDGW_TOP"/config/demo-scenario.conf; do
	[ -f "$f" ] || continue
	out=$(timeout 10 "$GRIDGW_SIM" -c "$TMP/demo/demo.conf" --scenario "$f" --duration 200ms --quiet 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && grep -q '^ready ' <<<"$out"; then tap_ok "example scenario $(basename "$f") loads"
	else tap_fail "example scenario $(basename "$f") loads (rc=$rc)"; echo "$out" | grep -v 'connect failed' | sed 's/^/# /'; fi
done

tap_done
	exit 1
fi
t0=$(date +%s%N)
tap_ok "simulator starts with a scenario"
expect "initial value applied before the first step" "87" "$(tcp 1 input 6 1)"
expect "before its step, alarm is 0" "0" "$(tcp 1 discrete 0 1)"

wait_for "grep -q 'set m1 alarm = true' '$TMP/sim.log'" 3
t=$(ms_since "$t0")
expect "after its step (${t} ms), alarm is 1" "1" "$(tcp 1 discrete 0 1)"
expect_match "the step is printed with its time" '\[sim +1\.[0-2]s\] set m1 alarm = true' \
	"$(grep 'set m1 alarm' "$TMP/sim.log")"
expect_match "glob targets every matching device" '\[sim +1\.[0-2]s\] set r\* battery = 55' \
	"$(grep 'set r\*' "$TMP/sim.log")"
expect "glob step reached an RTU device" "55" "$("$PROBE" -t 400 rtu "$TTY" 6 input 6 1 2>&1)"

wait_for "grep -q 'fail m2 silent' '$TMP/sim.log'" 3
expect_match "fail step: m2 silent from 2 s" 'timed out' "$(tcp 2 input 0 1)"
expect_match "ramp step printed" '\[sim +1\.[5-7]s\] ramp m1 temp -> 30 over 1s' "$(grep 'ramp m1' "$TMP/sim.log")"
wait_for "grep -q 'recover m2' '$TMP/sim.log'" 3
expect "recover step: m2 answers again" "0" "$(tcp 2 input 0 1)"
expect "ramp ended at its target (30.0 C = 300)" "300" "$(tcp 1 input 0 1)"

if wait_for "! kill -0 $PID_sim 2>/dev/null" 4; then
	tap_ok "quit step ends the run after $(ms_since "$t0") ms"
else
	tap_fail "quit step ends the run"
fi
wait "$PID_sim" 2>/dev/null
expect "exit status 0" "0" "$?"
order=$(grep -o '\] [a-z]*' "$TMP/sim.log" | tr -d '] ' | tr '\n' ' ')
expect "steps applied in time order" "set set ramp fail recover quit " "$order"

# --- bad scenarios ---
out=$(timeout 10 "$GRIDGW_SIM" -c "$TMP/sim.conf" --scenario "$FIX/scenario_bad.conf" 2>&1)
rc=$?
expect "a bad scenario exits 2" "2" "$rc"
B=$FIX/scenario_bad.conf
expect_match "missing value named with file:line" "$B:3: a set step needs \"value\"" "$out"
expect_match "unknown device named with file:line" "$B:4: no device matches \"nosuch\"" "$out"
expect_match "unknown point named with file:line" "$B:5: device m1 \\(profile meter\\) has no point \"nosuch\"" "$out"
expect_match "bad duration named with file:line" "$B:6: \"at\" must be a duration" "$out"
expect_match "bad fault mode named with file:line" "$B:7: a fail step needs mode" "$out"
expect_match "unknown key named with file:line" "$B:8: unknown key \"colour\"" "$out"
expect_match "bad value named with file:line" "$B:9: value \"lots\" is not valid for m1:battery" "$out"
expect_match "error count" "7 errors" "$out"
out=$(timeout 10 "$GRIDGW_SIM" -c "$TMP/sim.conf" --scenario "$FIX/scenario_syntax.conf" 2>&1)
expect_match "a syntax error is named with file:line" "scenario_syntax.conf:2: " "$out"
if [ ! -L "$TTY" ]; then tap_ok "a refused scenario leaves no symlink"; else tap_fail "a refused scenario leaves no symlink"; fi

# --- --duration and stdin control ---
start=$(date +%s%N)
out=$(printf 'get m1 battery\nset m1 temp 21.5\nget m1 temp\nbogus\n' |
	timeout 10 "$GRIDGW_SIM" -c "$TMP/sim.conf" --stdin --duration 1s --quiet 2>&1)
t=$(ms_since "$start")
if [ "$t" -ge 900 ] && [ "$t" -lt 5000 ]; then tap_ok "--duration 1s stops the run (${t} ms)"
else tap_fail "--duration 1s stops the run (${t} ms)"; fi
expect_match "stdin control replies on stdout" $'ok 100\nok m1 temp = 21.5\nok 21.5\nerror unknown command bogus' "$out"
out=$(printf 'quit\n' | timeout 5 "$GRIDGW_SIM" -c "$TMP/sim.conf" --stdin --quiet 2>&1)
expect_match "quit on stdin ends the run" 'ok bye' "$out"
expect_match "bad --duration refused" 'bad duration' "$(timeout 5 "$GRIDGW_SIM" -c "$TMP/sim.conf" --duration soon 2>&1)"
expect_match "--help shows usage" 'usage: gridgw-sim' "$("$GRIDGW_SIM" --help)"

# --- the shipped example scenarios load against the demo compound ---
mkdir -p "$TMP/demo"
cp -r "$GRIDGW_TOP/config/profiles" "$TMP/demo/"
sed -e "s|/tmp/gridgw-demo/|$TMP/demo/|g" -e "s|tcp://127.0.0.1:[0-9]*|tcp://127.0.0.1:1|g" \
	"$GRIDGW_TOP/config/demo.conf" >"$TMP/demo/demo.conf"
for p in $(grep -o 'port = [0-9]*' "$TMP/demo/demo.conf" | sort -u | awk '{print $3}'); do
	sed -i "s|port = $p;|port = $(free_port);|g" "$TMP/demo/demo.conf"
done
for f in "$GRIDGW_TOP"/config/scenarios/*.conf "$GRIDGW_TOP"/config/demo-scenario.conf; do
	[ -f "$f" ] || continue
	out=$(timeout 10 "$GRIDGW_SIM" -c "$TMP/demo/demo.conf" --scenario "$f" --duration 200ms --quiet 2>&1)
	rc=$?
	if [ "$rc" = 0 ] && grep -q '^ready ' <<<"$out"; then tap_ok "example scenario $(basename "$f") loads"
	else tap_fail "example scenario $(basename "$f") loads (rc=$rc)"; echo "$out" | grep -v 'connect failed' | sed 's/^/# /'; fi
done

tap_done
