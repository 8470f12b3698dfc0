#!/bin/bash
# The console's HTTP API over real HTTP: gridgw run with a console, the
# simulator speaking Modbus TCP, a real mosquitto and a recording platform
# subscriber; curl as the client. Every route, every role, every error
# status; CSRF; the login throttle; connection limits (idle connections
# from one address do not keep another out, and are closed by the timeout);
# the live stream; an ack reaching the platform with by = the user; config
# errors; a reload changing a role; the core not answering → 503.
. "$(dirname "$0")/../lib/common.sh"
PY=/usr/bin/python3

start_broker || { tap_fail "broker"; tap_done; exit 1; }
MB=$(free_port)
WEB=$(free_port)
P=grid/v1/web-gw
URL=http://127.0.0.1:$WEB
hash_of() { echo "$1" | "$GRIDGW" passwd; }
H_VIEW=$(hash_of view-pw)
H_OP=$(hash_of op-pw)
H_INST=$(hash_of inst-pw)
write_conf() { # file op_role
	cat >"$1" <<CONF
gateway = { id = "web-gw"; site = { street = "S"; community = "C"; grid = "G1"; };
  state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; log_level = "debug"; };
uplink = { url = "tcp://127.0.0.1:$BROKER_PORT"; topic_prefix = "grid/v1"; keepalive = "5s";
  telemetry_interval = "0"; reconnect_min = "1s"; reconnect_max = "2s"; };
store = { history_interval = "1s"; };
buses = ( { name = "lan"; type = "tcp"; host = "127.0.0.1"; port = $MB; timeout = "300ms"; } );
devices = (
  { id = "smoke-a"; profile = "smoke_detector"; bus = "lan"; unit = 1; poll = "200ms";
    location = { building = "5"; entrance = "2"; floor = 7; room = "<script>alert(1)</script>"; }; },
  { id = "smoke-b"; profile = "smoke_detector"; bus = "lan"; unit = 2; poll = "200ms";
    location = { building = "5"; entrance = "1"; floor = 3; room = "301"; }; }
);
rules = ( { id = "smoke"; profile = "smoke_detector"; when = "alarm"; type = "fire.smoke"; severity = 1;
    message = "Smoke at {building}-{entrance}-{room}"; } );
console = { listen = "0.0.0.0:$WEB";
  users = ( { name = "screen"; role = "viewer"; password_hash = "$H_VIEW"; },
            { name = "wuye"; role = "$2"; password_hash = "$H_OP"; },
            { name = "anzhuang"; role = "installer"; password_hash = "$H_INST"; } ); };
CONF
}
write_conf "$TMP/gw.conf" operator

# --- configuration errors ------------------------------------------------------
printf 'gateway = { id = "g"; state_dir = "%s/s2"; };\nconsole = { listen = "0.0.0.0:%s"; };\n' "$TMP" "$WEB" >"$TMP/nouser.conf"
"$GRIDGW" check -c "$TMP/nouser.conf" >"$TMP/check1.txt" 2>&1
check "a console without users is refused with FILE:LINE" grep -q 'nouser.conf:2: console has no users' "$TMP/check1.txt"
printf 'gateway = { id = "g"; state_dir = "%s/s2"; };\nconsole = { listen = "1.2.3:80";\n users = ( { name = "a"; role = "boss"; password_hash = "secret"; } ); };\n' "$TMP" >"$TMP/bad.conf"
"$GRIDGW" check -c "$TMP/bad.conf" >"$TMP/check2.txt" 2>&1
check "bad listen, role and hash each reported with their line" \
	bash -c "grep -q 'bad.conf:2:.*not a numeric' '$TMP/check2.txt' && grep -q 'bad.conf:3:.*role' '$TMP/check2.txt' && grep -q \"bad.conf:3: 'password_hash' of console user 'a' is not a crypt(3) hash\" '$TMP/check2.txt'"
"$GRIDGW" run -c "$TMP/nouser.conf" >"$TMP/nouser.log" 2>&1
check "gridgw run refuses to start a console without users" test $? != 0
check "passwd hashes are yescrypt" bash -c "[[ '$H_OP' == '\$y\$'* ]]"

