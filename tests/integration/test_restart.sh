#!/bin/bash
# Alarm state across a restart and a reload of `gridgw run`:
# - an alarm that ended while the gateway was down is cleared on restart;
# - an alarm still active is not raised a second time;
# - device.offline raised before a restart clears when the device is back;
# - gateway.uplink_down raised before a restart clears once connected;
# - a reload that reorders devices raises nothing for devices not in alarm.
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
write_conf() { # file device-order
	cat >"$1" <<CONF
gateway = { id = "rs"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0";
  reconnect_min = "1s"; reconnect_max = "1s"; down_after = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
devices = (
$2
);
CONF
}
A='{ id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; }'
B='{ id = "smoke-b"; profile = "smoke_detector"; bus = "lan"; unit = 2; poll = "200ms"; }'
C='{ id = "smoke-c"; profile = "smoke_detector"; bus = "lan"; unit = 3; poll = "200ms"; }'
write_conf "$TMP/gw.conf" "$A, $B, $C"
spawn rec mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -c -i rs-platform -v -t "grid/v1/rs/incident"
wait_subscribed rs-platform "grid/v1/rs/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@" >/dev/null; }
n_ev() { grep "\"event\":\"$1\"" "$TMP/rec.log" | grep -c "$2"; }
start_gw() { "$GRIDGW" run -c "$TMP/gw.conf" >>"$TMP/gw.log" 2>&1 & GW=$!; SPAWNED+=($GW);
	wait_for "[ -S $TMP/state/gridgw.sock ]" 10; }
stop_gw() { kill -TERM "$GW"; wait_for "! kill -0 $GW 2>/dev/null" 15; }

start_gw
sim set smoke-a alarm 1
sim set smoke-b alarm 1
check "smoke-a and smoke-b raised" wait_for "[ \$(n_ev raised '\"type\":\"fire.smoke\".*smoke-[ab]') = 2 ]" 10
sim fail smoke-c timeout
check "smoke-c offline raised" wait_for "[ \$(n_ev raised 'device.offline.*smoke-c') = 1 ]" 10
stop_gw
sim set smoke-a alarm 0
sim recover smoke-c
start_gw
check "alarm that ended while down is cleared after restart" wait_for "[ \$(n_ev cleared 'fire.smoke.*smoke-a') = 1 ]" 10
check "device back during the restart: device.offline cleared" wait_for "[ \$(n_ev cleared 'device.offline.*smoke-c') = 1 ]" 10
sleep 1
check "still-active alarm not raised again after restart" test "$(n_ev raised 'fire.smoke.*smoke-b')" = 1
check "no updated event for the still-active alarm" test "$(n_ev updated 'smoke-b')" = 0

# Reload with the devices in another order: indices change, alarms must not move.
write_conf "$TMP/gw.conf" "$C, $B, $A"
kill -HUP "$GW"
wait_for "grep -q 'reloaded:' $TMP/gw.log" 10
sleep 1.5
check "reorder reload raised nothing for smoke-a or smoke-c" \
	test "$(n_ev raised 'fire.smoke.*smoke-[ac]')" = 1
sim set smoke-b alarm 0
check "smoke-b clears after the reorder (state followed the device)" wait_for "[ \$(n_ev cleared 'smoke-b') = 1 ]" 10

# The uplink goes down long enough for gateway.uplink_down, then a restart.
# The first recorder is done: left running it would reconnect to the next
# broker with the same client id and take the session over from rec2.
kill "$PID_rec"
kill "$PID_mosquitto"; wait_for "! kill -0 $PID_mosquitto 2>/dev/null" 5
wait_for "grep -q 'raised [0-9A-Z]* gateway.uplink_down' '$TMP/gw.log'" 20
stop_gw
check "gateway.uplink_down was raised while the broker was away" \
	bash -c "sqlite3 '$TMP/state/gridgw.db' \"SELECT count(*) FROM incidents WHERE type='gateway.uplink_down'\" | grep -qx 1"
spawn mosquitto2 mosquitto -c "$TMP/mosquitto.conf"
wait_port "$BROKER_PORT" 10
spawn rec2 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -c -i rs-platform -v -t "grid/v1/rs/incident"
wait_subscribed rs-platform "grid/v1/rs/incident" "$TMP/mosquitto2.log"
start_gw
check "gateway.uplink_down cleared after the restart" \
	wait_for "grep -q '\"event\":\"cleared\",\"type\":\"gateway.uplink_down\"' $TMP/rec2.log" 15
stop_gw
[ "$TAP_FAILED" = 0 ] || tail -30 "$TMP/gw.log" | sed 's/^/# /'
tap_done
