package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The room key holds the Owner JSON, written by the scripts as ARGV prefix .. fence ..
// ',"since":' .. ms .. ',"expires":' .. ms .. '}'. Node ids and room names have no character
// JSON escapes, so the scripts read "node", "fence" and "expires" back with string.match.

// claimScript: KEYS room, fence, nodes, rooms; ARGV self id, ttl ms, dead-after ms, JSON prefix,
// room. Takes the lease when there is none, it has lapsed, it is this node's, or its node is no
// live member; returns {1, owner} then, else {0, owner} (a live other node holds it).
var claimScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('GET', KEYS[1])
if cur then
  local exp = tonumber(string.match(cur, '"expires":(%d+)') or '0')
  local node = string.match(cur, '"node":"([^"]*)"')
  if exp > now and node ~= ARGV[1] then
    local seen = redis.call('ZSCORE', KEYS[3], node)
    if seen and tonumber(seen) >= now - tonumber(ARGV[3]) then return {0, cur} end
  end
end
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 86400000)
local snow = string.format('%.0f', now)
local sexp = string.format('%.0f', now + tonumber(ARGV[2]))
local val = ARGV[4] .. fence .. ',"since":' .. snow .. ',"expires":' .. sexp .. '}'
redis.call('SET', KEYS[1], val, 'PX', ARGV[2])
redis.call('ZADD', KEYS[4], sexp, ARGV[5])
return {1, val}`)

// The fence counter of a room lives a day after its last lease (a room name used once does not
// stay in Redis forever; a stale holder is fenced out within seconds, far within that day).

// renewAllScript renews many leases of this node in one call: KEYS rooms, then per lease its room
// and fence keys; ARGV ttl ms, then per lease its fence, JSON prefix, since and room. Each lease
// of its fence is extended; it is re-created when its key is gone (Redis restarted, or it lapsed)
// and no later lease was handed out (the fence counter, restored if it is gone too). Returns one
// 1 (renewed) or 0 (fenced out) per lease, in order.
var renewAllScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sexp = string.format('%.0f', now + tonumber(ARGV[1]))
local out = {}
for i = 1, (#KEYS - 1) / 2 do
  local kroom, kfence = KEYS[2 * i], KEYS[2 * i + 1]
  local fence, prefix, since, room = ARGV[4 * i - 2], ARGV[4 * i - 1], ARGV[4 * i], ARGV[4 * i + 1]
  local ok = 1
  local cur = redis.call('GET', kroom)
  if cur then
    if string.match(cur, '"fence":(%d+)') ~= fence then ok = 0 end
  else
    local f = tonumber(redis.call('GET', kfence) or '0')
    if f > tonumber(fence) then ok = 0 end
    if ok == 1 and f < tonumber(fence) then redis.call('SET', kfence, fence, 'PX', 86400000) end
  end
  if ok == 1 then
    redis.call('PEXPIRE', kfence, 86400000)
    redis.call('SET', kroom, prefix .. fence .. ',"since":' .. since .. ',"expires":' .. sexp .. '}', 'PX', ARGV[1])
    redis.call('ZADD', KEYS[1], sexp, room)
  end
  out[i] = ok
end
return out`)

// renewBatch bounds the leases one renewAllScript call renews (the script runs atomically in
// Redis: a few hundred rooms take well under a millisecond).
const renewBatch = 256

