#!/bin/bash
# Detector testing must never page the fire brigade (issue 13): gridgw-sim
# speaking Modbus TCP, gridgw run, a real mosquitto and a recording platform
# subscriber. A technician shelves detectors (several at once, by glob),
# sets test smoke, lets it clear, unshelves:
#   - unshelved while clear_for is still running: the platform sees no fire.smoke;
#   - still in smoke at the unshelve: `gridgw unshelve` says when it will be
#     raised, and it is raised only after the rule's on-delay (for) from then;
#   - a raise while shelved never counts for fire confirmation afterwards;
#   - while shelved the daemon logs "suppressed: shelved until ..." and
#     `gridgw status` lists the shelved devices, their expiry and what they
#     suppressed.
# Events reach the platform in seq order, so once a later event has arrived
# anything an earlier alarm produced has arrived too ("marker" raises).
. "$(dirname "$0")/../lib/common.sh"

start_broker || { tap_fail "broker"; tap_done; exit 1; }
P=grid/v1/shelve-gw
MB=$(free_port)
FOR_S=3        # the smoke rule's on-delay
CLEAR_S=6      # and its clear_for

dev() { # id unit floor
	printf '  { id = "%s"; profile = "smoke_detector"; bus = "lan"; unit = %d; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = %d; room = "%s"; }; }' "$1" "$2" "$3" "${1##*-}"
}
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "shelve-gw"; site = { street = "S"; community = "C"; grid = "G1"; };
  state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = (
$(dev smoke-5-2-0701 1 7),
$(dev smoke-5-2-0702 2 7),
$(dev smoke-5-2-0703 3 7),
$(dev smoke-5-2-0801 4 8),
$(dev smoke-5-2-0802 5 8),
$(dev smoke-5-2-0901 6 9)
);
rules = (
  { id = "smoke"; profile = "smoke_detector"; when = "alarm"; for = "${FOR_S}s"; clear_for = "${CLEAR_S}s";
    type = "fire.smoke"; severity = 2; },
  { id = "confirmed"; profile = "smoke_detector"; when = "alarm"; group = "floor"; min_devices = 2;
    within = "60s"; type = "fire.confirmed"; severity = 1; }
);
CONF
check "gridgw check accepts the config" sh -c "'$GRIDGW' check -c '$TMP/gw.conf' >/dev/null"

REC=$TMP/inc.log
record_topic inc "$P/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock"
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' '$TMP/gw.log'" 20 || tap_fail "gridgw connected"
wait_for "'$GRIDGW' status -c '$TMP/gw.conf' 2>/dev/null | grep -q '6 online'" 20 || tap_fail "all detectors online"

G() { "$GRIDGW" "$@" -c "$TMP/gw.conf"; }
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" set "$@" >/dev/null; }
raised_n() { # type device: how many raised events the platform got
	grep '"event":"raised"' "$REC" | grep -c "\"type\":\"$1\".*\"device\":\"$2\""
}
any_raise_of() { # type device: raised or updated (a new alarm cycle) events
	grep -E '"event":"(raised|updated)"' "$REC" | grep -c "\"type\":\"$1\".*\"device\":\"$2\""
}
wait_raised() { wait_for "[ \$(raised_n $1 $2) -ge 1 ]" "${3:-20}"; }
suppressed_logged() { # device
	wait_for "grep -qE 'fire.smoke on $1 \(smoke/$1\) suppressed: shelved until 20[0-9-]+ [0-9:]+ [+-][0-9]{4}$' '$TMP/gw.log'" 15
}
status_line() { # device: its "shelved" line in gridgw status and the suppressed lines under it
	G status | sed -n "/^shelved   $1 /,/^[a-z]/p"
}
status_has() { status_line "$1" | grep -qE -- "$2"; } # device ERE
n_shelved() { G status | grep -c '^shelved '; }

