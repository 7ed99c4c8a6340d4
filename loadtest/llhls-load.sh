#!/bin/bash
# 1,000 LL-HLS viewers of one room on one node (docs/LLHLS.md, "Load"), one command:
#   loadtest/llhls-load.sh BIN [OUTDIR]
# Starts a server (no recording, loopback ICE), publishes the synthetic VP8 + Opus loop (the
# room's one ffmpeg makes H.264 + AAC, and the 360p rung), and runs `relaycast loadtest
# --hls-viewers N` (each viewer reads the hinted part and a blocking delta reload in a loop, from
# its own loopback address), then prints the server's CPU (its process; ffmpeg apart), the
# hinted-part wait and reload figures and the errors over the hold window.
# Environment: VIEWERS (1000), DUR (30), PORT (18700), LADDER (360p; none = src only).
set -u
BIN=$1; OUT=${2:-/tmp/llhls-load}; N=${VIEWERS:-1000}; DUR=${DUR:-30}; PORT=${PORT:-18700}; LADDER=${LADDER:-360p}
mkdir -p "$OUT"
D=$(mktemp -d)
"$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 \
  --rate-limit-ip off --record=false --live-hls-ladder "$LADDER" --data-dir "$D" --log-level warn >"$D/server.log" 2>&1 &
SP=$!
trap 'kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf "$D"' EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.2; done
TOK=$("$BIN" token --room big --publish --data-dir "$D")
J="$OUT/hls-$N.json"
"$BIN" loadtest --url http://127.0.0.1:$PORT --room big --token "$TOK" --hls-viewers "$N" --warmup 8s --ramp 200/s \
  --duration "${DUR}s" --server-pid $SP --json "$J" --html "${J%.json}.html" --quiet >"${J%.json}.txt" 2>&1 &
LP=$!
# The room's ffmpeg over the middle of the hold (it is the server's child).
sleep $(python3 -c "print(8 + $N/200 + 4)")
FF=$(pgrep -P $SP ffmpeg | head -1); F0=0; F1=0
[ -n "$FF" ] && F0=$(awk '{print $14+$15}' /proc/$FF/stat)
sleep $((DUR-8))
[ -n "$FF" ] && F1=$(awk '{print $14+$15}' /proc/$FF/stat 2>/dev/null || echo $F0)
FFCPU=$(python3 -c "print('%.3f' % (($F1-$F0)/100/($DUR-8)))")
wait $LP
python3 - "$J" "$N" "$FFCPU" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d['server']; h = d.get('hls') or {}
print("%s LL-HLS viewers: %d reading; server process %.3f cores (%.1f viewers/core), its ffmpeg %s cores; "
      "hinted part wait p50 %.0f / p95 %.0f / p99 %.0f ms; blocking reload p95 %.0f ms; %.2f Mb/s each; %d errors %s" % (
    sys.argv[2], h.get('active', 0), s.get('proc_cpu_cores_mean', 0), s.get('viewers_per_core', 0), sys.argv[3] or "?",
    h.get('part_wait_ms', {}).get('p50', -1), h.get('part_wait_ms', {}).get('p95', -1), h.get('part_wait_ms', {}).get('p99', -1),
    h.get('reload_ms', {}).get('p95', -1), h.get('mbps_per_viewer', 0), h.get('errors', 0), (h.get('first_errors') or [])[:2]))
PY
