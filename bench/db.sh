#!/usr/bin/env bash
# bench/db.sh: the TechEmpower single-query test (/db) for vial-bench against
# Flask+gunicorn, on SQLite and on PostgreSQL, in the same run (issue 3).
#
#   VIAL_BUILD_DIR=build-benchdb bench/db.sh     # default build dir: ./build
#
# Data: a World table (10,000 rows, id 1..10000, randomNumber 1..10000) in a
# SQLite file and in a throwaway PostgreSQL cluster (scripts/pg.sh), both in a
# temp dir and both removed on exit.  Four servers, all pinned to CPU
# $SERVER_CPU, side by side, loaded one at a time by
# `taskset -c $CLIENT_CPU wrk -t1 -c64 -d5s --latency` on 127.0.0.1:
#   vial  sqlite      vial-bench --workers 1, DB_PATH=<file>
#   vial  postgresql  vial-bench --workers 1, DATABASE_URL=postgresql://...
#   flask sqlite      ../shared/peers/flask/app.py under gunicorn -k sync -w 1
#   flask postgresql  bench/peers/flask_pg.py (psycopg2) under gunicorn -k sync -w 1
# The PostgreSQL cluster (postmaster and every backend it forks) is pinned to
# CPU $SERVER_CPU too: the app server and its database share one core, and the
# utime+stime of the postgres processes is read around every run, so the PG
# rows report app CPU, db CPU and app+db CPU per request.
# Per server: 1 s warm-up, then $RUNS runs of $DURATION, interleaved across the
# servers (run 1 of each, run 2 of each, ...), medians reported.  On PostgreSQL
# pg_stat_statements counts the queries each run executed (queries/request).
#
# stdout: the report; stderr: progress; raw wrk output and logs: $BENCH_OUT (a
# temp dir).  The >= 20x budget prints as PASS/OVER; the exit status is 0
# whenever the harness ran.  The run stops itself after $MAX_SECONDS and on
# exit stops every process it started, by PID, and destroys the cluster.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_paths vial-bench
common_knobs  # SERVER_CPU CLIENT_CPU DURATION WARMUP RUNS FOREIGN_MAX FOREIGN_RETRIES RETRY_BUDGET NICE
peers_dir
FLASK_SQLITE_DIR=$PEERS_DIR/flask
FLASK_PG_DIR=$HERE/peers

CONNS=${CONNS:-64}
PORT_BASE=${PORT_BASE:-18190}
GUNICORN_ARGS=${GUNICORN_ARGS:-"-k sync -w 1"}
SERVERS=${SERVERS:-"vial-sqlite vial-pg flask-sqlite flask-pg"}
COUNT_QUERIES=${COUNT_QUERIES:-1}     # pg_stat_statements (as TechEmpower's own PostgreSQL runs)
RETRY_UNTIL=${RETRY_UNTIL:-200}       # no retries once the run is this many seconds old
MAX_SECONDS=${MAX_SECONDS:-340}       # hard stop for the whole run, install included
SKIP_INSTALL=${SKIP_INSTALL:-0}
BUDGET_X=20                           # issue 3: vial >= 20x Flask on /db

log() { printf '[bench-db] %s\n' "$*" >&2; }
T0=$SECONDS
HZ=$(getconf CLK_TCK)
set_prefixes

# ---------------------------------------------------------------- cleanup, hard stop
TEMP_DBS=world.db
arm_cleanup

# ---------------------------------------------------------------- install (idempotent)
((SKIP_INSTALL)) || install_deps --no-services python3-flask gunicorn python3-psycopg2 postgresql wrk sqlite3 curl \
  procps util-linux || exit 1

# ---------------------------------------------------------------- preflight
[[ -x $BIN ]] || die "no $BIN: build it first (cmake --build <dir> --target vial-bench and set VIAL_BUILD_DIR)"
for t in wrk taskset curl awk ps psql sqlite3 /usr/bin/python3 /usr/bin/gunicorn; do
  command -v "$t" >/dev/null || die "missing $t"