# --- several devices at once, by glob; status lists them with expiry ----------------
out=$(G shelve 'smoke-5-2-07*' --for 10m); rc=$?
check "shelve 'smoke-5-2-07*': exit 0" test "$rc" = 0
check "it shelved the three detectors of floor 7, each with its expiry" \
	test "$(grep -cE '^smoke-5-2-070[123] shelved until 20[0-9-]+ [0-9:]+ [+-][0-9]{4} \(10 min\)$' <<<"$out")" = 3
st=$(G status)
check "status counts 3 shelved" grep -q '^devices   6 online, 0 offline, 3 shelved' <<<"$st"
check "status lists each with its expiry" \
	test "$(grep -cE '^shelved   smoke-5-2-070[123] until 20[0-9-]+ [0-9:]+ [+-][0-9]{4} \((9|10) min left\)$' <<<"$st")" = 3
check "status --json: shelved_devices with until and left_s" \
	python3 -c "
import json,sys; d=json.load(sys.stdin)['devices']['shelved_devices']
assert sorted(x['id'] for x in d)==['smoke-5-2-0701','smoke-5-2-0702','smoke-5-2-0703'], d
assert all(x['until'].endswith('Z') and 590<=x['left_s']<=600 and x['suppressed']==[] for x in d), d" \
	< <(G status --json)
out=$(G unshelve 'smoke-5-2-070[23]'); rc=$?
check "unshelve by glob: exit 0, both unshelved" \
	test "$rc" = 0 -a "$(grep -cE '^smoke-5-2-070[23] unshelved$' <<<"$out")" = 2
check "status now lists only smoke-5-2-0701" \
	test "$(n_shelved)" = 1 -a -n "$(status_line smoke-5-2-0701)"
G shelve smoke-5-2-0901 'smoke-5-2-99*' --for 1h >/dev/null 2>"$TMP/err"; rc=$?
check "a glob that matches no device: exit 1 and said" \
	test "$rc" = 1 -a "$(cat "$TMP/err")" = "gridgw shelve: no configured device matches 'smoke-5-2-99*'"
check "... and nothing shelved, not even the device named next to it" test "$(n_shelved)" = 1
G unshelve 'smoke-5-2-08*' >/dev/null 2>"$TMP/err"; rc=$?
check "unshelve of a glob with no shelved device: exit 1 and said" \
	test "$rc" = 1 -a "$(cat "$TMP/err")" = "gridgw unshelve: no shelved device matches 'smoke-5-2-08*'"
G unshelve smoke-5-2-0802 >/dev/null 2>"$TMP/err"; rc=$?
check "unshelve of a device that is not shelved: exit 1 and said" \
	test "$rc" = 1 -a "$(cat "$TMP/err")" = "gridgw unshelve: device 'smoke-5-2-0802' is not shelved"

# --- A: test smoke, the detector resets, unshelved while clear_for still runs --------
sim smoke-5-2-0701 alarm 1
check "A: the daemon logs the suppressed raise (suppressed: shelved until ...)" suppressed_logged smoke-5-2-0701
check "A: status shows it under the shelved device, still in alarm" \
	status_has smoke-5-2-0701 '^          suppressed fire.smoke at 20[0-9-]+ [0-9:]+ [+-][0-9]{4}, still in alarm$'
check "A: the device view (what the console shows) lists it as suppressed" \
	python3 -c "
import json, socket
s = socket.socket(socket.AF_UNIX); s.connect('$TMP/state/gridgw.sock')
s.sendall(b'{\"op\":\"device\",\"device\":\"smoke-5-2-0701\"}\n')
buf = b''
while not buf.endswith(b'\n'):
    c = s.recv(65536)
    if not c: break
    buf += c
d = json.loads(buf)['device']
sup = d['suppressed']
assert d['shelved_until'] and len(sup) == 1, d
assert sup[0]['type'] == 'fire.smoke' and sup[0]['rule'] == 'smoke' and sup[0]['active'] and sup[0]['count'] == 1, sup
assert d['incidents'] == [], d['incidents']"
sim smoke-5-2-0701 alarm 0
check "A: status shows it clearing (clear_for running)" \
	wait_for "status_has smoke-5-2-0701 ', clearing$'" 10
