#!/bin/bash
# Paired runs for docs/PERFORMANCE.md "Simulcast at load" and "The generator with UDP GRO":
# alternates the variants back to back (same server binary, same viewer count), PAIRS times,
# each under the measurement lock, and prints ab.sh's summary lines.
# usage: loadtest/ab-simulcast.sh BIN VIEWERS DURATION_S PORT PAIRS MODE(simulcast|gro) [MIX]
#   simulcast: single-layer publisher vs --simulcast with --quality MIX (default high:60,medium:30,low:10)
#   gro:       lean viewers with UDP GRO on vs --lean-gro=false (single-layer publisher)
BIN=$1; N=$2; DUR=$3; PORT=$4; PAIRS=$5; MODE=$6; MIX=${7:-high:60,medium:30,low:10}
DIR=$(dirname "$0")
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
    LT_ARGS="$args" flock /work/measure.lock "$DIR/ab.sh" "$BIN" direct "$N" "$DUR" "$PORT" "$out" lean | tail -3
  done
done