done
[[ -f $FLASK_SQLITE_DIR/app.py ]] || die "no $FLASK_SQLITE_DIR/app.py (the Flask peer; set PEERS_DIR)"
[[ -f $FLASK_PG_DIR/flask_pg.py ]] || die "no $FLASK_PG_DIR/flask_pg.py"
(($(getconf _NPROCESSORS_ONLN) > SERVER_CPU && $(getconf _NPROCESSORS_ONLN) > CLIENT_CPU)) ||
  die "needs CPUs $CLIENT_CPU and $SERVER_CPU"

OUT=${BENCH_OUT:-$(mktemp -d /tmp/vial-bench-db.XXXXXX)}
mkdir -p "$OUT"
chmod 755 "$OUT"  # the postgres user must reach $OUT/pg
REPORT=$OUT/report.txt
: >"$REPORT"

# The harness itself (bash, curl, psql, awk, python) stays on the client core.
taskset -p -c "$CLIENT_CPU" $$ >/dev/null

# ---------------------------------------------------------------- data
DB_PATH=$OUT/world.db
log "creating the SQLite world table (10000 rows) in $DB_PATH"
sqlite3 "$DB_PATH" "CREATE TABLE world(id INTEGER PRIMARY KEY, randomNumber INTEGER NOT NULL);
  WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
  INSERT INTO world SELECT x, abs(random() % 10000) + 1 FROM c;" || die "sqlite3 failed"
chmod 644 "$DB_PATH"

PGDIR=$OUT/pg
PG_URL=""
if [[ " $SERVERS " == *-pg* ]]; then
  log "starting a throwaway PostgreSQL cluster in $PGDIR, pinned to CPU $SERVER_CPU"
  PG_STARTED=1
  # Started under taskset: the postmaster and every process it forks (one
  # backend per client connection) inherit CPU $SERVER_CPU.
  PG_URL=$(taskset -c "$SERVER_CPU" "${PRIO[@]}" "$REPO/scripts/pg.sh" start "$PGDIR") || die "scripts/pg.sh start failed"
  if ((COUNT_QUERIES)); then
    echo "shared_preload_libraries = 'pg_stat_statements'" >>"$PGDIR/data/postgresql.conf"
    taskset -c "$SERVER_CPU" "${PRIO[@]}" "$REPO/scripts/pg.sh" restart "$PGDIR" || die "scripts/pg.sh restart failed"
  fi
  psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" >"$OUT/pg-setup.log" 2>&1 <<'EOF' || die "PostgreSQL setup failed: $(tail -3 "$OUT/pg-setup.log")"
CREATE TABLE world(id integer PRIMARY KEY, randomnumber integer NOT NULL);
INSERT INTO world SELECT x, floor(random() * 10000)::integer + 1 FROM generate_series(1, 10000) AS x;
VACUUM ANALYZE world;
EOF
  if ((COUNT_QUERIES)); then
    psql -X -q "$PG_URL" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >>"$OUT/pg-setup.log" 2>&1 ||
      { log "pg_stat_statements unavailable: queries/request not counted"; COUNT_QUERIES=0; }
  fi
  pm=$(pg_postmaster)
  [[ $(awk '/^Cpus_allowed_list/{print $2}' "/proc/$pm/status" 2>/dev/null) == "$SERVER_CPU" ]] ||
    log "warning: the postmaster is not pinned to CPU $SERVER_CPU"
  if [[ -n $NICE && $(ps -o nice= -p "$pm" | tr -d ' ') != "$NICE" ]]; then
    # shellcheck disable=SC2046
    renice -n "$NICE" -p $(descendants "$pm") >/dev/null 2>&1 || log "warning: could not renice the cluster"
  fi
fi