// releaseScript: KEYS room, rooms; ARGV fence, room. Deletes the lease only if it is fence's.
var releaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, '"fence":(%d+)') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0`)

// ownersScript: KEYS nodes; ARGV dead-after ms, room key prefix, then room names (none: every
// room of the rooms set ARGV[3]). Returns the Owner JSON of each room whose lease has not
// lapsed and whose node is a live member.
var ownersScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rooms = {}
if #ARGV > 3 then
  for i = 4, #ARGV do rooms[#rooms + 1] = ARGV[i] end
else
  rooms = redis.call('ZRANGEBYSCORE', ARGV[3], string.format('%.0f', now), '+inf')
end
local out = {}
for _, room in ipairs(rooms) do
  local cur = redis.call('GET', ARGV[2] .. room)
  if cur then
    local exp = tonumber(string.match(cur, '"expires":(%d+)') or '0')
    local seen = redis.call('ZSCORE', KEYS[1], string.match(cur, '"node":"([^"]*)"') or '')
    if exp > now and seen and tonumber(seen) >= now - tonumber(ARGV[1]) then out[#out + 1] = cur end
  end
end
return out`)

func validRoom(room string) bool {
	return room != "" && len(room) <= 128 && !strings.ContainsAny(room, "\"\\ \t\r\n{}*?[]")
}

// ownerPrefix is the Owner JSON up to the fence's value.
func (c *Cluster) ownerPrefix(room string) string {
	self := c.Self()
	b, _ := json.Marshal(struct {
		Room string `json:"room"`
		Node string `json:"node"`
		URL  string `json:"url"`
	}{room, self.ID, self.URL})
	return string(b[:len(b)-1]) + `,"fence":`
}

// Claim takes the room's lease for this node (a new fence each time) and renews it until
// Release. When a live other node holds it, the error is an *OwnedError (errors.Is ErrOwned).
func (c *Cluster) Claim(ctx context.Context, room string) (*Lease, error) {
	if !validRoom(room) {
		return nil, fmt.Errorf("%w: %q", ErrBadRoom, room)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	prefix := c.ownerPrefix(room)
	res, err := claimScript.Run(ctx, c.p.Redis, []string{c.k.room(room), c.k.fence(room), c.k.nodes(), c.k.rooms()},
		c.p.Self.ID, c.p.LeaseTTL.Milliseconds(), c.p.DeadAfter.Milliseconds(), prefix, room).Slice()
	if err != nil {
		return nil, fmt.Errorf("cluster claim %s: %w", room, err)
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("cluster claim %s: unexpected answer %v", room, res)
	}
	var o Owner
	if s, _ := res[1].(string); json.Unmarshal([]byte(s), &o) != nil {
		return nil, fmt.Errorf("cluster claim %s: unreadable owner %v", room, res[1])
	}
	if n, _ := res[0].(int64); n != 1 {
		return nil, &OwnedError{Owner: o}
	}
	l := &Lease{c: c, owner: o, prefix: prefix, fence: strconv.FormatInt(o.Fence, 10), lost: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.releaseNow()
		return nil, ErrClosed
	}
	c.leases[l] = struct{}{}
	c.mu.Unlock()
	c.log.Debug("claimed room", "room", room, "fence", o.Fence)
	return l, nil
}

// Owner returns the room's current owner: a lease that has not lapsed, held by a live member.
func (c *Cluster) Owner(ctx context.Context, room string) (Owner, bool, error) {
	if !validRoom(room) {
		return Owner{}, false, fmt.Errorf("%w: %q", ErrBadRoom, room)
	}
	owners, err := c.owners(ctx, room)
	if err != nil || len(owners) == 0 {
		return Owner{}, false, err
	}
	return owners[0], true, nil
}

// Rooms returns the owner of every live room of the cluster, by room.
func (c *Cluster) Rooms(ctx context.Context) ([]Owner, error) { return c.owners(ctx) }

func (c *Cluster) owners(ctx context.Context, rooms ...string) ([]Owner, error) {
	args := []any{c.p.DeadAfter.Milliseconds(), c.k.roomPrefix(), c.k.rooms()}
	for _, r := range rooms {
		args = append(args, r)
	}
	vals, err := ownersScript.Run(ctx, c.p.Redis, []string{c.k.nodes()}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("cluster owners: %w", err)
	}
	out := make([]Owner, 0, len(vals))
	for _, v := range vals {
		var o Owner
		if err := json.Unmarshal([]byte(v), &o); err == nil {
			out = append(out, o)
		}
	}
	return out, nil
}

// Lease is this node's hold on a room, renewed every LeaseTTL/3 until Release, together with
// all the node's other leases: one Redis call and no goroutine or timer per room (renewLoop).
type Lease struct {
	c      *Cluster
	owner  Owner
	prefix string
	fence  string

	lostOnce sync.Once
	lost     chan struct{}
	stopOnce sync.Once
}

// Fence is the lease's fencing token (larger than every earlier lease's of the room, as long as
// Redis keeps its data).
func (l *Lease) Fence() int64 { return l.owner.Fence }

// Owner is the lease as claimed.
func (l *Lease) Owner() Owner { return l.owner }

// Lost is closed when a renewal finds another lease in place (this one was fenced out). A
// renewal that cannot reach Redis is retried and loses nothing: media keeps flowing while
// Redis restarts.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Release stops renewing and deletes the lease if it is still this one. Idempotent.
func (l *Lease) Release() {
	l.stopOnce.Do(func() {
		c := l.c
		c.mu.Lock()
		delete(c.leases, l)
		c.mu.Unlock()
		c.renewMu.Lock() // a renewal that took l before it left the set has finished
		c.renewMu.Unlock()
		l.releaseNow()
	})
}

func (l *Lease) releaseNow() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, room := l.c, l.owner.Room
	if err := releaseScript.Run(ctx, c.p.Redis, []string{c.k.room(room), c.k.rooms()}, l.owner.Fence, room).Err(); err != nil {
		c.log.Warn("lease release failed (it lapses by itself)", "room", room, "err", err)
	}
}

