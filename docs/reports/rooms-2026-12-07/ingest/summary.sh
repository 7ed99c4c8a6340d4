#!/bin/bash
# The summary of recorder/pairs.sh (its own python, taken from it) over OUTDIR and SHAPES.
#   docs/reports/rooms-2026-12-07/ingest/summary.sh OUTDIR "1x200 100x5"
OUT=$1; SHAPES=$2
P=$(dirname "$0")/../recorder/pairs.sh
bash -c "set -- x x \"$OUT\" \"$SHAPES\"; OUT=\$3; SHAPES=\$4; $(sed -n '/^python3 - "\$OUT" \$SHAPES/,/^PY$/p' "$P")"
