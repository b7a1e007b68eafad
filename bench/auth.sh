#!/usr/bin/env bash
# bench/auth.sh: what token verification costs per request (issue 5): vial-bench's
# /json against /json-auth — the same view behind vial_auth_require(), which wants
# a valid HS256 JWT in "Authorization: Bearer" — on one server, in the same run.
#
#   bench/auth.sh                                 # uses ./build/vial-bench
#   VIAL_BUILD_DIR=build-bench bench/auth.sh
#
# One vial-bench (--workers 1) pinned to CPU $SERVER_CPU, with a SECRET_KEY made
# for this run; `taskset -c $CLIENT_CPU wrk -t1 -c$CONNS` on 127.0.0.1 with
# bench/auth.lua, which sends "Authorization: Bearer <token>" on every request,
# to every route (so /json gets the same bytes and simply ignores the header):
#   json         /json       one token (ignored): the baseline
#   auth-same    /json-auth  one token on every request, as a client reuses its
#                            token until it expires (the guard's per-worker cache
#                            of verified tokens answers)
#   auth-fresh   /json-auth  $TOKENS distinct tokens in turn, each back only
#                            every $TOKENS requests: every request pays the full
#                            HS256 verification (the cache has 256 slots)
# /token mints the one token (vial_jwt_issue); the others are minted here with
# the same key (HMAC-SHA-256, python3's hmac), which also checks interop.
# Per (combination, mode): 1 s warm-up, $RUNS runs of $DURATION interleaved,
# medians.  Around each run: utime and stime of the server (/proc/<pid>/stat),
# both cores' busy ticks and this script's own CPU (with wrk), so that other
# load is seen (foreign%) and noisy runs are measured again, as in run.sh.
# Modes: plain keep-alive; MODES="plain pipe16" adds 16-deep pipelining.
# CASES="auth-same" measures a subset (json, the baseline, is always in).
#
# stdout: the report; stderr: progress; raw wrk output and the server log: a
# temp dir ($BENCH_OUT).  The budget (guarded <= 10% more server CPU per request
# than unguarded) prints as PASS/OVER; the exit status is 0 whenever the harness
# ran.  It stops itself after $MAX_SECONDS and stops what it started by PID.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
bench_paths vial-bench
common_knobs  # SERVER_CPU CLIENT_CPU DURATION WARMUP RUNS FOREIGN_MAX FOREIGN_RETRIES RETRY_BUDGET NICE

CONNS=${CONNS:-64}
MODES=${MODES:-plain}                 # plain and/or pipe<N> (e.g. pipe16)
CASES=${CASES:-json auth-same auth-fresh}  # a subset for quick runs (json is the baseline: always in)
TOKENS=${TOKENS:-4096}                # distinct tokens for auth-fresh
PORT_BASE=${PORT_BASE:-18290}
RETRY_UNTIL=${RETRY_UNTIL:-150}       # no retries once the run is this many seconds old
MAX_SECONDS=${MAX_SECONDS:-240}       # hard stop for the whole run
BUDGET=1.10                           # issue 5: guarded <= 10% slower

log() { printf '[bench-auth] %s\n' "$*" >&2; }
T0=$SECONDS
HZ=$(getconf CLK_TCK)
set_prefixes
START_TRIES=100 START_SETTLE=0

# ---------------------------------------------------------------- cleanup, hard stop
arm_cleanup

# ---------------------------------------------------------------- preflight
[[ -x $BIN ]] || die "no $BIN: build it first (cmake --build <dir> --target vial-bench; VIAL_BUILD_DIR=<dir>)"
for t in wrk taskset curl awk /usr/bin/python3; do
  command -v "$t" >/dev/null || die "missing $t: run scripts/deps.sh bench"
done
(($(getconf _NPROCESSORS_ONLN) > SERVER_CPU && $(getconf _NPROCESSORS_ONLN) > CLIENT_CPU)) ||
  die "needs CPUs $CLIENT_CPU and $SERVER_CPU"
for m in $MODES; do [[ $m == plain || $m =~ ^pipe[0-9]+$ ]] || die "MODES: '$m' is not plain or pipe<N>"; done
for c in $CASES; do [[ $c == json || $c == auth-same || $c == auth-fresh ]] || die "CASES: '$c' is not json, auth-same or auth-fresh"; done
[[ " $CASES " == *" json "* ]] || CASES="json $CASES"
OUT=${BENCH_OUT:-$(mktemp -d /tmp/vial-bench-auth.XXXXXX)}
mkdir -p "$OUT"
taskset -p -c "$CLIENT_CPU" $$ >/dev/null  # the harness stays on the client core

