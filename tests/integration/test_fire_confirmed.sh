#!/bin/bash
# Two-detector fire confirmation end to end (issue 9): gridgw-sim speaking
# Modbus TCP, gridgw run, a real mosquitto, a recording platform subscriber.
# Both ways of writing it — the one-rule style of the README (a correlation
# rule typed fire.smoke) and the two-rule style (a per-device fire.smoke rule
# plus a correlation rule typed fire.confirmed) — give fire.smoke per
# detector and exactly one fire.confirmed per floor once two detectors of the
# floor alarm, and never a fire.confirmed from one detector. A config in
# which one detector could raise a confirmed type is refused by gridgw check.
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker"; tap_done; exit 1; }
P=grid/v1/fire-gw

one_rule='{ id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 2; latch = true;
    group = "floor"; min_devices = 2; within = "60s"; }'
two_rules='{ id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 2; latch = true; },
  { id = "confirmed"; profile = "smoke_detector"; when = "alarm"; group = "floor"; min_devices = 2; within = "60s";
    type = "fire.confirmed"; severity = 1; }'

write_conf() { # file state_dir modbus_port rules
	cat >"$1" <<CONF
gateway = { id = "fire-gw"; site = { street = "S"; community = "C"; grid = "G1"; };
  state_dir = "$2"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $3; timeout = "300ms"; } );
devices = (
  { id = "s701"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "701"; }; },
  { id = "s702"; profile = "smoke_detector"; bus = "lan"; unit = 2; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "702"; }; },
  { id = "s703"; profile = "smoke_detector"; bus = "lan"; unit = 3; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "703"; }; },
  { id = "s801"; profile = "smoke_detector"; bus = "lan"; unit = 4; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 8; room = "801"; }; }
);
rules = (
  $4
);
CONF
}

# raised TYPE: how many raised events of TYPE the platform got in this style
raised() { grep '"event":"raised"' "$REC" | grep -c "\"type\":\"$1\""; }
smoke_of() { wait_for "[ \$(grep '\"event\":\"raised\"' '$REC' | grep -c '\"type\":\"fire.smoke\".*\"device\":\"$1\"') = 1 ]" 20; }

# One style from a fresh state dir and a fresh simulator: events in the
# platform's order (the uplink keeps seq order), so once a later event has
# arrived, anything an earlier alarm produced has arrived too.
run_style() { # name rules
	local name=$1 mb
	mb=$(free_port)
	write_conf "$TMP/$name.conf" "$TMP/state-$name" "$mb" "$2"
	check "$name: gridgw check accepts it" sh -c "'$GRIDGW' check -c '$TMP/$name.conf' >/dev/null"
	record_topic "inc_$name" "$P/incident"
	REC=$TMP/inc_$name.log
	spawn "sim_$name" "$GRIDGW_SIM" -c "$TMP/$name.conf" --control "$TMP/$name.sock"
	wait_port "$mb" 10 || tap_fail "$name: simulator up"
	spawn "gw_$name" "$GRIDGW" run -c "$TMP/$name.conf"
	local pid_var="PID_gw_$name" sim_pid_var="PID_sim_$name"
	wait_for "grep -q 'uplink: connected' '$TMP/gw_$name.log'" 20 || tap_fail "$name: gridgw connected"
	# every detector read good at least once, so no offline noise races the alarms
	wait_for "'$GRIDGW' status -c '$TMP/$name.conf' 2>/dev/null | grep -qE '4 online|online 4|4/4'" 20
	sim() { "$GRIDGW_SIM" ctl "$TMP/$name.sock" "$@" >/dev/null; }

	sim set s701 alarm 1
	check "$name: first detector raises fire.smoke" smoke_of s701
	sim set s801 alarm 1   # another floor: confirms nothing
	check "$name: detector on floor 8 raises fire.smoke" smoke_of s801
	check "$name: one detector per floor gives no fire.confirmed" test "$(raised fire.confirmed)" = 0

	sim set s702 alarm 1
	check "$name: second detector on floor 7 raises fire.smoke" smoke_of s702
	check "$name: two detectors on floor 7 give fire.confirmed" \
		wait_for "[ \$(grep '\"event\":\"raised\"' '$REC' | grep -c '\"type\":\"fire.confirmed\"') -ge 1 ]" 20
	sim set s703 alarm 1   # a third detector joins the confirmed fire
	check "$name: third detector raises fire.smoke" smoke_of s703
	check "$name: exactly one fire.confirmed for floor 7" test "$(raised fire.confirmed)" = 1
	check "$name: the fire.confirmed names floor 7" \
		bash -c "grep '\"event\":\"raised\"' '$REC' | grep '\"type\":\"fire.confirmed\"' | grep -q '\"floor\":7'"
	check "$name: fire.smoke exactly once per detector" test "$(raised fire.smoke)" = 4
	check "$name: nothing but fire.smoke and fire.confirmed raised" \
		test "$(grep -c '"event":"raised"' "$REC")" = 5
	local rec_pid_var="PID_inc_$name"
	kill "${!pid_var}" "${!sim_pid_var}" "${!rec_pid_var}" 2>/dev/null
	wait "${!pid_var}" "${!sim_pid_var}" "${!rec_pid_var}" 2>/dev/null
}

