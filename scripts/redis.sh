#!/usr/bin/env bash
# A throwaway Redis on a free loopback port, for tests.
#   scripts/redis.sh start DIR [PORT]  start (daemonized) on a free port, or on PORT
#                                      (a restart where clients expect it); prints the URL
#   scripts/redis.sh stop DIR          stop it (SHUTDOWN NOSAVE); waits until it has gone
set -euo pipefail
cmd=${1:?usage: redis.sh start|stop DIR}
dir=${2:?usage: redis.sh start|stop DIR}
command -v redis-server >/dev/null || { echo "redis.sh: redis-server not found (apt-get install redis-server)" >&2; exit 1; }
case $cmd in
  start)
    mkdir -p "$dir"
    port=${3:-$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" >/dev/null
    for _ in $(seq 50); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    redis-cli -p "$port" ping >/dev/null 2>&1 || { tail -5 "$dir/redis.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "redis://127.0.0.1:$port/0"
    ;;
  stop)
    if [[ -f $dir/port ]]; then
      port=$(cat "$dir/port")
      redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
      # gone when nothing answers any more (a start on the same port follows)
      for _ in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 || break
        sleep 0.1
      done
    fi
    rm -f "$dir/port"
    ;;
  *) echo "redis.sh: unknown command $cmd" >&2; exit 2 ;;
esac