PORT=$PORT_BASE
while port_open "$PORT"; do PORT=$((PORT + 1)); done
BASE=http://127.0.0.1:$PORT

# ---------------------------------------------------------------- the server
# A key for this run only: the tokens below die with it.
SECRET=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(36))')
# In the environment, not on a command line (`SECRET_KEY=... start_server` exports it to the server alone).
SECRET_KEY=$SECRET start_server vial-bench "$PORT" "$BIN" --workers 1 --host 127.0.0.1 --port "$PORT" || exit 1

# ---------------------------------------------------------------- tokens
curl -s --max-time 5 "$BASE/token" >"$OUT/one.txt" && echo >>"$OUT/one.txt"
[[ $(head -c 3 "$OUT/one.txt") == eyJ ]] || die "/token did not answer a token: $(head -c 200 "$OUT/one.txt")"
SECRET_KEY=$SECRET /usr/bin/python3 - "$TOKENS" "$OUT/many.txt" <<'EOF' || die "minting tokens failed"
import base64, hashlib, hmac, json, os, sys, time
key = os.environ["SECRET_KEY"].encode()
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def compact(o): return json.dumps(o, separators=(",", ":")).encode()
now = int(time.time())
head = b64(compact({"alg": "HS256", "typ": "JWT"}))
with open(sys.argv[2], "w") as f:
    for i in range(int(sys.argv[1])):
        signing = head + "." + b64(compact({"sub": str(i + 1), "iat": now, "exp": now + 3600}))
        f.write(signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()) + "\n")
EOF
ONE=$(head -1 "$OUT/one.txt")

# ---------------------------------------------------------------- checks
fetch() {  # PATH [TOKEN] -> "status|content-type|body"
  local h=()
  [[ -n ${2:-} ]] && h=(-H "Authorization: Bearer $2")
  curl -s --max-time 5 "${h[@]}" -D "$OUT/check.hdr" -o "$OUT/check.body" -w '%{http_code}' "$BASE$1"
  printf '|%s|%s' "$(tr -d '\r' <"$OUT/check.hdr" | awk -F': *' 'tolower($1) == "content-type" {print $2}')" \
    "$(cat "$OUT/check.body")"
}
HELLO='200|application/json|{"message":"Hello, World!"}'
CHECKS=()
check() {  # NAME GOT WANT(glob)
  # shellcheck disable=SC2053
  [[ $2 == $3 ]] || die "check $1: got '$2', want '$3'"
  CHECKS+=("$1")
}
check "/json with a token" "$(fetch /json "$ONE")" "$HELLO"
check "/json-auth with /token's token" "$(fetch /json-auth "$ONE")" "$HELLO"
check "/json-auth with the first minted token" "$(fetch /json-auth "$(head -1 "$OUT/many.txt")")" "$HELLO"
check "/json-auth with the last minted token" "$(fetch /json-auth "$(tail -1 "$OUT/many.txt")")" "$HELLO"
check "/json-auth without a token: 401" "$(fetch /json-auth)" "401|application/json|*"
grep -qi '^WWW-Authenticate: Bearer' "$OUT/check.hdr" || die "check: a 401 without WWW-Authenticate: Bearer"
# A character in the middle of the signature: its last one carries padding
# bits, and changing those would test the decoder, not the HMAC comparison.
sig=${ONE##*.}
c=${sig:20:1}
[[ $c == A ]] && r=B || r=A
bad="${ONE%.*}.${sig:0:20}$r${sig:21}"
check "/json-auth with a tampered signature: 401" "$(fetch /json-auth "$bad")" "401|application/json|*"
log "checks passed (${#CHECKS[@]})"

# ---------------------------------------------------------------- measuring
proc_ticks() {  # -> "utime stime" of every thread of the server, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12, $13 }' /proc/"${SRV_PID[vial-bench]}"/stat
}

declare -A C_PATH=() C_FILE=() C_MODE=()
COMBOS=()
for m in $MODES; do
  for c in $CASES; do
    k="$c $m"
    COMBOS+=("$k")
    C_MODE[$k]=$m
    case $c in
      json) C_PATH[$k]=/json C_FILE[$k]=$OUT/one.txt ;;
      auth-same) C_PATH[$k]=/json-auth C_FILE[$k]=$OUT/one.txt ;;
      auth-fresh) C_PATH[$k]=/json-auth C_FILE[$k]=$OUT/many.txt ;;
    esac
  done
