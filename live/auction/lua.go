package auction

// The engine's Lua. Every script runs after stream.EmitLua (Log.Script prepends it), so it
// can call now_ms (the Redis server's clock), room_key and emit; every script starts with
// commonLua. Each script is one atomic step: what it checks, what it changes and the events
// it emits happen at once, so the order of the room's events is the order of the decisions.
//
// ARGV of every script: 1 key prefix, 2 room, 3 lot id, then the script's own.
//
// Keys (P = prefix, R = room):
//
//	P:{R}:lot:<id>        hash: the lot (fields below)
//	P:{R}:lot:<id>:bids   list: the bid log, one JSON Bid per entry, append-only
//	P:{R}:lots            list: the room's lot ids in creation order
//	P:{R}:lot_open        string: the id of the room's open lot
//	P:auction:open        sorted set of every open lot of every room ("<id>:<room>", score
//	                      its lease_until): what the engines watch to take over the lot of a
//	                      dead owner (the members with a score at or below now)
//	P:auction:unnotified  sorted set of every lot settled but whose OnSettled has not been
//	                      acknowledged yet ("<id>:<room>", score its notify claim's expiry):
//	                      what the engines watch to run the OnSettled of a dead node (notify.go)
//
// Lot hash fields: static (the JSON of the fields that never change, without braces), inc
// (the increment table as "up_to:step,…"), start, dur_ms, win_ms, to_ms, max_ext, mode;
// status, price, leader, leader_name, leader_max (the leader's max, never shown), bid_count,
// ends_at, winner, winner_name, extensions, created_at, started_at, ended_at; the lease:
// owner (node id), lease_until (ms, Redis clock), fence (incremented on every acquisition);
// once settled: settled_lot (the Lot JSON of the settlement), settled_bids (the log length then)
// and nfence (the notify claim's fencing token, incremented on every claim).
//
// Numbers go out as string.format('%d') and strings through cjson.encode, so real Redis and
// miniredis build the same JSON. Amounts stay below 2^53 (MaxMoney), exact in Lua numbers.
const commonLua = `
local P, ROOM, ID = ARGV[1], ARGV[2], ARGV[3]
local function lkey(id) return room_key(P, ROOM, 'lot:' .. id) end
local function bkey(id) return room_key(P, ROOM, 'lot:' .. id .. ':bids') end
local OPEN = room_key(P, ROOM, 'lot_open')
local LOTS = room_key(P, ROOM, 'lots')
local ALL_OPEN = P .. ':auction:open'
local MEMBER = ID .. ':' .. ROOM
local NOTIFY = P .. ':auction:unnotified'
local function load(id)
  local raw = redis.call('HGETALL', lkey(id))
  if #raw == 0 then return nil end
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  return h
end
local function n(h, f) return tonumber(h[f] or '0') or 0 end
local function d(x) return string.format('%d', x) end
local function s(x) return cjson.encode(x or '') end
local function opt(x)
  if x == nil or x == '' then return 'null' end
  return cjson.encode(x)
end
local function step_at(h, p)
  for up, st in string.gmatch(h.inc, '(%d+):(%d+)') do
    local u = tonumber(up)
    if u == 0 or p < u then return tonumber(st) end
  end
  return 1
end
local function min_amount(h)
  if (h.leader or '') == '' then
    local sp = n(h, 'start')
    if sp > 0 then return sp end
    return step_at(h, 0)
  end
  local p = n(h, 'price')
  return p + step_at(h, p)
end
local function lot_json(h, now)
  return '{' .. h.static .. ',"status":' .. s(h.status) .. ',"price":' .. d(n(h, 'price')) ..
    ',"min_amount":' .. d(min_amount(h)) .. ',"leader":' .. opt(h.leader) ..
    ',"leader_name":' .. s(h.leader_name) .. ',"bid_count":' .. d(n(h, 'bid_count')) ..
    ',"ends_at":' .. d(n(h, 'ends_at')) .. ',"server_time":' .. d(now) ..
    ',"winner":' .. opt(h.winner) .. ',"winner_name":' .. s(h.winner_name) ..
    ',"extensions":' .. d(n(h, 'extensions')) .. ',"created_at":' .. d(n(h, 'created_at')) ..
    ',"started_at":' .. d(n(h, 'started_at')) .. ',"ended_at":' .. d(n(h, 'ended_at')) .. '}'
end
-- settle ends the open lot h now: sold to its leader, or unsold. It keeps the settled lot and
-- its log length in the hash and, when claim_ms > 0 (the caller has an OnSettled), records the
-- lot as settled, not yet notified, claimed by the caller until now + claim_ms (token nfence).
-- → {'settled', lot, log length, notify token ('0': not recorded)}
local function settle(h, now, claim_ms)
  if (h.leader or '') ~= '' then
    h.status, h.winner, h.winner_name = 'sold', h.leader, h.leader_name or ''
  else
    h.status, h.winner, h.winner_name = 'unsold', '', ''
  end
  h.ended_at, h.owner, h.lease_until = d(now), '', '0'
  redis.call('HSET', lkey(ID), 'status', h.status, 'winner', h.winner, 'winner_name', h.winner_name,
    'ended_at', h.ended_at, 'owner', '', 'lease_until', '0')
  if redis.call('GET', OPEN) == ID then redis.call('DEL', OPEN) end
  redis.call('ZREM', ALL_OPEN, MEMBER)
  local j = lot_json(h, now)
  emit(P, ROOM, 'lot', j)
  local nb = d(redis.call('LLEN', bkey(ID)))
  redis.call('HSET', lkey(ID), 'settled_lot', j, 'settled_bids', nb)
  local token = '0'
  if claim_ms > 0 then
    token = d(redis.call('HINCRBY', lkey(ID), 'nfence', 1))
    redis.call('ZADD', NOTIFY, d(now + claim_ms), MEMBER)
  end
  return {'settled', j, nb, token}
end
`

