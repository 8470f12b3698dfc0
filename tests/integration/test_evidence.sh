#!/bin/bash
# An incident's evidence is every point of the device, with quality: the
# platform subscriber sees battery and temperature beside the smoke reading
# of a detector in alarm (the rule reads only `alarm`), on `raised` and on
# `cleared`.
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
P=grid/v1/ev-gw
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "ev-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0";
  reconnect_min = "1s"; reconnect_max = "1s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
devices = ( { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; } );
CONF
record_topic incidents "$P/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock"
wait_port "$MB" 10 || tap_fail "simulator up"
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@" >/dev/null; }
# The core's own view of a point (control socket op read).
core_has() { # point value
	python3 -c 'import socket,sys,json; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"op\":\"read\",\"device\":\"smoke-a\"}\n"); d=json.loads(s.makefile().readline())
sys.exit(0 if d["device"]["points"][sys.argv[2]]["value"] == float(sys.argv[3]) else 1)' \
		"$TMP/state/gridgw.sock" "$1" "$2" 2>/dev/null
}
sim set smoke-a battery 87
sim set smoke-a temperature 31.5
sim set smoke-a smoke 0.21
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"
# The device's values are read before the alarm: wait for a poll of them.
wait_for "core_has battery 87 && core_has temperature 31.5" 10 || tap_fail "the core has the values"
sim set smoke-a alarm 1
check "raised at the platform" wait_for "grep -q '\"event\":\"raised\"' $TMP/incidents.log" 10
ev=$(grep '"event":"raised"' "$TMP/incidents.log" | head -1)
evidence=$(echo "$ev" | grep -o '"evidence":{[^}]*}')
echo "# $evidence"
check "evidence has the alarm the rule reads" bash -c "echo '$evidence' | grep -q '\"alarm\":true'"
check "evidence has the battery" bash -c "echo '$evidence' | grep -q '\"battery\":87'"
check "evidence has the temperature" bash -c "echo '$evidence' | grep -q '\"temperature\":31.5'"
check "evidence has the smoke reading" bash -c "echo '$evidence' | grep -q '\"smoke\":0.21'"
for p in fault tamper self_test; do
	check "evidence has $p" bash -c "echo '$evidence' | grep -q '\"$p\":false'"
done
check "all points good: no _quality map" bash -c "! echo '$ev' | grep -q '_quality'"
sim set smoke-a battery 12
# The core must have the new battery value before the alarm clears.
wait_for "core_has battery 12" 10 || tap_fail "the core has the new battery value"
sim set smoke-a alarm 0
check "cleared at the platform" wait_for "grep -q '\"event\":\"cleared\"' $TMP/incidents.log" 10
clr=$(grep '"event":"cleared"' "$TMP/incidents.log" | head -1 | grep -o '"evidence":{[^}]*}')
check "cleared carries the device's values then (battery 12)" bash -c "echo '$clr' | grep -q '\"battery\":12'"
# A device that stops answering: the evidence says so per point.
kill "$PID_sim"
check "device.offline raised" wait_for "grep -q '\"type\":\"device.offline\"' $TMP/incidents.log" 20
off=$(grep '"type":"device.offline"' "$TMP/incidents.log" | head -1)
echo "# $(echo "$off" | grep -o '"evidence":{.*}')"
check "device.offline evidence: every point null, quality comm_error (not current)" \
	bash -c "echo '$off' | grep -q '\"battery\":null' && echo '$off' | grep -q '\"_quality\":{[^}]*\"battery\":\"comm_error\"'"
tap_done
