#!/usr/bin/env bash
# The one test command (CI runs it through .ci/run → make test).
#
# On a clean Debian with Go and Node, as root, it:
#   1. installs missing system tools (chromium, ffmpeg, redis-server, haproxy) with apt;
#   2. builds the web UI (npm ci + npm run build) when web/ui/package.json exists and checks
#      that the committed web/dist matches it;
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
# haproxy: the real load balancer in front of the cluster tests (internal/lbtest); Debian puts
# it in /usr/sbin, which a non-root PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac
declare -A apt_pkg=([chromium]=chromium [ffmpeg]=ffmpeg [redis-server]=redis-server [haproxy]=haproxy)
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
  step "system tools present (chromium, ffmpeg, redis-server, haproxy)"
fi
command -v go >/dev/null 2>&1 || { echo "test.sh: go not found" >&2; exit 1; }
go version

# ---------------------------------------------------------------- 2. web UI
if [ -f web/ui/package.json ]; then
  step "building web UI"
  (cd web/ui && npm ci --no-audit --no-fund && npm run build)
  # web/dist is committed (so `go build` / `go install` serve the pages): the build of the
  # sources must reproduce it byte for byte.
  if git rev-parse --git-dir >/dev/null 2>&1; then
    if ! git diff --quiet -- web/dist || [ -n "$(git status --porcelain -- web/dist)" ]; then
      git status --short -- web/dist | head -20 >&2
      echo "test.sh: web/dist does not match web/ui sources: run 'make web' and commit web/dist" >&2
      exit 1
    fi
    echo "web/dist matches the sources"
  fi
fi

# ---------------------------------------------------------------- 3. SERVICES
# Throwaway services for the archive tests, on free loopback ports, stopped by cleanup():
#   redis-server (no persistence)  → RELAYCAST_TEST_REDIS=127.0.0.1:PORT
#   versitygw S3 (posix backend)   → RELAYCAST_TEST_S3=http://127.0.0.1:PORT,
#                                    RELAYCAST_TEST_S3_ACCESS / RELAYCAST_TEST_S3_SECRET
# Tests that need them skip when the variables are unset, and fail when CI=true.
svc_dir="$(mktemp -d)"
svc_pids=()
cleanup() {
  for pid in "${svc_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${svc_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$svc_dir"
}
trap cleanup EXIT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( (RANDOM % 20000) + 20000 ))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  echo "test.sh: no free port found" >&2; return 1
}
wait_port() { # port what [log]
  for _ in $(seq 1 300); do port_in_use "$1" && return 0; sleep 0.1; done
  echo "test.sh: $2 did not start on port $1 within 30 s" >&2
  [ -n "${3:-}" ] && [ -f "$3" ] && tail -20 "$3" >&2
  return 1
}

step "starting redis-server and versitygw (S3)"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$svc_dir" --logfile "$svc_dir/redis.log" &
svc_pids+=($!)
wait_port "$redis_port" redis-server "$svc_dir/redis.log"
export RELAYCAST_TEST_REDIS="127.0.0.1:$redis_port"

versitygw_bin="$(go env GOPATH)/bin/versitygw"
if [ ! -x "$versitygw_bin" ]; then
  go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
s3_port=$(free_port)
mkdir -p "$svc_dir/s3"
export RELAYCAST_TEST_S3_ACCESS=relaycasttest RELAYCAST_TEST_S3_SECRET=relaycasttestsecret
"$versitygw_bin" --port "127.0.0.1:$s3_port" --access "$RELAYCAST_TEST_S3_ACCESS" \
  --secret "$RELAYCAST_TEST_S3_SECRET" posix "$svc_dir/s3" >"$svc_dir/versitygw.log" 2>&1 &
svc_pids+=($!)
wait_port "$s3_port" versitygw "$svc_dir/versitygw.log"
export RELAYCAST_TEST_S3="http://127.0.0.1:$s3_port"
echo "redis: $RELAYCAST_TEST_REDIS  s3: $RELAYCAST_TEST_S3"
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
