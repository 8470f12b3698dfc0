#!/bin/bash
# Modbus faults injected at gridgw-sim and recovered from, watched through
# poll_driver (the bus threads with a stand-in core): response timeout,
# exception, busy, garbage, CRC errors on RTU, a TCP peer that closes, one
# that never answers, the simulator (TCP endpoint and serial pty) vanishing
# and coming back. Throughout, the healthy devices stay online and bus B's
# poll periods hold while bus A has a dead device.
. "$(dirname "$0")/../lib/common.sh"

DRIVER=$GRIDGW_TOP/$BUILD/tests/poll_driver
PORT=$(free_port)
SOCK=$TMP/sim.sock
OUT=$TMP/out.txt
mkdir -p "$TMP/state"
cat >"$TMP/gw.conf" <<CONF
gateway = { id = "gw-h4-faults"; state_dir = "$TMP/state"; log_level = "error"; };
buses = (
  { name = "a"; type = "tcp"; host = "127.0.0.1"; port = $PORT; timeout = "200ms"; },
  { name = "b"; type = "rtu"; device = "$TMP/ttyB"; baud = 115200; timeout = "200ms"; }
);
profiles = {
  meter = {
    kind = "generic";
    points = (
      { name = "alarm";   table = "discrete"; address = 0; type = "bool"; },
      { name = "temp";    table = "input";    address = 0; type = "s16"; scale = 0.1; },
      { name = "battery"; table = "input";    address = 6; type = "u16"; }
    );
  };
};
devices = (
  { id = "a1"; profile = "meter"; bus = "a"; unit = 1; poll = "200ms"; },
  { id = "a2"; profile = "meter"; bus = "a"; unit = 2; poll = "200ms"; },
  { id = "b1"; profile = "meter"; bus = "b"; unit = 5; poll = "100ms"; },
  { id = "b2"; profile = "meter"; bus = "b"; unit = 6; poll = "100ms"; }
);
CONF

start_sim() {
	spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$SOCK" --quiet --slow 1s
	wait_port "$PORT" 10 && wait_for "[ -S '$SOCK' ] && [ -e '$TMP/ttyB' ]" 10
}
if ! start_sim; then tap_fail "simulator starts"; cat "$TMP/sim.log"; tap_done; exit 1; fi
ctl() { "$GRIDGW_SIM" ctl "$SOCK" "$@" >/dev/null; }
n() { grep -c -- "$1" "$OUT"; }                   # count of output lines matching
wait_n() { wait_for "[ \$(grep -c -- '$1' '$OUT') -ge $2 ]" "${3:-6}"; }  # pattern count [secs]
for d in a1 a2 b1 b2; do ctl set $d temp 21.5; done

spawn driver "$DRIVER" -c "$TMP/gw.conf" -d 60 --stats-every 1 --stats-reset
OUT=$TMP/driver.log
check "all four devices online" wait_for "[ \$(grep -c ' comm .* online' '$OUT') -ge 4 ]" 5

# --- response timeout: offline after 3 periods, others unaffected, back at once
ctl fail a1 timeout
check "timeout: a1 goes offline" wait_n ' comm a1 offline Connection timed out' 1
check "timeout: a1's points become comm_error" wait_n ' point a1 temp 21.5 comm_error' 1
t_fix=$(date +%s%N)
ctl recover a1
check "timeout: a1 comes back" wait_n ' comm a1 online' 2
ms=$((($(date +%s%N) - t_fix) / 1000000))
if [ "$ms" -lt 2500 ]; then tap_ok "a1 back within ${ms} ms of recovery (backoff bounded)"
else tap_fail "a1 took ${ms} ms to come back"; fi

# --- exception responses
ctl fail a2 exception
check "exception: a2 goes offline (no good read)" wait_n ' comm a2 offline exception: illegal data address' 1
ctl recover a2
check "exception: a2 comes back" wait_n ' comm a2 online' 2
ctl fail a2 busy
check "busy: a2 offline while busy" wait_n ' comm a2 offline exception: server device busy' 1
ctl recover a2
check "busy: a2 comes back" wait_n ' comm a2 online' 3

# --- garbage on TCP, CRC and garbage on RTU: flushed, then fine
ctl fail a1 garbage
check "garbage: a1 offline" wait_n ' comm a1 offline' 2
ctl recover a1
check "garbage: a1 back, link re-synchronised" wait_n ' comm a1 online' 3
ctl fail b1 crc
check "RTU crc: b1 offline" wait_n ' comm b1 offline' 1
ctl recover b1
check "RTU crc: b1 back" wait_n ' comm b1 online' 2
ctl fail b2 garbage
check "RTU garbage: b2 offline" wait_n ' comm b2 offline' 1
ctl recover b2
check "RTU garbage: b2 back" wait_n ' comm b2 online' 2
ctl set b2 temp 30
check "RTU: new values flow after garbage" wait_n ' point b2 temp 30 good' 1

