#!/usr/bin/env bash
# Starts examples/ws_echo on a free port and checks the README's claims with
# a real client (Debian's python3-websockets): text and binary echo, a
# compressed echo, and plain HTTP on the endpoint refused with 426.
set -euo pipefail
bin=$1
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=/tmp/ws-echo-smoke.$$.log
"$bin" --port "$port" --workers 1 --no-access-log >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/echo")
[[ $code == 426 ]] || { echo "FAIL plain GET /echo: $code (want 426)"; exit 1; }
echo "ok GET /echo without upgrading -> 426"
/usr/bin/python3 - "$port" <<'PY'
import asyncio, sys, websockets
async def main(port):
    for compression in (None, "deflate"):
        async with websockets.connect(f"ws://127.0.0.1:{port}/echo", compression=compression) as ws:
            for m in ("Hello, WebSocket", b"\x00\x01\x02", "x" * 100000):
                await ws.send(m)
                got = await ws.recv()
                assert got == m, (compression, m[:20], got[:20])
        print(f"ok echo (compression={compression})")
asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
PY
