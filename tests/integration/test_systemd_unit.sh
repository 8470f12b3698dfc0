#!/bin/bash
# The systemd unit, sysusers and tmpfiles snippets: the unit (with @BINDIR@
# and @SYSCONFDIR@ substituted, as `make install` does, pointing at the built binary) passes
# `systemd-analyze verify` without a single warning, keeps its offline
# security exposure at or below EXPOSURE_MAX, and keeps the directives the
# daemon depends on (Type=notify, watchdog, serial access). Skipped (TAP
# SKIP) where systemd-analyze is not installed; needs no running systemd.
. "$(dirname "$0")/../lib/common.sh"

# Measured 1.5 ("OK") with systemd 252; 2.0 leaves room for a newer
# systemd scoring one more check, not for a hardening line going missing.
EXPOSURE_MAX=2.0
UNIT_SRC=$GRIDGW_TOP/systemd/gridgw.service

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "ok 1 - # SKIP systemd-analyze not installed"
	echo "1..1"
	exit 0
fi

mkdir -p "$TMP/unit"
UNIT=$TMP/unit/gridgw.service
sed "s|@BINDIR@|$GRIDGW_TOP/$BUILD|g; s|@SYSCONFDIR@|/etc|g" "$UNIT_SRC" >"$UNIT"

check "gridgw binary is built at $BUILD/gridgw" test -x "$GRIDGW"
check "no @PLACEHOLDER@ left after substitution" bash -c "! grep -q '@[A-Z]*@' '$UNIT'"

# verify: exit status 0 AND no output (unknown keys only warn, rc stays 0).
out=$(cd "$TMP/unit" && systemd-analyze verify "$UNIT" 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ -z "$out" ]; then
	tap_ok "systemd-analyze verify passes without warnings"
else
	echo "$out" | sed 's/^/# /'
	tap_fail "systemd-analyze verify passes without warnings (rc=$rc)"
fi

# The check can fail: a unit whose binary is missing, and one with a typo.
sed "s|@BINDIR@|$TMP/nonexistent|g; s|@SYSCONFDIR@|/etc|g" "$UNIT_SRC" >"$TMP/unit/broken.service"
check "verify rejects a unit whose ExecStart binary is missing" \
	bash -c "! systemd-analyze verify '$TMP/unit/broken.service' >/dev/null 2>&1"
sed "s|@BINDIR@|$GRIDGW_TOP/$BUILD|g; s|@SYSCONFDIR@|/etc|g; s/^UMask=/UMsak=/" "$UNIT_SRC" >"$TMP/unit/typo.service"
check "verify warns about a misspelt directive" \
	bash -c "systemd-analyze verify '$TMP/unit/typo.service' 2>&1 | grep -q 'Unknown key'"

# Offline security analysis (systemd >= 252; works without systemd as PID 1).
sec=$(systemd-analyze security --offline=true "$UNIT" 2>&1)
score=$(echo "$sec" | sed -n 's/.*Overall exposure level for gridgw.service: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
	echo "$sec" | tail -n 5 | sed 's/^/# /'
	tap_fail "offline security analysis gives an exposure score"
else
	echo "# exposure level: $score (max $EXPOSURE_MAX)"
	if awk -v s="$score" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s <= m) }'; then
		tap_ok "security exposure $score <= $EXPOSURE_MAX"
	else
		echo "$sec" | grep '✗' | sed 's/^/# /'
		tap_fail "security exposure $score <= $EXPOSURE_MAX"
	fi
fi

# What the daemon and the serial buses need, and what must stay off.
need() { grep -qx "$1" "$UNIT"; }
ok_all=1
for line in 'Type=notify' 'WatchdogSec=30s' 'Restart=on-failure' 'ExecReload=/bin/kill -HUP $MAINPID' \
	"ExecStart=$GRIDGW_TOP/$BUILD/gridgw run -c /etc/gridgw/gridgw.conf" \
	'User=gridgw' 'Group=gridgw' 'SupplementaryGroups=dialout' 'StateDirectory=gridgw' \
	'ConfigurationDirectory=gridgw' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
	'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
	'SystemCallFilter=@system-service' 'MemoryDenyWriteExecute=yes' 'DevicePolicy=closed' \
	'DeviceAllow=char-ttyS rw' 'DeviceAllow=char-ttyUSB rw' 'DeviceAllow=char-ttyAMA rw' \
	'UMask=0027' 'LimitNOFILE=1024'; do
	need "$line" || { echo "# missing: $line"; ok_all=0; }
