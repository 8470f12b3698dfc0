#!/bin/bash
# A gateway without an uplink closes incidents that are cleared and
# acknowledged after incidents.auto_close_after, so a later alarm opens a
# new incident instead of re-activating the old one; the time is measured
# from the clear/ack times in the store, so it survives a restart. `gridgw
# check` validates the key (FILE:LINE), and warns when an uplink makes it
# meaningless.
. "$(dirname "$0")/../lib/common.sh"
MB=$(free_port)
write_conf() { # file auto_close_after [extra]
	cat >"$1" <<CONF
gateway = { id = "lo"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
${3:-}
incidents = {
  auto_close_after = $2;
};
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = ( { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
CONF
}

# --- gridgw check -------------------------------------------------------------
write_conf "$TMP/bad.conf" '"soon"'
out=$("$GRIDGW" check -c "$TMP/bad.conf" 2>&1); rc=$?
check "check refuses a bad auto_close_after (exit 1)" test "$rc" = 1
check "the error is at FILE:LINE of the key" grep -q "^$TMP/bad.conf:4: .*auto_close_after.*not a duration" <<<"$out"
write_conf "$TMP/typo.conf" '"1h"; auto_close = "1h"'
check "check names an unknown key of incidents" bash -c "'$GRIDGW' check -c '$TMP/typo.conf' 2>&1 | grep -q \"^$TMP/typo.conf:4: .*auto_close\""
write_conf "$TMP/up.conf" '"1h"' 'uplink = { url = "tcp://127.0.0.1:1"; };'
out=$("$GRIDGW" check -c "$TMP/up.conf" 2>&1); rc=$?
check "with an uplink: valid (exit 0)" test "$rc" = 0
check "with an uplink: a warning at FILE:LINE" grep -q "^$TMP/up.conf:4: warning: 'auto_close_after' is ignored with an uplink" <<<"$out"

# --- the daemon ---------------------------------------------------------------
write_conf "$TMP/gw.conf" '"3s"'
G() { "$GRIDGW" "$@" -c "$TMP/gw.conf"; }
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@"; }
open_id() { G incidents --json | jq -r '.[] | select(.device == "smoke-a") | .id'; }
workflow_of() { G incidents --all --json | jq -r ".[] | select(.id == \"$1\") | .workflow"; }
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "[ -S $TMP/state/gridgw.sock ]" 10

sim set smoke-a alarm 1 >/dev/null
wait_for '[ -n "$(open_id)" ]' 10 || tap_fail "first incident"
A=$(open_id)
G ack "$A" >/dev/null
sleep 4
check "acknowledged but still in alarm: not closed" test "$(workflow_of "$A")" = raised
sim set smoke-a alarm 0 >/dev/null
wait_for "G incidents --json | jq -e '.[0].active == false' >/dev/null" 10
t0=$SECONDS
check "cleared and acknowledged: closed after auto_close_after" wait_for "[ \"\$(workflow_of $A)\" = closed ]" 8
echo "# closed $((SECONDS - t0)) s after the clear (auto_close_after 3s, checked every second)"
check "not before auto_close_after" test $((SECONDS - t0)) -ge 2
check "logged as closed by gateway" grep -q "$A fire.smoke -> closed by gateway" "$TMP/gw.log"
sim set smoke-a alarm 1 >/dev/null
check "a later alarm opens a new incident" wait_for "[ -n \"\$(open_id)\" ] && [ \"\$(open_id)\" != $A ]" 10
B=$(open_id)
check "the old one stays closed" test "$(workflow_of "$A")" = closed

# --- across a restart: measured from the stored clear/ack times ----------------
G ack "$B" >/dev/null
sim set smoke-a alarm 0 >/dev/null
wait_for "G incidents --json | jq -e '.[0].active == false and .[0].acked == true' >/dev/null" 10
t_clear=$(date +%s)
kill "$PID_gw"; wait "$PID_gw" 2>/dev/null
check "B still open when the daemon stopped" test "$(workflow_of "$B")" = raised
sleep 4
spawn gw2 "$GRIDGW" run -c "$TMP/gw.conf"
t_start=$(date +%s)
wait_for "[ -S $TMP/state/gridgw.sock ]" 10
check "after the restart B closes at once (its 3 s had passed while down)" \
	wait_for "[ \"\$(workflow_of $B)\" = closed ]" 3
echo "# B closed $(( $(date +%s) - t_start )) s after the restart, $(( $(date +%s) - t_clear )) s after its clear"

# 0 turns it off.
kill "$PID_gw2"; wait "$PID_gw2" 2>/dev/null
write_conf "$TMP/gw.conf" '0'
spawn gw3 "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "[ -S $TMP/state/gridgw.sock ]" 10
sim set smoke-a alarm 1 >/dev/null
wait_for '[ -n "$(open_id)" ] && [ "$(open_id)" != '"$B"' ]' 10
C=$(open_id)
G ack "$C" >/dev/null
sim set smoke-a alarm 0 >/dev/null
wait_for "G incidents --json | jq -e '.[0].active == false' >/dev/null" 10
sleep 3
check "auto_close_after = 0: stays open" test "$(workflow_of "$C")" = raised
tap_done
