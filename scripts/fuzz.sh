#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.c) with clang into build-fuzz/,
# replays fuzz/regression/<name>/ and the seed corpus fuzz/corpus/<name>/,
# then fuzzes each target for FUZZ_TIME seconds (default 60; 0 = replay only).
#
#   scripts/fuzz.sh [NAME...]      NAME: http, url, json, config (default: all)
#   FUZZ_TIME=15 REPORT=out.xml scripts/fuzz.sh
#
# Fuzzing reads the committed seeds and writes what it discovers to a scratch
# corpus, build-fuzz/corpus/<name>/, which persists between runs; the
# committed corpus never grows by itself.  A crash leaves its input in
# build-fuzz/artifacts/<name>/: minimize it
#   build-fuzz/<name>_fuzz -minimize_crash=1 -runs=20000 -exact_artifact_path=fuzz/regression/<name>/<what> CRASH
# and commit it there, so the replay fails until the bug is fixed.
# With REPORT set, writes JUnit XML with one "regressions replay" and one
# "fuzz N s" test case per target.  Exits non-zero if anything crashed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FUZZ_TIME=${FUZZ_TIME:-60}
REPORT=${REPORT:-}
BUILD=build-fuzz
JOBS=$(nproc 2>/dev/null || echo 2)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

log() { printf '==> %s\n' "$*"; }

