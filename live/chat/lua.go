package chat

import (
	"github.com/redis/go-redis/v9"

	"github.com/relaycast/relaycast/live/stream"
)

// The chat's Lua scripts. Each is stream.EmitLua + a body, so checking, storing and sequencing
// an event happen in one atomic script; every time is Redis TIME (now_ms). Keys are passed as
// KEYS; prefix and room (ARGV[1], ARGV[2]) are what emit needs.
type scripts struct {
	send, del, timeout, ban, unban, settings, pin, unpin *redis.Script
}

func newScripts(l *stream.Log) scripts {
	return scripts{
		send:     l.Script(luaNextID + luaSend),
		del:      l.Script(luaDelete),
		timeout:  l.Script(luaTimeout),
		ban:      l.Script(luaBan),
		unban:    l.Script(luaUnban),
		settings: l.Script(luaSettings),
		pin:      l.Script(luaPin),
		unpin:    l.Script(luaUnpin),
	}
}

// luaNextID is the seq the next emit of the room will get (the script is atomic, so it does):
// a chat message's id is its event's seq, and it is part of the event's data.
const luaNextID = `
local function chat_next_id(prefix, room)
  return (tonumber(redis.call('GET', room_key(prefix, room, 'seq'))) or 0) + 1
end
`

// luaSend: KEYS history, settings, bans, timeouts, rate (LIST of accept times, newest first),
// flood (HASH start, n). ARGV prefix, room, subject, subject_json, mid (the JSON fields subject,
// name, text), tail (",guest..,role.." or ""), moderator 1/0, guest 1/0, has_link 1/0, rate, per_ms,
// flood_ms, flood_after, keep. Returns {"ok", id, message_json} or {code, ms}.
const luaSend = `
local prefix, room, subj = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()
if redis.call('HEXISTS', KEYS[3], subj) == 1 then return {'banned', 0} end
local tout = tonumber(redis.call('HGET', KEYS[4], subj)) or 0
if tout > now then return {'timed_out', tout} end
local st = redis.call('HMGET', KEYS[2], 'slow_mode_s', 'links', 'guest_chat')
local slow = tonumber(st[1]) or 0
local links = st[2] ~= '0'
local guests = st[3] ~= '0'
local mod = ARGV[7] == '1'
if ARGV[8] == '1' and not guests then return {'guests_off', 0} end
if ARGV[9] == '1' and not links and not mod then return {'links_off', 0} end
local last = tonumber(redis.call('LINDEX', KEYS[5], 0)) or 0
if slow > 0 and not mod and last > 0 and now - last < slow * 1000 then
  return {'slow_mode', last + slow * 1000}
end
local rate, per = tonumber(ARGV[10]), tonumber(ARGV[11])
local oldest = tonumber(redis.call('LINDEX', KEYS[5], rate - 1)) or 0
if oldest > 0 and now - oldest < per then
  if not mod then
    local f = redis.call('HMGET', KEYS[6], 'start', 'n')
    local start, n = tonumber(f[1]) or 0, tonumber(f[2]) or 0
    if now - start >= per then start, n = now, 0 end
    n = n + 1
    if n >= tonumber(ARGV[13]) then
      local u = now + tonumber(ARGV[12])
      redis.call('HSET', KEYS[4], subj, u)
      redis.call('DEL', KEYS[6])
      emit(prefix, room, 'user.timeout', '{"subject":' .. ARGV[4] .. ',"until":' .. string.format('%d', u) .. ',"by":"system"}')
      return {'flood', u}
    end
    redis.call('HSET', KEYS[6], 'start', start, 'n', n)
    redis.call('PEXPIRE', KEYS[6], per * 2)
  end
  return {'rate_limited', oldest + per}
end
if tout > 0 then redis.call('HDEL', KEYS[4], subj) end
local id = chat_next_id(prefix, room)
local data = '{"id":' .. string.format('%d', id) .. ',' .. ARGV[5] .. ',"at":' .. string.format('%d', now) .. ARGV[6] .. '}'
local seq = emit(prefix, room, 'chat', data)
redis.call('ZADD', KEYS[1], seq, data)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[14]) + 1))
redis.call('LPUSH', KEYS[5], now)
redis.call('LTRIM', KEYS[5], 0, rate - 1)
redis.call('PEXPIRE', KEYS[5], math.max(per, slow * 1000) + 1000)
return {'ok', seq, data}
`

// luaDelete: KEYS history. ARGV prefix, room, id, by_json. Returns 1, or 0 when not in the history.
const luaDelete = `
if redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[3]) == 0 then return 0 end
emit(ARGV[1], ARGV[2], 'chat.deleted', '{"id":' .. ARGV[3] .. ',"by":' .. ARGV[4] .. '}')
return 1
`

// luaTimeout: KEYS timeouts. ARGV prefix, room, subject, subject_json, ms, by_json. Returns until.
const luaTimeout = `
local u = now_ms() + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], ARGV[3], u)
emit(ARGV[1], ARGV[2], 'user.timeout', '{"subject":' .. ARGV[4] .. ',"until":' .. string.format('%d', u) .. ',"by":' .. ARGV[6] .. '}')
return u
`

// luaBan: KEYS bans. ARGV prefix, room, subject, subject_json, by_json. Returns 1, 0 if already banned.
const luaBan = `
if redis.call('HSETNX', KEYS[1], ARGV[3], '{"by":' .. ARGV[5] .. ',"at":' .. string.format('%d', now_ms()) .. '}') == 0 then return 0 end
emit(ARGV[1], ARGV[2], 'user.ban', '{"subject":' .. ARGV[4] .. ',"by":' .. ARGV[5] .. '}')
return 1
`

// luaUnban: KEYS bans, timeouts. ARGV prefix, room, subject, subject_json, by_json. Lifts a ban and
// any time-out; returns 0 (and emits nothing) when there was neither.
const luaUnban = `
local n = redis.call('HDEL', KEYS[1], ARGV[3])
local t = tonumber(redis.call('HGET', KEYS[2], ARGV[3])) or 0
redis.call('HDEL', KEYS[2], ARGV[3])
if n == 0 and t <= now_ms() then return 0 end
emit(ARGV[1], ARGV[2], 'user.unban', '{"subject":' .. ARGV[4] .. ',"by":' .. ARGV[5] .. '}')
return 1
`

// luaSettings: KEYS settings. ARGV prefix, room, slow_mode_s, links 1/0, guest_chat 1/0, data_json.
const luaSettings = `
redis.call('HSET', KEYS[1], 'slow_mode_s', ARGV[3], 'links', ARGV[4], 'guest_chat', ARGV[5])
emit(ARGV[1], ARGV[2], 'room.settings', ARGV[6])
return 1
`

// luaPin: KEYS product. ARGV prefix, room, product_json.
const luaPin = `
redis.call('SET', KEYS[1], ARGV[3])
emit(ARGV[1], ARGV[2], 'product', ARGV[3])
return 1
`

// luaUnpin: KEYS product. ARGV prefix, room. Emits product null only when one was pinned.
const luaUnpin = `
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
emit(ARGV[1], ARGV[2], 'product', 'null')
return 1
`
