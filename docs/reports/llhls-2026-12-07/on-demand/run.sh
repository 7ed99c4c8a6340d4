#!/bin/bash
# Live LL-HLS on demand vs always: N rooms live (one synthetic VP8+Opus publisher each, one lean
# viewer each, nobody watching over HLS), --live-hls-start always vs on-demand; prints
# loadtest/rooms.sh's table (the server's children's CPU = the live HLS ffmpeg) and the number
# of ffmpeg processes 5 s into the hold. Recording off so the children are the live HLS alone.
#   docs/reports/llhls-2026-12-07/on-demand/run.sh BIN OUTDIR [ROOMS]
set -eu
BIN=$1; OUT=$2; R=${3:-20}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../../../.." && pwd)
for mode in always on-demand; do
  SHAPES="${R}x1" VIEWER=lean DUR=${DUR:-30} RECORD=false PORT=${PORT:-35190} ON_HOLD="$HERE/ffmpeg-count.sh" \
    SERVER_ARGS="--live-hls-start $mode" "$ROOT/loadtest/rooms.sh" "$BIN" "$OUT/$mode" >/dev/null
  echo "## --live-hls-start $mode: ffmpeg processes $(cat "$OUT/$mode/${R}x1-lean-record=false.ffmpeg")"
  cat "$OUT/$mode/table.md"
done
