#!/bin/bash
# Closing on site through the real CLI, daemon, simulator and broker:
# `gridgw close` reaches the platform as the same `closed` event as the
# platform's incident.close; incident ids by unique prefix (any case,
# ambiguous ones listed); `gridgw incidents --follow` shows a new alarm
# within a second; tables and logs in local time (TZ=Asia/Shanghai) with
# the location, JSON in UTC.
. "$(dirname "$0")/../lib/common.sh"
export TZ=Asia/Shanghai

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
P=grid/v1/close-gw
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "close-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = (
  { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "701"; }; },
  { id = "smoke-b"; profile = "smoke_detector"; bus = "lan"; unit = 2; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 8; room = "801"; }; },
  { id = "smoke-c"; profile = "smoke_detector"; bus = "lan"; unit = 3; poll = "200ms";
    location = { place = "North gate"; }; }
);
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
    message = "Smoke at {device}"; } );
CONF
G() { "$GRIDGW" "$@" -c "$TMP/gw.conf"; }
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@"; }
cmd() { mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$P/cmd" -m "$1"; }
id_of() { G incidents --json | jq -r ".[] | select(.device == \"$1\") | .id"; }
# The closed event of incident $1 as the platform received it.
closed_of() { grep "\"id\":\"$1\"" "$TMP/incidents.log" | grep '"event":"closed"' | tail -1 | cut -d' ' -f2-; }

record_topic incidents "$P/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"

# --- follow: a new alarm shows within about a second ----------------------
spawn follow "$GRIDGW" incidents -c "$TMP/gw.conf" -f
wait_for "grep -qs 'following new incident events' $TMP/follow.log" 5 || tap_fail "follow started"
start=$(date +%s%N)
sim set smoke-a alarm 1 >/dev/null
check "incidents --follow prints the raise" wait_for "grep -q 'raised .* fire.smoke sev 1 smoke-a 5-2-F7-701' $TMP/follow.log" 5
took=$(( ($(date +%s%N) - start) / 1000000 ))
echo "# follow line $took ms after the simulator's alarm (200 ms poll + 200 ms device poll)"
check "follow line within ~1 s of the alarm ($took ms)" test "$took" -lt 1500
check "follow line in local time with the offset" grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \+0800  raised' "$TMP/follow.log"
kill -INT "$PID_follow"
check "follow ends on Ctrl-C" wait_for "! kill -0 $PID_follow 2>/dev/null" 5

sim set smoke-b alarm 1 >/dev/null
sim set smoke-c alarm 1 >/dev/null
wait_for "[ \$(G incidents --json | jq length) = 3 ]" 10 || tap_fail "three incidents open"
A=$(id_of smoke-a); B=$(id_of smoke-b); C=$(id_of smoke-c)

# --- the table: local time, offset, location --------------------------------
G incidents >"$TMP/table.txt"
check "table has a LOCATION column" grep -q 'LOCATION' "$TMP/table.txt"
check "table shows building-entrance-floor-room" grep -q "smoke-a  *5-2-F7-701" "$TMP/table.txt"
check "table shows the place" grep -q "smoke-c  *North gate" "$TMP/table.txt"
check "table times are local with +0800" grep -qE "$A .* 20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \+0800$" "$TMP/table.txt"
check "JSON stays UTC" bash -c "G() { '$GRIDGW' \"\$@\" -c '$TMP/gw.conf'; }; G incidents --json | jq -r '.[0].ts' | grep -qE 'T[0-9:.]+Z$'"
utc_iso=$(G incidents --json | jq -r ".[] | select(.id == \"$A\") | .ts")
want_local=$(date -d "$utc_iso" '+%Y-%m-%d %H:%M:%S %z')
check "table time is the JSON time in Asia/Shanghai ($want_local)" grep -q "$A .*$want_local" "$TMP/table.txt"
check "log lines in local time with date and offset" grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} \+0800 INFO ' "$TMP/gw.log"
check "the MQTT event stays UTC" bash -c "grep '\"id\":\"$A\"' '$TMP/incidents.log' | head -1 | grep -qE '\"ts\":\"[0-9-]+T[0-9:.]+Z\"'"

