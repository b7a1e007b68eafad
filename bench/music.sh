#!/usr/bin/env bash
# bench/music.sh: the music catalogue benchmark of issue 12, side by side in one run.
#
#   VIAL_BUILD_DIR=build bench/music.sh          # ROWS=1204025 by default
#   PG_URL=postgresql://postgres@127.0.0.1:5432/postgres bench/music.sh   # also PostgreSQL
#
# 1. Import of one generated tracks_features.csv (scripts/gen-songs.py ROWS --seed 1, cached
#    in $CACHE_DIR), each into a fresh database, wall time from start to exit:
#      vial sqlite   vial-server import-songs FILE (parses the list literals, normalises
#                    artists and albums, builds the search index and the aggregates)
#      sqlite3       sqlite3's own `.import` into one flat table: the floor (no list parsing,
#                    no normalisation, no index)
#      pandas        pandas read_csv + DataFrame.to_sql through SQLAlchemy into SQLite, in
#                    chunks of 100,000 rows (Debian python3-pandas, python3-sqlalchemy: the
#                    original team's stack; one flat table too)
#      vial pg       vial-server import-songs into a fresh PostgreSQL database (with PG_URL)
#    Budgets: vial >= 10x faster than pandas; vial within 2x of the sqlite3 floor.
# 2. Queries on the database vial imported: vial-server (--workers 1) against an equivalent
#    Flask + SQLAlchemy app (bench/peers/flask_music.py under gunicorn -k sync -w 1:
#    ORDER BY random(), GROUP BY) on the same SQLite file; `wrk -t1 -c1 --latency` for
#    $DURATION s each (paths picked at random by bench/logs/query.lua):
#      by_id       GET /api/songs/<id>            (1,000 random ids)
#      search      GET /api/songs?q=W&limit=50    (W among 20 common words)
#      random      GET /api/songs/random?n=100
#      random_year GET /api/songs/random?n=100&year_min=1990&year_max=1999
#      years       GET /api/stats/years
#      histogram   GET /api/stats/histogram?feature=tempo&bins=20&year_min=1990&year_max=1999
#    With PG_URL, vial on PostgreSQL too (no Flask there).  Budgets: random p99 <= 2 ms,
#    years p99 <= 5 ms, every query >= 20x the Flask app's requests/s.
#
# stdout: the report with ratios and PASS/OVER; stderr: progress; raw output in $OUT (kept).
# Every process started here is stopped by PID on exit; the PostgreSQL database is dropped.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD_DIR=$(cd "${VIAL_BUILD_DIR:-$REPO/build}" && pwd) || { echo "no build dir" >&2; exit 1; }
BIN=$BUILD_DIR/vial-server
ROWS=${ROWS:-1204025}
CACHE_DIR=${CACHE_DIR:-$BUILD_DIR/bench-music}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench-music.XXXXXX")}
DURATION=${DURATION:-5}
FLASK_DURATION=${FLASK_DURATION:-$DURATION}
PHASES=${PHASES:-"import query"}
IMPORTERS=${IMPORTERS:-"vial-sqlite sqlite3 pandas vial-pg"}
PG_URL=${PG_URL:-${VIAL_TEST_PG_URL:-}}
PORT_BASE=${PORT_BASE:-18390}
SECRET=$(head -c 36 /dev/urandom | base64 -w0)
PY=/usr/bin/python3

log() { printf '[bench-music] %s\n' "$*" >&2; }
[[ -x $BIN ]] || { log "$BIN not found: build first"; exit 1; }
for t in sqlite3 wrk gunicorn; do command -v $t >/dev/null || { log "$t is needed (apt-get install sqlite3 wrk gunicorn)"; exit 1; }; done
$PY -c 'import pandas, sqlalchemy, flask' 2>/dev/null ||
  { log "python3-pandas, python3-sqlalchemy and python3-flask are needed (apt-get install ...)"; exit 1; }
mkdir -p "$CACHE_DIR" "$OUT"

PIDS=()
PGDB=
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  if [[ -n $PGDB ]]; then
    psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $PGDB" >/dev/null 2>&1
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v ok="$1" 'BEGIN { print (ok == "1" ? "PASS" : "OVER") }'; }

free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

