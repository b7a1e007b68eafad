#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a free loopback port, for tests.
#   scripts/pg.sh start DIR     init (first time) and start; prints the URL
#   scripts/pg.sh stop DIR      stop (fast) and keep the files
#   scripts/pg.sh restart DIR   stop + start on the same port (reconnect tests)
#   scripts/pg.sh destroy DIR   stop and delete DIR
# The cluster trusts 127.0.0.1 only and runs with fsync off: test data only.
# Run as root it uses the postgres system user (initdb refuses root).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|restart|destroy DIR}
dir=${2:?usage: pg.sh start|stop|restart|destroy DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $bin/pg_ctl ]] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  mkdir -p "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres "$dir"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    printf 'host all all 127.0.0.1/32 trust\n' >"$dir/data/pg_hba.conf"
    printf 'local all all trust\n' >>"$dir/data/pg_hba.conf"
  fi
  [[ -f $dir/port ]] || free_port >"$dir/port"
  local port; port=$(cat "$dir/port")
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
  if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='vial_test'" | grep -q 1; then
    as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE vial_test" >/dev/null
  fi
  echo "postgresql://postgres@127.0.0.1:$port/vial_test"
}

stop() {
  [[ -f $dir/data/postmaster.pid ]] || return 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

case $cmd in
  start) start ;;
  stop) stop ;;
  restart) stop; start >/dev/null ;;
  destroy) stop; rm -rf "$dir" ;;
  *) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