// createLua: ARGV 4 static, 5 inc, 6 start price, 7 dur_ms, 8 win_ms, 9 to_ms, 10 max_ext,
// 11 mode, 12 the most lots a room keeps. → {"", lot} | {'exists'} | {'conflict', why}
const createLua = `
local k = lkey(ID)
if redis.call('EXISTS', k) == 1 then return {'exists'} end
if redis.call('LLEN', LOTS) >= tonumber(ARGV[12]) then return {'conflict', 'the room has ' .. ARGV[12] .. ' lots'} end
local now = now_ms()
redis.call('HSET', k, 'static', ARGV[4], 'inc', ARGV[5], 'start', ARGV[6], 'dur_ms', ARGV[7],
  'win_ms', ARGV[8], 'to_ms', ARGV[9], 'max_ext', ARGV[10], 'mode', ARGV[11], 'status', 'queued',
  'price', ARGV[6], 'bid_count', '0', 'ends_at', '0', 'extensions', '0', 'created_at', d(now),
  'started_at', '0', 'ended_at', '0', 'fence', '0', 'lease_until', '0', 'owner', '')
redis.call('RPUSH', LOTS, ID)
local j = lot_json(load(ID), now)
emit(P, ROOM, 'lot', j)
return {'', j}
`

// startLua: ARGV 4 node, 5 lease ms. The starting node owns the lot's timer.
// → {"", lot, fence} | {'not_found'} | {'conflict', why}
const startLua = `
local h = load(ID)
if not h then return {'not_found'} end
if h.status ~= 'queued' then return {'conflict', 'the lot is ' .. h.status} end
local cur = redis.call('GET', OPEN)
if cur then
  local o = load(cur)
  if o and o.status == 'open' then return {'conflict', 'lot ' .. cur .. ' is open'} end
end
local now = now_ms()
local ends = now + n(h, 'dur_ms')
local fence = redis.call('HINCRBY', lkey(ID), 'fence', 1)
h.status, h.started_at, h.ends_at = 'open', d(now), d(ends)
local lease = d(now + tonumber(ARGV[5]))
redis.call('HSET', lkey(ID), 'status', 'open', 'started_at', h.started_at, 'ends_at', h.ends_at,
  'owner', ARGV[4], 'lease_until', lease)
redis.call('SET', OPEN, ID)
redis.call('ZADD', ALL_OPEN, lease, MEMBER)
local j = lot_json(h, now)
emit(P, ROOM, 'lot', j)
return {'', j, d(fence)}
`

