#!/bin/bash
# The live-room load scenarios of docs/LIVE-LOAD.md, one command:
#   loadtest/live.sh BIN [OUTDIR] [SCENARIOS]
# Each scenario starts its own server (BIN serve, loopback ICE, no connection caps, no recording)
# on a fresh Redis database and runs BIN loadtest against it:
#   a   1,000 bidders on one lot offering 1,000 bids/s for 60 s, 1,000 viewer sockets (+3 stalled)
#   b   100 chatters at 100 messages/s in total for 60 s into 1,000 viewer sockets (+3 stalled)
#   c0  300 lean synthetic video viewers of a 1.5 Mbps stream, 30 s hold: no live room
#   c1  the same 300 video viewers with (a)'s auction running in the same room during the hold
#   a200    c3's auction alone (no video), 30 s;  a500    (a) at 500 bids/s for 30 s;  a-half  500 bidders and 500 viewer sockets at 1,000 bids/s, 30 s
#   c2  (c0)'s video viewers with a-half's auction (the one this box holds within every limit)
#   c3  (c0)'s video viewers with a busy auction that leaves the server CPU to spare: 1,000 bidders
#       offering 200 bids/s in total, 1,000 viewer sockets (+3 stalled)
# and prints the summary of each. Runs take the measurement lock (/work/measure.lock if present)
# so nothing else measured runs at the same time; each output notes `uptime` before the run.
# Environment: REDIS=embedded (the server's embedded miniredis) or a redis:// URL (default: a
# redis-server started here on port REDIS_PORT, 28379); PORT (default 18290); DUR_A, DUR_B, DUR_C
# (seconds; 60, 60, 30); VIEWERS_C (300); SERVER_CPUS / HARNESS_CPUS (taskset CPU lists, e.g. 0
# and 1: the server on one core, the load generator and Redis on the other; default: no pinning);
# SERVER_ARGS (more `serve` flags, e.g. --live-event-batch 0).
set -u
BIN=$1; OUT=${2:-/tmp/live-load}; SCEN=${3:-"a b c0 c1"}
PORT=${PORT:-18290}; RPORT=${REDIS_PORT:-28379}
DUR_A=${DUR_A:-60}; DUR_B=${DUR_B:-60}; DUR_C=${DUR_C:-30}; VIEWERS_C=${VIEWERS_C:-300}
mkdir -p "$OUT"
SPIN=""; HPIN=""
[ -n "${SERVER_CPUS:-}" ] && SPIN="taskset -c $SERVER_CPUS"
[ -n "${HARNESS_CPUS:-}" ] && HPIN="taskset -c $HARNESS_CPUS"
LOCK=/work/measure.lock; [ -e $LOCK ] || LOCK=$OUT/lock
RSTARTED=""
if [ "${REDIS:-}" = embedded ]; then
  RURL=""
elif [ -n "${REDIS:-}" ]; then
  RURL=$REDIS
else
  $HPIN redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile $OUT/redis.pid >/dev/null
  RSTARTED=1; RURL=redis://127.0.0.1:$RPORT/0
  for i in $(seq 50); do redis-cli -p $RPORT ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
stop_redis() { [ -n "$RSTARTED" ] && kill "$(cat $OUT/redis.pid)" 2>/dev/null; }
trap stop_redis EXIT

