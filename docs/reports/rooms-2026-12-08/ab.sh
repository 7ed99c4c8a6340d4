#!/bin/bash
# Paired A/B runs of loadtest/rooms.sh (issue 16), lean-rtcp viewers, live HLS off; each run takes
# /work/measure.lock itself (rooms.sh). Two kinds:
#   bins: two binaries, the same flags, alternating the order every pair
#     docs/reports/rooms-2026-12-08/ab.sh bins OUT SHAPE PAIRS BIN_A BIN_B
#   flag: one binary, without and with extra server flags
#     docs/reports/rooms-2026-12-08/ab.sh flag OUT SHAPE PAIRS BIN "--read-coalesce 1ms"
#   record: one binary, recording on and off (on, off, off, on, ...)
#     docs/reports/rooms-2026-12-08/ab.sh record OUT SHAPE PAIRS BIN
# DUR (hold seconds, default 30), PORT (default 43190). Prints OUT/table.md at the end
# (loadtest/rooms-ab-summary.py: server cores, viewers / core, µs / datagram, context switches).
set -u
KIND=$1; OUT=$2; SHAPE=$3; PAIRS=$4; shift 4
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
mkdir -p "$OUT"
run() { # NAME BIN RECORD EXTRA
  RECORD=$3 DUR=${DUR:-30} SHAPES=$SHAPE VIEWER=lean-rtcp PORT=${PORT:-43190} SERVER_ARGS="--live-hls=false $4" \
    "$ROOT/loadtest/rooms.sh" "$2" "$OUT/$1" | grep 'viewers:' | sed "s/^/$1 /"
}
for i in $(seq "$PAIRS"); do
  case $KIND in
  bins) A=$1; B=$2; order="a b"; [ $((i % 2)) = 0 ] && order="b a"
    for x in $order; do if [ $x = a ]; then run "$(basename "$A")-$i" "$A" true ""; else run "$(basename "$B")-$i" "$B" true ""; fi; done ;;
  flag) order="off on"; [ $((i % 2)) = 0 ] && order="on off"
    for x in $order; do if [ $x = on ]; then run "on-$i" "$1" true "$2"; else run "off-$i" "$1" true ""; fi; done ;;
  record) order="true false"; [ $((i % 2)) = 0 ] && order="false true"
    for x in $order; do run "record=$x-$i" "$1" $x ""; done ;;
  esac
done
python3 "$ROOT/loadtest/rooms-ab-summary.py" "$OUT" | tee "$OUT/table.md"
