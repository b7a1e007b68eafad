#!/usr/bin/env bash
# Installs the Debian packages vial needs, idempotently.
#   scripts/deps.sh build   compile libvial and vial-server
#   scripts/deps.sh test    + what `make test` needs
#   scripts/deps.sh bench   + load generator and peers
#   scripts/deps.sh docs    + the API reference generator (make docs)
#   scripts/deps.sh deb     + Debian packaging tools (make deb)
# Checks each package with dpkg -s and installs only what is missing.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libuv1-dev node-llhttp libjansson-dev libinih-dev
            libsqlite3-dev libpq-dev libsodium-dev libssl-dev libhiredis-dev zlib1g-dev
            libsystemd-dev)  # sd-daemon.h for its constants; libsystemd itself is dlopen'd under systemd only
test_pkgs=(libcmocka-dev clang llvm libclang-rt-14-dev python3-pytest python3-requests
           python3-websockets python3-psycopg2 python3-jwt python3-argon2 postgresql sqlite3 redis-server sqlmap
           prometheus   # prometheus: promtool checks the /metrics text (tests/api/test_metrics.py)
           doxygen      # the API reference is built, warnings failing, by ctest api_reference
           man-db       # man: tests/install renders the man pages with warnings on
           nginx systemd strace python3-seccomp python3-yaml nodejs npm)  # tests/deploy: nginx -t, systemd-analyze, the syscall filter
docs_pkgs=(doxygen)
# bench/ws.sh's peers (npm, for `npm ci` in bench/ws, comes with nodejs here, or is Debian's npm);
# valgrind: bench/metrics.sh's callgrind A/B.
bench_pkgs=(wrk nginx procps util-linux nodejs python3-flask-socketio python3-eventlet valgrind)
# `make deb`: dpkg-buildpackage and the checks of the packages it makes
deb_pkgs=(devscripts debhelper lintian fakeroot)

want=("${build_pkgs[@]}")
for what in "$@"; do
  case $what in
    build) ;;
    test) want+=("${test_pkgs[@]}") ;;
    bench) want+=("${bench_pkgs[@]}") ;;
    docs) want+=("${docs_pkgs[@]}") ;;
    deb) want+=("${deb_pkgs[@]}") ;;
    *) echo "deps.sh: unknown set '$what' (build, test, bench, docs, deb)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "vial needs these Debian packages: ${missing[*]}" >&2
    echo "install them as root:  apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "installing: ${missing[*]}" >&2
# Keep package scripts from starting services (nginx on :80, redis) here.
own_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  own_policy=1
fi
trap '((own_policy)) && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