# --- start -----------------------------------------------------------------------
record_topic incidents "$P/incident"
spawn sim "$GRIDGW_SIM" -c "$TMP/gw.conf" --control "$TMP/sim.sock"
wait_port "$MB" 10 || tap_fail "simulator up"
GRIDGW_TEST_FAULTS=1 spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
wait_for "grep -q 'uplink: connected' $TMP/gw.log" 15 || tap_fail "gridgw connected"
wait_port "$WEB" 10 || tap_fail "console listening"
sim() { "$GRIDGW_SIM" ctl "$TMP/sim.sock" "$@" >/dev/null; }

# req [curl args] URL: prints the status; body in $TMP/body, headers in $TMP/hdr.
req() { curl -s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' --max-time 10 "$@"; }
body() { cat "$TMP/body"; }
jv() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); exec("print(" + sys.argv[2] + ")")' "$TMP/body" "$1"; }
hdr() { grep -i "^$1:" "$TMP/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
is() { # expected-status description curl-args...
	local want=$1 desc=$2; shift 2
	local got; got=$(req "$@")
	if [ "$got" = "$want" ]; then tap_ok "$desc ($want)"; else tap_fail "$desc: want $want, got $got: $(head -c 300 "$TMP/body")"; fi
}
json_error() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if isinstance(d.get("error"), str) else 1)' "$TMP/body"; }

# Idle connections from 127.0.0.3, opened now, checked at the end (timeout 20 s).
$PY - "$WEB" >"$TMP/idle.log" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1]); socks = []
for i in range(40):
    s = socket.socket(); s.bind(("127.0.0.3", 0))
    try:
        s.connect(("127.0.0.1", port)); s.send(b"GET / HTTP/1.1\r\nHost: x\r\n"); socks.append(s)
    except OSError:
        pass
time.sleep(1.5)
def alive(s):
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
print("open_after_1s", sum(alive(s) for s in socks), flush=True)
t0 = time.time()
while time.time() - t0 < 40 and any(alive(s) for s in socks):
    time.sleep(0.5)
print("all_closed_after", int(time.time() - t0 + 1.5), "open", sum(alive(s) for s in socks), flush=True)
EOF
SPAWNED+=($!)
wait_for "grep -q open_after_1s $TMP/idle.log" 10
n_idle=$(awk '/open_after_1s/ {print $2}' "$TMP/idle.log")
check "per-address limit: of 40 idle connections from one address at most 16 stay ($n_idle)" test "${n_idle:-99}" -le 16
t0=$(date +%s%N)
is 200 "a real request from another address still gets through" "$URL/"
check "... at once (< 2 s)" test $((($(date +%s%N) - t0) / 1000000)) -lt 2000

# --- static ------------------------------------------------------------------------
is 200 "GET / serves the page" "$URL/"
check "the page is HTML" bash -c "hdr() { grep -i \"^\$1:\" '$TMP/hdr' | head -1; }; hdr content-type | grep -q text/html"
check "CSP allows only self" bash -c "grep -qi \"^content-security-policy: default-src 'self'.*frame-ancestors 'none'\" '$TMP/hdr'"
check "nosniff and no-referrer" bash -c "grep -qi '^x-content-type-options: nosniff' '$TMP/hdr' && grep -qi '^referrer-policy: no-referrer' '$TMP/hdr'"
etag=$(hdr etag)
is 304 "If-None-Match with the ETag" -H "If-None-Match: $etag" "$URL/"
is 200 "GET /assets/index.html" "$URL/assets/index.html"
is 404 "missing asset" "$URL/assets/nope.js"
is 404 "path traversal" --path-as-is "$URL/assets/../web.h"
is 405 "POST / is refused" -X POST "$URL/"
check "405 says Allow: GET" test "$(hdr allow)" = "GET"
is 404 "unknown path" "$URL/admin"

