# shellcheck shell=bash
# bench/lib.sh: what every benchmark script shares (sourced, not run).
# Processes are found and stopped by PID only; CPU time is read from /proc.
# The scripts define log() (with their own prefix) and may redefine any of
# these after sourcing (auth.sh has its own proc_ticks).

die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- setup
bench_paths() {  # BINARY -> REPO, BUILD_DIR ($VIAL_BUILD_DIR, default ./build) and BIN
  REPO=$(cd "$HERE/.." && pwd)
  BUILD_DIR=${VIAL_BUILD_DIR:-$REPO/build}
  case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
  # shellcheck disable=SC2034  # read by the scripts
  BIN=$BUILD_DIR/$1
}
peers_dir() {  # -> PEERS_DIR: $PEERS_DIR, else ../shared/peers next to the checkout, else /work/shared/peers
  PEERS_DIR=${PEERS_DIR:-$REPO/../shared/peers}
  [[ -d $PEERS_DIR ]] || PEERS_DIR=/work/shared/peers
  PEERS_DIR=$(cd "$PEERS_DIR" 2>/dev/null && pwd || echo "$PEERS_DIR")
}
# The knobs every script reads, with the same defaults everywhere; the scripts
# set their own (ports, time limits, ...) after this.
common_knobs() {
  : "${SERVER_CPU:=1}" "${CLIENT_CPU:=0}" "${DURATION:=5s}" "${WARMUP:=1s}" "${RUNS:=3}"
  : "${FOREIGN_MAX:=5}"      # % of a core used by processes this run did not start
  : "${FOREIGN_RETRIES:=2}"  # extra tries for a measured run over that
  : "${RETRY_BUDGET:=8}"     # extra tries in the whole run
  : "${NICE:=}"              # e.g. -10: servers (and clusters) and clients at that nice value (off by default)
}
# Command prefixes: PIN_SRV/PIN_CLI put a process on the server/client core,
# PRIO adds `nice -n $NICE` when asked.  A script that does not pin (logs.sh,
# PLACEMENT=spread) empties the PIN_* arrays after this.
set_prefixes() {
  # shellcheck disable=SC2034  # PIN_CLI is for the scripts
  PIN_SRV=(taskset -c "$SERVER_CPU") PIN_CLI=(taskset -c "$CLIENT_CPU") PRIO=()
  [[ -n $NICE ]] && PRIO=(nice -n "$NICE")
  return 0
}

# ---------------------------------------------------------------- ports
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # first port from $1 up that nothing listens on
  local p=$1
  while port_open "$p"; do p=$((p + 1)); done
  echo "$p"
}

# ---------------------------------------------------------------- processes
descendants() {  # PID -> it and every process below it
  local p=$1 k
  echo "$p"
  for k in $(ps -o pid= --ppid "$p" 2>/dev/null); do descendants "$k"; done
}
stop_pids() {  # PID... : TERM, wait up to 3 s, then KILL
  local p _ alive
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null
  for _ in $(seq 30); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}
