#!/bin/bash
# Memory per viewer of a real `relaycast serve` (issue 16): a fresh server per mode, one room
# published over WHIP, lean Pion viewers over WHEP (real ICE/DTLS on loopback) joined in steps;
# at each step a forced GC, then RSS, heap in use, live heap, stacks and goroutines, and the slope
# per viewer between steps (loadtest/viewermem). Modes: idle (the publisher sent one second of
# media, then nothing: viewers connected, no media in flight) and media (a 300 kbps loop).
# usage: loadtest/viewer-mem.sh BIN OUTDIR [STEPS=100,500] [MODES="idle media"]
# ROOMS (default 1): rooms, each with a publisher, the viewers spread over them; the server is
# sampled before the first publishes too, which gives the memory per room (publisher, no viewer).
# PORT (default 32080): HTTP; PORT+1 ICE UDP; PORT+2 pprof. Holds no lock: memory, not CPU.
set -eu
BIN=$1; OUT=$2; STEPS=${3:-100,500}; MODES=${4:-"idle media"}; PORT=${PORT:-32080}
mkdir -p "$OUT"
HERE=$(cd "$(dirname "$0")/.." && pwd)
(cd "$HERE" && go build -o "$OUT/viewermem" ./loadtest/viewermem)
for mode in $MODES; do
  D=$(mktemp -d)
  GODEBUG=${SERVER_GODEBUG:-} RELAYCAST_PPROF=127.0.0.1:$((PORT+2)) "$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) \
    --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off --record=false --live-hls=false --data-dir "$D" \
    --log-level warn ${SERVER_ARGS:-} >"$OUT/serve-$mode.log" 2>&1 &
  SP=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null && break; sleep 0.2; done
  TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
  mkdir -p "$OUT/$mode"
  MEDIA=false; [ "$mode" = media ] && MEDIA=true
  echo "== $mode $(uptime)" | tee -a "$OUT/summary.txt"
  "$OUT/viewermem" -url http://127.0.0.1:$PORT -token "$TOK" -pid $SP -pprof 127.0.0.1:$((PORT+2)) \
    -steps "0,$STEPS" -rooms ${ROOMS:-1} -media=$MEDIA -out "$OUT/$mode" 2>&1 | tee -a "$OUT/summary.txt" || true
  echo "== end $(uptime)" | tee -a "$OUT/summary.txt"
  kill $SP; wait $SP 2>/dev/null || true
  rm -rf "$D"
done