# --- authentication ---------------------------------------------------------------
is 401 "API without login" "$URL/api/v1/status"
check "401 is JSON {error}" json_error
check "no WWW-Authenticate (browsers never cache Basic)" bash -c "! grep -qi '^www-authenticate' '$TMP/hdr'"
is 401 "wrong password" -H 'Content-Type: application/json' -d '{"username":"wuye","password":"nope"}' "$URL/api/v1/login"
is 401 "unknown user" -H 'Content-Type: application/json' -d '{"username":"ghost","password":"nope"}' "$URL/api/v1/login"
is 400 "login without password" -H 'Content-Type: application/json' -d '{"username":"wuye"}' "$URL/api/v1/login"
is 415 "login body not JSON" -H 'Content-Type: application/x-www-form-urlencoded' -d 'username=wuye&password=op-pw' "$URL/api/v1/login"
login() { # user pass jar -> sets CSRF_<jar>
	req -c "$TMP/$3.jar" -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"$2\"}" "$URL/api/v1/login" >/dev/null
	eval "CSRF_$3=\$(jv 'd[\"csrf\"]')"
}
login wuye op-pw op
check "login answers user, role and a 128-bit CSRF token" bash -c "[[ \$($PY -c 'import json;d=json.load(open(\"$TMP/body\"));print(d[\"user\"],d[\"role\"],len(d[\"csrf\"]))') == 'wuye operator 32' ]]"
cookie=$(grep -i '^set-cookie:' "$TMP/hdr" | tr -d '\r')
check "session cookie is HttpOnly, SameSite=Strict, Path=/, no Secure without TLS" \
	bash -c "grep -q 'gridgw_session=[0-9a-f]\{32\};' <<<'$cookie' && grep -q HttpOnly <<<'$cookie' && grep -q 'SameSite=Strict' <<<'$cookie' && grep -q 'Path=/' <<<'$cookie' && ! grep -q Secure <<<'$cookie'"
login screen view-pw view
login anzhuang inst-pw inst
is 200 "GET session with the cookie" -b "$TMP/op.jar" "$URL/api/v1/session"
check "session names the user and role" test "$(jv 'd["user"], d["role"]')" = "wuye operator"
is 200 "HTTP Basic works for scripts" -u screen:view-pw "$URL/api/v1/session"
check "Basic session has no CSRF token" test "$(jv 'd["csrf"]')" = "None"
is 401 "wrong Basic password" -u screen:nope "$URL/api/v1/status"
is 401 "malformed Authorization" -H 'Authorization: Basic !!!' "$URL/api/v1/status"
is 401 "a forged session cookie" -b 'gridgw_session=00112233445566778899aabbccddeeff' "$URL/api/v1/status"

# --- every GET, every role ------------------------------------------------------------
wait_for "curl -s -u screen:view-pw $URL/api/v1/devices | grep -q '\"online\":true'" 10
for who in view op inst; do
	is 200 "status as $who" -b "$TMP/$who.jar" "$URL/api/v1/status"
	is 200 "devices as $who" -b "$TMP/$who.jar" "$URL/api/v1/devices"
	is 200 "one device as $who" -b "$TMP/$who.jar" "$URL/api/v1/devices/smoke-a"
	is 200 "history as $who" -b "$TMP/$who.jar" "$URL/api/v1/devices/smoke-a/history?point=smoke"
	is 200 "incidents as $who" -b "$TMP/$who.jar" "$URL/api/v1/incidents?open=1"
done
is 403 "live read as viewer" -b "$TMP/view.jar" "$URL/api/v1/devices/smoke-a/read"
check "403 says forbidden" test "$(jv 'd["error"]')" = "forbidden"
is 403 "live read as operator" -b "$TMP/op.jar" "$URL/api/v1/devices/smoke-a/read"
is 200 "live read as installer" -b "$TMP/inst.jar" "$URL/api/v1/devices/smoke-a/read"
check "live read has every point with quality and raw registers (test_console_read.sh: the rest)" \
	test "$(jv 'd["live"], len(d["points"]), [p for p in d["points"] if p["name"]=="battery"][0]["quality"], len([p for p in d["points"] if p["raw"]])')" = "True 7 good 7"

req -u screen:view-pw "$URL/api/v1/devices" >/dev/null
check "devices carry location, online, shelved_until and points" \
	test "$(jv '[x for x in d["devices"] if x["id"]=="smoke-a"][0]["location"]["floor"], d["devices"][0]["online"], d["devices"][0]["shelved_until"], "alarm" in d["devices"][0]["points"]')" = "7 True None True"
check "a room named <script> is a JSON string (escaped text, application/json)" \
	bash -c "grep -q '\"room\":\"<script>alert(1)</script>\"' '$TMP/body' && grep -qi '^content-type: application/json' '$TMP/hdr'"
