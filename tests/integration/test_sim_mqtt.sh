#!/bin/bash
# gridgw-sim over MQTT: each device publishes on its source's topic with the
# wildcard replaced by its id, JSON shaped by the profile's key paths (nested
# objects, arrays, enums as names, bools), a ms timestamp, the id under the
# JSON key for json:KEY sources; changes are published at once, heartbeats
# keep coming, silent stops them, garbage is not JSON.
. "$(dirname "$0")/../lib/common.sh"

SOCK=$TMP/sim.sock
expect() { if [ "$2" = "$3" ]; then tap_ok "$1"; else tap_fail "$1 (expected '$2', got '$3')"; fi; }
expect_match() { if [[ "$3" =~ $2 ]]; then tap_ok "$1"; else tap_fail "$1 (expected /$2/, got '$3')"; fi; }
ctl() { "$GRIDGW_SIM" ctl "$SOCK" "$@"; }
count() { grep -ac "$1" "$TMP/$2.log" 2>/dev/null || true; }

start_broker || { tap_fail "mosquitto starts"; tap_done; exit 1; }
sed -e "s|@BROKER@|$BROKER_PORT|g" -e "s|@DIR@|$TMP|g" "$GRIDGW_TOP/tests/fixtures/sim/mqtt.conf.in" >"$TMP/sim.conf"
record_topic all '#'

spawn sim "$GRIDGW_SIM" -c "$TMP/sim.conf" --control "$SOCK" --heartbeat 1s
if ! wait_for "[ -S '$SOCK' ] && grep -aq 'sensors/mc-0001/up' '$TMP/all.log'" 10; then
	tap_fail "simulator publishes"
	cat "$TMP/sim.log"
	tap_done
	exit 1
fi
tap_ok "simulator publishes on sensors/mc-0001/up"

first=$(grep -a -m1 '^sensors/mc-0001/up ' "$TMP/all.log" | cut -d' ' -f2-)
expect_match "payload built from the profile's key paths" \
	'^\{"data":\{"tilt":0,"open":false\},"status":"normal","probes":\[null,\{"v":0\}\],"bat":100,"ts":[0-9]{13}\}$' "$first"
ts=$(sed 's/.*"ts":\([0-9]*\).*/\1/' <<<"$first")
now=$(($(date +%s) * 1000))
if [ $((now - ts)) -lt 60000 ] && [ $((ts - now)) -lt 60000 ]; then tap_ok "ts is the wall clock in ms"
else tap_fail "ts is the wall clock in ms ($ts vs $now)"; fi

wait_for "grep -aq '^lora/mc-0003/rx ' '$TMP/all.log'" 5
lora=$(grep -a -m1 '^lora/mc-0003/rx ' "$TMP/all.log" | cut -d' ' -f2-)
expect_match "json:KEY source: id placed under the key path, own ts key" \
	'"meta":\{"dev":"mc-0003"\},"time":[0-9]{13}\}$' "$lora"

# A change is published at once, encoded through the profile.
ctl set mc-0001 tilt 12.5 >/dev/null
ctl set mc-0001 open true >/dev/null
ctl set mc-0001 status alarm >/dev/null
ctl set mc-0001 level 10 >/dev/null
if wait_for "grep -aq '\"tilt\":12.5,\"open\":true},\"status\":\"alarm\",\"probes\":\[null,{\"v\":20}\]' '$TMP/all.log'" 3; then
	tap_ok "set is published at once: number, bool, enum name, scaled array element"
else
	tap_fail "set is published at once"
	tail -3 "$TMP/all.log"
fi
expect "get returns what was set" "ok 1" "$(ctl get mc-0001 status)"
expect_match "an unknown enum name is refused" '^error bad value' "$(ctl set mc-0001 status melted)"

# Heartbeats keep coming without changes.
n0=$(count '^sensors/mc-0002/up ' all)
sleep 3.2
n1=$(count '^sensors/mc-0002/up ' all)
if [ $((n1 - n0)) -ge 2 ]; then tap_ok "heartbeat every second ($((n1 - n0)) in 3.2 s)"
else tap_fail "heartbeat every second ($((n1 - n0)) in 3.2 s)"; fi

# Silent stops publishing; recover resumes at once.
expect_match "fail silent accepted" '^ok' "$(ctl fail mc-0002 silent)"
sleep 0.3
n0=$(count '^sensors/mc-0002/up ' all)
sleep 2.2
n1=$(count '^sensors/mc-0002/up ' all)
expect "silent: nothing published" "$n0" "$n1"
ctl recover mc-0002 >/dev/null
if wait_for "[ \$(count '^sensors/mc-0002/up ' all) -gt $n1 ]" 3; then tap_ok "recover: publishing resumes"
else tap_fail "recover: publishing resumes"; fi

# Garbage is not JSON.
ctl fail mc-0002 garbage >/dev/null
sleep 1.5
ctl recover mc-0002 >/dev/null
if LC_ALL=C grep -a '^sensors/mc-0002/up ' "$TMP/all.log" | cut -d' ' -f2- | LC_ALL=C grep -qav '^{"data"'; then
	tap_ok "garbage: a payload that is not the profile's JSON"
else
	tap_fail "garbage: a payload that is not the profile's JSON"
fi
expect_match "Modbus-only fault modes are refused for MQTT devices" '^error mode exception' \
	"$(ctl fail mc-0002 exception)"

# A ramp publishes its way to the target.
ctl ramp mc-0001 tilt 20 1 >/dev/null
if wait_for "grep -aq '\"tilt\":20,' '$TMP/all.log'" 4; then tap_ok "ramp reaches its target"
else tap_fail "ramp reaches its target"; fi
mid=$(grep -a '^sensors/mc-0001/up ' "$TMP/all.log" | grep -cE '"tilt":(1[3-9]|12\.[6-9])')
if [ "$mid" -ge 2 ]; then tap_ok "ramp publishes intermediate values ($mid)"
else tap_fail "ramp publishes intermediate values ($mid)"; fi

# Clean stop: SIGTERM.
kill -TERM "$PID_sim"
if wait_for "! kill -0 $PID_sim 2>/dev/null" 5; then tap_ok "SIGTERM stops the simulator"
else tap_fail "SIGTERM stops the simulator"; fi
wait "$PID_sim" 2>/dev/null
expect "exit status 0 after SIGTERM" "0" "$?"

tap_done
