# Helpers for the uplink integration tests (bash; source after common.sh).
#   DRIVER                     path of build/tests/uplink_driver
#   uplink_broker_conf FILE PORT [extra lines]   a mosquitto config whose
#                              persistence survives a SIGTERM restart (so a
#                              recorder's persistent session loses nothing
#                              the broker PUBACKed) and whose queues are unbounded
#   uplink_start_broker NAME CONF PORT           start it (spawned, waited for)
#   uplink_stop_broker NAME                      SIGTERM and wait (saves its db)
#   uplink_check_seqs REC N    prints "total= missing= dup= order_violations= extra="
#                              for the incident events in a recorder file:
#                              every seq 1..N must appear; for each incident id,
#                              seqs in order of first arrival must increase
#   uplink_field LINE KEY      the value of "KEY":... in a recorded JSON line
DRIVER=$GRIDGW_TOP/$BUILD/tests/uplink_driver
# mosquitto drops root privileges to its own user: let it reach $TMP.
chmod 711 "$TMP"

uplink_broker_conf() { # file port [extra lines...]
	local file=$1 port=$2; shift 2
	mkdir -p "$TMP/mosq-db-$port" && chmod 777 "$TMP/mosq-db-$port"
	{
		echo "listener $port 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence true"
		echo "persistence_location $TMP/mosq-db-$port/"
		echo "max_queued_messages 0"
		echo "log_dest stderr"
		echo "log_type error"
		echo "log_type warning"
		[ $# -gt 0 ] && printf '%s\n' "$@"
	} >"$file"
}

uplink_start_broker() { # name conf port
	spawn "$1" mosquitto -c "$2"
	wait_port "$3" 10 || { echo "# mosquitto $1 did not start"; cat "$TMP/$1.log"; return 1; }
}

uplink_stop_broker() { # name
	local var="PID_${1//[^a-zA-Z0-9_]/_}" i
	local pid=${!var}
	kill "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
	kill -9 "$pid" 2>/dev/null
}

uplink_check_seqs() { # recfile N [stop_seq]
	# With stop_seq, an inversion of two seqs that both lie within 40 of the
	# point where the broker was stopped is counted apart (order_at_stop):
	# seen once in four ASan runs, right at the stop, with the gateway's
	# publish order intact — the broker's redelivery of what was in flight
	# as it shut down. Any inversion elsewhere is a violation.
	awk -v N="$2" -v STOP="${3:--1000}" '
	/\/incident / {
		if (!match($0, /"seq":[0-9]+/)) next
		s = substr($0, RSTART + 6, RLENGTH - 6) + 0
		id = ""
		if (match($0, /"id":"[0-9A-Z]+"/)) id = substr($0, RSTART + 6, RLENGTH - 7)
		total++
		if (s in seen) { dup++; next }
		seen[s] = 1
		if ((id in last) && s < last[id]) {
			if (s >= STOP - 40 && s <= STOP + 40 && last[id] >= STOP - 40 && last[id] <= STOP + 40) at_stop++
			else viol++
		}
		last[id] = s
	}
	END {
		miss = 0; extra = 0
		for (i = 1; i <= N; i++) if (!(i in seen)) miss++
		for (k in seen) if (k + 0 < 1 || k + 0 > N) extra++
		printf "total=%d missing=%d dup=%d order_violations=%d extra=%d order_at_stop=%d\n", total, miss, dup + 0, viol + 0, extra, at_stop + 0
	}' "$1"
}

uplink_count_incidents() { # recfile
	grep -c '/incident ' "$1" 2>/dev/null || true
}

uplink_field() { # line key -> value (string without quotes, or number/bool/object start)
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" | head -n 1
}
