#!/usr/bin/env bash
# Chaos trials of a live show on a 3-node cluster (docs/RELIABILITY.md, "Chaos").
#
#   bash scripts/chaos.sh              # 21 trials: the 7 fault kinds 3 times each (~30 min)
#   SHORT=1 bash scripts/chaos.sh      # 7 trials: each kind once
#   CHAOS_TRIALS=2 CHAOS_KINDS=edge,s3 bash scripts/chaos.sh
#
# The run starts its own redis-server (AOF on), PostgreSQL, versitygw S3, three
# `relaycast serve` nodes and a `relaycast worker` on ports 32001-32023 (TCP and UDP), kills one
# of them with SIGKILL in each trial and writes docs/reports/chaos-2026-12-07/{trials.json,README.md}
# (override with CHAOS_OUT, an absolute path). CHAOS_SHOW_S sets the show's length (default 45),
# CHAOS_KEEP=1 keeps the processes' logs and data in /tmp/relaycast-chaos-*.
# Needs: ffmpeg, redis-server, PostgreSQL server binaries (/usr/lib/postgresql/N/bin), versitygw.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SHORT:-}" ]; then
  export CHAOS_TRIALS="${CHAOS_TRIALS:-7}"
fi
export CHAOS_TRIALS="${CHAOS_TRIALS:-21}"
echo "chaos: ${CHAOS_TRIALS} trials, load average $(cut -d' ' -f1-3 /proc/loadavg)"
go test -tags chaos -count=1 -timeout 90m -run '^TestChaos$' -v ./e2e/ 2>&1 | tee "${CHAOS_LOG:-/tmp/chaos-$(date +%H%M%S).log}" | grep -E '^(=== RUN|--- |\s+chaos_test.go|PASS|FAIL|ok)' || true
echo "chaos: done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
