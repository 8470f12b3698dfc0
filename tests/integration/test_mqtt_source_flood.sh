#!/bin/bash
# A flood on an MQTT source while the core is stalled by slow fsyncs (issue
# 14.3), through the real daemon, a real mosquitto, a bounded loopback flood
# and the platform subscriber; the stall is strace's fsync/fdatasync delay
# injection (every commit of the core takes FSYNC_DELAY_US longer):
#  - a fresh alarm published after the backlog is full is raised and
#    delivered to the platform within seconds of reaching the gateway, not
#    behind the flood held there; what it waits at the broker behind the
#    flood is the broker's (one ordered stream: 2-62 s here, with the box's
#    speed), but the gateway keeps taking messages in meanwhile at no less
#    than 500/s (the trickle of issue 14.3 was one every ~15 s);
#  - platform commands sent while the flood goes on are all answered;
#  - every message is accepted from Paho (none left there to trickle in);
#    what is not mapped is a counted telemetry drop, nothing else.
. "$(dirname "$0")/../lib/common.sh"

command -v strace >/dev/null || { echo "ok 1 - # SKIP strace not installed"; echo "1..1"; exit 0; }
# A latency test of a paced 5,000 msg/s flood: under ASan+UBSan (make
# test-asan) the daemon is several times slower than the flood and the run
# hit the 600 s suite limit (2026-12-02); it runs in the plain make test.
case ${BUILD:-build} in *asan*)
	echo "ok 1 - # SKIP flood latency is measured on the plain build, not under sanitizers"; echo "1..1"; exit 0 ;;
esac
# The flood is paced above what a core whose every commit takes 1 s more takes
# in (~2.8k/s on a quiet 2-core box, ~1.2k/s under stress-ng --cpu 2), so the
# pile-up is in the gateway. Paho also receives less than the flood here
# (~2.5k/s with the broker, the publisher and strace on the same 2 cores), and
# the excess queues at the broker, where nothing can overtake (one
# subscription is one ordered stream, docs/mqtt_sources.md). So the alarm's
# time in the gateway is measured from its arrival there, as the gateway
# stamped it (the reading's time, `gridgw read`), and its wait at the broker
# is bounded only loosely. For 12.5 s on a quiet box: the alarm comes mid-flood.
N=100000
RATE=8000
FSYNC_DELAY_US=${FSYNC_DELAY_US:-1000000}
start_broker "max_queued_messages 0" || { tap_fail "broker"; tap_done; exit 1; }
P=grid/v1/flood-gw
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "flood-gw"; state_dir = "$TMP/state"; };
store = { history_interval = "1s"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; telemetry_interval = "0"; };
mqtt_sources = (
  { name = "bridge"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "sensors/+/up"; device_from = "topic:2"; }
);
profiles = {
  meter = { kind = "meter"; points = ( { name = "n"; json = "n"; } ); };
  det = { kind = "smoke"; points = ( { name = "alarm"; json = "alarm"; type = "bool"; } ); };
};
devices = ( { id = "m1"; profile = "meter"; source = "bridge"; },
            { id = "d1"; profile = "det"; source = "bridge"; } );
