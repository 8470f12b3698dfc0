#!/bin/bash
# Local users against the gateway (issue #14 items 4, 5, 7), with real uids:
# the daemon runs as a service uid of its own (setpriv), an operator is
# `nobody` in the service group (as operators are in group gridgw), and
# root is root. Checked through the real daemon, CLI, broker and simulator:
#   - the operator cannot take the control-socket lock (a lock file planted
#     by another user, held by it, does not stop a start) nor read the
#     broker password file, yet reads the config and runs `gridgw status`;
#   - the uplink logs in with the password from password_file;
#   - an operator reopening idle connections holds only its share of the
#     control slots: root's status/ack and another user's status get in;
#   - ack/close record the Unix user as `by`, --by as "on site: NAME";
#   - `gridgw check` warns at FILE:LINE for a secret inline in a readable
#     file, a readable key file, verify = false, and never prints a secret.
. "$(dirname "$0")/../lib/common.sh"
skip_all() { echo "ok 1 - # SKIP $*"; echo "1..1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "needs root to run the daemon and a client under other uids (setpriv)"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"
command -v mosquitto_passwd >/dev/null || skip_all "mosquitto_passwd not installed"

# A service uid/gid no account uses (setpriv needs no passwd entry).
SVC=
for u in $(seq 64100 64199); do
	getent passwd "$u" >/dev/null || getent group "$u" >/dev/null || { SVC=$u; break; }
done
[ -n "$SVC" ] || skip_all "no free uid in 64100-64199"
OTHER=
for u in $(seq 64200 64299); do getent passwd "$u" >/dev/null || { OTHER=$u; break; }; done
as_svc() { setpriv --reuid="$SVC" --regid="$SVC" --clear-groups "$@"; }
as_op() { setpriv --reuid=65534 --regid=65534 --groups="$SVC" "$@"; }      # nobody, in the service group
as_other() { setpriv --reuid="$OTHER" --regid="$OTHER" --groups="$SVC" "$@"; }
chmod 0711 "$TMP"   # others may pass through to what they are given below
# The checkout may sit where other uids cannot enter (/root): they run a
# copy of the binary and read a copy of the profiles.
mkdir -m 0755 "$TMP/bin"; install -m 0755 "$GRIDGW" "$TMP/bin/gridgw"; GRIDGW=$TMP/bin/gridgw
cp -r "$GRIDGW_TOP/config/profiles" "$TMP/profiles"; chmod -R a+rX "$TMP/profiles"

# --- check: warnings for secrets others can read, verify = false ---------
PASS=s3cr3t-Pw-7781
mkdir "$TMP/etc"
printf 'x' >"$TMP/etc/client.key"; printf 'x' >"$TMP/etc/client.crt"; printf 'x' >"$TMP/etc/ca.crt"
chmod 0640 "$TMP/etc/client.key"
cat >"$TMP/etc/inline.conf" <<CONF
gateway = { id = "sec-gw"; state_dir = "$TMP/state"; profiles_dir = "$TMP/profiles"; };
uplink = { url = "ssl://127.0.0.1:8883"; username = "gw"; password = "$PASS";
  tls = { ca = "$TMP/etc/ca.crt"; cert = "$TMP/etc/client.crt"; key = "$TMP/etc/client.key";
          verify = false; }; };
mqtt_sources = ( { name = "meters"; url = "tcp://127.0.0.1:1883"; topic = "m/+"; device_from = "topic:2";
  username = "u"; password = "$PASS"; } );
notify = { channels = ( { name = "wy"; type = "wecom";
  url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=$PASS"; verify = false; } );
  routes = ( { to = ["wy"]; } ); };
CONF
chmod 0640 "$TMP/etc/inline.conf"
"$GRIDGW" check -c "$TMP/etc/inline.conf" >"$TMP/c1.out" 2>"$TMP/c1.err"; rc=$?
sed 's/^/# /' "$TMP/c1.err"
F=$TMP/etc/inline.conf
check "inline secrets: still valid (exit 0)" test "$rc" = 0
check "warning: uplink password inline in a group-readable file, at its line" \
	grep -qF "$F:2: warning: 'password' is a secret written in a file that its group can read (mode 0640)" "$TMP/c1.err"
check "warning: mqtt source password inline, at its line" grep -qF "$F:6: warning: 'password' is a secret" "$TMP/c1.err"
check "warning: the robot's url (its key) inline, naming url_file" \
	grep -qE "^$F:8: warning: 'url' is a secret .*'url_file'" "$TMP/c1.err"
check "warning: uplink.tls verify = false, at its line" \
	grep -qF "$F:4: warning: uplink.tls: verify = false turns off the server certificate's chain and hostname checks" "$TMP/c1.err"
check "warning: notify channel verify = false" grep -qF "$F:8: warning: notify channel \"wy\": verify = false" "$TMP/c1.err"
check "warning: the TLS key file readable by its group" \
	grep -qF "$F:3: warning: private key '$TMP/etc/client.key' can be read by its group (mode 0640)" "$TMP/c1.err"
check "the secret appears nowhere in check's output" test -z "$(grep -F "$PASS" "$TMP/c1.out" "$TMP/c1.err")"
"$GRIDGW" check -c "$F" --json >"$TMP/c1.json"
check "--json: the same warnings, no secret" \
	sh -c "jq -e '[.diagnostics[] | select(.severity == \"warning\")] | length >= 6' '$TMP/c1.json' >/dev/null && ! grep -qF '$PASS' '$TMP/c1.json'"

# The same config with every secret in a file of its own: no secret warning.
mkdir -m 0700 "$TMP/etc/secrets"
printf '%s\n' "$PASS" >"$TMP/etc/secrets/uplink.pw"
printf '%s\n' "$PASS" >"$TMP/etc/secrets/meters.pw"
printf 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=%s\n' "$PASS" >"$TMP/etc/secrets/wy.url"
chmod 0600 "$TMP/etc/secrets/"* "$TMP/etc/client.key"
sed -e "2s|password = \"$PASS\"|password_file = \"secrets/uplink.pw\"|" \
    -e "6s|password = \"$PASS\"|password_file = \"secrets/meters.pw\"|" \
    -e "8s|url = \"[^\"]*\"|url_file = \"secrets/wy.url\"|" -e "s/verify = false;//" "$F" >"$TMP/etc/files.conf"
chmod 0640 "$TMP/etc/files.conf"
"$GRIDGW" check -c "$TMP/etc/files.conf" >"$TMP/c2.out" 2>"$TMP/c2.err"; rc=$?
sed 's/^/# /' "$TMP/c2.err"
check "secrets in files: valid" test "$rc" = 0
check "secrets in 0600 files, key 0600, verify on: no warning" test ! -s "$TMP/c2.err"
chmod 0640 "$TMP/etc/secrets/uplink.pw"
"$GRIDGW" check -c "$TMP/etc/files.conf" >/dev/null 2>"$TMP/c3.err"; rc=$?
check "a password_file its group can read is an error, at its line" \
	sh -c "test $rc = 1 && grep -qF \"$TMP/etc/files.conf:2: '$TMP/etc/secrets/uplink.pw' is readable by others (mode 0640)\" '$TMP/c3.err'"
chmod 0600 "$TMP/etc/secrets/uplink.pw"
cp "$TMP/etc/secrets/uplink.pw" "$TMP/uplink.pw.good"
head -c 5000 /dev/zero | tr '\0' 'k' >"$TMP/etc/secrets/uplink.pw"
"$GRIDGW" check -c "$TMP/etc/files.conf" >/dev/null 2>"$TMP/c5.err"; rc=$?
check "a secret longer than 4096 bytes is an error, not a secret cut short" \
	sh -c "test $rc = 1 && grep -qF \"$TMP/etc/files.conf:2: '$TMP/etc/secrets/uplink.pw': the secret on its first line is longer than 4096 bytes\" '$TMP/c5.err'"
printf '%s \n' "$PASS" >"$TMP/etc/secrets/uplink.pw"
"$GRIDGW" check -c "$TMP/etc/files.conf" >/dev/null 2>"$TMP/c6.err"; rc=$?
check "a secret ending in a blank is kept, with a warning at its line" \
	sh -c "test $rc = 0 && grep -qF \"$TMP/etc/files.conf:2: warning: the secret in '$TMP/etc/secrets/uplink.pw' ends with a blank\" '$TMP/c6.err'"
cp "$TMP/uplink.pw.good" "$TMP/etc/secrets/uplink.pw"
# An operator (group of the config, not owner of the secrets) checks it too:
chgrp -R "$SVC" "$TMP/etc"; chmod 0750 "$TMP/etc"
as_op "$GRIDGW" check -c "$TMP/etc/files.conf" >"$TMP/c4.out" 2>"$TMP/c4.err"; rc=$?
sed 's/^/# /' "$TMP/c4.err"
check "operator: check of the config passes without reading the secrets" test "$rc" = 0
check "operator: told the secret files were not read" grep -qF "secret file '$TMP/etc/secrets/uplink.pw' not read" "$TMP/c4.err"

# --- the daemon as the service uid, the uplink password from a file ------
MB=$(free_port)
printf 'sec-gw:%s\n' "$PASS" >"$TMP/mosq.pw"
mosquitto_passwd -U "$TMP/mosq.pw" 2>/dev/null
start_broker "allow_anonymous false" "password_file $TMP/mosq.pw" || { tap_fail "broker"; tap_done; exit 1; }
P=grid/v1/sec-gw
mkdir -m 0750 "$TMP/state"; chown "$SVC:$SVC" "$TMP/state"
install -m 0600 -o "$SVC" -g "$SVC" "$TMP/etc/secrets/uplink.pw" "$TMP/etc/secrets/svc-uplink.pw"
install -m 0600 -o "$SVC" -g "$SVC" "$TMP/etc/secrets/wy.url" "$TMP/etc/secrets/svc-wy.url"
cat >"$TMP/etc/gw.conf" <<CONF
gateway = { id = "sec-gw"; state_dir = "$TMP/state"; profiles_dir = "$TMP/profiles"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; username = "sec-gw"; password_file = "secrets/svc-uplink.pw";
  keepalive = "5s"; telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = ( { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms"; },
            { id = "smoke-b"; profile = "smoke_detector"; bus = "lan"; unit = 2; poll = "200ms"; } );
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
notify = { channels = ( { name = "wy"; type = "wecom"; url_file = "secrets/svc-wy.url"; verify = false; } );
  routes = ( { match = { type = ["nothing.*"]; }; to = ["wy"]; } ); };
CONF
chown "root:$SVC" "$TMP/etc/gw.conf"; chmod 0640 "$TMP/etc/gw.conf"
chown "root:$SVC" "$TMP/etc/secrets"; chmod 0750 "$TMP/etc/secrets"   # as /etc/gridgw/secrets: traversable by the group
G() { "$GRIDGW" "$@" -c "$TMP/etc/gw.conf"; }
spawn rec mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -u sec-gw -P "$PASS" -q 1 -v -i "rec-$$" -t "$P/incident"
wait_subscribed "rec-$$" "$P/incident" || tap_fail "recorder subscribed"

# A lock file left by another user (as the old 0660 "…sock.lock" let any
# operator do), held by that user while the daemon starts.
LOCK=$TMP/state/gridgw.sock.owner-lock
touch "$LOCK"; chown 65534:65534 "$LOCK"; chmod 0644 "$LOCK"
# A read-only handle is enough for flock: that was the hole.
spawn holder setpriv --reuid=65534 --regid=65534 --groups="$SVC" perl -e \
	'$| = 1; open(F, "<", $ARGV[0]) or die "open: $!"; flock(F, 2) or die "flock: $!"; print "held\n"; sleep 120' "$LOCK"
wait_for "grep -q held $TMP/holder.log" 5 || tap_fail "planted lock held by the operator"
spawn sim "$GRIDGW_SIM" -c "$TMP/etc/gw.conf" --control "$TMP/sim.sock" --quiet
wait_port "$MB" 10 || tap_fail "simulator up"
spawn gw as_svc "$GRIDGW" run -c "$TMP/etc/gw.conf"
check "the daemon starts although another user holds a planted lock file" \
	wait_for "[ -S $TMP/state/gridgw.sock ]" 15
check "uplink logged in with the password from password_file" wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15
check "the lock file is the service user's, mode 0600" test "$(stat -c '%u %a' "$LOCK")" = "$SVC 600"
check "the service user itself is refused the lock while the daemon holds it (flock works on it)" \
	sh -c "! setpriv --reuid=$SVC --regid=$SVC --clear-groups flock -n '$LOCK' true"
INO=$(stat -c %i "$LOCK")
check "root starting a second gridgw on that state dir is refused: another gridgw holds the lock" \
	sh -c "! timeout 10 '$GRIDGW' run -c '$TMP/etc/gw.conf' >'$TMP/root2.log' 2>&1 && grep -q 'another gridgw holds' '$TMP/root2.log'"
check "and the running daemon's lock file is still the one it holds" test "$(stat -c %i "$LOCK")" = "$INO"
check "which still keeps the service user out" sh -c "! setpriv --reuid=$SVC --regid=$SVC --clear-groups flock -n '$LOCK' true"
check "an operator cannot open the lock file to take it" sh -c "! setpriv --reuid=65534 --regid=65534 --groups=$SVC flock -n '$LOCK' true 2>/dev/null"
check "an operator cannot read the broker password file" sh -c "! setpriv --reuid=65534 --regid=65534 --groups=$SVC cat '$TMP/etc/secrets/svc-uplink.pw' 2>/dev/null"
check "an operator reads the config, and no secret is in it" \
	sh -c "setpriv --reuid=65534 --regid=65534 --groups=$SVC cat '$TMP/etc/gw.conf' >'$TMP/opcat' && ! grep -qF '$PASS' '$TMP/opcat'"
check "an operator's gridgw status is answered" as_op "$GRIDGW" status -c "$TMP/etc/gw.conf"
check "the daemon logs verify = false at WARN" \
	grep -qF 'WARN notify: channel wy: verify = false: the server'"'"'s certificate chain and hostname are NOT checked' "$TMP/gw.log"
check "the secret is not in the daemon's log" test -z "$(grep -F "$PASS" "$TMP/gw.log")"

# --- slots: the operator reopens idle connections as fast as it can -------
cat >"$TMP/hog.pl" <<'PERL'
# Keeps up to N idle connections to the control socket for SECS seconds,
# reopening each one the server closes; every answer line goes to OUT.
use strict; use IO::Socket::UNIX; use IO::Select; use Socket;
my ($path, $n, $secs, $out) = @ARGV;
open(my $o, '>', $out) or die; $o->autoflush(1);
my @s; my $end = time + $secs; my $max = 0;
while (time < $end) {
	for my $i (0 .. $n - 1) { $s[$i] //= IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path); }
	my $sel = IO::Select->new(grep { defined } @s);
	for my $h ($sel->can_read(0.01)) {
		my $buf = ''; sysread($h, $buf, 4096); print $o $buf;
		for (@s) { $_ = undef if defined $_ && $_ == $h; }
		close $h;
	}
}
PERL
chmod 0644 "$TMP/hog.pl"
mkdir -m 0777 "$TMP/hog"
spawn hog setpriv --reuid=65534 --regid=65534 --groups="$SVC" perl "$TMP/hog.pl" "$TMP/state/gridgw.sock" 12 60 "$TMP/hog/answers"
check "the operator is held to its share (busy: your user already has 2)" \
	wait_for "grep -qs 'your user already has 2 control connections' $TMP/hog/answers" 10
ok=0
for i in 1 2 3 4 5; do G status >/dev/null 2>&1 && ok=$((ok + 1)); sleep 0.3; done
check "root's gridgw status answered while the operator hogs (5/5: $ok)" test "$ok" = 5
if [ -n "$OTHER" ]; then
	ok=0
	for i in 1 2 3; do as_other "$GRIDGW" status -c "$TMP/etc/gw.conf" >/dev/null 2>&1 && ok=$((ok + 1)); sleep 0.3; done
	check "another user's gridgw status answered meanwhile (3/3: $ok)" test "$ok" = 3
fi
"$GRIDGW_SIM" ctl "$TMP/sim.sock" set smoke-a alarm 1 >/dev/null
"$GRIDGW_SIM" ctl "$TMP/sim.sock" set smoke-b alarm 1 >/dev/null
wait_for "[ \$(G incidents --json | jq length) = 2 ]" 10 || tap_fail "two incidents open"
A=$(G incidents --json | jq -r '.[] | select(.device == "smoke-a") | .id')
B=$(G incidents --json | jq -r '.[] | select(.device == "smoke-b") | .id')
check "root's gridgw ack answered while the operator hogs" G ack "$A" --note "root on the console"
kill "$PID_hog" 2>/dev/null
wait_for "! kill -0 $PID_hog 2>/dev/null" 5

# --- by: the Unix user, --by kept as who was on site ----------------------
long_by=$(printf 'n%.0s' $(seq 1 60)); long_note=$(printf 'x%.0s' $(seq 1 200))
check "--by and --note too long together: refused with the reason" \
	sh -c "'$GRIDGW' ack '$B' -c '$TMP/etc/gw.conf' --by '$long_by' --note '$long_note' 2>&1 | grep -q -- '--by and --note together are too long'"
check "... and the incident was not acknowledged" \
	sh -c "'$GRIDGW' incidents -c '$TMP/etc/gw.conf' --json | jq -e '.[] | select(.id == \"$B\") | .acked == false' >/dev/null"
check "the operator acks, with --by" as_op "$GRIDGW" ack "$B" -c "$TMP/etc/gw.conf" --by "张工" --note "checked"
# ev_is ID EVENT FILTER: the platform got EVENT of incident ID, and FILTER holds for it.
ev_is() {
	local e
	[ -n "$1" ] || return 1
	e=$(grep "\"id\":\"$1\"" "$TMP/rec.log" | grep "\"event\":\"$2\"" | tail -1 | cut -d' ' -f2-)
	[ -n "$e" ] && jq -e "$3" >/dev/null <<<"$e"
}
check "root's ack reached the platform by root" \
	wait_for "ev_is '$A' acked '.by == \"root\" and .note == \"root on the console\"'" 10
check "the operator's ack: by nobody, note \"on site: 张工; checked\"" \
	wait_for "ev_is '$B' acked '.by == \"nobody\" and .note == \"on site: 张工; checked\"'" 10
if [ -n "$OTHER" ]; then
	as_other "$GRIDGW" close "$A" -c "$TMP/etc/gw.conf" >/dev/null
	check "a user without a name closes: by uid:$OTHER" \
		wait_for "ev_is '$A' closed '.by == \"uid:$OTHER\" and (has(\"note\") | not)'" 10
fi
as_op "$GRIDGW" shelve smoke-a --for 1m -c "$TMP/etc/gw.conf" >/dev/null
check "the daemon logged the operator's shelve with its Unix user" \
	wait_for "grep -q 'shelve smoke-a asked by unix user nobody (uid 65534)' $TMP/gw.log" 5

# --- the packaging: tmpfiles makes the secrets the service user's alone ----
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	R=$TMP/root
	mkdir -p "$R/etc/gridgw/secrets/sub"
	: >"$R/etc/passwd"; : >"$R/etc/group"; : >"$R/etc/shadow"; : >"$R/etc/gshadow"
	echo x >"$R/etc/gridgw/secrets/uplink.pw"; chmod 0644 "$R/etc/gridgw/secrets/uplink.pw"
	echo '# no secrets' >"$R/etc/gridgw/gridgw.conf"; chmod 0600 "$R/etc/gridgw/gridgw.conf"
	chmod 0755 "$R/etc/gridgw/secrets" "$R/etc/gridgw/secrets/sub"
	systemd-sysusers --root="$R" "$GRIDGW_TOP/systemd/gridgw.sysusers" >/dev/null 2>&1
	systemd-tmpfiles --root="$R" --create "$GRIDGW_TOP/systemd/gridgw.tmpfiles" >"$TMP/tmpfiles.out" 2>&1
	uid=$(awk -F: '$1 == "gridgw" { print $3 }' "$R/etc/passwd")
	gid=$(awk -F: '$1 == "gridgw" { print $3 }' "$R/etc/group")
	check "tmpfiles: secrets/ 0700, a 0644 secret made 0600, all the gridgw user's" \
		test "$(stat -c '%a %u' "$R/etc/gridgw/secrets" "$R/etc/gridgw/secrets/uplink.pw" "$R/etc/gridgw/secrets/sub" | tr '\n' ' ')" = "700 $uid 600 $uid 700 $uid "
	check "tmpfiles: gridgw.conf made readable by the operators (0640 root:gridgw)" \
		test "$(stat -c '%a %u %g' "$R/etc/gridgw/gridgw.conf")" = "640 0 $gid"
else
	tap_ok "tmpfiles modes # SKIP systemd-sysusers/systemd-tmpfiles not installed"
fi
tap_done
