#!/bin/bash
# MQTT sources across SIGHUP (issues 9 and 14.2), through the real daemon and
# a real mosquitto:
#  - numbered readings published as fast as a loopback publisher goes while
#    the gateway is reloaded three times: every one is mapped exactly once
#    (a reload neither discards what the source had accepted nor makes the
#    broker resend), and the point's sampled history never goes backwards;
#  - a reading older (by payload time) than the one applied is not applied:
#    an old alarm=1 after a newer clear raises nothing.
. "$(dirname "$0")/../lib/common.sh"

N=40000
# Unbounded broker queues: a message lost must be the gateway's doing.
start_broker "max_queued_messages 0" || { tap_fail "broker"; tap_done; exit 1; }
write_conf() { # file message-of-the-alarm-rule
	cat >"$1" <<CONF
gateway = { id = "reload-gw"; state_dir = "$TMP/state"; };
store = { history_interval = "1s"; };
mqtt_sources = (
  { name = "bridge"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; }
);
profiles = {
  meter = { kind = "meter"; points = ( { name = "n"; json = "n"; } ); };
  det = { kind = "smoke"; points = ( { name = "alarm"; json = "alarm"; type = "bool"; } ); };
};
devices = ( { id = "m1"; profile = "meter"; source = "bridge"; },
            { id = "d1"; profile = "det"; source = "bridge"; } );
rules = ( { id = "smoke"; profile = "det"; when = "alarm"; type = "fire.smoke"; severity = 1; message = "$2"; } );
CONF
}
write_conf "$TMP/gw.conf" "smoke"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
check "the source subscribes" wait_for "grep -q 'subscribed to sensors' '$TMP/gw.log'" 15
status() { "$GRIDGW" status -c "$TMP/gw.conf" --json; }
mapped() { status | jq -r '.mqtt_sources.messages'; }

# --- reloads under a flood -------------------------------------------------
# The flood goes out in four chunks, one after the other, and each of the
# three SIGHUPs is sent while its chunk is still being mapped (so the broker
# and the source hold messages the gateway has not processed). What is
# checked is what was mapped when each SIGHUP went out, not how far the flood
# got while the reload ran: under ASan a reload can outlast a whole flood.
C=$((N / 4))
seq 1 "$N" | sed 's/.*/{"n":&}/' | split -l "$C" -d -a 1 - "$TMP/flood."
at_hup="" under=0
for i in 1 2 3 4; do
	spawn "pub$i" bash -c "exec mosquitto_pub -h 127.0.0.1 -p $BROKER_PORT -q 1 -i flood-pub-$i -t sensors/m1/up -l <'$TMP/flood.$((i - 1))'"
	if [ "$i" -le 3 ]; then
		wait_for "[ \"\$(mapped)\" -ge $(((i - 1) * C + 1)) ]" 30
		write_conf "$TMP/gw.conf" "smoke $i"     # a rule change: the source's settings stay the same
		kill -HUP "$PID_gw"
		# Read after the signal, so true then at the signal: the chunk's
		# publisher still sending, or fewer than its end mapped.
		pub=PID_pub$i
		alive=0; kill -0 "${!pub}" 2>/dev/null && alive=1
		m=$(mapped)
		at_hup="$at_hup $m$([ $alive = 1 ] && echo '(publishing)')"
		{ [ "$alive" = 1 ] || [ "$m" -lt $((i * C)) ]; } && under=$((under + 1))
		wait_for "[ \$(grep -c 'reloaded:' '$TMP/gw.log') -ge $i ]" 20
	fi
	pid=PID_pub$i
	wait_for "! kill -0 ${!pid} 2>/dev/null" 60   # in order: the next chunk after this one
done
check "three reloads done while the flood was going on" test "$(grep -c 'reloaded:' "$TMP/gw.log")" = 3
check "each SIGHUP sent while its chunk was still being published or mapped (mapped at each:$at_hup; chunks of $C)" test "$under" = 3
check "every reading mapped (got $(mapped) of $N)" wait_for "[ \"\$(mapped)\" -ge $N ]" 30
sleep 2
got=$(mapped)
echo "# $(status | jq -c '{sources, mqtt_sources}')"
check "each mapped exactly once: no resend after a reload ($got for $N)" test "$got" = "$N"
check "the source was kept, not restarted" test "$(grep -c 'source bridge kept' "$TMP/gw.log")/$(grep -c 'source bridge: connected' "$TMP/gw.log")" = "3/1"
check "no backlog discarded" bash -c "! grep -q 'discarded at stop' '$TMP/gw.log'"
wait_for "[ \"\$(sqlite3 '$TMP/state/gridgw.db' \"SELECT max(value) FROM readings WHERE device='m1'\")\" = $N ]" 5
back=$(sqlite3 "$TMP/state/gridgw.db" "SELECT value FROM readings WHERE device='m1' ORDER BY id" |
	awk 'NR > 1 && $1 < prev { b++ } { prev = $1 } END { print b + 0 }')
check "the sampled history of n never goes backwards (backward jumps: $back)" test "$back" = 0

# --- an older reading never overwrites a newer one ---------------------------
now=$(date +%s)
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/d1/up -m "{\"alarm\":false,\"ts\":$now}"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/d1/up -m "{\"alarm\":true,\"ts\":$((now - 60))}"
check "both reports mapped" wait_for "[ \"\$(mapped)\" -ge $((N + 2)) ]" 10
sleep 1
check "the older alarm=1 is not applied after the newer clear" test "$(status | jq -r '.open_incidents')" = 0
check "counted as stale" test "$(status | jq -r '.mqtt_sources.stale')" = 1
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/d1/up -m "{\"alarm\":true,\"ts\":$((now + 1))}"
check "a newer alarm=1 is raised" wait_for "[ \"\$(status | jq -r '.open_incidents')\" = 1 ]" 10
# without a payload time: arrival order
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/d1/up -m '{"alarm":false}'
active() { "$GRIDGW" incidents -c "$TMP/gw.conf" --json | jq '[.. | objects | select(.active == true)] | length'; }
check "a clear without ts, arriving later, applies" wait_for "[ \"\$(active)\" = 0 ]" 10
kill -TERM "$PID_gw"
wait "$PID_gw"
check "the daemon stops cleanly" test $? = 0
tap_done