rules = ( { id = "smoke"; profile = "det"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
CONF
record_topic incidents "$P/incident"
record_topic results "$P/cmd/result"
# --seccomp-bpf: only the injected calls stop in strace, the rest run at full speed
spawn gw strace -f -qq --seccomp-bpf -o /dev/null -e trace=fsync,fdatasync \
	-e inject=fsync,fdatasync:delay_enter="$FSYNC_DELAY_US" "$GRIDGW" run -c "$TMP/gw.conf"
check "the source subscribes and the uplink connects" \
	wait_for "grep -q 'subscribed to sensors' '$TMP/gw.log' && grep -q 'uplink: connected' '$TMP/gw.log'" 20
status() { "$GRIDGW" status -c "$TMP/gw.conf" --json; }
src() { status | jq -r ".sources[0].$1"; }

pace() { python3 -c '
import os, sys, time
n, rate = int(sys.argv[1]), int(sys.argv[2])
t0 = time.monotonic()
for i in range(1, n + 1):
    print("{\"n\":%d}" % i)
    if i % 100 == 0:
        sys.stdout.flush()
        with open(sys.argv[3] + ".new", "w") as f: f.write("%d\n" % i)
        os.replace(sys.argv[3] + ".new", sys.argv[3])  # never seen half-written
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
' "$N" "$RATE" "$TMP/pub.sent"; }
spawn pub bash -c "$(declare -f pace); N=$N RATE=$RATE TMP=$TMP; pace | mosquitto_pub -h 127.0.0.1 -p $BROKER_PORT -q 1 -i flood-pub -t sensors/m1/up -l"
# A pile-up in the gateway: the backlog holds a stall's worth, or is full and
# drops. (Drops alone were not certain: one CI run's core, taking up to
# 16 x 512 messages an iteration, kept up with the whole flood.)
check "the flood outruns the stalled core: a backlog builds up in the gateway" \
	wait_for "s=\$(status | jq -c '.sources[0]'); [ \"\$(jq .dropped <<<\"\$s\")\" -gt 0 ] || [ \"\$(jq .backlog <<<\"\$s\")\" -ge 1024 ]" 60
before=$(status | jq -c '.sources[0]'); t_before=$(date +%s%3N)
echo "# before the alarm: $before"
t0=$(date +%s%3N)
sent0=$(cat "$TMP/pub.sent")
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t sensors/d1/up -m '{"alarm":true}'
# The delivery time is taken before anything else is started: ten more
# client processes in between (under make test-stress each start costs
# 0.1 s or more) would be counted as the gateway's.
wait_for "grep -q '\"event\":\"raised\".*\"device\":\"d1\"' '$TMP/incidents.log'" 60
t_delivered=$(date +%s%3N)
for i in $(seq 1 10); do echo "{\"req\":\"q$i\",\"op\":\"gateway.status\"}"; done |
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$P/cmd" -l
# Mid-flood: the publisher still publishing, or (a slow box) done but the
# gateway still behind it, so the alarm queues behind flood messages either way.
received0=$(jq -r .received <<<"$before")
check "the flood was still going on when the alarm was published ($sent0 of $N sent, $received0 received)" \
	test "$sent0" -lt "$N" -o "$received0" -lt "$sent0"
arrived=$("$GRIDGW" read d1 -c "$TMP/gw.conf" --json | jq -r '.points[] | select(.name == "alarm") | .ts // empty')
t_arrived=0
[ -n "$arrived" ] && t_arrived=$(date -d "$arrived" +%s%3N 2>/dev/null || echo 0)
[ "$t_arrived" -gt 0 ] || echo "# the gateway's time of the alarm reading is missing ('$arrived'): check 4 fails"
after=$(status | jq -c '.sources[0]'); t_after=$(date +%s%3N)
intake=$(( ($(jq -r .received <<<"$after") - $(jq -r .received <<<"$before")) * 1000 / (t_after - t_before) ))
echo "# alarm published at $t0, arrived in the gateway $((t_arrived - t0)) ms later (behind the flood at the broker), raised and delivered $((t_delivered - t_arrived)) ms after arriving: $after"
# A commit takes 1 s more here: the alarm's iteration, its commit, spares.
check "the fresh alarm reaches the platform within 4 stalled commits + 2 s of its arrival ($((t_delivered - t_arrived)) ms)" \
	test "$t_arrived" -ge "$t0" -a "$((t_delivered - t_arrived))" -lt $((4 * FSYNC_DELAY_US / 1000 + 2000))
check "meanwhile the gateway took messages in from Paho at $intake/s (at least 500/s)" test "$intake" -ge 500
check "the 10 platform commands are answered within 15 s" \
	wait_for "[ \$(grep -c '\"req\":\"q[0-9]*\"' '$TMP/results.log') -ge 10 ]" 15
wait_for "! kill -0 $PID_pub 2>/dev/null" 120
check "every message accepted from Paho, none left there" wait_for "[ \"\$(src received)\" -ge $((N + 1)) ]" 60
check "the backlog drains" wait_for "[ \"\$(src backlog)\" = 0 ]" 60
sleep 2
st=$(status)
echo "# $(jq -c '{sources, mqtt_sources}' <<<"$st")"
mapped=$(jq -r '.mqtt_sources.messages' <<<"$st")
dropped=$(jq -r '.sources[0].dropped' <<<"$st")
check "mapped + dropped telemetry = accepted ($mapped + $dropped = $((N + 1)))" test $((mapped + dropped)) = $((N + 1))
check "no alarm-relevant message dropped" test "$(jq -r '.sources[0].dropped_priority' <<<"$st")" = 0
tap_done
