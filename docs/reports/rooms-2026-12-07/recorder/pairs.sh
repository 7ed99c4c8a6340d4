#!/bin/bash
# Paired runs of loadtest/rooms.sh (issue 16, "Recording included"): main's binary and the
# branch's, alternating, recording on and off, lean-rtcp viewers, live HLS off (as the baseline).
#   docs/reports/rooms-2026-12-07/recorder/pairs.sh MAIN_BIN BRANCH_BIN OUTDIR [SHAPES]
# Per shape, 8 runs in this order (each under the measurement lock, rooms.sh takes it):
#   main on, branch on, branch off, main off, branch on, main on, main off, branch off
# then OUTDIR/summary.md: server cores per run and the mean per binary and setting.
set -u
M=$1; B=$2; OUT=$3; SHAPES=${4:-"50x4 10x20"}
cd "$(dirname "$0")/../../../.."
mkdir -p "$OUT"
for shape in $SHAPES; do
  n=0
  for run in "main true" "branch true" "branch false" "main false" "branch true" "main true" "main false" "branch false"; do
    set -- $run; n=$((n + 1))
    bin=$M; [ "$1" = branch ] && bin=$B
    d="$OUT/$shape/$n-$1-record=$2"; mkdir -p "$d"
    SHAPES=$shape VIEWERS=lean-rtcp RECORD=$2 PORT=${PORT:-31100} SERVER_ARGS=--live-hls=false DUR=${DUR:-20} \
      loadtest/rooms.sh "$bin" "$d" >"$d.log" 2>&1
    head -1 "$d.log" | sed "s|^|$n $1 record=$2: |"
  done
done
python3 - "$OUT" $SHAPES <<'PY' | tee "$OUT/summary.md"
import json, os, re, sys, glob, statistics as st
out, shapes = sys.argv[1], sys.argv[2:]
print("| shape | run | binary | recording | server cores | viewers / core | its children (ffmpeg) cores | loss % | forwarding p99 ms | load before → after |")
print("|---|---|---|---|---|---|---|---|---|---|")
agg = {}
def met(f):  # a /metrics sample (as rooms.sh reads it)
    m = {}
    for l in open(f):
        if l.startswith('#'): continue
        k, _, v = l.rpartition(' ')
        try: m[k] = float(v)
        except ValueError: pass
    return m
def p99(m0, m1):  # the server's forwarding latency p99 over the hold (rooms.sh's)
    b = sorted((float(re.search(r'le="([^"]+)"', k).group(1)), m1[k] - m0.get(k, 0)) for k in m1 if k.startswith('relaycast_forward_latency_seconds_bucket'))
    tot = b[-1][1] if b else 0
    for le, c in b:
        if tot and c >= .99 * tot: return '≤ %g' % (le * 1000)
    return 'n/a'
for shape in shapes:
    for d in sorted(filter(os.path.isdir, glob.glob(os.path.join(out, shape, '*'))), key=lambda p: int(os.path.basename(p).split('-')[0])):
        n, b, r = re.match(r'(\d+)-(\w+)-record=(\w+)', os.path.basename(d)).groups()
        j = glob.glob(os.path.join(d, '*.json'))
        if not j:
            print("| %s | %s | %s | %s | failed | | | | | |" % (shape, n, b, r)); continue
        x = json.load(open(j[0])); s, y = x['server'], x['synthetic']
        c = s.get('proc_cpu_cores_mean', 0)
        base = j[0][:-len('.json')]
        m0, m1 = met(base + '.m0'), met(base + '.m1')
        k = [float(v) for v in open(base + '.kids').read().split()]
        kids = (k[3] - k[1]) / 100 / (k[2] - k[0])
        up = [re.search(r'load average: ([\d.]+)', l).group(1) for l in open(glob.glob(os.path.join(d, '*.uptime'))[0]) if 'load average' in l]
        print("| %s | %s | %s | %s | %.3f | %.0f | %.3f | %.3f | %s | %s |" % (shape, n, b, r, c, y['connected'] / c if c else 0, kids, y.get('loss_pct', -1), p99(m0, m1), ' → '.join(up)))
        agg.setdefault((shape, b, r), []).append(c)
print()
print("| shape | binary | cores, recording off (mean) | cores, recording on (mean) | recording adds |")
print("|---|---|---|---|---|")
for shape in shapes:
    off = agg.get((shape, 'main', 'false'), []) + agg.get((shape, 'branch', 'false'), [])
    for b in ('main', 'branch'):
        on = agg.get((shape, b, 'true'), [])
        if on and off:
            print("| %s | %s | %.3f (%d runs, both binaries) | %.3f (%s) | %+.0f %% |" % (shape, b, st.mean(off), len(off), st.mean(on), ', '.join('%.3f' % v for v in on), 100 * (st.mean(on) / st.mean(off) - 1)))
PY