run() { # name, loadtest args...
  local name=$1; shift
  exec 9>>$LOCK; flock 9
  local D; D=$(mktemp -d)
  [ -n "$RSTARTED" ] && redis-cli -p $RPORT flushall >/dev/null
  local RFLAG=""; [ -n "$RURL" ] && RFLAG="--redis-url $RURL"
  $SPIN $BIN serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off \
    --record=false --data-dir $D --log-level info $RFLAG ${SERVER_ARGS:-} >$D/server.log 2>&1 &
  local SP=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null && break; sleep 0.2; done
  local TOK; TOK=$($BIN token --room live --publish --data-dir $D)
  { echo "# $name: $BIN loadtest $* (redis: ${RURL:-embedded miniredis})${SERVER_ARGS:+; serve ${SERVER_ARGS}}${SPIN:+; server: $SPIN}${HPIN:+; harness: $HPIN}"
    echo "# before: $(uptime)"; } > $OUT/$name.txt
  local RP=""; [ -n "$RSTARTED" ] && RP=$(cat $OUT/redis.pid)
  local R0=0 T0; T0=$(date +%s.%N); [ -n "$RP" ] && R0=$(awk '{print $14+$15}' /proc/$RP/stat)
  $HPIN $BIN loadtest --url http://127.0.0.1:$PORT --room live --data-dir $D --token $TOK --server-pid $SP \
    --json $OUT/$name.json --html $OUT/$name.html "$@" >> $OUT/$name.txt 2>$OUT/$name.progress &
  local LP=$!
  python3 loadtest/cpusample.py $OUT/$name.cpu $SP $LP $RP &
  if [ -n "${PERF:-}" ]; then # PERF=1: 20 s of the server's CPU profile (perf, 199 Hz), 25 s into the run
    sleep 25; perf record -q -F 199 -g -p $SP -o $OUT/$name.perf.data -- sleep 20 >/dev/null 2>&1
    { perf report -i $OUT/$name.perf.data --stdio --no-children --sort dso,symbol -g none 2>/dev/null | grep "%" | head -40; echo; perf report -i $OUT/$name.perf.data --stdio --no-children --sort symbol 2>/dev/null | grep -v "^$" | grep "%" | head -80; } > $OUT/$name.perf.txt
    rm -f $OUT/$name.perf.data
  fi
  wait $LP
  awk '!/^#/ {n++; a+=$2; s+=$3; h+=$4; r+=$5; o+=$6; if ($6>m) m=$6} END {if (n) printf "# box CPU while it ran (cores, mean of %d 2-s samples): all %.2f = server %.2f + harness %.2f + redis %.2f + others %.2f (others max %.2f); per sample in NAME.cpu\n", n, a/n, s/n, h/n, r/n, o/n, m}' $OUT/$name.cpu >> $OUT/$name.txt
  curl -s http://127.0.0.1:$PORT/metrics > $OUT/$name.metrics
  # the server's own RTP forwarding latency (read → sent), since it started: the video path alone
  python3 - $OUT/$name.metrics >> $OUT/$name.txt <<'PY'
import re,sys
b=[]
for l in open(sys.argv[1]):
    if l.startswith('relaycast_forward_latency_seconds_bucket'):
        le=re.search(r'le="([^"]+)"',l).group(1); b.append((float(le),float(l.rsplit(' ',1)[1])))
b.sort(); tot=b[-1][1] if b else 0
def q(p):
    for le,c in b:
        if tot and c>=p*tot: return '%gms'%(le*1000)
if tot: print("# server RTP forwarding latency (relaycast_forward_latency_seconds, whole run): p50<=%s p99<=%s p99.9<=%s over %d packets"%(q(.5),q(.99),q(.999),tot))
PY
  echo "# after: $(uptime)" >> $OUT/$name.txt
  if [ -n "$RP" ]; then
    local R1 T1; R1=$(awk '{print $14+$15}' /proc/$RP/stat); T1=$(date +%s.%N)
    echo "# redis-server: $(python3 -c "print('%.2f s CPU over the %.0f s of the loadtest command (%.3f cores on average, setup and teardown included)' % (($R1-$R0)/100, $T1-$T0, ($R1-$R0)/100/($T1-$T0)))")" >> $OUT/$name.txt
  fi
  echo "# server log: $(grep -c "too slow" $D/server.log) sockets closed as too slow" >> $OUT/$name.txt
  kill $SP; wait $SP 2>/dev/null
  cp $D/server.log $OUT/$name.server.log
  rm -rf $D
  flock -u 9
  echo "== $name"; cat $OUT/$name.txt
}

for s in $SCEN; do
  case $s in
    a)  run a --bidders 1000 --bid-rate 1000 --live-viewers 1000 --duration ${DUR_A}s ;;
    b)  run b --chatters 100 --chat-rate 100 --live-viewers 1000 --duration ${DUR_B}s ;;
    a200) run a200 --bidders 1000 --bid-rate 200 --live-viewers 1000 --duration ${DUR_C}s ;;
    a500) run a500 --bidders 1000 --bid-rate 500 --live-viewers 1000 --duration 30s ;;
    a-half) run a-half --bidders 500 --bid-rate 1000 --live-viewers 500 --duration 30s ;;
    c0) run c0 --viewers $VIEWERS_C --viewer lean --ramp 100/s --duration ${DUR_C}s ;;
    c2) run c2 --viewers $VIEWERS_C --viewer lean --ramp 100/s --duration ${DUR_C}s --bidders 500 --bid-rate 1000 --live-viewers 500 ;;
    c3) run c3 --viewers $VIEWERS_C --viewer lean --ramp 100/s --duration ${DUR_C}s --bidders 1000 --bid-rate 200 --live-viewers 1000 ;;
    c1) run c1 --viewers $VIEWERS_C --viewer lean --ramp 100/s --duration ${DUR_C}s --bidders 1000 --bid-rate 1000 --live-viewers 1000 ;;
    *)  echo "unknown scenario $s" >&2 ;;
  esac
done
