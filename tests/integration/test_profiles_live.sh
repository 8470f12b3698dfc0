#!/bin/bash
# The shipped profiles of the compound's other sensors, live: gridgw-sim
# serves one device of each (electrical fire, hydrant pressure, gas, water
# leak, siren relay, IR beam, bin level) over Modbus TCP, the gateway runs
# exactly the rules config/gridgw.conf documents for them (their on-delays
# shortened to 1 s), and each rule's incident reaches a real broker. The
# smoke rule sounds the siren (on_raise), the high gas alarm closes the
# valve; a scenario sets the starting values and drives one step.
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker starts"; tap_done; exit 1; }
MB=$(free_port)
# The documented rules, between the markers in config/gridgw.conf.
sed -n '/^#>>> rules for the shipped profiles/,/^#<<< rules for the shipped profiles/p' \
	"$GRIDGW_TOP/config/gridgw.conf" | sed '1d;$d' | sed 's/^#  \{0,1\}//' |
	sed 's/\([ ;{]\)for = "[^"]*"/\1for = "1s"/g' >"$TMP/rules.inc"
check "the documented rules were found" test "$(grep -c '{ id = ' "$TMP/rules.inc")" = 11
mkdir -p "$TMP/state"
dev() { # id profile unit
	printf '  { id = "%s"; profile = "%s"; bus = "lan"; unit = %d; poll = "300ms"; location = { place = "Test %s"; }; },\n' \
		"$1" "$2" "$3" "$1"
}
{
	cat <<CONF
gateway = { id = "gw-prof"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = (
CONF
	dev ef1 electrical_fire 1; dev hy1 hydrant_pressure 2; dev gas1 gas_detector 3; dev leak1 water_leak 4
	dev beam1 ir_beam 5; dev bin1 bin_level 6; dev siren1 siren_relay 7
	printf '  { id = "smoke1"; profile = "smoke_detector"; bus = "lan"; unit = 8; poll = "300ms"; }\n);\n'
	echo "rules = ("
	cat "$TMP/rules.inc"
	cat <<'CONF'
  { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; latch = true;
    on_raise = ( { write = "siren1:siren"; value = 1; }, { write = "siren1:strobe"; value = 1; } ); }
);
CONF
} >"$TMP/gw.conf"
cat >"$TMP/scenario.conf" <<'SCEN'
initial = (
  { set = "hy1:pressure"; value = 0.35; },
  { set = "ef1:temp1"; value = 24.5; },
  { set = "bin1:fill"; value = 20; },
  { set = "bin1:temperature"; value = 18; }
);
steps = (
  { at = "1s"; set = "leak1:leak"; value = 1; },
  { at = "1s"; set = "leak1:position"; value = 12; }
);
SCEN
out=$("$GRIDGW" check -c "$TMP/gw.conf" 2>&1); rc=$?
check "gridgw check accepts the documented rules on the shipped profiles" test "$rc" = 0
[ "$rc" = 0 ] || echo "$out" | sed 's/^/# /'

record_topic platform "grid/v1/gw-prof/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --scenario "$TMP/scenario.conf" --control "$TMP/sim.sock" --quiet
if ! wait_port "$MB" 10 || ! wait_for "[ -S '$TMP/sim.sock' ]" 10; then
	tap_fail "simulator serves the profiles"; sed 's/^/# /' "$TMP/sim.log"; tap_done; exit 1
fi
ctl() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@"; }
check "the scenario's initial value applies to a new profile" bash -c "'$GRIDGW_SIM' ctl '$TMP/sim.sock' get hy1 pressure | grep -q '^ok 0.35'"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
check "gateway starts" wait_for "[ -S '$TMP/state/gridgw.sock' ]" 10
# every device read once before the alarms (no incident from start-up values)
check "every device online" wait_for "'$GRIDGW' status -c '$TMP/gw.conf' | grep -q '^devices   8 online, 0 offline'" 15

for s in "ef1 residual_current 450" "ef1 temp3 96.5" "hy1 pressure 0.02" "gas1 gas 63.5" "beam1 beam_broken 1" \
	"bin1 fill 95" "bin1 tilted 1" "bin1 temperature 75" "smoke1 alarm 1"; do
	ctl set $s >/dev/null || tap_fail "sim set $s"
done
raised() { grep -F '"event":"raised"' "$TMP/platform.log" | grep -F "\"type\":\"$1\"" | grep -qF "\"device\":\"$2\""; }
for want in "fire.electrical_leak ef1" "fire.electrical_heat ef1" "fire.hydrant_pressure_low hy1" \
	"gas.leak gas1" "gas.leak_high gas1" "water.leak leak1" "perimeter.intrusion beam1" \
	"sanitation.bin_full bin1" "sanitation.bin_tilted bin1" "fire.bin bin1" "fire.smoke smoke1"; do
	set -- $want
	check "$1 raised at the broker for $2" wait_for "raised $1 $2" 15
done
check "the message carries the reading" grep -qF '"message":"Gas 63.5 %LEL, valve closed: Test gas1"' "$TMP/platform.log"
check "the smoke rule sounded the siren (on_raise)" wait_for "ctl get siren1 siren | grep -q '^ok 1'" 10
check "... and the strobe" wait_for "ctl get siren1 strobe | grep -q '^ok 1'" 10
check "the high gas alarm closed the valve" wait_for "ctl get gas1 valve_close | grep -q '^ok 1'" 10
check "no incident from the values that stayed normal" \
	test -z "$(grep -F '"event":"raised"' "$TMP/platform.log" | grep -E '"type":"fire.hydrant_pressure_high"|"device":"siren1"')"
[ "$TAP_FAILED" = 0 ] || { sed 's/^/# /' "$TMP/platform.log" | cut -c1-300; tail -20 "$TMP/gw.log" | sed 's/^/# /'; }
tap_done
