#!/bin/bash
# End to end through the real interfaces: gridgw-sim (Modbus TCP, RTU on a
# pty, MQTT), gridgw run, a real mosquitto, a recording platform subscriber.
# Alarm → raised (every contract field) → cleared; platform workflow
# commands, replays and refusals; point.write; local ack/shelve via the CLI;
# SIGHUP reload (bad config rejected, good one keeps incidents).
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
DEAD=$(free_port)
P=grid/v1/e2e-gw
# The gateway also knows a bus nobody answers on and an MQTT device that
# never reports; the simulator's config does not have them.
extra_buses=", { name = \"dead\"; type = \"tcp\"; host = \"127.0.0.1\"; port = $DEAD; timeout = \"200ms\"; }"
extra_devices=", { id = \"smoke-dead\"; profile = \"smoke_detector\"; bus = \"dead\"; unit = 1; poll = \"200ms\"; },
  { id = \"lift-dead\"; profile = \"elevator_ebike\"; bus = \"dead\"; unit = 2; poll = \"200ms\"; },
  { id = \"mc-silent\"; profile = \"manhole_cover_mqtt\"; source = \"nb\"; offline_after = \"2s\"; }"
write_conf() { # file with_extras
	local eb="" ed="" ea=""
	[ "$2" = 1 ] && { eb=$extra_buses; ed=$extra_devices; ea=', { write = "lift-dead:door_hold"; value = 1; }'; }
	cat >"$1" <<CONF
gateway = { id = "e2e-gw"; site = { street = "S"; community = "C"; grid = "G1"; };
  state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; log_level = "debug"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
buses = (
  { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; },
  { name = "rs485"; type = "rtu"; device = "$TMP/ttyRS485"; baud = 19200; timeout = "300ms"; } $eb
);
mqtt_sources = ( { name = "nb"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; } );
devices = (
  { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "701"; }; },
  { id = "smoke-b"; profile = "smoke_detector"; bus = "rs485"; unit = 7; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 8; room = "801"; }; },
  { id = "lift-a"; profile = "elevator_ebike"; bus = "lan"; unit = 2; poll = "200ms";
    location = { building = "5"; entrance = "2"; place = "Elevator A"; }; },
  { id = "mc-1"; profile = "manhole_cover_mqtt"; source = "nb"; offline_after = "1h";
    location = { place = "North gate"; }; } $ed
);
rules = (
  { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
    message = "Smoke at {building}-{entrance}-{room}"; },
  { id = "tilt"; profile = "manhole_cover_mqtt"; when = "tilt > 10"; type = "manhole.tilt"; severity = 2;
    message = "Tilt {tilt} at {place}"; },
  { id = "ebike"; profile = "elevator_ebike"; when = "ebike"; type = "elevator.ebike"; severity = 3;
    on_raise = ( { write = "door_hold"; value = 1; } $ea ); }
);
CONF
}
write_conf "$TMP/gw.conf" 1
write_conf "$TMP/sim.conf" 0
cp "$TMP/gw.conf" "$TMP/gw.good"

record_topic incidents "$P/incident"
record_topic results "$P/cmd/result"
spawn sim "$GRIDGW_SIM" -c "$TMP/sim.conf" --control "$TMP/sim.sock" --heartbeat 1s
wait_port "$MB" 10 && wait_for "[ -e $TMP/ttyRS485 ]" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@"; }
cmd() { mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$P/cmd" -m "$1"; }
events() { grep -c "\"$1\"" "$TMP/incidents.log"; }
last_of() { grep "$1" "$TMP/incidents.log" | tail -1 | cut -d' ' -f2-; }
jget() { local re="\"$2\":(\"([^\"]*)\"|([-0-9.]+|true|false))"; [[ $1 =~ $re ]] && printf '%s' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"; }
sleep 2

# --- raise over Modbus TCP ---------------------------------------------------
sim set smoke-a alarm 1 >/dev/null
check "fire.smoke raised for smoke-a" wait_for "grep -q '\"event\":\"raised\".*\"device\":\"smoke-a\"' $TMP/incidents.log" 10
ev=$(last_of '"event":"raised".*"device":"smoke-a"')
ok_fields=1
for k in schema gateway id seq event type severity rule device kind location active acked workflow count first_ts ts message evidence; do
	echo "$ev" | grep -q "\"$k\":" || { echo "# missing field $k"; ok_fields=0; }
done
check "raised event carries every contract field" test $ok_fields = 1
check "raised event values" test "$(jget "$ev" schema)/$(jget "$ev" type)/$(jget "$ev" severity)/$(jget "$ev" workflow)/$(jget "$ev" active)" = "gridgw.incident/1/fire.smoke/1/raised/true"
check "message rendered from location" test "$(jget "$ev" message)" = "Smoke at 5-2-701"
check "location carries site and device fields" bash -c "echo '$ev' | grep -q '\"street\":\"S\".*\"building\":\"5\".*\"room\":\"701\"'"
check "evidence holds the alarm point" bash -c "echo '$ev' | grep -q '\"evidence\":{[^}]*\"alarm\":true'"
ID=$(jget "$ev" id)

# --- devices never heard from --------------------------------------------------
check "a device on a bus that never opens raises device.offline" \
	wait_for "grep -q '\"event\":\"raised\".*\"type\":\"device.offline\".*\"device\":\"smoke-dead\"' $TMP/incidents.log" 10
check "an MQTT device that never reports raises device.offline" \
	wait_for "grep -q '\"event\":\"raised\".*\"type\":\"device.offline\".*\"device\":\"mc-silent\"' $TMP/incidents.log" 10

# --- RTU on the pty ------------------------------------------------------------
sim set smoke-b alarm 1 >/dev/null
check "fire.smoke raised for smoke-b over RTU" wait_for "grep -q '\"event\":\"raised\".*\"device\":\"smoke-b\"' $TMP/incidents.log" 10

# --- MQTT source -----------------------------------------------------------------
sim set mc-1 tilt 25 >/dev/null
check "manhole.tilt raised from MQTT" wait_for "grep -q '\"event\":\"raised\".*\"type\":\"manhole.tilt\"' $TMP/incidents.log" 10

mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t sensors/mc-1/up -m '{"data":{"tilt":'
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -t sensors/nobody/up -m '{"data":{"tilt":1}}'
check "malformed and unknown-device MQTT messages are counted in status" \
	wait_for "'$GRIDGW' status -c '$TMP/gw.conf' --json | grep -q '\"malformed\":1,\"unknown_device\":1'" 10
check "the source keeps working after them" \
	bash -c "'$GRIDGW' status -c '$TMP/gw.conf' | grep -q '^mqtt .*1 malformed, 1 unknown device'"

# --- clear -------------------------------------------------------------------------
sim set smoke-a alarm 0 >/dev/null
check "cleared event after the alarm cleared" wait_for "grep -q '\"event\":\"cleared\".*\"device\":\"smoke-a\"' $TMP/incidents.log" 10

# --- platform workflow -------------------------------------------------------------
cmd "{\"req\":\"r1\",\"op\":\"incident.workflow\",\"incident\":\"$ID\",\"workflow\":\"dispatched\",\"by\":\"worker-17\"}"
check "workflow dispatched answered ok" wait_for "grep -q '\"req\":\"r1\",\"ok\":true' $TMP/results.log" 10
check "workflow event sent" wait_for "grep -q '\"event\":\"workflow\".*\"workflow\":\"dispatched\"' $TMP/incidents.log" 10
cmd "{\"req\":\"r2\",\"op\":\"incident.workflow\",\"incident\":\"$ID\",\"workflow\":\"accepted\",\"by\":\"worker-17\",\"note\":\"on my way\"}"
check "workflow accepted" wait_for "grep -q '\"workflow\":\"accepted\"' $TMP/incidents.log" 10
n_before=$(grep -c '"event":"workflow"' "$TMP/incidents.log")
cmd "{\"req\":\"r2\",\"op\":\"incident.workflow\",\"incident\":\"$ID\",\"workflow\":\"accepted\",\"by\":\"worker-17\"}"
check "replayed req answered again" wait_for "[ \$(grep -c '\"req\":\"r2\"' $TMP/results.log) -ge 2 ]" 10
sleep 0.5
check "replayed req not applied twice" test "$(grep -c '"event":"workflow"' "$TMP/incidents.log")" = "$n_before"
cmd "{\"req\":\"r3\",\"op\":\"incident.workflow\",\"incident\":\"$ID\",\"workflow\":\"dispatched\"}"
check "illegal transition refused" wait_for "grep -q '\"req\":\"r3\",\"ok\":false' $TMP/results.log" 10
cmd "{\"req\":\"r3c\",\"op\":\"incident.close\",\"incident\":\"$ID\",\"by\":\"worker-17\",\"note\":\"handled\"}"
check "incident.close from accepted answered ok" wait_for "grep -q '\"req\":\"r3c\",\"ok\":true' $TMP/results.log" 10
check "closed event sent" wait_for "grep -q '\"event\":\"closed\".*\"id\":\"$ID\"\|\"id\":\"$ID\".*\"event\":\"closed\"' $TMP/incidents.log" 10
cmd '{"req":"r4","op":"incident.workflow",'
cmd '{"req":"r5","op":"reboot.now"}'
check "malformed JSON refused" wait_for "grep -q '\"ok\":false' $TMP/results.log" 10
check "unknown op refused with its req" wait_for "grep -q '\"req\":\"r5\",\"ok\":false' $TMP/results.log" 10

# --- point.write -----------------------------------------------------------------------
cmd '{"req":"w1","op":"point.write","device":"lift-a","point":"door_hold","value":1}'
check "point.write door_hold answered ok" wait_for "grep -q '\"req\":\"w1\",\"ok\":true' $TMP/results.log" 10
check "door_hold coil is 1 at the device" bash -c "'$GRIDGW_SIM' ctl '$TMP/sim.sock' get lift-a door_hold | grep -q 'ok 1'"
cmd '{"req":"w2","op":"point.write","device":"lift-a","point":"confidence","value":5}'
check "point.write of a non-remote_write point refused" wait_for "grep -q '\"req\":\"w2\",\"ok\":false' $TMP/results.log" 10

# --- rule actions and their outcome on the incident's evidence ---------------------
cmd '{"req":"w0","op":"point.write","device":"lift-a","point":"door_hold","value":0}'
wait_for "grep -q '\"req\":\"w0\",\"ok\":true' $TMP/results.log" 10
sim set lift-a ebike 1 >/dev/null
check "e-bike raised elevator.ebike" wait_for "grep -q '\"event\":\"raised\".*\"type\":\"elevator.ebike\"' $TMP/incidents.log" 10
check "on_raise wrote door_hold at the device" wait_for "'$GRIDGW_SIM' ctl '$TMP/sim.sock' get lift-a door_hold | grep -q 'ok 1'" 10
check "the write's success is on the incident's evidence" \
	wait_for "grep -q '\"_actions\":\[{\"action\":\"write lift-a.door_hold = 1\",\"ok\":true' $TMP/incidents.log" 10
check "a write to a dead device is retried, then recorded as failed" \
	wait_for "grep -q '\"action\":\"write lift-dead.door_hold = 1\",\"ok\":false' $TMP/incidents.log" 25

# --- local CLI ---------------------------------------------------------------------------
ID_B=$(jget "$(last_of '"event":"raised".*"device":"smoke-b"')" id)
check "gridgw ack" "$GRIDGW" ack "$ID_B" -c "$TMP/gw.conf" --by manager --note "checked"
check "acked event sent" wait_for "grep -q '\"event\":\"acked\".*\"device\":\"smoke-b\"' $TMP/incidents.log" 10
check "gridgw ack of an unknown id fails" bash -c "! '$GRIDGW' ack 01ZZZZZZZZZZZZZZZZZZZZZZZZ -c '$TMP/gw.conf' 2>/dev/null"
check "gridgw status" bash -c "'$GRIDGW' status -c '$TMP/gw.conf' | grep -q 'uplink    up'"
check "gridgw status shows the MQTT source connected" bash -c "'$GRIDGW' status -c '$TMP/gw.conf' | grep -q '^source    nb  *connected'"
check "gridgw status --json" bash -c "'$GRIDGW' status -c '$TMP/gw.conf' --json | grep -q '\"open_incidents\"'"
check "gridgw incidents lists open ones" bash -c "'$GRIDGW' incidents -c '$TMP/gw.conf' | grep -q manhole.tilt"
check "gridgw shelve" "$GRIDGW" shelve smoke-a --for 1h -c "$TMP/gw.conf"
n_a=$(grep -c '"event":"raised".*"device":"smoke-a"' "$TMP/incidents.log")
sim set smoke-a alarm 1 >/dev/null
sleep 1.5
check "a shelved device raises nothing" test "$(grep -c '"event":"raised".*"device":"smoke-a"' "$TMP/incidents.log")" = "$n_a"
check "gridgw unshelve" "$GRIDGW" unshelve smoke-a -c "$TMP/gw.conf"
check "the still-active alarm is raised once unshelved" \
	wait_for "grep '\"device\":\"smoke-a\"' $TMP/incidents.log | tail -1 | grep -q '\"active\":true'" 10

# --- reload --------------------------------------------------------------------------------
raised_before=$(grep -c '"event":"raised"' "$TMP/incidents.log")
echo 'devices = ( { id = "x"; profil = "nope"; } );' >>"$TMP/gw.conf"
kill -HUP "$PID_gw"
check "bad config on SIGHUP is rejected" wait_for "grep -q 'reload rejected' $TMP/gw.log" 10
check "the bad config's error is logged with file:line" grep -q "gw.conf:[0-9]*:" "$TMP/gw.log"
check "still running after a rejected reload" bash -c "'$GRIDGW' status -c '$TMP/gw.good' >/dev/null"
sed 's/poll = "200ms";/poll = "300ms";/' "$TMP/gw.good" >"$TMP/gw.conf"
kill -HUP "$PID_gw"
check "good config on SIGHUP applied" wait_for "grep -q 'reloaded:' $TMP/gw.log" 10
sleep 2
check "reload opened no new incidents for alarms still active" test "$(grep -c '"event":"raised"' "$TMP/incidents.log")" = "$raised_before"
sim set smoke-b alarm 0 >/dev/null
check "alarm state survived the reload (clear after reload)" \
	wait_for "grep -q '\"event\":\"cleared\".*\"device\":\"smoke-b\"' $TMP/incidents.log" 10

# --- seq ----------------------------------------------------------------------------------
seqs=$(grep -o '"seq":[0-9]*' "$TMP/incidents.log" | cut -d: -f2 | sort -n | uniq)
last=$(echo "$seqs" | tail -1)
check "seq 1..$last gapless at the platform" test "$(echo "$seqs" | wc -l)" = "$last"
kill -TERM "$PID_gw"
check "gridgw stops on SIGTERM" wait_for "! kill -0 $PID_gw 2>/dev/null" 10
check "gridgw incidents works from the store with the daemon down" \
	bash -c "'$GRIDGW' incidents -c '$TMP/gw.conf' --all 2>&1 | grep -q 'read from the store'"
[ "$TAP_FAILED" = 0 ] || { echo "# gridgw log tail:"; tail -30 "$TMP/gw.log" | sed 's/^/# /'; }
tap_done
