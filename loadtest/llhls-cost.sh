#!/bin/bash
# CPU per room per rendition of the live LL-HLS output (docs/LLHLS.md, "From a live room to
# the playlist"; docs/reports/llhls-2026-12-07, "Cost of the live ladder"), one command:
#   loadtest/llhls-cost.sh BIN [OUTDIR]
# Makes two 720p30 clips with Opus (H.264 as OBS/WHIP sends it: zerolatency, 2.5 Mbps, 2 s GOP;
# VP8 as a browser sends it: realtime, 2.5 Mbps), then for each case starts one `serve` (no
# recording, loopback ICE) and one `loadtest --publisher file` process publishing the clip,
# looped, with one lean viewer, waits WARM s, and samples over DUR s from /proc: the server
# process's CPU (utime+stime: SFU + the Go side of live HLS: depacketizing, the H.264 copy, the
# fMP4 packager) and its ffmpeg children's (the transcoder). The cases:
#   h264-off      --live-hls=false                  (the baseline: SFU + publisher's room only)
#   h264-copy     --live-hls-ladder none            (src copied, ffmpeg for Opus→AAC only)
#   h264-ladder   --live-hls-ladder 360p            (src copied, ffmpeg: 360p + AAC)
#   vp8-off       --live-hls=false
#   vp8-src       --live-hls-ladder none            (ffmpeg: 720p H.264 + AAC)
#   vp8-ladder    --live-hls-ladder 360p            (ffmpeg: 720p + 360p + AAC)
# The Go cost of live HLS is a case's server CPU minus its codec's "-off" case. Every server runs
# with --live-hls-start always (the cost of a running live HLS; on demand, the default, a room
# nobody asks for over HLS runs none).
# Environment: DUR (30), WARM (10), PORT (18600).
set -u
BIN=$1; OUT=${2:-/tmp/llhls-cost}
DUR=${DUR:-30}; WARM=${WARM:-10}; PORT=${PORT:-18600}
mkdir -p "$OUT"
D=$(mktemp -d)
SECRET=llhls-cost-secret-0123456789abcdef
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT

# The clips: 20 s, looped by the publisher.
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 20 \
  -c:v libx264 -preset veryfast -tune zerolatency -profile:v high -b:v 2500k -maxrate 2500k -bufsize 2500k \
  -g 60 -keyint_min 60 -bsf:v h264_mp4toannexb -f h264 $D/h264.h264
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 20 \
  -c:v libvpx -deadline realtime -cpu-used 8 -b:v 2500k -g 60 -keyint_min 60 $D/vp8.ivf
ffmpeg -hide_banner -loglevel error -y -f lavfi -i sine=frequency=440:beep_factor=4:sample_rate=48000 -t 20 \
  -c:a libopus -b:a 64k -ac 2 -page_duration 20000 $D/audio.ogg

cpu() { awk '{print $14+$15}' /proc/$1/stat 2>/dev/null || echo 0; }
kids() { # ffmpeg children of pid $1
  for p in /proc/[0-9]*; do
    s=$(cat $p/stat 2>/dev/null) || continue
    case "$s" in *"(ffmpeg)"*) ;; *) continue ;; esac
    pp=$(echo "${s##*)}" | awk '{print $2}')
    [ "$pp" = "$1" ] && echo ${p#/proc/}
  done
}
kidscpu() { local t=0; for k in $(kids $1); do t=$((t+$(cpu $k))); done; echo $t; }

echo "# llhls-cost: DUR=${DUR}s WARM=${WARM}s; before: $(uptime)" | tee $OUT/summary.txt
printf "%-12s %10s %10s %s\n" case server_cores ffmpeg_cores variants | tee -a $OUT/summary.txt
run() { # case, video file, serve flags...
  local name=$1 video=$2; shift 2
  local port=$PORT; PORT=$((PORT+10))
  mkdir -p $D/$name
  $BIN serve --ice-loopback --http 127.0.0.1:$port --ice-udp-port $((port+1)) --max-conns 0 --max-conns-per-ip 0 \
    --record=false --data-dir $D/$name --auth-secret $SECRET --log-level info --live-hls-start always "$@" >$OUT/$name.server.log 2>&1 &
  local spid=$!; PIDS+=($spid)
  for i in $(seq 100); do curl -sf http://127.0.0.1:$port/readyz >/dev/null && break; sleep 0.2; done
  local tok; tok=$($BIN token --room cost --publish --subject cost --auth-secret $SECRET)
  $BIN loadtest --url http://127.0.0.1:$port --room cost --token $tok --publisher file --video-file $video \
    --audio-file $D/audio.ogg --viewers 1 --viewer lean --duration $((WARM+DUR+10))s --data-dir $D/$name \
    >$OUT/$name.publisher.txt 2>&1 &
  local ppid=$!; PIDS+=($ppid)
  sleep $WARM
  local s0 f0 t0 s1 f1 t1
  s0=$(cpu $spid); f0=$(kidscpu $spid); t0=$(date +%s.%N)
  sleep $DUR
  s1=$(cpu $spid); f1=$(kidscpu $spid); t1=$(date +%s.%N)
  local vars
  vars=$(curl -s http://127.0.0.1:$port/live/cost/index.m3u8 | grep -v '^#' | tr '\n' ' ')
  printf "%-12s %10.3f %10.3f %s\n" $name $(echo "($s1-$s0)/100/($t1-$t0)" | bc -l) $(echo "($f1-$f0)/100/($t1-$t0)" | bc -l) "${vars:-none}" | tee -a $OUT/summary.txt
  curl -s http://127.0.0.1:$port/metrics | grep -E '^relaycast_live_hls' >$OUT/$name.metrics.txt
  kill $ppid $spid 2>/dev/null; wait $ppid $spid 2>/dev/null
  sleep 2
}
run h264-off    $D/h264.h264 --live-hls=false
run h264-copy   $D/h264.h264 --live-hls-ladder none
run h264-ladder $D/h264.h264 --live-hls-ladder 360p
run vp8-off     $D/vp8.ivf   --live-hls=false
run vp8-src     $D/vp8.ivf   --live-hls-ladder none
run vp8-ladder  $D/vp8.ivf   --live-hls-ladder 360p
echo "# after: $(uptime)" | tee -a $OUT/summary.txt
