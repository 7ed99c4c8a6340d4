#!/usr/bin/env bash
# The one test command (CI runs it through .ci/run → make test).
#
# On a clean Debian with Go and Node, as root, it:
#   1. installs missing system tools (chromium, ffmpeg, redis-server) with apt;
#   2. builds the web UI (npm ci + npm run build) when web/ui/package.json exists;
#   3. starts the services the tests need (see "SERVICES" below);
#   4. runs go vet ./... and go test -count=1 -timeout 15m ./... ;
#   5. fuzzes every fuzz target for 10 s.
# Exits non-zero on the first failure.
#
# Environment: RELAYCAST_TEST_CHROMIUM (default /usr/bin/chromium),
# FUZZTIME (default 10s), SKIP_APT=1 to never call apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# ---------------------------------------------------------------- 1. tools
declare -A apt_pkg=([chromium]=chromium [ffmpeg]=ffmpeg [redis-server]=redis-server)
if [ -f web/ui/package.json ]; then
  apt_pkg[npm]=npm
fi
missing=()
for cmd in "${!apt_pkg[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${apt_pkg[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ] && [ "${SKIP_APT:-0}" != 1 ]; then
  step "installing missing tools: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "test.sh: missing ${missing[*]} and not root (no sudo); install them first" >&2
      exit 1
    fi
  fi
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  step "system tools present (chromium, ffmpeg, redis-server)"
fi
command -v go >/dev/null 2>&1 || { echo "test.sh: go not found" >&2; exit 1; }
go version

# ---------------------------------------------------------------- 2. web UI
if [ -f web/ui/package.json ]; then
  step "building web UI"
  (cd web/ui && npm ci --no-audit --no-fund && npm run build)
fi

# ---------------------------------------------------------------- 3. SERVICES
# >>> Add service startup here (later issues): e.g. a throwaway redis-server on
# >>> a free port and an S3-compatible server, exporting their addresses for the
# >>> tests (RELAYCAST_TEST_REDIS=..., RELAYCAST_TEST_S3=...). Register the
# >>> cleanup in cleanup() so they stop however the script exits.
cleanup() {
  :  # stop services started above
}
trap cleanup EXIT
# <<< end of services

# ---------------------------------------------------------------- 4. vet + test
export RELAYCAST_TEST_CHROMIUM="${RELAYCAST_TEST_CHROMIUM:-/usr/bin/chromium}"

step "go vet ./..."
go vet ./...

step "go test -count=1 -timeout 15m ./..."
go test -count=1 -timeout 15m ./...

# ---------------------------------------------------------------- 5. fuzz
step "fuzzing (${FUZZTIME:-10s} per target)"
bash scripts/fuzz.sh "${FUZZTIME:-10s}"

step "all tests passed"