func (l *Lease) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

// renewLoop renews every lease of the node each LeaseTTL/3, renewBatch leases per Redis call.
// A lease that is fenced out is lost; a call that fails is retried at the next tick and loses
// nothing (media keeps flowing while Redis restarts). One goroutine and one ticker per node.
func (c *Cluster) renewLoop() {
	defer c.wg.Done()
	every := max(c.p.LeaseTTL/3, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.renewMu.Lock()
		c.mu.Lock()
		ls := make([]*Lease, 0, len(c.leases))
		for l := range c.leases {
			ls = append(ls, l)
		}
		c.mu.Unlock()
		var err error
		for len(ls) > 0 && err == nil {
			n := min(len(ls), renewBatch)
			err = c.renew(ls[:n], every)
			ls = ls[n:]
		}
		c.renewMu.Unlock()
		switch {
		case err != nil:
			if !failing && c.ctx.Err() == nil {
				c.log.Warn("lease renewal failed (retrying)", "err", err)
			}
			failing = true
		case failing:
			c.log.Info("leases renewed again")
			failing = false
		}
	}
}

// renew renews ls in one call; the ones fenced out are lost and leave the set.
func (c *Cluster) renew(ls []*Lease, timeout time.Duration) error {
	keys := make([]string, 1, 1+2*len(ls))
	keys[0] = c.k.rooms()
	args := make([]any, 1, 1+4*len(ls))
	args[0] = c.p.LeaseTTL.Milliseconds()
	for _, l := range ls {
		room := l.owner.Room
		keys = append(keys, c.k.room(room), c.k.fence(room))
		args = append(args, l.fence, l.prefix, l.owner.Since, room)
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	res, err := renewAllScript.Run(ctx, c.p.Redis, keys, args...).Int64Slice()
	if err != nil {
		return err
	}
	if len(res) != len(ls) {
		return fmt.Errorf("lease renewal: %d answers for %d leases", len(res), len(ls))
	}
	for i, n := range res {
		if n != 0 {
			continue
		}
		l := ls[i]
		c.log.Warn("lease lost: another node owns the room", "room", l.owner.Room, "fence", l.owner.Fence)
		c.mu.Lock()
		delete(c.leases, l)
		c.mu.Unlock()
		l.markLost()
	}
	return nil
}