# --- prefix ids ---------------------------------------------------------------
# A and B and C were raised within a second: their first 8 characters
# (48-bit ms time, 5 bits a character) are very likely shared; find the
# longest common prefix of all three and use it as the ambiguous one.
common=$(printf '%s\n%s\n%s\n' "$A" "$B" "$C" | sed -e 'N;N;s/^\(.*\).*\n\1.*\n\1.*$/\1/')
echo "# ids $A $B $C, common prefix '$common'"
if [ ${#common} -ge 4 ]; then
	out=$(G ack "$common" 2>&1); rc=$?
	check "ambiguous prefix refused (exit 1)" test $rc = 1
	listed=1
	for w in ambiguous "$A" "$B" "$C"; do grep -q "$w" <<<"$out" || listed=0; done
	echo "# $out"
	check "ambiguous prefix lists every candidate" test $listed = 1
else
	tap_ok "ambiguous prefix refused (ids share no 4-char prefix this run: skipped) # SKIP"
	tap_ok "ambiguous prefix lists every candidate # SKIP"
fi
check "too short a prefix is refused" bash -c "! '$GRIDGW' ack 01 -c '$TMP/gw.conf' 2>&1 | grep -q acknowledged"
check "unknown prefix: no incident" bash -c "'$GRIDGW' ack ZZZZZZ -c '$TMP/gw.conf' 2>&1 | grep -q \"no incident 'ZZZZZZ'\""
# The shortest unique prefix of A (lower case: ULIDs are case-insensitive).
for n in $(seq 4 26); do
	p=${A:0:$n}
	[ "$(printf '%s\n%s\n' "$B" "$C" | grep -c "^$p")" = 0 ] && break
done
lower=$(echo "$p" | tr 'A-Z' 'a-z')
check "ack by a unique lower-case prefix ($lower)" bash -c "'$GRIDGW' ack '$lower' -c '$TMP/gw.conf' --by tech | grep -q 'acknowledged $A'"
# by is the Unix user the kernel names (SO_PEERCRED); --by is kept in the note (issue #14).
ME=$(id -un)
check "the acked event reached the platform, by the Unix user" wait_for "grep '\"id\":\"$A\"' $TMP/incidents.log | grep -q '\"event\":\"acked\".*\"by\":\"$ME\",\"note\":\"on site: tech\"'" 10

# --- close: the same event as the platform's incident.close ----------------
sim set smoke-a alarm 0 >/dev/null
wait_for "G incidents --json | jq -e '.[] | select(.id == \"$A\") | .active == false' >/dev/null" 10
out=$(G close "${A:0:$n}" --by worker-17 --note "checked on site")
check "gridgw close by prefix" grep -q "closed $A" <<<"$out"
check "a cleared incident closes without a still-in-alarm note" test -z "$(grep 'still in alarm' <<<"$out")"
cmd "{\"req\":\"close-b\",\"op\":\"incident.close\",\"incident\":\"$B\",\"by\":\"$ME\",\"note\":\"on site: worker-17; checked on site\"}"
check "CLI close reached the platform" wait_for "[ -n \"\$(closed_of $A)\" ]" 10
check "platform close reached the platform" wait_for "[ -n \"\$(closed_of $B)\" ]" 10
ka=$(closed_of "$A" | jq -c 'keys'); kb=$(closed_of "$B" | jq -c 'keys')
check "same fields in both closed events" test "$ka" = "$kb"
va=$(closed_of "$A" | jq -c '[.event, .workflow, .by, .note, .schema, .type]')
vb=$(closed_of "$B" | jq -c '[.event, .workflow, .by, .note, .schema, .type]')
echo "# CLI $va / platform $vb"
check "same event, workflow, by and note" test "$va" = "$vb"
# smoke-b is still in alarm: the platform closed it anyway (any open state).
check "the platform closes an incident still in alarm" bash -c "closed_of() { grep '\"id\":\"'\$1'\"' '$TMP/incidents.log' | grep '\"event\":\"closed\"' | tail -1 | cut -d' ' -f2-; }; closed_of $B | jq -e '.active == true' >/dev/null"
out=$(G close "$C" --false-alarm)
check "close --false-alarm of an incident still in alarm (as the platform allows)" grep -q "closed $C as false_alarm" <<<"$out"
check "the answer says it was still in alarm" grep -q "still in alarm" <<<"$out"
check "false_alarm event by the Unix user" wait_for "closed_of() { grep '\"id\":\"'\$1'\"' '$TMP/incidents.log' | grep '\"event\":\"closed\"' | tail -1 | cut -d' ' -f2-; }; closed_of $C | jq -e '.workflow == \"false_alarm\" and .by == \"$ME\" and (has(\"note\") | not)' >/dev/null" 10
check "closing a closed incident is refused" bash -c "'$GRIDGW' close '$A' -c '$TMP/gw.conf' 2>&1 | grep -q 'already closed'"
check "close of an unknown id fails" bash -c "! '$GRIDGW' close 01ZZZZZZZZZZZZZZZZZZZZZZZZ -c '$TMP/gw.conf' 2>/dev/null"

# The alarm's next raise is a new incident.
sim set smoke-a alarm 1 >/dev/null
check "a new alarm after close opens a new incident" wait_for "[ -n \"\$(id_of smoke-a)\" ] && [ \"\$(id_of smoke-a)\" != '$A' ]" 10
tap_done
