#!/usr/bin/env bash
# The deployment suites of `make test` (scripts/test.sh runs this after the
# API tests, with the release build):
#
#   tests/deploy/run.sh [deploy|scale]...     both when none is named
#
#   deploy  test_deploy.py: deploy/ and the Dockerfile checked by the tools
#           that read them (nginx -t, systemd-analyze verify, the unit's
#           syscall filter under strace and seccomp, promtool, the Compose
#           schema, a real Prometheus evaluating the Grafana dashboard)
#   scale   test_scale.py: three vial-server instances behind nginx on one
#           PostgreSQL and one Redis of their own: consistency across
#           instances, kill -9 and rolling reloads under load, PostgreSQL and
#           Redis restarted.  Bounded (SUITE_TIMEOUT, default 170 s).
#
# Binaries from VIAL_BUILD_DIR (default <repo>/build); JUnit XML in
# REPORT_DIR (default <repo>/build/reports) as deploy.xml and scale.xml.
# Every process is started and stopped by PID.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export VIAL_BUILD_DIR=${VIAL_BUILD_DIR:-$ROOT/build}
REPORT_DIR=${REPORT_DIR:-$ROOT/build/reports}
mkdir -p "$REPORT_DIR"
suites=("$@")
((${#suites[@]})) || suites=(deploy scale)
rc=0
for s in "${suites[@]}"; do
  case $s in
    deploy) t=${SUITE_TIMEOUT:-170} ;;
    scale) t=${SUITE_TIMEOUT:-170} ;;
    *) echo "run.sh: unknown suite $s (deploy, scale)" >&2; exit 2 ;;
  esac
  # pytest is stopped (SIGTERM: its fixtures clean up) if it overruns.
  # -s: the scale suite prints what it measured.
  timeout -k 20 "$t" /usr/bin/python3 -m pytest "$HERE/test_$s.py" -q -s -p no:cacheprovider -rs \
    --junitxml="$REPORT_DIR/$s.xml" -o junit_suite_name="$s" -o junit_family=xunit1
  prc=$?
  ((prc)) && rc=1
  # A suite stopped by the timeout (or that could not start) leaves no
  # report: one failed case instead, so the summary counts it.
  if ! grep -q '</testsuite>' "$REPORT_DIR/$s.xml" 2>/dev/null; then
    printf '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="%s" tests="1" failures="1">
<testcase classname="%s" name="suite"><failure message="pytest exited %s without a report (timeout after %ss?)"/></testcase></testsuite></testsuites>\n' \
      "$s" "$s" "$prc" "$t" >"$REPORT_DIR/$s.xml"
  fi
done
exit $rc
