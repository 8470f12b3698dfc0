#!/bin/bash
# The ssl:// uplink against a mosquitto that requires client certificates,
# with a CA and certificates made here with openssl: the right client
# certificate delivers; a certificate from another CA, or none, is refused;
# a broker certificate from another CA is refused; a server certificate
# that does not name 127.0.0.1 is refused while
# hostname verification is on (the default) and accepted with verify off.
. "$(dirname "$0")/../lib/common.sh"
. "$GRIDGW_TOP/tests/lib/uplink_common.sh"

PKI=$TMP/pki
mkdir -p "$PKI" && chmod 755 "$PKI"
ossl() { openssl "$@" >>"$TMP/openssl.log" 2>&1; }
mkca() { # name
	ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
		-keyout "$PKI/$1.key" -out "$PKI/$1.crt"
}
mkcert() { # name ca cn [san]
	ossl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$PKI/$1.key" -out "$PKI/$1.csr"
	if [ -n "${4:-}" ]; then
		printf 'subjectAltName=%s\n' "$4" >"$PKI/$1.ext"
		ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial \
			-days 2 -out "$PKI/$1.crt" -extfile "$PKI/$1.ext"
	else
		ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial \
			-days 2 -out "$PKI/$1.crt"
	fi
}
mkca ca && mkca otherca && mkcert server ca 127.0.0.1 "IP:127.0.0.1" &&
	mkcert wrongname ca broker.example "DNS:broker.example" &&
	mkcert client ca gw-tls && mkcert rogue otherca gw-tls &&
	mkcert fakeserver otherca 127.0.0.1 "IP:127.0.0.1"
chmod 644 "$PKI"/*
check "test PKI generated with openssl" test -s "$PKI/rogue.crt"

PLAIN=$(free_port); TLS=$(free_port); TLS2=$(free_port); TLS3=$(free_port)
uplink_broker_conf "$TMP/broker.conf" "$PLAIN" \
	"listener $TLS 127.0.0.1" "cafile $PKI/ca.crt" "certfile $PKI/server.crt" "keyfile $PKI/server.key" \
	"require_certificate true" \
	"listener $TLS2 127.0.0.1" "cafile $PKI/ca.crt" "certfile $PKI/wrongname.crt" "keyfile $PKI/wrongname.key" \
	"require_certificate true" \
	"listener $TLS3 127.0.0.1" "cafile $PKI/ca.crt" "certfile $PKI/fakeserver.crt" "keyfile $PKI/fakeserver.key" \
	"require_certificate true"
uplink_start_broker broker "$TMP/broker.conf" "$PLAIN" && wait_port "$TLS" 5 && wait_port "$TLS2" 5 &&
	wait_port "$TLS3" 5
check "mosquitto listens with TLS and required client certificates" kill -0 "$PID_broker"

spawn recorder mosquitto_sub -h 127.0.0.1 -p "$PLAIN" -q 1 -v -t "grid/v1/+/incident"
sleep 0.3
drive() { # log gateway url [driver args...]
	local log=$1 gw=$2 url=$3; shift 3
	"$DRIVER" --url "$url" --state "$TMP/state-$gw" --gateway "$gw" --events 300 --exit-when-empty \
		--quiet "$@" >"$TMP/$log.log" 2>&1
}

drive good gw-tls "ssl://127.0.0.1:$TLS" --ca "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--deadline 30
rc=$?
wait_for "[ \$(grep -c 'gw-tls/incident' $TMP/recorder.log) -ge 300 ]" 10
check "ssl:// with the right client certificate delivers all 300 events (exit $rc)" \
	bash -c "[ $rc = 0 ] && [ \$(grep 'gw-tls/incident' $TMP/recorder.log | sed 's/.*\"seq\":\([0-9]*\).*/\1/' | sort -un | wc -l) = 300 ]"

drive rogue gw-rogue "ssl://127.0.0.1:$TLS" --ca "$PKI/ca.crt" --cert "$PKI/rogue.crt" --key "$PKI/rogue.key" \
	--deadline 4
rc=$?
check "a client certificate from another CA is refused (exit $rc, no connect)" \
	bash -c "[ $rc = 3 ] && grep -q 'connects=0 ' $TMP/rogue.log && ! grep -q 'gw-rogue/incident' $TMP/recorder.log"

drive nocert gw-nocert "ssl://127.0.0.1:$TLS" --ca "$PKI/ca.crt" --deadline 4
rc=$?
check "no client certificate is refused (exit $rc)" bash -c "[ $rc = 3 ] && grep -q 'connects=0 ' $TMP/nocert.log"

drive name gw-name "ssl://127.0.0.1:$TLS2" --ca "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--deadline 4
rc=$?
check "a server certificate not naming 127.0.0.1 fails hostname verification (exit $rc)" \
	bash -c "[ $rc = 3 ] && grep -q 'connects=0 ' $TMP/name.log"

drive fake gw-fake "ssl://127.0.0.1:$TLS3" --ca "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--deadline 4
rc=$?
check "a broker whose certificate comes from another CA is refused (exit $rc)" \
	bash -c "[ $rc = 3 ] && grep -q 'connects=0 ' $TMP/fake.log"

drive noverify gw-noverify "ssl://127.0.0.1:$TLS2" --ca "$PKI/ca.crt" --cert "$PKI/client.crt" \
	--key "$PKI/client.key" --no-verify --deadline 30
rc=$?
check "the same server is accepted with verify = false (exit $rc)" bash -c "[ $rc = 0 ] && grep -q 'connects=1 ' $TMP/noverify.log"
tap_done
