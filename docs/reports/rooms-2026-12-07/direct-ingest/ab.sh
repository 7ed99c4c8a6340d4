#!/bin/bash
# Paired A/B of the receive paths (issue 16): the same binary, alternating --pion-ingest (Pion's
# receive chain) and the default (the direct receive path, sfu/ingestdirect.go), lean-rtcp viewers,
# live HLS off, recording as RECORD (default true). Each run is one loadtest/rooms.sh run (it takes
# /work/measure.lock itself); the summary prints server cores, viewers per core, µs of server CPU
# per datagram sent and context switches per second over the hold.
#   docs/reports/rooms-2026-12-07/direct-ingest/ab.sh BIN OUT ["50x4 10x20 1x200"] [PAIRS]
set -u
BIN=$1; OUT=$2; SHAPES=${3:-"50x4 10x20 1x200"}; PAIRS=${4:-2}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../../../.." && pwd)
mkdir -p "$OUT"
for i in $(seq "$PAIRS"); do
  for shape in $SHAPES; do
    for mode in pion direct; do
      [ $((i % 2)) = 0 ] && mode=$([ $mode = pion ] && echo direct || echo pion) # swap the order every other pair
      args="--live-hls=false"; [ $mode = pion ] && args="$args --pion-ingest"
      SHAPES=$shape VIEWER=lean-rtcp PORT=${PORT:-43190} SERVER_ARGS="$args" "$ROOT/loadtest/rooms.sh" "$BIN" "$OUT/$mode-$i" | grep -E 'viewers:' | sed "s/^/$mode-$i /"
    done
  done
done
python3 "$ROOT/loadtest/rooms-ab-summary.py" "$OUT"
