// Package cluster is what makes several relaycast nodes sharing one Redis act as one server:
// membership (each node's heartbeat, docs/CLUSTER.md "Membership") and room ownership (a lease
// with a fencing token per live room, "Room ownership and publishing"). Every time that decides
// (a heartbeat's age, a lease's expiry) is Redis TIME, read inside Lua scripts, never a node's
// clock, so a node whose clock is off does not break anything. Key expiry (PX) is set for real
// Redis to clean up, but never relied on: the embedded miniredis does not expire keys by itself,
// so each value carries its own expiry and the scripts check it.
package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix starts every key of the cluster.
const DefaultPrefix = "relaycast:cluster"

// Node is one member of the cluster, as its heartbeat last wrote it.
type Node struct {
	ID       string  `json:"id"`       // --node-id, default hostname-port of --http
	URL      string  `json:"url"`      // base URL other nodes use to reach it (--internal-url)
	Rooms    int     `json:"rooms"`    // live rooms it serves (origin or edge)
	Viewers  int     `json:"viewers"`  // viewers it serves
	Load     float64 `json:"load"`     // process CPU, 0..1 of the machine's cores
	Capacity int     `json:"capacity"` // viewers it is willing to take, 0 = no limit
	Draining bool    `json:"draining"` // leaving: send it no new sessions
	SeenAt   int64   `json:"seen_at"`  // ms, Redis TIME of the last heartbeat
}

// Owner is the holder of a room's lease.
type Owner struct {
	Room  string `json:"room"`
	Node  string `json:"node"`
	URL   string `json:"url"`
	Fence int64  `json:"fence"`
	// Since is when this lease was claimed and Expires when it lapses unless renewed (ms, Redis
	// TIME). Extensions of the contract: the embedded miniredis does not expire keys, so the
	// scripts check Expires themselves.
	Since   int64 `json:"since"`
	Expires int64 `json:"expires"`
}

// Params configures a Cluster.
type Params struct {
	// Redis is the cluster's Redis (required).
	Redis redis.UniversalClient
	// Prefix starts every key (default DefaultPrefix).
	Prefix string
	// Self is this node: ID (required; letters, digits, '.', '_', ':', '-') and URL; the other
	// fields are filled by the heartbeat.
	Self Node
	// Stats reports the rooms and viewers this node serves (nil: 0, 0).
	Stats func() (rooms, viewers int)
	// Logger (default discards).
	Logger *slog.Logger
	// Heartbeat is how often the node writes itself (default 1 s).
	Heartbeat time.Duration
	// DeadAfter: a node not seen for this long is no member (default 3 s).
	DeadAfter time.Duration
	// LeaseTTL is a room lease's life without renewal (default 3 s); renewed every LeaseTTL/3.
	LeaseTTL time.Duration
}

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ValidNodeID reports whether id can name a node.
func ValidNodeID(id string) bool { return nodeIDRe.MatchString(id) }

// Cluster is this node's membership and its room leases.
type Cluster struct {
	p   Params
	log *slog.Logger
	k   keys

	mu       sync.Mutex
	self     Node
	leases   map[*Lease]struct{}
	renewMu  sync.Mutex // held by a renewal round (Lease.Release waits for it)
	closed   bool
	draining atomic.Bool
	nodes    atomic.Int64 // live members, as of the last heartbeat
	rooms    atomic.Int64 // live room leases, as of the last heartbeat
	cpu      cpuMeter

	ctx    context.Context
	cancel context.CancelFunc
	hbStop context.CancelFunc // stops the heartbeat alone (tests of a node gone silent)
	wg     sync.WaitGroup
}

type keys struct{ prefix string }

func (k keys) nodes() string            { return k.prefix + ":nodes" }
func (k keys) nodePrefix() string       { return k.prefix + ":node:" }
func (k keys) node(id string) string    { return k.nodePrefix() + id }
func (k keys) rooms() string            { return k.prefix + ":rooms" }
func (k keys) roomPrefix() string       { return k.prefix + ":room:" }
func (k keys) room(name string) string  { return k.roomPrefix() + name }
func (k keys) fence(name string) string { return k.prefix + ":fence:" + name }