done
check "unit carries every required directive" test "$ok_all" = 1
check "PrivateDevices is not on (it would hide the serial ports)" \
	bash -c "! grep -Eq '^PrivateDevices=(yes|true|1)' '$UNIT'"

# sysusers and tmpfiles snippets, applied to a scratch root.
if command -v systemd-sysusers >/dev/null 2>&1 && command -v systemd-tmpfiles >/dev/null 2>&1; then
	root=$TMP/root
	mkdir -p "$root/etc"
	: >"$root/etc/passwd"; : >"$root/etc/group"; : >"$root/etc/shadow"; : >"$root/etc/gshadow"
	systemd-sysusers --root="$root" "$GRIDGW_TOP/systemd/gridgw.sysusers" >"$TMP/sysusers.log" 2>&1
	check "sysusers creates the gridgw user and group" \
		bash -c "grep -q '^gridgw:x:[0-9]*:[0-9]*:.*:/var/lib/gridgw:/usr/sbin/nologin$' '$root/etc/passwd' && grep -q '^gridgw:' '$root/etc/group'"
	systemd-tmpfiles --root="$root" --create "$GRIDGW_TOP/systemd/gridgw.tmpfiles" >"$TMP/tmpfiles.log" 2>&1
	check "tmpfiles creates /var/lib/gridgw 0750 and /etc/gridgw" \
		bash -c "[ \"\$(stat -c %a '$root/var/lib/gridgw')\" = 750 ] && [ -d '$root/etc/gridgw/profiles' ]"
else
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP systemd-sysusers/systemd-tmpfiles not installed"
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP systemd-sysusers/systemd-tmpfiles not installed"
fi

# The system-call filter against what the daemon really calls: run it under
# strace (as an unprivileged user, as under systemd) with the broker, the
# control socket, a reload and a stop, and check every syscall it made is in
# @system-service and not in the groups the unit removes again. Skipped
# until `gridgw run` is available in this build, and without strace.
expand_group() { # @group -> syscall names, nested groups expanded
	local x
	for x in $(systemd-analyze syscall-filter "$1" 2>/dev/null | sed 1d | grep -v '^[[:space:]]*#' | awk '{print $1}'); do
		case $x in @*) expand_group "$x" ;; *) echo "$x" ;; esac
	done
}
if ! command -v strace >/dev/null 2>&1; then
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP strace not installed"
elif ! "$GRIDGW" run --help >/dev/null 2>&1; then
	TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP gridgw run not available in this build"
elif ! start_broker; then
	tap_fail "broker for the syscall check"
else
	state=$TMP/state
	mkdir -p "$state"
	runas=()
	if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
		# root would make SQLite fchown its files; the service never runs as root
		chmod 0755 "$TMP"; chown nobody "$state"; runas=(-u nobody)
	fi
	{
		echo "gateway = { id = \"syscall-gw\"; state_dir = \"$state\"; };"
		echo "uplink = { url = \"tcp://127.0.0.1:$BROKER_PORT\"; telemetry_interval = \"1s\"; };"
		echo "mqtt_sources = ( { name = \"bridge\"; url = \"tcp://127.0.0.1:$BROKER_PORT\"; topic = \"sensors/+/up\"; device_from = \"topic:2\"; } );"
	} >"$TMP/gw.conf"
	chmod 0644 "$TMP/gw.conf"
	spawn strace strace -f -qq -c -o "$TMP/syscalls.txt" "${runas[@]}" "$GRIDGW" run -c "$TMP/gw.conf"
	if wait_for "[ -S '$state/gridgw.sock' ]" 15; then
		"$GRIDGW" status -c "$TMP/gw.conf" >"$TMP/status.out" 2>&1
		sleep 1.5
		daemon=$(pgrep -P "$PID_strace" | head -n 1)
		if [ -n "$daemon" ]; then
			kill -HUP "$daemon"; sleep 1; kill -TERM "$daemon"
		fi
		wait_for "! kill -0 $PID_strace 2>/dev/null" 15
	else
		echo "# the daemon did not create its control socket:"
		tail -n 20 "$TMP/strace.log" | sed 's/^/# /'
	fi
	expand_group @system-service | sort -u >"$TMP/allowed"
	{ expand_group @privileged; expand_group @resources; } | sort -u >"$TMP/denied"
	awk 'NR > 2 && $NF ~ /^[a-z_0-9]+$/ && $NF != "total" { print $NF }' "$TMP/syscalls.txt" 2>/dev/null |
		sort -u >"$TMP/used"
	bad=$( { comm -23 "$TMP/used" "$TMP/allowed"; comm -12 "$TMP/used" "$TMP/denied"; } | sort -u | tr '\n' ' ')
	if [ ! -s "$TMP/used" ]; then
		tap_fail "daemon syscalls collected under strace"
	elif [ -n "$bad" ]; then
		tap_fail "every syscall the daemon made passes the unit's filter (refused: $bad)"
	else
		tap_ok "every syscall the daemon made passes the unit's filter ($(wc -l <"$TMP/used") distinct)"
	fi
