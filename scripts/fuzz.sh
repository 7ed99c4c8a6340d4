#!/usr/bin/env bash
# Runs every Go fuzz target in the module.
#
#   scripts/fuzz.sh [fuzztime]          short mode (CI, make test): each target for fuzztime
#                                       (default 5s), 2 workers
#   scripts/fuzz.sh --long [N] [T...]   long mode (make fuzz-long): each target for N executions
#                                       (default 1000000), one worker (-parallel 1), and a report
#                                       docs/reports/fuzz-<date>/long-<time>.md (per target: executions,
#                                       new corpus entries, time, findings)
#
# Targets are found by grepping *_test.go files for "func FuzzX(". T... picks targets by name
# (FuzzVerify) or pkg:name (./sfu:FuzzRTCP); none = all. Env: FUZZ_REPORT_DIR overrides the
# report directory, FUZZ_PARALLEL the long mode's workers (1).
set -euo pipefail
cd "$(dirname "$0")/.."

long=0
if [ "${1:-}" = "--long" ]; then
  long=1
  shift
  execs="${1:-1000000}"
  [ $# -gt 0 ] && shift
  fuzztime="${execs}x"
  pick=("$@")
  parallel="${FUZZ_PARALLEL:-1}"
  report_dir="${FUZZ_REPORT_DIR:-docs/reports/fuzz-$(date -u +%Y-%m-%d)}"
  mkdir -p "$report_dir"
  started=$(date -u '+%Y-%m-%d %H:%M UTC')
  out="$report_dir/long-$(date -u +%H%M%S).md"
  rows=$(mktemp)
else
  fuzztime="${1:-5s}"
  pick=()
  parallel=""
fi

write_report() { # rewritten after every target, so a run stopped part way keeps its rows
  {
    echo "# Fuzzing, long mode: started $started"
    echo
    echo "\`scripts/fuzz.sh --long $execs${pick[*]:+ ${pick[*]}}\` (\`-fuzztime ${execs}x -parallel $parallel\`)," \
      "$(go version | awk '{print $3}'), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
    echo "Executions are the fuzz coordinator's count at the end; new corpus entries are the inputs that"
    echo "found new coverage (kept in the Go build cache, not committed); a finding is a failing input"
    echo "written to testdata/fuzz/<target>/."
    echo
    echo "| package | target | executions | new corpus entries | time | finding | result |"
    echo "| --- | --- | ---: | ---: | ---: | --- | --- |"
    cat "$rows"
  } >"$out"
}

picked() { # pkg target
  [ ${#pick[@]} -eq 0 ] && return 0
  local p
  for p in "${pick[@]}"; do
    [ "$p" = "$2" ] || [ "$p" = "$1:$2" ] && return 0
  done
  return 1
}

status=0
found=0
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  while IFS= read -r target; do
    picked "$pkg" "$target" || continue
    found=1
    echo "==> fuzz $pkg $target ($fuzztime${parallel:+, -parallel $parallel})"
    corpus="$pkg/testdata/fuzz/$target"
    before=$(ls "$corpus" 2>/dev/null | sort || true)
    log=$(mktemp)
    start=$(date +%s)
    result=ok
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=2s ${parallel:+-parallel "$parallel"} "$pkg" 2>&1 | tee "$log"; then
      after=$(ls "$corpus" 2>/dev/null | sort || true)
      # Go 1.26's fuzz coordinator can report "context deadline exceeded" when -fuzztime ends
      # while a worker is mid-run (go.dev/issue/75804, fixed in Go 1.27). That is no failure of
      # the target: a real one writes a reproducer into testdata/fuzz/<target>.
      if [ "$before" = "$after" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
        echo "fuzz $pkg $target: the fuzz coordinator's deadline race (go.dev/issue/75804), no failing input: not a failure"
      else
        echo "FAIL: fuzz $pkg $target" >&2
        status=1
        result=FAIL
      fi
    fi
    if [ "$long" = 1 ]; then
      secs=$(( $(date +%s) - start ))
      last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -1 || true)
      n=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
      new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
      finding=$(sed -nE 's/.*Failing input written to (.*)/\1/p' "$log" | head -1)
      [ -n "$finding" ] || finding=none
      [ "$result" = ok ] && [ "${n:-0}" -lt "$execs" ] && result="stopped at ${n:-0}"
      printf '| %s | %s | %s | %s | %s s | %s | %s |\n' "${pkg#./}" "$target" "${n:-0}" "${new:-0}" "$secs" "$finding" "$result" >>"$rows"
      write_report
    fi
    rm -f "$log"
  done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file")
done < <(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*(' . | sed 's|^\./||' | sort)

if [ "$found" = 0 ]; then
  echo "no fuzz targets found"
fi

if [ "$long" = 1 ]; then
  rm -f "$rows"
  echo "report: $out"
fi
exit "$status"
