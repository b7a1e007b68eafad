#!/usr/bin/env bash
# `make test`: every suite, twice where it matters (plain and ASan+UBSan),
# then one closing line "N passed, N failed".  Exit status 0 only when
# nothing failed.  Reports (JUnit XML) land in build/reports/.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REPORTS=$ROOT/build/reports
JOBS=$(nproc 2>/dev/null || echo 2)
PY=/usr/bin/python3
FUZZ_TIME=${FUZZ_TIME:-15}

log() { printf '\n==> %s\n' "$*"; }
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
broken=()   # suites that could not even run

log "dependencies"
scripts/deps.sh test || { echo "cannot install test dependencies"; exit 1; }

build() {  # DIR [cmake args...]
  local dir=$1; shift
  mkdir -p "$REPORTS"
  if cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$REPORTS/$dir-build.log" 2>&1 &&
     cmake --build "$dir" -j"$JOBS" >>"$REPORTS/$dir-build.log" 2>&1; then
    return 0
  fi
  tail -40 "$REPORTS/$dir-build.log"
  return 1
}

unit() {  # BUILD_DIR NAME
  local dir=$1 name=$2
  log "unit tests ($name)"
  mkdir -p "$REPORTS/$name"
  (cd "$dir" && CMOCKA_MESSAGE_OUTPUT=xml CMOCKA_XML_FILE="$REPORTS/$name/%g.xml" \
     ctest --output-on-failure --output-junit "$REPORTS/$name-ctest.xml" -j"$JOBS")
}

api() {  # BUILD_DIR NAME
  local dir=$1 name=$2
  log "API tests ($name)"
  VIAL_BUILD_DIR="$ROOT/$dir" $PY -m pytest tests/api -q -p no:cacheprovider \
    --junitxml="$REPORTS/$name.xml" -o junit_suite_name="$name"
}

# vial installed into a temporary prefix, a `vial new` project built with
# pkg-config and CMake against it, served, and reloaded by `vial run --debug`
# (tests/install/test_install.py; test_deb.py, a package build, only with
# VIAL_TEST_DEB=1: `make deb-check`).
install_tests() {  # BUILD_DIR NAME
  local dir=$1 name=$2
  log "install tests ($name)"
  VIAL_BUILD_DIR="$ROOT/$dir" $PY -m pytest tests/install -q -p no:cacheprovider \
    --junitxml="$REPORTS/$name.xml" -o junit_suite_name="$name"
}

log "PostgreSQL (a throwaway cluster on a free loopback port)"
PGDIR=$ROOT/build/pg
scripts/pg.sh destroy "$PGDIR" >/dev/null 2>&1 || true
if VIAL_TEST_PG_URL=$(scripts/pg.sh start "$PGDIR"); then
  export VIAL_TEST_PG_URL VIAL_TEST_PG_DIR=$PGDIR
  echo "$VIAL_TEST_PG_URL"
else
  echo "cannot start PostgreSQL"; broken+=(postgresql)
fi

log "Redis (a throwaway server on a free loopback port)"
RDIR=$ROOT/build/redis
if VIAL_TEST_REDIS_URL=$(scripts/redis.sh start "$RDIR"); then
  export VIAL_TEST_REDIS_URL
  echo "$VIAL_TEST_REDIS_URL"
else
  echo "cannot start Redis"; broken+=(redis)
fi
trap 'scripts/pg.sh destroy "$PGDIR" >/dev/null 2>&1; scripts/redis.sh stop "$RDIR" >/dev/null 2>&1' EXIT

log "build (release)"
if build build; then
  unit build unit
  api build api
  install_tests build install
else
  echo "release build failed"; broken+=(build)
fi

if [[ -x tests/deploy/run.sh ]] && [[ ! " ${broken[*]} " =~ " build " ]]; then
  log "deployment files (nginx, systemd, Prometheus, Grafana, Compose, Docker)"
  VIAL_BUILD_DIR="$ROOT/build" REPORT_DIR="$REPORTS" tests/deploy/run.sh deploy || true
  log "scale-out: 3 instances, nginx, PostgreSQL, Redis"
  VIAL_BUILD_DIR="$ROOT/build" REPORT_DIR="$REPORTS" tests/deploy/run.sh scale || true
fi

log "build (ASan+UBSan)"
if build build-asan -DVIAL_SANITIZE=ON; then
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  unit build-asan unit-asan
  api build-asan api-asan
  install_tests build-asan install-asan
  unset ASAN_OPTIONS UBSAN_OPTIONS
else
  echo "sanitizer build failed"; broken+=(build-asan)
fi

if [[ -x scripts/fuzz.sh ]]; then
  log "fuzzing (${FUZZ_TIME}s per target, regressions replayed)"
  FUZZ_TIME=$FUZZ_TIME REPORT="$REPORTS/fuzz.xml" scripts/fuzz.sh || true
fi

if [[ -x tests/browser/run.sh ]]; then
  log "browser tests"
  VIAL_BUILD_DIR="$ROOT/build" REPORT="$REPORTS/browser.xml" tests/browser/run.sh || true
fi

log "summary"
$PY scripts/summarize.py "$REPORTS" "${broken[@]}"
