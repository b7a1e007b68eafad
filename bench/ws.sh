#!/usr/bin/env bash
# bench/ws.sh: WebSocket echo, broadcast fan-out and idle connections (issue 11): vial
# against Node's ws and Flask-SocketIO, side by side in the same run, on this 2-core machine.
#
#   bench/ws.sh                                  # uses ./build/examples/ws_echo and ./build/ws-load
#   VIAL_BUILD_DIR=build-bench bench/ws.sh       # another build directory
#   SERVERS="vial node" MODES=rt bench/ws.sh     # a subset
#   MODES= IDLE_SERVERS= bench/ws.sh             # the fan-out alone (FANOUT_SUBS= skips it)
#
# The servers, each pinned to CPU $SERVER_CPU, one event loop each:
#   vial   examples/ws_echo.c --workers 1 --no-access-log   (vial_ws_send of every message)
#   node   bench/ws/node_echo.js: npm ws 8 (+ bufferutil), `npm ci` in bench/ws
#   flask  bench/ws/flask_echo.py: Flask-SocketIO 5 (Debian), eventlet, an "echo" event
#          handler that emit()s the data back (Socket.IO over the websocket transport
#          alone: Flask-SocketIO has no bare WebSocket endpoint, see bench/README.md)
# The client, bench/ws_load.c (ws-load, C on libuv), pinned to CPU $CLIENT_CPU, opens
# $CONNS connections, then each keeps DEPTH messages in flight until it sent its
# count; every echo is checked (bytes and order; mismatches are printed).  Modes:
#   rt      DEPTH 1: round trips, a message goes out when the last echo came back
#   pipe16  DEPTH 16: 16 messages in flight per connection (the server reads several
#           frames at once and may write their echoes together)
# Around the message phase (not the handshakes) ws-load reads the server's utime+stime
# (/proc/PID/stat, all threads) and its own: server CPU per message ranks the servers
# when one client core is the limit.  Per (server, mode): a warm-up, then $RUNS runs
# interleaved across servers, medians; each run is bounded in messages ($MSGS per
# connection, fewer for flask, which is ~40x slower) and in time ($RUN_LIMIT s).
# Foreign load (what else used the cores) is measured around each run as in run.sh;
# a noisy run is measured again, then flagged.
# Fan-out: per server and subscriber count ($FANOUT_SUBS: 1,000 and 10,000) a fresh
# instance of its broadcast endpoint (vial examples/ws_broadcast.c: every connection
# subscribes to one topic, every message is vial_publish()ed to it; node
# bench/ws/node_broadcast.js: wss.clients.forEach(c => c.send(m)); flask
# bench/ws/flask_broadcast.py: emit("msg", data, broadcast=True)); ws-load --fanout opens
# N subscribers (bounded by $FANOUT_CONNECT_LIMIT s: what a server reached is reported),
# the first also publishes, $FANOUT_WINDOW messages in flight at most; every subscriber
# must get every message once, in order, intact.  A warm-up round, then $RUNS rounds
# on the same connections ($FANOUT_MSGS messages at 1,000 subscribers, a tenth of that at
# 10,000; Flask $FANOUT_MSGS_FLASK), each bounded by $FANOUT_LIMIT s: server CPU per
# delivery (/proc/PID/stat around each round), deliveries/s, p99 publish-to-receive.
# Idle: per server a fresh instance, its RSS at rest, then $IDLE_CONNS WebSocket
# connections opened (every handshake completed) and held idle, RSS again.
#
# stdout: the report; stderr: progress; raw output: a temp dir ($BENCH_OUT).  Budgets
# (issue 11: messages per server CPU second >= 3x node and >= 30x flask, echo and fan-out; 10,000 idle
# connections <= 64 MiB above idle) print as PASS/OVER; the exit status is 0 whenever
# the harness ran.  It stops itself after $MAX_SECONDS and stops what it started by PID.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_paths examples/ws_echo
LOAD=$BUILD_DIR/ws-load
common_knobs  # SERVER_CPU CLIENT_CPU DURATION WARMUP RUNS FOREIGN_MAX FOREIGN_RETRIES RETRY_BUDGET NICE

