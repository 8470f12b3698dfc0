#!/bin/bash
# A gateway without an uplink (local alarms only): alarms still become
# incidents and local actions still run; events are retired instead of
# piling up in an outbox nobody drains.
. "$(dirname "$0")/../lib/common.sh"
MB=$(free_port)
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "lo"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = ( { id = "lift"; profile = "elevator_ebike"; bus = "lan"; unit = 1; poll = "200ms"; } );
rules = ( { id = "ebike"; profile = "elevator_ebike"; when = "ebike"; type = "elevator.ebike"; severity = 3;
  on_raise = ( { write = "door_hold"; value = 1; } ); } );
CONF
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "[ -S $TMP/state/gridgw.sock ]" 10
"$GRIDGW_SIM" ctl "$TMP/sim.sock" set lift ebike 1 >/dev/null
check "incident raised without an uplink" wait_for "'$GRIDGW' incidents -c '$TMP/gw.conf' | grep -q elevator.ebike" 10
check "local action ran (door held)" wait_for "'$GRIDGW_SIM' ctl '$TMP/sim.sock' get lift door_hold | grep -q 'ok 1'" 10
check "status says no uplink" bash -c "'$GRIDGW' status -c '$TMP/gw.conf' | grep -q '^uplink    none'"
check "events do not pile up in the outbox" \
	wait_for "'$GRIDGW' status -c '$TMP/gw.conf' | grep -q '^outbox    0 undelivered'" 10
tap_done
