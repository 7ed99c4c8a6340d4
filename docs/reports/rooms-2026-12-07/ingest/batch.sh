#!/bin/bash
# Paired runs as recorder/pairs.sh makes them (loadtest/rooms.sh, lean-rtcp viewers, live HLS off,
# DUR 20 s), one binary, recording on against --record=false, several runs under one hold of
# /work/measure.lock (each hold ≤ 6 min; rooms.sh's `__one` takes no lock itself).
#   docs/reports/rooms-2026-12-07/ingest/batch.sh BIN OUTDIR "SHAPE:N:RECORD ..."
# e.g. "1x200:2:false 1x200:3:false 1x200:4:true" writes OUTDIR/1x200/2-main-record=false/…
# (the layout of pairs.sh, so its summary reads it: summary.sh OUTDIR SHAPES).
# ON_HOLD=loadtest/rooms-profile.sh adds a 10 s perf record of the server in each hold.
set -u
BIN=$1; OUT=$2; RUNS=$3
cd "$(dirname "$0")/../../../.."
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
export VIEWERS=lean-rtcp PORT=${PORT:-42100} SERVER_ARGS=--live-hls=false DUR=${DUR:-20}
flock /work/measure.lock bash -c '
for r in '"$RUNS"'; do
  IFS=: read shape n rec <<<"$r"
  d="'"$OUT"'/$shape/$n-main-record=$rec"; mkdir -p "$d"
  RECORD=$rec loadtest/rooms.sh __one "'"$BIN"'" "$d" "$shape" lean-rtcp >"$d.log" 2>&1
  head -1 "$d.log" | sed "s|^|$shape $n record=$rec: |"
done'
