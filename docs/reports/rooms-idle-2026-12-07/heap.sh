#!/bin/sh
# Heap profile of a real `relaycast serve` holding one room × N lean viewers (issue 16):
#   flock /work/measure.lock docs/reports/rooms-idle-2026-12-07/heap.sh /tmp/relaycast OUTDIR 300
set -eu
BIN=$1; OUT=${2:-/tmp/rooms-idle}; N=${3:-300}; PORT=${PORT:-36080}; ICE=${ICE:-36081}; PP=${PP:-36082}
mkdir -p "$OUT"; D=$(mktemp -d)
RELAYCAST_PPROF=127.0.0.1:$PP "$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $ICE --max-conns 0 \
  --max-conns-per-ip 0 --rate-limit-ip off --record=false --live-hls=false --data-dir "$D" --log-level warn >"$OUT/heap-serve.log" 2>&1 &
pid=$!; sleep 2
TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
"$BIN" loadtest --url http://127.0.0.1:$PORT --token "$TOK" --rooms 1 --viewers-per-room "$N" --viewer lean \
  --bitrate 300000 --duration 20s --ramp 200/s --server-pid $pid >"$OUT/heap-lt.log" 2>&1 &
lt=$!; sleep $((10 + N / 200))
curl -s "http://127.0.0.1:$PP/debug/pprof/heap?gc=1" >"$OUT/heap-$N.pb.gz"
echo "rss_kib=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)" >"$OUT/heap-$N-rss.txt"
go tool pprof -top -sample_index=inuse_space "$OUT/heap-$N.pb.gz" 2>/dev/null | head -40 >"$OUT/heap-$N-top.txt"
go tool pprof -top -cum -sample_index=inuse_space "$OUT/heap-$N.pb.gz" 2>/dev/null | head -60 >"$OUT/heap-$N-cum.txt"
wait $lt || true; kill $pid; wait $pid 2>/dev/null || true; rm -rf "$D"
