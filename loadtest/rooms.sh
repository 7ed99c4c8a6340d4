#!/bin/bash
# The shapes of a platform's evening (issue 16), one command:
#   loadtest/rooms.sh BIN [OUTDIR]
# For each shape ROOMSxVIEWERS (default "1x200 10x20 50x4 100x5 1x1000") and each viewer kind
# (default "lean lean-rtcp": lean viewers only count SRTP; lean-rtcp ones also send RTCP as
# Chromium does — receiver reports every second, NACKs on loss, REMB/TWCC when negotiated; "full"
# for Pion viewers) it starts a server (default flags, recording on unless RECORD=false), mints a
# token for every room (admin), runs `relaycast loadtest --rooms R --viewers-per-room V` (one
# synthetic publisher per room) and prints the server's viewers per core, loss and first-keyframe
# p95 of the hold window, one line per run; at the end a table (OUTDIR/table.md): viewers per
# server core from /proc (the server process; its ffmpeg children in a column of their own), loss, first-keyframe p95, the server's forwarding latency p99
# (relaycast_forward_latency_seconds over the hold), the viewers' RTCP per second, and the load
# average before and after. Each run holds the measurement lock (/work/measure.lock if present).
# PIN=1: the server on CPU 1 alone (GOMAXPROCS=1), the generator on CPU 0.
# Environment: SHAPES, VIEWERS (or VIEWER for one kind), DUR (hold seconds, default 20), PORT
# (default 18190), RECORD, DROP (lean-rtcp: --lean-drop-every N, default 0), SERVER_ARGS.
set -u
if [ "${1:-}" = __one ]; then # one run, under the lock: __one BIN OUT SHAPE KIND
  BIN=$2; OUT=$3; shape=$4; KIND=$5
  R=${shape%%x*}; V=${shape##*x}; N=$((R * V))
  D=$(mktemp -d)
  SRVPIN=""; GENPIN=""
  if [ "${PIN:-0}" = 1 ]; then SRVPIN="taskset -c 1 env GOMAXPROCS=1"; GENPIN="taskset -c 0"; fi
  J="$OUT/$shape-$KIND-record=$RECORD.json"
  uptime >"${J%.json}.uptime"
  $SRVPIN "$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 \
    --rate-limit-ip off --rate-limit-user off --record=$RECORD --data-dir "$D" --log-level warn ${SERVER_ARGS:-} >"$D/server.log" 2>&1 &
  SP=$!
  echo $SP >"${J%.json}.pid"
  for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.2; done
  TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
  EXTRA=""; [ "$KIND" = lean-rtcp ] && [ "${DROP:-0}" != 0 ] && EXTRA="--lean-drop-every $DROP"
  $GENPIN "$BIN" loadtest --url http://127.0.0.1:$PORT --room eve --token "$TOK" --rooms "$R" --viewers-per-room "$V" \
    --viewer "$KIND" --duration "${DUR}s" --ramp 100/s --server-pid $SP --json "$J" --html "${J%.json}.html" --quiet $EXTRA >"${J%.json}.txt" 2>&1 &
  LP=$!
  # up to 3 s to encode the loop, 2 s warm-up, the ramp, 3 s to settle: the window ends before the hold does
  # the server's children (recording transcodes, live HLS ffmpeg): their CPU is not in /proc/SP's utime
  kids() { python3 - $SP <<'PY'
import os, sys
sp = sys.argv[1]; f = open('/proc/%s/stat' % sp).read().rsplit(')', 1)[1].split()
dead = int(f[13]) + int(f[14])  # cutime + cstime: children that exited (waited for)
live = 0
for p in os.listdir('/proc'):
    if not p.isdigit(): continue
    try: g = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()
    except OSError: continue
    if g[1] == sp: live += int(g[11]) + int(g[12]) + int(g[13]) + int(g[14])
print(dead + live)
PY
  }
  # the server's context switches (voluntary + involuntary, all its threads): hand-offs between goroutines that park a thread
  ctxsw() { cat /proc/$SP/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n}'; }
  sleep $(python3 -c "print(3 + 2 + $N/100 + 3)"); curl -s http://127.0.0.1:$PORT/metrics >"${J%.json}.m0"; { date +%s.%N; kids; } >"${J%.json}.kids"; ctxsw >"${J%.json}.ctxsw"
  [ -n "${ON_HOLD:-}" ] && { $ON_HOLD $SP "${J%.json}" & } # e.g. a profiler in the hold: ON_HOLD=loadtest/rooms-profile.sh
  sleep $((DUR - 7)); curl -s http://127.0.0.1:$PORT/metrics >"${J%.json}.m1"; { date +%s.%N; kids; } >>"${J%.json}.kids"; ctxsw >>"${J%.json}.ctxsw"
  wait $LP
  kill $SP; wait $SP 2>/dev/null; rm -rf "$D"
  uptime >>"${J%.json}.uptime"
  python3 - "$J" "$shape" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d['server']; y = d['synthetic']
rooms = d.get('rooms') or []
worst = max((r['loss_pct'] for r in rooms), default=y.get('loss_pct', 0))
print("%-8s %5d viewers: %7.1f viewers/core (%.3f cores), loss %.3f%% (worst room %.3f%%), first keyframe p95 %.0f ms, latency p99 %.1f ms, %s" % (
    sys.argv[2], y['connected'], s.get('viewers_per_core', 0), s.get('proc_cpu_cores_mean', 0), y.get('loss_pct', -1), worst,
    y.get('first_keyframe_ms', {}).get('p95', -1), y.get('latency_ms', {}).get('p99', -1), "PASS" if d.get('pass') else "FAIL"))
PY
  exit 0
fi
BIN=$1; OUT=${2:-/tmp/rooms}
export PORT=${PORT:-18190} DUR=${DUR:-20} RECORD=${RECORD:-true}
SHAPES=${SHAPES:-"1x200 10x20 50x4 100x5 1x1000"}; VIEWERS=${VIEWERS:-${VIEWER:-lean lean-rtcp}}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
LOCK=/work/measure.lock; [ -e $LOCK ] || LOCK=$OUT/lock
for shape in $SHAPES; do
  for kind in $VIEWERS; do
    flock $LOCK "$0" __one "$BIN" "$OUT" "$shape" "$kind"
  done
done
python3 - "$OUT" "$RECORD" $SHAPES -- $VIEWERS <<'PY' | tee "$OUT/table.md"
import json, re, sys, os
out, record = sys.argv[1], sys.argv[2]
i = sys.argv.index('--'); shapes, kinds = sys.argv[3:i], sys.argv[i+1:]
def met(f):
    m = {}
    for l in open(f):
        if l.startswith('#'): continue
        k, _, v = l.rpartition(' ')
        try: m[k] = float(v)
        except ValueError: pass
    return m
def p99(m0, m1):
    b = sorted((float(re.search(r'le="([^"]+)"', k).group(1)), m1[k] - m0.get(k, 0)) for k in m1 if k.startswith('relaycast_forward_latency_seconds_bucket'))
    tot = b[-1][1] if b else 0
    for le, c in b:
        if tot and c >= .99 * tot: return '≤ %g' % (le * 1000)
    return 'n/a'
print("| shape | viewers | kind | viewers / server core (/proc) | server cores | its children's cores (ffmpeg) | loss % | first keyframe p95 ms | forwarding p99 ms | RR/s | NACK/s | REMB/s | TWCC/s | load avg before → after |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for shape in shapes:
    for kind in kinds:
        base = os.path.join(out, '%s-%s-record=%s' % (shape, kind, record))
        try:
            d = json.load(open(base + '.json'))
        except (OSError, ValueError):
            print("| %s | | %s | run failed (see %s.txt) | | | | | | | | | | |" % (shape, kind, base)); continue
        s, y, r = d['server'], d['synthetic'], d.get('rtcp') or {}
        cores = s.get('proc_cpu_cores_mean', 0); n = y['connected']
        try: fwd = p99(met(base + '.m0'), met(base + '.m1'))
        except OSError: fwd = 'n/a'
        try:
            k = [float(x) for x in open(base + '.kids').read().split()]
            kc = '%.3f' % ((k[3] - k[1]) / 100 / (k[2] - k[0]))
        except (OSError, ValueError, IndexError): kc = 'n/a'
        la = [re.search(r'load average: ([\d.]+)', l).group(1) for l in open(base + '.uptime') if 'load average' in l]
        print("| %s | %d | %s | %.0f | %.3f | %s | %.3f | %.0f | %s | %s | %s | %s | %s | %s |" % (shape, n, kind, n / cores if cores else 0, cores, kc, y.get('loss_pct', -1),
            y.get('first_keyframe_ms', {}).get('p95', -1), fwd, r.get('rr_per_second', '–'), r.get('nack_per_second', '–'), r.get('remb_per_second', '–'),
            r.get('twcc_per_second', '–'), ' → '.join(la)))
PY