done

wrk_run() {  # COMBO DURATION OUTFILE
  local depth=1
  [[ ${C_MODE[$1]} == pipe* ]] && depth=${C_MODE[$1]#pipe}
  timeout 60 taskset -c "$CLIENT_CPU" "${PRIO[@]}" wrk -t1 -c"$CONNS" -d"$2" --latency \
    -s "$HERE/auth.lua" "$BASE${C_PATH[$1]}" -- "${C_FILE[$1]}" "$depth" >"$3" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID"
  WRK_PID=""
}
parse_p99() {
  awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); n = v + 0
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.2f", n }' "$1"
}

declare -A R_RPS=() R_P99=() R_US=() R_UU=() R_SU=() R_SB=() R_CB=() R_ERR=() R_FMAX=()
one_run() {  # COMBO RUN: of several tries, the least noisy one is kept
  local k=$1 i=$2 out try f el stolen n
  local c0 sb0 c1 sb1 u0 s0 u1 s1 m0 m1 w0 w1 best=-1 b_f b_u b_s b_sb b_cb b_el
  out="$OUT/${k// /.}.run$i"
  for try in $(seq 0 "$FOREIGN_RETRIES"); do
    m0=$(self_ticks); read -r c0 sb0 < <(cpu_busy); read -r u0 s0 < <(proc_ticks); w0=$(now_us)
    wrk_run "$k" "$DURATION" "$out.try$try.txt"
    w1=$(now_us); read -r u1 s1 < <(proc_ticks); read -r c1 sb1 < <(cpu_busy); m1=$(self_ticks)
    el=$(((w1 - w0) * HZ / 1000000))
    ((el > 0)) || el=1
    f=$(((c1 - c0 + sb1 - sb0 - (u1 - u0 + s1 - s0) - (m1 - m0)) * 100 / el))
    ((f < 0)) && f=0
    stolen=$((((u1 - u0 + s1 - s0) - (sb1 - sb0)) * 100 / el))  # hidden steal, as in run.sh
    ((stolen > 0)) && f=$((f + stolen))
    echo "$k run$i try$try foreign=${f}% (hidden steal ${stolen}%)" >>"$OUT/foreign.txt"
    if ((best < 0 || f < b_f)); then
      best=$try b_f=$f b_u=$((u1 - u0)) b_s=$((s1 - s0)) b_sb=$((sb1 - sb0)) b_cb=$((c1 - c0)) b_el=$el
    fi
    ((f <= FOREIGN_MAX || try >= FOREIGN_RETRIES || RETRY_BUDGET <= 0 || SECONDS - T0 > RETRY_UNTIL)) && break
    RETRY_BUDGET=$((RETRY_BUDGET - 1))
    log "$k run $i: other load took ${f}% of a core, measuring again"
  done
  out="$out.try$best.txt"
  n=$(parse_reqs "$out")
  R_RPS[$k]+="$(parse_rps "$out") "
  [[ ${C_MODE[$k]} == plain ]] && R_P99[$k]+="$(parse_p99 "$out") "
  if ((n > 0)); then
    R_US[$k]+="$(awk -v t=$((b_u + b_s)) -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.3f", t / hz * 1e6 / n}') "
    R_UU[$k]+="$(awk -v t="$b_u" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.3f", t / hz * 1e6 / n}') "
    R_SU[$k]+="$(awk -v t="$b_s" -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.3f", t / hz * 1e6 / n}') "
  fi
  R_SB[$k]+="$((b_sb * 100 / b_el)) "
  R_CB[$k]+="$((b_cb * 100 / b_el)) "
  R_ERR[$k]=$((${R_ERR[$k]:-0} + $(parse_errors "$out")))
  ((b_f > ${R_FMAX[$k]:-0})) && R_FMAX[$k]=$b_f
  kill -0 "${SRV_PID[vial-bench]}" 2>/dev/null || die "vial-bench died during $k (log: $OUT/vial-bench.log)"
}

REPORT=$OUT/report.txt
{
  echo "# vial bench auth  $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "# $(uname -r), $(getconf _NPROCESSORS_ONLN) CPUs ($(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)), load avg $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}'), vial-bench $BIN --workers 1 on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU${NICE:+, both at nice $NICE}"
  echo "#   taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -d$DURATION --latency -s auth.lua URL -- TOKENS [DEPTH]; warm-up $WARMUP; median of $RUNS runs, interleaved"
  echo "# json: /json with one token (ignored); auth-same: /json-auth, one token; auth-fresh: /json-auth, $TOKENS tokens in turn"
  echo "# checks passed: ${CHECKS[*]}"
} | tee "$REPORT"