SERVERS=${SERVERS:-vial node flask}
MODES=${MODES-rt pipe16}  # set but empty: no echo
CONNS=${CONNS:-64}
SIZE=${SIZE:-64}                      # payload bytes (Socket.IO adds its 13-byte event wrapper)
MSGS=${MSGS:-4000}                    # messages per connection and run (vial, node) in rt
MSGS_PIPE=${MSGS_PIPE:-10000}         # the same in pipe16
MSGS_FLASK=${MSGS_FLASK:-150}         # flask, rt
MSGS_FLASK_PIPE=${MSGS_FLASK_PIPE:-300}
RUN_LIMIT=${RUN_LIMIT:-20}            # seconds: a run stops there (complete=0 in the raw line)
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_SERVERS=${IDLE_SERVERS-$SERVERS}  # set but empty: no idle phase
FANOUT_SUBS=${FANOUT_SUBS-1000 10000}   # subscriber counts; empty: no fan-out
FANOUT_MSGS=${FANOUT_MSGS:-300}         # messages per round at 1,000 subscribers (vial, node); x1000/N
FANOUT_MSGS_FLASK=${FANOUT_MSGS_FLASK:-40}  # the same for flask (~x50 slower per delivery)
FANOUT_WINDOW=${FANOUT_WINDOW:-8}       # published messages not yet received by every subscriber
FANOUT_LIMIT=${FANOUT_LIMIT:-30}        # seconds per round
FANOUT_CONNECT_LIMIT=${FANOUT_CONNECT_LIMIT:-90}  # seconds for every subscriber's handshake
PORT_BASE=${PORT_BASE:-18490}
RETRY_UNTIL=${RETRY_UNTIL:-600}       # no retries once the run is this many seconds old
MAX_SECONDS=${MAX_SECONDS:-900}       # hard stop for the whole run
BUDGET_NODE=3
BUDGET_FLASK=30
BUDGET_IDLE_MIB=64

log() { printf '[bench-ws] %s\n' "$*" >&2; }
T0=$SECONDS
HZ=$(getconf CLK_TCK)
set_prefixes
# shellcheck disable=SC2034  # read by start_server (lib.sh)
START_TRIES=150 START_SETTLE=0.3

arm_cleanup

# ---------------------------------------------------------------- preflight
[[ -x $BIN ]] || die "no $BIN: build it first (cmake --build <dir> --target ws_echo ws-load; VIAL_BUILD_DIR=<dir>)"
[[ -x $LOAD ]] || die "no $LOAD: build it first (cmake --build <dir> --target ws-load)"
[[ -z $FANOUT_SUBS || -x $BUILD_DIR/examples/ws_broadcast ]] ||
  die "no $BUILD_DIR/examples/ws_broadcast: build it first (cmake --build <dir> --target ws_broadcast)"
for t in taskset awk; do command -v "$t" >/dev/null || die "missing $t: run scripts/deps.sh bench"; done
(($(getconf _NPROCESSORS_ONLN) > SERVER_CPU && $(getconf _NPROCESSORS_ONLN) > CLIENT_CPU)) ||
  die "needs CPUs $CLIENT_CPU and $SERVER_CPU"