wait_port() {  # PORT PID
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ------------------------------------------------------------------ the file

FILE=$CACHE_DIR/tracks_features-$ROWS.csv
if [[ ! -s $FILE ]]; then
  log "generating $ROWS rows into $FILE"
  $PY "$REPO/scripts/gen-songs.py" "$ROWS" --seed 1 -o "$FILE.tmp" && mv "$FILE.tmp" "$FILE" || { log "generation failed"; exit 1; }
fi
MB=$(( $(stat -L -c %s "$FILE") / 1048576 ))

import_vial() {  # DATABASE_URL LOG
  (cd "$OUT" && env -i PATH="$PATH" HOME="$OUT" SECRET_KEY="$SECRET" "$BIN" import-songs --progress 10 "$FILE" \
     --database-url "$1" --migrations-root "$REPO" --log-level warn >"$2" 2>&1)
}

declare -A T
if [[ " $PHASES " == *" import "* ]]; then
  for imp in $IMPORTERS; do
    case $imp in
      vial-sqlite)
        rm -f "$OUT/vial.db"*
        log "import: vial-server into SQLite"
        t0=$(now); import_vial "sqlite:///$OUT/vial.db" "$OUT/import-vial-sqlite.log" || { log "failed: $(tail -3 "$OUT/import-vial-sqlite.log")"; continue; }
        T[$imp]=$(secs "$t0" "$(now)")
        ;;
      sqlite3)
        rm -f "$OUT/flat.db"*
        log "import: sqlite3 .import (one flat table)"
        t0=$(now); sqlite3 "$OUT/flat.db" -cmd ".mode csv" ".import '$FILE' tracks" >"$OUT/import-sqlite3.log" 2>&1 || { log "sqlite3 failed"; continue; }
        T[$imp]=$(secs "$t0" "$(now)")
        ;;
      pandas)
        rm -f "$OUT/pandas.db"*
        log "import: pandas read_csv + to_sql (SQLAlchemy)"
        t0=$(now)
        $PY - "$FILE" "sqlite:///$OUT/pandas.db" >"$OUT/import-pandas.log" 2>&1 <<'PY' || { log "pandas failed: $(tail -3 "$OUT/import-pandas.log")"; continue; }
import sys
import pandas as pd
from sqlalchemy import create_engine
engine = create_engine(sys.argv[2])
n = 0
with engine.begin() as conn:
    for chunk in pd.read_csv(sys.argv[1], chunksize=100_000):
        chunk.to_sql("tracks", conn, if_exists="append", index=False)
        n += len(chunk)