pg_queries() {  # executed statements that read world, as TechEmpower's verifier counts them
  ((COUNT_QUERIES)) || { echo 0; return; }
  psql -X -tAq "$PG_URL" -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query ~* 'from world'" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- servers
start_named() {  # NAME PORT
  local name=$1 port=$2
  case $name in
    vial-sqlite)
      start_server "$name" "$port" env -u DATABASE_URL DB_PATH="$DB_PATH" \
        "$BIN" --workers 1 --host 127.0.0.1 --port "$port" ;;
    vial-pg)
      start_server "$name" "$port" env -u DB_PATH DATABASE_URL="$PG_URL" \
        "$BIN" --workers 1 --host 127.0.0.1 --port "$port" ;;
    flask-sqlite)
      # shellcheck disable=SC2086
      start_server "$name" "$port" env -u DATABASE_URL DB_PATH="$DB_PATH" /usr/bin/python3 /usr/bin/gunicorn \
        --chdir "$FLASK_SQLITE_DIR" -b "127.0.0.1:$port" $GUNICORN_ARGS --log-level warning app:app ;;
    flask-pg)
      # shellcheck disable=SC2086
      start_server "$name" "$port" env -u DB_PATH DATABASE_URL="$PG_URL" /usr/bin/python3 /usr/bin/gunicorn \
        --chdir "$FLASK_PG_DIR" -b "127.0.0.1:$port" $GUNICORN_ARGS --log-level warning flask_pg:app ;;
    *) log "unknown server $name"; return 1 ;;
  esac
}

# ---------------------------------------------------------------- reading /proc

# ---------------------------------------------------------------- wrk
wrk_run() {  # DURATION URL OUTFILE
  timeout 60 taskset -c "$CLIENT_CPU" "${PRIO[@]}" wrk -t1 -c"$CONNS" -d"$1" --latency "$2" >"$3" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID"
  WRK_PID=""
}
parse_p99() {  # -> ms
  awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); n = v + 0
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }' "$1"
}

# ---------------------------------------------------------------- checks
# TechEmpower /db rules (../shared/BENCHMARKS.md): status 200, Server, Date (RFC
# 1123), Content-Type application/json, Content-Length or Transfer-Encoding, a
# JSON object {"id": int 1..10000, "randomNumber": int}; 20 requests, whose ids
# must vary (a random row per request).
check_db() {  # PORT -> "ok" or what is wrong
  /usr/bin/python3 - "$1" <<'EOF' 2>&1 | tail -1
import http.client, json, re, sys
port = int(sys.argv[1])
ids = set()
def fail(msg):
    print(msg); sys.exit(0)
for i in range(20):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/db")
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200: fail(f"status {r.status}")
    h = {k.lower(): v for k, v in r.getheaders()}
    for k in ("server", "date", "content-type"):
        if k not in h: fail(f"no {k} header")
    if "content-length" not in h and "transfer-encoding" not in h: fail("no Content-Length")
    if not re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", h["date"]):
        fail(f"Date not RFC 1123: {h['date']!r}")
    if not re.fullmatch(r"application/json(; ?charset=(UTF|utf)-8)?", h["content-type"]):
        fail(f"Content-Type {h['content-type']!r}")
    try:
        d = json.loads(body)
    except ValueError:
        fail(f"body is not JSON: {body[:60]!r}")
    if not isinstance(d, dict): fail(f"body is not a JSON object: {body[:60]!r}")
    if sorted(d) != ["id", "randomNumber"]: fail(f"keys {sorted(d)}")
    if not all(type(v) is int for v in d.values()): fail(f"non-integer values: {body[:60]!r}")
    if not 1 <= d["id"] <= 10000: fail(f"id {d['id']} out of 1..10000")
    if not 1 <= d["randomNumber"] <= 10000: fail(f"randomNumber {d['randomNumber']} out of 1..10000")
    ids.add(d["id"])
if len(ids) < 10: fail(f"only {len(ids)} distinct ids in 20 requests")
print("ok")
EOF
}

# ---------------------------------------------------------------- header
PGVER=""
[[ -n $PG_URL ]] && PGVER=$(psql -X -tAq "$PG_URL" -c 'SHOW server_version' 2>/dev/null | awk '{print $1}')
{
  echo "# vial bench db  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "# $(uname -r), $(getconf _NPROCESSORS_ONLN) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), SQLite $(sqlite3 --version | awk '{print $1}'), PostgreSQL ${PGVER:--}," \
    "Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'), $(/usr/bin/python3 -c '
import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ("flask", "gunicorn", "psycopg2")))' 2>/dev/null | sed 's/ (.*)//')"
  echo "# vial-bench $BIN --workers 1; flask: gunicorn $GUNICORN_ARGS ($FLASK_SQLITE_DIR/app.py, bench/peers/flask_pg.py)"
  echo "# all servers and the PostgreSQL cluster (postmaster + backends) on CPU $SERVER_CPU; wrk on CPU $CLIENT_CPU:"
  [[ -n $NICE ]] && echo "# servers, cluster and wrk at nice $NICE (NICE): other load gets less of both cores"
  echo "#   taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -d$DURATION --latency http://127.0.0.1:PORT/db; warm-up $WARMUP; median of $RUNS runs, interleaved"
} | tee -a "$REPORT"