is 404 "unknown device" -u screen:view-pw "$URL/api/v1/devices/nope"
is 404 "history of an unknown point" -u screen:view-pw "$URL/api/v1/devices/smoke-a/history?point=nope"
is 400 "history with a bad since" -u screen:view-pw "$URL/api/v1/devices/smoke-a/history?since=yesterday"
is 400 "history limit out of range" -u screen:view-pw "$URL/api/v1/devices/smoke-a/history?limit=0"
is 400 "incidents?open=maybe" -u screen:view-pw "$URL/api/v1/incidents?open=maybe"
is 400 "a bad id in the path" -u screen:view-pw "$URL/api/v1/devices/a%22b"
is 404 "unknown incident" -u screen:view-pw "$URL/api/v1/incidents/01AAAAAAAAAAAAAAAAAAAAAAAA"
is 405 "GET on a POST route" -u screen:view-pw "$URL/api/v1/login"
is 405 "DELETE an incident" -X DELETE -u screen:view-pw "$URL/api/v1/incidents/x"
is 404 "unknown API path" -u screen:view-pw "$URL/api/v1/nothing"
check "reading history fills (1 s interval)" \
	wait_for "curl -s -u screen:view-pw '$URL/api/v1/devices/smoke-a/history?point=battery' | $PY -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)[\"samples\"]) >= 2 else 1)'" 10
req -u screen:view-pw "$URL/api/v1/devices/smoke-a/history?point=battery" >/dev/null
check "history samples are {ts, value}" test "$(jv 'sorted(d["samples"][0].keys()), d["samples"][0]["value"]')" = "['ts', 'value'] 100"

# --- the live stream and an alarm -------------------------------------------------------
curl -s -N --max-time 60 -b "$TMP/view.jar" "$URL/api/v1/stream" >"$TMP/stream.txt" 2>/dev/null &
STREAM_PID=$!
SPAWNED+=($!)
wait_for "grep -q 'retry: 2000' $TMP/stream.txt" 5
sim set smoke-a alarm 1
t0=$(date +%s%N)
check "a new alarm appears on the stream within 2 s" wait_for "grep -q '\"event\":\"raised\".*\"device\":\"smoke-a\"' $TMP/stream.txt" 2
echo "# stream latency from the simulator set: $((($(date +%s%N) - t0) / 1000000)) ms"
check "the stream's event is the platform's (same seq)" \
	wait_for "grep '\"event\":\"raised\".*smoke-a' $TMP/incidents.log | grep -q \"\$(grep -o '\"seq\":[0-9]*,\"event\":\"raised\"' $TMP/stream.txt | head -1)\"" 5
req -u screen:view-pw "$URL/api/v1/incidents?open=1" >/dev/null
ID=$(jv '[x for x in d["incidents"] if x["device"]=="smoke-a"][0]["id"]')
check "open incidents carry the list fields" test "$(jv 'd["incidents"][0]["type"], d["incidents"][0]["severity"], d["incidents"][0]["location"]["room"]')" = "fire.smoke 1 <script>alert(1)</script>"
sim set smoke-b alarm 1
wait_for "curl -s -u screen:view-pw '$URL/api/v1/incidents?open=1' | grep -q smoke-b" 5
req -u screen:view-pw "$URL/api/v1/incidents?open=1" >/dev/null
check "most severe first, then newest" test "$(jv '[x["device"] for x in d["incidents"] if x["type"]=="fire.smoke"][:2]')" = "['smoke-b', 'smoke-a']"

# --- ack: roles, CSRF, attribution --------------------------------------------------------
ACK=$URL/api/v1/incidents/$ID/ack
J='Content-Type: application/json'
is 403 "viewer ack by Basic (forged POST)" -u screen:view-pw -H "$J" -d '{"note":"x"}' "$ACK"
is 403 "viewer ack with cookie and CSRF" -b "$TMP/view.jar" -H "X-CSRF-Token: $CSRF_view" -H "$J" -d '{"note":"x"}' "$ACK"
is 403 "operator ack without the CSRF token" -b "$TMP/op.jar" -H "$J" -d '{"note":"x"}' "$ACK"
check "... says CSRF" bash -c "grep -q CSRF '$TMP/body'"
is 403 "operator ack with another session's CSRF token" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_view" -H "$J" -d '{"note":"x"}' "$ACK"
is 400 "ack with an unknown body key" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -H "$J" -d '{"nope":1}' "$ACK"
is 400 "ack with a note that is not a string" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -H "$J" -d '{"note":5}' "$ACK"
is 400 "ack with malformed JSON" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -H "$J" -d '{"note":' "$ACK"
is 415 "ack with a form body" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -d 'note=x' "$ACK"
big=$(head -c 9000 /dev/zero | tr '\0' 'a')
is 413 "a body over 8 KiB" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -H "$J" -d "{\"note\":\"$big\"}" "$ACK"
is 413 "a chunked body over 8 KiB" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -H "$J" -H 'Transfer-Encoding: chunked' -d "{\"note\":\"$big\"}" "$ACK"
is 200 "operator ack with the CSRF token" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -H "$J" -d '{"note":"on my way 马上到"}' "$ACK"
check "the platform receives acked with by = the user and the note" \
	wait_for "grep -q '\"id\":\"$ID\".*\"event\":\"acked\".*\"by\":\"wuye\",\"note\":\"on my way 马上到\"' $TMP/incidents.log" 5
