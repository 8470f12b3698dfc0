#!/bin/bash
# Paho chosen per connection (common/mqtt_lib.c, issue #12 target 2), through
# the real daemon and one mosquitto with a plain and a TLS listener:
#  - gridgw links no Paho, libssl or libcrypto (ldd);
#  - a tcp:// uplink and a tcp:// source: the daemon maps the plain Paho
#    build only — no libpaho-mqtt3as, libssl or libcrypto — and delivers;
#  - a SIGHUP that adds an ssl:// source loads the TLS build then, without a
#    restart: both sources' alarms reach the platform over the tcp:// uplink
#    (two Paho builds in one process, neither interposing on the other);
#  - an ssl:// uplink beside a tcp:// source, from the start: both builds
#    mapped, the alarm delivered over TLS;
#  - with the TLS build missing, an ssl:// source fails naming the library
#    and the package to install.
# The sources trust the system store (they have no ca setting): the test CA
# is handed to OpenSSL with SSL_CERT_FILE.
. "$(dirname "$0")/../lib/common.sh"
chmod 711 "$TMP"   # mosquitto drops root privileges: let it read the PKI

PKI=$TMP/pki
mkdir -p "$PKI" && chmod 755 "$PKI"
ossl() { openssl "$@" >>"$TMP/openssl.log" 2>&1; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" -keyout "$PKI/ca.key" -out "$PKI/ca.crt" &&
	ossl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$PKI/server.key" -out "$PKI/server.csr" &&
	printf 'subjectAltName=IP:127.0.0.1\n' >"$PKI/server.ext" &&
	ossl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 \
		-out "$PKI/server.crt" -extfile "$PKI/server.ext"
chmod 644 "$PKI"/*
check "test PKI generated with openssl" test -s "$PKI/server.crt"

TLS=$(free_port)
start_broker "listener $TLS 127.0.0.1" "certfile $PKI/server.crt" "keyfile $PKI/server.key" ||
	{ tap_fail "broker"; tap_done; exit 1; }
wait_port "$TLS" 5
check "mosquitto listens on tcp:// $BROKER_PORT and ssl:// $TLS" kill -0 "$PID_mosquitto"

out=$(ldd "$GRIDGW") || out="ldd failed"
# A failed ldd, or one that does not list libc, proves nothing: it fails.
check "gridgw links no Paho, libssl or libcrypto (ldd)" \
	bash -c "grep -q 'libc\.so' <<<'$out' && ! grep -qE 'libpaho|libssl|libcrypto\.' <<<'$out'"
[ $? = 0 ] || echo "$out" | sed 's/^/# /'

write_conf() { # file uplink-url [secure-source-url]
	local tls="" secure=""
	[[ $2 == ssl://* ]] && tls="tls = { ca = \"$PKI/ca.crt\"; };"
	[ -n "${3:-}" ] && secure=", { name = \"secure\"; url = \"$3\"; topic = \"secure/+/up\"; device_from = \"topic:2\"; }"
	cat >"$1" <<CONF
gateway = { id = "builds-gw"; state_dir = "$TMP/state"; };
uplink = { url = "$2"; $tls };
mqtt_sources = (
  { name = "plain"; url = "tcp://127.0.0.1:$BROKER_PORT"; topic = "plain/+/up"; device_from = "topic:2"; } $secure
);
profiles = { det = { kind = "smoke"; points = ( { name = "alarm"; json = "alarm"; type = "bool"; } ); }; };
devices = ( { id = "p1"; profile = "det"; source = "plain"; }, { id = "p2"; profile = "det"; source = "plain"; }$([ -n "$secure" ] && echo ', { id = "s1"; profile = "det"; source = "secure"; }') );
rules = ( { id = "smoke"; profile = "det"; when = "alarm"; type = "fire.smoke"; severity = 1; } );
CONF
}
mapped() { # pid -> the file names of its shared-object mappings, one a line
	awk '$6 ~ /\.so/ { n = split($6, p, "/"); print p[n] }' "/proc/$1/maps" | sort -u
}
has_lib() { mapped "$1" | grep -q "^$2"; }
alarm() { # port topic-prefix device [mosquitto_pub tls args...]
	local port=$1 pre=$2 dev=$3; shift 3
	mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 "$@" -t "$pre/$dev/up" -m '{"alarm":true}'
}
raised() { grep -c "\"event\":\"raised\".*\"device\":\"$1\"" "$TMP/platform.log"; }

record_topic platform "grid/v1/builds-gw/incident"

# --- tcp:// only ------------------------------------------------------------
write_conf "$TMP/gw.conf" "tcp://127.0.0.1:$BROKER_PORT"
check "config valid" "$GRIDGW" check -c "$TMP/gw.conf"
SSL_CERT_FILE=$PKI/ca.crt spawn gw "$GRIDGW" run -c "$TMP/gw.conf"
check "plain: the uplink connects and the source subscribes" \
	wait_for "grep -q 'subscribed to plain' '$TMP/gw.log' && \"$GRIDGW\" status -c '$TMP/gw.conf' --json | jq -e '.uplink == \"up\"' >/dev/null" 15
alarm "$BROKER_PORT" plain p1
check "plain: the alarm reaches the platform" wait_for "[ \$(raised p1) -ge 1 ]" 15
check "plain: libpaho-mqtt3a is mapped" has_lib "$PID_gw" "libpaho-mqtt3a.so"
# The absent ones only count for a daemon whose maps list libc (alive, readable).
check "plain: the daemon's maps are readable" has_lib "$PID_gw" "libc.so"
for lib in libpaho-mqtt3as libssl libcrypto libcrypt.so; do
	check "plain: $lib is not mapped" bash -c "! { $(declare -f mapped); mapped $PID_gw; } | grep -q '^$lib'"
done
mapped "$PID_gw" | tr '\n' ' ' | sed 's/^/# mapped: /'; echo

# --- a reload adds an ssl:// source ------------------------------------------
write_conf "$TMP/gw.conf" "tcp://127.0.0.1:$BROKER_PORT" "ssl://127.0.0.1:$TLS"
kill -HUP "$PID_gw"
check "reload: the ssl:// source subscribes without a restart" \
	wait_for "grep -q 'subscribed to secure' '$TMP/gw.log'" 20
check "reload: libpaho-mqtt3as and libssl are mapped now, libpaho-mqtt3a still" \
	bash -c "$(declare -f mapped has_lib); has_lib $PID_gw libpaho-mqtt3as.so && has_lib $PID_gw libssl.so && has_lib $PID_gw libpaho-mqtt3a.so"
alarm "$TLS" secure s1 --cafile "$PKI/ca.crt"
check "reload: the ssl:// source's alarm reaches the platform over the tcp:// uplink" \
	wait_for "[ \$(raised s1) -ge 1 ]" 15
alarm "$BROKER_PORT" plain p2
check "reload: the tcp:// source still delivers beside it" wait_for "[ \$(raised p2) -ge 1 ]" 15
kill "$PID_gw"; wait_for "! kill -0 $PID_gw 2>/dev/null" 10

# --- ssl:// uplink, tcp:// source ---------------------------------------------
before=$(raised p1)
rm -rf "$TMP/state"
write_conf "$TMP/gw.conf" "ssl://127.0.0.1:$TLS"
spawn gw2 "$GRIDGW" run -c "$TMP/gw.conf"
check "tls uplink: it connects and the source subscribes" \
	wait_for "grep -q 'subscribed to plain' '$TMP/gw2.log' && \"$GRIDGW\" status -c '$TMP/gw.conf' --json | jq -e '.uplink == \"up\"' >/dev/null" 15
check "tls uplink: both Paho builds and libssl are mapped" \
	bash -c "$(declare -f mapped has_lib); has_lib $PID_gw2 libpaho-mqtt3as.so && has_lib $PID_gw2 libpaho-mqtt3a.so && has_lib $PID_gw2 libssl.so"
alarm "$BROKER_PORT" plain p1
check "tls uplink: the tcp:// source's alarm is delivered over ssl://" wait_for "[ \$(raised p1) -gt $before ]" 15
kill "$PID_gw2"; wait_for "! kill -0 $PID_gw2 2>/dev/null" 10

# --- the TLS build missing ------------------------------------------------------
# As on a box where it was removed: libpaho-mqtt3as.so.1 an empty file in the
# daemon's mount namespace (root only). The ssl:// source must fail with the
# library's name and the package to install.
TLS_SO=$(ldconfig -p | awk '$1 == "libpaho-mqtt3as.so.1" { print $NF; exit }')
if [ -n "$TLS_SO" ] && unshare -m true 2>/dev/null; then
	rm -rf "$TMP/state"
	write_conf "$TMP/gw.conf" "tcp://127.0.0.1:$BROKER_PORT" "ssl://127.0.0.1:$TLS"
	SSL_CERT_FILE=$PKI/ca.crt spawn gw3 unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' \
		sh "$(readlink -f "$TLS_SO")" "$GRIDGW" run -c "$TMP/gw.conf"
	check "missing TLS build: the error names the library and the package" \
		wait_for "grep -q 'cannot load libpaho-mqtt3as.so.1.*install libpaho-mqtt1.3' '$TMP/gw3.log'" 15
	grep -m2 'libpaho-mqtt3as' "$TMP/gw3.log" | sed 's/^/# /'
else
	tap_ok "# SKIP missing TLS build: needs mount namespaces (root)"
fi
tap_done