// bidLua: ARGV 4 subject, 5 name, 6 amount, 7 max amount (exactly one > 0).
// → {code ("" = accepted), the request's log entry, lot, min amount} | {'not_found'}
const bidLua = `
local SUBJ, NAME = ARGV[4], ARGV[5]
local AMT, MAX = tonumber(ARGV[6]), tonumber(ARGV[7])
local h = load(ID)
if not h then return {'not_found'} end
local now = now_ms()
local bk = bkey(ID)
local nlog = redis.call('LLEN', bk)
-- add appends an entry (with the lot's price and leader now) and returns it, and its public
-- form (no max_amount) for the event.
local function add(subj, name, amt, mx, acc, reason, proxy)
  nlog = nlog + 1
  local head = '{"n":' .. d(nlog) .. ',"lot_id":' .. s(ID) .. ',"subject":' .. s(subj) ..
    ',"name":' .. s(name) .. ',"amount":' .. d(amt)
  local tail = ',"at":' .. d(now) .. ',"accepted":' .. tostring(acc)
  if reason ~= '' then tail = tail .. ',"reason":' .. s(reason) end
  tail = tail .. ',"proxy":' .. tostring(proxy) .. ',"price":' .. d(n(h, 'price')) ..
    ',"leader":' .. opt(h.leader) .. '}'
  local full = head
  if mx > 0 then full = full .. ',"max_amount":' .. d(mx) end
  full = full .. tail
  redis.call('RPUSH', bk, full)
  return full, head .. tail
end
local function refuse(code)
  local e = add(SUBJ, NAME, AMT, MAX, false, code, false)
  return {code, e, lot_json(h, now), d(min_amount(h))}
end
if h.status == 'queued' then return refuse('not_open') end
if h.status ~= 'open' or now >= n(h, 'ends_at') then return refuse('lot_closed') end
local min = min_amount(h)
local leader = h.leader or ''
local lmax = n(h, 'leader_max')
local price = n(h, 'price')
local x = AMT
if MAX > 0 then x = MAX end
local entries = {} -- {subject, name, amount, max, proxy}
local raise = SUBJ == leader
if raise then
  if MAX == 0 or MAX <= lmax then return refuse('already_leading') end
  if MAX < min then return refuse('too_low') end
  h.leader_max = d(MAX)
  entries[1] = {SUBJ, NAME, price, MAX, false}
else
  if x < min then return refuse('too_low') end
  if leader == '' then
    local np = AMT
    if MAX > 0 then np = min end
    h.price, h.leader, h.leader_name, h.leader_max = d(np), SUBJ, NAME, d(x)
    entries[1] = {SUBJ, NAME, np, MAX, false}
  elseif x > lmax then
    local np = AMT
    if MAX > 0 then np = math.max(min, math.min(MAX, lmax + step_at(h, lmax))) end
    h.price, h.leader, h.leader_name, h.leader_max = d(np), SUBJ, NAME, d(x)
    entries[1] = {SUBJ, NAME, np, MAX, false}
  else
    -- the leader's max stands: the engine bids for the leader one increment over x, up to
    -- the max (equal maxima: the earlier one keeps the lead)
    local q = math.min(lmax, x + step_at(h, x))
    h.price = d(q)
    entries[1] = {SUBJ, NAME, x, MAX, false}
    entries[2] = {leader, h.leader_name or '', q, 0, true}
  end
end
local extended = false
if not raise then
  -- the price moved (every accepted bid but a leader raising their max): anti-sniping
  local ends, win = n(h, 'ends_at'), n(h, 'win_ms')
  local cap = n(h, 'max_ext')
  if h.mode == 'standard' and win > 0 and ends - now < win and (cap == 0 or n(h, 'extensions') < cap) then
    local ne = now + n(h, 'to_ms')
    if ne > ends then
      h.ends_at, h.extensions, extended = d(ne), d(n(h, 'extensions') + 1), true
    end
  end
end
h.bid_count = d(n(h, 'bid_count') + #entries)
redis.call('HSET', lkey(ID), 'price', h.price, 'leader', h.leader or '', 'leader_name', h.leader_name or '',
  'leader_max', h.leader_max or '0', 'bid_count', h.bid_count, 'ends_at', h.ends_at,
  'extensions', h.extensions or '0')
local lj = lot_json(h, now)
local mine
for i, e in ipairs(entries) do
  local full, pub = add(e[1], e[2], e[3], e[4], true, '', e[5])
  if i == 1 then mine = full end
  emit(P, ROOM, 'bid', '{"lot_id":' .. s(ID) .. ',"bid":' .. pub .. ',"lot":' .. lj .. '}')
end
if extended then emit(P, ROOM, 'lot', lj) end
return {'', mine, lj, d(min_amount(h))}
`

