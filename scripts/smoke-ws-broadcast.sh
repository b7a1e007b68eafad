#!/usr/bin/env bash
# Starts examples/ws_broadcast on a free port and checks what its comment says
# with real clients (Debian's python3-websockets): every message one client
# sends reaches every connected client (on either worker), the sender included.
set -euo pipefail
bin=$1
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=/tmp/ws-broadcast-smoke.$$.log
"$bin" --port "$port" --workers 2 --no-access-log >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
/usr/bin/python3 - "$port" <<'PY'
import asyncio, sys, websockets
async def main(port):
    url = f"ws://127.0.0.1:{port}/broadcast"
    clients = [await websockets.connect(url) for _ in range(5)]  # on both workers
    # one message at a time, each from another client: every client gets it
    # (the sender too) before the next goes out, so the next one is next
    for i in range(20):
        m = f"m{i} from {i % 5}"
        await clients[i % 5].send(m)
        for c in clients:
            got = await c.recv()
            assert got == m, (m, got)
    for c in clients:
        await c.close()
    print("ok 20 messages from 5 clients reached all 5")
asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
PY