for m in $MODES; do [[ $m == rt || $m =~ ^pipe[0-9]+$ ]] || die "MODES: '$m' is not rt or pipe<N>"; done
want_node=0
[[ " $SERVERS $IDLE_SERVERS " == *" node "* ]] && want_node=1
if ((want_node)); then
  if ! command -v node >/dev/null; then
    log "node not found (apt-get install nodejs npm): no node peer"
    SERVERS=${SERVERS//node/} IDLE_SERVERS=${IDLE_SERVERS//node/}
  elif [[ ! -d $HERE/ws/node_modules/ws ]]; then
    log "installing the node peer's packages (npm ci in bench/ws)"
    (cd "$HERE/ws" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
      { log "npm ci failed: no node peer"; SERVERS=${SERVERS//node/} IDLE_SERVERS=${IDLE_SERVERS//node/}; }
  fi
fi
if [[ " $SERVERS $IDLE_SERVERS " == *" flask "* ]] &&
   ! /usr/bin/python3 -c 'import flask_socketio, eventlet' 2>/dev/null; then
  log "python3-flask-socketio or python3-eventlet missing (scripts/deps.sh bench): no flask peer"
  SERVERS=${SERVERS//flask/} IDLE_SERVERS=${IDLE_SERVERS//flask/}
fi
read -ra SERVERS <<<"$SERVERS"
read -ra IDLE_SERVERS <<<"$IDLE_SERVERS"
OUT=${BENCH_OUT:-$(mktemp -d /tmp/vial-bench-ws.XXXXXX)}
mkdir -p "$OUT"
REPORT=$OUT/report.txt
taskset -p -c "$CLIENT_CPU" $$ >/dev/null  # the harness stays on the client core
# 10,000 connections: as many descriptors for the servers, which inherit this limit.
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
(($(ulimit -Sn) > IDLE_CONNS + 100)) || log "warning: ulimit -n $(ulimit -Sn) is below $IDLE_CONNS connections"

start_kind() {  # KIND INSTANCE PORT [echo|broadcast]
  local kind=$1 inst=$2 port=$3 what=${4:-echo}
  case $kind in
    vial) start_server "$inst" "$port" "$BUILD_DIR/examples/ws_$what" --workers 1 --host 127.0.0.1 --port "$port" --no-access-log ;;
    node) start_server "$inst" "$port" node "$HERE/ws/node_$what.js" "$port" ;;
    flask) start_server "$inst" "$port" /usr/bin/python3 "$HERE/ws/flask_$what.py" "$port" eventlet ;;
  esac
}
proto_of() { [[ $1 == flask* ]] && echo socketio || echo ws; }
path_of() { [[ $1 == flask* ]] && echo '/socket.io/?EIO=4&transport=websocket' || echo /echo; }
depth_of() { [[ $1 == rt ]] && echo 1 || echo "${1#pipe}"; }
msgs_of() {  # SERVER MODE
  if [[ $1 == flask* ]]; then [[ $2 == rt ]] && echo "$MSGS_FLASK" || echo "$MSGS_FLASK_PIPE"
  else [[ $2 == rt ]] && echo "$MSGS" || echo "$MSGS_PIPE"; fi
}
rss_kib() {  # PIDs -> VmRSS summed
  local p kb=0 v
  for p in "$@"; do
    v=$(awk '/^VmRSS/{print $2}' /proc/"$p"/status 2>/dev/null)
    kb=$((kb + ${v:-0}))
  done
  echo "$kb"
}
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$1" | head -1; }  # FILE KEY -> value on the result line

load() {  # SERVER MODE MSGS OUTFILE [more ws-load flags]
  local s=$1 m=$2 n=$3 out=$4 pids=() p
  shift 4
  # shellcheck disable=SC2086
  for p in ${SRV_TREE[$s]}; do pids+=(--pid "$p"); done
  timeout $((RUN_LIMIT + 30)) taskset -c "$CLIENT_CPU" "${PRIO[@]}" "$LOAD" --port "${SRV_PORT[$s]}" \
    --proto "$(proto_of "$s")" --path "$(path_of "$s")" --conns "$CONNS" --depth "$(depth_of "$m")" \
    --size "$SIZE" --msgs "$n" --time-limit "$RUN_LIMIT" "${pids[@]}" "$@" >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID"
  WRK_PID=""
}

{
  echo "# vial bench ws  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "# $(uname -r), $(getconf _NPROCESSORS_ONLN) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# servers on CPU $SERVER_CPU: vial $BIN (fan-out: examples/ws_broadcast) --workers 1; node $(node -v 2>/dev/null) ws $(node -p 'require(process.argv[1]).version' "$HERE/ws/node_modules/ws/package.json" 2>/dev/null);" \
    "flask-socketio $(/usr/bin/python3 -c 'import importlib.metadata as m; print(m.version("flask-socketio"), "eventlet", m.version("eventlet"))' 2>/dev/null)"
  [[ -n $FANOUT_SUBS ]] && echo "# fan-out: $FANOUT_SUBS subscribers, window $FANOUT_WINDOW, $SIZE-byte messages," \
    "per round vial/node $FANOUT_MSGS x 1000/N, flask $FANOUT_MSGS_FLASK x 1000/N (at least 5); warm-up + $RUNS rounds on one set of connections"
  echo "# ws-load on CPU $CLIENT_CPU: echo $CONNS connections, $SIZE-byte text messages, messages per connection and run:" \
    "vial/node rt $MSGS, pipe $MSGS_PIPE; flask rt $MSGS_FLASK, pipe $MSGS_FLASK_PIPE; bounded at $RUN_LIMIT s; warm-up, median of $RUNS runs, interleaved"
  [[ -n $NICE ]] && echo "# servers and client at nice $NICE (NICE)"
} | tee "$REPORT"

# ---------------------------------------------------------------- idle connections
declare -A RSS_IDLE=() RSS_HELD=() IDLE_NOTE=()
idle_phase() {  # KIND
  local kind=$1 inst="$1-idle" port status ready="" i
  port=$(free_port $((PORT_BASE + 10)))
  start_kind "$kind" "$inst" "$port" || { IDLE_NOTE[$kind]="did not start"; stop_server "$inst"; return; }
  load "$inst" rt 1 "$OUT/$kind.idle-check.txt"  # one echo each on $CONNS connections: the server is warm
  sleep 0.5
  # shellcheck disable=SC2086
  RSS_IDLE[$kind]=$(rss_kib ${SRV_TREE[$inst]})
  log "$kind: RSS $(mib "${RSS_IDLE[$kind]}") MiB; opening $IDLE_CONNS WebSocket connections"
  status=$OUT/$kind.idle.txt
  : >"$status"
  taskset -c "$CLIENT_CPU" "$LOAD" --port "$port" --proto "$(proto_of "$kind")" --path "$(path_of "$kind")" \
    --conns "$IDLE_CONNS" --idle --hold 120 --status "$status" >"$status.log" 2>&1 &
  BG_PIDS=$!
  for i in $(seq 1200); do  # up to 120 s: flask completes a few hundred handshakes per second
    ready=$(grep '^ready' "$status")
    [[ -n $ready ]] && break
    kill -0 "$BG_PIDS" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -n $ready ]]; then
    sleep 1  # what the last handshakes allocated, settled
    # shellcheck disable=SC2086
    RSS_HELD[$kind]=$(rss_kib ${SRV_TREE[$inst]})
    IDLE_NOTE[$kind]=${ready#ready }
  else
    IDLE_NOTE[$kind]="ws-load --idle did not finish: $(tail -2 "$status.log" | tr '\n' ' ')"
  fi
  stop_pids "$BG_PIDS"
  BG_PIDS=""
  i=$(grep '^end' "$status")
  [[ -n $i ]] && IDLE_NOTE[$kind]+=", at close: ${i#end }"
  kill -0 "${SRV_PID[$inst]}" 2>/dev/null || IDLE_NOTE[$kind]+=", SERVER DIED"
  stop_server "$inst"
}
for s in "${IDLE_SERVERS[@]}"; do idle_phase "$s"; done

# ---------------------------------------------------------------- echo
port=$PORT_BASE
ECHO_SERVERS=()
[[ -n ${MODES// /} ]] && ECHO_SERVERS=("${SERVERS[@]}")
for s in "${ECHO_SERVERS[@]}"; do
  port=$(free_port "$port")
  start_kind "$s" "$s" "$port" || die "$s did not start (log: $OUT/$s.log)"
  port=$((port + 1))
  load "$s" rt 10 "$OUT/$s.check.txt"
  [[ $(field "$OUT/$s.check.txt" recv) == $((CONNS * 10)) && $(field "$OUT/$s.check.txt" mismatches) == 0 ]] ||
    die "$s: the echo check failed: $(head -2 "$OUT/$s.check.txt" | tr '\n' ' ')"
  echo "# check $s: $CONNS connections x 10 messages echoed intact" | tee -a "$REPORT"
done
COMBOS=()
for m in $MODES; do for s in "${SERVERS[@]}"; do COMBOS+=("$s $m"); done; done

declare -A R_MPS=() R_P50=() R_P99=() R_US=() R_UU=() R_CU=() R_SB=() R_FMAX=() R_BAD=() R_NOTE=()
one_run() {  # COMBO RUN: of several tries, the least noisy one is kept
  local k=$1 i=$2 s=${1% *} m=${1#* } out try f el stolen n
  local c0 sb0 c1 sb1 p0 p1 x0 x1 w0 w1 best=-1 b_f b_sb b_el
  out="$OUT/${k// /.}.run$i"
  for try in $(seq 0 "$FOREIGN_RETRIES"); do
    x0=$(self_ticks); read -r c0 sb0 < <(cpu_busy)
    # shellcheck disable=SC2086
    p0=$(proc_ticks ${SRV_TREE[$s]}); w0=$(now_us)
    load "$s" "$m" "$(msgs_of "$s" "$m")" "$out.try$try.txt"
    w1=$(now_us)
    # shellcheck disable=SC2086
    p1=$(proc_ticks ${SRV_TREE[$s]}); read -r c1 sb1 < <(cpu_busy); x1=$(self_ticks)
    el=$(((w1 - w0) * HZ / 1000000))
    ((el > 0)) || el=1
    f=$(((c1 - c0 + sb1 - sb0 - (p1 - p0) - (x1 - x0)) * 100 / el))
    ((f < 0)) && f=0
    stolen=$((((p1 - p0) - (sb1 - sb0)) * 100 / el))  # hidden steal, as in run.sh
    ((stolen > 0)) && f=$((f + stolen))
    echo "$k run$i try$try foreign=${f}% (hidden steal ${stolen}%) server_core=$(((sb1 - sb0) * 100 / el))%" >>"$OUT/foreign.txt"
    if ((best < 0 || f < b_f)); then best=$try b_f=$f b_sb=$((sb1 - sb0)) b_el=$el; fi
    ((f <= FOREIGN_MAX || try >= FOREIGN_RETRIES || RETRY_BUDGET <= 0 || SECONDS - T0 > RETRY_UNTIL)) && break
    RETRY_BUDGET=$((RETRY_BUDGET - 1))
    log "$k run $i: other load took ${f}% of a core, measuring again"
  done
  out="$out.try$best.txt"
  n=$(field "$out" recv)
  if [[ -z $n ]]; then
    R_NOTE[$k]="run $i: $(head -c 200 "$out")"
  else
    R_MPS[$k]+="$(field "$out" msgs_per_s) "
    R_P50[$k]+="$(field "$out" p50_us) "
    R_P99[$k]+="$(field "$out" p99_us) "
    R_US[$k]+="$(field "$out" srv_us_per_msg) "
    R_UU[$k]+="$(field "$out" srv_user_us_per_msg) "
    R_CU[$k]+="$(field "$out" cli_us_per_msg) "
    R_BAD[$k]=$((${R_BAD[$k]:-0} + $(field "$out" mismatches) + $(field "$out" errors)))
    [[ $(field "$out" complete) == 1 ]] || R_NOTE[$k]="run $i incomplete: $n of $((CONNS * $(msgs_of "$s" "$m"))) echoes in ${RUN_LIMIT}s"
  fi
  R_SB[$k]+="$((b_sb * 100 / b_el)) "
  ((b_f > ${R_FMAX[$k]:-0})) && R_FMAX[$k]=$b_f
  kill -0 "${SRV_PID[$s]}" 2>/dev/null || die "$s died during $k (log: $OUT/$s.log)"
}
for i in $(seq "$RUNS"); do
  for k in "${COMBOS[@]}"; do
    s=${k% *} m=${k#* }
    if ((i == 1)); then
      log "$k: warm-up"
      load "$s" "$m" $(($(msgs_of "$s" "$m") / 4 + 1)) "$OUT/warmup.txt"
    fi
    log "$k: run $i/$RUNS"
    one_run "$k" "$i"
  done
done
for s in "${ECHO_SERVERS[@]}"; do stop_server "$s"; done

# ---------------------------------------------------------------- fan-out
declare -A F_REACH=() F_CONN=() F_DPS=() F_P50=() F_P99=() F_US=() F_UU=() F_CU=() F_BAD=() F_FOR=() F_NOTE=()
fanout_msgs() {  # SERVER SUBS -> messages per round: the same number of deliveries at any N
  local base=$FANOUT_MSGS n
  [[ $1 == flask ]] && base=$FANOUT_MSGS_FLASK
  n=$((base * 1000 / $2))
  ((n < 5)) && n=5
  echo "$n"
}
fanout_phase() {  # KIND SUBS: a fresh instance, ws-load --fanout with a warm-up and $RUNS rounds
  local kind=$1 n=$2 k="$1 $2" inst="$1-fan$2" port out path pids=() p c0 sb0 c1 sb1 p0 p1 x0 x1 w0 w1 el f line
  port=$(free_port $((PORT_BASE + 20)))
  start_kind "$kind" "$inst" "$port" broadcast || { F_NOTE[$k]="did not start"; stop_server "$inst"; return; }
  # shellcheck disable=SC2086
  for p in ${SRV_TREE[$inst]}; do pids+=(--pid "$p"); done
  out=$OUT/$kind.fanout$n.txt
  path=/broadcast
  [[ $kind == flask ]] && path=$(path_of flask)
  log "$k: fan-out, $n subscribers, $(fanout_msgs "$kind" "$n") messages per round"
  x0=$(self_ticks); read -r c0 sb0 < <(cpu_busy)
  # shellcheck disable=SC2086
  p0=$(proc_ticks ${SRV_TREE[$inst]}); w0=$(now_us)
  timeout $((FANOUT_CONNECT_LIMIT + (RUNS + 1) * FANOUT_LIMIT + 30)) taskset -c "$CLIENT_CPU" "${PRIO[@]}" "$LOAD" \
    --port "$port" --proto "$(proto_of "$kind")" --fanout --conns "$n" --msgs "$(fanout_msgs "$kind" "$n")" \
    --rounds "$RUNS" --window "$FANOUT_WINDOW" --size "$SIZE" --time-limit "$FANOUT_LIMIT" \
    --connect-limit "$FANOUT_CONNECT_LIMIT" ${pids[@]+"${pids[@]}"} \
    --path "$path" >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID"
  WRK_PID=""
  w1=$(now_us)
  # shellcheck disable=SC2086
  p1=$(proc_ticks ${SRV_TREE[$inst]}); read -r c1 sb1 < <(cpu_busy); x1=$(self_ticks)
  el=$(((w1 - w0) * HZ / 1000000)); ((el > 0)) || el=1
  f=$(((c1 - c0 + sb1 - sb0 - (p1 - p0) - (x1 - x0)) * 100 / el)); ((f < 0)) && f=0
  F_FOR[$k]=$f
  echo "$k fanout foreign=${f}% server_core=$(((sb1 - sb0) * 100 / el))%" >>"$OUT/foreign.txt"
  while read -r line; do
    F_REACH[$k]=$(sed -n 's/.* subs=\([0-9]*\).*/\1/p' <<<"$line")
    F_CONN[$k]=$(sed -n 's/.* connect_secs=\([^ ]*\).*/\1/p' <<<"$line")
    F_DPS[$k]+="$(sed -n 's/.* deliveries_per_s=\([^ ]*\).*/\1/p' <<<"$line") "
    F_P50[$k]+="$(sed -n 's/.* p50_us=\([^ ]*\).*/\1/p' <<<"$line") "
    F_P99[$k]+="$(sed -n 's/.* p99_us=\([^ ]*\).*/\1/p' <<<"$line") "
    F_US[$k]+="$(sed -n 's/.* srv_us_per_msg=\([^ ]*\).*/\1/p' <<<"$line") "
    F_UU[$k]+="$(sed -n 's/.* srv_user_us_per_msg=\([^ ]*\).*/\1/p' <<<"$line") "
    F_CU[$k]+="$(sed -n 's/.* cli_us_per_msg=\([^ ]*\).*/\1/p' <<<"$line") "
    F_BAD[$k]=$((${F_BAD[$k]:-0} + $(sed -n 's/.* mismatches=\([0-9]*\) errors=\([0-9]*\).*/\1 + \2/p' <<<"$line")))
    [[ $line == *complete=1* ]] ||
      F_NOTE[$k]="${F_NOTE[$k]:+${F_NOTE[$k]}; }$(sed -n 's/.* round=\([0-9]*\).* expected=\([0-9]*\) recv=\([0-9]*\).*/round \1 incomplete: \3 of \2 deliveries/p' <<<"$line") in ${FANOUT_LIMIT}s"
  done < <(grep -E '^(result|warmup) ' "$out" | grep -v '^warmup')
  [[ -n ${F_REACH[$k]:-} ]] || F_NOTE[$k]="no result: $(tail -2 "$out" | tr '\n' ' ' | head -c 200)"
  [[ -n ${F_REACH[$k]:-} && ${F_REACH[$k]} -lt $n ]] &&
    F_NOTE[$k]="${F_NOTE[$k]:+${F_NOTE[$k]}; }HELD ONLY ${F_REACH[$k]} OF $n SUBSCRIBERS within ${FANOUT_CONNECT_LIMIT}s (measured with those)"
  grep -q '^first_error' "$out" && F_NOTE[$k]="${F_NOTE[$k]:+${F_NOTE[$k]}; }$(grep -m1 '^first_error' "$out" | head -c 160)"
  kill -0 "${SRV_PID[$inst]}" 2>/dev/null || F_NOTE[$k]+=" SERVER DIED"
  stop_server "$inst"
}
FAN_COMBOS=()
for n in $FANOUT_SUBS; do
  for s in "${SERVERS[@]}"; do FAN_COMBOS+=("$s $n"); fanout_phase "$s" "$n"; done
done

# ---------------------------------------------------------------- report
declare -A M_MPS=() M_US=()
FMT='%-6s %-7s %9s %9s %9s %11s %12s %11s %10s %6s %8s  %s\n'
{
  if ((${#COMBOS[@]})); then
  echo
  echo "## Echo: messages per second and server CPU per message (medians of $RUNS runs)"
  printf "$FMT" server mode msgs/s p50_us p99_us srv_us/msg user_us/msg cli_us/msg srv_core% bad foreign% note
  for k in "${COMBOS[@]}"; do
    M_MPS[$k]=$(med "${R_MPS[$k]:-}")
    M_US[$k]=$(med "${R_US[$k]:-}")
    note=${R_NOTE[$k]:-}
    ((${R_FMAX[$k]:-0} > FOREIGN_MAX)) && note="${note:+$note; }NOISY: other load took ${R_FMAX[$k]}% of a core"
    ((${R_BAD[$k]:-0} > 0)) && note="${note:+$note; }MISMATCHES OR ERRORS"
    printf "$FMT" "${k% *}" "${k#* }" "${M_MPS[$k]}" "$(med "${R_P50[$k]:-}")" "$(med "${R_P99[$k]:-}")" \
      "${M_US[$k]}" "$(med "${R_UU[$k]:-}")" "$(med "${R_CU[$k]:-}")" "$(med "${R_SB[$k]:-}")" "${R_BAD[$k]:-0}" "${R_FMAX[$k]:-0}" "$note"
  done
  echo "# latency: from the write carrying a message to the read bringing its echo (client queueing included)"
  echo "# srv_us/msg: the server's utime+stime over the message phase / echoes received; user_us/msg: its utime alone"
  echo "#   (the rest is the kernel: one read and one write per message in rt, the same for every server); cli_us/msg: ws-load's"
  echo "# bad: mismatched, missing or reordered echoes plus connection errors, over all runs"
  echo "# per-run msgs/s | srv_us/msg:"
  for k in "${COMBOS[@]}"; do printf '#   %-14s %s| %s\n' "$k" "${R_MPS[$k]:-}" "${R_US[$k]:-}"; done

  echo
  echo "## Ratios (vial / peer, from the medians): msgs/s, and messages per server CPU second (= peer srv_us/msg / vial's)"
  for m in $MODES; do
    for p in "${SERVERS[@]}"; do
      [[ $p == vial ]] && continue
      printf 'vial/%-6s %-7s msgs/s x%-8s msgs per server CPU second x%s\n' "$p" "$m" \
        "$(ratio "${M_MPS[vial $m]:-}" "${M_MPS[$p $m]:-}")" "$(ratio "${M_US[$p $m]:-}" "${M_US[vial $m]:-}")"
    done
  done
  fi

  declare -A FM_US=() FM_DPS=()
  if ((${#FAN_COMBOS[@]})); then
  echo
  echo "## Fan-out: N subscribers of one topic, one of them publishing (medians of $RUNS rounds, window $FANOUT_WINDOW)"
  FFMT='%-6s %6s %13s %11s %10s %10s %13s %12s %11s %5s %8s  %s
'
  printf "$FFMT" server subs reached_in deliveries/s p50_us p99_us srv_us/deliv user_us/deliv cli_us/deliv bad foreign% note
  for k in "${FAN_COMBOS[@]}"; do
    FM_US[$k]=$(med "${F_US[$k]:-}")
    FM_DPS[$k]=$(med "${F_DPS[$k]:-}")
    note=${F_NOTE[$k]:-}
    ((${F_FOR[$k]:-0} > FOREIGN_MAX)) && note="${note:+$note; }NOISY: other load took ${F_FOR[$k]}% of a core"
    ((${F_BAD[$k]:-0} > 0)) && note="${note:+$note; }MISSING, DUPLICATED, REORDERED OR CHANGED DELIVERIES OR ERRORS"
    printf "$FFMT" "${k% *}" "${k#* }" "${F_REACH[$k]:--}${F_CONN[$k]:+ in ${F_CONN[$k]}s}" "${FM_DPS[$k]}" "$(med "${F_P50[$k]:-}")" "$(med "${F_P99[$k]:-}")" \
      "${FM_US[$k]}" "$(med "${F_UU[$k]:-}")" "$(med "${F_CU[$k]:-}")" "${F_BAD[$k]:-0}" "${F_FOR[$k]:-0}" "$note"
  done
  echo "# a delivery: one message received by one subscriber; srv_us/deliv: the server's utime+stime over a round /"
  echo "#   deliveries; latency: from the publisher's write (its clock in the payload) to each subscriber's read, with up to"
  echo "#   $FANOUT_WINDOW messages x N subscribers queued (so p99 grows with N and the window); reached: subscribers"
  echo "#   whose handshake completed within ${FANOUT_CONNECT_LIMIT}s (the rounds ran with those); foreign%: over the whole ws-load run"
  echo "# per-round deliveries/s | srv_us/deliv | p99_us:"
  for k in "${FAN_COMBOS[@]}"; do printf '#   %-12s %s| %s| %s\n' "$k" "${F_DPS[$k]:-}" "${F_US[$k]:-}" "${F_P99[$k]:-}"; done
  echo
  echo "## Fan-out ratios (vial / peer, from the medians): deliveries/s, and deliveries per server CPU second"
  for n in $FANOUT_SUBS; do
    for p in "${SERVERS[@]}"; do
      [[ $p == vial ]] && continue
      printf 'vial/%-6s %6s subscribers  deliveries/s x%-8s deliveries per server CPU second x%s\n' "$p" "$n" \
        "$(ratio "${FM_DPS[vial $n]:-}" "${FM_DPS[$p $n]:-}")" "$(ratio "${FM_US[$p $n]:-}" "${FM_US[vial $n]:-}")"
    done
  done
  fi

  if ((${#IDLE_SERVERS[@]})); then
  echo
  echo "## Idle: $IDLE_CONNS WebSocket connections held open (VmRSS of the server's processes; fresh instances)"
  printf '%-6s %9s %13s %10s  %s\n' server idle_MiB "held_MiB" delta_MiB ws-load
  for s in "${IDLE_SERVERS[@]}"; do
    if [[ -n ${RSS_HELD[$s]:-} ]]; then
      printf '%-6s %9s %13s %10s  %s\n' "$s" "$(mib "${RSS_IDLE[$s]}")" "$(mib "${RSS_HELD[$s]}")" \
        "$(mib $((RSS_HELD[$s] - RSS_IDLE[$s])))" "${IDLE_NOTE[$s]}"
    else
      printf '%-6s %9s %13s %10s  %s\n' "$s" "$(mib "${RSS_IDLE[$s]:-0}")" - - "${IDLE_NOTE[$s]:-}"
    fi
  done
  fi

  echo
  echo "## Budgets (issue 11; PASS/OVER as measured in this run, never an exit status)"
  for m in $MODES; do
    for pb in "node $BUDGET_NODE" "flask $BUDGET_FLASK"; do
      p=${pb% *} b=${pb#* }
      [[ " ${SERVERS[*]} " == *" $p "* && " ${SERVERS[*]} " == *" vial "* ]] || continue
      r=$(ratio "${M_US[$p $m]:-}" "${M_US[vial $m]:-}")
      v=OVER; ge "$r" "$b" && v=PASS
      noisy=""
      ((${R_FMAX[vial $m]:-0} > FOREIGN_MAX || ${R_FMAX[$p $m]:-0} > FOREIGN_MAX)) && noisy=" (noisy run: re-run to confirm)"
      printf '%-4s echo %-7s messages per server CPU second >= %sx %s: vial %s us/msg, %s %s us/msg (x%s)%s%s\n' \
        "$v" "$m" "$b" "$p" "${M_US[vial $m]:-}" "$p" "${M_US[$p $m]:-}" "$r" "$(close_call "$r" "$b")" "$noisy"
    done
  done
  for n in $FANOUT_SUBS; do
    for pb in "node $BUDGET_NODE" "flask $BUDGET_FLASK"; do
      p=${pb% *} b=${pb#* }
      [[ " ${SERVERS[*]} " == *" $p "* && " ${SERVERS[*]} " == *" vial "* ]] || continue
      r=$(ratio "${FM_US[$p $n]:-}" "${FM_US[vial $n]:-}")
      v=OVER; ge "$r" "$b" && v=PASS
      held=""
      [[ -n ${F_REACH[$p $n]:-} && ${F_REACH[$p $n]} -lt $n ]] && held=" ($p held only ${F_REACH[$p $n]} of $n subscribers: it fails the $n case)"
      [[ -n ${F_REACH[vial $n]:-} && ${F_REACH[vial $n]} -lt $n ]] && { v=OVER; held+=" (vial held only ${F_REACH[vial $n]})"; }
      noisy=""
      ((${F_FOR[vial $n]:-0} > FOREIGN_MAX || ${F_FOR[$p $n]:-0} > FOREIGN_MAX)) && noisy=" (noisy run: re-run to confirm)"
      ((${F_BAD[vial $n]:-0} > 0)) && { v=OVER; noisy+=" (vial lost or reordered deliveries)"; }
      printf '%-4s fan-out %5s subs  deliveries per server CPU second >= %sx %s: vial %s us/delivery, %s %s (x%s)%s%s%s\n' \
        "$v" "$n" "$b" "$p" "${FM_US[vial $n]:-}" "$p" "${FM_US[$p $n]:-}" "$r" "$(close_call "$r" "$b")" "$held" "$noisy"
    done
  done
  if [[ -n ${RSS_HELD[vial]:-} ]]; then
    d=$((RSS_HELD[vial] - RSS_IDLE[vial]))
    v=OVER; ((d <= BUDGET_IDLE_MIB * 1024)) && v=PASS
    printf '%-4s %s idle WebSocket connections <= %s MiB above idle: +%s MiB (%s)\n' "$v" "$IDLE_CONNS" \
      "$BUDGET_IDLE_MIB" "$(mib "$d")" "${IDLE_NOTE[vial]}"
  fi
  # What user space can win at most: vial's kernel time alone (its srv_us/msg less its user_us/msg,
  # the read and write of every message) against the peer's whole cost.
  p=node
  ((${#COMBOS[@]})) && for m in $MODES; do
    [[ " ${SERVERS[*]} " == *" $p "* && " ${SERVERS[*]} " == *" vial "* ]] || continue
    printf '#    %-7s vial kernel time alone %s us/msg: even with no user time at all, x%s of %s\n' "$m" \
      "$(awk -v a="${M_US[vial $m]:-0}" -v u="$(med "${R_UU[vial $m]:-}")" 'BEGIN{printf "%.3f", a - u}')" \
      "$(awk -v p="${M_US[$p $m]:-0}" -v a="${M_US[vial $m]:-0}" -v u="$(med "${R_UU[vial $m]:-}")" \
        'BEGIN{ if (a - u > 0) printf "%.2f", p / (a - u); else print "-" }')" "$p"
  done
  ((${#COMBOS[@]})) && echo "# the echo budget is the round trip (rt); pipe16 shows what batching frames in and out is worth"
  echo "# raw ws-load output and server logs: $OUT; total $((SECONDS - T0)) s"
} | tee -a "$REPORT"
exit 0