for i in $(seq "$RUNS"); do
  for k in "${COMBOS[@]}"; do
    if ((i == 1)); then
      log "$k: warm-up $WARMUP"
      wrk_run "$k" "$WARMUP" "$OUT/warmup.txt"
    fi
    log "$k: run $i/$RUNS ($DURATION)"
    one_run "$k" "$i"
  done
done

# ---------------------------------------------------------------- report
declare -A M_US=() M_UU=()
FMT='%-11s %-7s %9s %7s %10s %11s %10s %9s %9s %6s %8s  %s\n'
{
  echo
  echo "## Server CPU per request (medians of $RUNS runs)"
  printf "$FMT" route mode req/s p99_ms srv_us/req user_us/req sys_us/req srv_core% wrk_core% errors foreign% note
  for k in "${COMBOS[@]}"; do
    M_US[$k]=$(med "${R_US[$k]:-}")
    M_UU[$k]=$(med "${R_UU[$k]:-}")
    note=""
    ((${R_FMAX[$k]:-0} > FOREIGN_MAX)) && note="NOISY: other load took ${R_FMAX[$k]}% of a core"
    ((${R_ERR[$k]:-0} > 0)) && note="${note:+$note; }ERRORS"
    p99=n/a
    [[ ${C_MODE[$k]} == plain ]] && p99=$(med "${R_P99[$k]:-}")
    printf "$FMT" "${k% *}" "${C_MODE[$k]}" "$(med "${R_RPS[$k]:-}")" "$p99" "${M_US[$k]}" "${M_UU[$k]}" \
      "$(med "${R_SU[$k]:-}")" "$(med "${R_SB[$k]:-}")" "$(med "${R_CB[$k]:-}")" "${R_ERR[$k]:-0}" \
      "${R_FMAX[$k]:-0}" "$note"
  done
  echo "# srv_us/req = user_us/req + sys_us/req: the server's utime+stime / requests wrk completed; the token work"
  echo "#   is user time, the rest (loopback TCP, waking wrk) is the same for every route"
  echo "# foreign%: most CPU, in % of a core, used by anything but the server and this script with wrk (plus hidden"
  echo "#   steal) in a kept run; over $FOREIGN_MAX% the run is retried, then flagged NOISY"
  echo "# per-run req/s | srv_us/req:"
  for k in "${COMBOS[@]}"; do printf '#   %-18s %s| %s\n' "$k" "${R_RPS[$k]:-}" "${R_US[$k]:-}"; done

  echo
  echo "## Budget: a guarded route costs <= 10% more server CPU per request than the same route unguarded"
  for m in $MODES; do
    for c in $CASES; do
      [[ $c == json ]] && continue
      a=${M_US[$c $m]} b=${M_US[json $m]}
      read -r r d du v < <(awk -v a="$a" -v b="$b" -v au="${M_UU[$c $m]}" -v bu="${M_UU[json $m]}" -v l="$BUDGET" '
        BEGIN { if (a == "-" || b == "-" || b + 0 == 0) { print "- - - OVER"; exit }
                r = a / b; printf "%.3f %+.2f %+.2f %s\n", r, a - b, au - bu, (r <= l ? "PASS" : "OVER") }')
      noisy=""
      ((${R_FMAX[$c $m]:-0} > FOREIGN_MAX || ${R_FMAX[json $m]:-0} > FOREIGN_MAX)) && noisy=" (noisy run: re-run to confirm)"
      close=$(awk -v r="$r" -v l="$BUDGET" 'BEGIN{ if (r != "-" && r / l > 0.97 && r / l < 1.03) print " (within 3%: a tie on this machine)" }')
      printf '%-4s %-10s %-7s %s us vs %s us: x%s (%s us per request, %s us of it user time)%s%s\n' \
        "$v" "$c" "$m" "$a" "$b" "$r" "$d" "$du" "$close" "$noisy"
    done
  done
  echo "# auth-same is how clients use a token (one per session, until it expires); auth-fresh is the worst case,"
  echo "#   a token the worker has not verified recently on every request"
  echo "# raw wrk output and the server log: $OUT; total $((SECONDS - T0)) s"
} | tee -a "$REPORT"
exit 0
