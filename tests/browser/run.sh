#!/usr/bin/env bash
# Browser tests of the vial-server dashboard: npm playwright-core driving
# Debian's chromium (headless; no browser download).
#
#   tests/browser/run.sh
#
# Installs what is missing (Debian chromium as root, `npm ci` here, the
# Chart.js copy in static/vendor), builds nothing: it runs
# ${VIAL_BUILD_DIR:-<repo>/build}/vial-server on a free loopback port with a
# fresh SQLite database in a temporary directory (with a generated music
# catalogue imported), runs dashboard.test.js (with docs.test.js and chat.test.js) and music.test.js with node's
# test runner, writes JUnit XML to $REPORT when set, and leaves a
# screenshot of the explorer in ${ARTIFACTS:-<repo>/build/artifacts}/.
# Every process it starts is stopped by PID; exits non-zero on failure.
# Bounded: node gets SUITE_TIMEOUT seconds (default 150 per node run).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${VIAL_BUILD_DIR:-$ROOT/build}" 2>/dev/null && pwd) || BUILD=${VIAL_BUILD_DIR:-$ROOT/build}
ARTIFACTS=${ARTIFACTS:-$ROOT/build/artifacts}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-150}
BIN=$BUILD/vial-server

say() { printf 'browser: %s\n' "$*" >&2; }