// New starts the node's heartbeat (the first one is written before New returns, so the node is
// a member at once; a failure of it is logged, not returned: Redis may come back).
func New(p Params) (*Cluster, error) {
	if p.Redis == nil {
		return nil, fmt.Errorf("%w: no Redis", ErrBadParams)
	}
	if !ValidNodeID(p.Self.ID) {
		return nil, fmt.Errorf("%w: node id %q: use 1-128 of A-Z a-z 0-9 . _ : -", ErrBadParams, p.Self.ID)
	}
	if p.Prefix == "" {
		p.Prefix = DefaultPrefix
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Heartbeat <= 0 {
		p.Heartbeat = time.Second
	}
	if p.DeadAfter <= 0 {
		p.DeadAfter = 3 * time.Second
	}
	if p.LeaseTTL <= 0 {
		p.LeaseTTL = 3 * time.Second
	}
	c := &Cluster{p: p, log: p.Logger.With("component", "cluster", "node", p.Self.ID), k: keys{p.Prefix},
		self: Node{ID: p.Self.ID, URL: p.Self.URL, Capacity: p.Self.Capacity}, leases: map[*Lease]struct{}{}}
	c.draining.Store(p.Self.Draining)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.beat(c.ctx); err != nil {
		c.log.Warn("first heartbeat failed", "err", err)
	}
	hbCtx, hbStop := context.WithCancel(c.ctx)
	c.hbStop = hbStop
	c.wg.Add(2)
	go c.heartbeatLoop(hbCtx)
	go c.renewLoop()
	return c, nil
}

// Self is this node as of its last heartbeat.
func (c *Cluster) Self() Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.self
	n.Draining = c.draining.Load()
	return n
}

// SetDraining marks the node as leaving (published with the next heartbeat, which it triggers
// at once).
func (c *Cluster) SetDraining(on bool) {
	c.draining.Store(on)
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	if err := c.beat(ctx); err != nil && c.ctx.Err() == nil {
		c.log.Warn("heartbeat failed", "err", err)
	}
}

// Counts are the cluster's live members and room leases as of the last heartbeat (the
// relaycast_cluster_* gauges).
func (c *Cluster) Counts() (nodes, rooms int) { return int(c.nodes.Load()), int(c.rooms.Load()) }

// Close stops the heartbeat and every lease's renewal, and waits for them. It releases nothing
// and deregisters nothing: leases lapse after LeaseTTL and the node is dropped after DeadAfter,
// exactly as for a node that died (the owner of a room releases its lease when the room ends,
// which the server does before closing the cluster).
func (c *Cluster) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

func (c *Cluster) heartbeatLoop(hbCtx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.p.Heartbeat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-hbCtx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(hbCtx, c.p.Heartbeat)
		err := c.beat(ctx)
		cancel()
		switch {
		case err != nil && c.ctx.Err() == nil && !failing:
			failing = true
			c.log.Warn("heartbeat failed (retrying every beat)", "err", err)
		case err == nil && failing:
			failing = false
			c.log.Info("heartbeat written again")
		}
	}
}

// heartbeatScript writes this node (KEYS[2] = ARGV[1] .. now .. "}", the JSON with seen_at last)
// into the member set KEYS[1] with score now, drops members not seen for ARGV[3] ms (and their
// node keys, prefix ARGV[4]) and the lapsed room leases of KEYS[3], and returns
// {now, live members, live room leases}.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local snow = string.format('%.0f', now)
redis.call('ZADD', KEYS[1], snow, ARGV[2])
redis.call('SET', KEYS[2], ARGV[1] .. snow .. '}', 'PX', tonumber(ARGV[3]) * 2)
local cut = string.format('%.0f', now - tonumber(ARGV[3]))
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. cut)
for _, id in ipairs(dead) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', ARGV[4] .. id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. snow)
return {now, redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[3])}`)

// beat writes one heartbeat.
func (c *Cluster) beat(ctx context.Context) error {
	n := c.Self()
	if c.p.Stats != nil {
		n.Rooms, n.Viewers = c.p.Stats()
	}
	n.Load = c.cpu.sample()
	n.SeenAt = 0
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	// The JSON ends with "seen_at":0}: the script appends the Redis time instead.
	prefix := string(b[:len(b)-len(`0}`)])
	res, err := heartbeatScript.Run(ctx, c.p.Redis, []string{c.k.nodes(), c.k.node(n.ID), c.k.rooms()},
		prefix, n.ID, c.p.DeadAfter.Milliseconds(), c.k.nodePrefix()).Int64Slice()
	if err != nil {
		return fmt.Errorf("cluster heartbeat: %w", err)
	}
	if len(res) == 3 {
		n.SeenAt = res[0]
		c.nodes.Store(res[1])
		c.rooms.Store(res[2])
	}
	c.mu.Lock()
	c.self = n
	c.mu.Unlock()
	return nil
}