run_style one_rule "$one_rule"
run_style two_rules "$two_rules"

# --- ambiguous configs are refused at their line ------------------------------
# a per-device rule typed as the confirmed type of a correlation rule
write_conf "$TMP/bad1.conf" "$TMP/state-bad" 1 '{ id = "smoke"; profile = "smoke_detector"; when = "alarm";
    type = "fire.confirmed"; severity = 1; },
  { id = "floor"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 2;
    group = "floor"; within = "60s"; }'
line=$(grep -n 'type = "fire.confirmed"' "$TMP/bad1.conf" | cut -d: -f1)
"$GRIDGW" check -c "$TMP/bad1.conf" >/dev/null 2>"$TMP/bad1.err"; rc=$?
check "a per-device rule typed fire.confirmed next to a correlation rule is refused (exit 1)" test "$rc" = 1
check "refusal is at FILE:LINE of its type and names the correlation rule" \
	grep -qF "$TMP/bad1.conf:$line: rule \"smoke\": 'type' \"fire.confirmed\" is the confirmed type of correlation rule \"floor\"" "$TMP/bad1.err"
# a correlation rule whose per-device type is another correlation rule's confirmed type
write_conf "$TMP/bad2.conf" "$TMP/state-bad" 1 '{ id = "a"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 2;
    group = "floor"; within = "60s"; confirmed_type = "fire.floor"; },
  { id = "b"; profile = "smoke_detector"; when = "smoke > 0.2"; severity = 2;
    type = "fire.floor"; group = "building"; within = "60s"; confirmed_type = "fire.building"; }'
line=$(grep -n 'type = "fire.floor"; group' "$TMP/bad2.conf" | cut -d: -f1)
"$GRIDGW" check -c "$TMP/bad2.conf" >/dev/null 2>"$TMP/bad2.err"; rc=$?
check "a correlation rule whose per-device type is a confirmed type is refused" \
	grep -qF "$TMP/bad2.conf:$line: rule \"b\": 'type' \"fire.floor\" is the confirmed type of correlation rule \"a\"" "$TMP/bad2.err"
# actions on a correlation rule that raises only the group incident never run
write_conf "$TMP/bad3.conf" "$TMP/state-bad" 1 '{ id = "c"; profile = "smoke_detector"; when = "alarm"; type = "fire.confirmed"; severity = 1;
    group = "floor"; within = "60s";
    on_raise = ( { publish = "x/y"; payload = "z"; } ); }'
line=$(grep -n 'on_raise' "$TMP/bad3.conf" | cut -d: -f1)
"$GRIDGW" check -c "$TMP/bad3.conf" >/dev/null 2>"$TMP/bad3.err"
check "actions on a group-only correlation rule are refused at their line" \
	grep -qF "$TMP/bad3.conf:$line: 'on_raise' never runs" "$TMP/bad3.err"
tap_done
