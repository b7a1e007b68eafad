#!/usr/bin/env bash
# The CPU a Log API ingest costs, in instructions per action (callgrind):
# vial-server (1 worker, fresh SQLite) takes the same 10,000-action body
# six times; only the request's dispatch (parse, validate, insert, COMMIT)
# and the live tail's publish (a deferred function after it) are counted.
#
#   bench/ingest_callgrind.sh [BIN] [server flags...]
#     LISTEN='?user=nobody'   keep an SSE client on /logs/stream meanwhile
#     e.g. --redis-url redis://127.0.0.1:6379/0   (publishes to Redis always)
#
# Prints instructions per action.  Every process it starts is stopped by PID.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/build/vial-server}")
shift || true
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/vial-ingest-cg.XXXXXX")
VPID= LPID=
cleanup() {
  [[ -n $LPID ]] && kill "$LPID" 2>/dev/null
  [[ -n $VPID ]] && kill -TERM "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
/usr/bin/python3 - "$W/body.json" <<'PY'
import json, random, sys
random.seed(7)
acts = []
for i in range(10000):
    t = ("CLICK", "VIEW", "NAVIGATE")[i % 3]
    props = {"CLICK": {"locationX": random.randint(0, 1900), "locationY": random.randint(0, 1000)},
             "VIEW": {"viewedId": "FDJKLHSLD%d" % i},
             "NAVIGATE": {"pageFrom": "communities", "pageTo": "inventory"}}[t]
    acts.append({"time": "2018-10-18T21:%02d:%02d-06:00" % (i // 60 % 60, i % 60), "type": t, "properties": props})
json.dump({"userId": "ABCDEFG", "sessionId": "XYZ123", "actions": acts}, open(sys.argv[1], "w"))
PY
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$W" && SECRET_KEY=$(head -c 48 /dev/urandom | base64 -w0) exec valgrind --tool=callgrind \
  --callgrind-out-file="$W/cg.out" --collect-atstart=no --toggle-collect=vial__app_dispatch \
  --toggle-collect=publish_stored "$BIN" run --host 127.0.0.1 --port "$PORT" --workers 1 --access-log=off \
  --database-url "sqlite:///$W/v.db" --migrations-root "$ROOT" "$@" 2>"$W/err.log") &
VPID=$!
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/health" && break; sleep 0.2; done
if [[ -n ${LISTEN:-} ]]; then curl -sN "http://127.0.0.1:$PORT/logs/stream$LISTEN" >/dev/null & LPID=$!; sleep 1; fi
for _ in 1 2 3 4 5 6; do
  curl -sf -XPOST -H 'Content-Type: application/json' --data-binary "@$W/body.json" \
    "http://127.0.0.1:$PORT/logs" >/dev/null || { echo "ingest failed" >&2; tail "$W/err.log" >&2; exit 1; }
done
[[ -n $LPID ]] && kill "$LPID" 2>/dev/null; LPID=
kill -TERM "$VPID"; wait "$VPID"; VPID=
total=$(sed -n 's/^totals: //p' "$W"/cg.out* | head -1)
echo "$total instructions, $((total / 60000)) per action"
