#!/bin/sh
# Glass-to-glass of the watch page over the live LL-HLS (hls.js low-latency mode) on loopback:
# a Chromium publisher paints a clock (--publisher browser), a Chromium watch page with
# ?mode=hls (--browser-viewer-mode hls) reads it back. MODE=webrtc for the WebRTC baseline.
# Usage: go build -o relaycast ./cmd/relaycast && loadtest/llhls-g2g.sh [--max-g2g-p95 3s]
# Env: RELAYCAST (binary), N (browser viewers, 1), MODE (hls), DUR (hold, 30s), OUT (json).
set -e
B=${RELAYCAST:-./relaycast}
D=${DATA:-/tmp/relaycast-llhls-g2g}
rm -rf $D; mkdir -p $D
SECRET=g2g-secret-0123456789abcdef
$B serve --http 127.0.0.1:18391 --data-dir $D --auth-secret $SECRET --ice-loopback --ice-udp-port 18392 --record=false --live-hls-ladder none > $D/serve.log 2>&1 &
PID=$!
trap "kill $PID" EXIT
sleep 2
TOK=$($B token --auth-secret $SECRET --room g2g --publish --subject seller-g2g)
$B loadtest --url http://127.0.0.1:18391 --room g2g --token $TOK --publisher browser \
  --browser-viewers ${N:-1} --browser-viewer-mode ${MODE:-hls} --warmup 10s --duration ${DUR:-30s} --ramp 2/s --server-pid $PID \
  --json ${OUT:-g2g-${MODE:-hls}.json} "$@"
