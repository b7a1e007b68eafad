#!/usr/bin/env bash
# bench/fortunes.sh: the TechEmpower Fortunes test (/fortunes) for vial-bench
# against Flask + Jinja2 under gunicorn, in the same run (issue 6).
#
#   VIAL_BUILD_DIR=build-fortunes bench/fortunes.sh     # default build dir: ./build
#
# Data: the standard Fortune table (12 rows, among them a <script> tag and a
# Japanese row) in a SQLite file in a temp dir, removed on exit.  Two servers,
# both pinned to CPU $SERVER_CPU, side by side, loaded one at a time by
# `taskset -c $CLIENT_CPU wrk -t1 -c64 -d5s --latency` on 127.0.0.1:
#   vial   vial-bench --workers 1, DB_PATH=<file>, VIAL_TEMPLATES_DIR=bench/templates
#   flask  bench/peers/flask_fortunes.py under /usr/bin/python3 gunicorn -k sync -w 1
# Both render bench/templates/fortunes.html (vial's template engine, Jinja2).
# Before any load each server is checked: status 200, Server, an RFC 1123 Date,
# Content-Type text/html; charset=utf-8, Content-Length, and the HTML parsed
# (and so HTML-unescaped) must be the expected table: 13 rows sorted by message,
# the request-time row among them, the <script> row escaped, the Japanese row
# intact.  A row inserted into the table must show up in the next response
# and disappear once deleted (rows are read per request, not cached).
# Per server: 1 s warm-up, then $RUNS runs of $DURATION, interleaved (run 1 of
# each, run 2 of each, ...), medians reported; around every run the server's
# utime+stime (every process and thread, /proc/<pid>/stat) gives CPU per request.
#
# stdout: the report; stderr: progress; raw wrk output and logs: $BENCH_OUT (a
# temp dir).  The >= 20x budget prints as PASS/OVER; the exit status is 0
# whenever the harness ran.  The run stops itself after $MAX_SECONDS and on
# exit stops every process it started, by PID.
#
# Knobs: SERVER_CPU (1), CLIENT_CPU (0), CONNS (64), DURATION (5s), WARMUP (1s),
# RUNS (3), PORT_BASE (18290), GUNICORN_ARGS ("-k sync -w 1"), SERVERS ("vial
# flask"), FOREIGN_MAX (5), FOREIGN_RETRIES (2), RETRY_BUDGET (8), RETRY_UNTIL
# (150), MAX_SECONDS (230), SKIP_INSTALL (0), NICE (off), BENCH_OUT (a temp dir).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_paths vial-bench
common_knobs  # SERVER_CPU CLIENT_CPU DURATION WARMUP RUNS FOREIGN_MAX FOREIGN_RETRIES RETRY_BUDGET NICE
TEMPLATES=$HERE/templates
PEER_DIR=$HERE/peers

CONNS=${CONNS:-64}
PORT_BASE=${PORT_BASE:-18290}
GUNICORN_ARGS=${GUNICORN_ARGS:-"-k sync -w 1"}
SERVERS=${SERVERS:-"vial flask"}
RETRY_UNTIL=${RETRY_UNTIL:-150}       # no retries once the run is this many seconds old
MAX_SECONDS=${MAX_SECONDS:-230}       # hard stop for the whole run, install included
SKIP_INSTALL=${SKIP_INSTALL:-0}
BUDGET_X=20                           # issue 6: vial >= 20x Flask on /fortunes

log() { printf '[bench-fortunes] %s\n' "$*" >&2; }
T0=$SECONDS
HZ=$(getconf CLK_TCK)
set_prefixes

# ---------------------------------------------------------------- cleanup, hard stop
TEMP_DBS=fortune.db
arm_cleanup

# ---------------------------------------------------------------- install (idempotent)
((SKIP_INSTALL)) || install_deps python3-flask python3-jinja2 gunicorn wrk sqlite3 curl procps util-linux || exit 1

