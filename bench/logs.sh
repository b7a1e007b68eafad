#!/usr/bin/env bash
# bench/logs.sh: the Log REST API benchmark of issue 4, for vial-server.
#
#   VIAL_BUILD_DIR=build-benchlogs bench/logs.sh     # default build dir: ./build
#
# 1. Ingest: POST /logs bodies of 10,000 actions (100 log files of 100 actions,
#    users from a population of 10,000, event time moving forward from body to
#    body, no body sent twice to one database; generated once by
#    bench/logs/logsbench.py and cached in $CACHE_DIR), side by side with the
#    Flask + Flask-SQLAlchemy peer
#    (../shared/peers/flask_logs/app.py under gunicorn):
#      vial  sqlite      vial-server --workers 1, a fresh SQLite file
#      flask sqlite      gunicorn -k sync -w 1, a fresh SQLite file (same filesystem)
#      vial  postgresql  vial-server --workers 1, a fresh database
#      flask postgresql  gunicorn -k sync -w 1, FLASK_DB=postgresql+psycopg2://...
#    Every server, and the PostgreSQL cluster, is pinned to CPU $SERVER_CPU; the
#    client (bench/logs/logsbench.py ingest) to CPU $CLIENT_CPU.  Each run starts
#    the server on a fresh empty database, POSTs $INGEST_WARMUP bodies of warm-up,
#    then $INGEST_REQUESTS (vial) or $FLASK_REQUESTS (Flask, ~30x slower) measured
#    over $INGEST_CONNS keep-alive connections;
#    actions/s = actions stored / wall time from the first byte sent to the
#    last response.  Every response must be 201 with "stored" = the body's
#    actions; afterwards the rows in the database must equal the actions
#    acknowledged, vial's id blocks must be disjoint, and a sample of vial's
#    stored logs must equal what was sent.
# 2. Query: GET /user/<u>/log_type/<t>/time_range/<start>/<end> over 10,000,000
#    logs (bench/logs/logsbench.py: DATA), paths picked at random by wrk
#    (bench/logs/query.lua); mode "range": the inclusive range holds exactly 100
#    logs of that user and type (streamed response); mode "limit": it holds
#    150-200 and the path asks ?limit=100 (a page with a Link).  p50/p99 from
#    `wrk --latency`, with $QUERY_CONNS connections.  The 10M SQLite file is
#    cached in $CACHE_DIR (REGEN=1 rebuilds it); PostgreSQL is filled each run.
#
# stdout: the report; stderr: progress; raw output and logs: $BENCH_OUT (a temp
# dir).  Budgets print as PASS/OVER; the exit status is 0 whenever the harness
# ran.  The run stops itself after $MAX_SECONDS and on exit stops every process
# it started, by PID, and destroys the PostgreSQL cluster.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_paths vial-server
common_knobs  # SERVER_CPU CLIENT_CPU DURATION (per query run) WARMUP (per query server and mode) RUNS FOREIGN_MAX
              # FOREIGN_RETRIES RETRY_BUDGET NICE
peers_dir
FLASK_DIR=$PEERS_DIR/flask_logs
TOOL=$HERE/logs/logsbench.py
LUA=$HERE/logs/query.lua
CACHE_DIR=${CACHE_DIR:-$BUILD_DIR/bench-logs}

PLACEMENT=${PLACEMENT:-pinned}          # pinned: servers + cluster on SERVER_CPU, 1 worker; spread: 2 workers, no pinning
PHASES=${PHASES:-"ingest query"}
INGEST_SERVERS=${INGEST_SERVERS:-"vial-sqlite flask-sqlite vial-pg flask-pg"}
INGEST_REQUESTS=${INGEST_REQUESTS:-100} # vial's measured POSTs per run (1,000,000 actions, ~2 s)
FLASK_REQUESTS=${FLASK_REQUESTS:-20}    # Flask's (200,000 actions, ~12 s)
INGEST_MAX_SECONDS=${INGEST_MAX_SECONDS:-40}  # a run stops early after this
INGEST_CONNS=${INGEST_CONNS:-2}
INGEST_WARMUP=${INGEST_WARMUP:-2}       # POSTs per server before the measured runs
BODIES=${BODIES:-300}                   # distinct bodies generated (cached); a run sends warm-up + requests
ACTIONS=${ACTIONS:-10000}
QUERY_BACKENDS=${QUERY_BACKENDS:-"sqlite pg"}
QUERY_MODES=${QUERY_MODES:-"range limit"}
QUERY_CONNS=${QUERY_CONNS:-"1 4"}
REGEN=${REGEN:-0}                       # 1: rebuild the cached 10M-log SQLite file
PORT_BASE=${PORT_BASE:-18290}
RETRY_UNTIL=${RETRY_UNTIL:-420}         # no retries once the run is this many seconds old
MAX_SECONDS=${MAX_SECONDS:-600}
SKIP_INSTALL=${SKIP_INSTALL:-0}
PG_SHARED_BUFFERS=${PG_SHARED_BUFFERS:-3GB}  # the 10M-log database (~2 GB) fits, as on a real server
BUDGET_INGEST=500000                    # issue 4: actions/s into SQLite
BUDGET_X=30                             # "about 30x the Flask + SQLAlchemy design"
BUDGET_P99_MS=2                         # issue 4: query p99

log() { printf '[bench-logs] %s\n' "$*" >&2; }
T0=$SECONDS
HZ=$(getconf CLK_TCK)
case $PLACEMENT in
  pinned) WORKERS=1 ;;
  spread) WORKERS=2 ;;
  *) die "PLACEMENT is pinned or spread" ;;
esac
set_prefixes
[[ $PLACEMENT == pinned ]] || PIN_SRV=() PIN_CLI=()
START_TRIES=300

# ---------------------------------------------------------------- cleanup, hard stop
TEMP_DBS='*.db'
arm_cleanup

# ---------------------------------------------------------------- install (idempotent)
((SKIP_INSTALL)) || install_deps --no-services python3-flask python3-flask-sqlalchemy gunicorn python3-psycopg2 \
  postgresql wrk sqlite3 curl procps util-linux || exit 1

# ---------------------------------------------------------------- preflight
[[ -x $BIN ]] || die "no $BIN: build it first (cmake -S . -B build-benchlogs -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build-benchlogs --target vial-server; VIAL_BUILD_DIR=build-benchlogs)"
for t in wrk taskset awk ps psql sqlite3 flock sha256sum /usr/bin/python3 /usr/bin/gunicorn; do
  command -v "$t" >/dev/null || die "missing $t"
