#!/bin/bash
# Browser glass-to-glass in one small room while the other rooms are under load (issue 16):
#   loadtest/g2g-rooms.sh BIN OUT [SHAPES]
# A shape NxM is N rooms in all: N−1 background rooms × M lean-rtcp viewers, each background room
# with its own synthetic publisher (one `relaycast loadtest --rooms N−1` process), and one more
# room "g2g" where a Chromium publisher paints the clock canvas and one Chromium viewer watches it
# (a second loadtest process, --publisher browser --browser-viewers 1). 1x0 is the browser alone.
# Default shapes: "1x0 20x5 50x4 100x5". One server per run (default flags of the loadtest
# harness plus --ice-loopback: no per-IP caps or rate limits, recording on, live HLS on).
# The browser run starts once the server counts every background viewer (then 3 s more); its
# hold (20 s after a 10 s publisher warm-up) lies inside the background's hold.
# Writes OUT/<shape>-r<i>-bg.json (background), OUT/<shape>-r<i>-g2g.json (browser), their .txt
# and .html, .uptime (load before / at the browser start / after), .cpu (the server's children and
# the whole box over the browser run), .hold (background viewers when the browser started),
# .recordings.json (the server's recordings at the end), and OUT/table.md.
# Each run holds the measurement lock (LOCK, default /work/measure.lock) and takes ≈ 1.5 min.
# Environment: REPS (runs per shape, default 1), PORT (default 41190; ICE UDP PORT+1),
# BG_DUR (background hold seconds, default 75), G2G_DUR (browser hold, default 20), SERVER_ARGS,
# TABLE_ONLY=1 (no runs: rewrite OUT/table.md from the files in OUT).
set -u
if [ "${1:-}" = __one ]; then # one run, under the lock: __one BIN OUT SHAPE REP
  BIN=$2; OUT=$3; shape=$4; rep=$5
  R=${shape%%x*}; V=${shape##*x}; BG=$((R - 1)); N=$((BG * V))
  D=$(mktemp -d)
  B="$OUT/$shape-r$rep"
  uptime >"$B.uptime"
  "$BIN" serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 \
    --rate-limit-ip off --rate-limit-user off --data-dir "$D" --log-level warn ${SERVER_ARGS:-} >"$D/server.log" 2>&1 &
  SP=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.2; done
  TOK=$("$BIN" token --room '*' --admin --data-dir "$D")
  LP=""
  if [ "$N" -gt 0 ]; then
    "$BIN" loadtest --url http://127.0.0.1:$PORT --room eve --token "$TOK" --rooms "$BG" --viewers-per-room "$V" \
      --viewer lean-rtcp --duration "${BG_DUR}s" --ramp 100/s --server-pid $SP --json "$B-bg.json" --html "$B-bg.html" \
      --quiet >"$B-bg.txt" 2>&1 &
    LP=$!
    # holding: the server counts every background viewer (relaycast_viewers), or the ramp is long
    # over (3 s encode, 2 s warm-up, the ramp at 100/s, 15 s for slow joins); then 3 s more
    t0=$(date +%s); v=0
    while [ $(( $(date +%s) - t0 )) -lt $((3 + 2 + N / 100 + 15)) ]; do
      v=$(curl -s --max-time 2 http://127.0.0.1:$PORT/metrics | awk '$1 == "relaycast_viewers" {print int($2)}')
      [ "${v:-0}" -ge "$N" ] && break
      kill -0 $LP 2>/dev/null || break
      sleep 0.5
    done
    echo "background: ${v:-?} of $N viewers after $(( $(date +%s) - t0 )) s" >"$B.hold"
    sleep 3
  fi
  uptime >>"$B.uptime"
  # CPU over the browser run: the server's children (recording, live HLS ffmpeg) and the whole box
  cpu() { python3 - $SP <<'PY'
import os, sys, time
sp = sys.argv[1]; f = open('/proc/%s/stat' % sp).read().rsplit(')', 1)[1].split()
kids = int(f[13]) + int(f[14])  # cutime + cstime: children that exited
for p in os.listdir('/proc'):
    if not p.isdigit(): continue
    try: g = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()
    except OSError: continue
    if g[1] == sp: kids += int(g[11]) + int(g[12]) + int(g[13]) + int(g[14])
c = [int(x) for x in open('/proc/stat').readline().split()[1:]]
print(time.time(), kids, sum(c) - c[3] - c[4], sum(c))  # busy = all − idle − iowait
PY
  }
  cpu >"$B.cpu"
  "$BIN" loadtest --url http://127.0.0.1:$PORT --room g2g --token "$TOK" --publisher browser --browser-viewers 1 \
    --warmup 10s --duration "${G2G_DUR}s" --ramp 2/s --server-pid $SP --max-g2g-p95 150ms \
    --json "$B-g2g.json" --html "$B-g2g.html" --quiet >"$B-g2g.txt" 2>&1
  cpu >>"$B.cpu"
  uptime >>"$B.uptime"
  # what the server recorded (the background loadtest asks only for room "eve", not eve-1 … eve-N)
  curl -s --max-time 5 -H "Authorization: Bearer $TOK" "http://127.0.0.1:$PORT/api/recordings?limit=200" >"$B.recordings.json"
  [ -n "$LP" ] && wait $LP
  kill $SP; wait $SP 2>/dev/null; rm -rf "$D"
  exit 0
fi
BIN=$1; OUT=${2:-/tmp/g2g-rooms}; SHAPES=${3:-${SHAPES:-"1x0 20x5 50x4 100x5"}}
export PORT=${PORT:-41190} BG_DUR=${BG_DUR:-75} G2G_DUR=${G2G_DUR:-20}
REPS=${REPS:-1}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
LOCK=${LOCK:-/work/measure.lock} # flock creates it
[ "${TABLE_ONLY:-0}" = 1 ] && REPS=0 # only rewrite OUT/table.md from the files in OUT
for rep in $(seq "$REPS"); do
  for shape in $SHAPES; do
    flock $LOCK "$0" __one "$BIN" "$OUT" "$shape" "$rep"
    echo "$(date -u +%H:%M:%S) $shape r$rep done"
  done
done
python3 - "$OUT" <<'PY' | tee "$OUT/table.md"
import glob, json, os, re, sys
out = sys.argv[1]
def load(f):
    try: return json.load(open(f))
    except (OSError, ValueError): return None
def key(b):
    return tuple(int(x) for x in re.match(r'(\d+)x(\d+)-r(\d+)$', os.path.basename(b)).groups())
bases = sorted({f[:-len('.uptime')] for f in glob.glob(os.path.join(out, '*-r*.uptime'))}, key=key)
print("| shape (rooms × viewers) | background viewers | run | g2g p50 / p95 ms | processing p95 ms | jb p95 ms | freezes (hold) | fps | background loss % (worst room) | background first keyframe p95 ms | server cores (browser hold) | its children's cores | box busy cores | load avg before → browser start → after | recordings | g2g p95 < 150 ms? |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for b in bases:
    name = os.path.basename(b); shape, rep = name.rsplit('-r', 1)
    R, V = (int(x) for x in shape.split('x'))
    g, bg = load(b + '-g2g.json'), load(b + '-bg.json')
    la = ' → '.join(re.search(r'load average: ([\d.]+)', l).group(1) for l in open(b + '.uptime') if 'load average' in l)
    try:
        c = [[float(x) for x in l.split()] for l in open(b + '.cpu')]
        dt = c[1][0] - c[0][0]
        kids = '%.2f' % ((c[1][1] - c[0][1]) / 100 / dt)
        busy = '%.2f' % (2 * (c[1][2] - c[0][2]) / (c[1][3] - c[0][3]))  # 2 cores
    except (OSError, ValueError, IndexError): kids = busy = 'n/a'
    if bg:
        y = bg['synthetic']; rooms = bg.get('rooms') or []
        worst = max((r['loss_pct'] for r in rooms), default=y.get('loss_pct', 0))
        bgl = '%.3f (%.3f)' % (y.get('loss_pct', -1), worst)
        bgk = '%.0f' % y.get('first_keyframe_ms', {}).get('p95', -1)
        nbg = '%d of %d' % (y.get('connected', 0), (R - 1) * V)
    else:
        bgl = bgk = '–' if R <= 1 or V == 0 else 'failed'; nbg = '0' if R <= 1 or V == 0 else 'failed'
    if not g or not g.get('browser'):
        print("| %s | %s | r%s | failed (see %s-g2g.txt) | | | | | %s | %s | | %s | %s | %s | | no |" % (shape, nbg, rep, name, bgl, bgk, kids, busy, la)); continue
    br = g['browser']; vs = br.get('viewers') or [{}]
    try: nrec = len(json.load(open(b + '.recordings.json')).get('recordings') or [])
    except (OSError, ValueError, AttributeError): nrec = -1
    if br.get('playing', 0) == 0:
        st = ', '.join('state %s, %d frames decoded' % (v.get('state'), v.get('frames_decoded', 0)) for v in vs)
        print("| %s | %s | r%s | viewer never played (%s) | | | | | %s | %s | %.3f | %s | %s | %s | %d | **no** |" % (shape, nbg, rep, st, bgl, bgk, g['server'].get('proc_cpu_cores_mean', 0), kids, busy, la, nrec)); continue
    inside = True
    if bg:  # the browser's hold window must end inside the background's (report 'ended' = end of the hold + teardown)
        from datetime import datetime
        t = lambda x: datetime.fromisoformat(re.sub(r'(\.\d{6})\d*', r'\1', x.replace('Z', '+00:00')))
        inside = t(g['ended']) <= t(bg['ended'])
        if not inside: nbg += ' **(hold ended before the browser\'s)**'
    ok = br['g2g_ms'].get('count', 0) > 0 and br['g2g_ms']['p95'] < 150
    print("| %s | %s | r%s | %.0f / %.0f | %.0f | %.0f | %d | %s | %s | %s | %.3f | %s | %s | %s | %d | %s |" % (
        shape, nbg, rep, br['g2g_ms']['p50'], br['g2g_ms']['p95'], br['processing_ms']['p95'], br['jitter_buffer_ms']['p95'],
        br.get('freezes_hold', 0), '/'.join('%.0f' % v.get('fps', 0) for v in vs), bgl, bgk,
        g['server'].get('proc_cpu_cores_mean', 0), kids, busy, la, nrec, ('yes' if ok else '**no**') if inside else 'not under load'))
PY
