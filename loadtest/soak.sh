#!/bin/bash
# The 1-hour soak of docs/RELIABILITY.md ("Soak"), one command:
#   loadtest/soak.sh BIN OUTDIR
# starts ONE node — BIN serve with its own redis-server (port REDIS_PORT, default 33379) and its
# own data directory, recording on, transcode in-process (serve's default --workers), the
# default flags except: no rate limits or connection caps for the load generator's loopback
# address (--rate-limit-ip off --rate-limit-user off --max-conns 0 --max-conns-per-ip 0) and
# loopback ICE — makes a small real media file with ffmpeg, and runs
#   BIN loadtest --soak OUTDIR …
# (loadtest/soak.go): 100 lean video viewers, 10 % of them leave and rejoin every minute; 20
# chatters; a lot every 2 minutes with 50 bidders; an upload every 5 minutes; sampling the
# server (RSS, goroutines, open fds, threads, CPU) every 30 s, then AFTER more seconds of
# sampling once the load stopped. OUTDIR gets samples.jsonl, soak.json, soak.md and soak.html
# (rewritten at every sample: a run cut short still leaves its report), the server log and
# `uptime` before and after. The box is shared: the report carries the load average.
# Environment: DUR (seconds of load, default 3600), AFTER (default 300), PORT (default 33080;
# ICE UDP on PORT+1), REDIS_PORT (33090), PPROF (a loopback host:port: the server serves its
# Go profiles there, RELAYCAST_PPROF, and once the sampling after the load is over OUTDIR gets
# heap-after.pb.gz, the heap after a forced GC, and heap-after.txt, its `go tool pprof -top`).
set -u
BIN=$1; OUT=$2
DUR=${DUR:-3600}; AFTER=${AFTER:-300}; PORT=${PORT:-33080}; RPORT=${REDIS_PORT:-33090}; PPROF=${PPROF:-}
mkdir -p "$OUT"
D=$(mktemp -d /tmp/soak-data.XXXXXX)
redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile $D/redis.pid --dir $D >/dev/null
for i in $(seq 50); do redis-cli -p $RPORT ping >/dev/null 2>&1 && break; sleep 0.1; done
SP=""
cleanup() {
  [ -n "$SP" ] && kill $SP 2>/dev/null && wait $SP 2>/dev/null
  [ -f $D/redis.pid ] && kill "$(cat $D/redis.pid)" 2>/dev/null
  cp $D/server.log $OUT/server.log 2>/dev/null
  rm -rf $D
}
trap cleanup EXIT
# the upload: 20 s of 640×360 H.264 + AAC, a real file the server transcodes
ffmpeg -v error -y -f lavfi -i testsrc=size=640x360:rate=30 -f lavfi -i sine=frequency=440 -t 20 \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -movflags +faststart $D/upload.mp4
RELAYCAST_PPROF=$PPROF $BIN serve --ice-loopback --http 127.0.0.1:$PORT --ice-udp-port $((PORT+1)) \
  --max-conns 0 --max-conns-per-ip 0 --rate-limit-ip off --rate-limit-user off \
  --redis-url redis://127.0.0.1:$RPORT/0 --data-dir $D/data --log-level info >$D/server.log 2>&1 &
SP=$!
for i in $(seq 150); do curl -sf http://127.0.0.1:$PORT/metrics >/dev/null && break; sleep 0.2; done
TOK=$($BIN token --room soak --publish --data-dir $D/data)
{ echo "# $BIN loadtest --soak $OUT (DUR=$DUR AFTER=$AFTER), server pid $SP"
  echo "# before: $(uptime)"; } > $OUT/run.txt
$BIN loadtest --soak $OUT --soak-upload $D/upload.mp4 --soak-after ${AFTER}s --duration ${DUR}s \
  --url http://127.0.0.1:$PORT --room soak --token $TOK --data-dir $D/data --server-pid $SP \
  > $OUT/summary.md 2> $OUT/progress.txt
RC=$?
echo "# after: $(uptime)" >> $OUT/run.txt
if [ -n "$PPROF" ] && curl -sf "http://$PPROF/debug/pprof/heap?gc=1" -o $OUT/heap-after.pb.gz; then
  go tool pprof -sample_index=inuse_space -top $BIN $OUT/heap-after.pb.gz > $OUT/heap-after.txt 2>/dev/null
  curl -s http://127.0.0.1:$PORT/metrics | grep -E '^go_memstats_heap_(inuse|alloc)_bytes' >> $OUT/heap-after.txt
fi
echo "# loadtest exit $RC" >> $OUT/run.txt
cat $OUT/run.txt $OUT/summary.md
exit $RC
