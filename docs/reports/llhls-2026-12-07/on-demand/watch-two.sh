#!/bin/bash
# ON_HOLD hook of loadtest/rooms.sh (SP OUTBASE; PORT from rooms.sh): two of the rooms (eve-1,
# eve-2) get an HLS "viewer" — their multivariant and media playlist fetched once a second for
# 15 s — then the server's ffmpeg children are counted and its live HLS metrics kept, into
# OUTBASE.ffmpeg and OUTBASE.hls-metrics.
SP=$1; OUT=$2
count() {
  n=0
  for p in /proc/[0-9]*; do
    s=$(cat "$p/stat" 2>/dev/null) || continue
    name=${s#*(}; name=${name%%)*}
    rest=${s##*) }; ppid=$(echo "$rest" | awk '{print $2}')
    [ "$ppid" = "$SP" ] && [ "$name" = ffmpeg ] && n=$((n + 1))
  done
  echo $n
}
before=$(count)
for i in $(seq 15); do
  for r in eve-1 eve-2; do
    v=$(curl -s --max-time 20 "http://127.0.0.1:$PORT/live/$r/index.m3u8" | grep -v '^#' | head -1)
    [ -n "$v" ] && curl -s --max-time 20 -o /dev/null "http://127.0.0.1:$PORT/live/$r/$v"
  done &
  sleep 1
done
wait
echo "before $before, with two rooms watched over HLS $(count)" >"$OUT.ffmpeg"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^relaycast_live_hls_(rooms|rooms_dormant|starts_total|transcoders) ' >"$OUT.hls-metrics"