# ---------------------------------------------------------------- start, check
declare -A CHECK=()
port=$PORT_BASE
for s in $SERVERS; do
  port=$(free_port "$port")
  log "starting $s on 127.0.0.1:$port"
  start_named "$s" "$port" || die "$s did not start (log: $OUT/$s.log)"
  port=$((port + 1))
done
for s in $SERVERS; do
  CHECK[$s]=$(check_db "${SRV_PORT[$s]}")
  echo "# check $s /db: ${CHECK[$s]}" | tee -a "$REPORT"
done

# ---------------------------------------------------------------- measuring
declare -A R_RPS=() R_P99=() R_APP=() R_DB=() R_TOT=() R_Q=() R_SB=() R_CB=() R_ERR=() R_FMAX=() R_NOTE=()

# Foreign load: busy ticks of both cores that neither the servers under test,
# the PostgreSQL cluster, nor this script and its reaped children (wrk)
# account for; plus hidden steal (server-side CPU time its core's busy ticks do
# not show: the host took the vCPU).
one_run() {  # SERVER RUN_NUMBER; of several tries, the least noisy one is kept
  local s=$1 i=$2 url out try f n el stolen q0 q1 app db
  local c0 sb0 c1 sb1 p0 p1 m0 m1 w0 w1
  local best=-1 b_f b_app b_db b_sb b_cb b_el b_q
  url="http://127.0.0.1:${SRV_PORT[$s]}/db"
  out="$OUT/$s.run$i"
  for try in $(seq 0 "$FOREIGN_RETRIES"); do
    q0=0 q1=0
    [[ $s == *-pg ]] && q0=$(pg_queries)
    # shellcheck disable=SC2046
    proc_ticks_each $(pg_pids) >"$OUT/pg.before"
    m0=$(self_ticks)
    read -r c0 sb0 < <(cpu_busy)
    # shellcheck disable=SC2086
    p0=$(proc_ticks ${SRV_TREE[$s]})
    w0=$(now_us)
    wrk_run "$DURATION" "$url" "$out.try$try.txt"
    w1=$(now_us)
    # shellcheck disable=SC2086
    p1=$(proc_ticks ${SRV_TREE[$s]})
    read -r c1 sb1 < <(cpu_busy)
    m1=$(self_ticks)
    # shellcheck disable=SC2046
    proc_ticks_each $(pg_pids) >"$OUT/pg.after"
    [[ $s == *-pg ]] && q1=$(pg_queries)
    app=$((p1 - p0))
    db=$(ticks_delta "$OUT/pg.before" "$OUT/pg.after")
    el=$(((w1 - w0) * HZ / 1000000))
    ((el > 0)) || el=1
    f=$(((c1 - c0 + sb1 - sb0 - app - db - (m1 - m0)) * 100 / el))
    ((f < 0)) && f=0
    stolen=$(((app + db - (sb1 - sb0)) * 100 / el))
    ((stolen > 0)) && f=$((f + stolen))
    echo "$s run$i try$try foreign=${f}% (hidden steal ${stolen}%) app=$((app * 100 / el))% db=$((db * 100 / el))%" \
      "client_core=$(((c1 - c0) * 100 / el))% server_core=$(((sb1 - sb0) * 100 / el))% queries=$((q1 - q0))" >>"$OUT/foreign.txt"
    ((f > FOREIGN_MAX)) && ps -eo pid=,pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/    top: /' >>"$OUT/foreign.txt"
    if ((best < 0 || f < b_f)); then
      best=$try b_f=$f b_app=$app b_db=$db b_sb=$((sb1 - sb0)) b_cb=$((c1 - c0)) b_el=$el b_q=$((q1 - q0))
    fi
    ((f <= FOREIGN_MAX || try >= FOREIGN_RETRIES || RETRY_BUDGET <= 0 || SECONDS - T0 > RETRY_UNTIL)) && break
    RETRY_BUDGET=$((RETRY_BUDGET - 1))
    log "$s run $i: other load took ${f}% of a core, measuring again"
  done
  out="$out.try$best.txt"
  echo "$s run$i kept try$best" >>"$OUT/foreign.txt"
  n=$(parse_reqs "$out")
  R_RPS[$s]+="$(parse_rps "$out") "
  R_P99[$s]+="$(parse_p99 "$out") "
  if ((n > 0)); then
    R_APP[$s]+="$(awk -v t="$b_app" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
    if [[ $s == *-pg ]]; then
      R_DB[$s]+="$(awk -v t="$b_db" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
      R_TOT[$s]+="$(awk -v t="$((b_app + b_db))" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
      ((COUNT_QUERIES)) && R_Q[$s]+="$(awk -v q="$b_q" -v n="$n" 'BEGIN{printf "%.3f", q / n}') "
    else
      R_TOT[$s]+="$(awk -v t="$b_app" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
    fi
  fi
  R_SB[$s]+="$((b_sb * 100 / b_el)) "
  R_CB[$s]+="$((b_cb * 100 / b_el)) "
  R_ERR[$s]=$((${R_ERR[$s]:-0} + $(parse_errors "$out")))
  ((b_f > ${R_FMAX[$s]:-0})) && R_FMAX[$s]=$b_f
  ((n > 0)) || R_NOTE[$s]="run $i: no requests"
  kill -0 "${SRV_PID[$s]}" 2>/dev/null || die "$s died during run $i (log: $OUT/$s.log)"
}

