#!/bin/bash
# Paired A/B of the receive paths (issue 16): the same binary, alternating --pion-ingest (Pion's
# receive chain) and the default (the direct receive path, sfu/ingestdirect.go), lean-rtcp viewers,
# live HLS off, recording as RECORD (default true). Each run is one loadtest/rooms.sh run (it takes
# /work/measure.lock itself); the summary prints server cores, viewers per core, µs of server CPU
# per datagram sent and context switches per second over the hold.
#   docs/reports/rooms-2026-12-07/direct-ingest/ab.sh BIN OUT ["50x4 10x20 1x200"] [PAIRS]
set -u
BIN=$1; OUT=$2; SHAPES=${3:-"50x4 10x20 1x200"}; PAIRS=${4:-2}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../../../.." && pwd)
mkdir -p "$OUT"
for i in $(seq "$PAIRS"); do
  for shape in $SHAPES; do
    for mode in pion direct; do
      [ $((i % 2)) = 0 ] && mode=$([ $mode = pion ] && echo direct || echo pion) # swap the order every other pair
      args="--live-hls=false"; [ $mode = pion ] && args="$args --pion-ingest"
      SHAPES=$shape VIEWER=lean-rtcp PORT=${PORT:-43190} SERVER_ARGS="$args" "$ROOT/loadtest/rooms.sh" "$BIN" "$OUT/$mode-$i" | grep -E 'viewers:' | sed "s/^/$mode-$i /"
    done
  done
done
python3 - "$OUT" <<'PY'
import glob, os, re, sys
def metric(path, name):
    for l in open(path):
        if l.startswith(name + ' ') or l.startswith(name + '{'):
            return float(l.split()[-1])
    return 0.0
rows = []
for m1 in sorted(glob.glob(os.path.join(sys.argv[1], '*', '*.m1'))):
    base = m1[:-3]; run = os.path.basename(os.path.dirname(m1)); shape = os.path.basename(base).split('-')[0]
    m0 = base + '.m0'
    cpu = metric(m1, 'process_cpu_seconds_total') - metric(m0, 'process_cpu_seconds_total')
    dg = metric(m1, 'relaycast_udp_datagrams_sent_total') - metric(m0, 'relaycast_udp_datagrams_sent_total')
    k = [l.split() for l in open(base + '.kids')]; dt = float(k[2][0]) - float(k[0][0])  # ts, kids, ts, kids
    c = [int(x) for x in open(base + '.ctxsw').read().split()]
    up = [l.split('load average:')[1].strip() for l in open(base + '.uptime')]
    r, v = map(int, shape.split('x'))
    cores = cpu / dt
    rows.append((shape, run, cores, r * v / cores if cores else 0, 1e6 * cpu / dg if dg else 0, (c[1] - c[0]) / dt, ' → '.join(up)))
print('| shape | run | server cores | viewers / core | µs / datagram | context switches / s | load |')
print('|---|---|---|---|---|---|---|')
for r in sorted(rows):
    print('| %s | %s | %.3f | %.0f | %.2f | %.0f | %s |' % r)
PY