fi

# Type=notify as systemd would see it: a fake NOTIFY_SOCKET (notify_listen)
# and a 1 s watchdog. The daemon must say READY=1, ping WATCHDOG=1 about
# every 0.5 s, answer SIGHUP with RELOADING=1 then READY=1, and SIGTERM with
# STOPPING=1.
NOTIFY_LISTEN=$GRIDGW_TOP/$BUILD/tests/notify_listen
if ! "$GRIDGW" run --help >/dev/null 2>&1; then
	for i in 1 2 3 4; do TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP gridgw run not available in this build"; done
elif [ ! -x "$NOTIFY_LISTEN" ]; then
	tap_fail "notify_listen helper built"
elif [ -z "${BROKER_PORT:-}" ] && ! start_broker; then
	tap_fail "broker for the sd_notify check"
else
	nstate=$TMP/nstate
	mkdir -p "$nstate"
	{
		echo "gateway = { id = \"notify-gw\"; state_dir = \"$nstate\"; };"
		echo "uplink = { url = \"tcp://127.0.0.1:$BROKER_PORT\"; };"
	} >"$TMP/notify.conf"
	spawn notify "$NOTIFY_LISTEN" "$TMP/notify.sock" 20
	wait_for "[ -S '$TMP/notify.sock' ]" 5
	spawn gwn env NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=1000000 "$GRIDGW" run -c "$TMP/notify.conf"
	nlog=$TMP/notify.log
	check "daemon reports READY=1 once it is up" wait_for "grep -q 'READY=1' '$nlog'" 15
	sleep 2
	pings=$(grep -c '^WATCHDOG=1' "$nlog")
	echo "# watchdog pings in ~2 s at WATCHDOG_USEC=1s: $pings"
	check "daemon pings the watchdog at half its interval ($pings pings in ~2 s)" test "$pings" -ge 3
	kill -HUP "$PID_gwn"
	check "SIGHUP gives RELOADING=1, then READY=1 again" \
		wait_for "grep -A1000 'RELOADING=1' '$nlog' | grep -v RELOADING | grep -q 'READY=1'" 10
	kill -TERM "$PID_gwn"
	check "SIGTERM gives STOPPING=1" wait_for "grep -q 'STOPPING=1' '$nlog'" 10
	wait_for "! kill -0 $PID_gwn 2>/dev/null" 10
	sed 's/^/# notify: /' "$nlog" | grep -v 'WATCHDOG=1' | head -n 10

	# The test-only fault switch (GRIDGW_TEST_FAULTS=1 + SIGUSR2) hangs the
	# core loop: the pings must stop, so systemd's watchdog would restart it.
	spawn notify2 "$NOTIFY_LISTEN" "$TMP/notify2.sock" 20
	wait_for "[ -S '$TMP/notify2.sock' ]" 5
	rm -rf "$nstate"; mkdir -p "$nstate"
	spawn gwh env GRIDGW_TEST_FAULTS=1 NOTIFY_SOCKET="$TMP/notify2.sock" WATCHDOG_USEC=1000000 "$GRIDGW" run -c "$TMP/notify.conf"
	wait_for "grep -q 'READY=1' '$TMP/notify2.log'" 15
	sleep 1.2
	kill -USR2 "$PID_gwh"
	sleep 0.6
	before=$(grep -c '^WATCHDOG=1' "$TMP/notify2.log")
	sleep 2
	after=$(grep -c '^WATCHDOG=1' "$TMP/notify2.log")
	check "pings before the hang ($before)" test "$before" -ge 2
	check "a hung core stops pinging the watchdog ($before then $after)" test "$after" = "$before"
	check "the hung daemon is still alive (systemd would kill and restart it)" kill -0 "$PID_gwh"
	kill -9 "$PID_gwh" 2>/dev/null
fi

tap_done