print(n, "rows")
PY
        T[$imp]=$(secs "$t0" "$(now)")
        ;;
      vial-pg)
        [[ -n $PG_URL ]] || { log "import: no PG_URL, PostgreSQL skipped"; continue; }
        PGDB=music_bench_$$
        psql "$PG_URL" -qAtc "CREATE DATABASE $PGDB" >/dev/null || { log "cannot create a database on PG_URL"; PGDB=; continue; }
        PGURL_DB=${PG_URL%/*}/$PGDB
        log "import: vial-server into PostgreSQL"
        t0=$(now); import_vial "$PGURL_DB" "$OUT/import-vial-pg.log" || { log "failed: $(tail -3 "$OUT/import-vial-pg.log")"; continue; }
        T[$imp]=$(secs "$t0" "$(now)")
        ;;
    esac
    log "  $imp: ${T[$imp]} s"
  done
fi

# ------------------------------------------------------------------ queries

declare -A P50 P99 RPS CPU
HZ=$(getconf CLK_TCK)
# CPU time (clock ticks) of a server and its children: the cost of a request
# whatever else runs on the machine (latencies on a shared machine are not).
tree_ticks() {
  local p t=0 v
  for p in "$1" $(pgrep -P "$1"); do
    v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) && t=$((t + v))
  done
  echo "$t"
}
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }'; }
run_wrk() {  # KEY URL PATHS SECONDS SERVER-PID
  local f="$OUT/wrk-$1.txt" t0
  t0=$(tree_ticks "$5")
  wrk -t1 -c1 -d"$4"s --timeout 60s --latency -s "$HERE/logs/query.lua" "$2" -- "$3" 7 >"$f" 2>&1
  P50[$1]=$(awk '$1 == "50%" { print $2 }' "$f" | to_ms)
  P99[$1]=$(awk '$1 == "99%" { print $2 }' "$f" | to_ms)
  RPS[$1]=$(awk '/^Requests\/sec/ { printf "%.1f", $2 }' "$f")
  CPU[$1]=$(awk -v t="$(( $(tree_ticks "$5") - t0 ))" -v hz="$HZ" -v n="$(awk '/ requests in /{ print $1 }' "$f")" \
    'BEGIN { if (n > 0) printf "%.3f", t * 1000 / hz / n; else print "-" }')
  local bad
  bad=$(awk '/Non-2xx/ { print $NF }' "$f")
  [[ -n $bad ]] && log "  $1: $bad non-2xx responses (see $f)"
}

QUERIES="by_id search random random_year years histogram"
make_paths() {  # DB-for-ids
  sqlite3 "$1" "SELECT '/api/songs/' || spotify_id FROM songs ORDER BY random() LIMIT 1000" >"$OUT/paths-by_id.txt"
  : >"$OUT/paths-search.txt"
  for w in love night dream heart fire blue rain summer city lights dance baby gold river home road star moon time world; do
    echo "/api/songs?q=$w&limit=50" >>"$OUT/paths-search.txt"
  done
  echo "/api/songs/random?n=100" >"$OUT/paths-random.txt"
  echo "/api/songs/random?n=100&year_min=1990&year_max=1999" >"$OUT/paths-random_year.txt"
  echo "/api/stats/years" >"$OUT/paths-years.txt"
  echo "/api/stats/histogram?feature=tempo&bins=20&year_min=1990&year_max=1999" >"$OUT/paths-histogram.txt"
}

start_vial() {  # DATABASE_URL PORT LOG -> VPID
  (cd "$OUT" && exec env -i PATH="$PATH" HOME="$OUT" SECRET_KEY="$SECRET" "$BIN" run --host 127.0.0.1 --port "$2" \
     --workers 1 --database-url "$1" --migrations-root "$REPO" --log-level warn --access-log=off >"$3" 2>&1) &
  VPID=$!
  PIDS+=("$VPID")
  wait_port "$2" "$VPID"
}

if [[ " $PHASES " == *" query "* && -s $OUT/vial.db ]]; then
  make_paths "$OUT/vial.db"
  port=$(free_port "$PORT_BASE")
  log "query: vial-server on SQLite (port $port)"
  if start_vial "sqlite:///$OUT/vial.db" "$port" "$OUT/vial-sqlite.log"; then
    for q in $QUERIES; do
      run_wrk "vial-sqlite-$q" "http://127.0.0.1:$port" "$OUT/paths-$q.txt" "$DURATION" "$VPID"
      log "  $q: p50 ${P50[vial-sqlite-$q]} ms, p99 ${P99[vial-sqlite-$q]} ms, ${RPS[vial-sqlite-$q]} req/s, ${CPU[vial-sqlite-$q]} ms CPU/req"
    done
    kill -TERM "$VPID"; wait "$VPID" 2>/dev/null
  else
    log "vial-server did not start: $(tail -3 "$OUT/vial-sqlite.log")"
  fi
  fport=$(free_port $((port + 1)))
  log "query: Flask + SQLAlchemy (gunicorn -w 1) on the same file (port $fport)"
  (cd "$HERE/peers" && exec env DATABASE_URL="sqlite:///$OUT/vial.db" gunicorn -k sync -w 1 --timeout 120 \
     -b "127.0.0.1:$fport" flask_music:app >"$OUT/flask.log" 2>&1) &
  FPID=$!
  PIDS+=("$FPID")
  if wait_port "$fport" "$FPID"; then
    for q in $QUERIES; do
      run_wrk "flask-$q" "http://127.0.0.1:$fport" "$OUT/paths-$q.txt" "$FLASK_DURATION" "$FPID"
      log "  $q: p50 ${P50[flask-$q]} ms, p99 ${P99[flask-$q]} ms, ${RPS[flask-$q]} req/s, ${CPU[flask-$q]} ms CPU/req"
    done
    kill -TERM "$FPID"; wait "$FPID" 2>/dev/null
  else
    log "gunicorn did not start: $(tail -3 "$OUT/flask.log")"
  fi
  if [[ -n $PGDB && -n ${T[vial-pg]:-} ]]; then
    port=$(free_port $((fport + 1)))
    log "query: vial-server on PostgreSQL (port $port)"
    if start_vial "$PGURL_DB" "$port" "$OUT/vial-pg.log"; then
      for q in $QUERIES; do
        run_wrk "vial-pg-$q" "http://127.0.0.1:$port" "$OUT/paths-$q.txt" "$DURATION" "$VPID"
        log "  $q: p50 ${P50[vial-pg-$q]} ms, p99 ${P99[vial-pg-$q]} ms, ${RPS[vial-pg-$q]} req/s (server CPU only, not PostgreSQL's)"
      done
      kill -TERM "$VPID"; wait "$VPID" 2>/dev/null
    fi
  fi
fi

# ------------------------------------------------------------------ report

echo "bench/music.sh: $ROWS rows ($MB MiB), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
if [[ " $PHASES " == *" import "* ]]; then
  echo
  printf '%-14s %10s %12s\n' import seconds rows/s
  for imp in $IMPORTERS; do
    [[ -n ${T[$imp]:-} ]] || continue
    printf '%-14s %10s %12s\n' "$imp" "${T[$imp]}" "$(awk -v n="$ROWS" -v t="${T[$imp]}" 'BEGIN { printf "%.0f", n / t }')"
  done
  v=${T[vial-sqlite]:-}
  if [[ -n $v && -n ${T[pandas]:-} ]]; then
    r=$(ratio "${T[pandas]}" "$v")
    echo "vial vs pandas + to_sql: ${r}x faster (budget >= 10x): $(verdict "$(awk -v r="$r" 'BEGIN { print (r >= 10) }')")"
  fi
  if [[ -n $v && -n ${T[sqlite3]:-} ]]; then
    r=$(ratio "$v" "${T[sqlite3]}")
    echo "vial vs sqlite3 .import floor: ${r}x its time (budget <= 2x): $(verdict "$(awk -v r="$r" 'BEGIN { print (r <= 2) }')")"
  fi
fi
if [[ " $PHASES " == *" query "* ]]; then
  echo
  echo "(p50/p99 ms from wrk -c1; cpu: the server's CPU ms per request, which contention does not inflate)"
  printf '%-12s | %9s %9s %9s %7s | %9s %9s %9s %7s | %8s %8s | %s\n' query "vial p50" "p99 ms" "req/s" "cpu" \
    "flask p50" "p99 ms" "req/s" "cpu" "x rps" "x cpu" budgets
  for q in $QUERIES; do
    vr=${RPS[vial-sqlite-$q]:-}; fr=${RPS[flask-$q]:-}; r=$(ratio "$vr" "$fr")
    b="x>=20 $(verdict "$(awk -v r="$r" 'BEGIN { print (r != "-" && r >= 20) }')")"
    case $q in
      random|random_year) b="$b; p99<=2ms $(verdict "$(awk -v p="${P99[vial-sqlite-$q]:-99}" 'BEGIN { print (p <= 2) }')")" ;;
      years) b="$b; p99<=5ms $(verdict "$(awk -v p="${P99[vial-sqlite-$q]:-99}" 'BEGIN { print (p <= 5) }')")" ;;
    esac
    printf '%-12s | %9s %9s %9s %7s | %9s %9s %9s %7s | %8s %8s | %s\n' "$q" "${P50[vial-sqlite-$q]:--}" \
      "${P99[vial-sqlite-$q]:--}" "${vr:--}" "${CPU[vial-sqlite-$q]:--}" "${P50[flask-$q]:--}" "${P99[flask-$q]:--}" \
      "${fr:--}" "${CPU[flask-$q]:--}" "$r" "$(ratio "${CPU[flask-$q]:-}" "${CPU[vial-sqlite-$q]:-}")" "$b"
  done
  if [[ -n ${RPS[vial-pg-by_id]:-} ]]; then
    echo
    printf '%-12s | %9s %9s %9s   (vial-server on PostgreSQL)\n' query p50 "p99 ms" "req/s"
    for q in $QUERIES; do
      printf '%-12s | %9s %9s %9s\n' "$q" "${P50[vial-pg-$q]:--}" "${P99[vial-pg-$q]:--}" "${RPS[vial-pg-$q]:--}"
    done
  fi
fi
echo
echo "raw output: $OUT"
exit 0
