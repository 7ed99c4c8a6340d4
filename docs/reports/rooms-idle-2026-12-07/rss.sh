#!/bin/sh
# RSS of a real `relaycast serve` per room and per viewer (issue 16). Usage:
#   flock /work/measure.lock docs/reports/rooms-idle-2026-12-07/rss.sh /tmp/relaycast OUTDIR
# Each shape runs against a fresh server (--record=false --live-hls=false: the SFU's own cost;
# the recorder and the live HLS ffmpeg are per-room costs of their own), lean viewers, a 300 kbps
# VP8 loop per publisher (the per-room cost does not depend on the bitrate but the generator does),
# RSS read from /proc/<pid>/status in the hold and the server's goroutines from /metrics.
set -eu
BIN=$1; OUT=${2:-/tmp/rooms-idle}; PORT=${PORT:-36080}; ICE=${ICE:-36081}
SHAPES=${SHAPES:-"0x0 1x50 1x450 200x0 200x2"}
mkdir -p "$OUT"
for shape in $SHAPES; do
  rooms=${shape%x*}; per=${shape#*x}
  D=$(mktemp -d)
  "$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $ICE --max-conns 0 --max-conns-per-ip 0 \
    --rate-limit-ip off --record=false --live-hls=false --data-dir "$D" --log-level warn >"$OUT/serve-$shape.log" 2>&1 &
  pid=$!
  sleep 2
  if [ "$rooms" -gt 0 ]; then
    TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
    "$BIN" loadtest --url http://127.0.0.1:$PORT --token "$TOK" --rooms "$rooms" --viewers-per-room "$per" \
      --viewer lean --bitrate 300000 --duration 25s --ramp 200/s --server-pid $pid --json "$OUT/lt-$shape.json" \
      >"$OUT/lt-$shape.log" 2>&1 &
    lt=$!
    # sample in the hold: rooms publish first, then the viewers ramp at 200/s
    sleep $((8 + rooms * per / 200 + rooms / 20))
  else
    lt=; sleep 3
  fi
  rss=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
  gor=$(curl -s http://127.0.0.1:$PORT/metrics | awk '/^go_goroutines /{print $2}')
  thr=$(ls /proc/$pid/task | wc -l)
  echo "$shape rooms=$rooms viewers_per_room=$per rss_kib=$rss goroutines=${gor:-?} threads=$thr" | tee -a "$OUT/rss.txt"
  [ -n "$lt" ] && wait $lt || true
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$D"
done