# A JUnit report with one failed case, so a suite that could not even start
# is counted (scripts/summarize.py) rather than silently missing.
setup_failed() {
  say "$1"
  if [[ -n ${REPORT:-} ]]; then
    mkdir -p "$(dirname "$REPORT")"
    local msg=${1//&/&amp;}; msg=${msg//</&lt;}; msg=${msg//>/&gt;}; msg=${msg//\"/&quot;}
    printf '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="browser" tests="1" failures="1">
<testcase classname="browser" name="setup"><failure message="%s"/></testcase></testsuite></testsuites>\n' \
      "$msg" >"$REPORT"
  fi
  exit 1
}

# ------------------------------------------------------------------ what is missing

if [[ ! -x $CHROMIUM ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    say "installing Debian chromium"
    env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 ||
      setup_failed "cannot install chromium (apt-get install chromium)"
  else
    setup_failed "$CHROMIUM not found: apt-get install chromium (as root)"
  fi
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    say "installing Debian nodejs and npm"
    env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2 ||
      setup_failed "cannot install nodejs and npm"
  else
    setup_failed "node and npm are needed (apt-get install nodejs npm, as root)"
  fi
fi
# npm ci when node_modules is missing or older than the lock file.
if [[ ! -f $HERE/node_modules/playwright-core/package.json ||
      $HERE/package-lock.json -nt $HERE/node_modules/.package-lock.json ]]; then
  say "npm ci (playwright-core)"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >&2) || setup_failed "npm ci failed in tests/browser"
fi
# The chart library the explorer loads and Swagger UI for /docs (make assets:
# npm, copied, gitignored).
if [[ ! -s $ROOT/static/vendor/chart.umd.min.js || ! -s $ROOT/static/vendor/swagger-ui/swagger-ui-bundle.js ]]; then
  say "make assets (static/vendor/chart.umd.min.js)"
  make -C "$ROOT" assets >&2 || true
  [[ -s $ROOT/static/vendor/chart.umd.min.js ]] || setup_failed "static/vendor/chart.umd.min.js is missing (make assets)"
  [[ -s $ROOT/static/vendor/swagger-ui/swagger-ui-bundle.js ]] || setup_failed "static/vendor/swagger-ui is missing (make assets)"
fi
[[ -x $BIN ]] || setup_failed "$BIN not found: build first (VIAL_BUILD_DIR=$BUILD)"

# ------------------------------------------------------------------ the server

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vial-browser.XXXXXX") || setup_failed "mktemp failed"
SERVER_PID=
NODE_PID=
cleanup() {
  local rc=$?
  [[ -n $NODE_PID ]] && kill -TERM "$NODE_PID" 2>/dev/null && sleep 1 && kill -KILL "$NODE_PID" 2>/dev/null
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  wait 2>/dev/null
  # Chromium runs in process groups of its own; playwright stops it when node
  # exits, but not when node was killed: whatever still runs with our
  # temporary directory on its command line (node's argv, chromium's
  # profile) is ours, and is stopped by PID.  (The pattern is read from a
  # file so that grep's own command line does not match.)
  printf '%s\n' "$WORK/" >"$WORK.pattern"
  local pid
  for pid in $(grep -lsF -f "$WORK.pattern" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    [[ $pid != "$$" ]] && kill -KILL "$pid" 2>/dev/null
  done
  [[ -n ${KEEP_LOG:-} ]] && cp "$WORK/server.err" "$KEEP_LOG"
  rm -rf "$WORK" "$WORK.pattern"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SECRET=$(head -c 48 /dev/urandom | base64 -w0)
# The music page's catalogue: 3,000 generated songs, and one whose name,
# album and artist are markup (shown as text, never run).
/usr/bin/python3 - "$ROOT/scripts/gen-songs.py" "$WORK/songs.csv" <<'PY' || setup_failed "cannot generate songs"
import csv, importlib.util, sys
spec = importlib.util.spec_from_file_location("gen", sys.argv[1])
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
rows = list(gen.rows(3000, 7))
evil = rows[0][:]
evil[0], evil[1] = "EvilEvilEvilEvilEvil01", 'evilsong <img id="evil" src=x onerror="window.__xss = 1">'
evil[2], evil[3] = "<script>window.__xss = 2</script>", "EvilAlbumEvilAlbum0001"
evil[4], evil[5] = str(['<b id="bold">bold</b>']), str(["EvilArtistEvilArtist01"])
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(gen.HEADER)
    w.writerows(rows + [evil])
PY
(cd "$WORK" && env -i PATH="$PATH" HOME="$WORK" SECRET_KEY="$SECRET" "$BIN" import-songs --progress 0 "$WORK/songs.csv" \
   --database-url "sqlite:///$WORK/vial.db" --migrations-root "$ROOT" --log-level warn >"$WORK/import.out" 2>&1) ||
  { cat "$WORK/import.out" >&2; setup_failed "import-songs failed"; }
# A clean environment: nothing the caller exported (DATABASE_URL, PORT, VIAL_*)
# reaches the server; the cwd is the temp dir, so no stray vial.ini is read.
san=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do [[ -n ${!v:-} ]] && san+=("$v=${!v}"); done
(cd "$WORK" && exec env -i PATH="$PATH" HOME="$WORK" SECRET_KEY="$SECRET" "${san[@]}" "$BIN" run \
   --host 127.0.0.1 --port 0 --workers 2 \
   --database-url "sqlite:///$WORK/vial.db" --migrations-root "$ROOT" \
   --dashboard-templates "$ROOT/apps/dashboard/templates" --static-dir "$ROOT/static" \
   >"$WORK/server.out" 2>"$WORK/server.err") &
SERVER_PID=$!
PORT=
for _ in $(seq 150); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$WORK/server.err" | head -1)
  [[ -n $PORT ]] && break
  sleep 0.1
done
if [[ -z $PORT ]]; then
  tail -20 "$WORK/server.err" >&2
  setup_failed "vial-server did not start ($BIN)"
fi
say "vial-server (pid $SERVER_PID) on http://127.0.0.1:$PORT"

# ------------------------------------------------------------------ the tests

mkdir -p "$ARTIFACTS" "$WORK/tmp"
reporters=(--test-reporter=spec --test-reporter-destination=stdout)
if [[ -n ${REPORT:-} ]]; then
  mkdir -p "$(dirname "$REPORT")"
  reporters+=(--test-reporter=junit --test-reporter-destination="$REPORT")
fi
start=$(date +%s%N)
# node runs the files itself (no child process per file; docs.test.js and
# chat.test.js are loaded with --require into the dashboard's run, so one
# report holds the three);
# "$WORK/" on its command line marks it as ours for the cleanup.
# One node per file, in order (the music page's after the dashboard's);
# with REPORT, the second writes <REPORT without .xml>-music.xml.
rc=0
for suite in dashboard music; do
  r=("${reporters[@]}")
  require=()
  [[ $suite == dashboard ]] && require=(--require "$HERE/docs.test.js" --require "$HERE/chat.test.js")
  if [[ -n ${REPORT:-} && $suite != dashboard ]]; then
    r=(--test-reporter=spec --test-reporter-destination=stdout
       --test-reporter=junit --test-reporter-destination="${REPORT%.xml}-$suite.xml")
  fi
  VIAL_URL="http://127.0.0.1:$PORT" CHROMIUM="$CHROMIUM" ARTIFACTS="$ARTIFACTS" TMPDIR="$WORK/tmp" \
    timeout -k 5 "$SUITE_TIMEOUT" node "${r[@]}" "${require[@]}" "$HERE/$suite.test.js" "$WORK/" &
  NODE_PID=$!
  wait "$NODE_PID"
  src=$?
  NODE_PID=
  ((src != 0)) && rc=$src
done
ms=$((($(date +%s%N) - start) / 1000000))
say "node exited $rc after $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
if ((rc == 124 || rc == 137)); then
  say "the suite took longer than ${SUITE_TIMEOUT}s and was stopped"
fi
# A node that was killed (or crashed) leaves no report, or half of one.
if [[ -n ${REPORT:-} ]] && ! grep -q '</testsuites>' "$REPORT" 2>/dev/null; then
  ( setup_failed "node exited $rc without a complete report (timeout after ${SUITE_TIMEOUT}s?)" )
  rc=1
fi
# Stop the server now, to see how it exits (and what a sanitizer says at exit).
kill -TERM "$SERVER_PID" 2>/dev/null
for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
  say "vial-server did not stop within 10 s of SIGTERM"; rc=1
else
  wait "$SERVER_PID"; src=$?
  ((src == 0)) || { say "vial-server exited with $src"; rc=1; }
  SERVER_PID=
fi
if grep -qE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$WORK/server.err"; then
  say "sanitizer report in vial-server's log:"
  grep -A30 -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$WORK/server.err" | head -60 >&2
  rc=1
fi
if ((rc != 0)); then
  say "last lines of vial-server's log:"; grep -v ' ACCESS ' "$WORK/server.err" | tail -15 >&2
fi
[[ -f $ARTIFACTS/explorer.png ]] && say "screenshot: $ARTIFACTS/explorer.png"
exit "$rc"
