#!/bin/bash
# Wake-ups per idle room (issue 16): a fresh server (recording off, live HLS off), N rooms whose
# publisher sent 1 s of media and stopped (loadtest/viewermem, as loadtest/viewer-mem.sh), 2 lean
# Pion viewers per room; once every viewer has joined and 8 s have passed, the server's context
# switches over 10 s (every thread's voluntary + involuntary, /proc/PID/task/*/status), and
# `perf stat -e sched:sched_switch` and a 10 s `perf record -e cpu-clock -g` of the server in the
# same 10 s, and the goroutine dump (RELAYCAST_PPROF) to count the timer loops.
#   docs/reports/rooms-2026-12-07/ingest/idle.sh BIN OUTDIR "0 50 200"
# VPR=0: no viewers (the publishers alone). Each N under flock /work/measure.lock. PORT (default 42300): HTTP, +1 ICE UDP, +2 pprof.
set -u
PORT=${PORT:-42300}
if [ "${1:-}" = __one ]; then
  BIN=$2; OUT=$3; N=$4; B=$OUT/idle-$N-vpr${VPR:-2}
  D=$(mktemp -d)
  uptime >"$B.uptime"
  RELAYCAST_PPROF=127.0.0.1:$((PORT+2)) "$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) \
    --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off --rate-limit-user off --record=false --live-hls=false \
    --data-dir "$D" --log-level warn >"$B.server.log" 2>&1 &
  SP=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null && break; sleep 0.2; done
  TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
  VM=""
  VPR=${VPR:-2}; STEPS="0,$((VPR * N))"; [ "$VPR" = 0 ] && STEPS=0
  if [ "$N" -gt 0 ]; then
    # steps 0 and 2N: the memory per idle room (publisher, no viewer), then per viewer; a long settle holds the idle state
    "$OUT/viewermem.bin" -url http://127.0.0.1:$PORT -token "$TOK" -pid $SP -pprof 127.0.0.1:$((PORT+2)) -rooms "$N" \
      -steps "$STEPS" -settle 30s -out "$B.vm" >"$B.viewermem.txt" 2>&1 &
    VM=$!
    mkdir -p "$B.vm"
    # wait until every room is live and every viewer has joined (relaycast_publishers, relaycast_viewers), at most 150 s
    for i in $(seq 300); do
      m=$(curl -s http://127.0.0.1:$PORT/metrics)
      r=$(echo "$m" | awk '$1 == "relaycast_publishers" {print $2}'); v=$(echo "$m" | awk '$1 == "relaycast_viewers" {print $2}')
      [ "${r:-0}" -ge "$N" ] 2>/dev/null && [ "${v:-0}" -ge $((VPR * N)) ] 2>/dev/null && break; sleep 0.5
    done
    echo "rooms ${r:-?}, viewers joined: ${v:-?} after $((i / 2)) s" >"$B.join"
  fi
  sleep 8
  ctxsw() { cat /proc/$SP/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
  cpu() { awk '{print $14 + $15}' /proc/$SP/stat; }
  { date +%s.%N; ctxsw; cpu; ls /proc/$SP/task | wc -l; } >"$B.ctxsw"
  perf stat -e sched:sched_switch -p $SP -o "$B.perfstat" -- sleep 10 >/dev/null 2>&1 &
  PS=$!
  perf record -e cpu-clock -F 999 -g -p $SP -o "$B.perf.data" -- sleep 10 >/dev/null 2>&1
  wait $PS
  { date +%s.%N; ctxsw; cpu; ls /proc/$SP/task | wc -l; } >>"$B.ctxsw"
  curl -s http://127.0.0.1:$PORT/metrics >"$B.metrics"
  curl -s "http://127.0.0.1:$((PORT+2))/debug/pprof/goroutine?debug=1" >"$B.goroutines.txt"
  [ -n "$VM" ] && wait $VM
  kill $SP; wait $SP 2>/dev/null
  rm -rf "$D"
  uptime >>"$B.uptime"
  python3 - "$B" "$N" <<'PY'
import sys
b, n = sys.argv[1], int(sys.argv[2])
t0, c0, u0, th0, t1, c1, u1, th1 = [float(x) for x in open(b + '.ctxsw').read().split()]
dt = t1 - t0
print("idle rooms %3d: %.0f context switches/s (/proc), server CPU %.1f ms/s, threads %d" % (n, (c1 - c0) / dt, (u1 - u0) * 10 / dt, th1))
PY
  exit 0
fi
BIN=$1; OUT=$2; NS=${3:-"0 50 200"}
HERE=$(cd "$(dirname "$0")/../../../.." && pwd)
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
(cd "$HERE" && go build -o "$OUT/viewermem.bin" ./loadtest/viewermem) || exit 1
for n in $NS; do flock /work/measure.lock "$0" __one "$BIN" "$OUT" "$n"; done
rm -f "$OUT/viewermem.bin"
