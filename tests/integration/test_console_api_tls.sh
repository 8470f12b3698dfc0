#!/bin/bash
# The console under TLS (console.tls with a self-signed certificate made by
# openssl here): HTTPS answers, plain HTTP does not, the session cookie is
# Secure, and an unreadable key file stops the daemon with a clear error.
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
"$GRIDGW" run -c "$TMP/gw.conf" >"$TMP/bad.log" 2>&1
rc=$?
check "an unreadable TLS key stops the daemon" test "$rc" != 0
check "... saying which file" grep -q "missing.key: No such file" "$TMP/bad.log"

write_conf "$TMP/console.key"
spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
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
