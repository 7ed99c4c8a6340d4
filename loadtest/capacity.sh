#!/bin/bash
# The capacity matrix of docs/PERFORMANCE.md ("Where we are"), one command:
#   loadtest/capacity.sh BIN [OUTDIR]
# runs loadtest/ab.sh (lean viewers joining at 100/s, 20 s hold, 1.5 Mbps VP8 + Opus) for
#   - the server pinned to one core (PIN=1: server on CPU 1 with GOMAXPROCS=1, generator on CPU 0)
#     at 1,000 and 1,500 viewers (pin-nogro: 1,500 viewers whose sockets do not use UDP GRO);
#   - the server on both cores at 100, 300 and 1,000 viewers;
#   - 300 and 1,000 viewers whose sockets do not use UDP GRO (--lean-gro=false), so that on
#     loopback the server's send call also pays for cutting each GSO message back into datagrams;
# and prints one line per run. Runs take the measurement lock (/work/measure.lock if present) so
# nothing else measured runs at the same time; note `uptime` with the figures.
# Environment: RUNS="pin:1000 pin:1500 both:100 …" to choose runs; PORT (default 18090).
set -u
BIN=$1; OUT=${2:-/tmp/capacity}; PORT=${PORT:-18090}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
RUNS=${RUNS:-"pin:1000 pin:1500 both:100 both:300 both:1000 nogro:300 nogro:1000 pin-nogro:1500"}
LOCK=/work/measure.lock; [ -e $LOCK ] || LOCK=$OUT/lock
for r in $RUNS; do
  mode=${r%%:*}; n=${r##*:}; pin=0; lt=""
  case $mode in
    pin) pin=1 ;;
    nogro) lt="--lean-gro=false" ;;
    pin-nogro) pin=1; lt="--lean-gro=false" ;;
  esac
  echo "== $r  ($(uptime | sed 's/.*load/load/'))"
  PIN=$pin LT_ARGS="$lt" flock $LOCK loadtest/ab.sh "$BIN" direct "$n" 20 "$PORT" "$OUT/$mode-$n.json" lean | tail -2
done
