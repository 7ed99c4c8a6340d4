#!/bin/bash
# Paired runs for docs/PERFORMANCE.md "Simulcast at load" and "The generator with UDP GRO":
# alternates the variants back to back (same server binary, same viewer count), PAIRS times,
# each under the measurement lock, and prints ab.sh's summary lines plus the layers received and
# the lean generator's reads and CPU per datagram (from the JSON report and ab.sh's .gen files).
# usage: loadtest/ab-simulcast.sh BIN VIEWERS DURATION_S PORT PAIRS MODE(simulcast|gro) [MIX]
#   simulcast: single-layer publisher vs --simulcast with --quality MIX (default high:60,medium:30,low:10)
#   gro:       lean viewers with UDP GRO on vs --lean-gro=false (single-layer publisher)
BIN=$1; N=$2; DUR=$3; PORT=$4; PAIRS=$5; MODE=$6; MIX=${7:-high:60,medium:30,low:10}
DIR=$(dirname "$0")
# SERVER_BIN=other-relaycast: serve with that binary (e.g. a build with UDP GSO), load with BIN.
if [ -n "$SERVER_BIN" ]; then
  W=$(mktemp /tmp/ab-bin.XXXXXX); printf '#!/bin/sh\n[ "$1" = serve ] && exec %s "$@"\nexec %s "$@"\n' "$SERVER_BIN" "$BIN" > "$W"; chmod +x "$W"; BIN=$W
fi
case $MODE in
simulcast) A=""; B="--simulcast --quality $MIX"; NA=single; NB=simulcast ;;
gro) A="--lean-gro=true"; B="--lean-gro=false"; NA=gro-on; NB=gro-off ;;
*) echo "MODE must be simulcast or gro" >&2; exit 2 ;;
esac
for i in $(seq "$PAIRS"); do
  for v in A B; do
    if [ $v = A ]; then args=$A; name=$NA; else args=$B; name=$NB; fi
    out=/tmp/ab-$MODE-$name-$N-$i-$(date +%H%M%S).json
    echo "== $name pair $i ($N viewers) $(uptime | sed 's/.*load/load/')"
    LT_ARGS="$args" flock /work/measure.lock "$DIR/ab.sh" "$BIN" direct "$N" "$DUR" "$PORT" "$out" lean | tail -2
    python3 - "$out" "$DUR" <<'PY'
import json, sys
o, dur = sys.argv[1], int(sys.argv[2])
d = json.load(open(o))
gen = (int(open(o + '.gen1').read()) - int(open(o + '.gen0').read())) / 100 / (dur - 7)  # generator cores (ab.sh's window)
g = d.get('generator') or {}
if g:
    print("generator reads: gro %s, %.3f datagrams per read (%d of %d reads coalesced), %.2f us generator CPU per datagram"
          % (g['gro'], g['segments_per_read'], g['coalesced_reads'], g['reads'], 1e6 * gen * d['hold_seconds'] / max(g['datagrams'], 1)))
if d.get('layers'):
    l = d['layers']
    print("layers: received %s (Mb/s %s), as asked %s" % (l['received'], l['received_mbps'], l['by_request']))
PY
  done
done
