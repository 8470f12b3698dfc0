#!/bin/bash
# The broker is stopped for a while during a burst of 10,000 incident events
# and started again: every seq from 1 to 10,000 reaches the platform's
# subscriber, and each incident's events arrive in order.
#
# Honesty of the recorder: a PUBACK means the broker has the event; what it
# then owes the subscriber must survive the broker's restart too. So the
# recorder has a persistent session (-c -i) and the broker persists its
# sessions (saved on SIGTERM), with unbounded queues. A missing seq is then
# the gateway's fault, not the test's.
. "$(dirname "$0")/../lib/common.sh"
. "$GRIDGW_TOP/tests/lib/uplink_common.sh"

N=10000
PORT=$(free_port)
uplink_broker_conf "$TMP/broker.conf" "$PORT"
uplink_start_broker broker1 "$TMP/broker.conf" "$PORT" || { tap_fail "broker starts"; tap_done; exit 1; }

spawn recorder mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -c -i "rec-$$" -v -t "grid/v1/gw-restart/incident"
sleep 0.3

# ~2.5 s of appending (40 events every 10 ms); the broker goes away once
# 500 events went through (~0.2 s in), while the gateway keeps appending.
spawn driver "$DRIVER" --url "tcp://127.0.0.1:$PORT" --state "$TMP/state" --gateway gw-restart \
	--events $N --burst 40 --burst-ms 10 --exit-when-empty --deadline 90 --quiet
wait_for "[ \$(uplink_count_incidents $TMP/recorder.log) -ge 500 ]" 15
uplink_stop_broker broker1
at_stop=$(uplink_count_incidents "$TMP/recorder.log")
sleep 2
alive_during=no
kill -0 "$PID_driver" 2>/dev/null && alive_during=yes
uplink_start_broker broker2 "$TMP/broker.conf" "$PORT" || tap_fail "broker restarts"

rc=0
wait_for "! kill -0 $PID_driver 2>/dev/null" 90 || rc=1
wait "$PID_driver"; drc=$?
out=$(grep '^driver:' "$TMP/driver.log")
echo "# events recorded when the broker stopped: $at_stop"
echo "# $out"

check "the broker stopped in the middle of the burst ($at_stop of $N recorded)" \
	test "$at_stop" -gt 0 -a "$at_stop" -lt $N
check "the gateway kept running while the broker was down" test "$alive_during" = yes
check "the driver drained its outbox after the restart (exit $drc)" test "$rc" = 0 -a "$drc" = 0
check "the driver saw the link go down and come back" \
	bash -c "[[ '$out' =~ connects=([0-9]+)\ losses=([0-9]+) ]] && [ \${BASH_REMATCH[1]} -ge 2 ] && [ \${BASH_REMATCH[2]} -ge 1 ]"
check "the store holds $N events, none undelivered" bash -c "[[ '$out' == *last_seq=$N\ backlog=0* ]]"

# The recorder may still be receiving what its session queued during the restart.
wait_for "[ \$(uplink_count_incidents $TMP/recorder.log) -ge $N ]" 30
res=$(uplink_check_seqs "$TMP/recorder.log" $N "$at_stop")
echo "# $res"
check "every seq 1..$N arrived" bash -c "[[ '$res' == *missing=0\ * ]]"
check "no seq outside 1..$N" bash -c "[[ '$res' == *extra=0\ * ]]"
check "each incident's events arrived in seq order" bash -c "[[ '$res' == *order_violations=0\ * ]]"
tap_done
