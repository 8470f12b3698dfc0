#!/bin/bash
# `make demo` headless: the scenario's incidents reach the platform
# subscriber (the gas detector's too), the door-hold coil is written back to
# the e-bike detector and the siren relay sounded by the smoke rule, the
# summary commands work, and nothing the demo started is left running.
. "$(dirname "$0")/../lib/common.sh"

demo_dir=$TMP/demo
DEMO_DIR=$demo_dir DEMO_SECONDS=46 BUILD=$BUILD timeout 150 "$GRIDGW_TOP/scripts/demo.sh" </dev/null >"$TMP/demo.out" 2>&1
rc=$?
check "demo exits by itself with status 0 (was $rc)" test "$rc" = 0
log=$demo_dir/platform.log
raised() { grep '/incident ' "$log" | grep '"event":"raised"' | grep -q "\"type\":\"$1\".*\"device\":\"$2\""; }
check "smoke alarm in flat 301 raised fire.smoke" raised fire.smoke smoke-1-1-0301
check "second detector on the floor raised fire.confirmed" raised fire.confirmed 'smoke-1-1-030[12]'
check "tilting cover raised manhole.tilt" raised manhole.tilt mc-0003
check "third e-bike entry raised elevator.ebike" raised elevator.ebike lift-1-A
check "silent detector raised device.offline" raised device.offline smoke-2-1-0501
check "door_hold written to the detector" grep -q 'door_hold coil as the detector sees it: ok 1' "$TMP/demo.out"
check "door hold recorded on the e-bike incident's evidence" \
	grep -q '"_actions":\[{"action":"write lift-1-A.door_hold = 1","ok":true' "$log"
check "door released after the bike left" grep -q 'wrote lift-1-A.door_hold = 0' "$demo_dir/gridgw.log"
check "web console served, URL and demo login printed" grep -q 'web console ready: http://127.0.0.1:[0-9]*/ (demo / gridgw-demo)' "$TMP/demo.out"
check "status summary shown" grep -q 'devices   56 online, 1 offline' "$TMP/demo.out"
check "gas rising in the boiler room raised gas.leak" raised gas.leak gas-1-boiler
check "the smoke alarm sounded the stairwell siren" grep -q 'siren-1 sounder relay (the smoke rule.s on_raise): .*ok 1' "$TMP/demo.out"
check "the property office's WeCom group shows the fire alarm in Chinese, with the room" \
	grep -q '\[物业群\].*【紧急】.*确认火警\|\[物业群\].*【紧急】烟感报警' "$TMP/demo.out"
check "…with the building/floor/room as people write it" grep -q '\[物业群\].*1号楼1单元3层301室' "$TMP/demo.out"
check "incidents summary lists fire.confirmed" grep -q 'fire.confirmed' "$TMP/demo.out"
seqs=$(grep -o '"seq":[0-9]*' "$log" | cut -d: -f2 | sort -n | uniq)
last=$(echo "$seqs" | tail -1)
check "platform saw seq 1..$last without a gap" test "$(echo "$seqs" | wc -l)" = "$last"
sleep 0.5
left=$(pgrep -f "$demo_dir" | wc -l)
check "nothing left running ($left processes)" test "$left" = 0
[ "$TAP_FAILED" = 0 ] || tail -40 "$TMP/demo.out"
tap_done
