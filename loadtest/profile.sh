#!/bin/bash
# CPU profile (perf, cpu-clock) of the server at N lean viewers, used for docs/PERFORMANCE.md.
# profile the server at N viewers: prof.sh BIN MODE(direct|direct-nogso|pion) N  (PORT=… to move it)
BIN=$1; MODE=$2; N=$3; PORT=${PORT:-18190}
mkdir -p /tmp/perf
D=$(mktemp -d); EXTRA=""; [ "$MODE" = pion ] && EXTRA=--pion-send; [ "$MODE" = direct-nogso ] && EXTRA=--no-gso
$BIN serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off --record=false --data-dir $D --log-level warn $EXTRA >$D/server.log 2>&1 &
SP=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null && break; sleep 0.2; done
TOK=$($BIN token --room bench --publish --data-dir $D)
TAG=${TAG:-$MODE}; $BIN loadtest --url http://127.0.0.1:$PORT --room bench --token $TOK --viewers $N --viewer lean --duration 20s --ramp 100/s --server-pid $SP --quiet $LT_ARGS > /tmp/perf/prof-$TAG.txt 2>&1 &  # env LT_ARGS: extra loadtest flags
LP=$!
sleep $((2 + N/100 + 4))
perf record -e cpu-clock -F 499 -g -p $SP -o /tmp/perf/prof-$TAG.data -- sleep 10 >/dev/null 2>&1
wait $LP
kill $SP; wait $SP 2>/dev/null; rm -rf $D
