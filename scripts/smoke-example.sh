#!/usr/bin/env bash
# Starts examples/hello on a free port and checks the README's claims.
set -euo pipefail
bin=$1
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --port "$port" --workers 1 --no-access-log >/tmp/hello-smoke.$$.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f /tmp/hello-smoke.$$.log' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
check() {  # URL EXPECTED_STATUS EXPECTED_BODY_SUBSTRING
  out=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$port$1")
  code=${out##*$'\n'} body=${out%$'\n'*}
  [[ $code == "$2" && $body == *"$3"* ]] || { echo "FAIL $1: $code $body"; exit 1; }
  echo "ok $1 -> $code"
}
check / 200 "This is the index of your app"
check /site/21 200 "Welcome, you are 21"
check /site/12 403 "You are not allowed to enter"
check /site/abc 404 "not_found_404"