# ---------------------------------------------------------------- preflight
[[ -x $BIN ]] || die "no $BIN: build it first (cmake --build <dir> --target vial-bench and set VIAL_BUILD_DIR)"
for t in wrk taskset curl awk ps sqlite3 /usr/bin/python3 /usr/bin/gunicorn; do
  command -v "$t" >/dev/null || die "missing $t"
done
[[ -f $TEMPLATES/fortunes.html ]] || die "no $TEMPLATES/fortunes.html"
[[ -f $PEER_DIR/flask_fortunes.py ]] || die "no $PEER_DIR/flask_fortunes.py"
(($(getconf _NPROCESSORS_ONLN) > SERVER_CPU && $(getconf _NPROCESSORS_ONLN) > CLIENT_CPU)) ||
  die "needs CPUs $CLIENT_CPU and $SERVER_CPU"

OUT=${BENCH_OUT:-$(mktemp -d /tmp/vial-bench-fortunes.XXXXXX)}
mkdir -p "$OUT"
REPORT=$OUT/report.txt
: >"$REPORT"

# The harness itself (bash, curl, awk, python) stays on the client core.
taskset -p -c "$CLIENT_CPU" $$ >/dev/null

# ---------------------------------------------------------------- data
# The 12 rows of TechEmpower's Fortune table (toolset/databases/*/create.sql).
DB_PATH=$OUT/fortune.db
log "creating the SQLite Fortune table in $DB_PATH"
sqlite3 "$DB_PATH" >"$OUT/sqlite-setup.log" 2>&1 <<'EOF' || die "sqlite3 failed: $(tail -3 "$OUT/sqlite-setup.log")"
PRAGMA journal_mode = WAL;
CREATE TABLE Fortune(id INTEGER PRIMARY KEY, message TEXT NOT NULL);
INSERT INTO Fortune(id, message) VALUES
  (1, 'fortune: No such file or directory'),
  (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
  (3, 'After enough decimal places, nobody gives a damn.'),
  (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
  (5, 'A computer program does what you tell it to do, not what you want it to do.'),
  (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
  (7, 'Any program that runs right is obsolete.'),
  (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
  (9, 'Feature: A bug with seniority.'),
  (10, 'Computers make very fast, very accurate mistakes.'),
  (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
  (12, 'フレームワークのベンチマーク');
EOF
chmod 644 "$DB_PATH"

# ---------------------------------------------------------------- servers
start_named() {  # NAME PORT
  local name=$1 port=$2
  case $name in
    vial)
      start_server "$name" "$port" env -u DATABASE_URL DB_PATH="$DB_PATH" VIAL_TEMPLATES_DIR="$TEMPLATES" \
        "$BIN" --workers 1 --host 127.0.0.1 --port "$port" ;;
    flask)
      # shellcheck disable=SC2086
      start_server "$name" "$port" env -u DATABASE_URL DB_PATH="$DB_PATH" FORTUNES_TEMPLATES="$TEMPLATES" \
        /usr/bin/python3 /usr/bin/gunicorn --chdir "$PEER_DIR" -b "127.0.0.1:$port" $GUNICORN_ARGS \
        --log-level warning flask_fortunes:app ;;
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
parse_bytes_per_req() {  # wrk's "N requests in Xs, Y MB read" -> bytes per response, headers included
  awk '/ requests in /{n = $1; b = $5; u = b; sub(/[0-9.]+/, "", u); b += 0
    if (u == "KB") b *= 1024; else if (u == "MB") b *= 1048576; else if (u == "GB") b *= 1073741824
    if (n) printf "%.0f", b / n}' "$1"
}

# ---------------------------------------------------------------- checks
# TechEmpower Fortunes rules (../shared/BENCHMARKS.md, fortune.py and
# fortune_html_parser.py): status 200, Server, Date (RFC 1123), Content-Type
# text/html; charset=utf-8, Content-Length or Transfer-Encoding, UTF-8, and the
# parsed table equal to the expected one.  The HTML parser unescapes entities,
# so an escaped <script> compares equal to the original text; the raw body must
# not contain the tag itself.  Then a row is inserted (and removed again) to see
# that every response reads the table.
check_fortunes() {  # PORT DB_PATH -> "ok" or what is wrong
  /usr/bin/python3 - "$1" "$2" <<'EOF' 2>&1 | tail -1
import html.parser, http.client, re, sqlite3, sys
port, db_path = int(sys.argv[1]), sys.argv[2]
ROWS = [
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
    (0, "Additional fortune added at request time."),
]
# Python sorts str by code point, which is the UTF-8 byte order (strcmp).
def expected(rows):
    return [(str(i), m) for i, m in sorted(rows, key=lambda r: r[1])]

class Table(html.parser.HTMLParser):
    """The cells of every <tr>, as text (entities unescaped)."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.row, self.cell = [], None, None
    def handle_starttag(self, tag, attrs):
        if tag == "tr": self.row = []
        elif tag in ("td", "th"): self.cell = ""
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None and self.cell is not None:
            self.row.append(self.cell); self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(tuple(self.row)); self.row = None
    def handle_data(self, data):
        if self.cell is not None: self.cell += data

def fail(msg):
    print(msg); sys.exit(0)

def get():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/fortunes")
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200: fail(f"status {r.status}")
    h = {k.lower(): v for k, v in r.getheaders()}
    for k in ("server", "date", "content-type"):
        if k not in h: fail(f"no {k} header")
    if "content-length" not in h and "transfer-encoding" not in h: fail("no Content-Length")
    if "content-encoding" in h: fail(f"Content-Encoding {h['content-encoding']!r} (gzip is forbidden)")
    if not re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", h["date"]):
        fail(f"Date not RFC 1123: {h['date']!r}")
    if not re.fullmatch(r"text/html; ?charset=(UTF|utf)-8", h["content-type"]):
        fail(f"Content-Type {h['content-type']!r}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(f"body is not UTF-8: {e}")
    if "<script" in text.lower(): fail("an unescaped <script> tag in the body")
    # The parser below unescapes entities, so it would accept raw quotes; the
    # verifier does not (it expects &apos; / &quot; forms), nor does markupsafe.
    for cell in re.findall(r"<td>(.*?)</td>", text, re.S):
        if re.search(r"[<>\"']|&(?![a-zA-Z]+;|#[0-9]+;|#x[0-9a-fA-F]+;)", cell):
            fail(f"a cell is not HTML-escaped (& < > \" ' must be): {cell[:60]!r}")
    if not text.lstrip().lower().startswith("<!doctype html>"): fail(f"no <!DOCTYPE html>: {text[:40]!r}")
    t = Table()
    t.feed(text); t.close()
    if not t.rows or t.rows[0] != ("id", "message"): fail(f"header row {t.rows[:1]}")
    return t.rows[1:]

def same(got, want, what):
    if got == want: return
    if len(got) != len(want): fail(f"{what}: {len(got)} rows, expected {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w: fail(f"{what}: row {i + 1} is {g!r}, expected {w!r}")

for _ in range(3):
    same(get(), expected(ROWS), "table")
# no caching: a row added to the table shows up in the next response, and goes away with it
extra = (13, "Checking <no caching> & 'quotes' \"here\"")
con = sqlite3.connect(db_path, timeout=5)
try:
    with con: con.execute("INSERT INTO Fortune(id, message) VALUES (?, ?)", extra)
    same(get(), expected(ROWS + [extra]), "after INSERT")
finally:
    with con: con.execute("DELETE FROM Fortune WHERE id = ?", (extra[0],))
    con.close()
same(get(), expected(ROWS), "after DELETE")
print("ok")  # the one word the report and the budget look for
EOF
}

# ---------------------------------------------------------------- header
{
  echo "# vial bench fortunes  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "# $(uname -r), $(getconf _NPROCESSORS_ONLN) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), SQLite $(sqlite3 --version | awk '{print $1}')," \
    "Python $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'), $(/usr/bin/python3 -c '
import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ("flask", "jinja2", "gunicorn")))' 2>/dev/null)"
  echo "# vial-bench $BIN --workers 1; flask: gunicorn $GUNICORN_ARGS (bench/peers/flask_fortunes.py);"
  echo "#   both render bench/templates/fortunes.html from the SQLite Fortune table (12 rows + 1 per request)"
  echo "# servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU:"
  [[ -n $NICE ]] && echo "# servers and wrk at nice $NICE (NICE): other load gets less of both cores"
  echo "#   taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -d$DURATION --latency http://127.0.0.1:PORT/fortunes; warm-up $WARMUP; median of $RUNS runs, interleaved"
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
  CHECK[$s]=$(check_fortunes "${SRV_PORT[$s]}" "$DB_PATH")
  what=${CHECK[$s]}
  [[ $what == ok ]] && what="ok (headers; 13 rows in order after unescaping, & < > \" ' escaped, Japanese row intact; a row inserted, then deleted, shows in the next response: no caching)"
  echo "# check $s /fortunes: $what" | tee -a "$REPORT"
done

# ---------------------------------------------------------------- measuring
declare -A R_RPS=() R_P99=() R_US=() R_SB=() R_CB=() R_ERR=() R_FMAX=() R_NOTE=() R_BYTES=()

# Foreign load: busy ticks of both cores that neither the server under test nor
# this script and its reaped children (wrk) account for; plus hidden steal
# (server CPU time its core's busy ticks do not show: the host took the vCPU).
one_run() {  # SERVER RUN_NUMBER; of several tries, the least noisy one is kept
  local s=$1 i=$2 url out try f n el stolen app
  local c0 sb0 c1 sb1 p0 p1 m0 m1 w0 w1
  local best=-1 b_f b_app b_sb b_cb b_el
  url="http://127.0.0.1:${SRV_PORT[$s]}/fortunes"
  out="$OUT/$s.run$i"
  for try in $(seq 0 "$FOREIGN_RETRIES"); do
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
    app=$((p1 - p0))
    el=$(((w1 - w0) * HZ / 1000000))
    ((el > 0)) || el=1
    f=$(((c1 - c0 + sb1 - sb0 - app - (m1 - m0)) * 100 / el))
    ((f < 0)) && f=0
    stolen=$(((app - (sb1 - sb0)) * 100 / el))
    ((stolen > 0)) && f=$((f + stolen))
    echo "$s run$i try$try foreign=${f}% (hidden steal ${stolen}%) server=$((app * 100 / el))%" \
      "client_core=$(((c1 - c0) * 100 / el))% server_core=$(((sb1 - sb0) * 100 / el))%" >>"$OUT/foreign.txt"
    ((f > FOREIGN_MAX)) && ps -eo pid=,pcpu=,comm= --sort=-pcpu | head -3 | sed 's/^/    top: /' >>"$OUT/foreign.txt"
    if ((best < 0 || f < b_f)); then
      best=$try b_f=$f b_app=$app b_sb=$((sb1 - sb0)) b_cb=$((c1 - c0)) b_el=$el
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
  R_BYTES[$s]=$(parse_bytes_per_req "$out")
  ((n > 0)) && R_US[$s]+="$(awk -v t="$b_app" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", t / hz * 1e6 / n}') "
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
      wrk_run "$WARMUP" "http://127.0.0.1:${SRV_PORT[$s]}/fortunes" "$OUT/$s.warmup.txt"
    fi
    log "$s: run $i/$RUNS ($DURATION)"
    one_run "$s" "$i"
  done
done
for s in $SERVERS; do stop_server "$s"; done

# ---------------------------------------------------------------- report
fmt2() { [[ $1 == - ]] && echo - || printf '%.2f' "$1"; }
declare -A M_RPS=() M_US=()
for s in $SERVERS; do
  M_RPS[$s]=$(med "${R_RPS[$s]:-}")
  M_US[$s]=$(med "${R_US[$s]:-}")
done
FMT='%-6s %8s %8s %10s %9s %9s %10s %6s %9s  %s\n'
{
  echo
  echo "## /fortunes: throughput and server CPU per request (medians of $RUNS runs)"
  printf "$FMT" server req/s p99_ms srv_us/req srv_core% wrk_core% bytes/resp errors foreign% note
  for s in $SERVERS; do
    note=${R_NOTE[$s]:-}
    ((${R_FMAX[$s]:-0} > FOREIGN_MAX)) && note="${note:+$note; }NOISY: other load took ${R_FMAX[$s]}% of a core"
    ((${R_ERR[$s]:-0} > 0)) && note="${note:+$note; }ERRORS"
    [[ ${CHECK[$s]} == ok ]] || note="${note:+$note; }CHECK FAILED: ${CHECK[$s]}"
    printf "$FMT" "$s" "${M_RPS[$s]}" "$(med "${R_P99[$s]:-}")" "$(fmt2 "${M_US[$s]}")" "$(med "${R_SB[$s]:-}")" \
      "$(med "${R_CB[$s]:-}")" "${R_BYTES[$s]:--}" "${R_ERR[$s]:-0}" "${R_FMAX[$s]:-0}" "$note"
  done
  echo "# srv_us/req: utime+stime of the server's processes (gunicorn: master + worker; SQLite runs inside them)"
  echo "#   / requests wrk completed; bytes/resp: wrk's bytes read per response, headers included"
  echo "# srv_core%/wrk_core%: how busy each core was (wall time); foreign%: most CPU, in % of a core, used by anything but"
  echo "#   the server and this script with its children (wrk), plus hidden steal, in a kept run;"
  echo "#   over $FOREIGN_MAX% the run is retried, then flagged NOISY"
  echo "# gunicorn's sync worker closes the connection after each response: Flask's figures include a TCP"
  echo "#   connection per request (as in ../shared/peers); vial keeps the connections alive"
  echo "# per-run req/s | srv_us/req:"
  for s in $SERVERS; do printf '#   %-6s %s| %s\n' "$s" "${R_RPS[$s]:-}" "${R_US[$s]:-}"; done
} | tee -a "$REPORT"

ratio3() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.3f", a / b }'; }
failed() {
  local k
  for k in "$@"; do [[ ${CHECK[$k]:-} == ok ]] || { echo " (check failed: the figures do not count)"; return; }; done
}
has() { [[ " $SERVERS " == *" $1 "* ]]; }
{
  if has vial && has flask; then
    v=vial f=flask
    echo
    echo "## Ratios vial/Flask (from the medians above)"
    printf '/fortunes  req/s x%s   CPU per request x%s (Flask spends %sx vial)\n' \
      "$(ratio "${M_RPS[$v]}" "${M_RPS[$f]}")" "$(ratio3 "${M_US[$v]}" "${M_US[$f]}")" "$(ratio "${M_US[$f]}" "${M_US[$v]}")"
    echo
    echo "## Budget: vial >= ${BUDGET_X}x Flask on /fortunes (PASS/OVER as measured in this run; never an exit status)"
    r=$(ratio "${M_RPS[$v]}" "${M_RPS[$f]}")
    verdict=OVER; ge "$r" "$BUDGET_X" && [[ -z $(failed "$v" "$f") ]] && verdict=PASS
    printf '%-4s req/s >= %dx Flask: vial %s, Flask %s (x%s)%s%s%s\n' "$verdict" "$BUDGET_X" \
      "${M_RPS[$v]}" "${M_RPS[$f]}" "$r" "$(close_call "$r" "$BUDGET_X")" "$(noisy "$v" "$f")" "$(failed "$v" "$f")"
    r=$(ratio "${M_US[$f]}" "${M_US[$v]}")
    verdict=OVER; ge "$r" "$BUDGET_X" && [[ -z $(failed "$v" "$f") ]] && verdict=PASS
    printf '%-4s CPU per request <= 1/%d of Flask: vial %s us, Flask %s us (Flask/vial x%s)%s%s%s\n' "$verdict" \
      "$BUDGET_X" "$(fmt2 "${M_US[$v]}")" "$(fmt2 "${M_US[$f]}")" "$r" "$(close_call "$r" "$BUDGET_X")" \
      "$(noisy "$v" "$f")" "$(failed "$v" "$f")"
  fi
  echo "# raw wrk output and logs: $OUT; total $((SECONDS - T0)) s"
} | tee -a "$REPORT"
exit 0
