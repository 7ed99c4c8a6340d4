#!/bin/bash
# A Chromium publisher ramp (noise source, 3 simulcast layers, 1 browser viewer) against a fresh server
# with --read-coalesce COALESCE (0 = off); prints the ramp summary. BIN=path/to/relaycast
#   docs/reports/rooms-2026-12-08/ramp-coalesce/ramp.sh OUT COALESCE PORT
OUT=$1; RC=$2; PORT=$3; D=$(mktemp -d)
${BIN:-relaycast} serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --record=false --live-hls=false --read-coalesce $RC --data-dir $D --log-level warn > $D/log 2>&1 &
SP=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.2; done
TOK=$(${BIN:-relaycast} token --room '*' --admin --data-dir $D)
${BIN:-relaycast} loadtest --url http://127.0.0.1:$PORT --room ramp --token "$TOK" --publisher browser --publisher-source noise --browser-viewers 1 --warmup 15s --duration 5s --ramp 5/s --server-pid $SP --json $OUT.json --quiet > $OUT.txt 2>&1
kill $SP; wait $SP 2>/dev/null; rm -rf $D
python3 - $OUT.json <<'PY'
import json,sys
j=json.load(open(sys.argv[1])); r=j.get('publisher_ramp',{})
print(sys.argv[1], {k:v for k,v in r.items() if not isinstance(v,(list,dict))})
PY
