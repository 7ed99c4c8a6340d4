#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a while.
#   usage: scripts/fuzz.sh [fuzztime]   (default 10s)
# Targets are found by grepping *_test.go files for "func FuzzX(".
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-10s}"
status=0
found=0
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  while IFS= read -r target; do
    found=1
    echo "==> fuzz $pkg $target ($fuzztime)"
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=2s "$pkg"; then
      echo "FAIL: fuzz $pkg $target" >&2
      status=1
    fi
  done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file")
done < <(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*(' . | sed 's|^\./||' | sort)

if [ "$found" = 0 ]; then
  echo "no fuzz targets found"
fi
exit "$status"