stop_server() {  # NAME: the server started as SRV_PID[NAME], its children and SRV_TREE[NAME]
  local name=$1 pids
  [[ -n ${SRV_PID[$name]:-} ]] || return 0
  pids="$(descendants "${SRV_PID[$name]}") ${SRV_TREE[$name]:-}"
  # shellcheck disable=SC2046,SC2086
  stop_pids $(printf '%s\n' $pids | sort -u)  # word splitting wanted: PIDs
  unset "SRV_PID[$name]" "SRV_TREE[$name]"
}
# The server runs in $OUT, behind PIN_SRV and PRIO, logging to $OUT/NAME.log.
# START_TRIES: tenths of a second to wait for its port; START_SETTLE: seconds
# to wait after that (gunicorn and nginx fork their workers after listening).
START_TRIES=150 START_SETTLE=0.5
declare -A SRV_PID=()   # name -> PID of the server (vial-bench, gunicorn or nginx master)
declare -A SRV_TREE=()  # name -> PIDs of its processes
declare -A SRV_PORT=()
start_server() {  # NAME PORT CMD...
  local name=$1 port=$2 pid _ t p bad=0
  shift 2
  port_open "$port" && { log "port $port in use"; return 1; }
  (cd "$OUT" && exec "${PIN_SRV[@]}" "${PRIO[@]}" "$@") >"$OUT/$name.log" 2>&1 &
  pid=$!
  SRV_PID[$name]=$pid
  # shellcheck disable=SC2034  # read by the scripts
  SRV_PORT[$name]=$port
  for _ in $(seq "$START_TRIES"); do
    port_open "$port" && break
    kill -0 "$pid" 2>/dev/null || { log "$name exited at start: $(tail -3 "$OUT/$name.log")"; return 1; }
    sleep 0.1
  done
  port_open "$port" || { log "$name is not listening on $port"; return 1; }
  sleep "$START_SETTLE"
  SRV_TREE[$name]=$(descendants "$pid" | tr '\n' ' ')
  if ((${#PIN_SRV[@]})); then
    for p in ${SRV_TREE[$name]}; do
      for t in /proc/"$p"/task/*; do
        [[ $(awk '/^Cpus_allowed_list/{print $2}' "$t/status" 2>/dev/null) == "$SERVER_CPU" ]] || bad=1
      done
    done
    ((bad)) && log "warning: a thread of $name is not pinned to CPU $SERVER_CPU"
  fi
  return 0
}
# Background helpers (BG_PIDS), a cluster (PG_STARTED, PGDIR) and SQLite files
# under $OUT (TEMP_DBS: names or globs, removed with their -wal and -shm) are
# for the scripts that have them.
WRK_PID="" WATCHDOG_PID="" BG_PIDS="" OUT="" PGDIR="" PG_STARTED=0 TEMP_DBS=""
cleanup() {  # on exit: the client, the helpers with their children, the servers, the cluster, the files
  local n p dbs
  [[ -n $WRK_PID ]] && stop_pids "$WRK_PID"
  for p in $BG_PIDS; do
    kill -0 "$p" 2>/dev/null || continue
    # shellcheck disable=SC2046
    stop_pids $(descendants "$p" | sort -u)
  done
  for n in "${!SRV_PID[@]}"; do stop_server "$n"; done
  pg_destroy
  read -ra dbs <<<"$TEMP_DBS"  # not globbed here: below, in $OUT
  if [[ -n $OUT ]]; then
    # shellcheck disable=SC2086  # $p may be a glob
    for p in "${dbs[@]}"; do rm -f "$OUT"/$p "$OUT"/$p-wal "$OUT"/$p-shm; done
  fi
  [[ -n $WATCHDOG_PID ]] && kill "$WATCHDOG_PID" 2>/dev/null && wait "$WATCHDOG_PID" 2>/dev/null
  return 0
}
# cleanup on exit, and a hard stop: one process that TERMs this shell after
# $MAX_SECONDS, itself stopped by PID on exit.
arm_cleanup() {
  trap cleanup EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "stopped (TERM or the ${MAX_SECONDS}s limit): results incomplete"; exit 124' TERM
  /usr/bin/python3 -c 'import os, signal, sys, time
time.sleep(float(sys.argv[1])); os.kill(int(sys.argv[2]), signal.SIGTERM)' "$MAX_SECONDS" $$ &
  WATCHDOG_PID=$!
}
pg_destroy() {  # the throwaway cluster of scripts/pg.sh, once PG_STARTED=1
  ((PG_STARTED)) || return 0
  local pm
  pm=$(pg_postmaster)
  "$REPO/scripts/pg.sh" destroy "$PGDIR" >/dev/null 2>&1
  # pg_ctl stop failed?  Stop the postmaster we started, by its PID.
  if [[ -n $pm ]] && kill -0 "$pm" 2>/dev/null &&
     [[ $(readlink "/proc/$pm/cwd" 2>/dev/null) == "$PGDIR/data" ]]; then
    kill -QUIT "$pm" 2>/dev/null; sleep 1; kill -KILL "$pm" 2>/dev/null
    rm -rf "$PGDIR"
  fi
  PG_STARTED=0
}
pg_postmaster() { [[ -n $PGDIR && -f $PGDIR/data/postmaster.pid ]] && head -1 "$PGDIR/data/postmaster.pid"; }
pg_pids() { local pm; pm=$(pg_postmaster) || return 0; [[ -n $pm ]] && descendants "$pm"; }

# ---------------------------------------------------------------- CPU time
proc_ticks() {  # PIDs -> utime+stime of all their threads, in clock ticks
  (($#)) || { echo 0; return; }
  local f=() p
  for p in "$@"; do f+=("/proc/$p/stat"); done
  # fields after "pid (comm) ": state=1 ... utime=12 stime=13 (comm may hold spaces)
  awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }' "${f[@]}" 2>/dev/null
}
proc_ticks_each() {  # PIDs -> "pid ticks" lines
  local p
  for p in "$@"; do
    awk -v p="$p" '{ sub(/^.*\) /, ""); print p, $12 + $13 }' "/proc/$p/stat" 2>/dev/null
  done
}
# Ticks of the PIDs in AFTER, less their ticks in BEFORE (0 for PIDs born in between).
ticks_delta() {  # BEFORE_FILE AFTER_FILE (proc_ticks_each output)
  awk 'NR == FNR { b[$1] = $2; next } { d += $2 - (($1 in b) ? b[$1] : 0) } END { print d + 0 }' "$1" "$2"
}
cpu_busy() {  # -> "busy_client busy_server" in clock ticks for $CLIENT_CPU and $SERVER_CPU
  awk -v c="cpu$CLIENT_CPU" -v s="cpu$SERVER_CPU" '
    $1 == c {cb = $2 + $3 + $4 + $7 + $8 + $9} $1 == s {sb = $2 + $3 + $4 + $7 + $8 + $9}
    END {print cb, sb}' /proc/stat
}
self_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' /proc/$$/stat; }  # this shell + reaped children
now_us() { echo "${EPOCHREALTIME/./}"; }

# ---------------------------------------------------------------- wrk output
parse_rps() { awk '/^Requests\/sec/{printf "%.0f", $2}' "$1"; }
parse_reqs() { awk '/ requests in /{n = $1} END {print n + 0}' "$1"; }
parse_errors() {  # socket errors + non-2xx responses
  awk '/Socket errors/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10} /Non-2xx/ {e += $5} END {print e + 0}' "$1"
}

# ---------------------------------------------------------------- numbers ("-" or "" means none)
median() { sort -g | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "-"}'; }
med() { tr ' ' '\n' <<<"${1:-}" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a != "-" && b != "-" && a != "" && a + 0 >= b + 0) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN{ exit !(a != "-" && b != "-" && a != "" && a + 0 <= b + 0) }'; }
close_call() {  # VALUE LIMIT -> note when within 3% of the limit
  awk -v r="$1" -v l="$2" 'BEGIN{ if (r != "-" && r != "" && r / l > 0.97 && r / l < 1.03) print " (within 3%: a tie on this machine)" }'
}
noisy() {  # COMBO... -> a note when one of them stayed over FOREIGN_MAX (R_FMAX)
  local k
  for k in "$@"; do ((${R_FMAX[$k]:-0} > FOREIGN_MAX)) && { echo " (noisy run: re-run to confirm)"; return; }; done
}

# ---------------------------------------------------------------- install (idempotent)
# The Debian packages of the list that are missing, with apt-get, as root or
# through passwordless sudo.  --no-services: package scripts may not start
# services (postgresql would start the system cluster).
install_deps() {  # [--no-services] PACKAGE...
  local no_services=0 missing=() p SUDO='' own_policy=0 rc
  [[ ${1:-} == --no-services ]] && { no_services=1; shift; }
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      SUDO=sudo
    else
      log "missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}"
      return 1
    fi
  fi
  log "installing: ${missing[*]}"
  if ((no_services)) && [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  rc=$?
  ((own_policy)) && $SUDO rm -f /usr/sbin/policy-rc.d
  ((rc == 0)) || log "apt-get failed ($rc)"
  return "$rc"
}
