#!/usr/bin/env bash
# The one test command (CI runs it through .ci/run → make test).
#
# On a clean Debian with Go and Node, as root, it:
#   1. installs missing system tools (chromium, ffmpeg, redis-server, postgresql, haproxy) with apt;
#   2. builds the web UI (npm ci + npm run build) when web/ui/package.json exists and checks
#      that the committed web/dist matches it;
#   3. starts the services the tests need (see "SERVICES" below);
#   4. runs go vet ./... and go test -count=1 -timeout 15m ./... ;
#   5. fuzzes every fuzz target for 5 s.
# Exits non-zero on the first failure.
#
# Environment: RELAYCAST_TEST_CHROMIUM (default /usr/bin/chromium),
# FUZZTIME (default 5s), SKIP_APT=1 to never call apt-get.
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
# PostgreSQL's server binaries are not on PATH: Debian keeps them in /usr/lib/postgresql/N/bin.
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "${RELAYCAST_PG_BIN:-}" ] && [ ! -x "$(pg_bindir)/initdb" ] && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
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
  step "system tools present (chromium, ffmpeg, redis-server, postgresql, haproxy)"
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
#   PostgreSQL (a private cluster  → RELAYCAST_TEST_POSTGRES=postgres://relaycast@127.0.0.1:PORT/relaycast_test
#   in a temporary directory, run
#   as an unprivileged user)
# Tests that need them skip when the variables are unset, and fail when CI=true.
svc_dir="$(mktemp -d)"
svc_pids=()
pg_dir="" # the PostgreSQL cluster's directory, once started
pg_run=() # runs a PostgreSQL binary as the cluster's (unprivileged) owner
cleanup() {
  if [ -n "$pg_dir" ]; then
    "${pg_run[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
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

step "starting PostgreSQL (a private cluster)"
pg_bin="${RELAYCAST_PG_BIN:-$(pg_bindir)}"
[ -x "$pg_bin/initdb" ] || pg_bin="$(dirname "$(command -v initdb)")"
pg_dir="$(mktemp -d)"
if [ "$(id -u)" = 0 ]; then # PostgreSQL refuses to run as root: run it as the postgres user
  id postgres >/dev/null 2>&1 || { echo "test.sh: no postgres user to run PostgreSQL as" >&2; exit 1; }
  chown postgres "$pg_dir"
  pg_run=(runuser -u postgres --)
fi
if ! "${pg_run[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U relaycast --auth=trust -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1; then
  tail -20 "$pg_dir/initdb.log" >&2
  echo "test.sh: initdb failed" >&2
  exit 1
fi
pg_port=$(free_port)
# Throwaway data: no fsync; enough connections for the parallel tests' pools.
if ! "${pg_run[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w -t 60 start \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null; then
  tail -20 "$pg_dir/postgres.log" >&2
  echo "test.sh: PostgreSQL did not start on port $pg_port" >&2
  exit 1
fi
wait_port "$pg_port" PostgreSQL "$pg_dir/postgres.log"
"${pg_run[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U relaycast relaycast_test
export RELAYCAST_TEST_POSTGRES="postgres://relaycast@127.0.0.1:$pg_port/relaycast_test"
echo "redis: $RELAYCAST_TEST_REDIS  s3: $RELAYCAST_TEST_S3  postgres: $RELAYCAST_TEST_POSTGRES"
# <<< end of services

# ---------------------------------------------------------------- 4. vet + test
export RELAYCAST_TEST_CHROMIUM="${RELAYCAST_TEST_CHROMIUM:-/usr/bin/chromium}"

step "go vet ./..."
go vet ./...

step "go test -count=1 -timeout 15m ./..."
go test -count=1 -timeout 15m ./...

# ---------------------------------------------------------------- 5. fuzz
step "fuzzing (${FUZZTIME:-5s} per target)"
bash scripts/fuzz.sh "${FUZZTIME:-5s}"

step "all tests passed"