for i in $(seq "$RUNS"); do
  for s in $SERVERS; do
    if ((i == 1)); then
      log "$s: warm-up $WARMUP"
      wrk_run "$WARMUP" "http://127.0.0.1:${SRV_PORT[$s]}/db" "$OUT/$s.warmup.txt"
    fi
    log "$s: run $i/$RUNS ($DURATION)"
    one_run "$s" "$i"
  done
done
for s in $SERVERS; do stop_server "$s"; done

# ---------------------------------------------------------------- report
fmt2() { [[ $1 == - ]] && echo - || printf '%.2f' "$1"; }
declare -A M_RPS=() M_APP=() M_TOT=()
for s in $SERVERS; do
  M_RPS[$s]=$(med "${R_RPS[$s]:-}")
  M_APP[$s]=$(med "${R_APP[$s]:-}")
  M_TOT[$s]=$(med "${R_TOT[$s]:-}")
done
backend_of() { [[ $1 == *-pg ]] && echo postgresql || echo sqlite; }
FMT='%-6s %-10s %8s %8s %10s %9s %13s %9s %9s %6s %9s %8s  %s\n'
{
  echo
  echo "## /db: throughput and CPU per request (medians of $RUNS runs)"
  printf "$FMT" server backend req/s p99_ms app_us/req db_us/req app+db_us/req srv_core% wrk_core% errors queries/req foreign% note
  for s in $SERVERS; do
    note=${R_NOTE[$s]:-}
    ((${R_FMAX[$s]:-0} > FOREIGN_MAX)) && note="${note:+$note; }NOISY: other load took ${R_FMAX[$s]}% of a core"
    ((${R_ERR[$s]:-0} > 0)) && note="${note:+$note; }ERRORS"
    [[ ${CHECK[$s]} == ok ]] || note="${note:+$note; }CHECK FAILED: ${CHECK[$s]}"
    db=- q=-
    if [[ $s == *-pg ]]; then
      db=$(fmt2 "$(med "${R_DB[$s]:-}")")
      ((COUNT_QUERIES)) && q=$(med "${R_Q[$s]:-}")
    fi
    printf "$FMT" "${s%%-*}" "$(backend_of "$s")" "${M_RPS[$s]}" "$(med "${R_P99[$s]:-}")" "$(fmt2 "${M_APP[$s]}")" \
      "$db" "$(fmt2 "${M_TOT[$s]}")" "$(med "${R_SB[$s]:-}")" "$(med "${R_CB[$s]:-}")" "${R_ERR[$s]:-0}" "$q" \
      "${R_FMAX[$s]:-0}" "$note"
  done
  echo "# app_us/req: utime+stime of the app server's processes (gunicorn: master + worker) / requests wrk completed;"
  echo "#   db_us/req: the same for every process of the PostgreSQL cluster (postmaster, backends, background workers),"
  echo "#   which runs on the same core; app+db_us/req is the figure compared (SQLite runs in the app's process)"
  echo "# queries/req: statements reading world that PostgreSQL executed (pg_stat_statements) / requests wrk completed;"
  echo "#   slightly above 1 when requests in flight at the end of a run are served but not counted by wrk"
  echo "# srv_core%/wrk_core%: how busy each core was (wall time); foreign%: most CPU, in % of a core, used by anything but"
  echo "#   the servers, the cluster and this script with its children (wrk), plus hidden steal, in a kept run;"
  echo "#   over $FOREIGN_MAX% the run is retried, then flagged NOISY"
  echo "# per-run req/s | app_us/req | app+db_us/req:"
  for s in $SERVERS; do printf '#   %-13s %s| %s| %s\n' "$s" "${R_RPS[$s]:-}" "${R_APP[$s]:-}" "${R_TOT[$s]:-}"; done
} | tee -a "$REPORT"

