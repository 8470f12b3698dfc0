#!/bin/bash
# Connection failures are logged with their cause at WARN once per state
# change, not on every retry; the recovery once at INFO. A Modbus server,
# an MQTT source's broker and the uplink broker are all down for several
# retry periods, then come up.
. "$(dirname "$0")/../lib/common.sh"
MB=$(free_port)
BP=$(free_port)
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "logs-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BP"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "1s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
mqtt_sources = ( { name = "nb"; url = "tcp://127.0.0.1:$BP"; topic = "sensors/+/up"; device_from = "topic:2"; } );
devices = ( { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; },
  { id = "mc-1"; profile = "manhole_cover_mqtt"; source = "nb"; offline_after = "1h"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
CONF
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
# Modbus: 200 ms doubling → 5+ attempts; uplink every 1 s → 4+ attempts.
sleep 5
bus_warns() { grep ' WARN modbus: bus lan' "$TMP/gw.log" | grep -v 'device'; }
echo "# bus connect attempts logged at DEBUG or not at all; WARN lines:"; bus_warns | sed 's/^/#   /'
check "bus down: exactly one WARN" test "$(bus_warns | wc -l)" = 1
check "the WARN names the cause" bash -c "grep ' WARN modbus: bus lan' '$TMP/gw.log' | grep -q 'Connection refused'"
check "no INFO per bus retry" test "$(grep -c ' INFO modbus: bus lan' "$TMP/gw.log")" = 0
up_warns=$(grep -c ' WARN uplink: cannot connect\| WARN uplink: link' "$TMP/gw.log")
check "uplink down: exactly one WARN ($up_warns)" test "$up_warns" = 1
check "the uplink WARN names the cause" bash -c "grep ' WARN uplink: cannot connect to tcp://127.0.0.1:$BP' '$TMP/gw.log' | grep -qi 'refused\|fail\|tcp'"
check "no INFO per uplink retry" test "$(grep -c ' INFO uplink: connect to' "$TMP/gw.log")" = 0
src_warns=$(grep -c ' WARN mqtt-source: source nb: cannot connect\| WARN mqtt-source: source nb: connect' "$TMP/gw.log")
check "source down: exactly one WARN ($src_warns)" test "$src_warns" = 1

# Up: each recovery once at INFO.
cat >"$TMP/mosquitto.conf" <<MC
listener $BP 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
MC
spawn mosquitto mosquitto -c "$TMP/mosquitto.conf"
wait_port "$BP" 10 || tap_fail "broker up"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --quiet
check "bus recovery logged once at INFO" wait_for "grep -q ' INFO modbus: bus lan: link open again' $TMP/gw.log" 15
check "uplink recovery logged at INFO" wait_for "grep -q ' INFO uplink: connected to' $TMP/gw.log" 15
check "source recovery logged at INFO" wait_for "grep -q ' INFO mqtt-source: source nb: connected' $TMP/gw.log" 15
sleep 1
check "bus: still one WARN after the recovery" test "$(bus_warns | wc -l)" = 1
check "bus: one recovery line" test "$(grep -c ' INFO modbus: bus lan: link open' "$TMP/gw.log")" = 1
tap_done