// tickLua is the owner's call: with the caller's fencing token (ARGV 4) and node (5), it
// renews the lease (ARGV 6 ms) while the lot runs and settles it once ends_at has passed
// (ARGV 7: the notify claim ms, see settle).
// → {'wait', ends_at, now} | {'settled', lot, log length, notify token} | {'fenced'} | {'gone'}
const tickLua = `
local h = load(ID)
if not h or h.status ~= 'open' then return {'gone'} end
if h.fence ~= ARGV[4] or h.owner ~= ARGV[5] then return {'fenced'} end
local now = now_ms()
local ends = n(h, 'ends_at')
if now < ends then
  local lease = d(now + tonumber(ARGV[6]))
  redis.call('HSET', lkey(ID), 'lease_until', lease)
  redis.call('ZADD', ALL_OPEN, lease, MEMBER)
  return {'wait', d(ends), d(now)}
end
return settle(h, now, tonumber(ARGV[7]))
`

// acquireLua takes the lease of an open lot whose lease has expired (or that has no owner):
// ARGV 4 node, 5 lease ms. → {'ok', fence} | {'held', owner} | {'gone'}
const acquireLua = `
local h = load(ID)
if not h or h.status ~= 'open' then
  redis.call('ZREM', ALL_OPEN, MEMBER)
  return {'gone'}
end
local now = now_ms()
if (h.owner or '') ~= '' and n(h, 'lease_until') > now then return {'held', h.owner} end
local fence = redis.call('HINCRBY', lkey(ID), 'fence', 1)
local lease = d(now + tonumber(ARGV[5]))
redis.call('HSET', lkey(ID), 'owner', ARGV[4], 'lease_until', lease)
redis.call('ZADD', ALL_OPEN, lease, MEMBER)
return {'ok', d(fence)}
`

// releaseLua gives the lease up (a node closing): ARGV 4 fence. → 1 | 0
const releaseLua = `
local h = load(ID)
if not h or h.fence ~= ARGV[4] then return 0 end
redis.call('HSET', lkey(ID), 'owner', '', 'lease_until', '0')
if h.status == 'open' then redis.call('ZADD', ALL_OPEN, 0, MEMBER) end
return 1
`

// endLua ends an open lot now (sold to the leader, or unsold); ARGV 4 the notify claim ms.
// → {'settled', lot, log length, notify token} | {'not_found'} | {'conflict', why}
const endLua = `
local h = load(ID)
if not h then return {'not_found'} end
if h.status ~= 'open' then return {'conflict', 'the lot is ' .. h.status} end
local now = now_ms()
if n(h, 'ends_at') > now then
  h.ends_at = d(now)
  redis.call('HSET', lkey(ID), 'ends_at', h.ends_at)
end
return settle(h, now, tonumber(ARGV[4]))
`

// cancelLua cancels a queued lot, or an open one before its first bid.
// → {"", lot} | {'not_found'} | {'conflict', why}
const cancelLua = `
local h = load(ID)
if not h then return {'not_found'} end
if h.status ~= 'queued' and h.status ~= 'open' then return {'conflict', 'the lot is ' .. h.status} end
if n(h, 'bid_count') > 0 then return {'conflict', 'the lot has bids'} end
local now = now_ms()
h.status, h.ended_at = 'cancelled', d(now)
redis.call('HSET', lkey(ID), 'status', 'cancelled', 'ended_at', h.ended_at, 'owner', '', 'lease_until', '0')
if redis.call('GET', OPEN) == ID then redis.call('DEL', OPEN) end
redis.call('ZREM', ALL_OPEN, MEMBER)
local j = lot_json(h, now)
emit(P, ROOM, 'lot', j)
return {'', j}
`

// getLua reads lots: ARGV 3 a lot id, "" (empty) for every lot of the room, or '*' for the open one.
// → {lot…} (ARGV 3 = id: {} when there is no such lot)
const getLua = `
local now = now_ms()
local ids
if ID == '' then
  ids = redis.call('LRANGE', LOTS, 0, -1)
elseif ID == '*' then
  local cur = redis.call('GET', OPEN)
  ids = {}
  if cur then ids[1] = cur end
else
  ids = {ID}
end
local out = {}
for _, id in ipairs(ids) do
  local h = load(id)
  if h and (ID ~= '*' or h.status == 'open') then out[#out + 1] = lot_json(h, now) end
end
return out
`

// expiredLua lists the open lots whose lease has expired (at most ARGV 1): what a node may take
// over. It runs without a room (no ARGV prefix/room/id).
const expiredLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
`
