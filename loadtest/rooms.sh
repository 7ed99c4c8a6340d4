#!/bin/bash
# The shapes of a platform's evening (issue 16), one command:
#   loadtest/rooms.sh BIN [OUTDIR]
# For each shape ROOMSxVIEWERS (default "1x200 10x20 50x4 100x5 1x1000") it starts a server
# (default flags, recording on unless RECORD=false), mints a token for every room (admin), runs
# `relaycast loadtest --rooms R --viewers-per-room V` (one synthetic publisher per room) with
# lean viewers (VIEWER=full for Pion viewers that send RTCP receiver reports, NACKs and TWCC) and
# prints the server's viewers per core, loss and first-keyframe p95 of the hold window.
# PIN=1: the server on CPU 1 alone (GOMAXPROCS=1), the generator on CPU 0.
# Environment: SHAPES, DUR (hold seconds, default 20), PORT (default 18190), RECORD, VIEWER.
set -u
BIN=$1; OUT=${2:-/tmp/rooms}; PORT=${PORT:-18190}; DUR=${DUR:-20}
SHAPES=${SHAPES:-"1x200 10x20 50x4 100x5 1x1000"}; RECORD=${RECORD:-true}; VIEWER=${VIEWER:-lean}
mkdir -p "$OUT"
SRVPIN=""; GENPIN=""
if [ "${PIN:-0}" = 1 ]; then SRVPIN="taskset -c 1 env GOMAXPROCS=1"; GENPIN="taskset -c 0"; fi
for shape in $SHAPES; do
  R=${shape%%x*}; V=${shape##*x}
  D=$(mktemp -d)
  $SRVPIN "$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 \
    --rate-limit-ip off --rate-limit-user off --record=$RECORD --data-dir "$D" --log-level warn >"$D/server.log" 2>&1 &
  SP=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.2; done
  TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
  J="$OUT/$shape-$VIEWER-record=$RECORD.json"
  $GENPIN "$BIN" loadtest --url http://127.0.0.1:$PORT --room eve --token "$TOK" --rooms "$R" --viewers-per-room "$V" \
    --viewer "$VIEWER" --duration "${DUR}s" --ramp 100/s --server-pid $SP --json "$J" --html "${J%.json}.html" --quiet >"${J%.json}.txt" 2>&1
  kill $SP; wait $SP 2>/dev/null; rm -rf "$D"
  python3 - "$J" "$shape" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d['server']; y = d['synthetic']
rooms = d.get('rooms') or []
worst = max((r['loss_pct'] for r in rooms), default=y.get('loss_pct', 0))
print("%-8s %5d viewers: %7.1f viewers/core (%.3f cores), loss %.3f%% (worst room %.3f%%), first keyframe p95 %.0f ms, latency p99 %.1f ms, %s" % (
    sys.argv[2], y['connected'], s.get('viewers_per_core', 0), s.get('proc_cpu_cores_mean', 0), y.get('loss_pct', -1), worst,
    y.get('first_keyframe_ms', {}).get('p95', -1), y.get('latency_ms', {}).get('p99', -1), "PASS" if d.get('pass') else "FAIL"))
PY
done
