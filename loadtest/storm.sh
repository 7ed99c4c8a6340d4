#!/bin/bash
# A join storm across rooms (issue 16): ROOMS rooms (default 100), each with its own synthetic
# publisher, and ROOMS × PER viewers (default 20 a room: 2,000) joining at RAMP viewers a second
# (default 200) in all rooms at once, spread over them; the server with default flags (recording on).
#   loadtest/storm.sh BIN [OUTDIR]
# Prints (and writes OUTDIR/storm.txt): viewers that played (got media and a keyframe), first
# keyframe p50/p95 over every viewer and the worst room's p95, loss, and the keyframe requests
# the server sent to the publishers (relaycast_pli_sent_total over the run) against the viewers'
# own requests (relaycast_pli_received_total) and the joins: PLIs per publisher coalesced.
# Holds the measurement lock (/work/measure.lock if present). Environment: ROOMS, PER, RAMP,
# KIND (lean-rtcp: viewers that send RTCP like Chromium; lean; full), DUR (hold, default 20 s),
# PORT (default 18390), SERVER_ARGS.
set -u
BIN=$1; OUT=${2:-/tmp/storm}
ROOMS=${ROOMS:-100}; PER=${PER:-20}; RAMP=${RAMP:-200}; KIND=${KIND:-lean-rtcp}; DUR=${DUR:-20}; PORT=${PORT:-18390}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
LOCK=/work/measure.lock; [ -e $LOCK ] || LOCK=$OUT/lock
exec 9>>$LOCK; flock 9
D=$(mktemp -d)
uptime >"$OUT/storm.uptime"
"$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 \
  --rate-limit-ip off --rate-limit-user off --data-dir "$D" --log-level warn ${SERVER_ARGS:-} >"$OUT/storm.server.log" 2>&1 &
SP=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.2; done
TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
curl -s http://127.0.0.1:$PORT/metrics >"$OUT/storm.m0"
"$BIN" loadtest --url http://127.0.0.1:$PORT --room eve --token "$TOK" --rooms "$ROOMS" --viewers-per-room "$PER" \
  --viewer "$KIND" --duration "${DUR}s" --ramp "$RAMP/s" --server-pid $SP --json "$OUT/storm.json" --html "$OUT/storm.html" \
  >"$OUT/storm.loadtest.txt" 2>"$OUT/storm.progress"
curl -s http://127.0.0.1:$PORT/metrics >"$OUT/storm.m1"
kill $SP; wait $SP 2>/dev/null; rm -rf "$D"
uptime >>"$OUT/storm.uptime"
flock -u 9
python3 - "$OUT" "$ROOMS" "$PER" "$RAMP" "$KIND" <<'PY' | tee "$OUT/storm.txt"
import json, sys
out, rooms, per, ramp, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
def met(f):
    m = {}
    for l in open(f):
        if l.startswith('#'): continue
        k, _, v = l.rpartition(' ')
        try: m[k] = float(v)
        except ValueError: pass
    return m
m0, m1 = met(out + '/storm.m0'), met(out + '/storm.m1')
d = lambda k: m1.get(k, 0) - m0.get(k, 0)
j = json.load(open(out + '/storm.json')); y = j['synthetic']; rs = j.get('rooms') or []
n = rooms * per; storm_s = n / ramp
kf = y.get('first_keyframe_ms', {})
played = sum(r['connected'] for r in rs) if rs else y['connected']
worst = max(rs, key=lambda r: r['first_keyframe_p95_ms']) if rs else None
sent, recv = d('relaycast_pli_sent_total'), d('relaycast_pli_received_total')
print("join storm: %d rooms × %d %s viewers = %d, joining at %g/s (%.0f s), hold %s" % (rooms, per, kind, n, ramp, storm_s, j.get('params', {}).get('duration', '')))
print("played: %d of %d connected (%d rooms with every viewer: %d); loss %.3f %%" % (y['connected'], n, len(rs), sum(1 for r in rs if r['connected'] == r['target']), y.get('loss_pct', -1)))
print("first keyframe: p50/p95/max %.0f/%.0f/%.0f ms over every viewer; worst room's p95 %.0f ms (%s)" % (kf.get('p50', -1), kf.get('p95', -1), kf.get('max', -1),
      worst['first_keyframe_p95_ms'] if worst else -1, worst['room'] if worst else ''))
print("keyframe requests: the viewers sent %.0f, the server sent the %d publishers %.0f (%.1f each, for %d joins each; the rule allows ≤ storm/300 ms + 2 = %.0f each)" % (
      recv, rooms, sent, sent / rooms, per, (storm_s / 0.3) + 2))
print("server: %.3f cores mean over the hold; result %s" % (j['server'].get('proc_cpu_cores_mean', 0), 'PASS' if j.get('pass') else 'FAIL'))
PY
