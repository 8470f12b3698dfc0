#!/bin/bash
# The console under TLS (console.tls with a self-signed certificate made by
# openssl here): HTTPS answers, plain HTTP does not, the session cookie is
# Secure, and an unreadable key file leaves the daemon running without a
# console, with a clear error, until a reload finds the key.
. "$(dirname "$0")/../lib/common.sh"

WEB=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
	-keyout "$TMP/console.key" -out "$TMP/console.pem" >/dev/null 2>&1 || tap_fail "openssl made a certificate"
H=$(echo tls-pw | "$GRIDGW" passwd)
write_conf() { # keyfile
	cat >"$TMP/gw.conf" <<CONF
gateway = { id = "tls-gw"; state_dir = "$TMP/state"; profiles_dir = "$GRIDGW_TOP/config/profiles"; };
console = { listen = "127.0.0.1:$WEB"; tls = { cert = "$TMP/console.pem"; key = "$1"; };
  users = ( { name = "wuye"; role = "operator"; password_hash = "$H"; } ); };
CONF
}
write_conf "$TMP/missing.key"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
check "an unreadable TLS key leaves the daemon without a console, saying which file" \
	wait_for "grep -q 'ERROR core: console not started: .*missing.key: No such file' '$TMP/gw.log'" 15
check "the daemon runs on (alarms do not depend on the console)" kill -0 "$PID_gw"
check "nothing listens on the console's port" bash -c "! curl -s -k -o /dev/null 'https://127.0.0.1:$WEB/'"

# The key put in place and a reload: the console starts, no restart.
write_conf "$TMP/console.key"
kill -HUP "$PID_gw"
check "a reload with the key readable starts the console" \
	wait_for "grep -q 'reload: console started' '$TMP/gw.log'" 15
wait_port "$WEB" 10 || tap_fail "console listening"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/console.pem" "https://127.0.0.1:$WEB/")
check "HTTPS serves the page ($code)" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$WEB/")
check "plain HTTP on the TLS port gets no page ($code)" test "$code" != 200
curl -s -D "$TMP/hdr" -o "$TMP/body" --cacert "$TMP/console.pem" -H 'Content-Type: application/json' \
	-d '{"username":"wuye","password":"tls-pw"}' "https://127.0.0.1:$WEB/api/v1/login"
check "login over HTTPS" grep -q '"role":"operator"' "$TMP/body"
check "the session cookie is Secure under TLS" grep -qi '^set-cookie: gridgw_session=.*HttpOnly; SameSite=Strict; Secure' "$TMP/hdr"
check "Basic over HTTPS" bash -c "curl -s --cacert '$TMP/console.pem' -u wuye:tls-pw 'https://127.0.0.1:$WEB/api/v1/status' | grep -q '\"gateway\":\"tls-gw\"'"
check "the log names https" grep -q "listening on https://127.0.0.1:$WEB" "$TMP/gw.log"
tap_done
