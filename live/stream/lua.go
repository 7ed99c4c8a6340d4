package stream

import (
	"fmt"
	"strconv"
)

// EmitLua is the Lua every script that changes a room starts with (Log.Script prepends it,
// after the constants STREAM_CHANNEL and STREAM_KEEP). It defines:
//
//	now_ms()                              the Redis server's clock (TIME) in milliseconds
//	room_key(prefix, room, suffix)        "<prefix>:{<room>}:<suffix>"
//	emit(prefix, room, kind, data_json)   the room's next event: INCR the seq, build the event
//	                                      JSON, ZADD it to the log (keeping STREAM_KEEP), PUBLISH
//	                                      it; returns seq, event_json
//
// A script is atomic: what it changes and the event it emits are one step, so the order of
// events is the order of the changes. data_json must be a JSON value (cjson.encode(...) or a
// string the caller built).
const EmitLua = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function room_key(prefix, room, suffix)
  return prefix .. ':{' .. room .. '}:' .. suffix
end
local function emit(prefix, room, kind, data_json)
  local seq = redis.call('INCR', room_key(prefix, room, 'seq'))
  local ev = '{"seq":' .. string.format('%d', seq) .. ',"room":' .. cjson.encode(room) ..
    ',"kind":' .. cjson.encode(kind) .. ',"at":' .. string.format('%d', now_ms()) ..
    ',"data":' .. data_json .. '}'
  local log = room_key(prefix, room, 'log')
  redis.call('ZADD', log, seq, ev)
  if seq % 64 == 0 then redis.call('ZREMRANGEBYRANK', log, 0, -(STREAM_KEEP + 1)) end
  redis.call('PUBLISH', STREAM_CHANNEL, ev)
  return seq, ev
end
`

// preamble returns the constants EmitLua reads, as Lua.
func preamble(channel string, keep int) string {
	return fmt.Sprintf("local STREAM_CHANNEL = %s\nlocal STREAM_KEEP = %d\n", strconv.Quote(channel), keep)
}

// emitBody is the script of Log.Emit: ARGV prefix, room, kind, data_json.
const emitBody = `
local seq, ev = emit(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return ev
`