# --- TCP peer closes the connection; a peer that answers too late
ctl fail a1 disconnect
check "disconnect: a1 offline" wait_n ' comm a1 offline' 3
ctl recover a1
check "disconnect: reconnected, a1 back" wait_n ' comm a1 online' 4 8
ctl fail a2 slow
check "slow (1 s > 200 ms timeout): a2 offline" wait_n ' comm a2 offline' 3
ctl recover a2
check "slow: a2 back, no stale reply confusion" wait_n ' comm a2 online' 4 8
ctl set a2 temp 12.5
check "slow: fresh values after recovery" wait_n ' point a2 temp 12.5 good' 1

# --- a dead device on bus a for 3 s: bus b's periods hold
stat_b() { grep '^stats b ' "$OUT" | tail -n 1; }
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
# bus b over ~2 s (stats lines are ~1 s apart): polls, overruns, p99 lateness
# of the last ~1 s interval (--stats-reset)
measure_b() {
	local s0 s1
	s0=$(stat_b); sleep 2; s1=$(stat_b)
	echo "$(( $(field polls <<<"$s1") - $(field polls <<<"$s0") )) $(( $(field overruns <<<"$s1") - $(field overruns <<<"$s0") )) $(field late_p99_us <<<"$s1")"
}
# The same measure a moment before, with a1 alive: the box's own load.
read -r bpolls bover bp99 < <(measure_b)
a2off=$(n ' comm a2 offline')
ctl fail a1 silent
sleep 3
read -r polls over p99 < <(measure_b)
# 2 devices every 100 ms = 20 polls/s, so ~40 in ~2 s. Were bus b waiting on
# a1's 200 ms timeouts, its polls would start up to 200 ms late and a slot
# would be skipped on most of the ~20 periods; the 100 ms bound separates
# that from scheduling noise on a loaded test machine (and ASan). The 10 ms
# p99 target is measured by `make bench`, on a quiet machine. A 2-core box at
# triple load (stress-ng, the suite and an ASan suite) skipped 2 with every
# other poll on time (p99 9.2 ms, 40 polls), so up to 3 are allowed; on a box
# so busy that bus b skips slots with a1 alive too (28 polls, 13 overruns
# under make test-stress with benchmarks beside it), bus b may instead do at
# most 3 overruns and 6 polls worse than it did a moment before: a bus b
# waiting on a1 would add most of the ~20 skips.
if [ "$p99" -lt 100000 ] && { { [ "$polls" -ge 34 ] && [ "$over" -le 3 ]; } ||
	{ [ -n "$bpolls" ] && [ -n "$bover" ] && [ "$over" -le $((bover + 3)) ] && [ "$polls" -ge $((bpolls - 6)) ]; }; }; then
	tap_ok "bus b holds its periods while a1 is dead ($polls polls in ~2 s, p99 lateness ${p99} us, $over overruns; with a1 alive $bpolls, ${bp99} us, $bover)"
else tap_fail "bus b disturbed: $polls polls in ~2 s, p99 ${p99} us, overruns $over (with a1 alive: $bpolls polls, p99 ${bp99} us, $bover overruns)"; fi
check "a2 on the same bus stays online beside the dead a1" [ "$(n ' comm a2 offline')" = "$a2off" ]
ctl recover a1
check "silent: a1 back" wait_n ' comm a1 online' 5 8

# --- the whole simulator goes away (TCP peer gone, pty and symlink gone) and returns
# Judged by each device's latest comm line, not by counting events: a
# device already offline when the simulator dies posts no new event.
last_offline() { grep " comm $1 " "$OUT" | tail -n 1 | grep -q offline; }
kill "$PID_sim"; wait "$PID_sim" 2>/dev/null
check "sim gone: all four devices offline" \
	wait_for "last_offline a1 && last_offline a2 && last_offline b1 && last_offline b2" 8
if start_sim; then tap_ok "simulator restarted"; else tap_fail "simulator restarted"; fi
for d in a1 a2 b1 b2; do ctl set $d temp 5; done
last_online() { grep " comm $1 " "$OUT" | tail -n 1 | grep -q online; }
check "sim back: TCP and serial reconnect, all four online" \
	wait_for "last_online a1 && last_online a2 && last_online b1 && last_online b2" 15
check "values flow again on the new pty" wait_n ' point b1 temp 5 good' 1 5
kill "$PID_driver"
tap_done
