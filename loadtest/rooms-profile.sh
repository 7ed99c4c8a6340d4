#!/bin/bash
# rooms.sh's ON_HOLD hook: 10 s of `perf record -e cpu-clock -F 499 -g` of the server in the hold.
#   ON_HOLD=loadtest/rooms-profile.sh SHAPES=10x20 VIEWERS=lean-rtcp loadtest/rooms.sh BIN OUT
#   perf report -i OUT/10x20-lean-rtcp-record=true.perf.data --no-children --sort sym --stdio -g none
SP=$1; BASE=$2
perf record -e cpu-clock -F 499 -g -p "$SP" -o "$BASE.perf.data" -- sleep 10 >/dev/null 2>&1