done
[[ -f $FLASK_DIR/app.py ]] || die "no $FLASK_DIR/app.py (the Flask + SQLAlchemy peer; set PEERS_DIR)"
(($(getconf _NPROCESSORS_ONLN) > SERVER_CPU && $(getconf _NPROCESSORS_ONLN) > CLIENT_CPU)) ||
  die "needs CPUs $CLIENT_CPU and $SERVER_CPU"
has() { [[ " $1 " == *" $2 "* ]]; }
NEED_PG=0
for s in $INGEST_SERVERS; do [[ $s == *-pg ]] && has "$PHASES" ingest && NEED_PG=1; done
has "$QUERY_BACKENDS" pg && has "$PHASES" query && NEED_PG=1
NEED_SQLITE_Q=0
has "$QUERY_BACKENDS" sqlite && has "$PHASES" query && NEED_SQLITE_Q=1

OUT=${BENCH_OUT:-$(mktemp -d /tmp/vial-bench-logs.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"  # the postgres user must reach $OUT/pg
REPORT=$OUT/report.txt
: >"$REPORT"
SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '\n')

# The harness itself (bash, psql, python, awk) stays on the client core.
[[ $PLACEMENT == pinned ]] && taskset -p -c "$CLIENT_CPU" $$ >/dev/null

# ---------------------------------------------------------------- PostgreSQL
PG_URL="" PG_BASE=""
if ((NEED_PG)); then
  PGDIR=$OUT/pg
  log "starting a throwaway PostgreSQL cluster in $PGDIR${PIN_SRV:+, pinned to CPU $SERVER_CPU}"
  PG_STARTED=1
  PG_URL=$("${PIN_SRV[@]}" "${PRIO[@]}" "$REPO/scripts/pg.sh" start "$PGDIR") || die "scripts/pg.sh start failed"
  PG_BASE=${PG_URL%/*}
  # Room for the 10M-log database in shared buffers (pg.sh keeps the default
  # 128 MB), and no autovacuum: its CPU would land in whichever run is going
  # on (the query database gets an explicit VACUUM ANALYZE after its fill).
  printf 'shared_buffers = %s\nautovacuum = off\n' "$PG_SHARED_BUFFERS" >>"$PGDIR/data/postgresql.conf"
  "${PIN_SRV[@]}" "${PRIO[@]}" "$REPO/scripts/pg.sh" restart "$PGDIR" || die "scripts/pg.sh restart failed"
  pm=$(pg_postmaster)
  if [[ $PLACEMENT == pinned ]]; then
    [[ $(awk '/^Cpus_allowed_list/{print $2}' "/proc/$pm/status" 2>/dev/null) == "$SERVER_CPU" ]] ||
      log "warning: the postmaster is not pinned to CPU $SERVER_CPU"
  fi
  # pg.sh runs with synchronous_commit=off (tests); the ingest databases get
  # `on`, so a 201 means the commit's WAL was written (fsync stays off in this
  # throwaway cluster): the same guarantee as SQLite WAL + synchronous=normal.
  psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" >"$OUT/pg-setup.log" 2>&1 <<'EOF' || die "PostgreSQL setup failed: $(tail -3 "$OUT/pg-setup.log")"
CREATE DATABASE ingest_vial;
CREATE DATABASE ingest_flask;
CREATE DATABASE logs_query;
ALTER DATABASE ingest_vial SET synchronous_commit = on;
ALTER DATABASE ingest_flask SET synchronous_commit = on;
\c logs_query
CREATE EXTENSION pg_prewarm;
EOF
fi

migrate() {  # DATABASE_URL LOGFILE
  (cd "$OUT" && "$BIN" migrate --database-url="$1" --migrations-root="$REPO" --secret-key="$SECRET") \
    >"$2" 2>&1 || die "migrate $1 failed: $(tail -3 "$2")"
}

# ---------------------------------------------------------------- 10M-log data (in the background)
N_LOGS=$(/usr/bin/python3 -c "import sys; sys.path.insert(0, '$HERE/logs'); import logsbench; print(logsbench.N)")
SQLITE_Q="" SQLITE_Q_NOTE="" PG_Q_NOTE=""
fill_sqlite() {  # the cached file, built under an exclusive lock
  local key tmp idx names t0=$SECONDS n
  mkdir -p "$CACHE_DIR"
  key=$({ /usr/bin/python3 "$TOOL" sql sqlite; cat "$REPO"/apps/*/migrations/sqlite/*.sql; } | sha256sum | cut -c1-16)
  SQLITE_Q=$CACHE_DIR/logs10m-$key.db
  exec 9>"$CACHE_DIR/lock"
  flock -w 200 9 || { echo "FAILED: $CACHE_DIR is locked by another run"; return 1; }
  if [[ -f $SQLITE_Q && $REGEN != 1 ]]; then
    echo "reused $SQLITE_Q"
    return 0
  fi
  rm -f "$CACHE_DIR"/logs10m-*.db "$CACHE_DIR"/logs10m-*.db-wal "$CACHE_DIR"/logs10m-*.db-shm
  tmp=$CACHE_DIR/logs10m.tmp.db
  rm -f "$tmp" "$tmp-wal" "$tmp-shm"
  migrate "sqlite:///$tmp" "$OUT/fill-sqlite-migrate.log"
  # Secondary indexes are dropped for the load and rebuilt from their own
  # definitions (as the migrations made them), which is much faster.
  idx=$(sqlite3 "$tmp" "SELECT sql || ';' FROM sqlite_master WHERE type = 'index' AND tbl_name = 'logs' AND sql IS NOT NULL")
  names=$(sqlite3 "$tmp" "SELECT 'DROP INDEX ' || name || ';' FROM sqlite_master WHERE type = 'index' AND tbl_name = 'logs' AND sql IS NOT NULL")
  {
    echo "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000; PRAGMA temp_store = MEMORY;"
    echo "BEGIN;"
    echo "$names"
    /usr/bin/python3 "$TOOL" sql sqlite
    echo "$idx"
    echo "UPDATE vial_sequences SET next_id = $((N_LOGS + 1)) WHERE name = 'logs_id_seq';"
    echo "COMMIT;"
    echo "PRAGMA journal_mode = WAL;"
  } | "${PIN_CLI[@]}" sqlite3 -bail "$tmp" >"$OUT/fill-sqlite.log" 2>&1 || { echo "FAILED: $(tail -3 "$OUT/fill-sqlite.log")"; return 1; }
  n=$(sqlite3 "$tmp" "SELECT count(*) FROM logs")
  [[ $n == "$N_LOGS" ]] || { echo "FAILED: $n rows, not $N_LOGS"; return 1; }
  mv "$tmp" "$SQLITE_Q"
  echo "built $SQLITE_Q in $((SECONDS - t0)) s ($(du -m "$SQLITE_Q" | cut -f1) MiB)"
}
fill_pg() {  # the logs_query database of the throwaway cluster
  local url=$PG_BASE/logs_query t0=$SECONDS idx names n
  migrate "$url" "$OUT/fill-pg-migrate.log"
  idx=$(psql -X -tAq "$url" -c "SELECT indexdef || ';' FROM pg_indexes WHERE tablename = 'logs' AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'logs'::regclass)")
  names=$(psql -X -tAq "$url" -c "SELECT 'DROP INDEX ' || indexname || ';' FROM pg_indexes WHERE tablename = 'logs' AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'logs'::regclass)")
  {
    echo "SET maintenance_work_mem = '1GB';"
    echo "$names"
    /usr/bin/python3 "$TOOL" sql postgresql
    echo "$idx"
    echo "SELECT setval('logs_id_seq', $N_LOGS);"
    echo "VACUUM ANALYZE logs;"
    echo "CHECKPOINT;"
  } | psql -X -q -v ON_ERROR_STOP=1 "$url" >"$OUT/fill-pg.log" 2>&1 || { echo "FAILED: $(tail -3 "$OUT/fill-pg.log")"; return 1; }
  n=$(psql -X -tAq "$url" -c "SELECT count(*) FROM logs")
  [[ $n == "$N_LOGS" ]] || { echo "FAILED: $n rows, not $N_LOGS"; return 1; }
  echo "filled in $((SECONDS - t0)) s ($(psql -X -tAq "$url" -c "SELECT pg_size_pretty(pg_database_size('logs_query'))"))"
}
# Both fills run at once: SQLite on the client core, PostgreSQL on the
# cluster's core.  Nothing is measured until both are done.
if ((NEED_SQLITE_Q)); then
  log "10M logs into SQLite (cached in $CACHE_DIR; REGEN=1 rebuilds it)"
  fill_sqlite >"$OUT/fill-sqlite.status" 2>&1 &
  BG_PIDS+=" $!"
fi
if ((NEED_PG)) && has "$QUERY_BACKENDS" pg && has "$PHASES" query; then
  log "10M logs into PostgreSQL (generate_series, then the indexes)"
  fill_pg >"$OUT/fill-pg.status" 2>&1 &
  BG_PIDS+=" $!"
fi
for p in $BG_PIDS; do wait "$p"; done
BG_PIDS=""
if ((NEED_SQLITE_Q)); then
  SQLITE_Q_NOTE=$(tail -1 "$OUT/fill-sqlite.status")
  [[ $SQLITE_Q_NOTE == reused* || $SQLITE_Q_NOTE == built* ]] || die "SQLite fill: $SQLITE_Q_NOTE $(tail -2 "$OUT/fill-sqlite.status")"
  SQLITE_Q=${SQLITE_Q_NOTE#* }; SQLITE_Q=${SQLITE_Q%% *}
  # Keep other runs from rebuilding it while we read it: a shared lock.
  exec 9>"$CACHE_DIR/lock"
  flock -s -w 200 9 || die "could not lock $CACHE_DIR"
  log "SQLite: $SQLITE_Q_NOTE"
fi
if [[ -f $OUT/fill-pg.status ]]; then
  PG_Q_NOTE=$(tail -1 "$OUT/fill-pg.status")
  [[ $PG_Q_NOTE == filled* ]] || die "PostgreSQL fill: $PG_Q_NOTE $(tail -2 "$OUT/fill-pg.status")"
  log "PostgreSQL: $PG_Q_NOTE"
fi

# ---------------------------------------------------------------- servers
NEXT_PORT=$PORT_BASE

start_next() {  # NAME CMD... ("@PORT@" in an argument becomes the port): start_server on the next free port
  local name=$1 port a cmd=()
  shift
  port=$(free_port "$NEXT_PORT")
  NEXT_PORT=$((port + 1))
  for a in "$@"; do cmd+=("${a//@PORT@/$port}"); done
  start_server "$name" "$port" "${cmd[@]}"
}

start_vial() {  # NAME DATABASE_URL
  start_next "$1" env -u DATABASE_URL -u WORKERS -u PORT "$BIN" --workers "$WORKERS" --host 127.0.0.1 --port @PORT@ \
    --access-log=off --secret-key="$SECRET" --database-url="$2" --migrations-root="$REPO"
}
start_flask() {  # NAME FLASK_DB
  start_next "$1" env FLASK_DB="$2" /usr/bin/python3 /usr/bin/gunicorn --chdir "$FLASK_DIR" -b 127.0.0.1:@PORT@ \
    -k sync -w "$WORKERS" --log-level warning app:app
}

# ---------------------------------------------------------------- reading /proc
# Noise, in % of one core: busy ticks of both cores that neither the servers,
# the cluster nor this harness (and its children) account for, plus hidden
# steal: our CPU time that the cores' busy ticks do not show (the host took
# the vCPU).  Pinned: our server-side time against the server core; spread:
# everything against both cores.
foreign_pct() {  # CLIENT_BUSY SERVER_BUSY APP DB SELF ELAPSED -> "foreign stolen"
  local cb=$1 sb=$2 app=$3 db=$4 me=$5 el=$6 f stolen
  f=$(((cb + sb - app - db - me) * 100 / el))
  ((f < 0)) && f=0
  if [[ $PLACEMENT == pinned ]]; then
    stolen=$(((app + db - sb) * 100 / el))
  else
    stolen=$(((app + db + me - cb - sb) * 100 / el))
  fi
  ((stolen > 0)) && f=$((f + stolen))
  echo "$f $stolen"
}

fmt() { [[ $2 == - ]] && echo - || printf "%.${1}f" "$2"; }
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
first_bad() { sed -n 's/.* first_bad=//p' <<<" $1"; }
backend_of() { [[ $1 == *pg ]] && echo postgresql || echo sqlite; }

# ---------------------------------------------------------------- header
PGVER=""
[[ -n $PG_URL ]] && PGVER=$(psql -X -tAq "$PG_URL" -c 'SHOW server_version' 2>/dev/null | awk '{print $1}')
PLACE_DESC="every server and the PostgreSQL cluster pinned to CPU $SERVER_CPU (vial-server --workers 1, gunicorn -k sync -w 1); clients (logsbench.py ingest, wrk) on CPU $CLIENT_CPU"
[[ $PLACEMENT == spread ]] && PLACE_DESC="PLACEMENT=spread: nothing pinned, vial-server --workers 2, gunicorn -k sync -w 2, clients free to run on both cores"
{
  echo "# vial bench logs  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- src apps include 2>/dev/null || echo '+dirty')"
  echo "# $(uname -r), $(getconf _NPROCESSORS_ONLN) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), SQLite $(sqlite3 --version | awk '{print $1}'), PostgreSQL ${PGVER:--}," \
    "Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'), $(/usr/bin/python3 -c '
import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ("flask", "flask-sqlalchemy", "sqlalchemy", "gunicorn", "psycopg2")))' 2>/dev/null | sed 's/ (.*)//')"
  echo "# vial-server $BIN (--access-log=off); Flask + SQLAlchemy: $FLASK_DIR/app.py"
  # The revision above is the checkout's; a build dir may come from another source tree (e.g. a
  # `git archive` of one commit, away from other engineers' uncommitted edits): say which.
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)
  [[ -n $src && $src != "$REPO" ]] &&
    echo "# vial-server built from $src$(git -C "$src" rev-parse --short HEAD 2>/dev/null | sed 's/^/ at /'), not from $REPO"
  echo "# placement: $PLACE_DESC"
  [[ -n $NICE ]] && echo "# servers, cluster and clients at nice $NICE (NICE)"
} | tee -a "$REPORT"

# ================================================================ ingest
# Every try of every run starts a server on a fresh, empty database: both
# sides then insert into databases of the same size (the cost of an insert
# grows with the indexes), whatever their speed.
declare -A I_VERIFY=() I_ROWS=() I_APS=() I_RPS=() I_APP=() I_DB=() I_TOT=() I_SB=() I_ERR=() I_FMAX=() I_NOTE=() I_ACK=()
declare -A I_CHECK=() I_WALL=()
I_DBN=0
requests_of() { [[ $1 == flask-* ]] && echo "$FLASK_REQUESTS" || echo "$INGEST_REQUESTS"; }
run_client() {  # NAME FIRST_BODY REQUESTS OUTFILE RESPONSES -> the client's line in LINE
  local s=$1 pm=0
  [[ $s == *-pg ]] && pm=$(pg_postmaster)
  timeout 300 "${PIN_CLI[@]}" "${PRIO[@]}" /usr/bin/python3 "$TOOL" ingest "http://127.0.0.1:${SRV_PORT[$s]}" "$BODY_DIR" \
    --first "$2" --requests "$3" --max-seconds "$INGEST_MAX_SECONDS" --conns "$INGEST_CONNS" \
    --app-pids "$(tr ' ' ',' <<<"${SRV_TREE[$s]}")" --db-postmaster "${pm:-0}" --cpus "$CLIENT_CPU,$SERVER_CPU" \
    --out "$5" >"$4" 2>&1
  LINE=$(tail -1 "$4")
  [[ $LINE == requests=* ]] || die "$s: the ingest client failed: $(tail -3 "$4")"
}

count_rows() {  # NAME DB -> rows in that database
  case $1 in
    vial-sqlite) sqlite3 "$2" "SELECT count(*) FROM logs" ;;
    flask-sqlite) sqlite3 "$2" "SELECT count(*) FROM log" ;;
    vial-pg) psql -X -tAq "$PG_BASE/$2" -c "SELECT count(*) FROM logs" ;;
    flask-pg) psql -X -tAq "$PG_BASE/$2" -c "SELECT count(*) FROM log" ;;
  esac 2>&1
}

ingest_try() {  # NAME TAG: fresh database and server, warm-up, measured POSTs, checks -> LINE
  local s=$1 tag=$2 db acked v warm bad=""
  I_DBN=$((I_DBN + 1))
  case $s in
    *-sqlite) db=$OUT/ingest-$I_DBN.db ;;
    *-pg)
      db=ingest_$I_DBN
      psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" -c "CREATE DATABASE $db" \
        -c "ALTER DATABASE $db SET synchronous_commit = on" >>"$OUT/pg-setup.log" 2>&1 || die "CREATE DATABASE $db failed"
      ;;
  esac
  case $s in
    vial-sqlite) start_vial "$s" "sqlite:///$db" ;;
    flask-sqlite) start_flask "$s" "sqlite:///$db" ;;
    vial-pg) start_vial "$s" "$PG_BASE/$db" ;;
    flask-pg) start_flask "$s" "postgresql+psycopg2://${PG_BASE#postgresql://}/$db" ;;
    *) die "unknown ingest server $s" ;;
  esac || die "$s did not start (log: $OUT/$s.log)"
  # Warm-up bodies 0.., then the measured ones after them: time moves forward
  # and no action is stored twice.
  run_client "$s" 0 "$INGEST_WARMUP" "$OUT/ingest-$s.$tag.warmup.txt" "$OUT/ingest-$s.$tag.warmup.json"
  warm=$LINE
  acked=$(kv "$warm" stored)
  (($(kv "$warm" bad) > 0)) && bad="warm-up: $(kv "$warm" bad) bad responses, first: $(first_bad "$warm")"
  run_client "$s" "$INGEST_WARMUP" "$(requests_of "$s")" "$OUT/ingest-$s.$tag.txt" "$OUT/ingest-$s.$tag.json"
  acked=$((acked + $(kv "$LINE" stored)))
  if [[ $s == vial-* ]]; then
    # vial answers first_id..last_id: disjoint blocks; a sample read back must equal what was sent.
    /usr/bin/python3 -c 'import json, sys
json.dump(json.load(open(sys.argv[2])) + json.load(open(sys.argv[3])), open(sys.argv[1], "w"))' \
      "$OUT/ingest-$s.$tag.all.json" "$OUT/ingest-$s.$tag.warmup.json" "$OUT/ingest-$s.$tag.json"
    v=$(/usr/bin/python3 "$TOOL" verify "http://127.0.0.1:${SRV_PORT[$s]}" "$BODY_DIR" "$OUT/ingest-$s.$tag.all.json" 2>&1 | tail -1)
    [[ $v == ok ]] || bad="${bad:+$bad; }$tag: $v"
    [[ ${I_VERIFY[$s]:-ok} == ok ]] && I_VERIFY[$s]=$v
  fi
  kill -0 "${SRV_PID[$s]}" 2>/dev/null || die "$s died during ingest $tag (log: $OUT/$s.log)"
  stop_server "$s"
  v=$(count_rows "$s" "$db")
  [[ $v == "$acked" ]] || bad="${bad:+$bad; }$tag: $v rows stored, $acked acknowledged"
  I_ROWS[$s]=$((${I_ROWS[$s]:-0} + ${v//[^0-9]/}))
  I_ACK[$s]=$((${I_ACK[$s]:-0} + acked))
  [[ -n $bad ]] && I_CHECK[$s]="${I_CHECK[$s]:+${I_CHECK[$s]}; }$bad"
  case $s in
    *-sqlite) rm -f "$db" "$db-wal" "$db-shm" ;;
    *-pg) psql -X -q "$PG_URL" -c "DROP DATABASE $db WITH (FORCE)" >>"$OUT/pg-setup.log" 2>&1 ;;
  esac
}

ingest_run() {  # NAME RUN_NUMBER: several tries when noisy, the least noisy kept
  local s=$1 i=$2 try line f stolen el app db best=-1 b_f b_line
  for try in $(seq 0 "$FOREIGN_RETRIES"); do
    ingest_try "$s" "run$i.try$try"
    line=$LINE
    el=$(kv "$line" el_ticks); ((el > 0)) || el=1
    app=$(kv "$line" app_ticks) db=$(kv "$line" db_ticks)
    read -r f stolen < <(foreign_pct "$(kv "$line" client_busy)" "$(kv "$line" server_busy)" "$app" "$db" \
      "$(kv "$line" self_ticks)" "$el")
    echo "ingest $s run$i try$try foreign=${f}% (hidden steal ${stolen}%) app=$((app * 100 / el))% db=$((db * 100 / el))% $line" >>"$OUT/foreign.txt"
    ((f > FOREIGN_MAX)) && ps -eo pid=,pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/    top: /' >>"$OUT/foreign.txt"
    if ((best < 0 || f < b_f)); then best=$try b_f=$f b_line=$line; fi
    ((f <= FOREIGN_MAX || try >= FOREIGN_RETRIES || RETRY_BUDGET <= 0 || SECONDS - T0 > RETRY_UNTIL)) && break
    RETRY_BUDGET=$((RETRY_BUDGET - 1))
    log "ingest $s run $i: other load took ${f}% of a core, measuring again"
  done
  echo "ingest $s run$i kept try$best" >>"$OUT/foreign.txt"
  line=$b_line
  local n wall stored
  stored=$(kv "$line" stored) wall=$(kv "$line" wall_s) n=$(kv "$line" requests)
  I_APS[$s]+="$(awk -v a="$stored" -v w="$wall" 'BEGIN{printf "%.0f", (w > 0 ? a / w : 0)}') "
  I_RPS[$s]+="$(awk -v a="$n" -v w="$wall" 'BEGIN{printf "%.2f", (w > 0 ? a / w : 0)}') "
  I_WALL[$s]+="$wall "
  if ((stored > 0)); then
    I_APP[$s]+="$(awk -v t="$(kv "$line" app_ticks)" -v hz="$HZ" -v n="$stored" 'BEGIN{printf "%.3f", t / hz * 1e6 / n}') "
    I_DB[$s]+="$(awk -v t="$(kv "$line" db_ticks)" -v hz="$HZ" -v n="$stored" 'BEGIN{printf "%.3f", t / hz * 1e6 / n}') "
    I_TOT[$s]+="$(awk -v t="$(($(kv "$line" app_ticks) + $(kv "$line" db_ticks)))" -v hz="$HZ" -v n="$stored" 'BEGIN{printf "%.3f", t / hz * 1e6 / n}') "
  fi
  el=$(kv "$line" el_ticks); ((el > 0)) || el=1
  I_SB[$s]+="$(($(kv "$line" server_busy) * 100 / el)) "
  I_ERR[$s]=$((${I_ERR[$s]:-0} + $(kv "$line" bad)))
  (($(kv "$line" bad) > 0)) && I_NOTE[$s]="${I_NOTE[$s]:+${I_NOTE[$s]}; }run $i: $(kv "$line" bad) bad responses, first: $(first_bad "$line")"
  (($(kv "$line" requests) < $(requests_of "$s"))) && I_NOTE[$s]="${I_NOTE[$s]:+${I_NOTE[$s]}; }run $i: stopped after ${INGEST_MAX_SECONDS}s, $(kv "$line" requests) POSTs"
  ((b_f > ${I_FMAX[$s]:-0})) && I_FMAX[$s]=$b_f
}

if has "$PHASES" ingest; then
  need=$INGEST_WARMUP
  for s in $INGEST_SERVERS; do
    (($(requests_of "$s") + INGEST_WARMUP > need)) && need=$(($(requests_of "$s") + INGEST_WARMUP))
  done
  ((need <= BODIES)) || die "a run sends up to $need bodies, BODIES is $BODIES: raise BODIES"
  # Generated once per generator version and size (~0.1 s a body), under the cache's lock.
  key=$({ cat "$TOOL"; echo "$BODIES $ACTIONS"; } | sha256sum | cut -c1-16)
  BODY_DIR=$CACHE_DIR/bodies-$key
  mkdir -p "$CACHE_DIR"
  (
    flock -w 200 9 || die "$CACHE_DIR is locked by another run"
    if [[ ! -f $BODY_DIR/bodies.json ]]; then
      log "generating $BODIES bodies of $ACTIONS actions into $BODY_DIR"
      rm -rf "$CACHE_DIR"/bodies-*
      "${PIN_CLI[@]}" /usr/bin/python3 "$TOOL" bodies "$BODY_DIR.tmp" --count "$BODIES" --actions "$ACTIONS" \
        >"$OUT/bodies.txt" || die "bodies failed"
      mv "$BODY_DIR.tmp" "$BODY_DIR"
    fi
  ) 9>"$CACHE_DIR/lock.bodies" || exit 1
  BODY_DESC=$(/usr/bin/python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
print("%d distinct bodies of %d actions in %d log objects each (%.0f KB on average)" % (len(m),
  m[0]["actions"], m[0]["logs"], sum(x["bytes"] for x in m) / len(m) / 1000))' "$BODY_DIR/bodies.json")
  {
    echo "# ingest: POST /logs, $BODY_DESC, each body sent once per database:"
    echo "#   100 users of a population of 10,000 per body, one session of 100 actions each, event time moving forward"
    echo "#   10 s per body; CLICK/VIEW/NAVIGATE/SCROLL/SEARCH/PURCHASE/LOGIN with their properties, RFC 3339 times"
    echo "#   in 6 zones (per user) at ms, µs or s precision (per session)"
    echo "#   each run: a fresh server on a fresh empty database, $INGEST_WARMUP POSTs of warm-up, then $INGEST_REQUESTS POSTs (vial),"
    echo "#   $FLASK_REQUESTS (Flask) measured"
    echo "#   (at most ${INGEST_MAX_SECONDS}s) over $INGEST_CONNS keep-alive connections; median of $RUNS runs, interleaved"
    ((NEED_PG)) && echo "#   PostgreSQL: ingest databases with synchronous_commit=on (pg.sh's cluster runs with fsync=off), autovacuum off"
  } | tee -a "$REPORT"
  for i in $(seq "$RUNS"); do
    for s in $INGEST_SERVERS; do
      log "ingest $s: run $i/$RUNS"
      ingest_run "$s" "$i"
    done
  done

  FMT='%-6s %-10s %10s %8s %13s %12s %16s %9s %6s %8s  %s\n'
  {
    echo
    echo "## Ingest: POST /logs of $ACTIONS actions (medians of $RUNS runs)"
    printf "$FMT" server backend actions/s POSTs/s app_us/action db_us/action app+db_us/action srv_core% errors foreign% note
    for s in $INGEST_SERVERS; do
      note=${I_NOTE[$s]:-}
      ((${I_FMAX[$s]:-0} > FOREIGN_MAX)) && note="${note:+$note; }NOISY: other load took ${I_FMAX[$s]}% of a core"
      [[ -n ${I_CHECK[$s]:-} ]] && note="${note:+$note; }CHECK FAILED: ${I_CHECK[$s]}"
      db=- tot=$(fmt 2 "$(med "${I_APP[$s]:-}")")
      if [[ $s == *-pg ]]; then db=$(fmt 2 "$(med "${I_DB[$s]:-}")") tot=$(fmt 2 "$(med "${I_TOT[$s]:-}")"); fi
      printf "$FMT" "${s%%-*}" "$(backend_of "$s")" "$(med "${I_APS[$s]:-}")" "$(med "${I_RPS[$s]:-}")" \
        "$(fmt 2 "$(med "${I_APP[$s]:-}")")" "$db" "$tot" "$(med "${I_SB[$s]:-}")" "${I_ERR[$s]:-0}" \
        "${I_FMAX[$s]:-0}" "$note"
    done
    echo "# actions/s: actions stored (201 responses) / wall time from the first byte sent to the last response"
    echo "# app_us/action: utime+stime of the app server's processes (gunicorn: master + workers) / actions stored;"
    echo "#   db_us/action: the same for every process of the PostgreSQL cluster (same core); SQLite runs in the app"
    echo "# foreign%: most CPU, in % of a core, used by anything but the servers, the cluster and this harness with"
    echo "#   its children, plus hidden steal, in a kept run; over $FOREIGN_MAX% the run is retried, then flagged NOISY"
    echo "# per-run actions/s | app+db_us/action:"
    for s in $INGEST_SERVERS; do
      printf '#   %-13s %s| %s\n' "$s" "${I_APS[$s]:-}" "${I_TOT[$s]:-${I_APP[$s]:-}}"
    done
    echo "# checks (every try, warm-up included): each response 201 with stored = the body's actions; the rows in the"
    echo "#   database afterwards = the actions acknowledged; vial: id blocks disjoint, a sample read back equals what was sent"
    for s in $INGEST_SERVERS; do
      extra=""
      [[ $s == vial-* ]] && extra="; id blocks and sampled logs: ${I_VERIFY[$s]:-not run}"
      printf '#   %-13s %s rows counted, %s acknowledged%s\n' "$s" "${I_ROWS[$s]:-0}" "${I_ACK[$s]:-0}" "$extra"
    done
  } | tee -a "$REPORT"
fi

# ================================================================ query
declare -A Q_RPS=() Q_P50=() Q_P99=() Q_APP=() Q_DB=() Q_TOT=() Q_SB=() Q_CB=() Q_ERR=() Q_FMAX=() Q_NOTE=()
declare -A Q_CHECK=()
wrk_run() {  # CONNS DURATION URL PATHS OUTFILE
  timeout 60 "${PIN_CLI[@]}" "${PRIO[@]}" wrk -t1 -c"$1" -d"$2" --latency -s "$LUA" "$3" -- "$4" "$RANDOM" >"$5" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID"
  WRK_PID=""
}
parse_pct() {  # FILE PERCENT -> ms
  awk -v p="$2%" '$1 == p { v = $2; u = v; sub(/[0-9.]+/, "", u); n = v + 0
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }' "$1"
}

query_run() {  # BACKEND MODE CONNS RUN
  local b=$1 m=$2 c=$3 i=$4 k="$1 $2 $3" srv=q-$1 url out try f stolen n el app db
  local c0 sb0 c1 sb1 p0 p1 m0 m1 w0 w1 best=-1 b_f b_app b_db b_sb b_cb b_el
  url="http://127.0.0.1:${SRV_PORT[$srv]}"
  out="$OUT/query-$b-$m-c$c.run$i"
  for try in $(seq 0 "$FOREIGN_RETRIES"); do
    # shellcheck disable=SC2046
    proc_ticks_each $(pg_pids) >"$OUT/pg.before"
    m0=$(self_ticks)
    read -r c0 sb0 < <(cpu_busy)
    # shellcheck disable=SC2086
    p0=$(proc_ticks ${SRV_TREE[$srv]})
    w0=$(now_us)
    wrk_run "$c" "$DURATION" "$url" "$OUT/paths-$m.txt" "$out.try$try.txt"
    w1=$(now_us)
    # shellcheck disable=SC2086
    p1=$(proc_ticks ${SRV_TREE[$srv]})
    read -r c1 sb1 < <(cpu_busy)
    m1=$(self_ticks)
    # shellcheck disable=SC2046
    proc_ticks_each $(pg_pids) >"$OUT/pg.after"
    app=$((p1 - p0))
    db=0
    [[ $b == pg ]] && db=$(ticks_delta "$OUT/pg.before" "$OUT/pg.after")
    el=$(((w1 - w0) * HZ / 1000000))
    ((el > 0)) || el=1
    read -r f stolen < <(foreign_pct $((c1 - c0)) $((sb1 - sb0)) "$app" "$db" $((m1 - m0)) "$el")
    echo "query $k run$i try$try foreign=${f}% (hidden steal ${stolen}%) app=$((app * 100 / el))% db=$((db * 100 / el))%" \
      "client_core=$(((c1 - c0) * 100 / el))% server_core=$(((sb1 - sb0) * 100 / el))%" >>"$OUT/foreign.txt"
    ((f > FOREIGN_MAX)) && ps -eo pid=,pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/    top: /' >>"$OUT/foreign.txt"
    if ((best < 0 || f < b_f)); then
      best=$try b_f=$f b_app=$app b_db=$db b_sb=$((sb1 - sb0)) b_cb=$((c1 - c0)) b_el=$el
    fi
    ((f <= FOREIGN_MAX || try >= FOREIGN_RETRIES || RETRY_BUDGET <= 0 || SECONDS - T0 > RETRY_UNTIL)) && break
    RETRY_BUDGET=$((RETRY_BUDGET - 1))
    log "query $k run $i: other load took ${f}% of a core, measuring again"
  done
  out="$out.try$best.txt"
  echo "query $k run$i kept try$best" >>"$OUT/foreign.txt"
  n=$(parse_reqs "$out")
  Q_RPS[$k]+="$(parse_rps "$out") "
  Q_P50[$k]+="$(parse_pct "$out" 50) "
  Q_P99[$k]+="$(parse_pct "$out" 99) "
  if ((n > 0)); then
    Q_APP[$k]+="$(awk -v t="$b_app" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
    Q_DB[$k]+="$(awk -v t="$b_db" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
    Q_TOT[$k]+="$(awk -v t="$((b_app + b_db))" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
  fi
  Q_SB[$k]+="$((b_sb * 100 / b_el)) "
  Q_CB[$k]+="$((b_cb * 100 / b_el)) "
  Q_ERR[$k]=$((${Q_ERR[$k]:-0} + $(parse_errors "$out")))
  ((b_f > ${Q_FMAX[$k]:-0})) && Q_FMAX[$k]=$b_f
  ((n > 0)) || Q_NOTE[$k]="run $i: no requests"
  kill -0 "${SRV_PID[$srv]}" 2>/dev/null || die "$srv died during query run $i (log: $OUT/$srv.log)"
}

if has "$PHASES" query; then
  for m in $QUERY_MODES; do
    /usr/bin/python3 "$TOOL" paths "$OUT/paths-$m.txt" --mode "$m" --count 20000 || die "paths failed"
  done
  {
    echo
    echo "# query: GET /user/<u>/log_type/<t>/time_range/<start>/<end> over $N_LOGS logs (10,000 users x 1,000 logs over 30 days;"
    echo "#   per user 400 CLICK, 300 VIEW, 200 NAVIGATE, 100 others), 20,000 paths per mode (random user, CLICK/VIEW/NAVIGATE,"
    echo "#   bounds in mixed zones and precisions), each request one path at random:"
    echo "#   mode range: the range holds exactly 100 logs of that user and type (whole result, streamed, chunked)"
    echo "#   mode limit: it holds 150-200 and the path asks ?limit=100 (the first page of 100, with a Link to the next)"
    echo "#   ${PIN_CLI[*]:+${PIN_CLI[*]} }wrk -t1 -cC -d$DURATION --latency -s bench/logs/query.lua; warm-up $WARMUP; median of $RUNS runs, interleaved"
    [[ -n $SQLITE_Q_NOTE ]] && echo "#   SQLite: $SQLITE_Q_NOTE"
    [[ -n $PG_Q_NOTE ]] && echo "#   PostgreSQL: $PG_Q_NOTE, VACUUM ANALYZE; shared_buffers $PG_SHARED_BUFFERS, table and indexes loaded (pg_prewarm)"
    ((NEED_SQLITE_Q)) && echo "#   SQLite: the file read once (page cache) before the server starts; vial-server maps it (its SQLite mmap_size)"
  } | tee -a "$REPORT"
  if ((NEED_SQLITE_Q)); then
    # Read the file once so that a file cached from an earlier run is in the
    # page cache: the queries, not the disk, are measured.
    cat "$SQLITE_Q" >/dev/null
    start_vial q-sqlite "sqlite:///$SQLITE_Q" || die "q-sqlite did not start (log: $OUT/q-sqlite.log)"
  fi
  if has "$QUERY_BACKENDS" pg; then
    # Likewise, the table and its indexes into shared buffers.
    psql -X -q -v ON_ERROR_STOP=1 "$PG_BASE/logs_query" -c "SELECT pg_prewarm(c.oid) FROM pg_class c
      WHERE c.oid = 'logs'::regclass OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'logs'::regclass)" \
      >>"$OUT/pg-setup.log" 2>&1 || log "warning: pg_prewarm failed"
    start_vial q-pg "$PG_BASE/logs_query" || die "q-pg did not start (log: $OUT/q-pg.log)"
  fi
  for b in $QUERY_BACKENDS; do
    case $b in
      sqlite) plan=$(sqlite3 "$SQLITE_Q" "EXPLAIN QUERY PLAN SELECT * FROM logs WHERE user_id = 'U00000001' AND log_type = 'CLICK' AND time_us BETWEEN 1 AND 2 AND (time_us, id) > (0, 0) ORDER BY time_us, id LIMIT 1000" | sed -n 's/^.*--//p' | tr '\n' ' ') ;;
      pg) plan=$(psql -X -tAq "$PG_BASE/logs_query" -c "EXPLAIN SELECT * FROM logs WHERE user_id = 'U00000001' AND log_type = 'CLICK' AND time_us BETWEEN 1768000000000000 AND 1768600000000000 AND (time_us, id) > (0, 0) ORDER BY time_us, id LIMIT 1000" | grep -E 'Scan|Sort' | sed 's/ *(cost.*//; s/^ *//; s/->  //' | tr '\n' ';') ;;
    esac
    for m in $QUERY_MODES; do
      Q_CHECK[$b $m]=$(/usr/bin/python3 "$TOOL" check-query "http://127.0.0.1:${SRV_PORT[q-$b]}" "$OUT/paths-$m.txt" --samples 50 2>&1 | tail -1)
      echo "# check $(backend_of "$b") $m: ${Q_CHECK[$b $m]} (50 paths: 200, 100 logs each, of the user and type, in the range, in order, equal to the generated rows)" | tee -a "$REPORT"
    done
    echo "# plan $(backend_of "$b") (EXPLAIN with literal values): $plan" | tee -a "$REPORT"
  done
  for b in $QUERY_BACKENDS; do
    for m in $QUERY_MODES; do
      log "query $b $m: warm-up $WARMUP"
      wrk_run 1 "$WARMUP" "http://127.0.0.1:${SRV_PORT[q-$b]}" "$OUT/paths-$m.txt" "$OUT/query-$b-$m.warmup.txt"
    done
  done
  for i in $(seq "$RUNS"); do
    for b in $QUERY_BACKENDS; do
      for m in $QUERY_MODES; do
        for c in $QUERY_CONNS; do
          log "query $b $m c$c: run $i/$RUNS ($DURATION)"
          query_run "$b" "$m" "$c" "$i"
        done
      done
    done
  done
  for b in $QUERY_BACKENDS; do stop_server "q-$b"; done

  FMT='%-10s %-5s %5s %8s %8s %8s %9s %8s %11s %9s %9s %6s %8s  %s\n'
  {
    echo
    echo "## Query: user + type + time range, 100 logs per response, $N_LOGS logs stored (medians of $RUNS runs)"
    printf "$FMT" backend mode conns req/s p50_ms p99_ms app_us/q db_us/q app+db_us/q srv_core% wrk_core% errors foreign% note
    for b in $QUERY_BACKENDS; do
      for m in $QUERY_MODES; do
        for c in $QUERY_CONNS; do
          k="$b $m $c"
          note=${Q_NOTE[$k]:-}
          ((${Q_FMAX[$k]:-0} > FOREIGN_MAX)) && note="${note:+$note; }NOISY: other load took ${Q_FMAX[$k]}% of a core"
          ((${Q_ERR[$k]:-0} > 0)) && note="${note:+$note; }ERRORS"
          [[ ${Q_CHECK[$b $m]} == ok ]] || note="${note:+$note; }CHECK FAILED: ${Q_CHECK[$b $m]}"
          db=-
          [[ $b == pg ]] && db=$(fmt 2 "$(med "${Q_DB[$k]:-}")")
          printf "$FMT" "$(backend_of "$b")" "$m" "$c" "$(med "${Q_RPS[$k]:-}")" "$(fmt 3 "$(med "${Q_P50[$k]:-}")")" \
            "$(fmt 3 "$(med "${Q_P99[$k]:-}")")" "$(fmt 2 "$(med "${Q_APP[$k]:-}")")" "$db" \
            "$(fmt 2 "$(med "${Q_TOT[$k]:-}")")" "$(med "${Q_SB[$k]:-}")" "$(med "${Q_CB[$k]:-}")" "${Q_ERR[$k]:-0}" \
            "${Q_FMAX[$k]:-0}" "$note"
        done
      done
    done
    echo "# p50/p99: wrk's latency percentiles (request sent to response read, over loopback); app_us/q, db_us/q: CPU of"
    echo "#   vial-server and of the PostgreSQL cluster per query; srv_core%/wrk_core%: how busy each core was"
    echo "# per-run req/s | p99_ms:"
    for b in $QUERY_BACKENDS; do
      for m in $QUERY_MODES; do
        for c in $QUERY_CONNS; do
          k="$b $m $c"
          printf '#   %-19s %s| %s\n' "$(backend_of "$b") $m c$c" "${Q_RPS[$k]:-}" "${Q_P99[$k]:-}"
        done
      done
    done
  } | tee -a "$REPORT"
fi

# ================================================================ budgets
noisy_i() { local k; for k in "$@"; do ((${I_FMAX[$k]:-0} > FOREIGN_MAX)) && { echo " (noisy run: re-run to confirm)"; return; }; done; }
noisy_q() { ((${Q_FMAX[$1]:-0} > FOREIGN_MAX)) && echo " (noisy run: re-run to confirm)"; }
{
  echo
  echo "## Ratios and budgets (issue 4; PASS/OVER as measured in this run, never an exit status)"
  if has "$PHASES" ingest; then
    for b in sqlite pg; do
      v=vial-$b f=flask-$b
      has "$INGEST_SERVERS" "$v" || continue
      va=$(med "${I_APS[$v]:-}")
      if [[ $b == sqlite ]]; then
        verdict=OVER; ge "$va" "$BUDGET_INGEST" && verdict=PASS
        printf '%-4s sqlite     ingest >= %d actions/s: vial %s actions/s (x%s of the budget)%s%s\n' "$verdict" "$BUDGET_INGEST" \
          "$va" "$(ratio "$va" "$BUDGET_INGEST")" "$(close_call "$va" "$BUDGET_INGEST")" "$(noisy_i "$v")"
        # On 2 cores the client and the server share the machine: the server's CPU per action says what one
        # core of server can take, whatever the client costs.
        vt=$(med "${I_TOT[$v]:-}")
        verdict=OVER; le "$vt" "$(awk -v b="$BUDGET_INGEST" 'BEGIN{print 1e6 / b}')" && verdict=PASS
        printf '%-4s sqlite     ingest server CPU per action <= %s us (%d actions per server core-second): vial %s us (%s per core-second)\n' \
          "$verdict" "$(awk -v b="$BUDGET_INGEST" 'BEGIN{printf "%.2f", 1e6 / b}')" "$BUDGET_INGEST" "$(fmt 2 "$vt")" \
          "$(awk -v t="$vt" 'BEGIN{ if (t + 0 > 0) printf "%.0f", 1e6 / t; else print "-" }')"
      fi
      has "$INGEST_SERVERS" "$f" || continue
      fa=$(med "${I_APS[$f]:-}")
      vt=$(med "${I_TOT[$v]:-}") ft=$(med "${I_TOT[$f]:-}")
      r=$(ratio "$va" "$fa") rc=$(ratio "$ft" "$vt")
      if [[ $b == sqlite ]]; then
        verdict=OVER; ge "$r" "$BUDGET_X" && verdict=PASS
        printf '%-4s sqlite     ingest >= %dx Flask + SQLAlchemy: vial %s, Flask %s actions/s (x%s); CPU per action: Flask/vial x%s%s%s\n' \
          "$verdict" "$BUDGET_X" "$va" "$fa" "$r" "$rc" "$(close_call "$r" "$BUDGET_X")" "$(noisy_i "$v" "$f")"
      else
        printf 'info postgresql ingest vs Flask + SQLAlchemy: vial %s, Flask %s actions/s (x%s); CPU per action (app+db): Flask/vial x%s%s\n' \
          "$va" "$fa" "$r" "$rc" "$(noisy_i "$v" "$f")"
      fi
    done
  fi
  if has "$PHASES" query; then
    for b in $QUERY_BACKENDS; do
      for m in $QUERY_MODES; do
        for c in $QUERY_CONNS; do
          k="$b $m $c"
          p=$(med "${Q_P99[$k]:-}")
          if ((c == 1)); then
            verdict=OVER; le "$p" "$BUDGET_P99_MS" && verdict=PASS
          else
            verdict=info  # with several connections on one worker p99 includes queueing
          fi
          printf '%-4s %-10s query p99 <= %d ms (%s, %d connection%s): p99 %s ms, p50 %s ms%s%s\n' "$verdict" "$(backend_of "$b")" \
            "$BUDGET_P99_MS" "$m" "$c" "$([[ $c == 1 ]] || echo s)" "$(fmt 3 "$p")" "$(fmt 3 "$(med "${Q_P50[$k]:-}")")" \
            "$(close_call "$p" "$BUDGET_P99_MS")" "$(noisy_q "$k")"
        done
      done
    done
    echo "# query budget: judged with 1 connection (no queueing: the server's own latency); with more connections on"
    echo "#   $WORKERS worker(s), p99 also holds the wait behind other requests and is shown for reference (info)"
  fi
  echo "# raw output and logs: $OUT; total $((SECONDS - T0)) s"
} | tee -a "$REPORT"
exit 0
