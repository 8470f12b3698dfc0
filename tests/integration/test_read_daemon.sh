#!/bin/bash
# `gridgw read DEVICE` while the daemon runs: the read is the daemon's (control
# op live_read, run by the device's own bus thread), so a serial line needs no
# --force and gets no second master: the registers are the ones the simulator
# serves, the daemon logs the read, polling goes on; --watch refreshes; a dead
# unit says why in plain words and exits 1; a busy daemon and a device it does
# not know are said so; an MQTT device shows its last message as not live; --force and
# no daemon read the bus directly as before.
. "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
SOCK=$TMP/sim.sock
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "readd-gw"; site = { street = "S"; community = "C"; grid = "G1"; };
  state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; log_level = "info"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; },
          { name = "line"; type = "rtu"; device = "$TMP/ttyR"; baud = 115200; timeout = "300ms"; } );
mqtt_sources = ( { name = "bridge"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; } );
devices = (
  { id = "smoke-dead"; profile = "smoke_detector"; bus = "lan"; unit = 9; poll = "500ms"; },
  { id = "mc-1"; profile = "manhole_cover_mqtt"; source = "bridge"; offline_after = "1h"; },
  { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "500ms"; },
  { id = "smoke-r"; profile = "smoke_detector"; bus = "line"; unit = 2; poll = "300ms"; }
);
CONF
# The simulator serves smoke-a and smoke-r: unit 9 is a dead unit, mc-1 is fed by this test.
sed -e '/id = "smoke-dead"/d' -e '/id = "mc-1"/d' "$TMP/gw.conf" >"$TMP/sim.conf"
spawn sim "$GRIDGW_SIM" -c "$TMP/sim.conf" --control "$SOCK" --quiet
if ! wait_port "$MB" 10 || ! wait_for "[ -S '$SOCK' ] && [ -e '$TMP/ttyR' ]" 10; then
	tap_fail "simulator starts"; cat "$TMP/sim.log"; tap_done; exit 1
fi
ctl() { "$GRIDGW_SIM" ctl "$SOCK" "$@"; }
reads() { ctl stats "$1" | sed -n 's/.*reads=\([0-9]*\).*/\1/p'; }
rd() { # out-name args... -> exit status in $TMP/NAME.rc
	local name=$1; shift
	timeout 40 "$GRIDGW" read -c "$TMP/gw.conf" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	echo $? >"$TMP/$name.rc"
}
jv() { # file python-expression (d: the first JSON line, P: its points by name)
	$PY -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); P={p["name"]:p for p in d.get("points",[])}; exec("print(" + sys.argv[2] + ")")' "$1" "$2"
}
for d in smoke-a smoke-r; do
	ctl set $d smoke 0.123 >/dev/null
	ctl set $d battery 87 >/dev/null
	ctl set $d temperature -5.5 >/dev/null
	ctl set $d alarm 1 >/dev/null
done
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "[ -S '$TMP/state/gridgw.sock' ] && grep -q 'smoke-r' '$TMP/gw.log' && [ \"\$(reads smoke-r)\" -gt 0 ]" 20 ||
	tap_fail "daemon up and polling smoke-r"

# --- a serial line: no --force, the daemon's bus thread reads it ------------------
rd rtu smoke-r --json
check "read smoke-r (RTU, daemon polling it) without --force: exit 0" test "$(cat "$TMP/rtu.rc")" = 0
check "no refusal or second-master warning on stderr" bash -c "! grep -qiE 'master|force' '$TMP/rtu.err'"
check "through the daemon: via daemon, 7 of 7 good" test "$(jv "$TMP/rtu.out" 'd["via"], d["bus"], d["unit"], d["good"], d["points_total"]')" = "daemon line 2 7 7"
want_bat=$(ctl get smoke-r battery | sed 's/^ok //')
check "battery raw register = the simulator's value ($want_bat)" test "$(jv "$TMP/rtu.out" 'P["battery"]["raw"], P["battery"]["value"]')" = "[$want_bat] $want_bat"
check "smoke raw 123 -> 0.123 dB/m, temperature raw 0xffc9 -> -5.5" \
	test "$(jv "$TMP/rtu.out" 'P["smoke"]["raw"], P["smoke"]["value"], P["temperature"]["raw"], P["temperature"]["value"]')" = "[123] 0.123 [65481] -5.5"
check "the daemon logged who asked and the read's outcome" \
	bash -c "grep -q 'live read of smoke-r asked by unix user' '$TMP/gw.log' && grep -q 'live read of smoke-r for gridgw read: 7 of 7 points good' '$TMP/gw.log'"

# --- the text table ----------------------------------------------------------------
rd txt smoke-a
check "text: exit 0, says the daemon's bus thread read it" \
	bash -c "[ \$(cat '$TMP/txt.rc') = 0 ] && grep -q \"^device smoke-a: .*(read by the running daemon's bus thread)\" '$TMP/txt.out'"
check "text: the battery row with raw 0x0057 and the total" \
	bash -c "grep -qE '^ +battery +87 +% +good +input +2 +0x0057' '$TMP/txt.out' && grep -q '^7 of 7 points good' '$TMP/txt.out'"