names=()
if (($#)); then
  names=("$@")
else
  for f in fuzz/*_fuzz.c; do
    n=$(basename "$f" _fuzz.c)
    names+=("$n")
  done
fi

# JUnit cases: "classname|name|failure message or empty|seconds"
cases=()
failed=0
case_add() { cases+=("$1|$2|${3//|//}|$4"); [[ -n $3 ]] && failed=1; return 0; }

xml_escape() {
  local s=$1
  s=${s//&/&amp;}; s=${s//</&lt;}; s=${s//>/&gt;}; s=${s//\"/&quot;}
  printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037'
}

write_report() {
  [[ -z $REPORT ]] && return 0
  mkdir -p "$(dirname "$REPORT")"
  local nf=0 c
  for c in "${cases[@]}"; do
    IFS='|' read -r _ _ msg _ <<<"$c"
    [[ -n $msg ]] && nf=$((nf + 1))
  done
  {
    printf '<?xml version="1.0" encoding="UTF-8"?>\n'
    printf '<testsuite name="fuzz" tests="%d" failures="%d">\n' "${#cases[@]}" "$nf"
    for c in "${cases[@]}"; do
      IFS='|' read -r cls name msg secs <<<"$c"
      printf '  <testcase classname="%s" name="%s" time="%s"' "$(xml_escape "$cls")" \
        "$(xml_escape "$name")" "$secs"
      if [[ -n $msg ]]; then
        printf '>\n    <failure message="%s"/>\n  </testcase>\n' "$(xml_escape "$msg")"
      else
        printf '/>\n'
      fi
    done
    printf '</testsuite>\n'
  } >"$REPORT"
}

finish() {
  write_report
  if ((failed)); then
    log "fuzzing: FAILED (see above)"
    exit 1
  fi
  log "fuzzing: all targets clean"
  exit 0
}

# ------------------------------------------------------------------ build
if ! command -v clang >/dev/null 2>&1; then
  scripts/deps.sh test || { echo "fuzz.sh: clang and libFuzzer are needed (scripts/deps.sh test)" >&2; }
fi
targets=()
for n in "${names[@]}"; do
  if [[ ! -f fuzz/${n}_fuzz.c ]]; then
    echo "fuzz.sh: no target fuzz/${n}_fuzz.c" >&2
    exit 2
  fi
  targets+=("${n}_fuzz")
done
mkdir -p "$BUILD"
log "building ${targets[*]} (clang, libFuzzer + ASan + UBSan) in $BUILD/"
# The library itself is instrumented too (coverage for the fuzzer, ASan and
# UBSan for the sanitizers): VIAL_SANITIZE for the sanitizers everywhere,
# -fsanitize=fuzzer-no-link for coverage in libvial and llhttp.
if ! { cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DVIAL_FUZZ=ON -DVIAL_TESTS=OFF -DVIAL_SANITIZE=ON \
         -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >"$BUILD/fuzz-build.log" 2>&1 &&
       cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}" >>"$BUILD/fuzz-build.log" 2>&1; }; then
  tail -30 "$BUILD/fuzz-build.log"
  for n in "${names[@]}"; do
    case_add "fuzz.$n" "build" "fuzz targets failed to build (see $BUILD/fuzz-build.log)" 0
  done
  finish
fi

# Prints why a libFuzzer run failed: our die() line or the sanitizer summary,
# and the input it left behind.
why_failed() {  # LOGFILE
  local msg
  msg=$(grep -m1 -E '^[a-z]+_fuzz: |^SUMMARY: |ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$1" |
        head -c 300)
  [[ -z $msg ]] && msg="exit status $2"
  printf '%s' "$msg"
}

# The lines of a crash report worth reading: the failed check or sanitizer
# error, and the stack frames in our own code.
show_crash() {  # LOGFILE
  grep -aE '^[a-z]+_fuzz: |ERROR: |runtime error|^SUMMARY|^ +#[0-9]+ .* in .*(src|fuzz)/[a-z_/]+\.c:' "$1" |
    grep -v 'libFuzzer: deadly signal' | head -20 | sed 's/^/    /'
}

# ------------------------------------------------------------------ replay and fuzz
for n in "${names[@]}"; do
  bin=$BUILD/${n}_fuzz
  art=$BUILD/artifacts/$n
  mkdir -p "$art" "$BUILD/corpus/$n" "$BUILD/logs"

  # Replay: every regression input and every seed, once each.
  files=()
  for dir in fuzz/regression/$n fuzz/corpus/$n; do
    [[ -d $dir ]] || continue
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$dir" -type f ! -name '.*' -print0 | sort -z)
  done
  t0=$SECONDS
  msg=
  if ((${#files[@]})); then
    # libFuzzer stops at the first failing file, so run until all have passed.
    rest=("${files[@]}")
    while ((${#rest[@]})); do
      lf=$BUILD/logs/$n-replay.log
      if "$bin" -timeout=5 -rss_limit_mb=2048 -artifact_prefix="$art/" "${rest[@]}" >"$lf" 2>&1; then
        break
      fi
      rc=$?
      bad=$(grep -E '^Running: ' "$lf" | tail -1 | sed 's/^Running: //')
      m="$(why_failed "$lf" $rc)"
      log "$n: replay of ${bad:-?} FAILED: $m"
      show_crash "$lf"
      msg+="${msg:+; }${bad:-?}: $m"
      # continue with the files after the failing one
      next=()
      seen=0
      for f in "${rest[@]}"; do
        ((seen)) && next+=("$f")
        [[ $f == "$bad" ]] && seen=1
      done
      ((seen)) || break
      rest=("${next[@]}")
    done
  fi
  log "$n: replayed ${#files[@]} inputs (regressions + seeds)${msg:+ — FAILED}"
  case_add "fuzz.$n" "regressions replay" "$msg" $((SECONDS - t0))

  ((FUZZ_TIME > 0)) || continue
  t0=$SECONDS
  dict=()
  [[ -f fuzz/$n.dict ]] && dict=(-dict="fuzz/$n.dict")
  lf=$BUILD/logs/$n-fuzz.log
  log "$n: fuzzing for ${FUZZ_TIME}s"
  "$bin" -max_total_time="$FUZZ_TIME" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$art/" "$BUILD/corpus/$n" "fuzz/corpus/$n" >"$lf" 2>&1
  rc=$?
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$lf" | tail -1 |
          sed -E 's/^#([0-9]+)[[:space:]]+[A-Z]+[[:space:]]+/\1 execs, /')
  if ((rc == 0)); then
    log "$n: clean — $stats"
    case_add "fuzz.$n" "fuzz ${FUZZ_TIME} s" "" $((SECONDS - t0))
  else
    crash=$(grep -oE 'Test unit written to .*' "$lf" | tail -1 | sed 's/Test unit written to //')
    m="$(why_failed "$lf" $rc)"
    log "$n: CRASH after $((SECONDS - t0))s: $m"
    show_crash "$lf"
    log "$n: input saved as ${crash:-?} (log: $lf)"
    case_add "fuzz.$n" "fuzz ${FUZZ_TIME} s" "${crash:-?}: $m" $((SECONDS - t0))
  fi
done
finish
