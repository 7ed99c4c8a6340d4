#!/bin/bash
# ON_HOLD hook of loadtest/rooms.sh: SP OUTBASE. Counts the server's ffmpeg children (the live
# HLS transcoders) 5 s into the hold, into OUTBASE.ffmpeg.
SP=$1; OUT=$2
sleep 5
n=0
for p in /proc/[0-9]*; do
  s=$(cat "$p/stat" 2>/dev/null) || continue
  name=${s#*(}; name=${name%%)*}
  rest=${s##*) }; ppid=$(echo "$rest" | awk '{print $2}')
  [ "$ppid" = "$SP" ] && [ "$name" = ffmpeg ] && n=$((n + 1))
done
echo "$n" >"$OUT.ffmpeg"
