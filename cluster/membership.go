package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// liveNodesScript returns the node JSON of every member of KEYS[1] seen within ARGV[1] ms of
// Redis TIME (node keys under prefix ARGV[2]).
var liveNodesScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.0f', now - tonumber(ARGV[1])), '+inf')
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[2] .. id)
  if v then out[#out + 1] = v end
end
return out`)

// Nodes returns the live members (seen within DeadAfter), by ID.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	vals, err := liveNodesScript.Run(ctx, c.p.Redis, []string{c.k.nodes()}, c.p.DeadAfter.Milliseconds(), c.k.nodePrefix()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("cluster nodes: %w", err)
	}
	out := make([]Node, 0, len(vals))
	for _, v := range vals {
		var n Node
		if err := json.Unmarshal([]byte(v), &n); err != nil {
			c.log.Warn("unreadable node entry", "value", v, "err", err)
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Node returns one live member.
func (c *Cluster) Node(ctx context.Context, id string) (Node, bool, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Node{}, false, err
	}
	for _, n := range nodes {
		if n.ID == id {
			return n, true, nil
		}
	}
	return Node{}, false, nil
}

// cpuMeter measures the process's CPU use between two samples, as a share of all cores.
type cpuMeter struct {
	mu   sync.Mutex
	last time.Time
	used time.Duration
	load float64
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sample returns the load since the previous sample (kept when less than 100 ms passed).
func (m *cpuMeter) sample() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, used := time.Now(), processCPU()
	if !m.last.IsZero() {
		if el := now.Sub(m.last); el >= 100*time.Millisecond {
			m.load = min(1, max(0, float64(used-m.used)/float64(el)/float64(runtime.NumCPU())))
		} else {
			return m.load
		}
	}
	m.last, m.used = now, used
	return m.load
}