# --- --watch refreshes ---------------------------------------------------------------
timeout 60 "$GRIDGW" read -c "$TMP/gw.conf" smoke-r --json --watch --interval 200ms >"$TMP/watch.out" 2>"$TMP/watch.err" &
WPID=$!
wait_for "[ -s '$TMP/watch.out' ]" 20 || tap_fail "watch: a first read"
ctl set smoke-r battery 42 >/dev/null
wait_for "grep -q '\"name\":\"battery\",\"value\":42' '$TMP/watch.out'" 20
kill -INT $WPID; wait $WPID; wrc=$?
check "--watch: the simulator's new battery 42 shows in a later read" grep -q '"name":"battery","value":42,"unit":"%","quality":"good","table":"input","address":2,"raw":\[42\]' "$TMP/watch.out"
check "--watch: reads numbered 1, 2, ... through the daemon" \
	$PY -c 'import json,sys; L=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if len(L) >= 2 and [d["read"] for d in L] == list(range(1, len(L)+1)) and all(d["via"] == "daemon" for d in L) else 1)' "$TMP/watch.out"
check "--watch ends on SIGINT with exit 0 (last read good)" test "$wrc" = 0 || { echo "# rc $wrc"; sed "s/^/# /" "$TMP/watch.err"; tail -c 600 "$TMP/watch.out" | sed "s/^/# /"; }

# --- a dead unit ------------------------------------------------------------------------
rd dead smoke-dead --json
check "dead unit: exit 1" test "$(cat "$TMP/dead.rc")" = 1
check "dead unit: every point comm_error, no raw, 'no answer from unit 9' in plain words" \
	test "$(jv "$TMP/dead.out" 'd["via"], d["good"], all(p["quality"] == "comm_error" and p["raw"] is None and "no answer from unit 9" in p["error"] for p in d["points"])')" = "daemon 0 True"
rd deadtxt smoke-dead
check "dead unit, text: the reason on the point's row, exit 1" \
	bash -c "[ \$(cat '$TMP/deadtxt.rc') = 1 ] && grep -qE '^ +smoke .*comm_error .*no answer from unit 9' '$TMP/deadtxt.out'"

# --- the daemon busy: more reads at once than it takes (8 waiting at most) -----------
# smoke-r times out (300 ms a read, one after another on its bus thread), so
# 12 reads started together cannot all wait: the rest are told to try again.
ctl fail smoke-r timeout >/dev/null
bpids=()
for i in $(seq 1 12); do
	timeout 40 "$GRIDGW" read -c "$TMP/gw.conf" smoke-r >"$TMP/busy$i.out" 2>"$TMP/busy$i.err" &
	bpids+=($!)
done
brc=0; for p in "${bpids[@]}"; do wait "$p" || brc=$((brc + 1)); done
ctl recover smoke-r >/dev/null
check "12 reads of a silent unit at once: every one exits non-zero ($brc of 12)" test "$brc" = 12
check "and the ones the daemon could not take are told it is busy, in plain words" \
	grep -q 'the daemon could not read smoke-r: the daemon is busy with other reads, or the bus is not running; try again' $TMP/busy*.err
check "the ones it took: no answer from unit 2 within 300 ms" grep -q 'no answer from unit 2 within 300 ms' $TMP/busy*.out

# --- a device the running daemon does not have (its config is older) -----------------
sed 's/^devices = ($/devices = (\n  { id = "smoke-new"; profile = "smoke_detector"; bus = "lan"; unit = 3; poll = "1s"; },/' "$TMP/gw.conf" >"$TMP/new.conf"
timeout 40 "$GRIDGW" read -c "$TMP/new.conf" smoke-new >"$TMP/new.out" 2>"$TMP/new.err"; nrc=$?
check "a device unknown to the daemon: exit 1, said in plain words" \
	bash -c "[ $nrc = 1 ] && grep -q 'the daemon could not read smoke-new: the running daemon has no such device' '$TMP/new.err'"

# --- an MQTT device: its last message, not live ------------------------------------------
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/mc-1/up -m '{"data":{"tilt":12.5,"open":true},"bat":77}'
wait_for "timeout 20 '$GRIDGW' read -c '$TMP/gw.conf' mc-1 --json | grep -q '\"tilt\",\"value\":12.5'" 20
rd mq mc-1 --json
check "MQTT --json: live false, via daemon, the last message's values" \
	test "$(jv "$TMP/mq.out" 'd["live"], d["via"], P["tilt"]["value"], P["battery"]["value"]')" = "False daemon 12.5 77"
rd mqt mc-1
check "MQTT text: says it is not a live read but the last message" \
	bash -c "grep -q '^device mc-1: .*not a live read: the values of its last message' '$TMP/mqt.out' && grep -qE '^ +tilt +12.5 ' '$TMP/mqt.out'"

# --- the daemon's polling kept going ---------------------------------------------------
r0=$(reads smoke-r)
wait_for "[ \"\$(reads smoke-r)\" -gt $((r0 + 2)) ]" 20
check "polling of smoke-r goes on after the reads ($r0 -> $(reads smoke-r) reads)" test "$(reads smoke-r)" -gt $((r0 + 2))
check "the daemon logged no error" bash -c "! grep -q ' ERROR ' '$TMP/gw.log'"

# --- --force, and no daemon: the bus opened here ----------------------------------------
rd force smoke-a --json --force
check "--force on a TCP bus: read directly (via direct), exit 0" test "$(cat "$TMP/force.rc") $(jv "$TMP/force.out" 'd["via"], P["battery"]["raw"]')" = "0 direct [87]"
kill "$PID_gw"; wait "$PID_gw" 2>/dev/null
wait_for "! [ -S '$TMP/state/gridgw.sock' ]" 10
rd direct smoke-r --json
check "no daemon: smoke-r read over the pty directly (via direct), the same registers" \
	test "$(cat "$TMP/direct.rc") $(jv "$TMP/direct.out" 'd["via"], P["battery"]["raw"], P["smoke"]["raw"]')" = "0 direct [42] [123]"
tap_done