ratio3() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.3f", a / b }'; }
has() { [[ " $SERVERS " == *" $1 "* ]]; }
{
  echo
  echo "## Ratios vial/Flask (from the medians above)"
  for b in sqlite pg; do
    has "vial-$b" && has "flask-$b" || continue
    v=vial-$b f=flask-$b
    printf '%-10s  req/s x%-7s  CPU per request x%s (Flask spends %sx vial)' "$(backend_of "$v")" \
      "$(ratio "${M_RPS[$v]}" "${M_RPS[$f]}")" "$(ratio3 "${M_TOT[$v]}" "${M_TOT[$f]}")" "$(ratio "${M_TOT[$f]}" "${M_TOT[$v]}")"
    [[ $b == pg ]] && printf ', app+db; app alone x%s (%sx)' "$(ratio3 "${M_APP[$v]}" "${M_APP[$f]}")" \
      "$(ratio "${M_APP[$f]}" "${M_APP[$v]}")"
    echo
  done

  echo
  echo "## Budget: vial >= ${BUDGET_X}x Flask on /db (PASS/OVER as measured in this run; never an exit status)"
  for b in sqlite pg; do
    has "vial-$b" && has "flask-$b" || continue
    v=vial-$b f=flask-$b
    r=$(ratio "${M_RPS[$v]}" "${M_RPS[$f]}")
    verdict=OVER; ge "$r" "$BUDGET_X" && verdict=PASS
    printf '%-4s %-10s req/s >= %dx Flask: vial %s, Flask %s (x%s)%s%s\n' "$verdict" "$(backend_of "$v")" "$BUDGET_X" \
      "${M_RPS[$v]}" "${M_RPS[$f]}" "$r" "$(close_call "$r" "$BUDGET_X")" "$(noisy "$v" "$f")"
    r=$(ratio "${M_TOT[$f]}" "${M_TOT[$v]}")
    verdict=OVER; ge "$r" "$BUDGET_X" && verdict=PASS
    what="CPU per request"
    [[ $b == pg ]] && what="CPU per request (app+db)"
    printf '%-4s %-10s %s <= 1/%d of Flask: vial %s us, Flask %s us (Flask/vial x%s)%s%s\n' "$verdict" \
      "$(backend_of "$v")" "$what" "$BUDGET_X" "$(fmt2 "${M_TOT[$v]}")" "$(fmt2 "${M_TOT[$f]}")" "$r" \
      "$(close_call "$r" "$BUDGET_X")" "$(noisy "$v" "$f")"
  done
  echo "# raw wrk output and logs: $OUT; total $((SECONDS - T0)) s"
} | tee -a "$REPORT"
exit 0
