#!/bin/bash
# Viewers per core and join time on an edge against the origin (docs/CLUSTER.md, "Edges"), one
# command:
#   loadtest/edge.sh BIN [OUTDIR]
# Starts a redis-server and two `serve` nodes on one Redis (origin and edge: loopback ICE, no
# connection caps, no recording, one shared --auth-secret), publishes the synthetic VP8 + Opus
# loop to the origin from one `loadtest --viewers 1` process (its one viewer on the origin), then
# runs the same viewer load
# (VIEWERS lean synthetic viewers, ramp 100/s, DUR s hold) once against the origin ("origin":
# the single-node figure in the same setup) and once against the edge ("edge": the edge pulls
# the room from the origin once and serves the viewers from its copy). Each run's server CPU is
# the process the viewers hit (--server-pid). Environment: VIEWERS (300), DUR (30), PORT (18300).
set -u
BIN=$1; OUT=${2:-/tmp/edge-load}
VIEWERS=${VIEWERS:-300}; DUR=${DUR:-30}; PORT=${PORT:-18300}
RPORT=$((PORT+90)); OPORT=$PORT; EPORT=$((PORT+10))
mkdir -p "$OUT"
D=$(mktemp -d)
SECRET=edge-load-secret-0123456789abcdef
redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile $D/redis.pid >/dev/null
for i in $(seq 50); do redis-cli -p $RPORT ping >/dev/null 2>&1 && break; sleep 0.1; done
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; kill "$(cat $D/redis.pid)" 2>/dev/null; }
trap cleanup EXIT
node() { # name, http port
  mkdir -p $D/$1
  $BIN serve --ice-loopback --http 127.0.0.1:$2 --ice-udp-port $(($2+1)) --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off \
    --record=false --data-dir $D/$1 --auth-secret $SECRET --node-id $1 --redis-url redis://127.0.0.1:$RPORT/0 \
    --log-level info >$OUT/$1.server.log 2>&1 &
  PIDS+=($!)
  for i in $(seq 100); do curl -sf http://127.0.0.1:$2/readyz >/dev/null && break; sleep 0.2; done
}
node origin $OPORT; OPID=${PIDS[0]}
node edge $EPORT; EPID=${PIDS[1]}
TOK=$($BIN token --room edge --publish --subject edge-load --auth-secret $SECRET)
# The publisher: one process for both runs, to the origin.
$BIN loadtest --url http://127.0.0.1:$OPORT --room edge --token $TOK --viewers 1 --viewer lean --duration $((3*DUR+60))s \
  --data-dir $D/origin >$OUT/publisher.txt 2>&1 &
PIDS+=($!)
sleep 5
for target in origin edge; do
  port=$OPORT; pid=$OPID
  [ $target = edge ] && port=$EPORT && pid=$EPID
  o0=$(awk '{print $14+$15}' /proc/$OPID/stat); t0=$(date +%s.%N)
  { echo "# $target: $BIN loadtest --url http://127.0.0.1:$port --publisher none --viewers $VIEWERS --viewer lean --ramp 100/s --duration ${DUR}s"
    echo "# before: $(uptime)"; } >$OUT/$target.txt
  $BIN loadtest --url http://127.0.0.1:$port --room edge --token $TOK --publisher none --viewers $VIEWERS \
    --viewer lean --ramp 100/s --duration ${DUR}s --server-pid $pid --json $OUT/$target.json \
    --html $OUT/$target.html >>$OUT/$target.txt 2>$OUT/$target.progress
  o1=$(awk '{print $14+$15}' /proc/$OPID/stat); t1=$(date +%s.%N)
  echo "# origin process CPU over the whole loadtest command (setup and ramp included): $(echo "($o1-$o0)/100/($t1-$t0)" | bc -l | cut -c1-5) cores; after: $(uptime)" >>$OUT/$target.txt
  curl -s http://127.0.0.1:$OPORT/metrics | grep -E '^relaycast_(viewers|edges|relays) ' >>$OUT/$target.txt
  sleep 3
done
for target in origin edge; do echo "== $target"; grep -E '^synthetic|^server|^# origin process|^relaycast_' $OUT/$target.txt; done
