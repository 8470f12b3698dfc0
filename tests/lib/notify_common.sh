# Helpers for the notify integration tests (bash; source after common.sh).
#   start_robot_fake NAME ARGS...   tests/fakes/robot_fake.py on a free port: $ROBOT_PORT, records to $TMP/NAME.rec
#   start_smtp_fake NAME ARGS...    tests/fakes/smtp_fake.py: $SMTP_PORT, records to $TMP/NAME.rec
#   rec_count FILE API [jq-ish grep]  accepted requests of API in a record file
#   max_in_window FILE API SECONDS    most accepted requests of API in any window (from the record's t)
PY=/usr/bin/python3
FAKES=$GRIDGW_TOP/tests/fakes

start_robot_fake() { # name args...
	local name=$1 attempt; shift
	for attempt in 1 2 3 4 5; do
		ROBOT_PORT=$(free_port)
		spawn "$name" "$PY" "$FAKES/robot_fake.py" --port "$ROBOT_PORT" --record "$TMP/$name.rec" "$@"
		wait_port "$ROBOT_PORT" 10 && return 0
	done
	return 1
}

start_smtp_fake() { # name args...
	local name=$1 attempt; shift
	for attempt in 1 2 3 4 5; do
		SMTP_PORT=$(free_port)
		spawn "$name" "$PY" "$FAKES/smtp_fake.py" --port "$SMTP_PORT" --record "$TMP/$name.rec" "$@"
		wait_port "$SMTP_PORT" 10 && return 0
	done
	return 1
}

# Accepted requests of api whose text matches the (fixed-string) pattern.
rec_count() { # file api [pattern]
	[ -f "$1" ] || { echo 0; return; }
	"$PY" - "$1" "$2" "${3:-}" <<'PYEOF'
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r.get("api") == sys.argv[2] and r.get("ok") and sys.argv[3] in json.dumps(r, ensure_ascii=False):
        n += 1
print(n)
PYEOF
}

# Requests of api refused with code.
rec_refused() { # file api code
	[ -f "$1" ] || { echo 0; return; }
	"$PY" -c '
import json, sys
print(sum(1 for l in open(sys.argv[1], encoding="utf-8")
          if json.loads(l).get("api") == sys.argv[2] and json.loads(l).get("code") == int(sys.argv[3])))' "$1" "$2" "$3"
}

max_in_window() { # file api seconds
	"$PY" -c '
import json, sys
ts = sorted(json.loads(l)["t"] for l in open(sys.argv[1], encoding="utf-8") if json.loads(l).get("api") == sys.argv[2])
w = float(sys.argv[3]); best = 0; j = 0
for i, t in enumerate(ts):
    while ts[j] <= t - w:
        j += 1
    best = max(best, i - j + 1)
print(best)' "$1" "$2" "$3"
}