out=$(G unshelve smoke-5-2-0701)
check "A: unshelve says only 'unshelved' (nothing will be raised)" test "$out" = "smoke-5-2-0701 unshelved"
sleep $((CLEAR_S + 1))   # past the clear_for that was running at the unshelve
sim smoke-5-2-0901 alarm 1   # marker
check "A: marker raised" wait_raised fire.smoke smoke-5-2-0901
check "A: the platform never saw fire.smoke for the tested detector" \
	test "$(any_raise_of fire.smoke smoke-5-2-0701)" = 0
sim smoke-5-2-0901 alarm 0

# --- B: still in smoke at the unshelve: raised only after the on-delay -------------
G shelve smoke-5-2-0702 --for 10m >/dev/null
sim smoke-5-2-0702 alarm 1
check "B: suppressed raise logged" suppressed_logged smoke-5-2-0702
t0=$(date +%s.%N)
out=$(G unshelve smoke-5-2-0702)
check "B: unshelve says it is still in alarm and will be raised in ${FOR_S} s" \
	grep -qF "smoke-5-2-0702 still in alarm: it will be raised in ${FOR_S} s (fire.smoke, the on-delay of rule smoke) unless it clears first" <<<"$out"
check "B: not raised at the unshelve" test "$(any_raise_of fire.smoke smoke-5-2-0702)" = 0
wait_raised fire.smoke smoke-5-2-0702 20
t1=$(date +%s.%N)
elapsed=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
echo "# B: raised ${elapsed}s after the unshelve (on-delay ${FOR_S}s)"
check "B: raised as a new alarm ${FOR_S}s after the unshelve (took ${elapsed}s)" \
	python3 -c "import sys; sys.exit(0 if $FOR_S - 0.05 <= $elapsed <= $FOR_S + 5 else 1)"
check "B: exactly one fire.smoke for it" test "$(any_raise_of fire.smoke smoke-5-2-0702)" = 1
sim smoke-5-2-0702 alarm 0

# --- C: a raise while shelved never confirms a later single alarm on the floor --------
G shelve smoke-5-2-0801 --for 10m >/dev/null
sim smoke-5-2-0801 alarm 1
check "C: suppressed raise logged" suppressed_logged smoke-5-2-0801
sim smoke-5-2-0801 alarm 0
check "C: status shows it cleared" wait_for "status_has smoke-5-2-0801 ', cleared$'" $((CLEAR_S + 5))
check "C: the clear is logged too" \
	grep -q 'fire.smoke on smoke-5-2-0801 (smoke/smoke-5-2-0801) cleared (was suppressed: shelved until 20' "$TMP/gw.log"
G unshelve smoke-5-2-0801 >/dev/null
sim smoke-5-2-0802 alarm 1   # one real detector on floor 8, within 60 s of the shelved raise
check "C: the single real alarm raises fire.smoke" wait_raised fire.smoke smoke-5-2-0802
check "C: and no fire.confirmed" test "$(grep '"event":"raised"' "$REC" | grep -c '"type":"fire.confirmed"')" = 0
sim smoke-5-2-0801 alarm 1   # a second real detector after the unshelve does confirm
check "C: a real second detector raises fire.smoke" wait_raised fire.smoke smoke-5-2-0801
check "C: and then fire.confirmed for floor 8" \
	wait_for "grep '\"event\":\"raised\"' '$REC' | grep '\"type\":\"fire.confirmed\"' | grep -q '\"floor\":8'" 10
check "C: exactly one fire.confirmed in the whole test" \
	test "$(grep '"event":"raised"' "$REC" | grep -c '"type":"fire.confirmed"')" = 1
check "nothing is shelved any more" test "$(n_shelved)" = 0
tap_done
