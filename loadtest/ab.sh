#!/bin/bash
# Paired A/B capacity run used for docs/PERFORMANCE.md: starts a server (direct send path, or
# --pion-send), runs the load test with lean (or full) viewers, and prints server CPU per
# viewer-second, user/sys CPU per datagram and forwarding latency over the hold window.
# usage: loadtest/ab.sh BIN MODE(direct|direct-nogso|pion) VIEWERS DURATION_S PORT OUT [KIND=lean|full]
# (direct-nogso: the direct send path without UDP GSO, --no-gso)
# PIN=1: the server runs on CPU 1 alone (taskset, GOMAXPROCS=1) and the load generator on CPU 0,
# so "viewers per core" is what one core held, not a figure scaled from a share of two.
BIN=$1; MODE=$2; N=$3; DUR=$4; PORT=$5; OUT=$6; KIND=${7:-lean}
D=$(mktemp -d)
SRVPIN=""; GENPIN=""
if [ "${PIN:-0}" = 1 ]; then SRVPIN="taskset -c 1 env GOMAXPROCS=1"; GENPIN="taskset -c 0"; fi
EXTRA=""; [ "$MODE" = pion ] && EXTRA=--pion-send; [ "$MODE" = direct-nogso ] && EXTRA=--no-gso
$SRVPIN $BIN serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off --record=false --data-dir $D --log-level warn $EXTRA >$D/server.log 2>&1 &
SP=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null && break; sleep 0.2; done
TOK=$($BIN token --room bench --publish --data-dir $D)
RAMP=100
# up to 3 s for the synthetic publisher to encode its VP8 + Opus loop, 2 s warm-up, the ramp, 3 s to
# settle; the window (DUR-7 s) ends before the hold does however fast the encode was
START=$(python3 -c "print(3 + 2 + $N/$RAMP + 3)")
$GENPIN $BIN loadtest --url http://127.0.0.1:$PORT --room bench --token $TOK --viewers $N --viewer $KIND --duration ${DUR}s --ramp $RAMP/s --server-pid $SP --json $OUT --quiet $LT_ARGS > $OUT.txt 2>&1 &
LP=$!
sleep $START; awk '{print $14, $15}' /proc/$SP/stat > $OUT.cpu0; awk '{print $14+$15}' /proc/$LP/stat > $OUT.gen0; curl -s http://127.0.0.1:$PORT/metrics > $OUT.m0
sleep $((DUR-7)); awk '{print $14, $15}' /proc/$SP/stat > $OUT.cpu1; awk '{print $14+$15}' /proc/$LP/stat > $OUT.gen1; curl -s http://127.0.0.1:$PORT/metrics > $OUT.m1
wait $LP
kill $SP; wait $SP 2>/dev/null; rm -rf $D
python3 - $OUT $DUR $N $KIND <<'PY'
import json,sys,re
o=sys.argv[1]; DUR=int(sys.argv[2]); N=int(sys.argv[3]); KIND=sys.argv[4]; d=json.load(open(o)); s=d['server']; y=d['synthetic']
u0,s0=map(int,open(o+'.cpu0').read().split()); u1,s1=map(int,open(o+'.cpu1').read().split())
def met(f):
    m={}
    for l in open(f):
        if l.startswith('#'): continue
        k,_,v=l.rpartition(' ')
        try: m[k]=float(v)
        except: pass
    return m
m0,m1=met(o+'.m0'),met(o+'.m1')
dg=m1.get('relaycast_udp_datagrams_sent_total',0)-m0.get('relaycast_udp_datagrams_sent_total',0)
msgs=m1.get('relaycast_udp_messages_sent_total',0)-m0.get('relaycast_udp_messages_sent_total',0)
# latency histogram delta
b=[(float(re.search(r'le="([^"]+)"',k).group(1)),m1[k]-m0.get(k,0)) for k in m1 if k.startswith('relaycast_forward_latency_seconds_bucket')]
b.sort(); tot=b[-1][1] if b else 0
def q(p):
    for le,c in b:
        if tot and c>=p*tot: return '%gms'%(le*1000)
lat='p50<=%s p99<=%s n=%d'%(q(.5),q(.99),tot)
ut=(u1-u0)/100; st=(s1-s0)/100
gen=(int(open(o+'.gen1').read())-int(open(o+'.gen0').read()))/100/(DUR-7)
print("generator: %.3f cores for %d %s viewers" % (gen, N, KIND))
print("%s: cpu %.2f ms/viewer-s (cores %.3f), user %.2fs sys %.2fs over %.0f datagrams: user %.2f us/dgram sys %.2f us/dgram; loss %.3f%%; kf p95 %s ms; fwd latency %s; sendq drops %d; %.2f datagrams/message"%(
  o, s['cpu_ms_per_viewer_s'], s['proc_cpu_cores_mean'], ut, st, dg, 1e6*ut/max(dg,1), 1e6*st/max(dg,1), y.get('loss_pct',-1), y.get('first_keyframe_ms',{}).get('p95','?'), lat, s['packets_dropped'], dg/msgs if msgs else float('nan')))
PY