check "the ack is on the stream too" wait_for "grep -q '\"event\":\"acked\".*\"by\":\"wuye\"' $TMP/stream.txt" 3
is 200 "acking again is not an error" -u wuye:op-pw -H "$J" -d '{}' "$ACK"
is 404 "ack of an unknown incident" -u wuye:op-pw -H "$J" -d '{}' "$URL/api/v1/incidents/01AAAAAAAAAAAAAAAAAAAAAAAA/ack"
is 200 "incident timeline" -u screen:view-pw "$URL/api/v1/incidents/$ID"
check "the timeline has raised then acked with by and note" \
	test "$(jv '[e["event"] for e in d["incident"]["events"]][:2], [e.get("by") for e in d["incident"]["events"] if e["event"]=="acked"]')" = "['raised', 'acked'] ['wuye']"
# close it from the platform: a closed incident cannot be acked (409)
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$P/cmd" -m "{\"req\":\"c1\",\"op\":\"incident.close\",\"incident\":\"$ID\",\"by\":\"center\"}"
wait_for "grep -q '\"id\":\"$ID\".*\"event\":\"closed\"' $TMP/incidents.log" 5
is 409 "ack of a closed incident" -u wuye:op-pw -H "$J" -d '{}' "$ACK"
is 200 "closed incidents listed with open=0" -u screen:view-pw "$URL/api/v1/incidents?open=0&limit=5"
check "... and not with open=1" bash -c "! curl -s -u screen:view-pw '$URL/api/v1/incidents?open=1' | grep -q '$ID'"

# --- shelve / unshelve ---------------------------------------------------------------------
SH=$URL/api/v1/devices/smoke-b
is 403 "viewer shelve" -u screen:view-pw -H "$J" -d '{"for":"2h"}' "$SH/shelve"
is 400 "shelve without for" -u wuye:op-pw -H "$J" -d '{}' "$SH/shelve"
is 400 "shelve with a bad duration" -u wuye:op-pw -H "$J" -d '{"for":"soon"}' "$SH/shelve"
check "... with the control parser's message" bash -c "grep -q 'is not a duration' '$TMP/body'"
is 400 "shelve for more than 30d" -u wuye:op-pw -H "$J" -d '{"for":"31d"}' "$SH/shelve"
is 404 "shelve an unknown device" -u wuye:op-pw -H "$J" -d '{"for":"2h"}' "$URL/api/v1/devices/nope/shelve"
is 403 "shelve with cookie, no CSRF" -b "$TMP/op.jar" -H "$J" -d '{"for":"2h"}' "$SH/shelve"
is 200 "operator shelves for 2h" -b "$TMP/op.jar" -H "X-CSRF-Token: $CSRF_op" -H "$J" -d '{"for":"2h"}' "$SH/shelve"
req -u screen:view-pw "$SH" >/dev/null
until=$(jv 'd["device"]["shelved_until"]')
check "the device shows shelved_until ($until)" bash -c "[[ '$until' == 20*Z ]]"
check "status counts it shelved" bash -c "curl -s -u screen:view-pw $URL/api/v1/status | grep -q '\"shelved\":1'"
is 200 "unshelve" -u wuye:op-pw -X POST "$SH/unshelve"
is 409 "unshelve a device that is not shelved" -u wuye:op-pw -X POST "$SH/unshelve"
is 400 "unshelve with a body key" -u wuye:op-pw -H "$J" -d '{"for":"1h"}' "$SH/unshelve"
is 403 "installer may not skip CSRF either" -b "$TMP/inst.jar" -X POST "$SH/unshelve"
is 403 "notify test as operator" -u wuye:op-pw -H "$J" -d '{"channel":"sms"}' "$URL/api/v1/notify/test"
is 404 "notify test as installer, no channels configured" -u anzhuang:inst-pw -H "$J" -d '{"channel":"sms"}' "$URL/api/v1/notify/test"
check "... says so" grep -q 'no notify channels configured' "$TMP/body"
is 400 "notify test without a channel" -u anzhuang:inst-pw -H "$J" -d '{}' "$URL/api/v1/notify/test"

# --- device online/offline on the stream -------------------------------------------------
sim fail smoke-b timeout
check "a device going offline is on the stream" wait_for "grep -q '\"id\":\"smoke-b\",\"online\":false' $TMP/stream.txt" 10
sim recover smoke-b
check "and back online" wait_for "grep -q '\"id\":\"smoke-b\",\"online\":true' $TMP/stream.txt" 10

# --- control socket: the same ops -----------------------------------------------------------
ctl() { $PY -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode()+b"\n"); print(s.makefile().readline())' "$TMP/state/gridgw.sock" "$1"; }
out=$(ctl '{"op":"devices"}')
check "control socket op devices" bash -c "grep -q '\"id\":\"smoke-a\"' <<<'$out'"
out=$(ctl '{"op":"history","device":"smoke-a","point":"battery","limit":3}')
check "control socket op history (limit 3)" test "$(echo "$out" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["samples"]))')" = 3
out=$(ctl "{\"op\":\"incident\",\"id\":\"$ID\"}")
check "control socket op incident has the timeline" bash -c "grep -q '\"event\":\"closed\"' <<<'$out'"

# --- login throttle (from 127.0.0.2) ----------------------------------------------------------
for i in 1 2 3 4 5; do req --interface 127.0.0.2 -H "$J" -d '{"username":"wuye","password":"guess'$i'"}' "$URL/api/v1/login" >/dev/null; done
is 429 "the 6th login from one address within a minute" --interface 127.0.0.2 -H "$J" -d '{"username":"wuye","password":"op-pw"}' "$URL/api/v1/login"
check "429 has Retry-After" bash -c "[ \$(grep -i '^retry-after:' '$TMP/hdr' | tr -dc 0-9) -ge 1 ]"
is 429 "Basic from that address is throttled too" --interface 127.0.0.2 -u wuye:op-pw "$URL/api/v1/status"
is 200 "another address still logs in" -H "$J" -d '{"username":"wuye","password":"op-pw"}' "$URL/api/v1/login"
check "failed logins are logged at WARN with the address" bash -c "grep -q \"WARN console: failed login for 'wuye' from 127.0.0.2 (5 in the last minute)\" '$TMP/gw.log'"

# --- header limit ------------------------------------------------------------------------------
long=$(head -c 40000 /dev/zero | tr '\0' 'b')
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Long: $long" "$URL/" 2>/dev/null)
check "a 40 KB header is refused ($code)" bash -c "[ '$code' = 431 ] || [ '$code' = 413 ] || [ '$code' = 000 ] || [ '$code' = 400 ]"
is 200 "and the server goes on" "$URL/"

# --- logout ends the session and its stream ------------------------------------------------------
is 403 "logout without the CSRF token" -b "$TMP/view.jar" -X POST "$URL/api/v1/logout"
is 204 "logout" -b "$TMP/view.jar" -H "X-CSRF-Token: $CSRF_view" -X POST "$URL/api/v1/logout"
is 401 "the old cookie no longer works" -b "$TMP/view.jar" "$URL/api/v1/status"
check "the stream of that session ended" wait_for "! kill -0 $STREAM_PID 2>/dev/null" 5

# --- reload: a changed role ends the user's sessions -------------------------------------------------
login wuye op-pw op2
write_conf "$TMP/gw.conf" viewer
kill -HUP "$PID_gw"
check "after a reload that made wuye a viewer, its session ends" wait_for "[ \$(curl -s -o /dev/null -w '%{http_code}' -b $TMP/op2.jar $URL/api/v1/status) = 401 ]" 10
is 403 "and wuye may not ack any more" -u wuye:op-pw -H "$J" -d '{}' "$ACK"

# --- idle connections were closed by the timeout ------------------------------------------------------
check "every idle connection was closed by the 20 s timeout" wait_for "grep -q 'all_closed_after.* open 0' $TMP/idle.log" 40
grep all_closed "$TMP/idle.log" | sed 's/^/# /'

# --- the core not answering: 503 ------------------------------------------------------------------------
kill -USR2 "$PID_gw"
sleep 0.3
t0=$SECONDS
is 503 "a core that does not answer gives 503" -u screen:view-pw "$URL/api/v1/status"
check "... after the 5 s bound" test $((SECONDS - t0)) -le 8
is 200 "static pages do not need the core" "$URL/"
kill -9 "$PID_gw"; wait "$PID_gw" 2>/dev/null
tap_done
